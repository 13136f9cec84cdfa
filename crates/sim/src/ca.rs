//! The Cluster Autoscaler baseline: static node groups (one instance type each, as an ASG
//! launch template), a 10 s scan loop, scale-up with the least-waste expander after an
//! ASG-like delay (with a 5-minute backoff after a capacity error), and scale-down of nodes
//! under the utilisation threshold (50 %) for the unneeded time (10 minutes) whose pods fit
//! elsewhere: empty nodes up to 10 at a time, one non-empty node at a time. Packing uses
//! the scheduling engine restricted to one group, as CA's binpacking estimator simulates
//! the scheduler.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_cloud::{CloudProvider, LaunchRequest, sim::SimCloud};
use karpenter_controllers::input::existing;
use karpenter_controllers::termination::eviction_blocker;
use karpenter_controllers::{ClusterState, Recorder};
use karpenter_model::time::{MINUTE, SECOND, Time};
use karpenter_model::wellknown::labels;
use karpenter_model::{
    Effect, InstanceType, Op, Quantity, Requirement, Requirements, Resources, Taint,
};
use karpenter_scheduling::{
    DaemonSet, ExistingNode, Input, Options, Pool, daemonset_overhead, solve,
};

use crate::kubelet::GroupNodeSpec;
use crate::scenario::{CaSpec, NodeGroup, Scenario, ScenarioError};

/// CA's scan interval.
pub const SCAN_INTERVAL: Time = 10 * SECOND;
/// Backoff of a node group after a failed scale-up.
pub const BACKOFF: Time = 5 * MINUTE;
/// Empty nodes removed per scan at most (`--max-empty-bulk-delete`).
pub const MAX_EMPTY_BULK_DELETE: usize = 10;
/// CA's taint on nodes it drains.
pub const TO_BE_DELETED: &str = "ToBeDeletedByClusterAutoscaler";

#[derive(Debug, Clone)]
struct Group {
    spec: NodeGroup,
    instance_type: InstanceType,
    labels: BTreeMap<String, String>,
    taints: Vec<Taint>,
    launches: Vec<Time>,
    backoff_until: Time,
}

/// The Cluster Autoscaler.
#[derive(Debug, Clone)]
pub struct ClusterAutoscaler {
    groups: Vec<Group>,
    daemonsets: Vec<DaemonSet>,
    scale_up_delay: Time,
    unneeded_time: Time,
    threshold: f64,
    unneeded_since: BTreeMap<String, Time>,
    draining: BTreeSet<String>,
    last_scan: Option<Time>,
    /// Events and counters.
    pub recorder: Recorder,
}

fn parse_taint(s: &str) -> Option<Taint> {
    let (kv, effect) = s.rsplit_once(':')?;
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    Some(Taint {
        key: key.to_string(),
        value: value.to_string(),
        effect: Effect::parse(effect)?,
    })
}

