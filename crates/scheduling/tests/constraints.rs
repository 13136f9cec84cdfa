//! Preferences and relaxation, DaemonSet overhead, host ports, volumes, existing and
//! in-flight capacity, minValues: upstream's documented behaviour (reference 2.4-2.12).

mod common;

use common::*;
use karpenter_model::{Effect, Op, Quantity};
use karpenter_scheduling::{
    DaemonSet, HostPort, MinValuesPolicy, Options, PreferencePolicy, VolumeAttachment, Weighted,
    solve,
};

#[test]
fn preferred_node_affinity_is_honoured_when_possible_and_relaxed_otherwise() {
    let mut likes_b = pod("likes-b", "1", "1Gi");
    likes_b.preferred_terms.push(Weighted {
        weight: 10,
        term: reqs(&[(ZONE, Op::In, &["b"])]),
    });
    let mut likes_nowhere = pod("likes-nowhere", "1", "1Gi");
    likes_nowhere.preferred_terms.push(Weighted {
        weight: 10,
        term: reqs(&[(ZONE, Op::In, &["mars"])]),
    });
    let plan = solve(&input(
        vec![likes_b, likes_nowhere],
        vec![pool("default")],
        4,
    ));
    assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
    assert_eq!(zone_of(&plan, "default/likes-b").as_deref(), Some("b"));
}

#[test]
fn heaviest_preference_is_tried_first() {
    let mut p = pod("p", "1", "1Gi");
    p.preferred_terms = vec![
        Weighted {
            weight: 1,
            term: reqs(&[(ZONE, Op::In, &["a"])]),
        },
        Weighted {
            weight: 50,
            term: reqs(&[(ZONE, Op::In, &["c"])]),
        },
    ];
    let plan = solve(&input(vec![p], vec![pool("default")], 4));
    assert_eq!(zone_of(&plan, "default/p").as_deref(), Some("c"));
}

#[test]
fn required_terms_are_tried_in_order() {
    let mut p = pod("p", "1", "1Gi");
    p.required_terms = vec![
        reqs(&[(ZONE, Op::In, &["mars"])]),
        reqs(&[(ZONE, Op::In, &["b"])]),
    ];
    let plan = solve(&input(vec![p.clone()], vec![pool("default")], 4));
    assert_eq!(zone_of(&plan, "default/p").as_deref(), Some("b"));
    p.required_terms = vec![reqs(&[(ZONE, Op::In, &["mars"])])];
    let plan = solve(&input(vec![p], vec![pool("default")], 4));
    assert_eq!(
        plan.unschedulable.len(),
        1,
        "the last term is never dropped"
    );
}

#[test]
fn ignore_policy_drops_preferences_up_front() {
    let pods: Vec<_> = (0..4)
        .map(|i| {
            let mut p = labelled(pod(&format!("p-{i}"), "100m", "100Mi"), "app", "x");
            p.preferred_anti_affinity.push(Weighted {
                weight: 1,
                term: term(HOSTNAME, "app", "x"),
            });
            p
        })
        .collect();
    let respect = solve(&input(pods.clone(), vec![pool("default")], 4));
    assert_eq!(
        respect.claims.len(),
        4,
        "satisfiable preference: one node each"
    );
    let mut i = input(pods, vec![pool("default")], 4);
    i.options = Options {
        preference_policy: PreferencePolicy::Ignore,
        ..Options::default()
    };
    assert_eq!(solve(&i).claims.len(), 1, "ignored: they pack");
}

#[test]
fn prefer_no_schedule_is_avoided_then_tolerated() {
    let mut soft = pool("soft");
    soft.taints
        .push(taint("spot-only", Effect::PreferNoSchedule));
    let plan = solve(&input(vec![pod("p", "1", "1Gi")], vec![soft.clone()], 4));
    assert!(
        plan.unschedulable.is_empty(),
        "relaxation tolerates PreferNoSchedule"
    );
    let mut plain = pool("plain");
    plain.weight = 0;
    soft.weight = 10;
    let plan = solve(&input(vec![pod("p", "1", "1Gi")], vec![soft, plain], 4));
    assert_eq!(
        plan.claims[0].node_pool, "plain",
        "an untainted pool is preferred"
    );
}

