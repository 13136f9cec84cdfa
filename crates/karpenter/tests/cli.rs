//! The `karpenter` binary end to end: exit codes and what it prints.

use std::process::{Command, Output};

fn karpenter(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output();
    match out {
        Ok(o) => o,
        Err(e) => panic!("running karpenter: {e}"),
    }
}

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
