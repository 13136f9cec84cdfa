//! Termination (upstream §5): a NodeClaim being deleted has its Node tainted
//! `karpenter.sh/disrupted:NoSchedule` and drained through eviction that honours
//! PodDisruptionBudgets, in upstream's tiers (non-critical pods first, critical ones after),
//! skipping pods with `karpenter.sh/do-not-disrupt`; once drained the instance is deleted,
//! then the Node and the NodeClaim.

use karpenter_cloud::{CloudError, CloudProvider};
use karpenter_model::time::Time;
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

/// Drain one node: evict what may be evicted now, in tiers. Returns whether it is empty.
pub fn drain(state: &mut ClusterState, node: &str, now: Time, recorder: &mut Recorder) -> bool {
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

/// Move every deleting NodeClaim along: drain its node, then delete the instance, the Node
/// and the claim.
pub fn terminate<C: CloudProvider>(
    state: &mut ClusterState,
    cloud: &mut C,
    now: Time,
    recorder: &mut Recorder,
) {
    let deleting: Vec<(String, Option<String>, Option<String>)> = state
        .claims()
        .values()
        .filter(|c| c.deleting_since.is_some())
        .map(|c| {
            (
                c.name.clone(),
                c.node.clone(),
                c.launched.as_ref().map(|l| l.provider_id.clone()),
            )
        })
        .collect();
    for (name, node, provider_id) in deleting {
        if let Some(n) = &node
            && state.nodes().contains_key(n)
            && !drain(state, n, now, recorder)
        {
            continue;
        }
        if let Some(pid) = &provider_id {
            match cloud.delete(pid, now) {
                Ok(()) | Err(CloudError::NotFound { .. }) => {}
                Err(e) => {
                    recorder.count(
                        "karpenter_cloudprovider_errors_total",
                        &[("method", "Delete")],
                        1.0,
                    );
                    recorder.event(
                        now,
                        "FailedTermination",
                        format!("NodeClaim/{name}"),
                        e.to_string(),
                    );
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
