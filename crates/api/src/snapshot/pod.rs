//! A Pod (or a DaemonSet's pod template) in the scheduling engine's terms: requests, node
//! selector and affinity, tolerations, topology spread, pod (anti-)affinity with resolved
//! namespaces, host ports and volume topology. Pods Karpenter must not provision for
//! (restricted labels, `matchFields`, invalid volumes) are kept with the reason, as upstream
//! ignores them with an event.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, PodSpec, TopologySpreadConstraint};
use karpenter_model::wellknown::labels;
use karpenter_model::{Op, Requirement, Requirements};
use karpenter_scheduling::{AffinityTerm, HostPort, PendingPod, Spread, Weighted};

use super::Cluster;
use super::selectors::{self, label_selector, restricted_for_pods, uses_match_fields};
use super::volumes;
use crate::convert;
use crate::validate::FieldError;

/// `namespace/name` of a pod.
pub fn pod_id(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

fn error(pod: &Pod, path: &str, message: String) -> FieldError {
    FieldError {
        kind: "Pod".into(),
        name: pod_id(pod),
        path: path.into(),
        message,
    }
}

/// Node constraints of a pod spec: selector, required terms, preferred terms; the first
/// restricted key or `matchFields` use is returned as the reason to ignore the pod.
pub struct NodeConstraints {
    /// `nodeSelector`.
    pub selector: Requirements,
    /// Required terms.
    pub required: Vec<Requirements>,
    /// Preferred terms.
    pub preferred: Vec<Weighted<Requirements>>,
    /// Why the pod is not for Karpenter, if it is not.
    pub ignore: Option<String>,
}

/// Read the node constraints of a pod spec; `Err` for unknown operators.
pub fn node_constraints(spec: &PodSpec) -> Result<NodeConstraints, String> {
    let mut out = NodeConstraints {
        selector: selectors::node_selector(spec.node_selector.as_ref()),
        required: Vec::new(),
        preferred: Vec::new(),
        ignore: None,
    };
    let node_affinity = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref());
    let mut keys: Vec<String> = spec
        .node_selector
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    if let Some(na) = node_affinity {
        for t in na
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flat_map(|r| &r.node_selector_terms)
        {
            if uses_match_fields(t) {
                out.ignore = Some("node affinity uses matchFields".into());
            }
            keys.extend(t.match_expressions.iter().flatten().map(|e| e.key.clone()));
            out.required.push(selectors::term(t)?);
        }
        for p in na
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
        {
            keys.extend(
                p.preference
                    .match_expressions
                    .iter()
                    .flatten()
                    .map(|e| e.key.clone()),
            );
            out.preferred.push(Weighted {
                weight: p.weight,
                term: selectors::term(&p.preference)?,
            });
        }
    }
    if let Some(k) = keys.iter().find(|k| restricted_for_pods(k)) {
        out.ignore = Some(format!("label {k:?} is restricted"));
    }
    let excludes_nodepool = |r: &Requirements| {
        r.get(labels::NODEPOOL)
            .is_some_and(|s| s.operator() == Op::DoesNotExist)
    };
    if excludes_nodepool(&out.selector)
        || (!out.required.is_empty() && out.required.iter().all(excludes_nodepool))
    {
        out.ignore = Some("requires karpenter.sh/nodepool DoesNotExist (not for Karpenter)".into());
    }
    Ok(out)
}

/// Host ports of every container (and init container) of a spec.
pub fn host_ports(spec: &PodSpec) -> Vec<HostPort> {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|h| *h > 0)?;
            Some(HostPort {
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                ip: p.host_ip.clone().unwrap_or_default(),
                port,
            })
        })
        .collect()
}

fn spread(
    t: &TopologySpreadConstraint,
    pod_labels: &BTreeMap<String, String>,
) -> Result<Spread, String> {
    let mut selector = label_selector(t.label_selector.as_ref())?;
    for key in t.match_label_keys.iter().flatten() {
        if let Some(v) = pod_labels.get(key) {
            selector.match_labels.insert(key.clone(), v.clone());
        }
    }
    Ok(Spread {
        key: t.topology_key.clone(),
        max_skew: t.max_skew,
        min_domains: t.min_domains,
        schedule_anyway: t.when_unsatisfiable == "ScheduleAnyway",
        selector,
        honor_node_affinity: t.node_affinity_policy.as_deref() != Some("Ignore"),
        honor_node_taints: t.node_taints_policy.as_deref() == Some("Honor"),
    })
}

