//! Each NodePool's working state: the instance types its requirements allow, what each type
//! leaves for pods once the DaemonSets that would run on it are counted (reference 2.9), and
//! the limits still left (reference 2.11, pessimistic: every new NodeClaim takes the largest
//! capacity among its candidate types).

use karpenter_model::wellknown::labels;
use karpenter_model::{Effect, Op, Requirement, Requirements};

use crate::dense::{Bitset, ResourceNames, Vector};
use crate::input::{HostPort, Input, Pool};
use crate::taints::tolerates;
use crate::types::Types;
use crate::well_known;

/// One NodePool during a solve.
#[derive(Debug, Clone)]
pub struct PoolState {
    /// Types the pool's requirements intersect (and its type subset allows).
    pub types: Bitset,
    /// Per type: allocatable less the pool's DaemonSet overhead on that type.
    pub eff: Vec<Vector>,
    /// Per type: DaemonSet overhead (for the NodeClaim's requests).
    pub daemon: Vec<Vector>,
    /// Per type: DaemonSet host ports (empty when no DaemonSet has any).
    pub daemon_ports: Vec<Vec<HostPort>>,
    /// Remaining limits per resource slot (`i64::MAX` when unlimited).
    pub remaining: Option<Vector>,
    /// Remaining `nodes` limit.
    pub nodes_left: Option<i64>,
    /// Does the pool carry a PreferNoSchedule taint?
    pub prefer_taint: bool,
}

/// Alternatives of a pod spec's node requirements: the selector with each required term.
pub fn alternatives(selector: &Requirements, terms: &[Requirements]) -> Vec<Requirements> {
    if terms.is_empty() {
        return vec![selector.clone()];
    }
    terms
        .iter()
        .map(|t| {
            let mut r = selector.clone();
            r.add_all(t);
            r
        })
        .collect()
}

/// Build every pool's state.
pub fn build(input: &Input, names: &ResourceNames, types: &mut Types<'_>) -> Vec<PoolState> {
    let n = types.len();
    let dims = names.len();
    input
        .pools
        .iter()
        .map(|pool| {
            let mut allowed = types.compatible(&pool.requirements);
            if let Some(subset) = &pool.instance_types {
                let mut only = Bitset::new(n);
                subset.iter().for_each(|&i| only.insert(i));
                allowed.and(&only);
            }
            let mut daemon = vec![vec![0; dims]; n];
            let mut daemon_ports = vec![Vec::new(); n];
            // a node of the pool will carry these once it has joined, and DaemonSets
            // selecting them will run there (upstream adds them for this check only)
            let mut joined = pool.requirements.clone();
            for key in [labels::REGISTERED, labels::INITIALIZED] {
                joined.add(&Requirement::new(key, Op::In, ["true"]));
            }
            for ds in &input.daemonsets {
                if !tolerates(&pool.taints, &ds.tolerations, true) {
                    continue;
                }
                let mut on = Bitset::new(n);
                for alt in alternatives(&ds.node_selector, &ds.required_terms) {
                    if !joined.compatible_ok(&alt, well_known) {
                        continue;
                    }
                    let mut merged = pool.requirements.clone();
                    merged.add_all(&alt);
                    for i in types.compatible(&merged).iter() {
                        on.insert(i);
                    }
                }
                let need = names.vector(&ds.requests);
                for i in on.iter() {
                    crate::dense::add(&mut daemon[i], &need);
                    daemon_ports[i].extend(ds.host_ports.iter().cloned());
                }
            }
            let eff: Vec<Vector> = (0..n)
                .map(|i| {
                    let mut v = types.base.alloc[i].clone();
                    crate::dense::sub(&mut v, &daemon[i]);
                    v
                })
                .collect();
            // a type is eligible only if the overhead fits its allocatable in every
            // resource, also in those a pod does not request (upstream fits the pod's
            // requests plus the overhead as one list)
            for i in allowed.clone().iter() {
                if eff[i].iter().any(|q| *q < 0) {
                    allowed.remove(i);
                }
            }
            let mut state = PoolState {
                types: allowed,
                eff,
                daemon,
                daemon_ports,
                remaining: None,
                nodes_left: None,
                prefer_taint: pool
                    .taints
                    .iter()
                    .any(|t| t.effect == Effect::PreferNoSchedule),
            };
            state.set_limits(pool, names);
            state
        })
        .collect()
}

impl PoolState {
    /// Take the pool's remaining limits from `pool` (reference 2.11).
    pub fn set_limits(&mut self, pool: &Pool, names: &ResourceNames) {
        let limits = pool.limits.as_ref();
        self.remaining = limits.map(|l| {
            let mut v = vec![i64::MAX; names.len()];
            for (name, q) in l {
                if let Some(slot) = names.slot(name) {
                    v[slot] = i64::try_from(q.millis()).unwrap_or(i64::MAX);
                }
            }
            v
        });
        self.nodes_left = limits
            .and_then(|l| l.get("nodes"))
            .map(|q| i64::try_from(q.millis() / 1000).unwrap_or(i64::MAX));
    }

    /// Types within the remaining limits.
    pub fn within_limits(&self, candidates: &Bitset, types: &Types<'_>) -> Bitset {
        let Some(rem) = &self.remaining else {
            return candidates.clone();
        };
        let mut out = candidates.clone();
        for i in candidates.iter() {
            if types.base.capacity[i].iter().zip(rem).any(|(c, r)| c > r) {
                out.remove(i);
            }
        }
        out
    }

    /// Take the largest capacity among `candidates` (and one node) from the limits.
    pub fn reserve(&mut self, candidates: &Bitset, types: &Types<'_>) {
        if let Some(rem) = &mut self.remaining {
            for (d, r) in rem.iter_mut().enumerate() {
                if *r == i64::MAX {
                    continue;
                }
                let take = candidates
                    .iter()
                    .map(|i| types.base.capacity[i][d])
                    .max()
                    .unwrap_or(0);
                *r = r.saturating_sub(take);
            }
        }
        if let Some(n) = &mut self.nodes_left {
            *n -= 1;
        }
    }
}
