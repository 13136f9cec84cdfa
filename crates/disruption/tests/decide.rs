//! Disruption decisions, written from upstream's documented behaviour (reference sections
//! 3-5): each method, each budget form, each blocker, and the replacement price rules.

mod common;

use common::{budget, cluster, commands, disrupted, price, why};
use karpenter_disruption::cron::Cron;
use karpenter_disruption::{Allowance, Method, Policy, Reason, disruption_cost};
use karpenter_model::time::{HOUR, MINUTE};

const OD: &str = "on-demand";
const SPOT: &str = "spot";

#[test]
fn empty_nodes_are_deleted_without_replacement() {
    let mut c = cluster(&["m5.large", "m5.xlarge"], &[OD]);
    c.node("busy", "m5.xlarge", OD, &[(3000, 8000)]);
    c.node("empty-1", "m5.large", OD, &[]);
    c.node("empty-2", "m5.large", OD, &[]);
    let d = c.decide();
    assert_eq!(d.commands.len(), 1, "{:?}", d.commands);
    let cmd = &d.commands[0];
    assert_eq!((cmd.method, cmd.reason), (Method::Emptiness, Reason::Empty));
    assert_eq!(cmd.candidates, ["empty-1", "empty-2"]);
    assert!(cmd.replacements.is_empty());
    let saved = 2.0 * price(&c.input.scheduling.instance_types, "m5.large", OD);
    assert!((cmd.savings_per_hour - saved).abs() < 1e-9);
    assert!(!disrupted(&d).contains(&"busy".to_string()));
}

#[test]
fn consolidate_after_waits_for_quiet_nodes_and_never_disables_it() {
    let mut c = cluster(&["m5.large"], &[OD]);
    c.pool().consolidate_after = Some(5 * MINUTE);
    let now = c.input.now;
    c.node("fresh", "m5.large", OD, &[]).quiet_since = now - MINUTE;
    c.node("quiet", "m5.large", OD, &[]).quiet_since = now - 10 * MINUTE;
    let d = c.decide();
    assert_eq!(disrupted(&d), ["quiet"]);
    assert!(
        why(&d, "fresh").contains("consolidateAfter"),
        "{}",
        why(&d, "fresh")
    );

    c.pool().consolidate_after = None;
    let d = c.decide();
    assert!(d.commands.is_empty());
    assert!(why(&d, "quiet").contains("Never"));
}

#[test]
fn pods_fitting_elsewhere_delete_the_node() {
    let mut c = cluster(&["m5.xlarge", "m5.2xlarge"], &[OD]);
    c.node("big", "m5.2xlarge", OD, &[(2000, 4000), (1000, 2000)]);
    c.node("small", "m5.xlarge", OD, &[(500, 1000)]);
    let d = c.decide();
    let cmd = d
        .commands
        .iter()
        .find(|c| c.candidates == ["small"])
        .unwrap_or_else(|| panic!("{d:?}"));
    assert!(cmd.replacements.is_empty(), "its pod fits on big");
    assert_eq!(cmd.reason, Reason::Underutilized);
}

#[test]
fn a_node_is_replaced_by_a_strictly_cheaper_one() {
    let mut c = cluster(&["m5.large", "m5.xlarge", "m5.4xlarge"], &[OD]);
    c.node("oversized", "m5.4xlarge", OD, &[(500, 1000), (500, 1000)]);
    let d = c.decide();
    assert_eq!(d.commands.len(), 1, "{d:?}");
    let cmd = &d.commands[0];
    assert_eq!(cmd.method, Method::SingleNode);
    assert_eq!(cmd.replacements.len(), 1);
    let r = &cmd.replacements[0];
    assert_eq!(
        r.instance_types.first().map(String::as_str),
        Some("m5.large")
    );
    let before = price(&c.input.scheduling.instance_types, "m5.4xlarge", OD);
    assert!(r.price < before);
    assert!((cmd.savings_per_hour - (before - r.price)).abs() < 1e-9);
}

#[test]
fn no_churn_onto_the_same_type_at_the_same_price() {
    let mut c = cluster(&["m5.large", "m5.xlarge"], &[OD]);
    // one pod that only an m5.large-or-larger holds; m5.large is already the cheapest
    c.node("tight", "m5.large", OD, &[(1500, 4000)]);
    let d = c.decide();
    assert!(d.commands.is_empty(), "{:?}", d.commands);
    assert!(why(&d, "tight").contains("cheaper"), "{}", why(&d, "tight"));
}

