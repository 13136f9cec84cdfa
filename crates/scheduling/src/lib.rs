//! The scheduling engine: decides which pending pods go onto existing capacity and which new
//! NodeClaims (with which instance-type options) to create, and why the rest cannot be
//! placed. Upstream's semantics (requirements, taints, topology spread, pod affinity and
//! anti-affinity, preferences and their relaxation, DaemonSet overhead, host ports, volume
//! topology and attach limits, NodePool weights and limits, minValues), without its solve
//! timeout. Pure and deterministic: no I/O, no clock, no randomness, no threads; ordered
//! maps wherever order reaches the result.
#![deny(missing_docs)]

mod bound;
mod dense;
mod explain;
mod finish;
mod input;
mod nodes;
mod plan;
mod pods;
mod pools;
mod prepared;
mod solve;
mod taints;
mod topology;
mod types;
mod variants;

pub use bound::min_cover_cost;
pub use finish::MAX_INSTANCE_TYPES;
pub use input::{
    AffinityTerm, BoundPod, DaemonSet, ExistingNode, HostPort, Input, MinValuesPolicy, Options,
    PendingPod, Pool, PreferencePolicy, Spread, VolumeAttachment, Weighted,
};
pub use nodes::{daemonset_overhead, node_requirements};
pub use plan::{ClaimPlan, NodePlan, Plan, Unschedulable};
pub use prepared::Prepared;
pub use solve::solve;
pub use variants::per_pool_catalog;

use karpenter_model::wellknown::{aws_labels, labels};

/// Labels a NodePool need not define for a pod to require them (upstream's
/// `AllowUndefinedWellKnownLabels`).
pub(crate) fn well_known(key: &str) -> bool {
    labels::CORE_WELL_KNOWN.contains(&key) || aws_labels::WELL_KNOWN.contains(&key)
}
