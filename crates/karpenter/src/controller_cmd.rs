//! `karpenter controller`: settings from flags or upstream's environment variables, checked
//! here (a bad setting is an error naming it, exit status 1), then the kube adapter's loop.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration as StdDuration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use karpenter_kube::kwok::KwokOptions;
use karpenter_model::Duration;
use karpenter_model::time::Time;
use karpenter_scheduling::{MinValuesPolicy, Options, PreferencePolicy};

use crate::plan_cmd::{MinValues, Preference};

/// Which cloud the controller launches into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudProviderKind {
    /// Nodes that KWOK plays the kubelet of (upstream's kwok provider).
    #[value(name = "kwok")]
    Kwok,
    /// EC2 (upstream's AWS provider); needs the `aws` cargo feature.
    #[value(name = "aws")]
    Aws,
}

/// Flags of `karpenter controller`; each also reads upstream's environment variable.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// The cloud provider.
    #[arg(long, value_enum, default_value_t = CloudProviderKind::Kwok, env = "CLOUD_PROVIDER")]
    cloud_provider: CloudProviderKind,
    /// A kubeconfig file; default: in-cluster configuration, else $KUBECONFIG.
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// The cluster's name.
    #[arg(long, env = "CLUSTER_NAME", default_value = "")]
    cluster_name: String,
    /// Idle time that ends a batch of pending pods (Go duration).
    #[arg(long, env = "BATCH_IDLE_DURATION", default_value = "1s")]
    batch_idle_duration: String,
    /// Longest batch of pending pods (Go duration).
    #[arg(long, env = "BATCH_MAX_DURATION", default_value = "10s")]
    batch_max_duration: String,
    /// Plan pending pods kube-scheduler has not tried yet, not only those it marked
    /// unschedulable (upstream waits for the mark; `false` does the same).
    #[arg(long, env = "PROVISION_UNTRIED_PODS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    provision_untried_pods: bool,
    /// Feature gates, `Name=true,...` (SpotToSpotConsolidation, NodeRepair, ...).
    #[arg(long, env = "FEATURE_GATES", default_value = "")]
    feature_gates: String,
    /// Preference policy.
    #[arg(long, value_enum, env = "PREFERENCE_POLICY", default_value_t = Preference::Respect)]
    preference_policy: Preference,
    /// minValues policy.
    #[arg(long, value_enum, env = "MIN_VALUES_POLICY", default_value_t = MinValues::Strict)]
    min_values_policy: MinValues,
    /// Client QPS to the API server.
    #[arg(long, env = "KUBE_CLIENT_QPS", default_value_t = 200)]
    kube_client_qps: u32,
    /// Client burst to the API server.
    #[arg(long, env = "KUBE_CLIENT_BURST", default_value_t = 300)]
    kube_client_burst: u32,
    /// Port of /metrics.
    #[arg(long, env = "METRICS_PORT", default_value_t = 8080)]
    metrics_port: u16,
    /// Port of /healthz and /readyz.
    #[arg(long, env = "HEALTH_PROBE_PORT", default_value_t = 8081)]
    health_probe_port: u16,
    /// Run without leader election (one replica only).
    #[arg(long, env = "DISABLE_LEADER_ELECTION", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    disable_leader_election: bool,
    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "LEADER_ELECTION_NAME",
        default_value = "karpenter-leader-election"
    )]
    leader_election_name: String,
    /// Namespace of the leader-election Lease (default: the pod's namespace, else kube-system).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Log level: debug, info, warn or error.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Instance-type catalog: `builtin:aws/<region>` or a catalog file.
    #[arg(
        long,
        env = "KARPENTER_CATALOG",
        default_value = "builtin:aws/us-east-1"
    )]
    catalog: String,
    /// KWOK: instance types that fail with insufficient capacity (comma-separated).
    #[arg(long, env = "KWOK_INSUFFICIENT_CAPACITY", default_value = "")]
    kwok_insufficient_capacity: String,
    /// KWOK: delay between a launch and its Node appearing (Go duration).
    #[arg(long, env = "KWOK_LAUNCH_DELAY", default_value = "0s")]
    kwok_launch_delay: String,
    /// AWS: the API server endpoint nodes join (default: DescribeCluster).
    #[arg(long, env = "CLUSTER_ENDPOINT", default_value = "")]
    cluster_endpoint: String,
    /// AWS: the cluster CA bundle, base64 (default: DescribeCluster).
    #[arg(long, env = "CLUSTER_CA_BUNDLE", default_value = "")]
    cluster_ca_bundle: String,
    /// AWS: no Pricing API (a VPC without internet access).
    #[arg(long, env = "ISOLATED_VPC", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    isolated_vpc: bool,
    /// AWS: the SQS interruption queue's name.
    #[arg(long, env = "INTERRUPTION_QUEUE", default_value = "")]
    interruption_queue: String,
    /// AWS: ENIs left out of the max-pods computation.
    #[arg(long, env = "RESERVED_ENIS", default_value_t = 0)]
    reserved_enis: i64,
    /// AWS: memory held back from each type's capacity, as a fraction.
    #[arg(long, env = "VM_MEMORY_OVERHEAD_PERCENT", default_value_t = 0.075)]
    vm_memory_overhead_percent: f64,
    /// AWS: how often AMIs are resolved again (Go duration).
    #[arg(long, env = "AMI_REFRESH_INTERVAL", default_value = "1m")]
    ami_refresh_interval: String,
    /// AWS: how often subnets are resolved again (Go duration).
    #[arg(long, env = "SUBNET_REFRESH_INTERVAL", default_value = "1m")]
    subnet_refresh_interval: String,
    /// AWS: the cluster DNS address kubelets use (default: the kube-dns Service's IP).
    #[arg(long, env = "CLUSTER_DNS", default_value = "")]
    cluster_dns: String,
}

