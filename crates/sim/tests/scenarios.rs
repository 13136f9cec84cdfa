//! Every shipped scenario (`examples/simulate/*.yaml`) runs to completion under Karpenter and
//! the Cluster Autoscaler baseline, and its invariants hold: every pod that can run is
//! bound, no node exceeds allocatable, limits hold, nothing leaks, no eviction breaks a
//! PodDisruptionBudget or touches a do-not-disrupt pod. Karpenter beats the baseline on cost
//! and p99 time to schedule, and its capacity at the end is within 10 % of a fresh plan.

use std::path::PathBuf;

use karpenter_sim::report::{comparison, summarize};
use karpenter_sim::{Outcome, Scenario, Which, build, run};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/simulate")
}

fn run_both(file: &str) -> (Scenario, Outcome, Outcome) {
    let path = examples().join(file);
    let scenario =
        Scenario::load(&path.to_string_lossy()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let built = build(&scenario).unwrap_or_else(|e| panic!("{file}: {e}"));
    let k = run(&scenario, &built, Which::Karpenter, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let ca = run(&scenario, &built, Which::ClusterAutoscaler, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    (scenario, k, ca)
}

fn check(file: &str) -> (Outcome, Outcome) {
    let (scenario, k, ca) = run_both(file);
    for o in [&k, &ca] {
        let who = o.autoscaler.name();
        assert!(
            o.violations.is_empty(),
            "{file} {who}: {:?}",
            &o.violations[..o.violations.len().min(5)]
        );
        assert!(
            o.stuck.is_empty(),
            "{file} {who}: pods stuck: {:?}",
            o.stuck
        );
        assert!(!o.waits.is_empty(), "{file} {who}: no pod was bound");
        assert_eq!(
            o.samples.last().map(|s| s.pending),
            Some(0),
            "{file} {who}: pods pending at the end"
        );
    }
    let (ks, cs) = (summarize(&k), summarize(&ca));
    let (cost, p99) = comparison(&ks, &cs);
    assert!(
        cost > 0.0,
        "{}: karpenter ${:.2} vs CA ${:.2}",
        scenario.name,
        ks.cost,
        cs.cost
    );
    assert!(
        p99 > 0.0,
        "{}: karpenter p99 {}s vs CA {}s",
        scenario.name,
        ks.p99_s,
        cs.p99_s
    );
    assert!(
        k.final_cost_per_hour <= k.fresh_cost_per_hour * 1.10 + 1e-9,
        "{}: karpenter ends at ${:.3}/h, a fresh plan costs ${:.3}/h",
        scenario.name,
        k.final_cost_per_hour,
        k.fresh_cost_per_hour
    );
    assert!(
        k.fresh_cost_per_hour > 0.0,
        "{}: nothing runs at the end",
        scenario.name
    );
    (k, ca)
}

#[test]
fn every_example_is_tested() {
    let mut files: Vec<String> = std::fs::read_dir(examples())
        .unwrap_or_else(|e| panic!("examples/simulate: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "burst-20k.yaml",
            "spiky-batch.yaml",
            "spot-storm.yaml",
            "steady-web.yaml"
        ],
        "a new scenario needs its own test below"
    );
}

#[test]
fn steady_web() {
    let (k, _) = check("steady-web.yaml");
    // the daily curve goes down again: consolidation must have removed nodes, through
    // evictions that respected the api PDB and left the do-not-disrupt ledger alone
    assert!(k.recorder.total("karpenter_nodeclaims_disrupted_total") > 0.0);
    assert!(k.evictions > 0);
}

#[test]
fn spiky_batch() {
    let (k, ca) = check("spiky-batch.yaml");
    // every job pod ran: 10 service pods + 300 + 600 + 80 + 1500 job pods at least
    assert!(k.pods_created >= 2490, "{}", k.pods_created);
    assert!(ca.pods_created >= 2490, "{}", ca.pods_created);
    assert!(k.recorder.total("karpenter_nodeclaims_disrupted_total") > 0.0);
}

#[test]
fn spot_storm() {
    let (k, _) = check("spot-storm.yaml");
    let interrupted = k
        .recorder
        .total("karpenter_interruption_received_messages_total");
    assert!(interrupted > 0.0, "the storm interrupted nothing");
}

#[test]
fn burst_20k() {
    let (k, _) = check("burst-20k.yaml");
    assert!(k.waits.len() >= 20_000, "{} pods bound", k.waits.len());
    let peak = k.samples.iter().map(|s| s.nodes).max().unwrap_or(0);
    let end = k.samples.last().map_or(0, |s| s.nodes);
    assert!(
        end < peak,
        "no capacity removed after the scale-down: {end} of {peak}"
    );
}
