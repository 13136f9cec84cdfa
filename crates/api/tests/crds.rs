//! The generated CRDs: in sync with the checked-in chart copies, and carrying upstream's
//! names, columns, defaults and CEL rules.

use std::path::PathBuf;

use karpenter_api::{cel, crds};
use serde_json::Value;

fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../charts/karpenter/crds")
}

fn generated() -> Vec<crds::GeneratedCrd> {
    match crds::all() {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn crd(file: &str) -> Value {
    let all = generated();
    let Some(c) = all.iter().find(|c| c.file_name == file) else {
        panic!("no CRD {file}");
    };
    match yaml_serde::from_str(&c.yaml) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    match v.pointer(pointer) {
        Some(x) => x,
        None => panic!("no {pointer}"),
    }
}

const SCHEMA: &str = "/spec/versions/0/schema/openAPIV3Schema/properties";

#[test]
fn checked_in_crds_match_the_code() {
    let dir = chart_dir();
    let mut expected_files: Vec<String> = generated().iter().map(|c| c.file_name.clone()).collect();
    for c in generated() {
        let path = dir.join(&c.file_name);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == c.yaml,
            "{} is out of date; regenerate with `cargo run -p karpenter -- crds --output-dir charts/karpenter/crds`",
            path.display()
        );
    }
    let mut on_disk: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    on_disk.sort();
    expected_files.sort();
    assert_eq!(
        on_disk, expected_files,
        "stray or missing files in charts/karpenter/crds"
    );
}

#[test]
fn names_scope_and_subresources_match_upstream() {
    let np = crd("karpenter.sh_nodepools.yaml");
    assert_eq!(at(&np, "/metadata/name"), "nodepools.karpenter.sh");
    assert_eq!(at(&np, "/spec/scope"), "Cluster");
    assert_eq!(at(&np, "/spec/names/listKind"), "NodePoolList");
    assert_eq!(at(&np, "/spec/names/categories/0"), "karpenter");
    assert_eq!(at(&np, "/spec/versions/0/name"), "v1");
    assert!(np.pointer("/spec/versions/0/subresources/status").is_some());
    assert_eq!(
        at(&np, "/spec/versions/0/subresources/scale/specReplicasPath"),
        ".spec.replicas"
    );

    let nc = crd("karpenter.sh_nodeclaims.yaml");
    assert_eq!(at(&nc, "/metadata/name"), "nodeclaims.karpenter.sh");
    assert!(nc.pointer("/spec/versions/0/subresources/status").is_some());

    let class = crd("karpenter.k8s.aws_ec2nodeclasses.yaml");
    assert_eq!(
        at(&class, "/metadata/name"),
        "ec2nodeclasses.karpenter.k8s.aws"
    );
    assert_eq!(
        at(&class, "/spec/names/shortNames"),
        &serde_json::json!(["ec2nc", "ec2ncs"])
    );
}

#[test]
fn print_columns_match_upstream() {
    let columns = |file: &str| -> Vec<String> {
        let c = crd(file);
        at(&c, "/spec/versions/0/additionalPrinterColumns")
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c["name"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        columns("karpenter.sh_nodepools.yaml"),
        [
            "NodeClass",
            "Nodes",
            "Ready",
            "Age",
            "Weight",
            "CPU",
            "Memory"
        ]
    );
    assert_eq!(
        columns("karpenter.sh_nodeclaims.yaml"),
        [
            "Type",
            "Capacity",
            "Zone",
            "Node",
            "Ready",
            "Age",
            "ImageID",
            "ID",
            "NodePool",
            "NodeClass",
            "Drifted"
        ]
    );
    assert_eq!(
        columns("karpenter.k8s.aws_ec2nodeclasses.yaml"),
        ["Ready", "Age", "Role"]
    );
}

#[test]
fn defaults_match_upstream() {
    let np = crd("karpenter.sh_nodepools.yaml");
    let spec = format!("{SCHEMA}/spec/properties");
    assert_eq!(
        at(&np, &format!("{spec}/disruption/default")),
        &serde_json::json!({"consolidateAfter": "0s"})
    );
    assert_eq!(
        at(
            &np,
            &format!("{spec}/disruption/properties/consolidationPolicy/default")
        ),
        "WhenEmptyOrUnderutilized"
    );
    assert_eq!(
        at(
            &np,
            &format!("{spec}/disruption/properties/budgets/default")
        ),
        &serde_json::json!([{"nodes": "10%"}])
    );
    assert_eq!(
        at(
            &np,
            &format!("{spec}/template/properties/spec/properties/expireAfter/default")
        ),
        "720h"
    );
    assert_eq!(at(&np, &format!("{spec}/weight/minimum")), 1);
    assert_eq!(at(&np, &format!("{spec}/weight/maximum")), 100);

    let class = crd("karpenter.k8s.aws_ec2nodeclasses.yaml");
    assert_eq!(
        at(
            &class,
            &format!("{SCHEMA}/spec/properties/metadataOptions/default")
        ),
        &serde_json::json!({"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"})
    );
}

fn rule_messages(v: &Value) -> Vec<String> {
    v.get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r["message"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn cel_rules_are_where_upstream_has_them() {
    let np = crd("karpenter.sh_nodepools.yaml");
    let key = at(
        &np,
        &format!(
            "{SCHEMA}/spec/properties/template/properties/spec/properties/requirements/items/properties/key"
        ),
    );
    assert!(
        rule_messages(key).contains(&r#"label "karpenter.sh/nodepool" is restricted"#.to_string())
    );
    let reqs = at(
        &np,
        &format!("{SCHEMA}/spec/properties/template/properties/spec/properties/requirements"),
    );
    assert_eq!(rule_messages(reqs).len(), cel::REQUIREMENTS.len());
    let labels = at(
        &np,
        &format!("{SCHEMA}/spec/properties/template/properties/metadata/properties/labels"),
    );
    assert_eq!(rule_messages(labels).len(), cel::NODEPOOL_LABELS.len());
    assert_eq!(at(labels, "/additionalProperties/maxLength"), 63);

    // NodeClaims carry the nodepool label as a requirement: it must not be restricted there
    let nc = crd("karpenter.sh_nodeclaims.yaml");
    let key = at(
        &nc,
        &format!("{SCHEMA}/spec/properties/requirements/items/properties/key"),
    );
    assert!(
        !rule_messages(key).contains(&r#"label "karpenter.sh/nodepool" is restricted"#.to_string())
    );
    assert!(
        rule_messages(at(&nc, &format!("{SCHEMA}/spec")))
            .contains(&"spec is immutable".to_string())
    );

    let class = crd("karpenter.k8s.aws_ec2nodeclasses.yaml");
    let spec = at(&class, &format!("{SCHEMA}/spec"));
    assert!(
        rule_messages(spec)
            .contains(&"must specify exactly one of ['role', 'instanceProfile']".to_string())
    );
    assert_eq!(
        rule_messages(at(spec, "/properties/amiSelectorTerms")).len(),
        cel::AMI_TERMS.len()
    );
}

#[test]
fn aws_requirement_allow_list_is_the_well_known_set() {
    // the CEL rules' allow-lists (labels and requirements) and the Rust constant must name
    // the same keys
    for rules in [cel::NODEPOOL_REQUIREMENT_KEY, cel::NODEPOOL_LABELS] {
        let rule = rules
            .iter()
            .find(|(_, m)| m.contains("karpenter.k8s.aws"))
            .map(|(r, _)| *r)
            .unwrap_or("");
        let mut in_rule: Vec<&str> = rule
            .split('"')
            .filter(|s| s.starts_with("karpenter.k8s.aws/"))
            .collect();
        // upstream v1.14.1's CRD rules leave out nitro-sandbox (a label its code still sets)
        let mut known: Vec<&str> = karpenter_model::wellknown::aws_labels::WELL_KNOWN
            .iter()
            .copied()
            .filter(|k| {
                k.starts_with("karpenter.k8s.aws/") && *k != "karpenter.k8s.aws/nitro-sandbox"
            })
            .collect();
        in_rule.sort();
        in_rule.dedup();
        known.sort();
        assert_eq!(in_rule, known);
    }
}

#[test]
fn every_schema_pattern_compiles() {
    fn walk(v: &Value, count: &mut usize) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(p)) = m.get("pattern") {
                    assert!(regex::Regex::new(p).is_ok(), "bad pattern {p}");
                    *count += 1;
                }
                m.values().for_each(|x| walk(x, count));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, count)),
            _ => {}
        }
    }
    let mut count = 0;
    for c in generated() {
        let v: Value = match yaml_serde::from_str(&c.yaml) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        walk(&v, &mut count);
    }
    assert!(count > 30, "expected many patterns, found {count}");
}
