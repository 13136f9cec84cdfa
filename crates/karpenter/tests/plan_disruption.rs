//! `karpenter plan --disruption` end to end on `examples/disruption/cluster.yaml`: the
//! documented JSON shape, one command per method with the node that shows it, every node
//! left alone with its rule, budgets, savings that add up, `--now`, feature gates, and
//! clear errors for bad flags and manifests.

mod common;

use std::process::Output;

use common::karpenter;

use serde_json::Value;

const NOW: &str = "2026-11-28T12:00:00Z";

/// `plan --disruption` on the example cluster with `extra` arguments.
fn run(extra: &[&str]) -> Output {
    let mut args = vec![
        "plan",
        "--disruption",
        "-f",
        "examples/disruption/cluster.yaml",
    ];
    args.extend_from_slice(extra);
    karpenter(&args)
}

fn decide(extra: &[&str]) -> Value {
    let mut args = vec!["-o", "json"];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!("not JSON: {e}"),
    }
}

fn command<'a>(d: &'a Value, method: &str) -> Option<&'a Value> {
    d["commands"]
        .as_array()?
        .iter()
        .find(|c| c["method"] == method)
}

fn blocked(d: &Value, node: &str) -> String {
    d["blocked"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["node"] == node)
        .and_then(|b| b["reason"].as_str())
        .unwrap_or("")
        .to_string()
}

fn candidates(c: Option<&Value>) -> Vec<String> {
    c.and_then(|c| c["candidates"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

#[test]
fn one_loop_on_the_example_cluster() {
    let d = decide(&["--now", NOW]);
    for key in ["commands", "blocked", "budgets"] {
        assert!(d[key].is_array(), "{key} missing");
    }
    for c in d["commands"].as_array().into_iter().flatten() {
        for key in [
            "method",
            "reason",
            "candidates",
            "replacements",
            "savingsPerHour",
        ] {
            assert!(!c[key].is_null(), "command without {key}: {c}");
        }
        for r in c["replacements"].as_array().into_iter().flatten() {
            for key in [
                "nodePool",
                "instanceTypes",
                "requirements",
                "labels",
                "pods",
                "price",
            ] {
                assert!(!r[key].is_null(), "replacement without {key}: {r}");
            }
        }
        assert!(c["savingsPerHour"].as_f64().unwrap_or(0.0) > 0.0, "{c}");
    }
    assert_eq!(candidates(command(&d, "expiration")), ["general-old"]);
    assert_eq!(
        command(&d, "expiration").map(|c| c["reason"].clone()),
        Some("Expired".into())
    );
    assert_eq!(candidates(command(&d, "emptiness")), ["general-empty"]);
    let drift = command(&d, "drift");
    assert_eq!(candidates(drift), ["general-ami"]);
    assert!(
        drift
            .map(|c| c["message"].to_string())
            .unwrap_or_default()
            .contains("AMIDrift")
    );
    let consolidated: Vec<String> = ["single-node-consolidation", "multi-node-consolidation"]
        .iter()
        .flat_map(|m| candidates(command(&d, m)))
        .collect();
    assert_eq!(consolidated, ["general-under"]);
    assert!(blocked(&d, "general-dnd").contains("do-not-disrupt"));
    assert!(blocked(&d, "general-pdb").contains("PodDisruptionBudget app/db"));
    assert!(blocked(&d, "general-young").contains("consolidateAfter"));
    assert!(blocked(&d, "batch-empty").contains("budget"));
    assert!(blocked(&d, "general-unknown").contains("x9.mega"));
    let budget = |pool: &str, reason: &str| {
        d["budgets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["nodePool"] == pool && b["reason"] == reason)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(budget("batch", "Empty")["allowed"], 0);
    // 50 % of 8 general nodes; three graceful commands (expiration does not count)
    assert_eq!(budget("general", "Underutilized")["allowed"], 4);
    assert_eq!(budget("general", "Underutilized")["disrupting"], 3);
}

#[test]
fn savings_are_the_candidates_prices_when_nothing_replaces_them() {
    let d = decide(&["--now", NOW]);
    let path = std::env::temp_dir().join(format!("m5-{}.json", std::process::id()));
    let export = path.to_string_lossy().to_string();
    let out = karpenter(&[
        "catalog",
        "--filter",
        "node.kubernetes.io/instance-type In m5.large",
        "--export",
        &export,
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    let types: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let on_demand = |name: &str| -> f64 {
        types["instanceTypes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == name)
            .and_then(|t| t["offerings"].as_array())
            .into_iter()
            .flatten()
            .find(|o| o["zone"] == "us-east-1a" && o["capacityType"] == "on-demand")
            .and_then(|o| o["price"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let empty = command(&d, "emptiness").and_then(|c| c["savingsPerHour"].as_f64());
    let price = on_demand("m5.large");
    assert!(price.is_finite(), "no m5.large price in the catalog JSON");
    assert!(
        (empty.unwrap_or(0.0) - price).abs() < 1e-6,
        "{empty:?} vs {price}"
    );
}

#[test]
fn now_moves_the_clock() {
    // two minutes after the last pod events: consolidation waits for consolidateAfter
    let d = decide(&["--now", "2026-11-21T00:02:00Z"]);
    assert!(blocked(&d, "general-under").contains("consolidateAfter"));
    assert!(
        command(&d, "expiration").is_none(),
        "general-old expires on the 24th"
    );
    // a day later the underused nodes may go, and still nothing expires
    let d = decide(&["--now", "2026-11-22T00:00:00Z"]);
    assert!(command(&d, "expiration").is_none());
    assert!(blocked(&d, "general-under").is_empty());
    assert!(
        candidates(command(&d, "multi-node-consolidation")).contains(&"general-under".to_string())
    );
    assert_eq!(
        decide(&["--now", NOW]),
        decide(&["--now", NOW]),
        "deterministic"
    );
}

#[test]
fn feature_gates_and_bad_input() {
    let on = decide(&[
        "--now",
        NOW,
        "--feature-gates",
        "SpotToSpotConsolidation=true",
    ]);
    assert!(on["commands"].is_array());
    let out = run(&["--feature-gates", "Teleport=true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown gate \"Teleport\""));
    let out = run(&["--now", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--now"));
    let out = karpenter(&[
        "plan",
        "-f",
        "examples/disruption/cluster.yaml",
        "--now",
        NOW,
    ]);
    assert!(
        !out.status.success(),
        "--now without --disruption is refused"
    );
}

#[test]
fn table_for_people() {
    let out = run(&["--now", NOW]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "emptiness",
        "general-empty",
        "left alone: 5 node(s)",
        "NODEPOOL",
        "saves $",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}
