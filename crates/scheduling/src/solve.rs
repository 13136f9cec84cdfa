//! One solve: first-fit-decreasing over existing nodes, then NodeClaims opened in this solve
//! (fewest pods first), then a new NodeClaim from each NodePool in weight order, as
//! upstream's `Scheduler.add` does.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_model::catalog::add_resources as add_to;
use karpenter_model::wellknown::{aws_labels, labels};
use karpenter_model::{
    InstanceType, Offering, Op, Quantity, Requirement, Requirements, Resources, ValueSet,
    taints::untolerated,
};

use crate::input::{ExistingNode, Input, PendingPod, Pool};

/// Instance types kept per NodeClaim, cheapest first (upstream's `MaxInstanceTypes`).
pub const MAX_INSTANCE_TYPES: usize = 600;

/// A NodeClaim to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimPlan {
    /// The NodePool.
    pub node_pool: String,
    /// Candidate instance types, cheapest first.
    pub instance_types: Vec<String>,
    /// Final requirements, including the instance-type list.
    pub requirements: Vec<Requirement>,
    /// Every requirement that resolved to one value.
    pub labels: BTreeMap<String, String>,
    /// The pods (`namespace/name`).
    pub pods: Vec<String>,
    /// Price of the cheapest compatible available offering, USD/hour.
    pub price: f64,
}

/// Pods placed onto an existing node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePlan {
    /// Node name.
    pub name: String,
    /// The pods.
    pub pods: Vec<String>,
}

/// A pod that stays pending, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unschedulable {
    /// `namespace/name`.
    pub pod: String,
    /// What ruled out every option.
    pub reason: String,
}

/// The decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// New NodeClaims.
    pub claims: Vec<ClaimPlan>,
    /// Existing nodes that take pods.
    pub existing: Vec<NodePlan>,
    /// Pods left pending.
    pub unschedulable: Vec<Unschedulable>,
}

impl Plan {
    /// Cost per hour of the new NodeClaims.
    pub fn cost_per_hour(&self) -> f64 {
        self.claims.iter().map(|c| c.price).sum()
    }
}

fn is_well_known(key: &str) -> bool {
    labels::CORE_WELL_KNOWN.contains(&key) || aws_labels::WELL_KNOWN.contains(&key)
}

fn offering_ok(o: &Offering, reqs: &Requirements) -> bool {
    o.available
        && reqs.get(labels::ZONE).is_none_or(|s| s.has(&o.zone))
        && reqs
            .get(labels::CAPACITY_TYPE)
            .is_none_or(|s| s.has(&o.capacity_type))
        && o.zone_id
            .as_deref()
            .is_none_or(|z| reqs.get(aws_labels::ZONE_ID).is_none_or(|s| s.has(z)))
}

/// `used + extra <= alloc` for the resources `extra` requests.
fn fits(used: &Resources, extra: &Resources, alloc: &Resources) -> bool {
    extra.iter().all(|(name, q)| {
        let total = used
            .get(name)
            .copied()
            .unwrap_or_default()
            .saturating_add(*q);
        total <= alloc.get(name).copied().unwrap_or_default()
    })
}

