//! The cluster port: every change a controller makes, as a write. In the simulator the
//! cluster state is the truth and applies each change at once; against a real API server
//! the kube adapter turns on [`ClusterState::record_writes`], lets the loops change its
//! cached copy (so a pass sees its own changes), then sends the journal's writes to the API
//! server, and the cache catches up from the watches: a write that failed or lost a
//! conflict is simply not there on the next pass, which decides again from what it sees.

use crate::state::{ClaimState, NodeState};

/// One change a controller asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create a NodeClaim.
    CreateClaim(Box<ClaimState>),
    /// Change a NodeClaim's status, labels or deletion (the adapter patches what differs).
    UpdateClaim {
        /// As it was read.
        before: Box<ClaimState>,
        /// As the controller left it.
        after: Box<ClaimState>,
    },
    /// The NodeClaim is finished with: delete it if it is not being deleted, and release
    /// its finalizer.
    RemoveClaim(Box<ClaimState>),
    /// Change a Node's labels or taints.
    UpdateNode {
        /// As it was read.
        before: Box<NodeState>,
        /// As the controller left it.
        after: Box<NodeState>,
    },
    /// The Node's instance is gone: delete the Node and release its finalizer.
    RemoveNode(Box<NodeState>),
    /// Evict a pod through the Eviction API (a PodDisruptionBudget may refuse).
    Evict {
        /// `namespace/name`.
        pod: String,
    },
    /// Delete a pod outright (a drain's deadline passed).
    DeletePod {
        /// `namespace/name`.
        pod: String,
    },
}

impl Write {
    /// The Node or NodeClaim the write is about, without allocating: `(is_node, name)`;
    /// `None` for a pod.
    pub fn object(&self) -> Option<(bool, &str)> {
        match self {
            Write::CreateClaim(c) | Write::RemoveClaim(c) => Some((false, &c.name)),
            Write::UpdateClaim { after, .. } => Some((false, &after.name)),
            Write::UpdateNode { after, .. } => Some((true, &after.name)),
            Write::RemoveNode(n) => Some((true, &n.name)),
            Write::Evict { .. } | Write::DeletePod { .. } => None,
        }
    }

    /// The object the write is about, as `Kind/name` (`Pod/namespace/name` for pods).
    pub fn subject(&self) -> String {
        match self {
            Write::CreateClaim(c) | Write::RemoveClaim(c) => format!("NodeClaim/{}", c.name),
            Write::UpdateClaim { after, .. } => format!("NodeClaim/{}", after.name),
            Write::UpdateNode { after, .. } => format!("Node/{}", after.name),
            Write::RemoveNode(n) => format!("Node/{}", n.name),
            Write::Evict { pod } | Write::DeletePod { pod } => format!("Pod/{pod}"),
        }
    }
}
