//! The scheduling engine: decides which pending pods go onto existing capacity and which new
//! NodeClaims (with which instance-type options) to create, and why the rest cannot be
//! placed. Pure and deterministic: no I/O, no clock, no randomness, no timeouts; ordered
//! maps only.
//!
//! Status: requirements, taints and tolerations, resources, existing nodes, NodePool weights
//! and limits. Pods with topology spread or pod (anti-)affinity are reported as not yet
//! supported rather than placed wrongly.
#![deny(missing_docs)]

mod input;
mod solve;

pub use input::{ExistingNode, Input, PendingPod, Pool};
pub use solve::{ClaimPlan, NodePlan, Plan, Unschedulable, solve};
