//! Kubernetes selectors in model terms: node selector terms as requirements, label
//! selectors, and which label keys a pod may not select on (upstream's restricted labels).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as K8sSelector;
use karpenter_model::wellknown::{aws_labels, canonical_label, in_domain, labels};
use karpenter_model::{LabelSelector, Op, Requirement, Requirements};

/// Why a requirement cannot be used: an unknown operator.
pub fn requirement(r: &NodeSelectorRequirement) -> Result<Requirement, String> {
    let op = Op::parse(&r.operator)
        .ok_or_else(|| format!("unknown operator {:?} for key {:?}", r.operator, r.key))?;
    Ok(Requirement::new(
        &r.key,
        op,
        r.values.clone().unwrap_or_default(),
    ))
}

/// Requirements of one node selector term (matchExpressions only; matchFields is reported
/// by [`uses_match_fields`]).
pub fn term(t: &NodeSelectorTerm) -> Result<Requirements, String> {
    let mut out = Requirements::new();
    for r in t.match_expressions.iter().flatten() {
        out.add(&requirement(r)?);
    }
    Ok(out)
}

/// Does the term use `matchFields` (which Karpenter cannot provision for)?
pub fn uses_match_fields(t: &NodeSelectorTerm) -> bool {
    t.match_fields.as_ref().is_some_and(|f| !f.is_empty())
}

/// `nodeSelector` as requirements.
pub fn node_selector(selector: Option<&BTreeMap<String, String>>) -> Requirements {
    let mut out = Requirements::new();
    for (k, v) in selector.into_iter().flatten() {
        out.add(&Requirement::new(k, Op::In, [v.clone()]));
    }
    out
}

/// A label selector; `None` selects nothing, as Kubernetes treats a nil selector.
pub fn label_selector(s: Option<&K8sSelector>) -> Result<LabelSelector, String> {
    let Some(s) = s else {
        return Ok(LabelSelector::nothing());
    };
    let mut out = LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        ..LabelSelector::default()
    };
    for e in s.match_expressions.iter().flatten() {
        let op = match e.operator.as_str() {
            "In" => Op::In,
            "NotIn" => Op::NotIn,
            "Exists" => Op::Exists,
            "DoesNotExist" => Op::DoesNotExist,
            other => return Err(format!("unknown label selector operator {other:?}")),
        };
        // label selectors match raw keys: no alias translation
        out.match_expressions.push(Requirement {
            key: e.key.clone(),
            op,
            values: e.values.clone().unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Is `key` a label pods may not select on (upstream's `IsRestrictedLabel`): not well
/// known, and the hostname or in the `kubernetes.io`, `k8s.io` or `karpenter.sh` domains
/// (except `node.kubernetes.io`, `node-restriction.kubernetes.io` and `kops.k8s.io`).
pub fn restricted_for_pods(key: &str) -> bool {
    let key = canonical_label(key);
    if labels::CORE_WELL_KNOWN.contains(&key) || aws_labels::WELL_KNOWN.contains(&key) {
        return false;
    }
    if key == labels::HOSTNAME {
        return true;
    }
    if [
        "node.kubernetes.io",
        "node-restriction.kubernetes.io",
        "kops.k8s.io",
    ]
    .iter()
    .any(|d| in_domain(key, d))
    {
        return false;
    }
    ["kubernetes.io", "k8s.io", "karpenter.sh"]
        .iter()
        .any(|d| in_domain(key, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_keys_follow_upstream() {
        assert!(!restricted_for_pods("topology.kubernetes.io/zone"));
        assert!(!restricted_for_pods("karpenter.sh/capacity-type"));
        assert!(!restricted_for_pods("karpenter.k8s.aws/instance-family"));
        assert!(!restricted_for_pods("node.kubernetes.io/lifecycle"));
        assert!(!restricted_for_pods("team"));
        assert!(restricted_for_pods("kubernetes.io/hostname"));
        assert!(restricted_for_pods("karpenter.sh/registered"));
        assert!(restricted_for_pods("example.k8s.io/thing"));
    }
}
