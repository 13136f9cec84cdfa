//! Disruption decisions (upstream §4): which nodes to take away now, how, and why the rest
//! stay. Methods in upstream's order (expiration, emptiness, drift, multi-node and
//! single-node consolidation), budgets, blockers (do-not-disrupt, PDBs), disruption cost,
//! replacement price rules. Beyond upstream, one decision returns several independent
//! commands where budgets allow: each later command is simulated on the cluster as the
//! earlier ones leave it. Pure and deterministic: no I/O, no clock, no timeouts.
#![deny(missing_docs)]

pub mod balanced;
pub mod budgets;
pub mod cron;
mod decide;
pub mod pdb;
pub mod pricing;
pub mod simulate;
pub mod types;

pub use decide::{MAX_SIMULATIONS, decide, decide_cached, disruption_cost};
pub use types::{
    Allowance, Blocked, Budget, BudgetState, Command, Decision, DisruptionInput, Method, NodeInfo,
    PodInfo, Policy, PoolPolicy, Reason,
};
