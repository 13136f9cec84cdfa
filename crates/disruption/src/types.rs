//! What a disruption decision reads (nodes with their pods, NodePool disruption settings,
//! the scheduling input of the cluster) and what it returns (commands with reasons, the
//! candidates left alone and why, budget state).

use karpenter_model::time::Time;
use karpenter_scheduling::{ClaimPlan, Input, PendingPod};

use crate::cron::Cron;

/// Why a node is disrupted (budgets' reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Empty node.
    Empty,
    /// Drifted node.
    Drifted,
    /// Underutilized node (consolidation).
    Underutilized,
    /// Expired node (forceful; budgets do not apply).
    Expired,
}

impl Reason {
    /// Upstream's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Empty => "Empty",
            Reason::Drifted => "Drifted",
            Reason::Underutilized => "Underutilized",
            Reason::Expired => "Expired",
        }
    }
}

/// The method that produced a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// Expiration (forceful).
    Expiration,
    /// Emptiness.
    Emptiness,
    /// Drift.
    Drift,
    /// Multi-node consolidation.
    MultiNode,
    /// Single-node consolidation.
    SingleNode,
}

impl Method {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Expiration => "expiration",
            Method::Emptiness => "emptiness",
            Method::Drift => "drift",
            Method::MultiNode => "multi-node-consolidation",
            Method::SingleNode => "single-node-consolidation",
        }
    }
}

/// A budget's node allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// A number of nodes.
    Count(i64),
    /// A percentage of the pool's nodes, rounded up.
    Percent(i64),
}

/// A disruption budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Nodes.
    pub nodes: Allowance,
    /// Reasons it limits; empty: all.
    pub reasons: Vec<Reason>,
    /// Schedule and window length; `None`: always active. A schedule that did not parse
    /// is `Some(Err)` and fails closed (allows nothing).
    pub window: Option<(Result<Cron, String>, Time)>,
}

/// `consolidationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Only empty nodes.
    WhenEmpty,
    /// Empty and underutilized nodes.
    WhenEmptyOrUnderutilized,
    /// Empty nodes, and underutilized ones when the move saves enough for its disruption
    /// ([`crate::balanced`]).
    Balanced,
}

/// A NodePool's disruption settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolPolicy {
    /// Name.
    pub name: String,
    /// Consolidation policy.
    pub policy: Policy,
    /// `consolidateAfter`; `None` is `Never`.
    pub consolidate_after: Option<Time>,
    /// Budgets.
    pub budgets: Vec<Budget>,
    /// `expireAfter`; `None` is `Never`.
    pub expire_after: Option<Time>,
    /// `terminationGracePeriod`: the hard deadline of a drain; with one, drift is eventual
    /// (pod-level blockers do not stop it, the deadline ends them).
    pub termination_grace_period: Option<Time>,
    /// A static NodePool (`spec.replicas`): it keeps its node count, so its nodes are never
    /// emptiness or consolidation candidates (drift and expiration still replace them).
    pub is_static: bool,
}

/// A pod on a node, as disruption sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    /// `namespace/name`.
    pub id: String,
    /// Engine view (requests, constraints) to place it elsewhere.
    pub spec: PendingPod,
    /// `controller.kubernetes.io/pod-deletion-cost`.
    pub deletion_cost: i32,
    /// Priority.
    pub priority: i32,
    /// Why it cannot be evicted now (do-not-disrupt, PDB), if it cannot.
    pub blocker: Option<String>,
    /// Would be re-created elsewhere (not a DaemonSet, static or terminal pod).
    pub reschedulable: bool,
}

/// A node managed by a NodeClaim.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// NodeClaim name.
    pub claim: String,
    /// NodePool.
    pub node_pool: String,
    /// Instance type, zone, capacity type of the node.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: String,
    /// Price of its offering, USD per hour.
    pub price: f64,
    /// Initialized.
    pub initialized: bool,
    /// Ready.
    pub ready: bool,
    /// NodeClaim creation time.
    pub created: Time,
    /// Start of the quiet period (last pod event, or initialization).
    pub quiet_since: Time,
    /// Already being disrupted or deleted.
    pub disrupting: bool,
    /// Node-level `karpenter.sh/do-not-disrupt`.
    pub do_not_disrupt: bool,
    /// Pods bound to a nominated-for node are not disrupted.
    pub nominated: bool,
    /// Drift reason, if drifted.
    pub drifted: Option<String>,
    /// Index in the scheduling input's `existing`.
    pub index: usize,
    /// Its pods.
    pub pods: Vec<PodInfo>,
}

/// Everything one decision reads.
#[derive(Debug, Clone)]
pub struct DisruptionInput {
    /// Now.
    pub now: Time,
    /// The cluster as the scheduling engine sees it: existing nodes (every node and
    /// in-flight claim) with bound pods, pending pods, NodePools, the catalog.
    pub scheduling: Input,
    /// Managed nodes.
    pub nodes: Vec<NodeInfo>,
    /// NodePool settings.
    pub pools: Vec<PoolPolicy>,
    /// `SpotToSpotConsolidation` feature gate.
    pub spot_to_spot: bool,
    /// Single-node simulations per decision at most (a deterministic stand-in for
    /// upstream's 3-minute timeout).
    pub max_simulations: usize,
}

/// One disruption command.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Method.
    pub method: Method,
    /// Reason.
    pub reason: Reason,
    /// Nodes removed.
    pub candidates: Vec<String>,
    /// NodeClaims to launch first.
    pub replacements: Vec<ClaimPlan>,
    /// Candidates' prices minus replacements' prices, USD per hour.
    pub savings_per_hour: f64,
    /// Why, in words.
    pub message: String,
}

/// A node a method considered and left alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    /// Node.
    pub node: String,
    /// What stopped it.
    pub reason: String,
}

/// A budget's state for one pool and reason.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetState {
    /// NodePool.
    pub node_pool: String,
    /// Reason.
    pub reason: Reason,
    /// Nodes the budgets allow disrupting at once.
    pub allowed: i64,
    /// Nodes disrupting, including this decision's commands.
    pub disrupting: i64,
}

/// The decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Commands, in the order to run them.
    pub commands: Vec<Command>,
    /// Nodes left alone and why.
    pub blocked: Vec<Blocked>,
    /// Budgets.
    pub budgets: Vec<BudgetState>,
}
