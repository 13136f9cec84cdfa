//! Interruption handling (upstream AWS §6.9): a spot interruption warning deletes the
//! NodeClaim at once (cordon and drain, ignoring budgets) so its pods are re-planned within
//! the two-minute notice; an instance that terminated under us takes its Node and NodeClaim
//! with it.

use karpenter_cloud::{CloudEvent, CloudProvider};
use karpenter_model::time::Time;

use crate::events::Recorder;
use crate::state::ClusterState;
use crate::termination::delete_claim;

/// Handle the cloud's pending events.
pub fn handle<C: CloudProvider>(
    state: &mut ClusterState,
    cloud: &mut C,
    now: Time,
    recorder: &mut Recorder,
) {
    for event in cloud.poll_events(now) {
        let (pid, kind) = match &event {
            CloudEvent::SpotInterruption { provider_id, .. } => (provider_id, "spot_interrupted"),
            CloudEvent::InstanceTerminated { provider_id } => (provider_id, "instance_terminated"),
        };
        recorder.count(
            "karpenter_interruption_received_messages_total",
            &[("message_type", kind)],
            1.0,
        );
        let claim = state
            .claims()
            .values()
            .find(|c| c.launched.as_ref().is_some_and(|l| &l.provider_id == pid))
            .map(|c| (c.name.clone(), c.node.clone(), c.node_pool.clone()));
        let Some((name, node, pool)) = claim else {
            continue;
        };
        match event {
            CloudEvent::SpotInterruption { .. } => {
                recorder.count(
                    "karpenter_nodeclaims_disrupted_total",
                    &[("reason", kind), ("nodepool", &pool)],
                    1.0,
                );
                recorder.event(
                    now,
                    "SpotInterrupted",
                    format!("NodeClaim/{name}"),
                    "spot interruption warning".into(),
                );
                delete_claim(state, &name, "Interrupted", now);
            }
            CloudEvent::InstanceTerminated { .. } => {
                if let Some(n) = node {
                    state.remove_node(&n, now);
                }
                state.remove_claim(&name);
                recorder.event(
                    now,
                    "InstanceTerminated",
                    format!("NodeClaim/{name}"),
                    "instance terminated".into(),
                );
            }
        }
    }
}
