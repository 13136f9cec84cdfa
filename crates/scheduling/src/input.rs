//! What the engine decides over: pending pods, NodePools with their instance types, and
//! existing nodes, all in model terms.

use std::collections::BTreeMap;

use karpenter_model::{InstanceType, Requirements, Resources, Taint, Toleration};

/// A pod waiting for capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingPod {
    /// `namespace/name`.
    pub id: String,
    /// Effective requests (including `pods: 1`).
    pub requests: Resources,
    /// Node selector and the first required node-affinity term, intersected.
    pub requirements: Requirements,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Set when the pod uses a constraint the engine does not implement yet.
    pub unsupported: Option<String>,
}

/// A NodePool as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// Name.
    pub name: String,
    /// Weight (0 when unset); higher is tried first.
    pub weight: i32,
    /// Template requirements, labels and `karpenter.sh/nodepool`.
    pub requirements: Requirements,
    /// Taints pods must tolerate.
    pub taints: Vec<Taint>,
    /// Remaining capacity the pool may add (`limits` less existing nodes), if limited.
    pub limits: Option<Resources>,
}

/// A node (or in-flight NodeClaim) that can take pods now.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingNode {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Allocatable less what bound pods request.
    pub available: Resources,
}

/// Everything one solve needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    /// Pending pods.
    pub pods: Vec<PendingPod>,
    /// NodePools that are ready.
    pub pools: Vec<Pool>,
    /// The instance-type catalog.
    pub instance_types: Vec<InstanceType>,
    /// Existing nodes, initialized first.
    pub existing: Vec<ExistingNode>,
}