#[test]
fn daemonset_overhead_picks_a_larger_type() {
    let mut i = input(vec![pod("p", "1800m", "1Gi")], vec![pool("default")], 4);
    let plan = solve(&i);
    assert_eq!(plan.claims[0].instance_types[0], "t-002");
    let mut ds_requests = res("500m", "100Mi");
    ds_requests.insert("pods".into(), Quantity::from_units(1));
    i.daemonsets.push(DaemonSet {
        name: "kube-system/agent".into(),
        requests: ds_requests,
        ..DaemonSet::default()
    });
    let plan = solve(&i);
    assert_eq!(plan.claims[0].instance_types[0], "t-003", "1.8 + 0.5 CPU");
    assert_eq!(plan.claims[0].requests.get("cpu"), Some(&q("2300m")));
    // a DaemonSet that does not tolerate the pool's taint adds nothing
    let mut tainted = pool("tainted");
    tainted.taints.push(taint("dedicated", Effect::NoSchedule));
    i.pools = vec![tainted];
    i.pods[0].tolerations.push(tolerate("dedicated"));
    let plan = solve(&i);
    assert_eq!(plan.claims[0].instance_types[0], "t-002");
}

#[test]
fn a_type_is_eligible_only_if_the_daemonset_overhead_fits_in_every_resource() {
    // the agent asks for a resource the pod does not: types without it cannot host the
    // agent, so the pod goes to the one type that has it, however large (upstream fits the
    // pod's requests plus the overhead as one list against allocatable)
    let mut i = input(vec![pod("p", "500m", "512Mi")], vec![pool("default")], 4);
    i.instance_types = std::sync::Arc::new({
        let mut types = catalog(4);
        types[3]
            .capacity
            .insert("example.com/dongle".into(), Quantity::from_units(1));
        types
    });
    let mut ds_requests = res("100m", "100Mi");
    ds_requests.insert("example.com/dongle".into(), Quantity::from_units(1));
    i.daemonsets.push(DaemonSet {
        name: "kube-system/dongle-agent".into(),
        requests: ds_requests,
        ..DaemonSet::default()
    });
    let plan = solve(&i);
    assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
    assert_eq!(plan.claims[0].instance_types, vec!["t-004".to_string()]);
    // no type has the resource: nothing fits, the pod stays pending
    i.instance_types = std::sync::Arc::new(catalog(4));
    let plan = solve(&i);
    assert!(plan.claims.is_empty());
    assert_eq!(plan.unschedulable.len(), 1);
}

#[test]
fn daemonsets_selecting_registered_or_initialized_nodes_count_on_new_claims() {
    let mut i = input(vec![pod("p", "1800m", "1Gi")], vec![pool("default")], 4);
    let mut ds_requests = res("500m", "100Mi");
    ds_requests.insert("pods".into(), Quantity::from_units(1));
    for (name, key) in [
        ("kube-system/registered", "karpenter.sh/registered"),
        ("kube-system/initialized", "karpenter.sh/initialized"),
    ] {
        i.daemonsets.push(DaemonSet {
            name: name.into(),
            requests: ds_requests.clone(),
            node_selector: reqs(&[(key, Op::In, &["true"])]),
            ..DaemonSet::default()
        });
    }
    let plan = solve(&i);
    // 1.8 + 2 x 0.5 CPU: both agents will run once the node joins
    assert_eq!(plan.claims[0].instance_types[0], "t-003");
    assert_eq!(plan.claims[0].requests.get("cpu"), Some(&q("2800m")));
    // the labels are assumed for the DaemonSet check only, never put on the claim
    for key in ["karpenter.sh/registered", "karpenter.sh/initialized"] {
        assert!(
            plan.claims[0].requirements.iter().all(|r| r.key != key),
            "{key} on the claim"
        );
        assert!(!plan.claims[0].labels.contains_key(key), "{key} labelled");
    }
    // one selecting nodes that have not joined runs nowhere new
    i.daemonsets = vec![DaemonSet {
        name: "kube-system/early".into(),
        requests: ds_requests,
        node_selector: reqs(&[("karpenter.sh/registered", Op::DoesNotExist, &[])]),
        ..DaemonSet::default()
    }];
    let plan = solve(&i);
    assert_eq!(plan.claims[0].requests.get("cpu"), Some(&q("1800m")));
}

