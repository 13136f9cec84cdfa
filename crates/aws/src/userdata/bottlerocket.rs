//! Bottlerocket: TOML settings. The user's TOML is kept and `settings.kubernetes` gets
//! what Karpenter sets (API server, CA, cluster name, DNS, max pods, labels, taints,
//! reserved resources, eviction thresholds), which win over the user's values.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::{Bootstrap, UserDataError};

fn table(m: &BTreeMap<String, String>) -> Value {
    Value::Table(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// The user data.
pub fn render(b: &Bootstrap) -> Result<String, UserDataError> {
    let mut doc: Table = match b.user_data.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(text) => text
            .parse::<Table>()
            .map_err(|e| UserDataError::Toml(e.to_string()))?,
        None => Table::new(),
    };
    let settings = doc
        .entry("settings")
        .or_insert_with(|| Value::Table(Table::new()));
    let Value::Table(settings) = settings else {
        return Err(UserDataError::Toml("`settings` is not a table".into()));
    };
    let k8s = settings
        .entry("kubernetes")
        .or_insert_with(|| Value::Table(Table::new()));
    let Value::Table(k8s) = k8s else {
        return Err(UserDataError::Toml(
            "`settings.kubernetes` is not a table".into(),
        ));
    };
    k8s.insert("api-server".into(), Value::String(b.endpoint.clone()));
    if let Some(ca) = &b.ca_bundle {
        k8s.insert("cluster-certificate".into(), Value::String(ca.clone()));
    }
    k8s.insert("cluster-name".into(), Value::String(b.cluster_name.clone()));
    if let Some(dns) = b.cluster_dns.first() {
        k8s.insert("cluster-dns-ip".into(), Value::String(dns.clone()));
    }
    if let Some(m) = b.max_pods {
        k8s.insert("max-pods".into(), Value::Integer(m));
    }
    if !b.labels.is_empty() {
        k8s.insert("node-labels".into(), table(&b.labels));
    }
    if !b.taints.is_empty() {
        let mut taints: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for t in &b.taints {
            taints
                .entry(t.key.clone())
                .or_default()
                .push(Value::String(format!("{}:{}", t.value, t.effect.as_str())));
        }
        k8s.insert(
            "node-taints".into(),
            Value::Table(
                taints
                    .into_iter()
                    .map(|(k, v)| (k, Value::Array(v)))
                    .collect(),
            ),
        );
    }
    for (key, m) in [
        ("kube-reserved", &b.kube_reserved),
        ("system-reserved", &b.system_reserved),
        ("eviction-hard", &b.eviction_hard),
    ] {
        if !m.is_empty() {
            k8s.insert(key.into(), table(m));
        }
    }
    toml::to_string(&doc).map_err(|e| UserDataError::Toml(e.to_string()))
}
