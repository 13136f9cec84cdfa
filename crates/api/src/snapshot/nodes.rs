//! Existing capacity from Nodes and NodeClaims: one entry per piece of capacity (a
//! registered NodeClaim is reported under its Node), what bound pods leave of it, which
//! DaemonSets already run there, attach limits from CSINode, and which pods are pending:
//! unbound pods, plus the reschedulable pods of nodes being deleted or disrupted.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use karpenter_disruption::pdb::Pdb;
use karpenter_model::wellknown::{labels, taints};
use karpenter_model::{InstanceType, Quantity, Resources, Taint};
use karpenter_scheduling::{BoundPod, ExistingNode};

use super::pod::{host_ports, pod_id, pod_terms};
use super::{Cluster, volumes};
use crate::ResourceList;
use crate::convert;
use crate::validate::FieldError;

/// Existing capacity and the pods around it.
pub struct Existing<'a> {
    /// Nodes and in-flight NodeClaims.
    pub nodes: Vec<ExistingNode>,
    /// Capacity per node (for NodePool limits), parallel to `nodes`.
    pub capacity: Vec<Resources>,
    /// Pods bound to them.
    pub bound: Vec<BoundPod>,
    /// Pods to plan.
    pub pending: Vec<&'a Pod>,
}

fn parse(
    kind: &str,
    name: &str,
    path: &str,
    list: Option<&ResourceList>,
    errors: &mut Vec<FieldError>,
) -> Resources {
    let mut out = Resources::new();
    for (k, q) in list.into_iter().flatten() {
        match Quantity::parse(&q.0) {
            Ok(v) => {
                out.insert(k.clone(), v);
            }
            Err(e) => errors.push(FieldError {
                kind: kind.into(),
                name: name.into(),
                path: format!("{path}[{k}]"),
                message: e.to_string(),
            }),
        }
    }
    out
}

fn disrupted(t: &[karpenter_model::Taint]) -> bool {
    t.iter().any(|t| t.key == taints::DISRUPTED_KEY)
}

/// Succeeded or Failed.
pub(super) fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// The name of the pod's owner of `kind`, if it has one.
pub(super) fn owner_kind<'p>(pod: &'p Pod, kind: &str) -> Option<&'p str> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == kind)
        .map(|o| o.name.as_str())
}

/// A static pod's mirror.
pub(super) fn mirror(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
}