#[test]
fn on_demand_moves_to_spot_when_the_pool_allows_it() {
    let mut c = cluster(&["m5.large", "m5.xlarge"], &[OD, SPOT]);
    c.node("od", "m5.xlarge", OD, &[(1500, 4000)]);
    let d = c.decide();
    assert_eq!(d.commands.len(), 1, "{d:?}");
    let r = &d.commands[0].replacements[0];
    let ct = r
        .requirements
        .iter()
        .find(|q| q.key == karpenter_model::wellknown::labels::CAPACITY_TYPE)
        .unwrap_or_else(|| panic!("no capacity type requirement: {r:?}"));
    assert_eq!(ct.values, ["spot"]);
}

#[test]
fn spot_to_spot_needs_the_feature_gate_and_fifteen_cheaper_types() {
    let types = [
        "m5.large",
        "m5.xlarge",
        "m5.2xlarge",
        "m5.4xlarge",
        "m5a.large",
        "m5a.xlarge",
        "m5a.2xlarge",
        "m6i.large",
        "m6i.xlarge",
        "m6i.2xlarge",
        "m6a.large",
        "m6a.xlarge",
        "m6a.2xlarge",
        "m7i.large",
        "m7i.xlarge",
        "m7i.2xlarge",
        "m7a.large",
        "m7a.xlarge",
        "c5.large",
        "c5.xlarge",
        "c6i.large",
        "c6i.xlarge",
        "c6a.large",
        "c6a.xlarge",
        "r5.large",
        "r6i.large",
    ];
    let mut c = cluster(&types, &[SPOT]);
    c.node("spot", "m5.4xlarge", SPOT, &[(500, 1000)]);
    let d = c.decide();
    assert!(d.commands.is_empty());
    assert!(
        why(&d, "spot").contains("SpotToSpotConsolidation"),
        "{}",
        why(&d, "spot")
    );

    c.input.spot_to_spot = true;
    let d = c.decide();
    assert_eq!(d.commands.len(), 1, "{d:?}");
    let r = &d.commands[0].replacements[0];
    assert_eq!(r.instance_types.len(), 15, "upstream keeps the 15 cheapest");

    let mut few = cluster(&["m5.large", "m5.xlarge", "m5.4xlarge"], &[SPOT]);
    few.input.spot_to_spot = true;
    few.node("spot", "m5.4xlarge", SPOT, &[(500, 1000)]);
    let d = few.decide();
    assert!(d.commands.is_empty());
    assert!(why(&d, "spot").contains("15"), "{}", why(&d, "spot"));
}

#[test]
fn multi_node_consolidation_merges_underused_nodes() {
    let mut c = cluster(&["m5.large", "m5.xlarge", "m5.2xlarge"], &[OD]);
    for i in 0..4 {
        c.node(&format!("n{i}"), "m5.xlarge", OD, &[(400, 1000)]);
    }
    let d = c.decide();
    let multi = d
        .commands
        .iter()
        .find(|c| c.method == Method::MultiNode)
        .unwrap_or_else(|| panic!("{d:?}"));
    assert!(multi.candidates.len() >= 2);
    assert!(multi.replacements.len() <= 1);
    let removed: f64 =
        multi.candidates.len() as f64 * price(&c.input.scheduling.instance_types, "m5.xlarge", OD);
    let added: f64 = multi.replacements.iter().map(|r| r.price).sum();
    assert!(added < removed);
}

#[test]
fn when_empty_policy_leaves_used_nodes_alone() {
    let mut c = cluster(&["m5.large", "m5.4xlarge"], &[OD]);
    c.pool().policy = Policy::WhenEmpty;
    c.node("used", "m5.4xlarge", OD, &[(500, 1000)]);
    c.node("empty", "m5.large", OD, &[]);
    let d = c.decide();
    assert_eq!(disrupted(&d), ["empty"]);
    assert!(why(&d, "used").contains("WhenEmpty"));
}

