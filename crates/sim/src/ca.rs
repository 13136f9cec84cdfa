//! The Cluster Autoscaler baseline as it runs on EKS: node groups backed by Auto Scaling
//! groups (one instance type, or a mixed-instances policy whose first type is the template
//! CA simulates on; on-demand launches `prioritized`, spot launches `capacity-optimized`),
//! a 10 s scan loop, scale-up through an expander (`least-waste`, `price`, `priority`,
//! `random`) and optionally balanced over similar node groups, after an ASG delay drawn from
//! its distribution (with a 5-minute backoff after a capacity error), and scale-down of
//! nodes under the utilisation threshold (50 %) for the unneeded time (10 minutes) whose pods
//! fit elsewhere: empty nodes up to 10 at a time, one non-empty node at a time. Packing uses
//! the scheduling engine restricted to one group, as CA's binpacking estimator simulates
//! the scheduler.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_cloud::latency::Latency;
use karpenter_cloud::rng::Rng;
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

use crate::expander::{Expander, ScaleOption, balance, choose};
use crate::kubelet::GroupNodeSpec;
use crate::scenario::{CaSpec, NodeGroup, Scenario, ScenarioError};

/// CA's scan interval.
pub const SCAN_INTERVAL: Time = 10 * SECOND;
/// Backoff of a node group after a failed scale-up.
pub const BACKOFF: Time = 5 * MINUTE;
/// Empty nodes removed per scan at most (`--max-empty-bulk-delete`).
pub const MAX_EMPTY_BULK_DELETE: usize = 10;
/// `--max-node-provision-time`: an instance not registered by then is deleted and its
/// group backs off.
pub const MAX_NODE_PROVISION_TIME: Time = 15 * MINUTE;
/// CA's taint on nodes it drains.
pub const TO_BE_DELETED: &str = "ToBeDeletedByClusterAutoscaler";

