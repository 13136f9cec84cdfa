//! Scenario files: the cluster's NodePools and friends as standard manifests, the cloud's
//! behaviour (latencies as distributions), the workloads and a timeline of events, the
//! faults to inject, and the Cluster Autoscaler node groups to compare with. YAML (or JSON);
//! unknown fields are errors that name the field.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use karpenter_cloud::latency::Latency;
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
    /// Faults injected into both autoscalers' runs alike.
    #[serde(default)]
    pub faults: Option<Faults>,
}

/// A latency: a fixed duration (`30s`) or a distribution given by its median and 99th
/// percentile (`{p50: 30s, p99: 2m}`, log-normal, drawn with the scenario's seed).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LatencySpec {
    /// Always this long.
    Fixed(String),
    /// Median and 99th percentile.
    Distribution {
        /// Median.
        p50: String,
        /// 99th percentile.
        p99: String,
    },
}

impl From<&str> for LatencySpec {
    fn from(s: &str) -> Self {
        LatencySpec::Fixed(s.to_string())
    }
}

/// Faults, injected into every autoscaler's run alike.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Share of launch calls the cloud fails with a retryable API error (throttling).
    #[serde(default)]
    pub api_error_rate: f64,
    /// Share of instances whose node never registers (a broken image or bootstrap).
    #[serde(default)]
    pub never_register_rate: f64,
    /// Times at which the autoscaler's process restarts: its in-memory state is lost and
    /// rebuilt from the cluster and the cloud, as a real controller's is.
    #[serde(default)]
    pub restarts: Vec<String>,
    /// Spot interruption storms: `count` interruptions `every` apart from `at`.
    #[serde(default)]
    pub interruption_storms: Vec<Storm>,
}

/// A burst of spot interruptions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Storm {
    /// Start, from the beginning of the run.
    pub at: String,
    /// Interruptions in the storm.
    pub count: u32,
    /// Time between them.
    pub every: String,
    /// Share of the matching running spot instances each one reclaims.
    pub fraction: f64,
    /// Which offerings.
    #[serde(flatten)]
    pub offerings: OfferingSpec,
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
    pub boot_latency: LatencySpec,
    /// Running instance to registered Node.
    #[serde(default = "d20s")]
    pub registration_latency: LatencySpec,
    /// Registered to Ready (startup taints removed).
    #[serde(default = "d10s")]
    pub ready_latency: LatencySpec,
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

fn d30s() -> LatencySpec {
    "30s".into()
}
fn d20s() -> LatencySpec {
    "20s".into()
}
fn d10s() -> LatencySpec {
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

/// The Cluster Autoscaler baseline, as CA runs on EKS with Auto Scaling groups.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaSpec {
    /// Delay from a scale-up decision to the ASG's launch call: CA's scan, the ASG's
    /// desired-capacity update and its activity (default `30s`; a distribution allowed).
    #[serde(default)]
    pub scale_up_delay: Option<LatencySpec>,
    /// `--expander`: `least-waste` (default), `price`, `priority` or `random`.
    #[serde(default)]
    pub expander: Option<String>,
    /// `--balance-similar-node-groups`: spread a scale-up over node groups that differ only
    /// in zone, smallest first.
    #[serde(default)]
    pub balance_similar_node_groups: bool,
    /// How long a node must be unneeded before removal (default `10m`).
    #[serde(default)]
    pub scale_down_unneeded_time: Option<String>,
    /// Utilisation under which a node is unneeded (default 0.5).
    #[serde(default)]
    pub scale_down_utilization_threshold: Option<f64>,
    /// Node groups.
    pub node_groups: Vec<NodeGroup>,
}

/// A node group: an Auto Scaling group with one instance type, or several in a
/// mixed-instances policy (CA simulates scheduling on the first, as it does on AWS).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroup {
    /// Name.
    pub name: String,
    /// Instance type (or use `instanceTypes`).
    #[serde(default)]
    pub instance_type: Option<String>,
    /// A mixed-instances policy's overrides, in priority order.
    #[serde(default)]
    pub instance_types: Vec<String>,
    /// `on-demand` (default) or `spot`. On-demand launches follow the `prioritized`
    /// allocation strategy (the list's order), spot launches `capacity-optimized` (the
    /// offering with the most spare capacity, the list's order among equals).
    #[serde(default = "on_demand")]
    pub capacity_type: String,
    /// The priority expander's priority (higher first; default 0).
    #[serde(default)]
    pub priority: i32,
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

impl NodeGroup {
    /// The group's instance types, the template's first.
    pub fn types(&self) -> Vec<String> {
        self.instance_type
            .iter()
            .chain(self.instance_types.iter())
            .cloned()
            .collect()
    }
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

    /// A latency field, with the field path in the error.
    pub fn latency_of(&self, path: &str, spec: &LatencySpec) -> Result<Latency, ScenarioError> {
        match spec {
            LatencySpec::Fixed(t) => Ok(Latency::fixed(self.duration_of(path, t)?)),
            LatencySpec::Distribution { p50, p99 } => {
                let (a, b) = (
                    self.duration_of(&format!("{path}.p50"), p50)?,
                    self.duration_of(&format!("{path}.p99"), p99)?,
                );
                if b < a {
                    return Err(self.invalid(path, "p99 is below p50"));
                }
                Ok(Latency::between(a, b))
            }
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
                let path = format!("clusterAutoscaler.nodeGroups[{i}]");
                if g.min > g.max {
                    return Err(self.invalid(&path, "min exceeds max"));
                }
                if g.types().is_empty() {
                    return Err(self.invalid(&path, "needs instanceType or instanceTypes"));
                }
            }
            if let Some(e) = &ca.expander
                && !["least-waste", "price", "priority", "random"].contains(&e.as_str())
            {
                return Err(self.invalid(
                    "clusterAutoscaler.expander",
                    format!("{e:?} is not least-waste, price, priority or random"),
                ));
            }
            if let Some(l) = &ca.scale_up_delay {
                self.latency_of("clusterAutoscaler.scaleUpDelay", l)?;
            }
        }
        for (name, spec) in [
            ("cloud.bootLatency", &self.cloud.boot_latency),
            (
                "cloud.registrationLatency",
                &self.cloud.registration_latency,
            ),
            ("cloud.readyLatency", &self.cloud.ready_latency),
        ] {
            self.latency_of(name, spec)?;
        }
        if let Some(f) = &self.faults {
            for (name, rate) in [
                ("faults.apiErrorRate", f.api_error_rate),
                ("faults.neverRegisterRate", f.never_register_rate),
            ] {
                if !(0.0..1.0).contains(&rate) {
                    return Err(self.invalid(name, "must be within 0 and 1 (exclusive)"));
                }
            }
            for (i, t) in f.restarts.iter().enumerate() {
                self.duration_of(&format!("faults.restarts[{i}]"), t)?;
            }
            for (i, s) in f.interruption_storms.iter().enumerate() {
                let path = format!("faults.interruptionStorms[{i}]");
                self.duration_of(&format!("{path}.at"), &s.at)?;
                self.duration_of(&format!("{path}.every"), &s.every)?;
                if !(0.0..=1.0).contains(&s.fraction) {
                    return Err(self.invalid(&format!("{path}.fraction"), "must be within 0..1"));
                }
            }
        }
        Ok(())
    }
}