#[test]
fn budgets_count_percent_reasons_and_most_restrictive() {
    let build = |budgets| {
        let mut c = cluster(&["m5.large"], &[OD]);
        for i in 0..5 {
            c.node(&format!("e{i}"), "m5.large", OD, &[]);
        }
        c.pool().budgets = budgets;
        c
    };
    let count = |c: &common::Cluster| disrupted(&c.decide()).len();
    assert_eq!(count(&build(vec![budget(Allowance::Count(2))])), 2);
    // 30 % of 5 nodes is 1.5, rounded up
    assert_eq!(count(&build(vec![budget(Allowance::Percent(30))])), 2);
    assert_eq!(count(&build(vec![budget(Allowance::Percent(0))])), 0);
    // a budget for other reasons does not limit emptiness
    let mut drift_only = budget(Allowance::Count(0));
    drift_only.reasons = vec![Reason::Drifted];
    assert_eq!(
        count(&build(vec![
            drift_only.clone(),
            budget(Allowance::Count(3))
        ])),
        3
    );
    // several budgets: the most restrictive wins
    assert_eq!(
        count(&build(vec![
            budget(Allowance::Count(4)),
            budget(Allowance::Percent(20))
        ])),
        1
    );
    // nodes already disrupting count against the budget
    let mut c = build(vec![budget(Allowance::Count(2))]);
    c.input.nodes[0].disrupting = true;
    let d = c.decide();
    assert_eq!(disrupted(&d).len(), 1);
    assert!(why(&d, "e0").contains("already being disrupted"));
    let state = d
        .budgets
        .iter()
        .find(|b| b.reason == Reason::Empty)
        .unwrap_or_else(|| panic!("{:?}", d.budgets));
    assert_eq!((state.allowed, state.disrupting), (2, 2));
}

#[test]
fn budget_schedules_apply_only_inside_their_window() {
    // 10 h after the epoch is 10:00 UTC; a zero budget from 09:00 for 2 h blocks, from
    // 11:00 it does not
    let window = |at: &str| {
        let mut b = budget(Allowance::Count(0));
        b.window = Some((Cron::parse(at).map_err(|e| e.to_string()), 2 * HOUR));
        b
    };
    for (schedule, expected) in [("0 9 * * *", 0), ("0 11 * * *", 1), ("@daily", 1)] {
        let mut c = cluster(&["m5.large"], &[OD]);
        c.node("e", "m5.large", OD, &[]);
        c.pool().budgets = vec![window(schedule)];
        assert_eq!(disrupted(&c.decide()).len(), expected, "{schedule}");
    }
    // a schedule that does not parse allows nothing
    let mut c = cluster(&["m5.large"], &[OD]);
    c.node("e", "m5.large", OD, &[]);
    c.pool().budgets = vec![window("not a schedule")];
    assert!(c.decide().commands.is_empty());
}

#[test]
fn blockers_keep_nodes() {
    let mut c = cluster(&["m5.large", "m5.4xlarge"], &[OD]);
    c.node("pinned", "m5.4xlarge", OD, &[(500, 1000)]).pods[0].blocker =
        Some("pod default/pinned-0 has karpenter.sh/do-not-disrupt".into());
    c.node("annotated", "m5.4xlarge", OD, &[(500, 1000)])
        .do_not_disrupt = true;
    c.node("pdb", "m5.4xlarge", OD, &[(500, 1000)]).pods[0].blocker =
        Some("PodDisruptionBudget default/api allows no more disruptions".into());
    c.node("young", "m5.4xlarge", OD, &[(500, 1000)])
        .initialized = false;
    c.node("nominated", "m5.4xlarge", OD, &[(500, 1000)])
        .nominated = true;
    let d = c.decide();
    assert!(d.commands.is_empty(), "{:?}", d.commands);
    assert!(why(&d, "pinned").contains("do-not-disrupt"));
    assert!(why(&d, "annotated").contains("do-not-disrupt"));
    assert!(why(&d, "pdb").contains("PodDisruptionBudget"));
    assert!(why(&d, "young").contains("not initialized"));
    assert!(why(&d, "nominated").contains("nominated"));
}

#[test]
fn expiration_ignores_budgets_and_blockers() {
    let mut c = cluster(&["m5.large"], &[OD]);
    c.pool().expire_after = Some(4 * HOUR);
    c.pool().budgets = vec![budget(Allowance::Count(0))];
    c.node("old", "m5.large", OD, &[(500, 1000)]).pods[0].blocker = Some("do-not-disrupt".into());
    c.node("new", "m5.large", OD, &[(500, 1000)]).created = c.input.now - HOUR;
    let d = c.decide();
    assert_eq!(d.commands.len(), 1);
    assert_eq!(
        (d.commands[0].method, d.commands[0].reason),
        (Method::Expiration, Reason::Expired)
    );
    assert_eq!(d.commands[0].candidates, ["old"]);
}

#[test]
fn drift_replaces_one_node_per_loop() {
    let mut c = cluster(&["m5.large", "m5.xlarge"], &[OD]);
    c.node("d1", "m5.large", OD, &[(1500, 3000)]).drifted = Some("NodePool hash changed".into());
    c.node("d2", "m5.large", OD, &[(1500, 3000)]).drifted = Some("AMI changed".into());
    let d = c.decide();
    let drift = commands(&d, Method::Drift);
    assert_eq!(drift.len(), 1, "{d:?}");
    assert_eq!(drift[0].reason, Reason::Drifted);
    assert_eq!(drift[0].replacements.len(), 1, "its pod needs a new node");
    assert!(drift[0].message.contains("NodePool hash changed"));
}