fn duration(flag: &str, text: &str) -> anyhow::Result<Time> {
    let d = Duration::parse(text)
        .with_context(|| format!("{flag}: {text:?} is not a duration (e.g. 1s, 10s, 1m)"))?;
    Ok(d.as_nanos() / 1_000_000)
}

/// The checked settings of `args`.
pub fn settings(args: &ControllerArgs) -> anyhow::Result<karpenter_kube::Settings> {
    let batch_idle = duration("BATCH_IDLE_DURATION", &args.batch_idle_duration)?;
    let batch_max = duration("BATCH_MAX_DURATION", &args.batch_max_duration)?;
    if batch_idle <= 0 || batch_max < batch_idle {
        bail!(
            "BATCH_IDLE_DURATION ({}) must be positive and at most BATCH_MAX_DURATION ({})",
            args.batch_idle_duration,
            args.batch_max_duration
        );
    }
    let gates = crate::disruption_cmd::feature_gates(Some(&args.feature_gates))
        .map_err(|e| anyhow::anyhow!("FEATURE_GATES: {e}"))?;
    let Some(level) = karpenter_kube::log::Level::parse(&args.log_level) else {
        bail!(
            "LOG_LEVEL: {:?} is not one of debug, info, warn, error",
            args.log_level
        );
    };
    karpenter_kube::log::set_level(level);
    if args.kube_client_qps == 0 || args.kube_client_burst == 0 {
        bail!("KUBE_CLIENT_QPS and KUBE_CLIENT_BURST must be positive");
    }
    let launch_delay = duration("KWOK_LAUNCH_DELAY", &args.kwok_launch_delay)?;
    let namespace = args
        .leader_election_namespace
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .unwrap_or_else(|| "kube-system".into());
    Ok(karpenter_kube::Settings {
        kubeconfig: args.kubeconfig.clone(),
        cluster_name: args.cluster_name.clone(),
        batch_idle,
        batch_max,
        provision_untried: args.provision_untried_pods,
        spot_to_spot: gates
            .get("SpotToSpotConsolidation")
            .copied()
            .unwrap_or(false),
        options: Options {
            preference_policy: match args.preference_policy {
                Preference::Respect => PreferencePolicy::Respect,
                Preference::Ignore => PreferencePolicy::Ignore,
            },
            min_values_policy: match args.min_values_policy {
                MinValues::Strict => MinValuesPolicy::Strict,
                MinValues::BestEffort => MinValuesPolicy::BestEffort,
            },
        },
        kube_qps: args.kube_client_qps,
        kube_burst: args.kube_client_burst,
        metrics_port: args.metrics_port,
        health_port: args.health_probe_port,
        leader_election: !args.disable_leader_election,
        lease_name: args.leader_election_name.clone(),
        lease_namespace: namespace.trim().to_string(),
        catalog: args.catalog.clone(),
        kwok: KwokOptions {
            insufficient_capacity: args
                .kwok_insufficient_capacity
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            launch_delay: StdDuration::from_millis(u64::try_from(launch_delay).unwrap_or(0)),
        },
        nodeclass_status: args.cloud_provider == CloudProviderKind::Aws,
    })
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The AWS provider's settings.
#[cfg(feature = "aws")]
fn aws_options(args: &ControllerArgs) -> anyhow::Result<karpenter_aws::AwsOptions> {
    if args.cluster_name.is_empty() {
        bail!("CLUSTER_NAME is required with the aws cloud provider");
    }
    if !(0.0..1.0).contains(&args.vm_memory_overhead_percent) {
        bail!(
            "VM_MEMORY_OVERHEAD_PERCENT: {} is not a fraction in [0, 1)",
            args.vm_memory_overhead_percent
        );
    }
    if args.reserved_enis < 0 {
        bail!("RESERVED_ENIS: {} is negative", args.reserved_enis);
    }
    Ok(karpenter_aws::AwsOptions {
        cluster_name: args.cluster_name.clone(),
        cluster_endpoint: non_empty(&args.cluster_endpoint),
        cluster_ca_bundle: non_empty(&args.cluster_ca_bundle),
        cluster_dns: non_empty(&args.cluster_dns),
        isolated_vpc: args.isolated_vpc,
        interruption_queue: non_empty(&args.interruption_queue),
        reserved_enis: args.reserved_enis,
        vm_memory_overhead_percent: args.vm_memory_overhead_percent,
        ami_refresh: duration("AMI_REFRESH_INTERVAL", &args.ami_refresh_interval)?,
        subnet_refresh: duration("SUBNET_REFRESH_INTERVAL", &args.subnet_refresh_interval)?,
    })
}

#[cfg(feature = "aws")]
fn run_aws(
    args: &ControllerArgs,
    settings: karpenter_kube::Settings,
) -> Result<(), karpenter_kube::RunError> {
    use karpenter_controllers::Clock;
    let options =
        aws_options(args).map_err(|e| karpenter_kube::RunError::Provider(format!("{e:#}")))?;
    karpenter_kube::run_with(settings, move |ctx| {
        karpenter_aws::AwsCloud::start(
            ctx.client.clone(),
            ctx.handle,
            ctx.cache.clone(),
            options,
            karpenter_controllers::SystemClock.now(),
        )
        .map_err(karpenter_kube::RunError::Provider)
    })
}

#[cfg(not(feature = "aws"))]
fn run_aws(
    args: &ControllerArgs,
    _settings: karpenter_kube::Settings,
) -> Result<(), karpenter_kube::RunError> {
    let _ = (non_empty(&args.cluster_endpoint), args.isolated_vpc);
    Err(karpenter_kube::RunError::Provider(
        "this build has no AWS provider: build with `cargo build --release -p karpenter --features aws`".into(),
    ))
}

/// Run the controller; a bad setting or a failed start is an error (exit status 1).
pub fn run_cmd(args: ControllerArgs) -> anyhow::Result<ExitCode> {
    let settings = match settings(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let result = match args.cloud_provider {
        CloudProviderKind::Kwok => karpenter_kube::run(settings),
        CloudProviderKind::Aws => run_aws(&args, settings),
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
