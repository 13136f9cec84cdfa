//! `consolidationPolicy: Balanced` (upstream §4.3): a consolidation move is approved only
//! when its share of the pools' cost saved is at least half its share of the pools'
//! disruption, `(savings / poolCost) / (disruption / poolDisruption) >= 1/K` with K = 2,
//! where disruption is upstream's `RescheduleDisruptionCost`
//! (`1 + sum of max(0, eviction cost)` over a node's reschedulable pods).

use std::collections::BTreeSet;

use crate::decide::eviction_cost;
use crate::types::{DisruptionInput, NodeInfo};

/// Upstream's K: a move must save at least 1/K of its relative disruption.
pub const K: f64 = 2.0;

/// A node's `RescheduleDisruptionCost`.
pub fn reschedule_cost(node: &NodeInfo) -> f64 {
    1.0 + node
        .pods
        .iter()
        .filter(|p| p.reschedulable)
        .map(|p| eviction_cost(p.deletion_cost, p.priority).max(0.0))
        .sum::<f64>()
}

/// The move's score over the pools of its candidates: savings share over disruption share.
pub fn score(input: &DisruptionInput, candidates: &[&NodeInfo], savings: f64) -> f64 {
    let pools: BTreeSet<&str> = candidates.iter().map(|n| n.node_pool.as_str()).collect();
    let in_pools = || {
        input
            .nodes
            .iter()
            .filter(|n| pools.contains(n.node_pool.as_str()))
    };
    let pool_cost: f64 = in_pools().map(|n| n.price).sum();
    let pool_disruption: f64 = in_pools().map(reschedule_cost).sum();
    let disruption: f64 = candidates.iter().map(|n| reschedule_cost(n)).sum();
    if pool_cost <= 0.0 || disruption <= 0.0 || pool_disruption <= 0.0 {
        return 0.0;
    }
    (savings / pool_cost) / (disruption / pool_disruption)
}

/// Why the move is rejected under Balanced, if it is.
pub fn rejected(input: &DisruptionInput, candidates: &[&NodeInfo], savings: f64) -> Option<String> {
    let s = score(input, candidates, savings);
    (s < 1.0 / K).then(|| {
        format!(
            "consolidationPolicy Balanced: the move saves too little for its disruption (score {s:.2} < {:.2})",
            1.0 / K
        )
    })
}
