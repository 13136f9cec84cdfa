//! Turning a finished solve into a [`Plan`]: each NodeClaim's instance types sorted by their
//! cheapest compatible available offering and truncated to 600 (still meeting minValues),
//! its labels, its price; pods on existing capacity; reasons for the rest; the cost bound.

use std::collections::BTreeMap;

use karpenter_model::wellknown::labels;
use karpenter_model::{Op, Requirement};

use crate::bound::min_cover_cost;
use crate::dense::{self, Bitset};
use crate::input::MinValuesPolicy;
use crate::plan::{ClaimPlan, NodePlan, Plan, Unschedulable};
use crate::solve::{Place, Solver};

/// Instance types kept per NodeClaim, cheapest first (upstream's `MaxInstanceTypes`).
pub const MAX_INSTANCE_TYPES: usize = 600;

fn claim_plan(s: &mut Solver<'_>, c: usize) -> Result<ClaimPlan, String> {
    let claim = &s.claims[c];
    let its = s.types.its;
    let kept: Vec<(f64, usize)> = claim
        .by_price
        .iter()
        .copied()
        .filter(|(price, _)| price.is_finite())
        .take(MAX_INSTANCE_TYPES)
        .collect();
    if !claim.reqs.min_values().is_empty() {
        let mut set = Bitset::new(s.types.len());
        kept.iter().for_each(|k| set.insert(k.1));
        if let Some((key, need, have)) = s.min_values_unmet(&claim.reqs, &set) {
            return Err(format!(
                "minValues not met after keeping the {MAX_INSTANCE_TYPES} cheapest instance types: {key} needs {need}, {have} left"
            ));
        }
    }
    let claim = &s.claims[c];
    let min_values_relaxed = s.input.options.min_values_policy == MinValuesPolicy::BestEffort
        && claim.reqs.min_values().iter().any(|(k, n)| {
            let mut set = Bitset::new(s.types.len());
            kept.iter().for_each(|t| set.insert(t.1));
            s.types.distinct_values(&set, k, &claim.reqs) < *n as usize
        });
    let names: Vec<String> = kept.iter().map(|k| its[k.1].name.clone()).collect();
    let mut requirements: Vec<Requirement> = claim
        .reqs
        .to_requirements()
        .into_iter()
        .filter(|r| r.key != labels::HOSTNAME && r.key != labels::INSTANCE_TYPE)
        .collect();
    // values sorted by name, as every requirement's; ranks avoid sorting strings per claim
    let mut by_name: Vec<usize> = kept.iter().map(|k| k.1).collect();
    by_name.sort_unstable_by_key(|&i| s.types.base.name_rank[i]);
    by_name.dedup_by_key(|i| s.types.base.name_rank[*i]);
    requirements.push(Requirement {
        key: labels::INSTANCE_TYPE.to_string(),
        op: Op::In,
        values: by_name.iter().map(|&i| its[i].name.clone()).collect(),
    });
    requirements.sort_by(|a, b| a.key.cmp(&b.key));
    let mut claim_labels: std::collections::BTreeMap<String, String> = claim
        .reqs
        .single_values()
        .into_iter()
        .filter(|(k, _)| *k != labels::HOSTNAME)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let [only] = names.as_slice() {
        claim_labels.insert(labels::INSTANCE_TYPE.into(), only.clone());
    } else {
        claim_labels.remove(labels::INSTANCE_TYPE);
    }
    let cheapest = kept
        .first()
        .and_then(|k| s.types.cheapest(k.1, &claim.reqs));
    let daemon = &s.pools[claim.pool].daemon;
    let mut overhead: Option<Vec<i64>> = None;
    for k in &kept {
        let d = &daemon[k.1];
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
        requirements,
        labels: claim_labels,
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

/// The lower bound over the pods placed on new NodeClaims: the LP relaxation of covering
/// their requests, plus a row counting nodes when required constraints force some: hostname
/// anti-affinity (every pod of a group that repels itself needs its own node) and, on an
/// empty cluster, required hostname spread (ceil(n / maxSkew)) and required spread over
/// other keys (one node per domain the pods must occupy). It ignores what else forces
/// capacity: how a spread splits requests between domains, pod affinity, minValues,
/// per-pool limits and the pods' own requirements on instance types.
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
                let mut column: Vec<f64> = s.pools[pi].eff[i].iter().map(|q| *q as f64).collect();
                column.push(1.0);
                columns.push(column);
            }
        }
    }
    let on_claims: Vec<usize> = s
        .claims
        .iter()
        .flat_map(|c| c.pods.iter().copied())
        .collect();
    let mut demand: Vec<f64> = demand.iter().map(|q| *q as f64).collect();
    let mut forced = forced_nodes(&s.input.pods, &on_claims);
    if s.input.existing.is_empty() && s.input.bound.is_empty() {
        forced = forced.max(spread_nodes(&s.input.pods, &on_claims));
        forced = forced.max(domain_spread_nodes(s, &on_claims));
    }
    demand.push(forced as f64);
    min_cover_cost(&costs, &columns, &demand).unwrap_or(0.0)
}