#[test]
fn a_settling_node_takes_pending_pods_but_not_moved_ones() {
    let mut i = input(vec![pod("p", "1", "1Gi")], vec![pool("default")], 4);
    let mut n = node("settling", "a", "4", "8Gi");
    n.settling = true;
    i.existing.push(n);
    let plan = solve(&i);
    assert!(plan.claims.is_empty(), "a pending pod goes onto it");
    assert_eq!(plan.existing[0].pods, vec!["default/p".to_string()]);
    i.pods[0].moving = true;
    let plan = solve(&i);
    assert!(plan.existing.iter().all(|n| n.pods.is_empty()), "{plan:?}");
    assert_eq!(plan.claims.len(), 1, "a moved pod needs other capacity");
}

#[test]
fn host_ports_conflict_per_node() {
    let port = HostPort {
        protocol: "TCP".into(),
        ip: String::new(),
        port: 8080,
    };
    let mut a = pod("a", "100m", "100Mi");
    a.host_ports.push(port.clone());
    let mut b = pod("b", "100m", "100Mi");
    b.host_ports.push(port.clone());
    let mut c = pod("c", "100m", "100Mi");
    c.host_ports.push(HostPort { port: 9090, ..port });
    let plan = solve(&input(vec![a, b, c], vec![pool("default")], 4));
    assert_eq!(plan.claims.len(), 2);
    assert_ne!(claim_of(&plan, "default/a"), claim_of(&plan, "default/b"));
}

#[test]
fn volume_topology_pins_the_zone_and_attach_limits_hold() {
    let mut p = pod("db", "1", "1Gi");
    p.volume_requirements = vec![reqs(&[(ZONE, Op::In, &["c"])])];
    let plan = solve(&input(vec![p], vec![pool("default")], 4));
    assert_eq!(zone_of(&plan, "default/db").as_deref(), Some("c"));

    let mut i = input(vec![], vec![pool("default")], 4);
    let mut full = node("full", "a", "4", "8Gi");
    full.volume_limits.insert("ebs.csi.aws.com".into(), 1);
    full.volumes
        .insert("ebs.csi.aws.com".into(), ["default/old".to_string()].into());
    i.existing = vec![full];
    let mut p = pod("db", "1", "1Gi");
    p.volumes.push(VolumeAttachment {
        driver: "ebs.csi.aws.com".into(),
        volume: "default/new".into(),
    });
    let mut shares = pod("shares", "1", "1Gi");
    shares.volumes.push(VolumeAttachment {
        driver: "ebs.csi.aws.com".into(),
        volume: "default/old".into(),
    });
    i.pods = vec![p, shares];
    let plan = solve(&i);
    assert_eq!(plan.existing.len(), 1);
    assert_eq!(
        plan.existing[0].pods,
        vec!["default/shares".to_string()],
        "same claim counts once"
    );
    assert_eq!(
        plan.claims.len(),
        1,
        "the new volume exceeds the node's limit"
    );
}

#[test]
fn existing_nodes_initialized_first_and_removed_nodes_skipped() {
    let mut i = input(vec![pod("p", "1", "1Gi")], vec![pool("default")], 4);
    let mut starting = node("a-starting", "a", "4", "8Gi");
    starting.initialized = false;
    let mut leaving = node("0-leaving", "a", "4", "8Gi");
    leaving.unschedulable = true;
    i.existing = vec![starting, leaving, node("z-ready", "b", "4", "8Gi")];
    let plan = solve(&i);
    assert_eq!(plan.existing.len(), 1);
    assert_eq!(plan.existing[0].name, "z-ready");
    assert!(plan.claims.is_empty());
}

#[test]
fn existing_nodes_reserve_room_for_missing_daemonset_pods() {
    let mut i = input(vec![pod("p", "1", "1Gi")], vec![pool("default")], 4);
    i.existing = vec![node("n", "a", "1200m", "8Gi")];
    let mut ds_requests = res("500m", "100Mi");
    ds_requests.insert("pods".into(), Quantity::from_units(1));
    i.daemonsets.push(DaemonSet {
        name: "kube-system/agent".into(),
        requests: ds_requests,
        ..DaemonSet::default()
    });
    assert_eq!(
        solve(&i).claims.len(),
        1,
        "0.7 CPU left once the agent runs"
    );
    i.existing[0].daemonsets.insert("kube-system/agent".into());
    assert_eq!(solve(&i).existing.len(), 1, "the agent already runs there");
}

