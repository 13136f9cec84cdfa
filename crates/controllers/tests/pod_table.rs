//! `PodTable`, the pods of a cluster state shared copy-on-write between the kube adapter's
//! translator and each pass's state: a change through one share never shows in another,
//! and the index by node follows puts, binds and removals as the state's own did.

use std::sync::Arc;

use karpenter_controllers::{ClusterState, PodState, PodTable};
use karpenter_scheduling::PendingPod;

fn pod(id: &str, node: Option<&str>) -> PodState {
    PodState {
        id: id.into(),
        spec: Arc::new(PendingPod {
            id: id.into(),
            ..PendingPod::default()
        }),
        owner: None,
        node: node.map(String::from),
        created: 0,
        bound_at: node.map(|_| 1),
        unschedulable: false,
        untried: node.is_none(),
        nominated: None,
        priority: 0,
        deletion_cost: 0,
        do_not_disrupt: false,
        critical: false,
        terminating: false,
        revision: 0,
    }
}

/// Each node's pods, as a reader of the state sees them.
fn on(s: &ClusterState, node: &str) -> Vec<String> {
    s.pods_on(node).map(|p| p.id.clone()).collect()
}

#[test]
fn a_state_changing_its_share_leaves_the_kept_table_alone() {
    let mut kept = PodTable::default();
    kept.put(pod("ns/a", Some("n1")));
    kept.put(pod("ns/b", None));
    let mut state = ClusterState::default();
    state.set_pod_table(kept.clone());
    state.bind("ns/b", "n1", 5);
    state.evict("ns/a", 6);
    assert_eq!(on(&state, "n1"), vec!["ns/b"]);
    assert_eq!(state.pods().len(), 1);
    // the translator's table is what the caches said, not what the pass did
    assert_eq!(kept.pods().len(), 2);
    assert!(kept.get("ns/b").is_some_and(|p| p.node.is_none()));
    let ids: Vec<&str> = kept.on("n1").map(|p| p.id.as_str()).collect();
    assert_eq!(ids, vec!["ns/a"]);
}

#[test]
fn the_kept_table_changing_leaves_a_state_built_from_it_alone() {
    let mut kept = PodTable::default();
    kept.put(pod("ns/a", Some("n1")));
    let mut state = ClusterState::default();
    state.set_pod_table(kept.clone());
    kept.put(pod("ns/a", Some("n2")));
    kept.put(pod("ns/c", Some("n2")));
    assert_eq!(on(&state, "n1"), vec!["ns/a"]);
    assert!(on(&state, "n2").is_empty());
    let mut later = ClusterState::default();
    later.set_pod_table(kept.clone());
    assert!(
        on(&later, "n1").is_empty(),
        "a moved pod leaves its old node's index"
    );
    assert_eq!(on(&later, "n2"), vec!["ns/a", "ns/c"]);
    assert_eq!(later.pod_count("n2"), 2);
}

#[test]
fn removing_a_node_takes_its_pods_from_the_state_only() {
    let mut kept = PodTable::default();
    kept.put(pod("ns/a", Some("n1")));
    kept.put(pod("ns/b", Some("n1")));
    kept.put(pod("ns/c", Some("n2")));
    let mut state = ClusterState::default();
    state.set_pod_table(kept.clone());
    state.remove_node("n1", 9);
    assert_eq!(state.pod_count("n1"), 0);
    let left: Vec<&String> = state.pods().keys().collect();
    assert_eq!(left, vec!["ns/c"]);
    assert_eq!(state.take_evicted().len(), 2);
    assert_eq!(kept.pods().len(), 3);
    assert!(kept.remove("ns/a").is_some());
    assert!(kept.remove("ns/a").is_none());
    assert_eq!(kept.on("n1").count(), 1);
}
