//! A cluster snapshot from Kubernetes objects, turned into the scheduling engine's
//! [`Input`]: ready NodePools with their remaining limits, existing Nodes and in-flight
//! NodeClaims (one piece of capacity per registered pair) with what their pods leave,
//! pods bound to them for topology, DaemonSets for overhead, and the pending pods (with the
//! reschedulable pods of nodes being removed). `karpenter plan` feeds manifests through it;
//! the controller will feed its watch caches through the same code.

mod candidates;
mod disruption;
mod drift;
mod nodes;
mod pdb;
mod pod;
mod pools;
mod selectors;
mod volumes;
mod workloads;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::{CSINode, StorageClass};
use karpenter_model::{InstanceType, Resources};
use karpenter_scheduling::{DaemonSet, Input, Options};

use crate::manifest::Object;
use crate::validate::FieldError;
use crate::{NodeClaim, NodePool};

pub use candidates::{DisruptionSettings, DisruptionSnapshot, disruption_input};
pub use disruption::pool_policy;
pub use drift::drift;
pub use pdb::pdb;
pub use pod::{pending_pod, pod_id};
pub use selectors::{label_selector, restricted_for_pods};
pub use workloads::{WorkloadPods, summary as workload_summary, workload_pods};

/// Objects of a snapshot, indexed for lookups.
#[derive(Default)]
pub struct Cluster<'a> {
    /// Namespace name to labels (Namespace objects and every pod's namespace).
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// Claims by (namespace, name).
    pub pvcs: BTreeMap<(String, String), &'a PersistentVolumeClaim>,
    /// Volumes by name.
    pub pvs: BTreeMap<String, &'a PersistentVolume>,
    /// StorageClasses by name.
    pub classes: BTreeMap<String, &'a StorageClass>,
    /// CSINodes by name.
    pub csinodes: BTreeMap<String, &'a CSINode>,
    /// RuntimeClass `podFixed` overhead by name.
    pub runtime_overhead: BTreeMap<String, Resources>,
    /// NodePools.
    pub nodepools: Vec<&'a NodePool>,
    /// NodeClaims.
    pub nodeclaims: Vec<&'a NodeClaim>,
    /// Nodes.
    pub nodes: Vec<&'a k8s_openapi::api::core::v1::Node>,
    /// Pods.
    pub pods: Vec<&'a Pod>,
    /// DaemonSets.
    pub daemonsets: Vec<&'a k8s_openapi::api::apps::v1::DaemonSet>,
    /// PodDisruptionBudgets.
    pub pdbs: Vec<&'a k8s_openapi::api::policy::v1::PodDisruptionBudget>,
    /// EC2NodeClasses.
    pub nodeclasses: Vec<&'a crate::EC2NodeClass>,
    /// The time the snapshot is read at (a `karpenter.sh/do-not-disrupt` duration is
    /// measured against it); unknown, such a duration counts as still protecting.
    pub now: Option<karpenter_model::time::Time>,
}

