//! The disruption engine's input from a snapshot (what `karpenter plan --disruption`
//! reads): the scheduling input of the cluster, every registered NodeClaim with its Node as
//! a [`NodeInfo`] (price of its offering, lifecycle times, disrupting marks, drift), its
//! pods with their eviction blockers (do-not-disrupt, PodDisruptionBudgets), and the
//! NodePools' disruption settings.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as K8sTime;
use karpenter_disruption::pdb::Pdb;
use karpenter_disruption::{Blocked, DisruptionInput, NodeInfo, PodInfo};
use karpenter_model::time::Time;
use karpenter_model::wellknown::{annotations, aws_labels, conditions, labels, taints};
use karpenter_model::{Duration, InstanceType};
use karpenter_scheduling::Options;

use super::drift::drift;
use super::nodes::{mirror, owner_kind, terminal};
use super::pdb::pdb;
use super::{Cluster, pending_pod, pod_id, pool_policy, scheduling_input};
use crate::validate::FieldError;
use crate::{EC2NodeClass, NodeClaim};

/// What a decision needs besides the objects.
#[derive(Debug, Clone, Copy)]
pub struct DisruptionSettings {
    /// The clock of consolidateAfter, expireAfter and budget schedules.
    pub now: Time,
    /// The `SpotToSpotConsolidation` feature gate.
    pub spot_to_spot: bool,
    /// Single-node simulations per decision at most.
    pub max_simulations: usize,
}

/// The input, and the nodes that cannot be candidates before any method looks at them.
pub struct DisruptionSnapshot {
    /// The decision's input.
    pub input: DisruptionInput,
    /// Registered NodeClaims that are no candidates and why (no NodePool label, an
    /// instance type or offering the catalog does not have).
    pub unknown: Vec<Blocked>,
}

fn ms(t: &K8sTime) -> Time {
    t.0.as_millisecond()
}

fn condition_true(node: &Node, type_: &str) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

fn claim_condition(claim: &NodeClaim, type_: &str) -> Option<Option<Time>> {
    let c = claim.condition(type_)?;
    (c.status == "True").then(|| c.last_transition_time.as_ref().map(ms))
}

/// A pod's `karpenter.sh/do-not-disrupt`: `"true"`, or a duration that protects it until
/// its age (from `status.startTime`) exceeds it (always, when `now` is unknown); anything
/// else is ignored, as upstream.
pub(super) fn do_not_disrupt(pod: &Pod, now: Option<Time>) -> Option<String> {
    let value = pod
        .metadata
        .annotations
        .as_ref()?
        .get(annotations::DO_NOT_DISRUPT)?;
    if value == "true" {
        return Some(format!(
            "pod {} has karpenter.sh/do-not-disrupt",
            pod_id(pod)
        ));
    }
    let d = Duration::parse(value).ok()?;
    let started = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(ms)?;
    let until = started + karpenter_model::time::millis(d);
    now.is_none_or(|now| now < until).then(|| {
        format!(
            "pod {} has karpenter.sh/do-not-disrupt={value} (until {})",
            pod_id(pod),
            karpenter_model::time::rfc3339(until)
        )
    })
}

/// Budgets with how many more disruptions each allows: `status.disruptionsAllowed` when
/// the manifest has a status, otherwise computed from the pods it covers.
struct Budgets {
    pdbs: Vec<(Pdb, i32)>,
}

impl Budgets {
    fn blocker(&self, pod: &Pod) -> Option<String> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let empty = BTreeMap::new();
        let pod_labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
        let covering: Vec<&(Pdb, i32)> = self
            .pdbs
            .iter()
            .filter(|(b, _)| b.covers(ns, pod_labels))
            .collect();
        match covering.as_slice() {
            [] => None,
            [(b, 0)] => Some(format!(
                "PodDisruptionBudget {} allows no more disruptions (pod {})",
                b.id,
                pod_id(pod)
            )),
            [_] => None,
            _ => Some(format!(
                "pod {} is covered by more than one PodDisruptionBudget",
                pod_id(pod)
            )),
        }
    }
}

