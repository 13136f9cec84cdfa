//! Provisioning (upstream §2.3): the pods kube-scheduler could not place, plus pods of
//! nodes being removed, are solved against existing nodes, in-flight NodeClaims and the
//! NodePools; every planned NodeClaim is created (and launched by the lifecycle loop).

use std::collections::BTreeSet;

use karpenter_model::time::Time;
use karpenter_model::{InstanceType, Requirements};
use karpenter_scheduling::{ClaimPlan, Plan, Prepared};

use crate::events::Recorder;
use crate::input::{Setup, build};
use crate::state::{ClaimState, ClusterState, PodState};

/// Deterministic NodeClaim names: `<nodepool>-<5 base-36 characters>`, as upstream's
/// generated names look.
#[derive(Debug, Clone, Default)]
pub struct Namer {
    next: u64,
}

impl Namer {
    /// A namer whose sequence starts at `n` (a controller seeds it from the clock, so a
    /// restarted controller does not repeat the names it gave before).
    pub fn starting_at(n: u64) -> Self {
        Namer { next: n }
    }

    /// The next name for a claim of `pool` that `taken` does not refuse.
    pub fn unused(&mut self, pool: &str, taken: impl Fn(&str) -> bool) -> String {
        loop {
            let name = self.name(pool);
            if !taken(&name) {
                return name;
            }
        }
    }

    /// The next name for a claim of `pool`.
    pub fn name(&mut self, pool: &str) -> String {
        const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        // a multiplicative hash spreads consecutive numbers, so names do not look sequential
        let mut n = self.next.wrapping_mul(0x9E37_79B9) % 36u64.pow(5);
        self.next += 1;
        let mut s = [b'0'; 5];
        for c in s.iter_mut().rev() {
            *c = DIGITS[(n % 36) as usize];
            n /= 36;
        }
        format!("{pool}-{}", String::from_utf8_lossy(&s))
    }
}

/// Pods Karpenter should provision for, oldest first: unbound and marked unschedulable, and
/// with `untried` also those kube-scheduler has not tried yet ([`PodState::untried`]). The
/// solve places a pod on capacity already there before it plans a NodeClaim, so an untried
/// pod that fits an existing node makes nothing launch. A pod nominated to a node waits
/// for a preemption there and is left out, marked or not (upstream's `IsPreempting`).
pub fn provisionable(state: &ClusterState, untried: bool) -> Vec<&PodState> {
    let mut pods: Vec<&PodState> = state
        .pods()
        .values()
        .filter(|p| {
            p.node.is_none() && p.nominated.is_none() && (p.unschedulable || (untried && p.untried))
        })
        .collect();
    pods.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    pods
}

/// One provisioning round: solve and create the planned NodeClaims. Returns the plan.
/// `cache` keeps the solve's static half between rounds; `untried` as in [`provisionable`].
#[allow(clippy::too_many_arguments)]
pub fn provision(
    setup: &Setup,
    state: &mut ClusterState,
    types: std::sync::Arc<Vec<InstanceType>>,
    now: Time,
    namer: &mut Namer,
    recorder: &mut Recorder,
    cache: &mut Option<Prepared>,
    untried: bool,
) -> Plan {
    let pods = provisionable(state, untried);
    let input = build(setup, state, types, &pods, &BTreeSet::new(), true);
    let mut prepared = Prepared::refresh(cache.take(), &input, std::iter::empty());
    let plan = prepared.solve(&input);
    *cache = Some(prepared);
    for c in &plan.claims {
        let name = namer.unused(&c.node_pool, |n| state.claims().contains_key(n));
        recorder.count(
            "karpenter_nodeclaims_created_total",
            &[
                ("nodepool", &c.node_pool),
                ("reason", "provisioning"),
                (
                    "min_values_relaxed",
                    if c.min_values_relaxed {
                        "true"
                    } else {
                        "false"
                    },
                ),
            ],
            1.0,
        );
        recorder.event(
            now,
            "Nominated",
            format!("NodeClaim/{name}"),
            format!(
                "{} pod(s), cheapest {} ${:.4}/h of {} type(s)",
                c.pods.len(),
                c.instance_types.first().map_or("-", String::as_str),
                c.price,
                c.instance_types.len()
            ),
        );
        state.put_claim(new_claim(setup, c, name, now));
    }
    plan
}

/// A new NodeClaim `name` for a plan's claim `c`: the pool's taints and startup taints,
/// nothing launched yet.
pub fn new_claim(setup: &Setup, c: &ClaimPlan, name: String, now: Time) -> ClaimState {
    ClaimState {
        name,
        node_pool: c.node_pool.clone(),
        requirements: Requirements::from_requirements(&c.requirements),
        instance_types: c.instance_types.clone(),
        labels: c.labels.clone(),
        taints: setup
            .pools
            .iter()
            .find(|p| p.name == c.node_pool)
            .map(|p| p.taints.clone())
            .unwrap_or_default(),
        startup_taints: setup
            .startup_taints
            .get(&c.node_pool)
            .cloned()
            .unwrap_or_default(),
        created: now,
        launched: None,
        registered_at: None,
        initialized_at: None,
        node: None,
        deleting_since: None,
        disruption: None,
        last_pod_event: now,
        termination_grace_period: setup
            .disruption
            .iter()
            .find(|p| p.name == c.node_pool)
            .and_then(|p| p.termination_grace_period),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_shaped_like_upstream() {
        let mut n = Namer::default();
        let names: BTreeSet<String> = (0..10_000).map(|_| n.name("default")).collect();
        assert_eq!(names.len(), 10_000);
        assert!(names.iter().all(|s| s.len() == "default-".len() + 5));
    }
}
