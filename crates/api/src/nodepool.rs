//! `karpenter.sh/v1` NodePool: the template and policies for the nodes Karpenter launches.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{
    Condition, NodeClassReference, NodeSelectorRequirementWithMinValues, ResourceList, Taint,
};
use crate::{cel, patterns};

/// Desired state of a NodePool.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "karpenter.sh",
    version = "v1",
    kind = "NodePool",
    plural = "nodepools",
    singular = "nodepool",
    status = "NodePoolStatus",
    category = "karpenter",
    derive = "PartialEq",
    doc = "NodePool is the Schema for the NodePools API",
    printcolumn = r#"{"name":"NodeClass","type":"string","jsonPath":".spec.template.spec.nodeClassRef.name"}"#,
    printcolumn = r#"{"name":"Nodes","type":"string","jsonPath":".status.nodes"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Weight","type":"integer","jsonPath":".spec.weight","priority":1}"#,
    printcolumn = r#"{"name":"CPU","type":"string","jsonPath":".status.resources.cpu","priority":1}"#,
    printcolumn = r#"{"name":"Memory","type":"string","jsonPath":".status.resources.memory","priority":1}"#,
    scale = r#"{"specReplicasPath":".spec.replicas","statusReplicasPath":".status.nodes"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = cel::rules(cel::NODEPOOL_SPEC)))]
pub struct NodePoolSpec {
    /// Template for the NodeClaims this NodePool creates.
    pub template: NodeClaimTemplate,
    /// How and how fast Karpenter may disrupt this pool's nodes.
    #[serde(default)]
    #[schemars(extend("default" = {"consolidateAfter": "0s"}))]
    pub disruption: Disruption,
    /// Caps on the summed capacity of the pool's nodes (`cpu`, `memory`, `nodes`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceList>,
    /// Priority among NodePools: higher is tried first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub weight: Option<i32>,
    /// Static NodePool (alpha, StaticCapacity gate): keep exactly this many nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i64>,
}

/// A NodeClaim template: labels, annotations and the NodeClaim spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimTemplate {
    /// Labels and annotations stamped onto every NodeClaim and Node.
    #[serde(default, skip_serializing_if = "TemplateMetadata::is_empty")]
    pub metadata: TemplateMetadata,
    /// The NodeClaim spec.
    pub spec: NodeClaimTemplateSpec,
}

/// Metadata of a NodeClaim template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    /// Labels; they also act as `In` requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::crds::label_values_schema)]
    #[schemars(extend("maxProperties" = 100, "x-kubernetes-validations" = cel::rules(cel::NODEPOOL_LABELS), "x-kubernetes-map-type" = "atomic"))]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-map-type" = "granular"))]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl TemplateMetadata {
    /// True when neither labels nor annotations are set.
    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.annotations.is_none()
    }
}

/// The spec part of a NodeClaim template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimTemplateSpec {
    /// Taints pods must tolerate to schedule onto these nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub taints: Option<Vec<Taint>>,
    /// Taints present at startup that pods need not tolerate; something else removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub startup_taints: Option<Vec<Taint>>,
    /// Constraints on node labels.
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::REQUIREMENTS), "x-kubernetes-list-type" = "atomic"))]
    pub requirements: Vec<NodeSelectorRequirementWithMinValues>,
    /// The NodeClass to launch from.
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::NODE_CLASS_REF_IMMUTABLE)))]
    pub node_class_ref: NodeClassReference,
    /// Upper bound on drain time once deletion starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::DURATION))]
    pub termination_grace_period: Option<String>,
    /// Maximum node lifetime, or `Never`.
    #[serde(default = "default_expire_after")]
    #[schemars(pattern(patterns::NILLABLE_DURATION))]
    pub expire_after: String,
}

fn default_expire_after() -> String {
    "720h".to_string()
}

/// Which nodes consolidation may act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConsolidationPolicy {
    /// Only empty nodes.
    WhenEmpty,
    /// Empty and underutilized nodes.
    #[default]
    WhenEmptyOrUnderutilized,
    /// Underutilized nodes only when the savings outweigh the disruption (upstream, v1.14).
    Balanced,
}

/// Disruption settings of a NodePool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Disruption {
    /// Quiet period after the last pod change before a node may be consolidated, or `Never`.
    /// Required when `disruption` is given (as upstream); the NodePool-level default is `0s`.
    #[schemars(pattern(patterns::NILLABLE_DURATION))]
    pub consolidate_after: String,
    /// Which nodes consolidation may act on.
    #[serde(default)]
    pub consolidation_policy: ConsolidationPolicy,
    /// Rate limits for voluntary disruption.
    #[serde(default = "default_budgets")]
    #[schemars(length(max = 50))]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::BUDGETS), "x-kubernetes-list-type" = "atomic"))]
    pub budgets: Vec<Budget>,
}

impl Default for Disruption {
    fn default() -> Self {
        Disruption {
            consolidate_after: default_consolidate_after(),
            consolidation_policy: ConsolidationPolicy::default(),
            budgets: default_budgets(),
        }
    }
}

fn default_consolidate_after() -> String {
    "0s".to_string()
}

fn default_budgets() -> Vec<Budget> {
    vec![Budget {
        reasons: None,
        nodes: default_budget_nodes(),
        schedule: None,
        duration: None,
    }]
}

fn default_budget_nodes() -> String {
    "10%".to_string()
}

/// Why a node is disrupted, as budgets name it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum DisruptionReason {
    /// Consolidation of an underutilized node.
    Underutilized,
    /// Removal of an empty node.
    Empty,
    /// Replacement of a drifted node.
    Drifted,
}

/// A disruption budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// The reasons this budget limits; all when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50), extend("x-kubernetes-list-type" = "set"))]
    pub reasons: Option<Vec<DisruptionReason>>,
    /// How many nodes may be disrupting at once: a count or a percentage (rounded up).
    #[serde(default = "default_budget_nodes")]
    #[schemars(required, pattern(patterns::BUDGET_NODES))]
    pub nodes: String,
    /// Cron schedule (UTC) of the window in which the budget applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::BUDGET_SCHEDULE))]
    pub schedule: Option<String>,
    /// Length of the window after each schedule hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::BUDGET_DURATION))]
    pub duration: Option<String>,
}

/// Observed state of a NodePool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolStatus {
    /// Summed capacity of the pool's nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceList>,
    /// NodeClass generation last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_class_observed_generation: Option<i64>,
    /// Number of nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub nodes: Option<i64>,
    /// Conditions: ValidationSucceeded, NodeClassReady, NodeRegistrationHealthy, Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

impl NodePool {
    /// Is the NodePool ready for scheduling? One without status counts as ready.
    pub fn is_ready(&self) -> bool {
        let conditions = self.status.as_ref().and_then(|s| s.conditions.as_deref());
        match conditions.and_then(|c| {
            crate::common::find_condition(c, karpenter_model::wellknown::conditions::READY)
        }) {
            Some(ready) => ready.status != "False",
            None => true,
        }
    }
}
