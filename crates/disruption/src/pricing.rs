//! Replacement rules of consolidation (upstream §4.3): a replacement keeps only instance
//! types whose worst-case launch price is strictly below what the candidates cost; on-demand
//! candidates move to spot when the replacement may use it; spot-to-spot needs the feature
//! gate (and 15 cheaper types for a single node); multi-node replacements drop types priced
//! at or above a candidate of the same type.

use karpenter_model::wellknown::labels;
use karpenter_model::{InstanceType, Op, Requirement, Requirements};
use karpenter_scheduling::ClaimPlan;

use crate::types::NodeInfo;

/// Cheaper spot types a single-node spot-to-spot replacement needs (upstream: 15).
pub const SPOT_TO_SPOT_MIN_TYPES: usize = 15;

/// The price the cloud may charge for `t` under `reqs`: capacity type by precedence
/// (reserved, spot, on-demand) among compatible available offerings, then the most
/// expensive such offering. `None` when nothing is compatible.
pub fn worst_case_price(t: &InstanceType, reqs: &Requirements) -> Option<(f64, String)> {
    let ok = |key: &str, v: &str| reqs.get(key).is_none_or(|s| s.has(v));
    let offers: Vec<_> = t
        .offerings
        .iter()
        .filter(|o| {
            o.available && ok(labels::ZONE, &o.zone) && ok(labels::CAPACITY_TYPE, &o.capacity_type)
        })
        .collect();
    let ct = [
        labels::CAPACITY_TYPE_RESERVED,
        labels::CAPACITY_TYPE_SPOT,
        labels::CAPACITY_TYPE_ON_DEMAND,
    ]
    .into_iter()
    .find(|ct| offers.iter().any(|o| o.capacity_type == *ct))?;
    let price = offers
        .iter()
        .filter(|o| o.capacity_type == ct)
        .map(|o| o.price)
        .fold(f64::NEG_INFINITY, f64::max);
    Some((price, ct.to_string()))
}

/// Apply the replacement rules to `claim` for `candidates`; `None` when no replacement is
/// allowed (the reason is the error).
pub fn cheaper_replacement(
    claim: &ClaimPlan,
    candidates: &[&NodeInfo],
    catalog: &[InstanceType],
    spot_to_spot: bool,
    single: bool,
) -> Result<ClaimPlan, String> {
    let total: f64 = candidates.iter().map(|c| c.price).sum();
    let mut reqs = Requirements::from_requirements(&claim.requirements);
    let allows =
        |reqs: &Requirements, ct: &str| reqs.get(labels::CAPACITY_TYPE).is_none_or(|s| s.has(ct));
    let all_spot = candidates
        .iter()
        .all(|c| c.capacity_type == labels::CAPACITY_TYPE_SPOT);
    let all_on_demand = candidates
        .iter()
        .all(|c| c.capacity_type == labels::CAPACITY_TYPE_ON_DEMAND);
    if all_spot && allows(&reqs, labels::CAPACITY_TYPE_SPOT) {
        if !spot_to_spot {
            return Err(
                "spot-to-spot replacement needs the SpotToSpotConsolidation feature gate".into(),
            );
        }
        reqs.add(&Requirement::new(
            labels::CAPACITY_TYPE,
            Op::In,
            [labels::CAPACITY_TYPE_SPOT],
        ));
    } else if all_on_demand
        && allows(&reqs, labels::CAPACITY_TYPE_SPOT)
        && allows(&reqs, labels::CAPACITY_TYPE_ON_DEMAND)
    {
        reqs.add(&Requirement::new(
            labels::CAPACITY_TYPE,
            Op::In,
            [labels::CAPACITY_TYPE_SPOT],
        ));
    }
    let mut kept: Vec<(f64, String)> = Vec::new();
    for name in &claim.instance_types {
        let Some(t) = catalog.iter().find(|t| &t.name == name) else {
            continue;
        };
        let Some((price, _)) = worst_case_price(t, &reqs) else {
            continue;
        };
        if price >= total {
            continue;
        }
        if !single
            && candidates
                .iter()
                .any(|c| c.instance_type == *name && price >= c.price)
        {
            continue;
        }
        kept.push((price, name.clone()));
    }
    kept.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let spot_pinned = reqs
        .get(labels::CAPACITY_TYPE)
        .is_some_and(|s| !s.has(labels::CAPACITY_TYPE_ON_DEMAND));
    if all_spot && spot_pinned && single {
        if kept.len() < SPOT_TO_SPOT_MIN_TYPES {
            return Err(format!(
                "spot-to-spot needs {SPOT_TO_SPOT_MIN_TYPES} cheaper spot instance types, found {}",
                kept.len()
            ));
        }
        kept.truncate(SPOT_TO_SPOT_MIN_TYPES);
    }
    let Some((price, _)) = kept.first().cloned() else {
        return Err(format!(
            "no instance type is cheaper than the candidates' ${total:.4}/h"
        ));
    };
    let names: Vec<String> = kept.into_iter().map(|(_, n)| n).collect();
    reqs.add_set(
        labels::INSTANCE_TYPE,
        karpenter_model::ValueSet::from_op(Op::In, &names),
    );
    let mut out = claim.clone();
    out.requirements = reqs.to_requirements();
    out.instance_types = names;
    out.price = price;
    Ok(out)
}