fn budgets(cluster: &Cluster<'_>, errors: &mut Vec<FieldError>) -> Budgets {
    let ready: BTreeMap<&str, bool> = cluster
        .nodes
        .iter()
        .map(|n| {
            (
                n.metadata.name.as_deref().unwrap_or(""),
                condition_true(n, conditions::READY),
            )
        })
        .collect();
    let mut pdbs = Vec::new();
    for (b, k8s) in cluster
        .pdbs
        .iter()
        .filter_map(|k| pdb(k).map_err(|e| errors.push(e)).ok().map(|b| (b, k)))
    {
        let allowed = match k8s.status.as_ref().and_then(|s| s.disruptions_allowed) {
            Some(n) => n,
            None => {
                let covered: Vec<&&Pod> = cluster
                    .pods
                    .iter()
                    .filter(|p| !terminal(p))
                    .filter(|p| {
                        let ns = p.metadata.namespace.as_deref().unwrap_or("default");
                        b.covers(ns, p.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()))
                    })
                    .collect();
                let healthy = covered
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .filter(|p| {
                        p.spec
                            .as_ref()
                            .and_then(|s| s.node_name.as_deref())
                            .is_some_and(|n| ready.get(n).copied().unwrap_or(false))
                    })
                    .count();
                b.allowed(covered.len() as i32, healthy as i32)
            }
        };
        pdbs.push((b, allowed));
    }
    Budgets { pdbs }
}

/// The decision's input for the snapshot at `settings.now`.
pub fn disruption_input(
    cluster: &Cluster<'_>,
    catalog: Vec<InstanceType>,
    options: Options,
    settings: DisruptionSettings,
) -> Result<DisruptionSnapshot, Vec<FieldError>> {
    let scheduling = scheduling_input(cluster, catalog, options)?;
    let mut errors = Vec::new();
    let pools: Vec<_> = cluster
        .nodepools
        .iter()
        .filter_map(|np| pool_policy(np).map_err(|e| errors.push(e)).ok())
        .collect();
    let budgets = budgets(cluster, &mut errors);
    let index = scheduling.existing_index();
    let mut pods_on: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for p in &cluster.pods {
        if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            pods_on.entry(n).or_default().push(p);
        }
    }
    let mut nodes = Vec::new();
    let mut unknown = Vec::new();
    for claim in &cluster.nodeclaims {
        let Some(node) = registered_node(cluster, claim) else {
            continue; // in flight: not a candidate
        };
        let ctx = Candidate {
            cluster,
            budgets: &budgets,
            claim,
            node,
            now: settings.now,
        };
        match ctx.info(&scheduling.instance_types, &index, &pods_on, &mut errors) {
            Ok(Some(info)) => nodes.push(info),
            Ok(None) => {}
            Err(b) => unknown.push(b),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(DisruptionSnapshot {
        input: DisruptionInput {
            now: settings.now,
            scheduling,
            nodes,
            pools,
            spot_to_spot: settings.spot_to_spot,
            max_simulations: settings.max_simulations,
        },
        unknown,
    })
}

fn registered_node<'a>(cluster: &Cluster<'a>, claim: &NodeClaim) -> Option<&'a Node> {
    let status = claim.status.as_ref()?;
    let by_name = status
        .node_name
        .as_deref()
        .and_then(|n| {
            cluster
                .nodes
                .iter()
                .find(|x| x.metadata.name.as_deref() == Some(n))
        })
        .copied();
    by_name.or_else(|| {
        let id = status.provider_id.as_deref()?;
        cluster
            .nodes
            .iter()
            .find(|n| n.spec.as_ref().and_then(|s| s.provider_id.as_deref()) == Some(id))
            .copied()
    })
}

struct Candidate<'a, 'c> {
    cluster: &'a Cluster<'c>,
    budgets: &'a Budgets,
    claim: &'a NodeClaim,
    node: &'a Node,
    now: Time,
}