/// The most nodes one group of `pods` (indices into `all`) must spread over: pods that
/// carry the same required hostname anti-affinity term and match it repel each other.
fn forced_nodes(all: &[crate::input::PendingPod], pods: &[usize]) -> usize {
    let mut groups: Vec<(&crate::input::AffinityTerm, usize)> = Vec::new();
    for &p in pods {
        let pod = &all[p];
        for term in pod
            .anti_affinity
            .iter()
            .filter(|t| t.key == labels::HOSTNAME)
        {
            let own =
                term.namespaces.contains(&pod.namespace) && term.selector.matches(&pod.labels);
            if !own {
                continue;
            }
            match groups.iter_mut().find(|(t, _)| *t == term) {
                Some((_, n)) => *n += 1,
                None => groups.push((term, 1)),
            }
        }
    }
    groups.iter().map(|(_, n)| *n).max().unwrap_or(0)
}

/// The most nodes a required hostname topology spread forces on an empty cluster: a group
/// of `n` pods that count against their own `maxSkew` k (with `whenUnsatisfiable:
/// DoNotSchedule`) needs at least ceil(n / k) nodes, as a new node may hold at most k of
/// them while any eligible node holds none. With existing nodes (whose counts raise the
/// minimum) the rule does not hold, and the caller does not apply it.
fn spread_nodes(all: &[crate::input::PendingPod], pods: &[usize]) -> usize {
    // spread counts pods of the pod's own namespace only
    let mut groups: Vec<((&str, &crate::input::Spread), usize)> = Vec::new();
    for &p in pods {
        let pod = &all[p];
        for sp in pod.spreads.iter().filter(|sp| {
            sp.key == labels::HOSTNAME
                && !sp.schedule_anyway
                && sp.max_skew > 0
                && sp.selector.matches(&pod.labels)
        }) {
            let key = (pod.namespace.as_str(), sp);
            match groups.iter_mut().find(|(t, _)| *t == key) {
                Some((_, n)) => *n += 1,
                None => groups.push((key, 1)),
            }
        }
    }
    groups
        .iter()
        .map(|((_, sp), n)| n.div_ceil(sp.max_skew as usize))
        .max()
        .unwrap_or(0)
}

/// The most nodes a required spread over zones (or any key but hostname) forces on an empty
/// cluster: `n` self-selecting pods of a group over `z` counted domains with maxSkew `k`
/// occupy at least min(z, ceil(n / k)) domains, as while any counted domain stays empty
/// no domain may hold more than k of them; nodes in different domains are different nodes.
fn domain_spread_nodes(s: &Solver<'_>, pods: &[usize]) -> usize {
    let mut members: BTreeMap<usize, usize> = BTreeMap::new();
    for &p in pods {
        let st = &s.pods[p];
        for g in st.required_spreads() {
            if st.selects_self(g) {
                *members.entry(g).or_default() += 1;
            }
        }
    }
    members
        .iter()
        .filter_map(|(&g, &n)| {
            let (domains, skew) = s.topology.spread_domains(g)?;
            Some(domains.min(n.div_ceil(skew as usize)))
        })
        .max()
        .unwrap_or(0)
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
    let lower_bound = if s.lower_bound { lower_bound(s) } else { 0.0 };
    Plan {
        claims,
        existing,
        unschedulable,
        lower_bound,
    }
}
