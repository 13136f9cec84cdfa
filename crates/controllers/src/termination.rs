//! Termination (upstream §5): a NodeClaim being deleted has its Node tainted
//! `karpenter.sh/disrupted:NoSchedule` and drained through eviction that honours
//! PodDisruptionBudgets, in upstream's tiers (non-critical pods first, critical ones after),
//! skipping pods with `karpenter.sh/do-not-disrupt`. A NodePool's terminationGracePeriod is
//! a hard deadline: once only a pod's own grace period is left before it, the remaining pods
//! are deleted whatever blocks their eviction. Once drained, and once the node's volumes are
//! detached (not waited for past the deadline), the instance is deleted, then the Node and
//! the NodeClaim.

use karpenter_cloud::{CloudError, CloudProvider};
use karpenter_model::time::{SECOND, Time};
use karpenter_model::wellknown::taints;
use karpenter_model::{Effect, Taint};

use crate::events::Recorder;
use crate::state::ClusterState;

/// The taint on nodes being disrupted.
pub fn disrupted_taint() -> Taint {
    Taint {
        key: taints::DISRUPTED_KEY.into(),
        value: String::new(),
        effect: Effect::NoSchedule,
    }
}

/// Why a pod cannot be evicted now, if it cannot.
pub fn eviction_blocker(state: &ClusterState, pod: &str) -> Option<String> {
    let p = state.pods().get(pod)?;
    if p.do_not_disrupt {
        return Some(format!("pod {} has karpenter.sh/do-not-disrupt", p.id));
    }
    let pdbs: Vec<_> = state.pdbs_of(p).collect();
    if pdbs.len() > 1 {
        return Some(format!(
            "pod {} is covered by more than one PodDisruptionBudget",
            p.id
        ));
    }
    if let Some(b) = pdbs.first()
        && state.pdb_allowed(b) == 0
    {
        return Some(format!(
            "PodDisruptionBudget {} allows no more disruptions",
            b.id
        ));
    }
    None
}

/// How long a pod takes to stop once deleted (Kubernetes' default
/// `terminationGracePeriodSeconds`): pods are deleted this long before a drain's deadline.
pub const POD_GRACE: Time = 30 * SECOND;

/// Drain one node: evict what may be evicted now, in tiers; from `deadline - POD_GRACE` on,
/// delete every pod left instead. Returns whether it is empty.
pub fn drain(
    state: &mut ClusterState,
    node: &str,
    now: Time,
    deadline: Option<Time>,
    recorder: &mut Recorder,
) -> bool {
    if deadline.is_some_and(|d| now >= d - POD_GRACE) {
        let pods: Vec<String> = state.pods_on(node).map(|p| p.id.clone()).collect();
        for id in pods {
            recorder.event(
                now,
                "TerminationGracePeriodExpiring",
                format!("Pod/{id}"),
                format!("deleting the pod: Node {node} reaches its terminationGracePeriod"),
            );
            state.force_delete(&id, now);
        }
    }
    state.update_node(node, |n| {
        let t = disrupted_taint();
        if !n.taints.contains(&t) {
            n.taints.push(t);
        }
    });
    let pods: Vec<(String, bool)> = state
        .pods_on(node)
        .map(|p| (p.id.clone(), p.critical))
        .collect();
    if pods.is_empty() {
        return true;
    }
    let tier_critical = pods.iter().all(|(_, critical)| *critical);
    for (id, critical) in pods {
        if critical != tier_critical {
            continue;
        }
        match eviction_blocker(state, &id) {
            None => {
                state.evict(&id, now);
                recorder.count(
                    "karpenter_pods_eviction_requests_total",
                    &[("code", "200")],
                    1.0,
                );
            }
            Some(_) => {
                recorder.count(
                    "karpenter_pods_eviction_requests_total",
                    &[("code", "429")],
                    1.0,
                );
            }
        }
    }
    state.pod_count(node) == 0
}

/// A NodeClaim being deleted, as termination needs it.
struct Deleting {
    name: String,
    node: Option<String>,
    provider_id: Option<String>,
    /// Deletion time plus terminationGracePeriod.
    deadline: Option<Time>,
}

/// Move every deleting NodeClaim along: drain its node, then delete the instance, the Node
/// and the claim.
pub fn terminate<C: CloudProvider>(
    state: &mut ClusterState,
    cloud: &mut C,
    now: Time,
    recorder: &mut Recorder,
) {
    let deleting: Vec<Deleting> = state
        .claims()
        .values()
        .filter_map(|c| {
            let since = c.deleting_since?;
            Some(Deleting {
                name: c.name.clone(),
                node: c.node.clone(),
                provider_id: c.launched.as_ref().map(|l| l.provider_id.clone()),
                deadline: c.termination_grace_period.map(|g| since + g),
            })
        })
        .collect();
    // drained (or with no Node): ready for the instance to go
    let mut ready: Vec<Deleting> = Vec::new();
    for d in deleting {
        if let Some(n) = &d.node
            && state.nodes().contains_key(n)
        {
            if !drain(state, n, now, d.deadline, recorder) {
                continue;
            }
            let attached = state
                .nodes()
                .get(n)
                .is_some_and(|n| !n.attached_volumes.is_empty());
            if attached && d.deadline.is_none_or(|t| now < t) {
                continue; // wait for volume detachment, as upstream, until the deadline
            }
        }
        ready.push(d);
    }
    // one call for the pass's instances (a provider may batch them)
    let ids: Vec<String> = ready.iter().filter_map(|d| d.provider_id.clone()).collect();
    let mut answers = if ids.is_empty() {
        Vec::new()
    } else {
        cloud.delete_all(&ids, now)
    }
    .into_iter();
    for Deleting {
        name,
        node,
        provider_id,
        ..
    } in ready
    {
        if provider_id.is_some() {
            match answers.next() {
                Some(Ok(()) | Err(CloudError::NotFound { .. })) => {}
                other => {
                    let e = other.and_then(Result::err).map_or_else(
                        || "the cloud gave no answer for this instance".to_string(),
                        |e| e.to_string(),
                    );
                    recorder.count(
                        "karpenter_cloudprovider_errors_total",
                        &[("method", "Delete")],
                        1.0,
                    );
                    recorder.event(now, "FailedTermination", format!("NodeClaim/{name}"), e);
                    continue;
                }
            }
        }
        if let Some(n) = &node {
            state.remove_node(n, now);
            recorder.count("karpenter_nodes_terminated_total", &[], 1.0);
        }
        let pool = state
            .claims()
            .get(&name)
            .map(|c| c.node_pool.clone())
            .unwrap_or_default();
        state.remove_claim(&name);
        recorder.count(
            "karpenter_nodeclaims_terminated_total",
            &[("nodepool", &pool), ("reason", "deleted")],
            1.0,
        );
        recorder.event(
            now,
            "Terminated",
            format!("NodeClaim/{name}"),
            node.map(|n| format!("Node {n}")).unwrap_or_default(),
        );
    }
}

/// Start deleting a NodeClaim for `reason` (no-op if it is already being deleted).
pub fn delete_claim(state: &mut ClusterState, name: &str, reason: &str, now: Time) {
    state.update_claim(name, |c| {
        if c.deleting_since.is_none() {
            c.deleting_since = Some(now);
            c.disruption.get_or_insert_with(|| reason.to_string());
        }
    });
}
