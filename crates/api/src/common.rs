//! Types shared by NodePool, NodeClaim and EC2NodeClass: node-class references,
//! requirements with minValues, taints, status conditions and resource lists.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{cel, patterns};

/// A resource list: resource name to quantity (`cpu: "4"`, `memory: 16Gi`, `nodes: "10"`).
pub type ResourceList = BTreeMap<String, Quantity>;

/// A reference to the provider NodeClass a NodePool or NodeClaim launches from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeClassReference {
    /// Kind of the referent, e.g. `EC2NodeClass`.
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::NODE_CLASS_REF_KIND)))]
    pub kind: String,
    /// Name of the referent.
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::NODE_CLASS_REF_NAME)))]
    pub name: String,
    /// API group of the referent, e.g. `karpenter.k8s.aws`.
    #[schemars(pattern(patterns::NO_SLASH))]
    #[schemars(extend("x-kubernetes-validations" = cel::rules(cel::NODE_CLASS_REF_GROUP)))]
    pub group: String,
}

/// A node selector operator, including upstream's `Gte` and `Lte`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Operator {
    /// The label value is one of `values`.
    In,
    /// The label value is none of `values` (or the label is absent).
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label value, an integer, is greater than the single value.
    Gt,
    /// The label value, an integer, is less than the single value.
    Lt,
    /// The label value, an integer, is greater than or equal to the single value.
    Gte,
    /// The label value, an integer, is less than or equal to the single value.
    Lte,
}

impl Operator {
    /// The operator's name as written in manifests.
    pub fn as_str(self) -> &'static str {
        karpenter_model::Op::from(self).as_str()
    }

    /// Does the operator compare integers (Gt, Lt, Gte, Lte)?
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte
        )
    }
}

impl From<Operator> for karpenter_model::Op {
    fn from(op: Operator) -> Self {
        use karpenter_model::Op;
        match op {
            Operator::In => Op::In,
            Operator::NotIn => Op::NotIn,
            Operator::Exists => Op::Exists,
            Operator::DoesNotExist => Op::DoesNotExist,
            Operator::Gt => Op::Gt,
            Operator::Lt => Op::Lt,
            Operator::Gte => Op::Gte,
            Operator::Lte => Op::Lte,
        }
    }
}

/// A node selector requirement with an optional minimum number of distinct values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirementWithMinValues {
    /// The label key the requirement applies to.
    #[schemars(length(max = 316), pattern(patterns::QUALIFIED_NAME))]
    pub key: String,
    /// How the key relates to the values.
    pub operator: Operator,
    /// The values; one non-negative integer for Gt, Lt, Gte and Lte, none for Exists and
    /// DoesNotExist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(max = 63), pattern(patterns::LABEL_VALUE)))]
    pub values: Vec<String>,
    /// Minimum number of distinct values of this key the candidate instance types must span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50))]
    pub min_values: Option<i64>,
}

/// Effect of a taint.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum TaintEffect {
    /// New pods that do not tolerate the taint are not scheduled.
    NoSchedule,
    /// The scheduler avoids the node but may use it.
    PreferNoSchedule,
    /// Pods that do not tolerate the taint are evicted.
    NoExecute,
}

impl TaintEffect {
    /// The effect's name as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// A node taint (core `v1.Taint`, with upstream's CRD validation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// The taint key.
    #[schemars(length(min = 1), pattern(patterns::QUALIFIED_NAME))]
    pub key: String,
    /// The taint value (upstream's CRD checks it with the qualified-name pattern).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(patterns::QUALIFIED_NAME))]
    pub value: Option<String>,
    /// The taint effect.
    pub effect: TaintEffect,
    /// When the taint was added (NoExecute only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

/// A status condition (operatorpkg's `status.Condition`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    #[schemars(length(max = 316), pattern(patterns::CONDITION_TYPE))]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[schemars(extend("enum" = ["True", "False", "Unknown"]))]
    pub status: String,
    /// The generation the condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub last_transition_time: Option<Time>,
    /// Machine-readable reason in CamelCase.
    #[serde(default)]
    #[schemars(
        required,
        length(min = 1, max = 1024),
        pattern(patterns::CONDITION_REASON)
    )]
    pub reason: String,
    /// Human-readable details.
    #[serde(default)]
    #[schemars(required, length(max = 32768))]
    pub message: String,
}

impl Condition {
    /// Is this condition `True`?
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The condition of `type_` in `conditions`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}