fn affinity_term(
    cluster: &Cluster<'_>,
    t: &PodAffinityTerm,
    namespace: &str,
    pod_labels: &BTreeMap<String, String>,
) -> Result<AffinityTerm, String> {
    let mut selector = label_selector(t.label_selector.as_ref())?;
    for key in t.match_label_keys.iter().flatten() {
        if let Some(v) = pod_labels.get(key) {
            selector.match_expressions.push(Requirement {
                key: key.clone(),
                op: Op::In,
                values: vec![v.clone()],
            });
        }
    }
    for key in t.mismatch_label_keys.iter().flatten() {
        if let Some(v) = pod_labels.get(key) {
            selector.match_expressions.push(Requirement {
                key: key.clone(),
                op: Op::NotIn,
                values: vec![v.clone()],
            });
        }
    }
    let listed: BTreeSet<String> = t.namespaces.iter().flatten().cloned().collect();
    let namespaces = match &t.namespace_selector {
        None if listed.is_empty() => BTreeSet::from([namespace.to_string()]),
        None => listed,
        Some(sel) => {
            let sel = label_selector(Some(sel))?;
            let mut out = listed;
            out.extend(
                cluster
                    .namespaces
                    .iter()
                    .filter(|(_, l)| sel.matches(l))
                    .map(|(n, _)| n.clone()),
            );
            out
        }
    };
    Ok(AffinityTerm {
        key: t.topology_key.clone(),
        selector,
        namespaces,
    })
}

type Terms = (Vec<AffinityTerm>, Vec<Weighted<AffinityTerm>>);

/// Required and preferred pod affinity (`anti = false`) or anti-affinity terms.
pub fn pod_terms(cluster: &Cluster<'_>, pod: &Pod, anti: bool) -> Result<Terms, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let pod_labels = pod.metadata.labels.clone().unwrap_or_default();
    let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
    let (required, preferred) = match (affinity, anti) {
        (Some(a), false) => match &a.pod_affinity {
            Some(p) => (
                p.required_during_scheduling_ignored_during_execution
                    .clone(),
                p.preferred_during_scheduling_ignored_during_execution
                    .clone(),
            ),
            None => (None, None),
        },
        (Some(a), true) => match &a.pod_anti_affinity {
            Some(p) => (
                p.required_during_scheduling_ignored_during_execution
                    .clone(),
                p.preferred_during_scheduling_ignored_during_execution
                    .clone(),
            ),
            None => (None, None),
        },
        (None, _) => (None, None),
    };
    let required = required
        .iter()
        .flatten()
        .map(|t| affinity_term(cluster, t, namespace, &pod_labels))
        .collect::<Result<_, _>>()?;
    let preferred = preferred
        .iter()
        .flatten()
        .map(|w| {
            Ok(Weighted {
                weight: w.weight,
                term: affinity_term(cluster, &w.pod_affinity_term, namespace, &pod_labels)?,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok((required, preferred))
}

/// A pending pod in engine terms.
pub fn pending_pod(cluster: &Cluster<'_>, pod: &Pod) -> Result<PendingPod, FieldError> {
    let id = pod_id(pod);
    let namespace = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let pod_labels = pod.metadata.labels.clone().unwrap_or_default();
    let requests = convert::pod_resources(pod, &cluster.runtime_overhead)?.effective_requests();
    let spec = pod.spec.clone().unwrap_or_default();
    let nc = node_constraints(&spec).map_err(|m| error(pod, "spec.affinity.nodeAffinity", m))?;
    let spreads = spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .map(|t| spread(t, &pod_labels))
        .collect::<Result<_, _>>()
        .map_err(|m| error(pod, "spec.topologySpreadConstraints", m))?;
    let (affinity, preferred_affinity) =
        pod_terms(cluster, pod, false).map_err(|m| error(pod, "spec.affinity.podAffinity", m))?;
    let (anti_affinity, preferred_anti_affinity) = pod_terms(cluster, pod, true)
        .map_err(|m| error(pod, "spec.affinity.podAntiAffinity", m))?;
    let vols = volumes::pod_volumes(cluster, pod);
    Ok(PendingPod {
        id,
        namespace,
        labels: pod_labels,
        requests,
        node_selector: nc.selector,
        required_terms: nc.required,
        preferred_terms: nc.preferred,
        tolerations: convert::tolerations(pod),
        spreads,
        affinity,
        preferred_affinity,
        anti_affinity,
        preferred_anti_affinity,
        host_ports: host_ports(&spec),
        volume_requirements: vols.requirements,
        volumes: vols.attachments,
        ignored: nc.ignore.or(vols.ignore),
        moving: false,
    })
}
