//! User data per AMI family, as upstream's AMI families generate it: what a node needs to
//! join the cluster (endpoint, CA, cluster DNS, labels, taints, max pods, kubelet reserved
//! resources and eviction thresholds), merged with the EC2NodeClass's own `userData`.
//! AL2023 and AL2 are MIME multipart, Bottlerocket is TOML, Windows is PowerShell, Custom is
//! passed through untouched.

mod al2;
mod al2023;
mod bottlerocket;
mod mime;
mod windows;

use std::collections::BTreeMap;

use karpenter_api::ec2nodeclass::AMIFamily;
use karpenter_model::Taint;

/// What every family's bootstrap needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bootstrap {
    /// `CLUSTER_NAME`.
    pub cluster_name: String,
    /// The API server endpoint (`CLUSTER_ENDPOINT` or DescribeCluster).
    pub endpoint: String,
    /// The cluster CA bundle, base64 (`CLUSTER_CA_BUNDLE` or DescribeCluster).
    pub ca_bundle: Option<String>,
    /// The service CIDR (AL2023's NodeConfig needs it).
    pub service_cidr: Option<String>,
    /// kubelet `clusterDNS` (the first entry is used where a family takes one).
    pub cluster_dns: Vec<String>,
    /// Node labels to register with.
    pub labels: BTreeMap<String, String>,
    /// Taints (and startup taints) to register with.
    pub taints: Vec<Taint>,
    /// kubelet `maxPods`.
    pub max_pods: Option<i64>,
    /// kubelet `kubeReserved`.
    pub kube_reserved: BTreeMap<String, String>,
    /// kubelet `systemReserved`.
    pub system_reserved: BTreeMap<String, String>,
    /// kubelet `evictionHard`.
    pub eviction_hard: BTreeMap<String, String>,
    /// kubelet `evictionSoft`.
    pub eviction_soft: BTreeMap<String, String>,
    /// kubelet `podsPerCore`.
    pub pods_per_core: Option<i64>,
    /// The EC2NodeClass's `userData`.
    pub user_data: Option<String>,
}

/// User data that cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserDataError {
    /// Bottlerocket user data is not TOML.
    #[error("userData is not valid TOML for Bottlerocket: {0}")]
    Toml(String),
    /// A MIME document without a boundary, or a part without headers.
    #[error("userData is not a valid MIME multipart document: {0}")]
    Mime(String),
}

/// The user data (not yet base64) for `family`.
pub fn render(family: AMIFamily, b: &Bootstrap) -> Result<String, UserDataError> {
    match family {
        AMIFamily::AL2023 => al2023::render(b),
        AMIFamily::AL2 => al2::render(b),
        AMIFamily::Bottlerocket => bottlerocket::render(b),
        AMIFamily::Windows2019 | AMIFamily::Windows2022 | AMIFamily::Windows2025 => {
            Ok(windows::render(b))
        }
        AMIFamily::Custom => Ok(b.user_data.clone().unwrap_or_default()),
    }
}

/// `k=v,k=v` of the labels, in key order.
fn label_flag(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `k=v:Effect,...` of the taints, in their order.
fn taint_flag(taints: &[Taint]) -> String {
    taints
        .iter()
        .map(|t| format!("{}={}:{}", t.key, t.value, t.effect.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// kubelet command-line flags for families bootstrapped with extra args (AL2, Windows).
fn kubelet_args(b: &Bootstrap) -> String {
    let mut args = Vec::new();
    if !b.labels.is_empty() {
        args.push(format!("--node-labels=\"{}\"", label_flag(&b.labels)));
    }
    if !b.taints.is_empty() {
        args.push(format!(
            "--register-with-taints=\"{}\"",
            taint_flag(&b.taints)
        ));
    }
    if let Some(m) = b.max_pods {
        args.push(format!("--max-pods={m}"));
    }
    if let Some(p) = b.pods_per_core {
        args.push(format!("--pods-per-core={p}"));
    }
    let map = |m: &BTreeMap<String, String>, sep: &str| {
        m.iter()
            .map(|(k, v)| format!("{k}{sep}{v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    if !b.system_reserved.is_empty() {
        args.push(format!(
            "--system-reserved=\"{}\"",
            map(&b.system_reserved, "=")
        ));
    }
    if !b.kube_reserved.is_empty() {
        args.push(format!(
            "--kube-reserved=\"{}\"",
            map(&b.kube_reserved, "=")
        ));
    }
    if !b.eviction_hard.is_empty() {
        args.push(format!(
            "--eviction-hard=\"{}\"",
            map(&b.eviction_hard, "<")
        ));
    }
    if !b.eviction_soft.is_empty() {
        args.push(format!(
            "--eviction-soft=\"{}\"",
            map(&b.eviction_soft, "<")
        ));
    }
    args.join(" ")
}
