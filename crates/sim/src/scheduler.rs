//! The kube-scheduler stand-in: binds pending pods to Ready, schedulable nodes with the
//! scheduling engine's own predicates (no NodePools, so nothing new is planned), and marks
//! the rest `Unschedulable`, which is what makes them Karpenter's (or the Cluster
//! Autoscaler's) business.

use std::collections::BTreeSet;

use karpenter_controllers::ClusterState;
use karpenter_controllers::input::existing;
use karpenter_model::time::Time;
use karpenter_scheduling::{DaemonSet, Input, Options, solve};

/// Bind what fits; returns the waits (bound time less creation time) of the pods bound.
pub fn schedule(state: &mut ClusterState, daemonsets: &[DaemonSet], now: Time) -> Vec<Time> {
    let mut pending: Vec<_> = state.pods().values().filter(|p| p.node.is_none()).collect();
    if pending.is_empty() {
        return Vec::new();
    }
    pending.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    let (mut nodes, bound, _) = existing(state, &BTreeSet::new());
    for n in &mut nodes {
        let ready = state.nodes().get(&n.name).is_some_and(|node| node.ready);
        if n.in_flight || !ready {
            n.unschedulable = true;
        }
    }
    let pods = pending
        .iter()
        .map(|p| {
            let mut s = (*p.spec).clone();
            s.id.clone_from(&p.id);
            s
        })
        .collect();
    let input = Input {
        pods,
        pools: Vec::new(),
        instance_types: Default::default(),
        existing: nodes,
        bound,
        daemonsets: daemonsets.to_vec(),
        options: Options::default(),
    };
    let plan = solve(&input);
    let mut waits = Vec::new();
    for n in &plan.existing {
        for pod in &n.pods {
            if let Some(created) = state.pods().get(pod).map(|p| p.created) {
                waits.push(now - created);
            }
            state.bind(pod, &n.name, now);
        }
    }
    let unschedulable: Vec<String> = plan.unschedulable.iter().map(|u| u.pod.clone()).collect();
    state.mark_unschedulable(&unschedulable);
    waits
}