#[test]
fn disruption_cost_follows_deletion_cost_priority_and_lifetime() {
    let mut c = cluster(&["m5.large"], &[OD]);
    c.node("n", "m5.large", OD, &[(100, 100), (100, 100)]);
    let node = c.input.nodes[0].clone();
    let now = c.input.now;
    // two pods at the default eviction cost of 1 each
    assert!((disruption_cost(&node, None, now) - 2.0).abs() < 1e-9);
    let mut costly = node.clone();
    costly.pods[0].deletion_cost = 1 << 27; // +1
    costly.pods[1].priority = 1 << 25; // +1
    assert!((disruption_cost(&costly, None, now) - 4.0).abs() < 1e-9);
    // an expiring node is cheaper to disrupt: cost scales with the lifetime left
    let mut pool = c.input.pools[0].clone();
    pool.expire_after = Some(40 * HOUR); // 10 h of 40 h used: 75 % left
    assert!((disruption_cost(&node, Some(&pool), now) - 1.5).abs() < 1e-9);
}

#[test]
fn decisions_are_deterministic_and_the_cache_changes_nothing() {
    let mut c = cluster(&["m5.large", "m5.xlarge", "m5.2xlarge"], &[OD, SPOT]);
    for i in 0..12 {
        let pods: Vec<(i128, i128)> = (0..(i % 4)).map(|k| (300 + 100 * k, 800)).collect();
        c.node(
            &format!("n{i:02}"),
            if i % 2 == 0 {
                "m5.xlarge"
            } else {
                "m5.2xlarge"
            },
            OD,
            &pods,
        );
    }
    let first = c.decide();
    assert!(!first.commands.is_empty());
    assert_eq!(first, c.decide());
    let mut cache = None;
    assert_eq!(
        first,
        karpenter_disruption::decide_cached(&c.input, &mut cache)
    );
    assert_eq!(
        first,
        karpenter_disruption::decide_cached(&c.input, &mut cache)
    );
}

#[test]
fn drift_is_eventual_with_a_termination_grace_period() {
    let mut c = cluster(&["m5.large", "m5.xlarge"], &[OD]);
    let n = c.node("d1", "m5.large", OD, &[(1500, 3000)]);
    n.drifted = Some("AMI changed".into());
    n.pods[0].blocker = Some("pod default/d1-0 has karpenter.sh/do-not-disrupt".into());
    let d = c.decide();
    assert!(
        d.commands.iter().all(|c| c.method != Method::Drift),
        "{d:?}"
    );
    assert!(
        d.blocked
            .iter()
            .any(|b| b.node == "d1" && b.reason.contains("do-not-disrupt"))
    );
    // with a terminationGracePeriod the deadline ends the blocker: drift goes ahead
    c.pool().termination_grace_period = Some(HOUR);
    let d = c.decide();
    let drift = commands(&d, Method::Drift);
    assert_eq!(drift.len(), 1, "{d:?}");
    assert_eq!(drift[0].candidates, ["d1"]);
}

#[test]
fn balanced_approves_only_moves_that_save_enough_for_their_disruption() {
    let build = |policy: Policy, small_pods: usize| {
        let mut c = cluster(&["m5.large", "m5.xlarge", "m5.2xlarge"], &[OD]);
        c.pool().policy = policy;
        // three full nodes nothing can shrink, and a cheap node whose pods fit on them
        for n in ["full-1", "full-2", "full-3"] {
            c.node(n, "m5.xlarge", OD, &[(3500, 1000)]);
        }
        c.node("busy", "m5.large", OD, &vec![(100, 100); small_pods]);
        c.decide()
    };
    let single = |d: &karpenter_disruption::Decision| -> Vec<String> {
        commands(d, Method::SingleNode)
            .iter()
            .flat_map(|c| c.candidates.clone())
            .collect()
    };
    // WhenEmptyOrUnderutilized takes any move that saves money
    let d = build(Policy::WhenEmptyOrUnderutilized, 6);
    assert_eq!(single(&d), ["busy"], "{d:?}");
    // Balanced: deleting busy saves 14 % of the pool's cost for 54 % of its disruption
    // (seven of thirteen reschedule costs): score 0.27 < 1/2, rejected
    let d = build(Policy::Balanced, 6);
    assert!(d.commands.is_empty(), "{d:?}");
    assert!(why(&d, "busy").contains("Balanced"), "{d:?}");
    // with one pod it is 2 of 8: score 0.57, approved
    let d = build(Policy::Balanced, 1);
    assert_eq!(single(&d), ["busy"], "{d:?}");
}

