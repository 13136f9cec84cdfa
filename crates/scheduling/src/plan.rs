//! The result of a solve: NodeClaims to create, pods placed onto existing capacity, pods left
//! pending with the reason, and the cost with its lower bound.

use std::collections::BTreeMap;

use karpenter_model::{Requirement, Resources};

/// A NodeClaim to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimPlan {
    /// The NodePool.
    pub node_pool: String,
    /// Candidate instance types, cheapest first (at most 600).
    pub instance_types: Vec<String>,
    /// Final requirements, including the instance-type list.
    pub requirements: Vec<Requirement>,
    /// Every requirement that resolved to one value.
    pub labels: BTreeMap<String, String>,
    /// The pods (`namespace/name`).
    pub pods: Vec<String>,
    /// Price of the cheapest compatible available offering, USD/hour.
    pub price: f64,
    /// Zone of that offering.
    pub zone: String,
    /// Capacity type of that offering.
    pub capacity_type: String,
    /// Pod requests plus the smallest DaemonSet overhead among the candidate types.
    pub requests: Resources,
    /// minValues were lowered to what the types allow (BestEffort policy).
    pub min_values_relaxed: bool,
}

/// Pods placed onto an existing node or in-flight NodeClaim.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePlan {
    /// Node name (the NodeClaim's name while it has no Node).
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
    /// New NodeClaims, in creation order.
    pub claims: Vec<ClaimPlan>,
    /// Existing nodes that take pods, in node order.
    pub existing: Vec<NodePlan>,
    /// Pods left pending, in input order.
    pub unschedulable: Vec<Unschedulable>,
    /// Lower bound on the cost per hour of capacity for the pods placed on new NodeClaims:
    /// the LP relaxation over the available offerings, resources only.
    pub lower_bound: f64,
}

impl Plan {
    /// Cost per hour of the new NodeClaims.
    pub fn cost_per_hour(&self) -> f64 {
        // `+ 0.0` turns the empty sum's -0.0 into 0.0
        self.claims.iter().map(|c| c.price).sum::<f64>() + 0.0
    }
}
