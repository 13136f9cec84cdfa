//! Volume topology (reference 2.10): where a pod's persistent volumes can be reached. A
//! bound claim follows its PersistentVolume's node affinity; an unbound claim of a
//! `WaitForFirstConsumer` StorageClass follows the class's `allowedTopologies` (an unbound
//! claim with `storageClassName: ""` cannot be provisioned for). Local and hostPath volumes
//! drop hostname from their terms (a term left empty allows every node). Each volume
//! gives alternatives (ORed); several volumes multiply out. CSI drivers are recorded for
//! attach limits. Missing, deleting, lost or `Immediate`-unbound claims make the pod ignored.

use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, Pod};
use karpenter_model::wellknown::labels;
use karpenter_model::{Op, Requirement, Requirements};
use karpenter_scheduling::VolumeAttachment;

use super::Cluster;
use super::selectors;

/// The volume side of a pod.
#[derive(Debug, Default)]
pub struct PodVolumes {
    /// Alternatives of node requirements (empty: unconstrained).
    pub requirements: Vec<Requirements>,
    /// CSI attachments.
    pub attachments: Vec<VolumeAttachment>,
    /// Why the pod cannot be provisioned for, if so.
    pub ignore: Option<String>,
}

const MAX_ALTERNATIVES: usize = 64;
const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
const EBS_IN_TREE: &str = "kubernetes.io/aws-ebs";
const EBS_CSI: &str = "ebs.csi.aws.com";

/// One volume: its alternatives and driver, or why it is invalid.
type Volume = (Vec<Requirements>, Option<String>);

fn claim_volume(
    cluster: &Cluster<'_>,
    ns: &str,
    name: &str,
    template: Option<&PersistentVolumeClaimSpec>,
) -> Result<Volume, String> {
    let pvc = cluster.pvcs.get(&(ns.to_string(), name.to_string()));
    let spec = match (pvc, template) {
        (Some(pvc), _) => {
            if pvc.metadata.deletion_timestamp.is_some() {
                return Err(format!(
                    "persistentvolumeclaim {ns}/{name} is being deleted"
                ));
            }
            if pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Lost") {
                return Err(format!("persistentvolumeclaim {ns}/{name} is Lost"));
            }
            pvc.spec.clone().unwrap_or_default()
        }
        (None, Some(t)) => t.clone(),
        (None, None) => return Err(format!("persistentvolumeclaim {ns}/{name} not found")),
    };
    if let Some(pv_name) = spec.volume_name.as_deref().filter(|v| !v.is_empty()) {
        let pv = cluster
            .pvs
            .get(pv_name)
            .ok_or_else(|| format!("persistentvolume {pv_name} of claim {ns}/{name} not found"))?;
        let pv_spec = pv.spec.clone().unwrap_or_default();
        // a local or hostPath volume names the node it was made on; a new node has a new
        // hostname, so upstream drops hostname from such a volume's terms
        let node_bound = pv_spec.local.is_some() || pv_spec.host_path.is_some();
        let mut alts = Vec::new();
        for t in pv_spec
            .node_affinity
            .iter()
            .flat_map(|a| a.required.iter())
            .flat_map(|r| &r.node_selector_terms)
        {
            let mut t = t.clone();
            if node_bound {
                if let Some(e) = t.match_expressions.as_mut() {
                    e.retain(|r| r.key != labels::HOSTNAME);
                }
                let empty = t.match_expressions.as_ref().is_none_or(Vec::is_empty)
                    && t.match_fields.as_ref().is_none_or(Vec::is_empty);
                if empty {
                    // a term left with nothing allows every node: the volume is no constraint
                    alts.clear();
                    break;
                }
            }
            alts.push(selectors::term(&t)?);
        }
        let driver = pv_spec
            .csi
            .map(|c| c.driver)
            .or_else(|| pv_spec.aws_elastic_block_store.map(|_| EBS_CSI.to_string()));
        return Ok((without_region(alts), driver));
    }
    if spec.storage_class_name.as_deref() == Some("") {
        // upstream: an unbound claim must name a class to be provisioned (`""` asks for a
        // pre-bound volume, which it does not have)
        return Err(format!(
            "unbound persistentvolumeclaim {ns}/{name} must define a storage class (storageClassName is \"\")"
        ));
    }
    let class_name = spec.storage_class_name.clone().or_else(|| {
        cluster
            .classes
            .iter()
            .find(|(_, c)| {
                c.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(DEFAULT_CLASS))
                    .map(String::as_str)
                    == Some("true")
            })
            .map(|(n, _)| n.clone())
    });
    let Some(class_name) = class_name.filter(|c| !c.is_empty()) else {
        return Ok((Vec::new(), None));
    };
    let Some(class) = cluster.classes.get(&class_name) else {
        return Err(format!(
            "storageclass {class_name:?} of claim {ns}/{name} not found"
        ));
    };
    if class.volume_binding_mode.as_deref() != Some("WaitForFirstConsumer") {
        return Err(format!(
            "persistentvolumeclaim {ns}/{name} is unbound and its storageclass {class_name:?} binds Immediate"
        ));
    }
    let mut alts = Vec::new();
    for t in class.allowed_topologies.iter().flatten() {
        let mut r = Requirements::new();
        for e in t.match_label_expressions.iter().flatten() {
            r.add(&Requirement::new(&e.key, Op::In, e.values.clone()));
        }
        alts.push(r);
    }
    let driver = if class.provisioner == EBS_IN_TREE {
        EBS_CSI.to_string()
    } else {
        class.provisioner.clone()
    };
    Ok((without_region(alts), Some(driver)))
}

/// Region keys are not supported for volume topology (upstream drops them).
fn without_region(alts: Vec<Requirements>) -> Vec<Requirements> {
    alts.into_iter()
        .map(|r| {
            let mut out = Requirements::new();
            for req in r.to_requirements() {
                if req.key != labels::REGION {
                    out.add(&req);
                }
            }
            out
        })
        .collect()
}

/// The volume side of `pod`.
pub fn pod_volumes(cluster: &Cluster<'_>, pod: &Pod) -> PodVolumes {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    let mut out = PodVolumes::default();
    let mut alternatives: Vec<Requirements> = Vec::new();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let (claim, template) = if let Some(c) = &v.persistent_volume_claim {
            (c.claim_name.clone(), None)
        } else if let Some(e) = &v.ephemeral {
            (
                format!("{pod_name}-{}", v.name),
                e.volume_claim_template.as_ref().map(|t| &t.spec),
            )
        } else {
            continue;
        };
        match claim_volume(cluster, ns, &claim, template) {
            Err(why) => {
                out.ignore.get_or_insert(why);
            }
            Ok((alts, driver)) => {
                if let Some(driver) = driver {
                    out.attachments.push(VolumeAttachment {
                        driver,
                        volume: format!("{ns}/{claim}"),
                    });
                }
                if alts.is_empty() {
                    continue;
                }
                alternatives = if alternatives.is_empty() {
                    alts
                } else {
                    let mut product = Vec::new();
                    for a in &alternatives {
                        for b in &alts {
                            let mut r = a.clone();
                            r.add_all(b);
                            product.push(r);
                        }
                    }
                    product.truncate(MAX_ALTERNATIVES);
                    product
                };
            }
        }
    }
    out.requirements = alternatives;
    out
}
