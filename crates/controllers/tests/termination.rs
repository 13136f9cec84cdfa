//! Termination steps (upstream section 5) and the disruption queue's rollback, through the
//! CloudProvider port with an in-memory fake: eviction honours PDBs (one PDB allowing none,
//! or more than one PDB, blocks), do-not-disrupt pods are never evicted, non-critical pods go
//! before critical ones, the instance is deleted only once the node is drained, and then the
//! Node and the NodeClaim go.

mod common;

use common::{FakeCloud, Machine, bound_pod, launched_node};
use std::collections::BTreeMap;

use karpenter_controllers::termination::{delete_claim, drain, eviction_blocker, terminate};
use karpenter_controllers::{ClusterState, IntOrPercent, Pdb, Recorder};
use karpenter_model::LabelSelector;

fn node(state: &mut ClusterState, name: &str) {
    let m = Machine {
        instance_type: "m5.large",
        price: 0.096,
        labels: BTreeMap::new(),
        allocatable: BTreeMap::new(),
        capacity: BTreeMap::new(),
    };
    launched_node(state, name, m);
}

fn pod(state: &mut ClusterState, id: &str, app: &str, on: &str) -> String {
    bound_pod(state, id, app, on, BTreeMap::new(), false, false)
}

fn pod_with(
    state: &mut ClusterState,
    id: &str,
    app: &str,
    on: &str,
    do_not_disrupt: bool,
    critical: bool,
) -> String {
    bound_pod(
        state,
        id,
        app,
        on,
        BTreeMap::new(),
        do_not_disrupt,
        critical,
    )
}

fn pdb(name: &str, app: &str, max_unavailable: i32) -> Pdb {
    Pdb {
        id: format!("default/{name}"),
        namespace: "default".into(),
        selector: LabelSelector {
            match_labels: [("app".to_string(), app.to_string())].into(),
            ..LabelSelector::default()
        },
        min_available: None,
        max_unavailable: Some(IntOrPercent::Int(max_unavailable)),
    }
}

#[test]
fn pdbs_and_do_not_disrupt_block_eviction() {
    let mut s = ClusterState::default();
    node(&mut s, "a");
    let api = pod(&mut s, "api-0", "api", "a");
    let both = pod(&mut s, "both-0", "both", "a");
    let pinned = pod_with(&mut s, "pinned-0", "free", "a", true, false);
    s.pdbs = vec![
        pdb("api", "api", 0),
        pdb("b1", "both", 1),
        pdb("b2", "both", 1),
    ];
    assert!(eviction_blocker(&s, &api).is_some_and(|r| r.contains("allows no more")));
    assert!(eviction_blocker(&s, &both).is_some_and(|r| r.contains("more than one")));
    assert!(eviction_blocker(&s, &pinned).is_some_and(|r| r.contains("do-not-disrupt")));

    let mut rec = Recorder::default();
    assert!(
        !drain(&mut s, "a", 0, None, &mut rec),
        "blocked pods keep the node"
    );
    assert_eq!(s.pod_count("a"), 3, "nothing evicted");
    assert!(s.audit().is_empty());
    assert_eq!(rec.total("karpenter_pods_eviction_requests_total"), 3.0);
}

#[test]
fn drain_evicts_non_critical_pods_first_then_deletes_the_instance() {
    let mut s = ClusterState::default();
    node(&mut s, "a");
    pod(&mut s, "web-0", "web", "a");
    let critical = pod_with(&mut s, "dns-0", "dns", "a", false, true);
    let mut cloud = FakeCloud::default();
    let mut rec = Recorder::default();
    delete_claim(&mut s, "claim-a", "Underutilized", 0);

    terminate(&mut s, &mut cloud, 1, &mut rec);
    assert!(
        s.pods().contains_key(&critical),
        "critical pods wait for the others"
    );
    assert!(!s.pods().contains_key("default/web-0"));
    assert!(
        cloud.deleted.is_empty(),
        "the instance stays until the node is drained"
    );

    terminate(&mut s, &mut cloud, 2, &mut rec);
    assert!(!s.pods().contains_key(&critical));
    terminate(&mut s, &mut cloud, 3, &mut rec);
    assert!(cloud.deleted.contains("aws:///us-east-1a/i-a"));
    assert!(
        !s.nodes().contains_key("a"),
        "the Node goes after the instance"
    );
    assert!(
        !s.claims().contains_key("claim-a"),
        "and the NodeClaim with it"
    );
    assert_eq!(s.take_evicted().len(), 2, "owners learn of both evictions");
}

