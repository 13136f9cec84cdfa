//! Registration and initialization: a launched NodeClaim whose Node has appeared ready is
//! registered and initialized in one pass (one Node write and one status write); with a
//! startup taint or a known ephemeral taint (kube-controller-manager's not-ready, which it
//! lifts a moment after the Node turns Ready) still on the Node it is registered only.
//! A NodeClaim changed in the pass that created it (launched in its planning round) is
//! created with its new labels, so only the status is left for a second request.

mod common;

use karpenter_controllers::events::Recorder;
use karpenter_controllers::lifecycle::register_and_initialize;
use karpenter_controllers::{ClusterState, Write};
use karpenter_model::time::SECOND;
use karpenter_model::wellknown::{labels, taints};
use karpenter_model::{Effect, Quantity, Resources, Taint};

/// A launched NodeClaim `claim-n1` whose Node `n1` has just appeared, ready, with the
/// unregistered taint; `startup` as the claim's startup taints.
fn joining(startup: Vec<Taint>) -> ClusterState {
    let mut state = ClusterState::default();
    let mut allocatable = Resources::new();
    allocatable.insert("cpu".into(), Quantity::from_millis(3_920));
    common::launched_node(&mut state, "n1", common::xlarge(allocatable));
    let unregistered = Taint {
        key: taints::UNREGISTERED_KEY.into(),
        value: String::new(),
        effect: Effect::NoExecute,
    };
    let mut on_node = vec![unregistered];
    on_node.extend(startup.iter().cloned());
    state.update_node("n1", |n| n.taints = on_node);
    state.update_claim("claim-n1", |c| {
        c.node = None;
        c.registered_at = None;
        c.initialized_at = None;
        c.startup_taints = startup;
    });
    state.record_writes();
    state
}

/// One pass at `at`: the claim is registered then, and not initialized.
fn registered_only_at(state: &mut ClusterState, at: karpenter_model::time::Time) {
    register_and_initialize(state, at, &mut Recorder::default());
    let claim = state.claims().get("claim-n1").cloned();
    assert_eq!(claim.as_ref().and_then(|c| c.registered_at), Some(at));
    assert_eq!(claim.as_ref().and_then(|c| c.initialized_at), None);
}

#[test]
fn a_ready_node_is_registered_and_initialized_in_one_pass() {
    let mut state = joining(Vec::new());
    register_and_initialize(&mut state, 5 * SECOND, &mut Recorder::default());
    let claim = state.claims().get("claim-n1").cloned();
    assert_eq!(
        claim.as_ref().and_then(|c| c.registered_at),
        Some(5 * SECOND)
    );
    assert_eq!(
        claim.as_ref().and_then(|c| c.initialized_at),
        Some(5 * SECOND)
    );
    let node = state.nodes().get("n1").cloned();
    let node_labels = node.map(|n| (n.labels, n.taints)).unwrap_or_default();
    assert_eq!(
        node_labels.0.get(labels::REGISTERED).map(String::as_str),
        Some("true")
    );
    assert_eq!(
        node_labels.0.get(labels::INITIALIZED).map(String::as_str),
        Some("true")
    );
    assert!(node_labels.1.is_empty(), "the unregistered taint is gone");
    let writes = state.take_writes();
    let node_writes = writes
        .iter()
        .filter(|w| matches!(w, Write::UpdateNode { .. }))
        .count();
    assert_eq!(node_writes, 1, "one Node patch: {writes:?}");
}

#[test]
fn a_not_ready_taint_keeps_it_registered_only() {
    let mut state = joining(Vec::new());
    let not_ready = Taint {
        key: "node.kubernetes.io/not-ready".into(),
        value: String::new(),
        effect: Effect::NoSchedule,
    };
    state.update_node("n1", |n| n.taints.push(not_ready));
    registered_only_at(&mut state, 5 * SECOND);
    // and once kube-controller-manager lifts it, the next pass initializes
    state.update_node("n1", |n| n.taints.retain(|t| !t.is_known_ephemeral()));
    register_and_initialize(&mut state, 6 * SECOND, &mut Recorder::default());
    let claim = state.claims().get("claim-n1").cloned();
    assert_eq!(claim.and_then(|c| c.initialized_at), Some(6 * SECOND));
}

#[test]
fn a_startup_taint_keeps_it_registered_only() {
    let startup = Taint {
        key: "example.com/agent-not-ready".into(),
        value: String::new(),
        effect: Effect::NoSchedule,
    };
    let mut state = joining(vec![startup]);
    registered_only_at(&mut state, 5 * SECOND);
    let initialized = state
        .nodes()
        .get("n1")
        .is_some_and(|n| n.labels.contains_key(labels::INITIALIZED));
    assert!(!initialized);
}

#[test]
fn a_claim_changed_in_the_pass_that_created_it_is_created_with_its_new_labels() {
    let mut state = ClusterState::default();
    state.record_writes();
    let mut allocatable = Resources::new();
    allocatable.insert("cpu".into(), Quantity::from_millis(3_920));
    common::launched_node(&mut state, "n1", common::xlarge(allocatable));
    // as a launch in the planning pass does: the instance's labels, then a status change
    state.update_claim("claim-n1", |c| {
        c.labels.insert(
            "node.kubernetes.io/instance-type".into(),
            "m5.xlarge".into(),
        );
        c.registered_at = None;
    });
    state.update_claim("claim-n1", |c| c.initialized_at = None);
    let writes = state.take_writes();
    assert_eq!(writes.len(), 2, "a create and one update: {writes:?}");
    let Write::CreateClaim(created) = &writes[0] else {
        panic!("the create comes first: {writes:?}");
    };
    assert_eq!(
        created
            .labels
            .get("node.kubernetes.io/instance-type")
            .map(String::as_str),
        Some("m5.xlarge"),
        "the labels go with the create"
    );
    let Write::UpdateClaim { before, after } = &writes[1] else {
        panic!("then one update: {writes:?}");
    };
    assert_eq!(before.labels, after.labels, "no label patch left");
    assert_eq!(before.registered_at, Some(0));
    assert_eq!(after.registered_at, None, "the status change stays");
    assert_eq!(
        after.initialized_at, None,
        "the second change joins the update"
    );
}
