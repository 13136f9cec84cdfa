//! Scenario files: the cluster's NodePools and friends as standard manifests, the cloud's
//! behaviour, the workloads and a timeline of events, and the Cluster Autoscaler node
//! groups to compare with. YAML (or JSON); unknown fields are errors that name the field.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use karpenter_model::Duration;
use karpenter_model::time::{Time, millis};
use serde::Deserialize;

/// Why a scenario cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not readable.
    #[error("reading scenario {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not a scenario.
    #[error("scenario {name}: {path}: {message}")]
    Invalid {
        /// File or scenario name.
        name: String,
        /// Field path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Name.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Simulated time span, e.g. `24h`.
    pub duration: String,
    /// Instance-type catalog (`builtin:aws/<region>` or a catalog file).
    #[serde(default = "default_catalog")]
    pub catalog: String,
    /// Seed of every random choice.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How often the time series is sampled (default `1m`).
    #[serde(default)]
    pub sample_every: Option<String>,
    /// The simulated cloud.
    #[serde(default)]
    pub cloud: CloudSpec,
    /// NodePools, EC2NodeClasses, DaemonSets, PodDisruptionBudgets, Namespaces:
    /// standard manifests, inline.
    #[serde(default)]
    pub manifests: Vec<serde_json::Value>,
    /// Workloads.
    #[serde(default)]
    pub workloads: Vec<Workload>,
    /// Timeline.
    #[serde(default)]
    pub events: Vec<TimedEvent>,
    /// The Cluster Autoscaler baseline; without it only Karpenter runs.
    #[serde(default)]
    pub cluster_autoscaler: Option<CaSpec>,
    /// Karpenter's feature gates, as its Helm value `settings.featureGates` names them
    /// (`spotToSpotConsolidation`, default off).
    #[serde(default)]
    pub feature_gates: BTreeMap<String, bool>,
}

fn default_catalog() -> String {
    "builtin:aws/us-east-1".into()
}

fn default_seed() -> u64 {
    1
}

/// The simulated cloud's behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudSpec {
    /// Launch to running instance.
    #[serde(default = "d30s")]
    pub boot_latency: String,
    /// Running instance to registered Node.
    #[serde(default = "d20s")]
    pub registration_latency: String,
    /// Registered to Ready (startup taints removed).
    #[serde(default = "d10s")]
    pub ready_latency: String,
    /// Limits on running instances per group of offerings.
    #[serde(default)]
    pub capacity: Vec<CapacitySpec>,
}

impl Default for CloudSpec {
    fn default() -> Self {
        CloudSpec {
            boot_latency: d30s(),
            registration_latency: d20s(),
            ready_latency: d10s(),
            capacity: Vec::new(),
        }
    }
}

fn d30s() -> String {
    "30s".into()
}
fn d20s() -> String {
    "20s".into()
}
fn d10s() -> String {
    "10s".into()
}

/// Which offerings (every unset field matches all).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfferingSpec {
    /// Instance types; `m5.*` matches a prefix.
    #[serde(default)]
    pub instance_types: Vec<String>,
    /// Zones.
    #[serde(default)]
    pub zones: Vec<String>,
    /// `spot`, `on-demand` or `reserved`.
    #[serde(default)]
    pub capacity_type: Option<String>,
}

/// At most `max` running instances of the matching offerings.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacitySpec {
    /// Which offerings.
    #[serde(flatten)]
    pub offerings: OfferingSpec,
    /// Instances they hold together.
    pub max: u32,
}

/// A Deployment-like workload: `replicas` copies of a pod template.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Workload {
    /// Name (pods are `<name>-<n>`).
    pub name: String,
    /// Namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Replicas at the start.
    #[serde(default)]
    pub replicas: u32,
    /// The pod template (standard `PodTemplateSpec`).
    pub template: PodTemplateSpec,
}

fn default_namespace() -> String {
    "default".into()
}

/// One timeline entry: `at` plus exactly one action.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimedEvent {
    /// When, from the start (`90m`, `2h`).
    pub at: String,
    /// Set a workload's replicas.
    #[serde(default)]
    pub scale: Option<Scale>,
    /// A daily curve of replicas from `at` to the end.
    #[serde(default)]
    pub daily: Option<Daily>,
    /// A batch job.
    #[serde(default)]
    pub job: Option<JobSpec>,
    /// Reclaim a fraction of the running spot instances (two-minute notice).
    #[serde(default)]
    pub interrupt: Option<Interrupt>,
    /// No capacity for matching offerings for a while.
    #[serde(default)]
    pub shortage: Option<Shortage>,
}

/// Set replicas.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scale {
    /// Workload name.
    pub workload: String,
    /// New replica count.
    pub replicas: u32,
}

/// Replicas following a day curve: `min` at the trough, `max` at `peak` (time of day).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Daily {
    /// Workload name.
    pub workload: String,
    /// Fewest replicas.
    pub min: u32,
    /// Most replicas.
    pub max: u32,
    /// Time of day of the peak (default `14h`).
    #[serde(default)]
    pub peak: Option<String>,
    /// Step between changes (default `15m`).
    #[serde(default)]
    pub every: Option<String>,
}

/// A batch job: `pods` pods that each run `runFor` once bound.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSpec {
    /// Name.
    pub name: String,
    /// Namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Pods (all created at once, as `parallelism = completions`).
    pub pods: u32,
    /// How long each pod runs once bound.
    pub run_for: String,
    /// Pod template.
    pub template: PodTemplateSpec,
}

