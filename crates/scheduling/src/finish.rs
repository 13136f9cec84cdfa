//! Turning a finished solve into a [`Plan`]: each NodeClaim's instance types sorted by their
//! cheapest compatible available offering and truncated to 600 (still meeting minValues),
//! its labels, its price; pods on existing capacity; reasons for the rest; the cost bound.

use karpenter_model::wellknown::labels;
use karpenter_model::{Op, Requirement, Requirements};

use crate::bound::min_cover_cost;
use crate::dense::{self, Bitset};
use crate::input::MinValuesPolicy;
use crate::plan::{ClaimPlan, NodePlan, Plan, Unschedulable};
use crate::solve::{Place, Solver};

/// Instance types kept per NodeClaim, cheapest first (upstream's `MaxInstanceTypes`).
pub const MAX_INSTANCE_TYPES: usize = 600;

fn claim_plan(s: &mut Solver<'_>, c: usize) -> Result<ClaimPlan, String> {
    let claim = s.claims[c].clone();
    let prices = s.types.offered(&claim.reqs).price.clone();
    let mut priced: Vec<(f64, &str, usize)> = claim
        .types
        .iter()
        .filter(|&i| prices[i].is_finite())
        .map(|i| (prices[i], s.types.its[i].name.as_str(), i))
        .collect();
    priced.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    priced.truncate(MAX_INSTANCE_TYPES);
    let mut kept = Bitset::new(s.types.len());
    priced.iter().for_each(|p| kept.insert(p.2));
    if let Some((key, need, have)) = s.min_values_unmet(&claim.reqs, &kept) {
        return Err(format!(
            "minValues not met after keeping the {MAX_INSTANCE_TYPES} cheapest instance types: {key} needs {need}, {have} left"
        ));
    }
    let min_values_relaxed = s.input.options.min_values_policy == MinValuesPolicy::BestEffort
        && claim
            .reqs
            .min_values()
            .iter()
            .any(|(k, n)| s.types.distinct_values(&kept, k, &claim.reqs) < *n as usize);
    let names: Vec<String> = priced.iter().map(|p| p.1.to_string()).collect();
    let mut out = Requirements::new();
    for r in claim.reqs.to_requirements() {
        if r.key != labels::HOSTNAME {
            out.add(&r);
        }
    }
    out.add(&Requirement::new(
        labels::INSTANCE_TYPE,
        Op::In,
        names.clone(),
    ));
    let labels = out
        .single_values()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cheapest = priced
        .first()
        .and_then(|p| s.types.cheapest(p.2, &claim.reqs));
    let daemon = &s.pools[claim.pool].daemon;
    let mut overhead: Option<Vec<i64>> = None;
    for p in &priced {
        let d = &daemon[p.2];
        overhead = Some(match overhead {
            None => d.clone(),
            Some(o) => o.iter().zip(d).map(|(a, b)| (*a).min(*b)).collect(),
        });
    }
    let mut requests = claim.used.clone();
    if let Some(o) = overhead {
        dense::add(&mut requests, &o);
    }
    Ok(ClaimPlan {
        node_pool: s.input.pools[claim.pool].name.clone(),
        instance_types: names,
        requirements: out.to_requirements(),
        labels,
        pods: claim
            .pods
            .iter()
            .map(|&p| s.input.pods[p].id.clone())
            .collect(),
        price: cheapest.map_or(0.0, |o| o.price),
        zone: cheapest.map(|o| o.zone.clone()).unwrap_or_default(),
        capacity_type: cheapest
            .map(|o| o.capacity_type.clone())
            .unwrap_or_default(),
        requests: s.names.resources(&requests),
        min_values_relaxed,
    })
}

/// The lower bound over the pods placed on new NodeClaims.
fn lower_bound(s: &mut Solver<'_>) -> f64 {
    let dims = s.names.len();
    let mut demand = vec![0i64; dims];
    for claim in &s.claims {
        dense::add(&mut demand, &claim.used);
    }
    if s.claims.is_empty() {
        return 0.0;
    }
    let mut costs = Vec::new();
    let mut columns = Vec::new();
    for pi in 0..s.pools.len() {
        let reqs = s.input.pools[pi].requirements.clone();
        let prices = s.types.offered(&reqs).price.clone();
        for i in s.pools[pi].types.iter() {
            if prices[i].is_finite() {
                costs.push(prices[i]);
                columns.push(s.pools[pi].eff[i].iter().map(|q| *q as f64).collect());
            }
        }
    }
    let demand: Vec<f64> = demand.iter().map(|q| *q as f64).collect();
    min_cover_cost(&costs, &columns, &demand).unwrap_or(0.0)
}

/// Build the plan of a finished solve.
pub fn plan(s: &mut Solver<'_>) -> Plan {
    let mut claims = Vec::new();
    for c in 0..s.claims.len() {
        match claim_plan(s, c) {
            Ok(plan) => claims.push(plan),
            Err(why) => {
                for p in s.claims[c].pods.clone() {
                    s.placed[p] = None;
                    s.errors[p] = Some(why.clone());
                }
            }
        }
    }
    let mut on_node: Vec<Vec<usize>> = vec![Vec::new(); s.input.existing.len()];
    let mut order: Vec<(usize, usize)> = Vec::new();
    for (p, place) in s.placed.iter().enumerate() {
        if let Some(Place::Node(n)) = place {
            order.push((*n, p));
        }
    }
    for (n, p) in order {
        on_node[n].push(p);
    }
    let existing = on_node
        .iter()
        .enumerate()
        .filter(|(_, pods)| !pods.is_empty())
        .map(|(n, pods)| NodePlan {
            name: s.input.existing[n].name.clone(),
            pods: pods.iter().map(|&p| s.input.pods[p].id.clone()).collect(),
        })
        .collect();
    let unschedulable = (0..s.input.pods.len())
        .filter(|&p| s.placed[p].is_none())
        .map(|p| {
            let pod = &s.input.pods[p];
            let reason = match (&pod.ignored, &s.errors[p]) {
                (Some(why), _) => format!("ignored: {why}"),
                (None, Some(e)) => e.clone(),
                (None, None) => "no placement found".into(),
            };
            Unschedulable {
                pod: pod.id.clone(),
                reason,
            }
        })
        .collect();
    let lower_bound = lower_bound(s);
    Plan {
        claims,
        existing,
        unschedulable,
        lower_bound,
    }
}