#[test]
fn no_consolidation_into_capacity_an_insufficient_capacity_error_made_unavailable() {
    let mut c = cluster(&["m5.large", "m5.xlarge", "m5.4xlarge"], &[OD]);
    c.node("oversized", "m5.4xlarge", OD, &[(500, 1000), (500, 1000)]);
    // the cloud's ICE cache marked m5.large on-demand in this zone unavailable
    let mut types = (*c.input.scheduling.instance_types).clone();
    for t in types.iter_mut().filter(|t| t.name == "m5.large") {
        for o in t.offerings.iter_mut().filter(|o| o.capacity_type == OD) {
            o.available = false;
        }
    }
    c.input.scheduling.instance_types = std::sync::Arc::new(types);
    let d = c.decide();
    assert_eq!(d.commands.len(), 1, "{d:?}");
    let r = &d.commands[0].replacements[0];
    assert!(
        !r.instance_types.iter().any(|t| t == "m5.large"),
        "{:?}",
        r.instance_types
    );
    assert_eq!(
        r.instance_types.first().map(String::as_str),
        Some("m5.xlarge")
    );
}

#[test]
fn nodes_of_a_static_nodepool_are_never_emptied_or_consolidated() {
    let mut c = cluster(&["m5.large", "m5.xlarge"], &[OD]);
    c.pool().is_static = true;
    c.node("empty", "m5.large", OD, &[]);
    c.node("under", "m5.xlarge", OD, &[(100, 100)]);
    let d = c.decide();
    assert!(d.commands.is_empty(), "{:?}", d.commands);
    for n in ["empty", "under"] {
        assert!(why(&d, n).contains("static"), "{n}: {}", why(&d, n));
    }
    // drift still replaces them (the pool keeps its count through the replacement)
    c.input.nodes[0].drifted = Some("NodePool hash changed".into());
    let d = c.decide();
    assert_eq!(disrupted(&d), ["empty"]);
    assert_eq!(d.commands[0].method, Method::Drift);
}

#[test]
fn a_node_whose_only_pod_is_a_terminating_statefulset_pod_is_not_empty() {
    let mut c = cluster(&["m5.large"], &[OD]);
    // what the snapshots set: a terminating StatefulSet pod is reschedulable (it comes back
    // under its name), another terminating pod is not
    c.node("sts", "m5.large", OD, &[(500, 1000)]).pods[0].reschedulable = true;
    c.node("gone", "m5.large", OD, &[(500, 1000)]).pods[0].reschedulable = false;
    let d = c.decide();
    let empty = commands(&d, Method::Emptiness);
    assert_eq!(empty.len(), 1, "{d:?}");
    assert_eq!(empty[0].candidates, ["gone"]);
}

#[test]
fn consolidation_moves_no_pod_onto_a_node_inside_its_consolidate_after_window() {
    // one type only: the one way to free "under" is to move its pod onto "fresh"
    let mut c = cluster(&["m5.xlarge"], &[OD]);
    c.pool().consolidate_after = Some(5 * MINUTE);
    let now = c.input.now;
    c.node("under", "m5.xlarge", OD, &[(500, 1000)]).quiet_since = now - HOUR;
    c.node("fresh", "m5.xlarge", OD, &[(500, 1000)]).quiet_since = now - MINUTE;
    // fresh's pods changed a minute ago: under's pod may not go there, and fresh itself is
    // inside its window, so nothing happens
    let d = c.decide();
    assert!(d.commands.is_empty(), "{:?}", d.commands);
    assert!(why(&d, "under").contains("cheaper"), "{}", why(&d, "under"));
    // once fresh has been quiet as long as the window, one node empties onto the other
    let merged = |d: &karpenter_disruption::Decision| {
        d.commands
            .iter()
            .any(|cmd| cmd.candidates.len() == 1 && cmd.replacements.is_empty())
    };
    c.input.nodes[1].quiet_since = now - 10 * MINUTE;
    let d = c.decide();
    assert!(merged(&d), "{:?}", d.blocked);
    // consolidateAfter 0s opens no window
    c.pool().consolidate_after = Some(0);
    c.input.nodes[1].quiet_since = now;
    let d = c.decide();
    assert!(merged(&d), "{:?}", d.blocked);
}