#[test]
fn a_pass_deletes_its_drained_instances_in_one_call() {
    let mut s = ClusterState::default();
    for n in ["a", "b", "c"] {
        node(&mut s, n);
    }
    pod(&mut s, "web-0", "web", "c");
    pod_with(&mut s, "dns-0", "dns", "c", false, true);
    let mut cloud = FakeCloud::default();
    let mut rec = Recorder::default();
    for n in ["a", "b", "c"] {
        delete_claim(&mut s, &format!("claim-{n}"), "Empty", 0);
    }
    terminate(&mut s, &mut cloud, 1, &mut rec);
    // a and b are empty; c still drains (its critical pod goes after the other)
    assert_eq!(cloud.batches, [2]);
    assert!(!s.claims().contains_key("claim-a") && !s.claims().contains_key("claim-b"));
    assert!(s.claims().contains_key("claim-c"));
    terminate(&mut s, &mut cloud, 2, &mut rec);
    // an instance already gone (NotFound) still lets its claim go
    cloud.deleted.insert("aws:///us-east-1a/i-c".into());
    terminate(&mut s, &mut cloud, 3, &mut rec);
    assert_eq!(cloud.batches, [2, 1]);
    assert!(!s.claims().contains_key("claim-c"));
}

#[test]
fn termination_grace_period_is_a_hard_deadline() {
    let mut s = ClusterState::default();
    node(&mut s, "a");
    s.update_claim("claim-a", |c| {
        c.termination_grace_period = Some(10 * 60_000)
    });
    let pinned = pod_with(&mut s, "pinned-0", "batch", "a", true, false);
    let guarded = pod(&mut s, "db-0", "db", "a");
    s.pdbs = vec![pdb("db", "db", 0)];
    let mut cloud = FakeCloud::default();
    let mut rec = Recorder::default();
    delete_claim(&mut s, "claim-a", "Drifted", 0);
    terminate(&mut s, &mut cloud, 60_000, &mut rec);
    assert_eq!(s.pod_count("a"), 2, "blockers hold before the deadline");
    assert!(cloud.deleted.is_empty());
    // a pod's own grace period (30 s) before the 10-minute deadline, the pods are deleted
    terminate(&mut s, &mut cloud, 10 * 60_000 - 30_000, &mut rec);
    assert!(!s.pods().contains_key(&pinned) && !s.pods().contains_key(&guarded));
    assert!(
        s.audit().is_empty(),
        "deleting at the deadline is by design, not a broken PDB"
    );
    assert_eq!(s.evictions(), 0, "deleted, not evicted");
    assert_eq!(s.take_evicted().len(), 2, "owners replace them");
    assert!(cloud.deleted.contains("aws:///us-east-1a/i-a"));
    assert!(!s.claims().contains_key("claim-a"));
}

#[test]
fn instance_waits_for_volume_detachment_until_the_deadline() {
    let mut s = ClusterState::default();
    node(&mut s, "a");
    node(&mut s, "b");
    s.update_claim("claim-b", |c| c.termination_grace_period = Some(5 * 60_000));
    for n in ["a", "b"] {
        s.update_node(n, |n| n.attached_volumes = vec!["vol-1".into()]);
        delete_claim(&mut s, &format!("claim-{n}"), "Empty", 0);
    }
    let mut cloud = FakeCloud::default();
    let mut rec = Recorder::default();
    terminate(&mut s, &mut cloud, 1_000, &mut rec);
    assert!(
        cloud.deleted.is_empty(),
        "drained, but volumes are attached"
    );
    s.update_node("a", |n| n.attached_volumes.clear());
    terminate(&mut s, &mut cloud, 2_000, &mut rec);
    assert!(cloud.deleted.contains("aws:///us-east-1a/i-a"));
    assert!(!cloud.deleted.contains("aws:///us-east-1a/i-b"));
    terminate(&mut s, &mut cloud, 5 * 60_000, &mut rec);
    assert!(
        cloud.deleted.contains("aws:///us-east-1a/i-b"),
        "not waited for past terminationGracePeriod"
    );
}