impl ClusterAutoscaler {
    /// The baseline for `spec`, over `catalog`.
    pub fn new(
        scenario: &Scenario,
        spec: &CaSpec,
        catalog: &[InstanceType],
        daemonsets: Vec<DaemonSet>,
    ) -> Result<Self, ScenarioError> {
        let err = |path: String, message: String| ScenarioError::Invalid {
            name: scenario.name.clone(),
            path,
            message,
        };
        let mut groups = Vec::new();
        for (i, g) in spec.node_groups.iter().enumerate() {
            let path = format!("clusterAutoscaler.nodeGroups[{i}]");
            let Some(t) = catalog.iter().find(|t| t.name == g.instance_type) else {
                return Err(err(
                    format!("{path}.instanceType"),
                    format!("{} is not in the catalog", g.instance_type),
                ));
            };
            let mut t = t.clone();
            t.offerings.retain(|o| {
                o.capacity_type == g.capacity_type
                    && (g.zones.is_empty() || g.zones.contains(&o.zone))
            });
            if t.offerings.is_empty() {
                return Err(err(
                    path,
                    format!(
                        "{} has no {} offering in the given zones",
                        g.instance_type, g.capacity_type
                    ),
                ));
            }
            let taints = g
                .taints
                .iter()
                .enumerate()
                .map(|(j, s)| {
                    parse_taint(s).ok_or_else(|| {
                        err(
                            format!("{path}.taints[{j}]"),
                            format!("{s:?} is not key=value:Effect"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut node_labels = g.labels.clone();
            node_labels.insert("eks.amazonaws.com/nodegroup".into(), g.name.clone());
            groups.push(Group {
                spec: g.clone(),
                instance_type: t,
                labels: node_labels,
                taints,
                launches: Vec::new(),
                backoff_until: 0,
            });
        }
        let d = |field: &str, v: &Option<String>, default: Time| match v {
            Some(text) => scenario.duration_of(&format!("clusterAutoscaler.{field}"), text),
            None => Ok(default),
        };
        Ok(ClusterAutoscaler {
            groups,
            daemonsets,
            scale_up_delay: d("scaleUpDelay", &spec.scale_up_delay, 30 * SECOND)?,
            unneeded_time: d(
                "scaleDownUnneededTime",
                &spec.scale_down_unneeded_time,
                10 * MINUTE,
            )?,
            threshold: spec.scale_down_utilization_threshold.unwrap_or(0.5),
            unneeded_since: BTreeMap::new(),
            draining: BTreeSet::new(),
            last_scan: None,
            recorder: Recorder::default(),
        })
    }

    /// Labels and taints of each group's nodes, for the kubelets.
    pub fn node_specs(&self) -> GroupNodeSpec {
        self.groups
            .iter()
            .map(|g| (g.spec.name.clone(), (g.labels.clone(), g.taints.clone())))
            .collect()
    }

    fn group_requirements(g: &Group) -> Requirements {
        let mut r = Requirements::new();
        r.add(&Requirement::new(
            labels::INSTANCE_TYPE,
            Op::In,
            [g.instance_type.name.clone()],
        ));
        r.add(&Requirement::new(
            labels::CAPACITY_TYPE,
            Op::In,
            [g.spec.capacity_type.clone()],
        ));
        let zones: Vec<String> = g
            .instance_type
            .offerings
            .iter()
            .map(|o| o.zone.clone())
            .collect();
        r.add(&Requirement::new(labels::ZONE, Op::In, zones));
        for (k, v) in &g.labels {
            r.add(&Requirement::new(k, Op::In, [v.clone()]));
        }
        r
    }

    fn size(&self, g: &Group, cloud: &SimCloud) -> usize {
        cloud
            .instances()
            .values()
            .filter(|i| i.node_pool == g.spec.name)
            .count()
            + g.launches.len()
    }

    /// One pass at `now`; returns the next scan time.
    pub fn reconcile(
        &mut self,
        state: &mut ClusterState,
        cloud: &mut SimCloud,
        now: Time,
    ) -> Option<Time> {
        self.launch_due(cloud, now);
        self.drain(state, cloud, now);
        if self.last_scan.is_none_or(|t| now - t >= SCAN_INTERVAL) {
            self.last_scan = Some(now);
            self.scale_up(state, cloud, now);
            self.scale_down(state, cloud, now);
        }
        let next_launch = self
            .groups
            .iter()
            .flat_map(|g| g.launches.iter().copied())
            .min();
        let scan = self.last_scan.map_or(now, |t| t + SCAN_INTERVAL);
        let busy = if self.draining.is_empty() {
            scan
        } else {
            now + SECOND
        };
        Some(next_launch.map_or(busy, |l| l.min(busy)))
    }

    fn launch_due(&mut self, cloud: &mut SimCloud, now: Time) {
        for g in &mut self.groups {
            let due = g.launches.iter().filter(|t| **t <= now).count();
            if due == 0 {
                continue;
            }
            g.launches.retain(|t| *t > now);
            let request = LaunchRequest {
                claim: String::new(),
                node_pool: g.spec.name.clone(),
                requirements: Self::group_requirements(g),
                instance_types: vec![g.instance_type.name.clone()],
            };
            for _ in 0..due {
                match cloud.create(&request, now) {
                    Ok(_) => {
                        self.recorder
                            .count("cluster_autoscaler_scaled_up_nodes_total", &[], 1.0)
                    }
                    Err(e) => {
                        self.recorder.event(
                            now,
                            "FailedToScaleUpGroup",
                            format!("NodeGroup/{}", g.spec.name),
                            e.to_string(),
                        );
                        g.backoff_until = now + BACKOFF;
                        g.launches.clear();
                        break;
                    }
                }
            }
        }
    }

    fn upcoming(&self, state: &ClusterState, cloud: &SimCloud) -> Vec<ExistingNode> {
        // as CA's upcoming nodes: the group's target size less its ready nodes (a node
        // that registered but is not ready yet takes no pods, yet is on its way)
        let registered: BTreeSet<&str> = state
            .nodes()
            .values()
            .filter(|n| n.ready)
            .map(|n| n.provider_id.as_str())
            .collect();
        let mut out = Vec::new();
        for g in &self.groups {
            let pending_instances = cloud
                .instances()
                .values()
                .filter(|i| {
                    i.node_pool == g.spec.name && !registered.contains(i.provider_id.as_str())
                })
                .count();
            for k in 0..pending_instances + g.launches.len() {
                let mut l = g.labels.clone();
                l.insert(labels::INSTANCE_TYPE.into(), g.instance_type.name.clone());
                l.insert(labels::CAPACITY_TYPE.into(), g.spec.capacity_type.clone());
                out.push(ExistingNode {
                    name: format!("upcoming-{}-{k}", g.spec.name),
                    labels: l,
                    taints: g.taints.clone(),
                    available: g.instance_type.allocatable(),
                    initialized: false,
                    in_flight: true,
                    ..Default::default()
                });
            }
        }
        out
    }

    fn scale_up(&mut self, state: &ClusterState, cloud: &SimCloud, now: Time) {
        let mut pods: Vec<_> = state
            .pods()
            .values()
            .filter(|p| p.node.is_none() && p.unschedulable)
            .collect();
        if pods.is_empty() {
            return;
        }
        pods.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        let specs: Vec<_> = pods
            .iter()
            .map(|p| {
                let mut s = (*p.spec).clone();
                s.id.clone_from(&p.id);
                s
            })
            .collect();
        // pods that upcoming nodes will take are not CA's concern
        let upcoming = Input {
            pods: specs.clone(),
            existing: self.upcoming(state, cloud),
            daemonsets: self.daemonsets.clone(),
            options: Options::default(),
            ..Default::default()
        };
        let left: BTreeSet<String> = solve(&upcoming)
            .unschedulable
            .into_iter()
            .map(|u| u.pod)
            .collect();
        let remaining: Vec<_> = specs.into_iter().filter(|s| left.contains(&s.id)).collect();
        if remaining.is_empty() {
            return;
        }
        let mut best: Option<(usize, i64, usize, usize)> = None; // (placed, -waste, group, nodes)
        for (gi, g) in self.groups.iter().enumerate() {
            let size = self.size(g, cloud);
            if g.backoff_until > now || size >= g.spec.max as usize {
                continue;
            }
            let mut limits = Resources::new();
            limits.insert(
                "nodes".into(),
                Quantity::from_units((g.spec.max as usize - size) as i128),
            );
            let input = Input {
                pods: remaining.clone(),
                pools: vec![Pool {
                    name: g.spec.name.clone(),
                    weight: 0,
                    requirements: Self::group_requirements(g),
                    taints: g.taints.clone(),
                    limits: Some(limits),
                    instance_types: None,
                }],
                instance_types: vec![g.instance_type.clone()].into(),
                daemonsets: self.daemonsets.clone(),
                options: Options::default(),
                ..Default::default()
            };
            let plan = solve(&input);
            let placed: usize = plan.claims.iter().map(|c| c.pods.len()).sum();
            if placed == 0 {
                continue;
            }
            let cpu = |r: &Resources| r.get("cpu").map_or(0, |q| q.millis()) as i64;
            let alloc = cpu(&g.instance_type.allocatable()) * plan.claims.len() as i64;
            let used: i64 = plan.claims.iter().map(|c| cpu(&c.requests)).sum();
            let candidate = (placed, -(alloc - used), usize::MAX - gi, plan.claims.len());
            if best.is_none_or(|b| (candidate.0, candidate.1, candidate.2) > (b.0, b.1, b.2)) {
                best = Some(candidate);
            }
        }
        if let Some((_, _, inv, nodes)) = best {
            let g = &mut self.groups[usize::MAX - inv];
            for _ in 0..nodes {
                g.launches.push(now + self.scale_up_delay);
            }
            self.recorder.event(
                now,
                "TriggeredScaleUp",
                format!("NodeGroup/{}", g.spec.name),
                format!("+{nodes} node(s)"),
            );
        }
    }

    fn utilisation(&self, state: &ClusterState, node: &str) -> f64 {
        let Some(n) = state.nodes().get(node) else {
            return 1.0;
        };
        let mut used = state.requested(node);
        let as_existing = ExistingNode {
            name: n.name.clone(),
            labels: n.labels.clone(),
            taints: n.taints.clone(),
            ..Default::default()
        };
        karpenter_model::catalog::add_resources(
            &mut used,
            &daemonset_overhead(&self.daemonsets, &as_existing),
        );
        ["cpu", "memory"]
            .iter()
            .map(|r| {
                let a = n.allocatable.get(*r).map_or(0, |q| q.millis());
                let u = used.get(*r).map_or(0, |q| q.millis());
                if a <= 0 { 0.0 } else { u as f64 / a as f64 }
            })
            .fold(0.0, f64::max)
    }

    fn scale_down(&mut self, state: &ClusterState, cloud: &SimCloud, now: Time) {
        let group_of = |pid: &str| cloud.instances().get(pid).map(|i| i.node_pool.clone());
        let mut sizes: BTreeMap<String, usize> = self
            .groups
            .iter()
            .map(|g| (g.spec.name.clone(), self.size(g, cloud)))
            .collect();
        for d in &self.draining {
            if let Some(g) = state.nodes().get(d).and_then(|n| group_of(&n.provider_id)) {
                *sizes.entry(g).or_default() -= 1;
            }
        }
        let mins: BTreeMap<String, usize> = self
            .groups
            .iter()
            .map(|g| (g.spec.name.clone(), g.spec.min as usize))
            .collect();
        let mut candidates = Vec::new();
        let nodes: Vec<String> = state.nodes().keys().cloned().collect();
        for name in nodes {
            let ready = state.nodes().get(&name).is_some_and(|n| n.ready);
            if !ready || self.draining.contains(&name) {
                self.unneeded_since.remove(&name);
                continue;
            }
            let util = self.utilisation(state, &name);
            if util >= self.threshold {
                self.unneeded_since.remove(&name);
                continue;
            }
            let since = *self.unneeded_since.entry(name.clone()).or_insert(now);
            if now - since >= self.unneeded_time {
                candidates.push((util, name));
            }
        }
        self.unneeded_since
            .retain(|n, _| state.nodes().contains_key(n));
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut empty_removed = 0;
        let non_empty_draining = self.draining.iter().any(|n| state.pod_count(n) > 0);
        let mut started_non_empty = non_empty_draining;
        for (_, name) in candidates {
            let Some(group) = state
                .nodes()
                .get(&name)
                .and_then(|n| group_of(&n.provider_id))
            else {
                continue;
            };
            let size = sizes.get(&group).copied().unwrap_or(0);
            if size <= mins.get(&group).copied().unwrap_or(0) {
                continue;
            }
            let empty = state.pod_count(&name) == 0;
            if empty {
                if empty_removed >= MAX_EMPTY_BULK_DELETE {
                    continue;
                }
                empty_removed += 1;
            } else {
                if started_non_empty || !self.fits_elsewhere(state, &name) {
                    continue;
                }
                started_non_empty = true;
            }
            if let Some(s) = sizes.get_mut(&group) {
                *s -= 1;
            }
            self.draining.insert(name.clone());
            self.recorder.event(
                now,
                "ScaleDown",
                format!("Node/{name}"),
                if empty {
                    "empty".into()
                } else {
                    "underutilized".into()
                },
            );
        }
    }

    fn fits_elsewhere(&self, state: &ClusterState, node: &str) -> bool {
        let pods: Vec<_> = state.pods_on(node).collect();
        if pods
            .iter()
            .any(|p| eviction_blocker(state, &p.id).is_some())
        {
            return false;
        }
        let mut skip: BTreeSet<String> = self.draining.clone();
        skip.insert(node.to_string());
        let (mut nodes, bound, _) = existing(state, &skip);
        for n in &mut nodes {
            if state.nodes().get(&n.name).is_none_or(|x| !x.ready) {
                n.unschedulable = true;
            }
        }
        let specs = pods
            .iter()
            .map(|p| {
                let mut s = (*p.spec).clone();
                s.id.clone_from(&p.id);
                s
            })
            .collect();
        let input = Input {
            pods: specs,
            existing: nodes,
            bound,
            daemonsets: self.daemonsets.clone(),
            options: Options::default(),
            ..Default::default()
        };
        solve(&input).unschedulable.is_empty()
    }

    fn drain(&mut self, state: &mut ClusterState, cloud: &mut SimCloud, now: Time) {
        let draining: Vec<String> = self.draining.iter().cloned().collect();
        for name in draining {
            let Some(pid) = state.nodes().get(&name).map(|n| n.provider_id.clone()) else {
                self.draining.remove(&name);
                continue;
            };
            let taint = Taint {
                key: TO_BE_DELETED.into(),
                value: String::new(),
                effect: Effect::NoSchedule,
            };
            state.update_node(&name, |n| {
                if !n.taints.contains(&taint) {
                    n.taints.push(taint.clone());
                }
            });
            let pods: Vec<String> = state.pods_on(&name).map(|p| p.id.clone()).collect();
            for id in pods {
                if eviction_blocker(state, &id).is_none() {
                    state.evict(&id, now);
                }
            }
            if state.pod_count(&name) == 0 {
                let _ = cloud.delete(&pid, now);
                self.recorder
                    .count("cluster_autoscaler_scaled_down_nodes_total", &[], 1.0);
                self.draining.remove(&name);
            }
        }
    }
}