/// Can the pod be evicted at all: no active `karpenter.sh/do-not-disrupt`, at most one
/// PodDisruptionBudget, and none that blocks every eviction (upstream re-plans a deleting
/// node's pods only then; a budget merely exhausted now opens once replacements run).
fn evictable(cluster: &Cluster<'_>, pdbs: &[Pdb], pod: &Pod) -> bool {
    if super::candidates::do_not_disrupt(pod, cluster.now).is_some() {
        return false;
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let empty = BTreeMap::new();
    let pod_labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
    Pdb::allow_eviction(pdbs.iter().filter(|b| b.covers(ns, pod_labels)))
}

/// Each NodeClaim's startup taints, under its provider id and under its Node's name.
fn startup_taints<'c>(cluster: &'c Cluster<'_>) -> BTreeMap<&'c str, Vec<Taint>> {
    let mut out = BTreeMap::new();
    for claim in &cluster.nodeclaims {
        let list: Vec<Taint> = claim
            .spec
            .startup_taints
            .iter()
            .flatten()
            .map(convert::taint)
            .collect();
        if list.is_empty() {
            continue;
        }
        let status = claim.status.as_ref();
        for key in [
            status.and_then(|s| s.provider_id.as_deref()),
            status.and_then(|s| s.node_name.as_deref()),
        ]
        .into_iter()
        .flatten()
        {
            out.insert(key, list.clone());
        }
    }
    out
}

/// Nodes, in-flight NodeClaims, bound and pending pods.
pub fn existing<'a>(
    cluster: &Cluster<'a>,
    catalog: &[InstanceType],
    errors: &mut Vec<FieldError>,
) -> Existing<'a> {
    let mut out = Existing {
        nodes: Vec::new(),
        capacity: Vec::new(),
        bound: Vec::new(),
        pending: Vec::new(),
    };
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    let startup = startup_taints(cluster);
    for node in &cluster.nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let spec = node.spec.clone().unwrap_or_default();
        let mut node_taints: Vec<_> = spec
            .taints
            .iter()
            .flatten()
            .filter_map(convert::node_taint)
            .collect();
        let status = node.status.clone().unwrap_or_default();
        let alloc = parse(
            "Node",
            &name,
            "status.allocatable",
            status.allocatable.as_ref(),
            errors,
        );
        let cap = parse(
            "Node",
            &name,
            "status.capacity",
            status.capacity.as_ref(),
            errors,
        );
        let node_labels = node.metadata.labels.clone().unwrap_or_default();
        let managed = node_labels.contains_key(labels::NODEPOOL);
        let initialized =
            !managed || node_labels.get(labels::INITIALIZED).map(String::as_str) == Some("true");
        if !initialized {
            // a joining node's ephemeral and startup taints are about to go: plan for the
            // node as it will be (upstream's StateNode.Taints)
            let own = spec
                .provider_id
                .as_deref()
                .and_then(|id| startup.get(id))
                .or_else(|| startup.get(name.as_str()));
            node_taints.retain(|t| {
                !t.is_known_ephemeral() && !own.is_some_and(|o| o.iter().any(|s| s.matches(t)))
            });
        }
        let volume_limits = cluster
            .csinodes
            .get(&name)
            .map(|c| {
                c.spec
                    .drivers
                    .iter()
                    .filter_map(|d| {
                        let count = d.allocatable.as_ref()?.count?;
                        Some((d.name.clone(), u32::try_from(count).unwrap_or(0)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        by_name.insert(name.clone(), out.nodes.len());
        out.nodes.push(ExistingNode {
            name,
            initialized,
            unschedulable: node.metadata.deletion_timestamp.is_some()
                || spec.unschedulable == Some(true)
                || disrupted(&node_taints),
            labels: node_labels,
            taints: node_taints,
            available: alloc,
            in_flight: false,
            volume_limits,
            ..ExistingNode::default()
        });
        out.capacity.push(cap);
    }
    for claim in &cluster.nodeclaims {
        let status = claim.status.clone().unwrap_or_default();
        let registered = status
            .node_name
            .as_ref()
            .is_some_and(|n| by_name.contains_key(n))
            || status.provider_id.as_ref().is_some_and(|id| {
                cluster
                    .nodes
                    .iter()
                    .any(|n| n.spec.as_ref().and_then(|s| s.provider_id.as_ref()) == Some(id))
            });
        if registered {
            continue;
        }
        let name = claim.metadata.name.clone().unwrap_or_default();
        let mut claim_labels = claim.metadata.labels.clone().unwrap_or_default();
        for r in &claim.spec.requirements {
            if r.operator == crate::Operator::In && r.values.len() == 1 {
                claim_labels
                    .entry(r.key.clone())
                    .or_insert_with(|| r.values[0].clone());
            }
        }
        let claim_taints: Vec<_> = claim
            .spec
            .taints
            .iter()
            .flatten()
            .map(convert::taint)
            .collect();
        let by_type = claim_labels
            .get(labels::INSTANCE_TYPE)
            .and_then(|t| catalog.iter().find(|it| &it.name == t));
        let alloc = match status.allocatable.as_ref() {
            Some(a) => parse("NodeClaim", &name, "status.allocatable", Some(a), errors),
            None => by_type.map(InstanceType::allocatable).unwrap_or_default(),
        };
        let cap = match status.capacity.as_ref() {
            Some(c) => parse("NodeClaim", &name, "status.capacity", Some(c), errors),
            None => by_type.map(|t| t.capacity.clone()).unwrap_or_default(),
        };
        by_name.insert(name.clone(), out.nodes.len());
        out.nodes.push(ExistingNode {
            name,
            unschedulable: claim.metadata.deletion_timestamp.is_some() || disrupted(&claim_taints),
            labels: claim_labels,
            taints: claim_taints,
            available: alloc,
            in_flight: true,
            ..ExistingNode::default()
        });
        out.capacity.push(cap);
    }
    // a budget that does not parse is reported where budgets are read (disruption)
    let pdbs: Vec<Pdb> = cluster
        .pdbs
        .iter()
        .filter_map(|b| super::pdb::pdb(b).ok())
        .collect();
    for pod in &cluster.pods {
        if terminal(pod) {
            continue;
        }
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let daemon = owner_kind(pod, "DaemonSet");
        if node_name.is_empty() {
            if daemon.is_none() && !mirror(pod) && pod.metadata.deletion_timestamp.is_none() {
                out.pending.push(pod);
            }
            continue;
        }
        let Some(&n) = by_name.get(&node_name) else {
            continue;
        };
        let requests = match convert::pod_resources(pod, &cluster.runtime_overhead) {
            Ok(r) => r.effective_requests(),
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let node = &mut out.nodes[n];
        let reschedulable = daemon.is_none()
            && !mirror(pod)
            && (pod.metadata.deletion_timestamp.is_none()
                || owner_kind(pod, "StatefulSet").is_some());
        if node.unschedulable && reschedulable {
            // planned again only if it can leave; otherwise it keeps its place
            if evictable(cluster, &pdbs, pod) {
                out.pending.push(pod);
            }
            continue;
        }
        for (k, q) in &requests {
            let e = node.available.entry(k.clone()).or_default();
            *e = e.saturating_sub(*q);
        }
        if let Some(ds) = daemon {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            node.daemonsets.insert(format!("{ns}/{ds}"));
        }
        let spec = pod.spec.clone().unwrap_or_default();
        node.host_ports.extend(host_ports(&spec));
        for v in volumes::pod_volumes(cluster, pod).attachments {
            node.volumes.entry(v.driver).or_default().insert(v.volume);
        }
        if pod.metadata.deletion_timestamp.is_some() {
            continue; // terminating pods do not count for topology
        }
        let anti_affinity = match pod_terms(cluster, pod, true) {
            Ok((required, _)) => required,
            Err(m) => {
                errors.push(FieldError {
                    kind: "Pod".into(),
                    name: pod_id(pod),
                    path: "spec.affinity.podAntiAffinity".into(),
                    message: m,
                });
                continue;
            }
        };
        out.bound.push(BoundPod {
            namespace: pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            node: n,
            anti_affinity,
        });
    }
    out
}