/// Spot interruptions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Interrupt {
    /// Share of the matching running spot instances, 0 to 1.
    pub fraction: f64,
    /// Which offerings.
    #[serde(flatten)]
    pub offerings: OfferingSpec,
}

/// A capacity shortage.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Shortage {
    /// How long.
    pub duration: String,
    /// Which offerings.
    #[serde(flatten)]
    pub offerings: OfferingSpec,
}

/// The Cluster Autoscaler baseline.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaSpec {
    /// Delay from a scale-up decision to the ASG's launch (default `30s`).
    #[serde(default)]
    pub scale_up_delay: Option<String>,
    /// How long a node must be unneeded before removal (default `10m`).
    #[serde(default)]
    pub scale_down_unneeded_time: Option<String>,
    /// Utilisation under which a node is unneeded (default 0.5).
    #[serde(default)]
    pub scale_down_utilization_threshold: Option<f64>,
    /// Node groups.
    pub node_groups: Vec<NodeGroup>,
}

/// A static node group (one instance type, as an ASG launch template).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroup {
    /// Name.
    pub name: String,
    /// Instance type.
    pub instance_type: String,
    /// `on-demand` (default) or `spot`.
    #[serde(default = "on_demand")]
    pub capacity_type: String,
    /// Fewest nodes.
    #[serde(default)]
    pub min: u32,
    /// Most nodes.
    pub max: u32,
    /// Zones (default: every zone the type is offered in).
    #[serde(default)]
    pub zones: Vec<String>,
    /// Node labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Node taints (`key=value:Effect`).
    #[serde(default)]
    pub taints: Vec<String>,
}

fn on_demand() -> String {
    "on-demand".into()
}

impl Scenario {
    /// Parse YAML or JSON; `origin` names the file in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let de = yaml_serde::Deserializer::from_str(text);
        let scenario: Scenario =
            serde_path_to_error::deserialize(de).map_err(|e| ScenarioError::Invalid {
                name: origin.to_string(),
                path: e.path().to_string(),
                message: e.into_inner().to_string(),
            })?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Read a scenario file.
    pub fn load(path: &str) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_string(),
            source,
        })?;
        Scenario::parse(path, &text)
    }

    fn invalid(&self, path: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            name: self.name.clone(),
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// A duration field in milliseconds, with the field path in the error.
    pub fn duration_of(&self, path: &str, text: &str) -> Result<Time, ScenarioError> {
        Duration::parse(text)
            .map(millis)
            .map_err(|e| self.invalid(path, e.to_string()))
    }

    fn check(&self) -> Result<(), ScenarioError> {
        if self.duration_of("duration", &self.duration)? <= 0 {
            return Err(self.invalid("duration", "must be positive"));
        }
        let workloads: Vec<&str> = self.workloads.iter().map(|w| w.name.as_str()).collect();
        for (i, e) in self.events.iter().enumerate() {
            let path = format!("events[{i}]");
            self.duration_of(&format!("{path}.at"), &e.at)?;
            let actions = [
                e.scale.is_some(),
                e.daily.is_some(),
                e.job.is_some(),
                e.interrupt.is_some(),
                e.shortage.is_some(),
            ];
            if actions.iter().filter(|a| **a).count() != 1 {
                return Err(self.invalid(
                    &path,
                    "needs exactly one of scale, daily, job, interrupt, shortage",
                ));
            }
            let target = e
                .scale
                .as_ref()
                .map(|s| &s.workload)
                .or(e.daily.as_ref().map(|d| &d.workload));
            if let Some(w) = target
                && !workloads.contains(&w.as_str())
            {
                return Err(self.invalid(&path, format!("unknown workload {w:?}")));
            }
            if let Some(d) = &e.daily
                && d.min > d.max
            {
                return Err(self.invalid(&format!("{path}.daily"), "min exceeds max"));
            }
            if let Some(j) = &e.job {
                self.duration_of(&format!("{path}.job.runFor"), &j.run_for)?;
            }
            if let Some(s) = &e.shortage {
                self.duration_of(&format!("{path}.shortage.duration"), &s.duration)?;
            }
            if let Some(x) = &e.interrupt
                && !(0.0..=1.0).contains(&x.fraction)
            {
                return Err(
                    self.invalid(&format!("{path}.interrupt.fraction"), "must be within 0..1")
                );
            }
        }
        if let Some(ca) = &self.cluster_autoscaler {
            if ca.node_groups.is_empty() {
                return Err(self.invalid(
                    "clusterAutoscaler.nodeGroups",
                    "needs at least one node group",
                ));
            }
            for (i, g) in ca.node_groups.iter().enumerate() {
                if g.min > g.max {
                    return Err(self.invalid(
                        &format!("clusterAutoscaler.nodeGroups[{i}]"),
                        "min exceeds max",
                    ));
                }
            }
        }
        for (name, text) in [
            ("cloud.bootLatency", &self.cloud.boot_latency),
            (
                "cloud.registrationLatency",
                &self.cloud.registration_latency,
            ),
            ("cloud.readyLatency", &self.cloud.ready_latency),
        ] {
            self.duration_of(name, text)?;
        }
        Ok(())
    }
}
