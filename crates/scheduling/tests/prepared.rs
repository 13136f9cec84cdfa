//! A [`Prepared`] reused across changing clusters answers exactly as a fresh solve: existing
//! nodes relabelled (a zone that only a node provides appears and disappears for topology
//! spread), removed, added and reordered between solves; and simulations within one epoch
//! (nodes built once, only unschedulable flags flipped) answer as fresh ones.

mod common;

use common::*;
use karpenter_scheduling::{Input, Prepared, solve};

fn spread_input(nodes: Vec<karpenter_scheduling::ExistingNode>) -> Input {
    let pods = (0..9)
        .map(|i| {
            let mut p = labelled(pod(&format!("web-{i}"), "500m", "512Mi"), "app", "web");
            p.spreads.push(spread(ZONE, 1, "app", "web"));
            p
        })
        .collect();
    let mut input = input(pods, vec![pool("default")], 4);
    input.existing = nodes;
    input
}

#[test]
fn a_reused_prepared_solve_follows_every_change_of_the_existing_nodes() {
    let steps: Vec<Vec<karpenter_scheduling::ExistingNode>> = vec![
        vec![node("a", "zone-x", "4", "8Gi"), node("b", "a", "4", "8Gi")],
        // same nodes again (the cache is hit)
        vec![node("a", "zone-x", "4", "8Gi"), node("b", "a", "4", "8Gi")],
        // a relabelled: zone-x is no longer a domain
        vec![node("a", "b", "4", "8Gi"), node("b", "a", "4", "8Gi")],
        // reordered
        vec![node("b", "a", "4", "8Gi"), node("a", "b", "4", "8Gi")],
        // one removed, then a new one in a new zone
        vec![node("b", "a", "4", "8Gi")],
        vec![node("b", "a", "4", "8Gi"), node("c", "zone-y", "2", "4Gi")],
        // and back to the start
        vec![node("a", "zone-x", "4", "8Gi"), node("b", "a", "4", "8Gi")],
    ];
    let first = spread_input(steps[0].clone());
    let mut prepared = Prepared::new(&first, first.pods.iter().map(|p| &p.requests));
    let mut plans = Vec::new();
    for (i, nodes) in steps.into_iter().enumerate() {
        let input = spread_input(nodes);
        let fresh = solve(&input);
        assert_eq!(prepared.solve(&input), fresh, "step {i}");
        plans.push(fresh);
    }
    assert_ne!(plans[1], plans[2], "the relabelling changes the plan");
    assert_eq!(plans[0], plans[6]);
}

#[test]
fn simulations_in_one_epoch_answer_as_fresh_ones_whatever_the_flags() {
    let nodes = vec![
        node("a", "zone-x", "4", "8Gi"),
        node("b", "a", "4", "8Gi"),
        node("c", "b", "2", "4Gi"),
    ];
    let mut input = spread_input(nodes);
    let mut prepared = Prepared::new(&input, input.pods.iter().map(|p| &p.requests));
    let epoch = prepared.fresh_epoch();
    let mut plans = Vec::new();
    // close each node in turn, then none, all within one epoch (the nodes built once)
    for closed in [Some(0), Some(1), Some(2), None, Some(0)] {
        for (i, n) in input.existing.iter_mut().enumerate() {
            n.unschedulable = Some(i) == closed;
        }
        let mut fresh = Prepared::new(&input, input.pods.iter().map(|p| &p.requests));
        let expected = fresh.simulate(&input);
        assert_eq!(
            prepared.simulate_in(&input, epoch),
            expected,
            "node {closed:?} closed"
        );
        plans.push(expected);
    }
    assert_ne!(plans[0], plans[3], "closing a node changes the plan");
    assert_eq!(plans[0], plans[4]);
    // a change beyond the flags takes a new epoch, and is seen
    input.existing[2] = node("c", "b", "8", "16Gi");
    let epoch = prepared.fresh_epoch();
    let mut fresh = Prepared::new(&input, input.pods.iter().map(|p| &p.requests));
    assert_eq!(prepared.simulate_in(&input, epoch), fresh.simulate(&input));
}
