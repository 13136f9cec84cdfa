//! Every shipped scenario (`examples/simulate/*.yaml`) runs to completion under Karpenter,
//! Karpenter without consolidation and the Cluster Autoscaler baseline, and its invariants
//! hold: every pod that can run is bound, no node exceeds allocatable, limits hold, nothing
//! leaks, no eviction breaks a PodDisruptionBudget or touches a do-not-disrupt pod.
//! Karpenter's capacity at the end is within 10 % of a fresh plan; the attribution of the
//! cost difference adds up; the churn figures agree with the cloud's ledger. Who wins on
//! cost is the scenario's finding, not an assertion (the like-for-like baseline wins some).
//! The fault scenario's faults all happen, and are all survived.

use std::path::PathBuf;

use karpenter_sim::churn::{attribution, churn};
use karpenter_sim::{Outcome, Scenario, Which, build, run};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/simulate")
}

fn run_all(file: &str) -> (Scenario, Vec<Outcome>) {
    let path = examples().join(file);
    let scenario =
        Scenario::load(&path.to_string_lossy()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let built = build(&scenario).unwrap_or_else(|e| panic!("{file}: {e}"));
    let outcomes = [
        Which::Karpenter,
        Which::KarpenterNoConsolidation,
        Which::ClusterAutoscaler,
    ]
    .into_iter()
    .map(|w| run(&scenario, &built, w, &mut |_, _| {}).unwrap_or_else(|e| panic!("{file}: {e}")))
    .collect();
    (scenario, outcomes)
}

fn check(file: &str) -> (Outcome, Outcome) {
    let (scenario, outcomes) = run_all(file);
    for o in &outcomes {
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
        let c = churn(o);
        assert_eq!(
            c.launched as u64, o.launched,
            "{file} {who}: ledger vs launches"
        );
        assert!(c.terminated <= c.launched && c.p10_life_h <= c.mean_life_h + 1e-9);
        assert!(
            o.on_demand_equivalent() + 1e-6 >= o.cost,
            "{file} {who}: paid more than on demand"
        );
    }
    let a = attribution(&outcomes).unwrap_or_else(|| panic!("{file}: no attribution"));
    let parts = a.capacity_type + a.provisioning + a.consolidation;
    assert!(
        (parts - a.total).abs() < 1e-6,
        "{file}: the attribution's parts {parts} do not add up to {}",
        a.total
    );
    let mut it = outcomes.into_iter();
    let (Some(k), Some(nc), Some(ca)) = (it.next(), it.next(), it.next()) else {
        panic!("{file}: three runs expected");
    };
    // without consolidation nothing is replaced for being underutilized
    assert_eq!(
        nc.recorder
            .moves
            .iter()
            .filter(|m| m.reason == "Underutilized")
            .count(),
        0,
        "{file}: consolidation ran in the run without it"
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
            "faults.yaml",
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

#[test]
fn faults_are_injected_and_survived() {
    let (k, ca) = check("faults.yaml");
    for o in [&k, &ca] {
        let who = o.autoscaler.name();
        let f = o.faults;
        assert!(f.api_errors > 0, "{who}: no API error injected");
        assert!(f.never_registered > 0, "{who}: every node registered");
        assert_eq!(f.restarts, 2, "{who}: restarts");
        assert!(
            f.storm_interruptions > 0,
            "{who}: the storm reclaimed nothing"
        );
        assert!(o.restarted > 0, "{who}: the storm restarted no pod");
    }
    // a node that never registers is given up on at the registration timeout
    assert!(
        k.recorder
            .events
            .iter()
            .any(|e| e.reason == "RegistrationTimeout"),
        "Karpenter never gave up on an unregistered node"
    );
    // the cloud's API errors were retried, not fatal
    assert!(k.recorder.total("karpenter_cloudprovider_errors_total") > 0.0);
    assert!(
        ca.recorder
            .events
            .iter()
            .any(|e| e.reason == "ScaleUpTimedOut"),
        "CA never gave up on an unregistered node"
    );
}

#[test]
fn the_like_for_like_baseline_buys_spot_too() {
    let (_, outcomes) = run_all("steady-web.yaml");
    let ca = outcomes
        .iter()
        .find(|o| o.autoscaler == Which::ClusterAutoscaler)
        .unwrap_or_else(|| panic!("no CA run"));
    let spot = ca
        .records
        .iter()
        .filter(|r| r.capacity_type == "spot")
        .count();
    assert!(
        spot * 2 > ca.records.len(),
        "the priority expander prefers the spot groups: {spot} of {}",
        ca.records.len()
    );
    let types: std::collections::BTreeSet<&str> = ca
        .records
        .iter()
        .map(|r| r.instance_type.as_str())
        .collect();
    assert!(types.len() >= 2, "mixed-instances groups: {types:?}");
}
