//! What the provider does with an interruption-queue message about one of its instances
//! (upstream's interruption controller): spot interruptions and reservation interruptions
//! mark the offering unavailable; spot interruptions, scheduled changes, stopping and
//! terminating instances drain and delete the NodeClaim; rebalance recommendations are
//! events only.

use karpenter_cloud::{CloudEvent, Instance, OfferingKey};
use karpenter_model::time::Time;

use super::AwsCloud;
use crate::interruption::Kind;

impl AwsCloud {
    /// The event for a message of `kind` about instance `i`, if it calls for one.
    pub(super) fn on_message(
        &mut self,
        kind: &Kind,
        i: &Instance,
        now: Time,
    ) -> Option<CloudEvent> {
        let interrupted = |reason, message| CloudEvent::Interrupted {
            provider_id: i.provider_id.clone(),
            message_type: kind.metric_label(),
            reason,
            message,
        };
        match kind {
            Kind::SpotInterrupted => {
                self.unavailable("spot", i, now);
                Some(interrupted(
                    "SpotInterrupted",
                    "Spot interruption warning was triggered",
                ))
            }
            Kind::RebalanceRecommendation => Some(CloudEvent::Notice {
                provider_id: i.provider_id.clone(),
                reason: "SpotRebalanceRecommendation",
                message: "Spot rebalance recommendation was triggered",
            }),
            Kind::CapacityReservationInterrupted => {
                // the reservation takes its capacity back: no reserved launch of that
                // type there for a while
                self.unavailable("reserved", i, now);
                Some(interrupted(
                    "InstanceTerminating",
                    "Instance is terminating",
                ))
            }
            Kind::ScheduledChange => Some(interrupted(
                "InstanceUnhealthy",
                "An unhealthy warning was triggered for the instance",
            )),
            Kind::InstanceStopped => Some(interrupted("InstanceStopping", "Instance is stopping")),
            k if k.deletes() => Some(interrupted(
                "InstanceTerminating",
                "Instance is terminating",
            )),
            _ => None,
        }
    }

    /// Mark `capacity_type` offerings of `i`'s type in its zone unavailable (the ICE cache).
    fn unavailable(&mut self, capacity_type: &str, i: &Instance, now: Time) {
        self.ice.mark(
            &[OfferingKey {
                capacity_type: capacity_type.into(),
                instance_type: i.instance_type.clone(),
                zone: i.zone.clone(),
            }],
            now,
        );
        self.shapes.clear_views();
    }
}
