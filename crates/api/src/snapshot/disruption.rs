//! A NodePool's disruption settings in the disruption engine's terms: consolidation
//! policy, consolidateAfter and expireAfter (`Never` allowed), and budgets with their
//! schedules (a schedule that does not parse fails closed, as upstream).

use karpenter_disruption::cron::Cron;
use karpenter_disruption::{Allowance, Budget, Policy, PoolPolicy, Reason};
use karpenter_model::NillableDuration;
use karpenter_model::time::millis;

use crate::NodePool;
use crate::nodepool::{ConsolidationPolicy, DisruptionReason};
use crate::validate::FieldError;

/// The disruption settings of `np`.
pub fn pool_policy(np: &NodePool) -> Result<PoolPolicy, FieldError> {
    let name = np.metadata.name.clone().unwrap_or_default();
    let err = |path: &str, message: String| FieldError {
        kind: "NodePool".into(),
        name: name.clone(),
        path: path.into(),
        message,
    };
    let never_or = |path: &str, text: &str| -> Result<Option<i64>, FieldError> {
        match NillableDuration::parse(text).map_err(|e| err(path, e.to_string()))? {
            NillableDuration::Never => Ok(None),
            NillableDuration::After(d) => Ok(Some(millis(d))),
        }
    };
    let d = &np.spec.disruption;
    let mut budgets = Vec::new();
    for (i, b) in d.budgets.iter().enumerate() {
        let path = format!("spec.disruption.budgets[{i}]");
        let nodes = match b.nodes.strip_suffix('%') {
            Some(p) => p.trim().parse().map(Allowance::Percent),
            None => b.nodes.trim().parse().map(Allowance::Count),
        }
        .map_err(|_| {
            err(
                &format!("{path}.nodes"),
                format!("{:?} is not a count or a percentage", b.nodes),
            )
        })?;
        let window = match (&b.schedule, &b.duration) {
            (Some(s), Some(dur)) => {
                let length = karpenter_model::Duration::parse(dur)
                    .map_err(|e| err(&format!("{path}.duration"), e.to_string()))?;
                Some((Cron::parse(s).map_err(|e| e.to_string()), millis(length)))
            }
            (None, None) => None,
            _ => {
                return Err(err(
                    &path,
                    "schedule and duration must be set together".into(),
                ));
            }
        };
        let reasons = b
            .reasons
            .iter()
            .flatten()
            .map(|r| match r {
                DisruptionReason::Empty => Reason::Empty,
                DisruptionReason::Drifted => Reason::Drifted,
                DisruptionReason::Underutilized => Reason::Underutilized,
            })
            .collect();
        budgets.push(Budget {
            nodes,
            reasons,
            window,
        });
    }
    Ok(PoolPolicy {
        name: name.clone(),
        policy: match d.consolidation_policy {
            ConsolidationPolicy::WhenEmpty => Policy::WhenEmpty,
            ConsolidationPolicy::WhenEmptyOrUnderutilized => Policy::WhenEmptyOrUnderutilized,
            ConsolidationPolicy::Balanced => Policy::Balanced,
        },
        consolidate_after: never_or("spec.disruption.consolidateAfter", &d.consolidate_after)?,
        budgets,
        expire_after: never_or(
            "spec.template.spec.expireAfter",
            &np.spec.template.spec.expire_after,
        )?,
        termination_grace_period: match &np.spec.template.spec.termination_grace_period {
            None => None,
            Some(text) => Some(millis(karpenter_model::Duration::parse(text).map_err(
                |e| err("spec.template.spec.terminationGracePeriod", e.to_string()),
            )?)),
        },
        is_static: np.spec.replicas.is_some(),
    })
}
