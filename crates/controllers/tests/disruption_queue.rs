//! The disruption loop's orchestration queue (upstream §4.6) through the controller's
//! public API: a replacing command taints its candidate and launches the replacement
//! first; once the replacement is initialized the candidate is deleted; if the replacement
//! disappears the command rolls back (taint and mark removed, nothing deleted); after a
//! restart, a candidate no command holds any more is released the same way.

mod common;

use common::{Machine, bound_pod, launched_node};
use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_catalog::AwsSettings;
use karpenter_controllers::disruption::Disruption;
use karpenter_controllers::provisioner::Namer;
use karpenter_controllers::{ClaimState, ClusterState, Recorder, Setup};
use karpenter_disruption::{Allowance, Budget, Policy, PoolPolicy};
use karpenter_model::time::{HOUR, SECOND};
use karpenter_model::wellknown::{labels, taints};
use karpenter_model::{InstanceType, Op, Quantity, Requirement, Requirements};
use karpenter_scheduling::Pool;

const ZONE: &str = "us-east-1a";

fn catalog() -> Arc<Vec<InstanceType>> {
    Arc::new(common::m5_types(&AwsSettings::default()))
}

/// One m5.4xlarge holding a 500m pod: nothing else to move it to, so consolidation
/// replaces it with a cheaper m5.
fn cluster(types: &[InstanceType]) -> (Setup, ClusterState) {
    let mut reqs = Requirements::new();
    for (k, v) in [
        (labels::CAPACITY_TYPE, "on-demand"),
        (labels::ZONE, ZONE),
        (labels::NODEPOOL, "default"),
    ] {
        reqs.add(&Requirement::new(k, Op::In, [v]));
    }
    let setup = Setup {
        pools: vec![Pool {
            name: "default".into(),
            weight: 0,
            requirements: reqs,
            taints: Vec::new(),
            limits: None,
            instance_types: None,
        }],
        disruption: vec![PoolPolicy {
            name: "default".into(),
            policy: Policy::WhenEmptyOrUnderutilized,
            consolidate_after: Some(0),
            budgets: vec![Budget {
                nodes: Allowance::Percent(100),
                reasons: Vec::new(),
                window: None,
            }],
            expire_after: None,
            termination_grace_period: None,
            is_static: false,
        }],
        ..Setup::default()
    };
    let big = types
        .iter()
        .find(|t| t.name == "m5.4xlarge")
        .unwrap_or_else(|| panic!("m5.4xlarge missing"));
    let price = big
        .offerings
        .iter()
        .find(|o| o.zone == ZONE && o.capacity_type == "on-demand")
        .map_or(0.0, |o| o.price);
    let mut node_labels: BTreeMap<String, String> = big
        .requirements
        .iter()
        .filter(|r| r.op == Op::In && r.values.len() == 1)
        .map(|r| (r.key.clone(), r.values[0].clone()))
        .collect();
    for (k, v) in [
        (labels::INSTANCE_TYPE, "m5.4xlarge"),
        (labels::ZONE, ZONE),
        (labels::CAPACITY_TYPE, "on-demand"),
        (labels::NODEPOOL, "default"),
        (labels::HOSTNAME, "old"),
    ] {
        node_labels.insert(k.into(), v.into());
    }
    let mut state = ClusterState::default();
    let m = Machine {
        instance_type: "m5.4xlarge",
        price,
        labels: node_labels,
        allocatable: big.allocatable(),
        capacity: big.capacity.clone(),
    };
    launched_node(&mut state, "old", m);
    let requests = [
        ("cpu".to_string(), Quantity::from_millis(500)),
        (
            "memory".to_string(),
            Quantity::from_units(512 * 1024 * 1024),
        ),
        ("pods".to_string(), Quantity::from_units(1)),
    ]
    .into();
    bound_pod(&mut state, "web-0", "web", "old", requests, false, false);
    (setup, state)
}

/// Run one decision; returns the replacement's name.
fn start(
    setup: &Setup,
    state: &mut ClusterState,
    d: &mut Disruption,
    rec: &mut Recorder,
) -> String {
    let types = catalog();
    let mut namer = Namer::default();
    let now = HOUR;
    assert!(d.due(state, now, rec));
    d.reconcile(setup, state, types, &|_| None, now, &mut namer, rec);
    assert_eq!(d.queued(), 1, "one replacing command waits in the queue");
    let old = &state.claims()["claim-old"];
    assert_eq!(old.disruption.as_deref(), Some("Underutilized"));
    assert!(
        old.deleting_since.is_none(),
        "not deleted before its replacement is up"
    );
    assert!(
        state.nodes()["old"]
            .taints
            .iter()
            .any(|t| t.key == taints::DISRUPTED_KEY)
    );
    let replacement: Vec<&ClaimState> = state
        .claims()
        .values()
        .filter(|c| c.name != "claim-old")
        .collect();
    assert_eq!(replacement.len(), 1);
    assert_ne!(
        replacement[0].instance_types.first().map(String::as_str),
        Some("m5.4xlarge")
    );
    replacement[0].name.clone()
}

#[test]
fn a_lost_replacement_rolls_the_command_back() {
    let types = catalog();
    let (setup, mut state) = cluster(&types);
    let mut d = Disruption::default();
    let mut rec = Recorder::default();
    let replacement = start(&setup, &mut state, &mut d, &mut rec);
    state.remove_claim(&replacement);
    d.due(&mut state, HOUR + SECOND, &mut rec);
    assert_eq!(d.queued(), 0);
    let old = &state.claims()["claim-old"];
    assert_eq!(old.disruption, None, "the mark is removed");
    assert!(old.deleting_since.is_none(), "the candidate is kept");
    assert!(
        state.nodes()["old"]
            .taints
            .iter()
            .all(|t| t.key != taints::DISRUPTED_KEY),
        "the taint is removed"
    );
    assert_eq!(state.pod_count("old"), 1, "nothing lost");
    assert_eq!(
        rec.total("karpenter_voluntary_disruption_queue_failures_total"),
        1.0
    );
}

