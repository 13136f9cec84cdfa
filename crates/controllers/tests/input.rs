//! The scheduling input the controller builds from its cluster state (upstream's rules):
//! a node being removed hands back only the pods that can be evicted (no do-not-disrupt, at
//! most one PodDisruptionBudget, none fully blocking; a budget merely used up now still
//! re-plans), and a joining node is offered without its ephemeral and startup taints.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Machine, bound_pod, launched_node};
use karpenter_controllers::input::existing;
use karpenter_controllers::{ClusterState, IntOrPercent, Pdb};
use karpenter_model::{Effect, LabelSelector, Quantity, Resources, Taint};

fn res(cpu: &str, mem: &str) -> Resources {
    let q = |s: &str| Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    [("cpu".to_string(), q(cpu)), ("memory".to_string(), q(mem))].into()
}

fn machine() -> Machine<'static> {
    Machine {
        instance_type: "m5.large",
        price: 0.096,
        labels: BTreeMap::new(),
        allocatable: res("2", "7Gi"),
        capacity: res("2", "8Gi"),
    }
}

fn pdb(app: &str, min: Option<&str>, max: Option<&str>) -> Pdb {
    Pdb {
        id: format!("default/{app}"),
        namespace: "default".into(),
        selector: LabelSelector {
            match_labels: [("app".to_string(), app.to_string())].into(),
            ..LabelSelector::default()
        },
        min_available: min.and_then(IntOrPercent::parse),
        max_unavailable: max.and_then(IntOrPercent::parse),
    }
}

#[test]
fn a_removed_nodes_pods_are_placed_again_only_if_they_can_be_evicted() {
    let mut state = ClusterState::default();
    launched_node(&mut state, "old", machine());
    let small = || res("100m", "100Mi");
    for app in ["free", "exhausted", "zero", "all", "two"] {
        bound_pod(&mut state, app, app, "old", small(), false, false);
    }
    bound_pod(&mut state, "dnd", "dnd", "old", small(), true, false);
    state.pdbs = vec![
        // one pod, maxUnavailable 1 but the node is going: allows none now, opens later
        pdb("exhausted", Some("1"), None),
        pdb("zero", None, Some("0")),
        pdb("all", Some("100%"), None),
        pdb("two", None, Some("1")),
        Pdb {
            id: "default/two-b".into(),
            ..pdb("two", None, Some("1"))
        },
    ];
    state.update_node("old", |n| n.deleting = true);
    let (_, _, displaced) = existing(&state, &BTreeSet::new());
    let mut ids: Vec<&str> = displaced.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["default/exhausted", "default/free"]);
    // a consolidation simulation's candidate moves every pod
    let (_, _, moved) = existing(&state, &BTreeSet::from(["old".to_string()]));
    assert_eq!(moved.len(), 6);
}

#[test]
fn a_joining_node_is_offered_without_ephemeral_and_startup_taints() {
    let mut state = ClusterState::default();
    launched_node(&mut state, "new", machine());
    let t = |key: &str, effect| Taint {
        key: key.into(),
        value: String::new(),
        effect,
    };
    let taints = vec![
        t("node.kubernetes.io/not-ready", Effect::NoSchedule),
        t("node.kubernetes.io/unreachable", Effect::NoSchedule),
        t(
            "node.cloudprovider.kubernetes.io/uninitialized",
            Effect::NoSchedule,
        ),
        t("example.com/agent", Effect::NoSchedule),
        t("dedicated", Effect::NoSchedule),
    ];
    state.update_node("new", |n| n.taints = taints.clone());
    state.update_claim("claim-new", |c| {
        c.initialized_at = None;
        c.startup_taints = vec![t("example.com/agent", Effect::NoSchedule)];
    });
    let (nodes, _, _) = existing(&state, &BTreeSet::new());
    let keys: Vec<&str> = nodes[0].taints.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["dedicated"]);
    // initialized, it is offered with what it still carries
    state.update_claim("claim-new", |c| c.initialized_at = Some(0));
    let (nodes, _, _) = existing(&state, &BTreeSet::new());
    assert_eq!(nodes[0].taints.len(), 5);
}