fn describe(r: &Resources) -> String {
    r.iter()
        .map(|(k, q)| format!("{k}={q}"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Catalog<'a> {
    types: &'a [InstanceType],
    reqs: Vec<Requirements>,
    alloc: Vec<Resources>,
}

impl Catalog<'_> {
    fn cheapest(&self, i: usize, reqs: &Requirements) -> Option<&Offering> {
        self.types[i]
            .offerings
            .iter()
            .filter(|o| offering_ok(o, reqs))
            .min_by(|a, b| {
                a.price
                    .total_cmp(&b.price)
                    .then_with(|| a.zone.cmp(&b.zone))
            })
    }

    /// Types among `candidates` that meet `reqs`, have an offering and fit `used + extra`;
    /// on none, why.
    fn filter(
        &self,
        candidates: &[usize],
        reqs: &Requirements,
        used: &Resources,
        extra: &Resources,
    ) -> Result<Vec<usize>, String> {
        let (mut met_reqs, mut met_offering) = (0, 0);
        let mut out = Vec::new();
        for &i in candidates {
            if self.reqs[i].intersects(reqs).is_err() {
                continue;
            }
            met_reqs += 1;
            if self.cheapest(i, reqs).is_none() {
                continue;
            }
            met_offering += 1;
            if fits(used, extra, &self.alloc[i]) {
                out.push(i);
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        let mut total = used.clone();
        add_to(&mut total, extra);
        Err(match (met_reqs, met_offering) {
            (0, _) => "no instance type met the requirements".to_string(),
            (_, 0) => {
                "no instance type meeting the requirements had an available offering".to_string()
            }
            _ => format!(
                "no instance type had enough resources for {}",
                describe(&total)
            ),
        })
    }
}

struct Claim {
    pool: usize,
    reqs: Requirements,
    types: Vec<usize>,
    used: Resources,
    pods: Vec<usize>,
}

/// Decide placements for `input.pods`.
pub fn solve(input: &Input) -> Plan {
    let catalog = Catalog {
        types: &input.instance_types,
        reqs: input
            .instance_types
            .iter()
            .map(|t| Requirements::from_requirements(&t.full_requirements()))
            .collect(),
        alloc: input
            .instance_types
            .iter()
            .map(InstanceType::allocatable)
            .collect(),
    };
    // NodePools by weight, then name (reverse-alphabetical among equal weights, as upstream)
    let mut pool_order: Vec<usize> = (0..input.pools.len()).collect();
    pool_order.sort_by(|&a, &b| {
        let (pa, pb) = (&input.pools[a], &input.pools[b]);
        pb.weight
            .cmp(&pa.weight)
            .then_with(|| pb.name.cmp(&pa.name))
    });
    let all_types: Vec<usize> = (0..input.instance_types.len()).collect();
    let pool_types: Vec<Vec<usize>> = input
        .pools
        .iter()
        .map(|p| {
            all_types
                .iter()
                .copied()
                .filter(|&i| catalog.reqs[i].intersects(&p.requirements).is_ok())
                .collect()
        })
        .collect();
    let mut remaining: Vec<Option<Resources>> =
        input.pools.iter().map(|p| p.limits.clone()).collect();

    // first-fit decreasing: CPU, then memory, descending; input order breaks ties
    let mut order: Vec<usize> = (0..input.pods.len()).collect();
    let req = |p: &PendingPod, r: &str| p.requests.get(r).copied().unwrap_or_default();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (&input.pods[a], &input.pods[b]);
        req(pb, "cpu")
            .cmp(&req(pa, "cpu"))
            .then_with(|| req(pb, "memory").cmp(&req(pa, "memory")))
            .then_with(|| a.cmp(&b))
    });

    let mut available: Vec<Resources> =
        input.existing.iter().map(|n| n.available.clone()).collect();
    let node_reqs: Vec<Requirements> = input.existing.iter().map(node_requirements).collect();
    let mut on_node: Vec<Vec<usize>> = vec![Vec::new(); input.existing.len()];
    let mut claims: Vec<Claim> = Vec::new();
    let mut by_size: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut unschedulable = Vec::new();
    let empty = Resources::new();

    'pods: for &p in &order {
        let pod = &input.pods[p];
        if let Some(why) = &pod.unsupported {
            unschedulable.push(Unschedulable {
                pod: pod.id.clone(),
                reason: why.clone(),
            });
            continue;
        }
        // 1. existing nodes
        for (n, node) in input.existing.iter().enumerate() {
            if untolerated(&node.taints, &pod.tolerations).is_none()
                && node_reqs[n]
                    .compatible(&pod.requirements, is_well_known)
                    .is_ok()
                && fits(&empty, &pod.requests, &available[n])
            {
                for (name, q) in &pod.requests {
                    let e = available[n].entry(name.clone()).or_default();
                    *e = e.saturating_sub(*q);
                }
                on_node[n].push(p);
                continue 'pods;
            }
        }
        // 2. NodeClaims opened in this solve, fewest pods first
        let mut chosen = None;
        for &(_, c) in &by_size {
            let claim = &claims[c];
            let pool = &input.pools[claim.pool];
            if untolerated(&pool.taints, &pod.tolerations).is_some()
                || claim
                    .reqs
                    .compatible(&pod.requirements, is_well_known)
                    .is_err()
            {
                continue;
            }
            let mut merged = claim.reqs.clone();
            merged.add_all(&pod.requirements);
            if let Ok(types) = catalog.filter(&claim.types, &merged, &claim.used, &pod.requests) {
                chosen = Some((c, merged, types));
                break;
            }
        }
        if let Some((c, merged, types)) = chosen {
            let claim = &mut claims[c];
            by_size.remove(&(claim.pods.len(), c));
            claim.reqs = merged;
            claim.types = types;
            add_to(&mut claim.used, &pod.requests);
            claim.pods.push(p);
            by_size.insert((claim.pods.len(), c));
            continue;
        }
        // 3. a new NodeClaim from the first NodePool that can take the pod
        let mut reasons = Vec::new();
        for &pi in &pool_order {
            let pool = &input.pools[pi];
            match new_claim(&catalog, pool, &pool_types[pi], remaining[pi].as_ref(), pod) {
                Ok((reqs, types)) => {
                    if let Some(rem) = remaining[pi].as_mut() {
                        reserve(rem, &catalog, &types);
                    }
                    let c = claims.len();
                    claims.push(Claim {
                        pool: pi,
                        reqs,
                        types,
                        used: pod.requests.clone(),
                        pods: vec![p],
                    });
                    by_size.insert((1, c));
                    continue 'pods;
                }
                Err(why) => reasons.push(format!("nodepool {:?}: {why}", pool.name)),
            }
        }
        if input.pools.is_empty() {
            reasons.push("no ready nodepools found".into());
        }
        unschedulable.push(Unschedulable {
            pod: pod.id.clone(),
            reason: reasons.join("; "),
        });
    }

    let claims = claims.iter().map(|c| finish(&catalog, input, c)).collect();
    let existing = on_node
        .iter()
        .enumerate()
        .filter(|(_, pods)| !pods.is_empty())
        .map(|(n, pods)| NodePlan {
            name: input.existing[n].name.clone(),
            pods: pods.iter().map(|&p| input.pods[p].id.clone()).collect(),
        })
        .collect();
    Plan {
        claims,
        existing,
        unschedulable,
    }
}