impl<'a> Cluster<'a> {
    /// Index `objects`; quantities in RuntimeClasses are checked here.
    pub fn new(objects: impl IntoIterator<Item = &'a Object>) -> Result<Self, Vec<FieldError>> {
        let mut c = Cluster::default();
        let mut errors = Vec::new();
        for o in objects {
            match o {
                Object::Namespace(n) => {
                    c.namespaces.insert(
                        n.metadata.name.clone().unwrap_or_default(),
                        n.metadata.labels.clone().unwrap_or_default(),
                    );
                }
                Object::PersistentVolumeClaim(p) => {
                    let key = (
                        p.metadata
                            .namespace
                            .clone()
                            .unwrap_or_else(|| "default".into()),
                        p.metadata.name.clone().unwrap_or_default(),
                    );
                    c.pvcs.insert(key, p);
                }
                Object::PersistentVolume(p) => {
                    c.pvs.insert(p.metadata.name.clone().unwrap_or_default(), p);
                }
                Object::StorageClass(s) => {
                    c.classes
                        .insert(s.metadata.name.clone().unwrap_or_default(), s);
                }
                Object::CSINode(n) => {
                    c.csinodes
                        .insert(n.metadata.name.clone().unwrap_or_default(), n);
                }
                Object::RuntimeClass(r) => {
                    let name = r.metadata.name.clone().unwrap_or_default();
                    let mut overhead = Resources::new();
                    for (k, q) in r.overhead.iter().flat_map(|o| o.pod_fixed.iter().flatten()) {
                        match karpenter_model::Quantity::parse(&q.0) {
                            Ok(v) => {
                                overhead.insert(k.clone(), v);
                            }
                            Err(e) => errors.push(FieldError {
                                kind: "RuntimeClass".into(),
                                name: name.clone(),
                                path: format!("overhead.podFixed[{k}]"),
                                message: e.to_string(),
                            }),
                        }
                    }
                    c.runtime_overhead.insert(name, overhead);
                }
                Object::NodePool(p) => c.nodepools.push(p),
                Object::NodeClaim(n) => c.nodeclaims.push(n),
                Object::Node(n) => c.nodes.push(n),
                Object::Pod(p) => {
                    let ns = p
                        .metadata
                        .namespace
                        .clone()
                        .unwrap_or_else(|| "default".into());
                    c.namespaces.entry(ns).or_default();
                    c.pods.push(p);
                }
                Object::DaemonSet(d) => c.daemonsets.push(d),
                Object::PodDisruptionBudget(b) => c.pdbs.push(b),
                Object::EC2NodeClass(n) => c.nodeclasses.push(n),
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors)
        }
    }
}

/// A DaemonSet's pod template in engine terms.
fn daemonset(
    cluster: &Cluster<'_>,
    ds: &k8s_openapi::api::apps::v1::DaemonSet,
) -> Result<DaemonSet, FieldError> {
    let ns = ds
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = format!("{ns}/{}", ds.metadata.name.as_deref().unwrap_or(""));
    let template = ds.spec.template.clone();
    let pod = Pod {
        metadata: template.metadata.clone().unwrap_or_default(),
        spec: template.spec.clone(),
        status: None,
    };
    let err = |path: &str, message: String| FieldError {
        kind: "DaemonSet".into(),
        name: name.clone(),
        path: path.into(),
        message,
    };
    let requests = crate::convert::pod_resources(&pod, &cluster.runtime_overhead)
        .map_err(|e| err(&format!("spec.template.{}", e.path), e.message))?
        .effective_requests();
    let spec = template.spec.unwrap_or_default();
    let nc = pod::node_constraints(&spec).map_err(|m| err("spec.template.spec.affinity", m))?;
    Ok(DaemonSet {
        name,
        requests,
        node_selector: nc.selector,
        required_terms: nc.required,
        tolerations: crate::convert::tolerations(&pod),
        host_ports: pod::host_ports(&spec),
    })
}

/// The engine's input for the snapshot. `catalog` is the instance-type catalog (used for
/// every NodePool, and for the allocatable of in-flight NodeClaims without status).
pub fn scheduling_input(
    cluster: &Cluster<'_>,
    catalog: Vec<InstanceType>,
    options: Options,
) -> Result<Input, Vec<FieldError>> {
    let mut errors = Vec::new();
    let existing = nodes::existing(cluster, &catalog, &mut errors);
    let pools = pools::pools(cluster, &existing, &mut errors);
    let daemonsets = cluster
        .daemonsets
        .iter()
        .filter_map(|d| daemonset(cluster, d).map_err(|e| errors.push(e)).ok())
        .collect();
    let mut pending: Vec<&Pod> = existing.pending.clone();
    pending.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .cmp(&b.metadata.creation_timestamp)
            .then_with(|| a.metadata.uid.cmp(&b.metadata.uid))
    });
    let pods = pending
        .iter()
        .filter_map(|p| pending_pod(cluster, p).map_err(|e| errors.push(e)).ok())
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Input {
        pods,
        pools,
        instance_types: catalog.into(),
        existing: existing.nodes,
        bound: existing.bound,
        daemonsets,
        options,
    })
}
