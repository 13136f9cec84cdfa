//! Taint checks as the scheduler makes them: every taint counts, PreferNoSchedule included,
//! until relaxation (or the Ignore preference policy) tolerates PreferNoSchedule.

use karpenter_model::{Effect, Taint, Toleration};

/// The first taint the tolerations do not tolerate; PreferNoSchedule taints are skipped when
/// `prefer_tolerated`.
pub fn untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    prefer_tolerated: bool,
) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        let soft = prefer_tolerated && t.effect == Effect::PreferNoSchedule;
        !soft && !tolerations.iter().any(|tol| tol.tolerates(t))
    })
}

/// Are all taints tolerated?
pub fn tolerates(taints: &[Taint], tolerations: &[Toleration], prefer_tolerated: bool) -> bool {
    untolerated(taints, tolerations, prefer_tolerated).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_no_schedule_counts_until_relaxed() {
        let taints = [Taint {
            key: "soft".into(),
            value: String::new(),
            effect: Effect::PreferNoSchedule,
        }];
        assert!(!tolerates(&taints, &[], false));
        assert!(tolerates(&taints, &[], true));
    }
}
