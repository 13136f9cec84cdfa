//! The order pods are placed in: by their larger request (memory weighed at the catalog's
//! median memory per vCPU), with pods that limit how many of theirs a node holds first.

mod common;

use common::{HOSTNAME, input, labelled, pod, pool, term};
use karpenter_scheduling::solve;

#[test]
fn memory_heavy_pods_lead_nodes_the_cpu_heavy_ones_fill() {
    // types of 1-16 vCPU with 2 GiB each at 0.3 per vCPU: a 20Gi pod needs a node of at
    // least 10 vCPU and two never share one. By CPU alone the 3.9-CPU pods come first and
    // fill three nodes to 15.6 CPU, so each 20Gi pod opens a 10-vCPU node of its own
    // (3 x 4.8 + 4 x 3.0 = 26.4); placed first, the 20Gi pods lead four nodes the
    // 3.9-CPU pods fill (about 49 vCPU in all)
    let mut pods: Vec<_> = (0..12)
        .map(|i| pod(&format!("cpu{i}"), "3900m", "1Gi"))
        .collect();
    pods.extend((0..4).map(|i| pod(&format!("mem{i}"), "500m", "20Gi")));
    let plan = solve(&input(pods, vec![pool("default")], 16));
    assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
    assert_eq!(plan.claims.len(), 4, "{:#?}", plan.claims);
    for c in &plan.claims {
        let mem = c.pods.iter().filter(|p| p.contains("/mem")).count();
        assert_eq!(mem, 1, "{:?}", c.pods);
    }
    assert!(plan.cost_per_hour() <= 16.0, "{}", plan.cost_per_hour());
}

#[test]
fn pods_that_need_a_node_each_are_placed_before_larger_ones() {
    // four 3-CPU pods with hostname anti-affinity among themselves and four 4-CPU pods on
    // types up to 8 vCPU: placed first, each anti-affine pod leads a node one 4-CPU pod
    // joins (four nodes of 7 vCPU); by CPU alone the 4-CPU pods fill two nodes and the
    // anti-affine ones, finding them full, open four more (six nodes for the same vCPUs)
    let mut pods: Vec<_> = (0..4)
        .map(|i| pod(&format!("big{i}"), "4", "1Gi"))
        .collect();
    pods.extend((0..4).map(|i| {
        let mut p = labelled(pod(&format!("solo{i}"), "3", "1Gi"), "app", "solo");
        p.anti_affinity = vec![term(HOSTNAME, "app", "solo")];
        p
    }));
    let plan = solve(&input(pods, vec![pool("default")], 8));
    assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
    assert_eq!(plan.claims.len(), 4, "{:#?}", plan.claims);
    for c in &plan.claims {
        let solo = c.pods.iter().filter(|p| p.contains("/solo")).count();
        assert_eq!((c.pods.len(), solo), (2, 1), "{:?}", c.pods);
    }
}
