//! Disruption budgets (upstream §4.4): per NodePool and reason, the most restrictive active
//! budget (a count, or a percentage of the pool's initialized nodes rounded up) less the
//! nodes already disrupting; a schedule that does not parse allows nothing.

use std::collections::BTreeMap;

use crate::types::{Allowance, BudgetState, DisruptionInput, Reason};

/// Budgets being spent by one decision.
#[derive(Debug, Clone)]
pub struct Budgets {
    allowed: BTreeMap<(String, Reason), i64>,
    disrupting: BTreeMap<String, i64>,
}

const REASONS: [Reason; 3] = [Reason::Empty, Reason::Drifted, Reason::Underutilized];

impl Budgets {
    /// The budgets of every pool at `input.now`.
    pub fn new(input: &DisruptionInput) -> Self {
        let mut allowed = BTreeMap::new();
        let mut disrupting = BTreeMap::new();
        for pool in &input.pools {
            let nodes: Vec<_> = input
                .nodes
                .iter()
                .filter(|n| n.node_pool == pool.name)
                .collect();
            let total = nodes.iter().filter(|n| n.initialized).count() as i64;
            let busy = nodes.iter().filter(|n| n.disrupting || !n.ready).count() as i64;
            disrupting.insert(pool.name.clone(), busy);
            for reason in REASONS {
                let mut limit = i64::MAX;
                for b in &pool.budgets {
                    if !b.reasons.is_empty() && !b.reasons.contains(&reason) {
                        continue;
                    }
                    let active = match &b.window {
                        None => true,
                        Some((Ok(cron), duration)) => cron.active(input.now, *duration),
                        Some((Err(_), _)) => {
                            limit = 0;
                            continue;
                        }
                    };
                    if !active {
                        continue;
                    }
                    let n = match b.nodes {
                        Allowance::Count(c) => c,
                        Allowance::Percent(p) => (p * total + 99) / 100,
                    };
                    limit = limit.min(n);
                }
                // no budget for the reason: every node of the pool may go
                allowed.insert((pool.name.clone(), reason), limit.min(nodes.len() as i64));
            }
        }
        Budgets {
            allowed,
            disrupting,
        }
    }

    /// Nodes of `pool` that may still be disrupted for `reason`.
    pub fn left(&self, pool: &str, reason: Reason) -> i64 {
        if reason == Reason::Expired {
            return i64::MAX;
        }
        let allowed = self
            .allowed
            .get(&(pool.to_string(), reason))
            .copied()
            .unwrap_or(0);
        let busy = self.disrupting.get(pool).copied().unwrap_or(0);
        allowed.saturating_sub(busy).max(0)
    }

    /// Spend one node of `pool`'s budget.
    pub fn spend(&mut self, pool: &str) {
        *self.disrupting.entry(pool.to_string()).or_default() += 1;
    }

    /// Give back one node of `pool`'s budget.
    pub fn unspend(&mut self, pool: &str) {
        if let Some(n) = self.disrupting.get_mut(pool) {
            *n -= 1;
        }
    }

    /// The state for the report.
    pub fn states(&self) -> Vec<BudgetState> {
        self.allowed
            .iter()
            .map(|((pool, reason), allowed)| BudgetState {
                node_pool: pool.clone(),
                reason: *reason,
                allowed: *allowed,
                disrupting: self.disrupting.get(pool).copied().unwrap_or(0),
            })
            .collect()
    }
}