#[derive(Debug, Clone)]
struct Group {
    spec: NodeGroup,
    /// The template CA simulates on (the first type).
    instance_type: InstanceType,
    /// Every type of the mixed-instances policy, in order, with the group's offerings.
    types: Vec<InstanceType>,
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
    scale_up_delay: Latency,
    expander: Expander,
    balance: bool,
    rng: Rng,
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
            let mut types = Vec::new();
            for (j, name) in g.types().iter().enumerate() {
                let field = if g.instance_type.is_some() && j == 0 {
                    format!("{path}.instanceType")
                } else {
                    let k = j - usize::from(g.instance_type.is_some());
                    format!("{path}.instanceTypes[{k}]")
                };
                let Some(t) = catalog.iter().find(|t| &t.name == name) else {
                    return Err(err(field, format!("{name} is not in the catalog")));
                };
                let mut t = t.clone();
                t.offerings.retain(|o| {
                    o.capacity_type == g.capacity_type
                        && (g.zones.is_empty() || g.zones.contains(&o.zone))
                });
                if t.offerings.is_empty() {
                    return Err(err(
                        field,
                        format!(
                            "{name} has no {} offering in the given zones",
                            g.capacity_type
                        ),
                    ));
                }
                types.push(t);
            }
            let Some(t) = types.first().cloned() else {
                return Err(err(path, "needs instanceType or instanceTypes".into()));
            };
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
                types,
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
        let scale_up_delay = match &spec.scale_up_delay {
            Some(l) => scenario.latency_of("clusterAutoscaler.scaleUpDelay", l)?,
            None => Latency::fixed(30 * SECOND),
        };
        Ok(ClusterAutoscaler {
            groups,
            daemonsets,
            scale_up_delay,
            expander: Expander::parse(spec.expander.as_deref()),
            balance: spec.balance_similar_node_groups,
            rng: Rng::new(scenario.seed ^ 0xca),
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
            g.types.iter().map(|t| t.name.clone()),
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
        self.provision_timeouts(state, cloud, now);
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

    /// A new process: the unneeded timers, the drain list and the backoffs are lost (the ASGs
    /// keep their desired capacity, so launches already asked for still happen); CA removes
    /// its deletion taint from every node on start, as it does.
    pub fn restart(&mut self, state: &mut ClusterState) {
        self.unneeded_since.clear();
        self.draining.clear();
        self.last_scan = None;
        for g in &mut self.groups {
            g.backoff_until = 0;
        }
        let tainted: Vec<String> = state
            .nodes()
            .values()
            .filter(|n| n.taints.iter().any(|t| t.key == TO_BE_DELETED))
            .map(|n| n.name.clone())
            .collect();
        for n in tainted {
            state.update_node(&n, |n| n.taints.retain(|t| t.key != TO_BE_DELETED));
        }
    }

    fn provision_timeouts(&mut self, state: &ClusterState, cloud: &mut SimCloud, now: Time) {
        let registered: BTreeSet<&str> = state
            .nodes()
            .values()
            .map(|n| n.provider_id.as_str())
            .collect();
        let late: Vec<(String, String)> = cloud
            .instances()
            .values()
            .filter(|i| {
                !registered.contains(i.provider_id.as_str())
                    && now - i.launched_at >= MAX_NODE_PROVISION_TIME
            })
            .map(|i| (i.provider_id.clone(), i.node_pool.clone()))
            .collect();
        for (pid, group) in late {
            let _ = cloud.delete(&pid, now);
            if let Some(g) = self.groups.iter_mut().find(|g| g.spec.name == group) {
                g.backoff_until = now + BACKOFF;
            }
            self.recorder.event(
                now,
                "ScaleUpTimedOut",
                format!("NodeGroup/{group}"),
                format!("instance {pid} did not register within 15m; deleted"),
            );
        }
    }

    fn launch_due(&mut self, cloud: &mut SimCloud, now: Time) {
        for g in &mut self.groups {
            let due = g.launches.iter().filter(|t| **t <= now).count();
            if due == 0 {
                continue;
            }
            g.launches.retain(|t| *t > now);
            for _ in 0..due {
                match launch_one(g, cloud, now) {
                    Ok(()) => {
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
        let mut options = Vec::new();
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
            let get = |r: &Resources, k: &str| r.get(k).map_or(0, |q| q.millis()) as f64;
            let alloc = g.instance_type.allocatable();
            let n = plan.claims.len() as f64;
            let price = g
                .instance_type
                .offerings
                .iter()
                .map(|o| o.price)
                .fold(f64::INFINITY, f64::min);
            options.push(ScaleOption {
                group: gi,
                pods: placed,
                nodes: plan.claims.len(),
                allocatable: (get(&alloc, "cpu") * n, get(&alloc, "memory") * n),
                requested: (
                    plan.claims.iter().map(|c| get(&c.requests, "cpu")).sum(),
                    plan.claims.iter().map(|c| get(&c.requests, "memory")).sum(),
                ),
                price: price * n,
                priority: g.spec.priority,
            });
        }
        let Some(pick) = choose(self.expander, &options, &mut self.rng) else {
            return;
        };
        let (chosen, nodes) = (options[pick].group, options[pick].nodes);
        let spread = if self.balance {
            let similar: Vec<usize> = (0..self.groups.len())
                .filter(|i| {
                    let g = &self.groups[*i];
                    g.backoff_until <= now && similar(g, &self.groups[chosen])
                })
                .collect();
            let sizes: Vec<usize> = similar
                .iter()
                .map(|i| self.size(&self.groups[*i], cloud))
                .collect();
            let room: Vec<usize> = similar
                .iter()
                .zip(&sizes)
                .map(|(i, s)| (self.groups[*i].spec.max as usize).saturating_sub(*s))
                .collect();
            balance(&similar, &sizes, &room, nodes)
        } else {
            vec![(chosen, nodes)]
        };
        for (gi, n) in spread {
            let g = &mut self.groups[gi];
            for _ in 0..n {
                let delay = self.scale_up_delay.sample(&mut self.rng);
                g.launches.push(now + delay);
            }
            self.recorder.event(
                now,
                "TriggeredScaleUp",
                format!("NodeGroup/{}", g.spec.name),
                format!("+{n} node(s) ({} expander)", self.expander.name()),
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

/// Node groups CA balances between: the same instance types, capacity type, labels (apart
/// from the node group's own) and taints; only zones differ.
fn similar(a: &Group, b: &Group) -> bool {
    let names = |g: &Group| g.types.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    let own = |g: &Group| {
        let mut l = g.labels.clone();
        l.remove("eks.amazonaws.com/nodegroup");
        l
    };
    names(a) == names(b)
        && a.spec.capacity_type == b.spec.capacity_type
        && own(a) == own(b)
        && a.taints == b.taints
}

/// Launch one node of `g`: on-demand in the overrides' order (`prioritized`), spot in order
/// of spare capacity (`capacity-optimized`), each in the group's zone with the fewest of its
/// instances first (an Auto Scaling group keeps its zones balanced), falling through zones
/// and then types on insufficient capacity as an ASG does.
fn launch_one(
    g: &Group,
    cloud: &mut SimCloud,
    now: Time,
) -> Result<(), karpenter_cloud::CloudError> {
    let mut order: Vec<&InstanceType> = g.types.iter().collect();
    if g.spec.capacity_type == labels::CAPACITY_TYPE_SPOT {
        let depth = |t: &InstanceType| {
            t.offerings
                .iter()
                .map(|o| {
                    cloud
                        .headroom(&t.name, &o.zone, &o.capacity_type, now)
                        .unwrap_or(u32::MAX)
                })
                .max()
                .unwrap_or(0)
        };
        order.sort_by_key(|t| std::cmp::Reverse(depth(t)));
    }
    let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
    for i in cloud
        .instances()
        .values()
        .filter(|i| i.node_pool == g.spec.name)
    {
        *per_zone.entry(i.zone.as_str()).or_default() += 1;
    }
    let mut zones: Vec<(usize, String)> = g
        .types
        .iter()
        .flat_map(|t| t.offerings.iter().map(|o| o.zone.clone()))
        .collect::<BTreeSet<String>>()
        .into_iter()
        .map(|z| (per_zone.get(z.as_str()).copied().unwrap_or(0), z))
        .collect();
    zones.sort();
    let mut last = None;
    for t in order {
        for (_, zone) in &zones {
            if !t.offerings.iter().any(|o| &o.zone == zone) {
                continue;
            }
            let mut requirements = ClusterAutoscaler::group_requirements(g);
            requirements.add(&Requirement::new(labels::ZONE, Op::In, [zone.clone()]));
            let request = LaunchRequest {
                claim: String::new(),
                node_pool: g.spec.name.clone(),
                requirements,
                instance_types: vec![t.name.clone()],
            };
            match cloud.create(&request, now) {
                Ok(_) => return Ok(()),
                // a throttled call is not a capacity answer: the ASG retries later
                Err(e @ karpenter_cloud::CloudError::Other(_)) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
    }
    Err(last.unwrap_or_else(|| karpenter_cloud::CloudError::Other("no instance type".into())))
}
