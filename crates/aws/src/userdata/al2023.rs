//! AL2023: Karpenter's `NodeConfig` (nodeadm) as the first part of a MIME multipart
//! document, the user's NodeConfig, shell or MIME parts after it. nodeadm merges the
//! NodeConfigs; cluster details, labels, taints and kubelet fields come from ours.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::mime::{self, Part};
use super::{Bootstrap, UserDataError, label_flag, taint_flag};

/// The content type nodeadm reads.
pub const NODECONFIG: &str = "application/node.eks.aws";

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// Karpenter's NodeConfig, as YAML.
pub fn node_config(b: &Bootstrap) -> String {
    let mut cluster = Map::new();
    cluster.insert("apiServerEndpoint".into(), json!(b.endpoint));
    if let Some(ca) = &b.ca_bundle {
        cluster.insert("certificateAuthority".into(), json!(ca));
    }
    if let Some(cidr) = &b.service_cidr {
        cluster.insert("cidr".into(), json!(cidr));
    }
    cluster.insert("name".into(), json!(b.cluster_name));
    let mut config = Map::new();
    if !b.cluster_dns.is_empty() {
        config.insert("clusterDNS".into(), json!(b.cluster_dns));
    }
    if let Some(m) = b.max_pods {
        config.insert("maxPods".into(), json!(m));
    }
    if let Some(p) = b.pods_per_core {
        config.insert("podsPerCore".into(), json!(p));
    }
    for (key, m) in [
        ("kubeReserved", &b.kube_reserved),
        ("systemReserved", &b.system_reserved),
        ("evictionHard", &b.eviction_hard),
        ("evictionSoft", &b.eviction_soft),
    ] {
        if !m.is_empty() {
            config.insert(key.into(), string_map(m));
        }
    }
    let mut flags = Vec::new();
    if !b.labels.is_empty() {
        flags.push(format!("--node-labels={}", label_flag(&b.labels)));
    }
    if !b.taints.is_empty() {
        flags.push(format!("--register-with-taints={}", taint_flag(&b.taints)));
    }
    let mut kubelet = Map::new();
    kubelet.insert("config".into(), Value::Object(config));
    if !flags.is_empty() {
        kubelet.insert("flags".into(), json!(flags));
    }
    let doc = json!({
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": { "cluster": Value::Object(cluster), "kubelet": Value::Object(kubelet) },
    });
    yaml_serde::to_string(&doc).unwrap_or_default()
}

/// The user data.
pub fn render(b: &Bootstrap) -> Result<String, UserDataError> {
    let mut parts = vec![Part {
        content_type: NODECONFIG.into(),
        body: node_config(b).trim_end().to_string(),
    }];
    parts.extend(mime::user_parts(b.user_data.as_deref())?);
    Ok(mime::write(&parts))
}