impl Candidate<'_, '_> {
    /// The node's [`NodeInfo`]; `Ok(None)` after recording a field error, `Err` when it is
    /// no candidate at all.
    fn info(
        &self,
        catalog: &[InstanceType],
        index: &BTreeMap<&str, usize>,
        pods_on: &BTreeMap<&str, Vec<&Pod>>,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<NodeInfo>, Blocked> {
        let (claim, node) = (self.claim, self.node);
        let claim_name = claim.metadata.name.clone().unwrap_or_default();
        let name = node.metadata.name.clone().unwrap_or_default();
        let mut node_labels = claim.metadata.labels.clone().unwrap_or_default();
        node_labels.extend(node.metadata.labels.clone().unwrap_or_default());
        let blocked = |reason: String| Blocked {
            node: name.clone(),
            reason,
        };
        let label = |k: &str| node_labels.get(k).cloned().unwrap_or_default();
        let pool_name = label(labels::NODEPOOL);
        let Some(np) = self
            .cluster
            .nodepools
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(pool_name.as_str()))
        else {
            return Err(blocked(if pool_name.is_empty() {
                "no karpenter.sh/nodepool label".into()
            } else {
                format!("NodePool {pool_name} not found")
            }));
        };
        let (instance_type, zone, capacity_type) = (
            label(labels::INSTANCE_TYPE),
            label(labels::ZONE),
            label(labels::CAPACITY_TYPE),
        );
        let price = catalog
            .iter()
            .find(|t| t.name == instance_type)
            .and_then(|t| {
                t.offerings
                    .iter()
                    .find(|o| o.zone == zone && o.capacity_type == capacity_type)
            })
            .map(|o| o.price)
            .ok_or_else(|| {
                blocked(format!(
                    "no price: the catalog has no {capacity_type} offering of {instance_type:?} in {zone:?}"
                ))
            })?;
        let Some(created) = claim.metadata.creation_timestamp.as_ref().map(ms) else {
            errors.push(FieldError {
                kind: "NodeClaim".into(),
                name: claim_name,
                path: "metadata.creationTimestamp".into(),
                message: "required: expireAfter and consolidateAfter count from it".into(),
            });
            return Ok(None);
        };
        let Some(&i) = index.get(name.as_str()) else {
            return Err(blocked("not in the cluster snapshot".into()));
        };
        let initialized_at = claim_condition(claim, conditions::INITIALIZED);
        let initialized = initialized_at.is_some()
            || node_labels.get(labels::INITIALIZED).map(String::as_str) == Some("true");
        let last_pod_event = claim
            .status
            .as_ref()
            .and_then(|s| s.last_pod_event_time.as_ref())
            .map(ms);
        let init_time = initialized_at.flatten().unwrap_or(created);
        let tainted = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|t| t.iter().any(|t| t.key == taints::DISRUPTED_KEY));
        let marked = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            meta.annotations
                .as_ref()
                .and_then(|a| a.get(annotations::DO_NOT_DISRUPT))
                .is_some_and(|v| v == "true")
        };
        let class = self.node_class(claim);
        let mut pods = Vec::new();
        for pod in pods_on.get(name.as_str()).into_iter().flatten() {
            if terminal(pod) {
                continue;
            }
            let spec = match pending_pod(self.cluster, pod) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let active = pod.metadata.deletion_timestamp.is_none() && !mirror(pod);
            let blocker = if active {
                do_not_disrupt(pod, Some(self.now)).or_else(|| self.budgets.blocker(pod))
            } else {
                None
            };
            pods.push(PodInfo {
                id: pod_id(pod),
                spec,
                deletion_cost: pod
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(annotations::POD_DELETION_COST))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                priority: pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0),
                blocker,
                // upstream's IsReschedulable: a terminating StatefulSet pod comes back
                // under its name and needs its place, other terminating pods do not
                reschedulable: !mirror(pod)
                    && owner_kind(pod, "DaemonSet").is_none()
                    && (pod.metadata.deletion_timestamp.is_none()
                        || owner_kind(pod, "StatefulSet").is_some()),
            });
        }
        Ok(Some(NodeInfo {
            claim: claim_name,
            node_pool: pool_name,
            instance_type,
            zone,
            capacity_type,
            price,
            initialized,
            ready: condition_true(node, conditions::READY),
            created,
            quiet_since: last_pod_event.unwrap_or(init_time).max(init_time),
            disrupting: claim.metadata.deletion_timestamp.is_some()
                || node.metadata.deletion_timestamp.is_some()
                || tainted
                || claim_condition(claim, conditions::DISRUPTION_REASON).is_some()
                || claim_condition(claim, conditions::INSTANCE_TERMINATING).is_some(),
            do_not_disrupt: marked(&node.metadata) || marked(&claim.metadata),
            nominated: false,
            drifted: drift(claim, &node_labels, np, class),
            index: i,
            pods,
            name,
        }))
    }

    fn node_class(&self, claim: &NodeClaim) -> Option<&EC2NodeClass> {
        let r = &claim.spec.node_class_ref;
        if r.kind != "EC2NodeClass" {
            return None;
        }
        let by_label = claim
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(aws_labels::EC2NODECLASS));
        let name = if r.name.is_empty() {
            by_label?.as_str()
        } else {
            r.name.as_str()
        };
        self.cluster
            .nodeclasses
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .copied()
    }
}
