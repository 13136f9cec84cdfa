//! The `karpenter` binary end to end: exit codes and what it prints.

mod common;

use std::process::Output;

use common::karpenter;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn crds_prints_the_three_crds() {
    let out = karpenter(&["crds"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    for name in [
        "nodepools.karpenter.sh",
        "nodeclaims.karpenter.sh",
        "ec2nodeclasses.karpenter.k8s.aws",
    ] {
        assert!(stdout.contains(&format!("name: {name}")), "missing {name}");
    }
    assert_eq!(stdout.matches("kind: CustomResourceDefinition").count(), 3);
}

#[test]
fn validate_accepts_the_examples() {
    let out = karpenter(&["validate", "-f", "examples/manifests"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("3 object(s): 1 EC2NodeClass, 2 NodePool"),
        "{stdout}"
    );
    assert!(stdout.contains("all valid"));
}

#[test]
fn validate_reports_each_problem_and_fails() {
    let dir = std::env::temp_dir().join(format!("karpenter-cli-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("bad.yaml");
    let bad = "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: default}\nspec:\n  weight: 0\n  template:\n    spec:\n      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n      requirements:\n        - {key: a, operator: In, values: [x]}\n        - {key: b, operator: In, values: [y]}\n        - {key: karpenter.k8s.aws/instance-cpu, operator: Gt, values: [\"4\", \"8\"]}\n";
    if let Err(e) = std::fs::write(&file, bad) {
        panic!("{e}");
    }
    let out = karpenter(&["validate", "-f", &file.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(r#"NodePool "default": spec.template.spec.requirements[2]: operator Gt needs exactly one non-negative integer value"#),
        "{stderr}"
    );
    assert!(
        stderr.contains(r#"NodePool "default": spec.weight: must be between 1 and 100, got 0"#),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("2 problem(s)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_input_fails_with_the_path() {
    let out = karpenter(&["validate", "-f", "does/not/exist.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("does/not/exist.yaml"));
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("karpenter-cli-{name}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

#[test]
fn catalog_filters_and_lists_allocatable() {
    let out = karpenter(&[
        "catalog",
        "--filter",
        "karpenter.k8s.aws/instance-family In m5",
        "--filter",
        "karpenter.k8s.aws/instance-cpu Lte 4",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let m5_xlarge = stdout
        .lines()
        .find(|l| l.starts_with("m5.xlarge "))
        .unwrap_or_default()
        .to_string();
    // allocatable of upstream's worked example: 3920m CPU, 14162Mi (13.8Gi), 58 pods
    for cell in ["amd64", "3920m", "13.8Gi", "58"] {
        assert!(
            m5_xlarge.split_whitespace().any(|c| c == cell),
            "{cell} missing in {m5_xlarge:?}"
        );
    }
    assert!(
        stdout.contains("2 instance types in 1 families"),
        "{stdout}"
    );
}

#[test]
fn catalog_json_is_stable_and_complete() {
    let args = [
        "catalog",
        "--output",
        "json",
        "--filter",
        "node.kubernetes.io/instance-type In g4dn.xlarge",
    ];
    let out = karpenter(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        out.stdout,
        karpenter(&args).stdout,
        "same input, same bytes"
    );
    let v: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(v[0]["name"], "g4dn.xlarge");
    assert_eq!(v[0]["capacity"]["nvidia.com/gpu"], "1");
    assert_eq!(v[0]["labels"]["karpenter.k8s.aws/instance-gpu-name"], "t4");
    assert_eq!(v[0]["cheapest"]["capacityType"], "spot");
}

#[test]
fn exported_catalog_behaves_like_the_builtin_one() {
    let dir = temp("export");
    let file = dir.join("catalog.json");
    let filter = "karpenter.k8s.aws/instance-category In c,m";
    let builtin = karpenter(&[
        "catalog",
        "--filter",
        filter,
        "--export",
        &file.to_string_lossy(),
    ]);
    assert!(builtin.status.success(), "{}", text(&builtin.stderr));
    let exported = karpenter(&["catalog", "--catalog", &file.to_string_lossy()]);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let body = |o: &Output| {
        text(&o.stdout)
            .lines()
            .filter(|l| !l.contains(" from "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&builtin), body(&exported));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn catalog_uses_the_nodeclass_kubelet_settings() {
    let dir = temp("nodeclass");
    let file = dir.join("class.yaml");
    let class = "apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: c}\nspec:\n  role: r\n  amiSelectorTerms: [{alias: bottlerocket@latest}]\n  subnetSelectorTerms: [{tags: {a: b}}]\n  securityGroupSelectorTerms: [{tags: {a: b}}]\n  kubelet: {maxPods: 110}\n";
    if let Err(e) = std::fs::write(&file, class) {
        panic!("{e}");
    }
    let out = karpenter(&[
        "catalog",
        "--nodeclass",
        &file.to_string_lossy(),
        "--output",
        "json",
        "--filter",
        "node.kubernetes.io/instance-type In m5.xlarge",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(v[0]["capacity"]["pods"], "110");
    // Bottlerocket counts the real max pods: 11Mi x 110 + 255Mi = 1465Mi kube-reserved
    assert_eq!(v[0]["allocatable"]["memory"], "13590Mi");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn catalog_rejects_bad_filters_and_regions() {
    let out = karpenter(&[
        "catalog",
        "--filter",
        "karpenter.k8s.aws/instance-cpu Gt many",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid requirement"),
        "{}",
        text(&out.stderr)
    );
    let out = karpenter(&["catalog", "--region", "mars-north-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no built-in catalog for region \"mars-north-1\""));
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::process::{Command, Stdio};
    // as `karpenter catalog | head -1`: the reader goes away after the first bytes
    for args in [&["catalog"][..], &["crds"][..]] {
        let mut child = match Command::new(env!("CARGO_BIN_EXE_karpenter"))
            .args(args)
            .current_dir(common::root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => panic!("running karpenter: {e}"),
        };
        drop(child.stdout.take());
        let out = match child.wait_with_output() {
            Ok(o) => o,
            Err(e) => panic!("waiting: {e}"),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?} printed to stderr: {stderr}");
    }
}
