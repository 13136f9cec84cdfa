//! Drift of a NodeClaim from manifests, in upstream's order (§4.5): a `Drifted=True`
//! condition, the NodePool template hash (as annotated on the NodePool, or computed as
//! upstream computes it), NodePool requirements the claim's labels no longer satisfy, the
//! EC2NodeClass hash, and an image no longer among the class's resolved AMIs.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use karpenter_model::wellknown::{annotations, conditions};
use karpenter_model::{Op, Requirement, Requirements};

use crate::hash::nodepool_hash;
use crate::{EC2NodeClass, NodeClaim, NodePool};

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The NodePool's hash and hash version: as annotated, or computed (`v3`).
fn pool_hash(np: &NodePool) -> (String, String) {
    match annotation(&np.metadata, annotations::NODEPOOL_HASH) {
        Some(h) => (
            h.to_string(),
            annotation(&np.metadata, annotations::NODEPOOL_HASH_VERSION)
                .unwrap_or(annotations::NODEPOOL_HASH_VERSION_VALUE)
                .to_string(),
        ),
        None => (
            nodepool_hash(np),
            annotations::NODEPOOL_HASH_VERSION_VALUE.to_string(),
        ),
    }
}

/// Why `claim` (whose node carries `labels`) drifted, if it did.
pub fn drift(
    claim: &NodeClaim,
    labels: &BTreeMap<String, String>,
    np: &NodePool,
    class: Option<&EC2NodeClass>,
) -> Option<String> {
    if let Some(c) = claim.condition(conditions::DRIFTED)
        && c.status == "True"
    {
        let reason = if c.reason.is_empty() {
            "Drifted"
        } else {
            &c.reason
        };
        return Some(format!("{reason} (the NodeClaim's Drifted condition)"));
    }
    let meta = &claim.metadata;
    if let (Some(theirs), Some(version)) = (
        annotation(meta, annotations::NODEPOOL_HASH),
        annotation(meta, annotations::NODEPOOL_HASH_VERSION),
    ) {
        let (ours, pool_version) = pool_hash(np);
        if version == pool_version && theirs != ours {
            return Some(format!(
                "NodePoolDrifted: the NodeClaim's template hash {theirs} is not the NodePool's {ours}"
            ));
        }
    }
    let mut pool_reqs = Requirements::new();
    for r in &np.spec.template.spec.requirements {
        pool_reqs.add(&Requirement::new(
            &r.key,
            Op::from(r.operator),
            r.values.clone(),
        ));
    }
    let mut claim_reqs = Requirements::new();
    for (k, v) in labels {
        claim_reqs.add(&Requirement::new(k, Op::In, [v.clone()]));
    }
    // upstream's StrictlyCompatible: every NodePool requirement must hold on the labels
    if let Err(e) = claim_reqs.compatible(&pool_reqs, |_| false) {
        return Some(format!(
            "RequirementsDrifted: the NodePool's requirements no longer hold ({e})"
        ));
    }
    let class = class?;
    if let (Some(theirs), Some(ours)) = (
        annotation(meta, annotations::EC2NODECLASS_HASH),
        annotation(&class.metadata, annotations::EC2NODECLASS_HASH),
    ) {
        let same_version = annotation(meta, annotations::EC2NODECLASS_HASH_VERSION)
            == annotation(&class.metadata, annotations::EC2NODECLASS_HASH_VERSION);
        if same_version && theirs != ours {
            return Some(format!(
                "NodeClassDrift: the NodeClaim's EC2NodeClass hash {theirs} is not the class's {ours}"
            ));
        }
    }
    let image = claim.status.as_ref()?.image_id.as_deref()?;
    let amis: Vec<&str> = class
        .status
        .as_ref()
        .and_then(|s| s.amis.as_ref())
        .map(|a| a.iter().map(|a| a.id.as_str()).collect())
        .unwrap_or_default();
    if !amis.is_empty() && !amis.contains(&image) {
        return Some(format!(
            "AMIDrift: image {image} is not among the EC2NodeClass's AMIs ({})",
            amis.join(", ")
        ));
    }
    None
}