fn node_requirements(node: &ExistingNode) -> Requirements {
    let mut r = Requirements::new();
    for (k, v) in &node.labels {
        r.add_set(k, ValueSet::from_op(Op::In, std::slice::from_ref(v)));
    }
    r
}

/// Requirements and candidate types of a new claim from `pool` for `pod`.
fn new_claim(
    catalog: &Catalog<'_>,
    pool: &Pool,
    types: &[usize],
    remaining: Option<&Resources>,
    pod: &PendingPod,
) -> Result<(Requirements, Vec<usize>), String> {
    if let Some(t) = untolerated(&pool.taints, &pod.tolerations) {
        return Err(format!(
            "did not tolerate taint {}={}:{:?}",
            t.key, t.value, t.effect
        ));
    }
    pool.requirements
        .compatible(&pod.requirements, is_well_known)
        .map_err(|e| format!("incompatible requirements, {e}"))?;
    let mut reqs = pool.requirements.clone();
    reqs.add_all(&pod.requirements);
    let within_limits: Vec<usize> = match remaining {
        None => types.to_vec(),
        Some(rem) => {
            if rem
                .get("nodes")
                .is_some_and(|n| *n < Quantity::from_units(1))
            {
                return Err("limits: nodes exhausted".into());
            }
            let ok: Vec<usize> = types
                .iter()
                .copied()
                .filter(|&i| {
                    rem.iter()
                        .filter(|(k, _)| *k != "nodes")
                        .all(|(k, left)| catalog.types[i].capacity.get(k).is_none_or(|c| c <= left))
                })
                .collect();
            if ok.is_empty() {
                return Err(format!(
                    "all instance types exceed the remaining limits ({})",
                    describe(rem)
                ));
            }
            ok
        }
    };
    let excluded = types.len() - within_limits.len();
    let types = catalog
        .filter(&within_limits, &reqs, &Resources::new(), &pod.requests)
        .map_err(|why| match remaining {
            Some(rem) if excluded > 0 => format!(
                "{why} ({excluded} larger instance types exceed the remaining limits {})",
                describe(rem)
            ),
            _ => why,
        })?;
    Ok((reqs, types))
}

/// Subtract the largest capacity among `types` (and one node) from a pool's remaining limits.
fn reserve(rem: &mut Resources, catalog: &Catalog<'_>, types: &[usize]) {
    let names: Vec<String> = rem.keys().cloned().collect();
    for name in names {
        let take = if name == "nodes" {
            Quantity::from_units(1)
        } else {
            types
                .iter()
                .filter_map(|&i| catalog.types[i].capacity.get(&name))
                .copied()
                .max()
                .unwrap_or_default()
        };
        if let Some(left) = rem.get_mut(&name) {
            *left = left.saturating_sub(take);
        }
    }
}

fn finish(catalog: &Catalog<'_>, input: &Input, claim: &Claim) -> ClaimPlan {
    let mut priced: Vec<(f64, &str, usize)> = claim
        .types
        .iter()
        .filter_map(|&i| {
            catalog
                .cheapest(i, &claim.reqs)
                .map(|o| (o.price, catalog.types[i].name.as_str(), i))
        })
        .collect();
    priced.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    priced.truncate(MAX_INSTANCE_TYPES);
    let names: Vec<String> = priced.iter().map(|(_, n, _)| n.to_string()).collect();
    let mut reqs = claim.reqs.clone();
    reqs.add(&Requirement::new(
        labels::INSTANCE_TYPE,
        Op::In,
        names.clone(),
    ));
    let labels = reqs
        .single_values()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ClaimPlan {
        node_pool: input.pools[claim.pool].name.clone(),
        instance_types: names,
        requirements: reqs.to_requirements(),
        labels,
        pods: claim
            .pods
            .iter()
            .map(|&p| input.pods[p].id.clone())
            .collect(),
        price: priced.first().map_or(0.0, |p| p.0),
    }
}