#[test]
fn an_initialized_replacement_lets_the_candidate_go() {
    let types = catalog();
    let (setup, mut state) = cluster(&types);
    let mut d = Disruption::default();
    let mut rec = Recorder::default();
    let replacement = start(&setup, &mut state, &mut d, &mut rec);
    d.due(&mut state, HOUR + SECOND, &mut rec);
    assert!(
        state.claims()["claim-old"].deleting_since.is_none(),
        "the replacement is not initialized yet"
    );
    state.update_claim(&replacement, |c| c.initialized_at = Some(HOUR + 2 * SECOND));
    d.due(&mut state, HOUR + 3 * SECOND, &mut rec);
    assert_eq!(d.queued(), 0);
    assert!(state.claims()["claim-old"].deleting_since.is_some());
}

#[test]
fn a_restart_mid_command_releases_the_candidate() {
    let types = catalog();
    let (setup, mut state) = cluster(&types);
    let mut d = Disruption::default();
    let mut rec = Recorder::default();
    start(&setup, &mut state, &mut d, &mut rec);
    // the process restarts: its queue is gone, the mark and the taint are in the cluster
    let mut fresh = Disruption::default();
    fresh.due(&mut state, HOUR + SECOND, &mut rec);
    let old = &state.claims()["claim-old"];
    assert_eq!(old.disruption, None, "the orphaned mark is removed");
    assert!(old.deleting_since.is_none(), "the candidate is kept");
    assert!(
        state.nodes()["old"]
            .taints
            .iter()
            .all(|t| t.key != taints::DISRUPTED_KEY),
        "the orphaned taint is removed, the node takes pods again"
    );
    assert_eq!(state.pod_count("old"), 1, "nothing lost");
    assert!(
        rec.events
            .iter()
            .any(|e| e.reason == "DisruptionFailed" && e.object == "NodeClaim/claim-old")
    );
}

/// Upstream's loop polls every 10 s only when idle: after a consolidation command it waits
/// (upstream's 15 s validation), after a drift command it goes on at once.
#[test]
fn the_loop_goes_on_at_once_after_drift_and_waits_after_consolidation() {
    let types = catalog();
    let mut namer = Namer::default();

    let (setup, mut state) = cluster(&types);
    let mut d = Disruption::default();
    let mut rec = Recorder::default();
    assert!(d.due(&mut state, HOUR, &mut rec));
    d.reconcile(
        &setup,
        &mut state,
        types.clone(),
        &|_| None,
        HOUR,
        &mut namer,
        &mut rec,
    );
    assert_eq!(
        state.claims()["claim-old"].disruption.as_deref(),
        Some("Underutilized")
    );
    assert!(
        !d.due(&mut state, HOUR + SECOND, &mut rec),
        "consolidation waits for the poll"
    );
    assert!(d.due(&mut state, HOUR + 10 * SECOND, &mut rec));

    let (setup, mut state) = cluster(&types);
    let mut d = Disruption::default();
    let drifted = |_: &ClaimState| Some("AMIDrift".to_string());
    assert!(d.due(&mut state, HOUR, &mut rec));
    let wake = d.reconcile(
        &setup,
        &mut state,
        types.clone(),
        &drifted,
        HOUR,
        &mut namer,
        &mut rec,
    );
    assert_eq!(
        state.claims()["claim-old"].disruption.as_deref(),
        Some("Drifted")
    );
    assert_eq!(wake, Some(HOUR + SECOND));
    assert!(
        d.due(&mut state, HOUR + SECOND, &mut rec),
        "drift goes on at once"
    );
    // nothing left to drift: the next decision finds nothing and the loop polls again
    d.reconcile(
        &setup,
        &mut state,
        types,
        &drifted,
        HOUR + SECOND,
        &mut namer,
        &mut rec,
    );
    assert!(!d.due(&mut state, HOUR + 2 * SECOND, &mut rec));
}

/// A drift command whose replacement is gone (the cloud refused it) rolls back, and the
/// loop then waits the poll instead of trying again at once: a pool that keeps answering
/// insufficient capacity would otherwise cost a NodeClaim every second.
#[test]
fn a_rolled_back_drift_waits_for_the_poll() {
    let types = catalog();
    let mut namer = Namer::default();
    let (setup, mut state) = cluster(&types);
    let mut d = Disruption::default();
    let mut rec = Recorder::default();
    let drifted = |_: &ClaimState| Some("AMIDrift".to_string());
    assert!(d.due(&mut state, HOUR, &mut rec));
    d.reconcile(
        &setup, &mut state, types, &drifted, HOUR, &mut namer, &mut rec,
    );
    let replacements: Vec<String> = state
        .claims()
        .values()
        .filter(|c| c.launched.is_none())
        .map(|c| c.name.clone())
        .collect();
    assert!(!replacements.is_empty(), "drift launches a replacement");
    for r in &replacements {
        state.remove_claim(r);
    }
    assert!(
        !d.due(&mut state, HOUR + SECOND, &mut rec),
        "rolled back: no new decision before the poll"
    );
    assert_eq!(state.claims()["claim-old"].disruption, None);
    assert!(d.due(&mut state, HOUR + 10 * SECOND, &mut rec));
}
