//! From a scenario to what the simulation runs on: the catalog, the controllers' setup
//! (NodePools, DaemonSets, startup taints) through the same manifest code as `karpenter
//! plan`, PodDisruptionBudgets, and each workload's pod template in engine terms.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use karpenter_api::manifest;
use karpenter_api::{snapshot, validate};
use karpenter_catalog::aws::AwsSettings;
use karpenter_controllers::{Pdb, Setup};
use karpenter_model::InstanceType;
use karpenter_model::wellknown::annotations;
use karpenter_scheduling::{Options, PendingPod};

use crate::scenario::{Scenario, ScenarioError};

/// A pod template in engine terms, with what disruption and drains need.
#[derive(Debug, Clone)]
pub struct Template {
    /// Constraints and requests.
    pub spec: Arc<PendingPod>,
    /// Priority.
    pub priority: i32,
    /// Critical priority class.
    pub critical: bool,
    /// `karpenter.sh/do-not-disrupt: "true"`.
    pub do_not_disrupt: bool,
    /// Pod deletion cost.
    pub deletion_cost: i32,
}

/// Everything the run needs from the scenario.
#[derive(Debug, Clone)]
pub struct Built {
    /// The catalog.
    pub catalog: Vec<InstanceType>,
    /// NodePools, DaemonSets, settings.
    pub setup: Setup,
    /// The NodePool objects (for disruption settings).
    pub node_pools: Vec<karpenter_api::NodePool>,
    /// PodDisruptionBudgets.
    pub pdbs: Vec<Pdb>,
    /// Pod templates by workload or job name.
    pub templates: BTreeMap<String, Template>,
}

fn invalid(s: &Scenario, path: String, message: String) -> ScenarioError {
    ScenarioError::Invalid {
        name: s.name.clone(),
        path,
        message,
    }
}

/// Build the run's inputs.
pub fn build(s: &Scenario) -> Result<Built, ScenarioError> {
    let catalog = karpenter_catalog::load(&s.catalog, &AwsSettings::default())
        .map_err(|e| invalid(s, "catalog".into(), e.to_string()))?;
    let mut manifests = Vec::new();
    for (i, value) in s.manifests.iter().enumerate() {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| invalid(s, format!("manifests[{i}]"), e.to_string()))?;
        let origin = format!("{}#manifests[{i}]", s.name);
        let parsed = manifest::parse_bytes(Path::new(&origin), &bytes).map_err(|e| {
            let lines: Vec<String> = e.0.iter().map(ToString::to_string).collect();
            invalid(s, format!("manifests[{i}]"), lines.join("; "))
        })?;
        manifests.extend(parsed);
    }
    let problems = validate::validate_manifests(&manifests);
    if let Some((source, e)) = problems.first() {
        return Err(invalid(s, format!("{source}"), e.to_string()));
    }
    let cluster =
        snapshot::Cluster::new(manifests.iter().map(|m| &m.object)).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            invalid(s, "manifests".into(), lines.join("; "))
        })?;
    let (mut setup, pdbs) = karpenter_controllers::setup::setup(
        &cluster,
        catalog.clone(),
        Options::default(),
        spot_to_spot(s)?,
    )
    .map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        invalid(s, "manifests".into(), lines.join("; "))
    })?;
    setup.options = Options::default();
    let node_pools: Vec<karpenter_api::NodePool> =
        cluster.nodepools.iter().map(|np| (**np).clone()).collect();
    if setup.pools.is_empty() && s.cluster_autoscaler.is_none() {
        return Err(invalid(
            s,
            "manifests".into(),
            "no ready NodePool: Karpenter could launch nothing".into(),
        ));
    }
    let mut templates = BTreeMap::new();
    let jobs = s.events.iter().filter_map(|e| e.job.as_ref());
    let sources = s
        .workloads
        .iter()
        .map(|w| {
            (
                w.name.as_str(),
                w.namespace.as_str(),
                &w.template,
                "workloads",
            )
        })
        .chain(jobs.map(|j| {
            (
                j.name.as_str(),
                j.namespace.as_str(),
                &j.template,
                "events.job",
            )
        }));
    for (name, ns, template, section) in sources {
        let mut meta = template.metadata.clone().unwrap_or_default();
        meta.name = Some(name.to_string());
        meta.namespace = Some(ns.to_string());
        let annotations_map = meta.annotations.clone().unwrap_or_default();
        let pod = Pod {
            metadata: meta,
            spec: template.spec.clone(),
            status: None,
        };
        let spec = snapshot::pending_pod(&cluster, &pod).map_err(|e| {
            invalid(
                s,
                format!("{section} {name}: template.{}", e.path),
                e.message,
            )
        })?;
        if let Some(reason) = &spec.ignored {
            return Err(invalid(
                s,
                format!("{section} {name}: template"),
                format!("Karpenter would ignore these pods: {reason}"),
            ));
        }
        let pod_spec = template.spec.clone().unwrap_or_default();
        let class = pod_spec.priority_class_name.unwrap_or_default();
        templates.insert(
            name.to_string(),
            Template {
                spec: Arc::new(spec),
                priority: pod_spec.priority.unwrap_or(0),
                critical: class == "system-cluster-critical" || class == "system-node-critical",
                do_not_disrupt: annotations_map
                    .get(annotations::DO_NOT_DISRUPT)
                    .is_some_and(|v| v == "true"),
                deletion_cost: annotations_map
                    .get(annotations::POD_DELETION_COST)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            },
        );
    }
    Ok(Built {
        catalog,
        setup,
        node_pools,
        pdbs,
        templates,
    })
}

/// The SpotToSpotConsolidation feature gate (the only one the simulator models).
fn spot_to_spot(scenario: &Scenario) -> Result<bool, ScenarioError> {
    let mut on = false;
    for (name, value) in &scenario.feature_gates {
        match name.as_str() {
            "spotToSpotConsolidation" | "SpotToSpotConsolidation" => on = *value,
            other => {
                return Err(ScenarioError::Invalid {
                    name: scenario.name.clone(),
                    path: format!("featureGates.{other}"),
                    message: "unknown feature gate (known: spotToSpotConsolidation)".into(),
                });
            }
        }
    }
    Ok(on)
}
