//! Architecture rules read from `cargo metadata`: the pure decision crates pull in no async
//! runtime, no Kubernetes client, no AWS SDK and no HTTP stack, so they stay deterministic and
//! cheap to build.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Crates that must stay pure; those not created yet are skipped, `model` must exist.
const PURE: &[&str] = &[
    "karpenter-model",
    "karpenter-catalog",
    "karpenter-scheduling",
    "karpenter-disruption",
];

/// Crate names (or prefixes ending in `-`) the pure crates must never depend on.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "async-std",
    "kube",
    "kube-client",
    "kube-runtime",
    "hyper",
    "hyper-util",
    "reqwest",
    "http",
    "h2",
    "tower",
    "rustls",
    "aws-config",
    "aws-sdk-",
    "aws-smithy-",
];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => panic!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cargo metadata: {e}"),
    };
    match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!("cargo metadata output: {e}"),
    }
}

/// Package id -> (name, ids of its normal (non-dev, non-build) dependencies).
fn graph(meta: &Value) -> BTreeMap<String, (String, Vec<String>)> {
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut g = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(id) = node["id"].as_str() else {
            continue;
        };
        let deps = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| k["kind"].is_null())
            })
            .filter_map(|d| d["pkg"].as_str().map(str::to_string))
            .collect();
        g.insert(
            id.to_string(),
            (names.get(id).copied().unwrap_or("").to_string(), deps),
        );
    }
    g
}

fn closure(g: &BTreeMap<String, (String, Vec<String>)>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.to_string()];
    while let Some(id) = stack.pop() {
        if let Some((name, deps)) = g.get(&id)
            && seen.insert(name.clone())
        {
            stack.extend(deps.iter().cloned());
        }
    }
    seen
}

fn is_forbidden(name: &str) -> bool {
    FORBIDDEN.iter().any(|f| {
        if f.ends_with('-') {
            name.starts_with(f)
        } else {
            name == *f
        }
    })
}

#[test]
fn pure_crates_pull_in_no_runtime_client_sdk_or_http() {
    let meta = metadata();
    let g = graph(&meta);
    let mut checked = Vec::new();
    for pure in PURE {
        let Some(id) = g
            .iter()
            .find(|(_, (n, _))| n == pure)
            .map(|(id, _)| id.clone())
        else {
            continue;
        };
        let deps = closure(&g, &id);
        let bad: Vec<&String> = deps.iter().filter(|d| is_forbidden(d)).collect();
        assert!(bad.is_empty(), "{pure} depends on {bad:?}");
        checked.push(*pure);
    }
    assert!(
        checked.contains(&"karpenter-model"),
        "karpenter-model must exist"
    );
}

#[test]
fn the_check_would_catch_a_forbidden_dependency() {
    // the api crate uses kube-core (no client); the binary will link clients later. The
    // walker must see through to transitive crates: serde_json is reachable from the binary.
    let meta = metadata();
    let g = graph(&meta);
    let Some(id) = g
        .iter()
        .find(|(_, (n, _))| n == "karpenter")
        .map(|(id, _)| id.clone())
    else {
        panic!("no karpenter package");
    };
    let deps = closure(&g, &id);
    assert!(deps.contains("serde_json"));
    assert!(deps.contains("karpenter-model"));
    assert!(is_forbidden("tokio") && is_forbidden("aws-sdk-ec2") && !is_forbidden("kube-core"));
}

#[test]
fn the_default_binary_builds_without_the_aws_sdk() {
    // `karpenter simulate` (the README's main job) must not compile the AWS SDK: the AWS
    // provider comes only with `--features aws`
    let meta = metadata();
    let g = graph(&meta);
    let Some(id) = g
        .iter()
        .find(|(_, (n, _))| n == "karpenter")
        .map(|(id, _)| id.clone())
    else {
        panic!("no karpenter package");
    };
    let deps = closure(&g, &id);
    let sdk: Vec<&String> = deps
        .iter()
        .filter(|d| d.starts_with("aws-sdk-") || *d == "karpenter-aws")
        .collect();
    assert!(sdk.is_empty(), "the default binary links {sdk:?}");
    // while the provider crate itself does use it
    let Some(aws) = g
        .iter()
        .find(|(_, (n, _))| n == "karpenter-aws")
        .map(|(id, _)| id.clone())
    else {
        panic!("no karpenter-aws package");
    };
    assert!(closure(&g, &aws).contains("aws-sdk-ec2"));
}
