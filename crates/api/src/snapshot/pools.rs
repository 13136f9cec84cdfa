//! NodePools in engine terms: ready, dynamic pools only; requirements from the template
//! (with minValues), template labels, the `karpenter.sh/nodepool` label and the NodeClass
//! label; taints (startup taints need no toleration); limits less what the pool's nodes and
//! in-flight NodeClaims already hold.

use karpenter_model::wellknown::labels;
use karpenter_model::{Op, Quantity, Requirement, Requirements, Resources};
use karpenter_scheduling::Pool;

use super::Cluster;
use super::nodes::Existing;
use crate::convert;
use crate::validate::FieldError;

/// The NodePools the engine may launch from.
pub fn pools(
    cluster: &Cluster<'_>,
    existing: &Existing<'_>,
    errors: &mut Vec<FieldError>,
) -> Vec<Pool> {
    let mut out = Vec::new();
    for np in &cluster.nodepools {
        if np.metadata.deletion_timestamp.is_some() || !np.is_ready() || np.spec.replicas.is_some()
        {
            continue;
        }
        let name = np.metadata.name.clone().unwrap_or_default();
        let template = &np.spec.template;
        let mut reqs = Requirements::new();
        for r in &template.spec.requirements {
            reqs.add(&Requirement::new(
                &r.key,
                Op::from(r.operator),
                r.values.clone(),
            ));
            if let Some(n) = r.min_values {
                reqs.add_min_values(&r.key, u32::try_from(n).unwrap_or(0));
            }
        }
        for (k, v) in template.metadata.labels.iter().flatten() {
            reqs.add(&Requirement::new(k, Op::In, [v.clone()]));
        }
        reqs.add(&Requirement::new(labels::NODEPOOL, Op::In, [name.clone()]));
        let class = &template.spec.node_class_ref;
        if !class.group.is_empty() && !class.kind.is_empty() {
            // upstream's NodeClassLabelKey: <group>/<lowercase kind>, so
            // karpenter.k8s.aws/ec2nodeclass (or karpenter.kwok.sh/kwoknodeclass)
            reqs.add(&Requirement::new(
                &format!("{}/{}", class.group, class.kind.to_lowercase()),
                Op::In,
                [class.name.clone()],
            ));
        }
        let limits = np.spec.limits.as_ref().map(|l| {
            let mut left = Resources::new();
            for (k, q) in l {
                match Quantity::parse(&q.0) {
                    Ok(v) => {
                        left.insert(k.clone(), v);
                    }
                    Err(e) => errors.push(FieldError {
                        kind: "NodePool".into(),
                        name: name.clone(),
                        path: format!("spec.limits[{k}]"),
                        message: e.to_string(),
                    }),
                }
            }
            for (node, cap) in existing.nodes.iter().zip(&existing.capacity) {
                if node.labels.get(labels::NODEPOOL) != Some(&name) {
                    continue;
                }
                for (k, used) in cap.iter().chain(std::iter::once((
                    &"nodes".to_string(),
                    &Quantity::from_units(1),
                ))) {
                    if let Some(l) = left.get_mut(k) {
                        *l = l.saturating_sub(*used);
                    }
                }
            }
            left
        });
        out.push(Pool {
            name,
            weight: np.spec.weight.unwrap_or(0),
            requirements: reqs,
            taints: template
                .spec
                .taints
                .iter()
                .flatten()
                .map(convert::taint)
                .collect(),
            limits,
            instance_types: None,
        });
    }
    out
}
