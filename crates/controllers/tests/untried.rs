//! Pods kube-scheduler has not tried yet (`PodState::untried`): with
//! `Settings::provision_untried` (the default) the provisioner plans them without waiting
//! for the Unschedulable mark; off, it waits as upstream does. Either way a pod that fits
//! capacity already there launches nothing, and a pod nominated for a preemption is left to
//! kube-scheduler.

mod common;

use karpenter_cloud::CloudProvider;
use karpenter_cloud::sim::{SimCloud, SimConfig};
use karpenter_controllers::{ClusterState, Karpenter, Settings};
use karpenter_model::time::SECOND;
use karpenter_model::{Quantity, Resources};

/// Mark every pending pod untried, as a pod kube-scheduler has not reached yet.
fn untried(state: &mut ClusterState) {
    let pods: Vec<_> = state.pods().values().cloned().collect();
    for mut p in pods {
        p.untried = true;
        state.put_pod(p);
    }
}

/// Run passes for `secs` seconds; returns the instances the cloud launched.
fn run(state: &mut ClusterState, settings: Settings, secs: i64) -> usize {
    let mut cloud = SimCloud::new(common::m5_types(&Default::default()), SimConfig::default());
    let mut k = Karpenter::new(common::on_demand_setup(), settings);
    for t in 0..=secs {
        k.reconcile(state, &mut cloud, t * SECOND);
    }
    cloud.list().len()
}

#[test]
fn untried_pods_get_capacity_without_waiting_for_the_mark() {
    let mut state = ClusterState::default();
    common::pending_pods(&mut state, 6, false);
    untried(&mut state);
    let launched = run(&mut state, Settings::default(), 3);
    assert_eq!(launched, 1, "one instance for six 500m pods");
    assert_eq!(state.claims().len(), 1);
}

#[test]
fn with_the_setting_off_untried_pods_wait_for_the_mark() {
    let mut state = ClusterState::default();
    common::pending_pods(&mut state, 6, false);
    untried(&mut state);
    let off = Settings {
        provision_untried: false,
        ..Settings::default()
    };
    assert_eq!(run(&mut state, off, 3), 0);
    assert!(state.claims().is_empty());
}

#[test]
fn an_untried_pod_that_fits_a_node_launches_nothing() {
    let mut state = ClusterState::default();
    let mut allocatable = Resources::new();
    allocatable.insert("cpu".into(), Quantity::from_millis(3_920));
    allocatable.insert("pods".into(), Quantity::from_units(58));
    common::launched_node(&mut state, "n1", common::xlarge(allocatable));
    common::pending_pods(&mut state, 6, false);
    untried(&mut state);
    assert_eq!(run(&mut state, Settings::default(), 3), 0);
    assert_eq!(state.claims().len(), 1, "only the node's own claim");
}

#[test]
fn a_pod_nominated_for_a_preemption_is_left_to_the_scheduler() {
    // kube-scheduler marks a pod Unschedulable and nominates it to a node where it preempts
    // lower-priority pods: upstream's IsPreempting keeps such a pod out of provisioning
    let mut state = ClusterState::default();
    common::pending_pods(&mut state, 2, true);
    let mut preempting = state.pods().get("default/web-0").cloned();
    if let Some(p) = preempting.as_mut() {
        p.nominated = Some("node-a".into());
    }
    state.put_pod(preempting.unwrap_or_else(|| panic!("no pod web-0")));
    let ids: Vec<&str> = karpenter_controllers::provisioner::provisionable(&state, true)
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(ids, vec!["default/web-1"]);
}
