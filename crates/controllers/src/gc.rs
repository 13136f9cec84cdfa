//! Garbage collection both ways (upstream's NodeClaim garbage collection): a launched
//! NodeClaim whose instance the cloud no longer has is deleted, and an instance that no
//! NodeClaim accounts for (by provider id or by the claim it was launched for) is
//! terminated. Both wait a grace period after launch, so a launch whose NodeClaim status
//! is still on its way is never mistaken for a leak.

use std::collections::BTreeSet;

use karpenter_cloud::{CloudError, CloudProvider};
use karpenter_model::time::{SECOND, Time};

use crate::events::Recorder;
use crate::state::ClusterState;
use crate::termination::delete_claim;

/// How long after a launch garbage collection leaves it alone.
pub const GRACE: Time = 30 * SECOND;

/// One garbage-collection pass. Returns how many claims and instances it removed.
pub fn collect<C: CloudProvider>(
    state: &mut ClusterState,
    cloud: &mut C,
    now: Time,
    recorder: &mut Recorder,
) -> (usize, usize) {
    let mut claims_gone = Vec::new();
    let mut known: BTreeSet<String> = BTreeSet::new();
    for c in state.claims().values() {
        known.insert(c.name.clone());
        let Some(l) = &c.launched else { continue };
        known.insert(l.provider_id.clone());
        if c.deleting_since.is_none()
            && now - l.at >= GRACE
            && matches!(cloud.get(&l.provider_id), Err(CloudError::NotFound { .. }))
        {
            claims_gone.push(c.name.clone());
        }
    }
    for name in &claims_gone {
        recorder.event(
            now,
            "GarbageCollected",
            format!("NodeClaim/{name}"),
            "its instance no longer exists".into(),
        );
        delete_claim(state, name, "GarbageCollected", now);
    }
    let mut leaked = 0;
    for i in cloud.list() {
        if known.contains(&i.provider_id) || known.contains(&i.claim) {
            continue;
        }
        if now - i.launched_at < GRACE {
            continue;
        }
        match cloud.delete(&i.provider_id, now) {
            Ok(()) | Err(CloudError::NotFound { .. }) => {
                leaked += 1;
                recorder.event(
                    now,
                    "GarbageCollected",
                    format!("Instance/{}", i.provider_id),
                    format!("no NodeClaim {} accounts for it", i.claim),
                );
                recorder.count(
                    "karpenter_nodeclaims_terminated_total",
                    &[("nodepool", &i.node_pool), ("reason", "garbage_collected")],
                    1.0,
                );
            }
            Err(e) => recorder.event(
                now,
                "FailedTermination",
                format!("Instance/{}", i.provider_id),
                e.to_string(),
            ),
        }
    }
    (claims_gone.len(), leaked)
}
