//! Interruption handling (upstream AWS §6.9): a spot interruption warning deletes the
//! NodeClaim at once (cordon and drain, ignoring budgets) so its pods are re-planned within
//! the two-minute notice; an instance that terminated under us takes its Node and NodeClaim
//! with it.

use karpenter_cloud::{CloudEvent, CloudProvider};
use karpenter_model::time::Time;

use crate::events::Recorder;
use crate::state::ClusterState;
use crate::termination::delete_claim;

/// Post `reason` on the NodeClaim and, once it has one, its Node.
fn both(
    recorder: &mut Recorder,
    now: Time,
    reason: &'static str,
    claim: &str,
    node: Option<&str>,
    message: &str,
) {
    recorder.event(now, reason, format!("NodeClaim/{claim}"), message.into());
    if let Some(n) = node {
        recorder.event(now, reason, format!("Node/{n}"), message.into());
    }
}

/// Drain and delete an interrupted NodeClaim now, with upstream's events and metrics.
fn interrupt(
    state: &mut ClusterState,
    recorder: &mut Recorder,
    now: Time,
    (name, node, pool): (&str, Option<&str>, &str),
    (kind, reason, message): (&str, &'static str, &str),
) {
    recorder.count(
        "karpenter_nodeclaims_disrupted_total",
        &[("reason", kind), ("nodepool", pool)],
        1.0,
    );
    both(recorder, now, reason, name, node, message);
    recorder.event(
        now,
        "TerminatingOnInterruption",
        format!("NodeClaim/{name}"),
        "Interruption triggered termination for the NodeClaim".into(),
    );
    if let Some(n) = node {
        recorder.event(
            now,
            "TerminatingOnInterruption",
            format!("Node/{n}"),
            "Interruption triggered termination for the Node".into(),
        );
    }
    delete_claim(state, name, "Interrupted", now);
}

/// Handle the cloud's pending events.
pub fn handle<C: CloudProvider>(
    state: &mut ClusterState,
    cloud: &mut C,
    now: Time,
    recorder: &mut Recorder,
) {
    for event in cloud.poll_events(now) {
        let pid = match &event {
            CloudEvent::SpotInterruption { provider_id, .. }
            | CloudEvent::InstanceTerminated { provider_id }
            | CloudEvent::Interrupted { provider_id, .. }
            | CloudEvent::Notice { provider_id, .. } => provider_id.clone(),
        };
        // the simulated cloud's events are counted here; a queue-reading provider counts
        // every message it receives itself
        let counted = match &event {
            CloudEvent::SpotInterruption { .. } => Some("spot_interrupted"),
            CloudEvent::InstanceTerminated { .. } => Some("instance_terminated"),
            _ => None,
        };
        if let Some(kind) = counted {
            recorder.count(
                "karpenter_interruption_received_messages_total",
                &[("message_type", kind)],
                1.0,
            );
        }
        let claim = state
            .claims()
            .values()
            .find(|c| c.launched.as_ref().is_some_and(|l| l.provider_id == pid))
            .map(|c| (c.name.clone(), c.node.clone(), c.node_pool.clone()));
        let Some((name, node, pool)) = claim else {
            continue;
        };
        let who = (name.as_str(), node.as_deref(), pool.as_str());
        match event {
            CloudEvent::SpotInterruption { .. } => interrupt(
                state,
                recorder,
                now,
                who,
                (
                    "spot_interrupted",
                    "SpotInterrupted",
                    "Spot interruption warning was triggered",
                ),
            ),
            CloudEvent::Interrupted {
                message_type,
                reason,
                message,
                ..
            } => interrupt(state, recorder, now, who, (message_type, reason, message)),
            CloudEvent::Notice {
                reason, message, ..
            } => both(recorder, now, reason, &name, node.as_deref(), message),
            CloudEvent::InstanceTerminated { .. } => {
                if let Some(n) = &node {
                    state.remove_node(n, now);
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