#[test]
fn min_values_strict_and_best_effort() {
    let mut p = pool("default");
    p.requirements.add(&karpenter_model::Requirement::new(
        "node.kubernetes.io/instance-type",
        Op::In,
        ["t-001", "t-002", "t-003", "t-004"],
    ));
    p.requirements
        .add_min_values("node.kubernetes.io/instance-type", 3);
    // a 2.5-CPU pod fits only t-003 and t-004: two values < 3
    let mut i = input(vec![pod("p", "2500m", "1Gi")], vec![p], 4);
    let plan = solve(&i);
    assert_eq!(plan.unschedulable.len(), 1);
    assert!(
        plan.unschedulable[0].reason.contains("minValues"),
        "{}",
        plan.unschedulable[0].reason
    );
    i.options.min_values_policy = MinValuesPolicy::BestEffort;
    let plan = solve(&i);
    assert_eq!(plan.claims.len(), 1);
    assert!(plan.claims[0].min_values_relaxed);
    // a small pod keeps all four options
    i.options.min_values_policy = MinValuesPolicy::Strict;
    i.pods = vec![pod("small", "500m", "1Gi")];
    let plan = solve(&i);
    assert_eq!(plan.claims[0].instance_types.len(), 4);
    assert!(!plan.claims[0].min_values_relaxed);
}

#[test]
fn instance_types_are_cheapest_first_and_capped_at_600() {
    let plan = solve(&input(
        vec![pod("p", "1", "1Gi")],
        vec![pool("default")],
        700,
    ));
    let c = &plan.claims[0];
    assert_eq!(c.instance_types.len(), 600);
    assert_eq!(
        c.instance_types[0], "t-001",
        "no overhead: 1 CPU fits the 1-CPU type"
    );
    assert!((c.price - 0.3).abs() < 1e-9, "{}", c.price);
    let it = c
        .requirements
        .iter()
        .find(|r| r.key == "node.kubernetes.io/instance-type")
        .map(|r| r.values.len());
    assert_eq!(it, Some(600));
    assert!(plan.lower_bound > 0.0 && plan.lower_bound <= c.price + 1e-9);
}

#[test]
fn reserved_capacity_is_pinned_and_strict() {
    let mut i = input(vec![], vec![pool("default")], 4);
    std::sync::Arc::make_mut(&mut i.instance_types)[1]
        .offerings
        .push(karpenter_model::Offering {
            zone: "a".into(),
            zone_id: None,
            capacity_type: "reserved".into(),
            price: 0.6 / 10_000_000.0,
            available: true,
            reservation_id: Some("cr-123".into()),
            reservation_capacity: Some(1),
        });
    i.pods = (0..2)
        .map(|k| {
            let mut p = labelled(pod(&format!("r-{k}"), "1500m", "1Gi"), "app", "r");
            p.anti_affinity.push(term(HOSTNAME, "app", "r"));
            p
        })
        .collect();
    let plan = solve(&i);
    assert_eq!(plan.claims.len(), 1);
    let c = &plan.claims[0];
    assert_eq!(c.capacity_type, "reserved");
    assert_eq!(
        c.labels
            .get("karpenter.k8s.aws/capacity-reservation-id")
            .map(String::as_str),
        Some("cr-123")
    );
    assert_eq!(c.instance_types, vec!["t-002".to_string()]);
    assert_eq!(
        plan.unschedulable.len(),
        1,
        "the second pod waits: no fallback"
    );
    assert!(
        plan.unschedulable[0].reason.contains("cr-123"),
        "{}",
        plan.unschedulable[0].reason
    );
    // a pool without reserved capacity type launches on-demand for both
    i.pools[0]
        .requirements
        .add(&karpenter_model::Requirement::new(
            "karpenter.sh/capacity-type",
            Op::In,
            ["on-demand"],
        ));
    let plan = solve(&i);
    assert_eq!(plan.claims.len(), 2);
    assert!(plan.claims.iter().all(|c| c.capacity_type == "on-demand"));
}
