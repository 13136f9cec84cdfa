//! The engine on small scenarios written from upstream's documented behaviour.

use std::collections::BTreeMap;

use karpenter_model::{
    Effect, InstanceType, Offering, Op, Overhead, Quantity, Requirement, Requirements, Resources,
    Taint, Toleration,
};
use karpenter_scheduling::{ExistingNode, Input, PendingPod, Pool, solve};

fn res(cpu: &str, mem: &str) -> Resources {
    [("cpu", cpu), ("memory", mem)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Quantity::parse(v).unwrap_or_default()))
        .collect()
}

fn it(name: &str, cpu: i128, gib: i128, price: f64, zones: &[&str]) -> InstanceType {
    let mut capacity = res(&cpu.to_string(), &format!("{gib}Gi"));
    capacity.insert("pods".into(), Quantity::from_units(110));
    InstanceType {
        name: name.into(),
        capacity,
        overhead: Overhead::default(),
        requirements: vec![Requirement::new("kubernetes.io/arch", Op::In, ["amd64"])],
        offerings: zones
            .iter()
            .map(|z| Offering {
                zone: z.to_string(),
                zone_id: None,
                capacity_type: "on-demand".into(),
                price,
                available: true,
                reservation_id: None,
                reservation_capacity: None,
            })
            .collect(),
    }
}

fn catalog() -> Vec<InstanceType> {
    vec![
        it("small", 2, 4, 0.10, &["a", "b"]),
        it("medium", 4, 8, 0.19, &["a", "b"]),
        it("large", 8, 16, 0.36, &["a"]),
    ]
}

fn pod(name: &str, cpu: &str, mem: &str) -> PendingPod {
    let mut requests = res(cpu, mem);
    requests.insert("pods".into(), Quantity::from_units(1));
    PendingPod {
        id: format!("default/{name}"),
        namespace: "default".into(),
        requests,
        ..PendingPod::default()
    }
}

fn pool(name: &str, weight: i32) -> Pool {
    let mut requirements = Requirements::new();
    requirements.add(&Requirement::new("karpenter.sh/nodepool", Op::In, [name]));
    Pool {
        name: name.into(),
        weight,
        requirements,
        taints: vec![],
        limits: None,
        instance_types: None,
    }
}

fn input(pods: Vec<PendingPod>, pools: Vec<Pool>) -> Input {
    Input {
        pods,
        pools,
        instance_types: catalog().into(),
        ..Input::default()
    }
}

#[test]
fn packs_pods_onto_the_cheapest_fitting_claim() {
    let pods = (0..3).map(|i| pod(&format!("p{i}"), "1", "1Gi")).collect();
    let plan = solve(&input(pods, vec![pool("default", 0)]));
    assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
    assert_eq!(plan.claims.len(), 1);
    let c = &plan.claims[0];
    assert_eq!(c.pods.len(), 3);
    // 3 CPU do not fit "small": medium is the cheapest option
    assert_eq!(c.instance_types, ["medium", "large"]);
    assert!((c.price - 0.19).abs() < 1e-9);
    assert_eq!(
        c.labels.get("karpenter.sh/nodepool").map(String::as_str),
        Some("default")
    );
}

#[test]
fn larger_pods_go_first_and_overflow_opens_claims() {
    let mut pods = vec![pod("tiny", "500m", "512Mi")];
    pods.extend((0..3).map(|i| pod(&format!("big{i}"), "7", "4Gi")));
    let plan = solve(&input(pods, vec![pool("default", 0)]));
    assert_eq!(plan.claims.len(), 3, "{:#?}", plan.claims);
    // the small pod joins the claim with the fewest pods that still fits (large: 8 CPU)
    assert!(
        plan.claims
            .iter()
            .any(|c| c.pods.len() == 2 && c.pods.contains(&"default/tiny".to_string()))
    );
}

#[test]
fn taints_must_be_tolerated() {
    let mut p = pool("gpu", 0);
    p.taints = vec![Taint {
        key: "gpu".into(),
        value: "true".into(),
        effect: Effect::NoSchedule,
    }];
    let plan = solve(&input(vec![pod("a", "1", "1Gi")], vec![p.clone()]));
    assert_eq!(plan.claims.len(), 0);
    assert!(
        plan.unschedulable[0]
            .reason
            .contains("did not tolerate taint gpu=true"),
        "{}",
        plan.unschedulable[0].reason
    );
    let mut tolerant = pod("a", "1", "1Gi");
    tolerant.tolerations = vec![Toleration {
        key: "gpu".into(),
        exists: true,
        value: String::new(),
        effect: None,
    }];
    assert_eq!(solve(&input(vec![tolerant], vec![p])).claims.len(), 1);
}

#[test]
fn pod_requirements_narrow_zone_and_types() {
    let mut p = pod("a", "1", "1Gi");
    p.node_selector.add(&Requirement::new(
        "topology.kubernetes.io/zone",
        Op::In,
        ["b"],
    ));
    let plan = solve(&input(vec![p], vec![pool("default", 0)]));
    let c = &plan.claims[0];
    assert_eq!(
        c.instance_types,
        ["small", "medium"],
        "large is not offered in b"
    );
    assert_eq!(
        c.labels
            .get("topology.kubernetes.io/zone")
            .map(String::as_str),
        Some("b")
    );
}

#[test]
fn custom_labels_must_be_defined_by_a_nodepool() {
    let mut p = pod("a", "1", "1Gi");
    p.node_selector
        .add(&Requirement::new("example.com/team", Op::In, ["x"]));
    let plan = solve(&input(vec![p.clone()], vec![pool("default", 0)]));
    assert!(
        plan.unschedulable[0]
            .reason
            .contains("label \"example.com/team\" does not have known values"),
        "{:?}",
        plan.unschedulable
    );
    let mut team = pool("team", 0);
    team.requirements.add(&Requirement::new(
        "example.com/team",
        Op::Exists,
        Vec::<String>::new(),
    ));
    let plan = solve(&input(vec![p], vec![team]));
    assert_eq!(
        plan.claims[0]
            .labels
            .get("example.com/team")
            .map(String::as_str),
        Some("x")
    );
}

#[test]
fn weights_order_nodepools_and_incompatible_pools_are_skipped() {
    let mut heavy = pool("heavy", 50);
    heavy.requirements.add(&Requirement::new(
        "topology.kubernetes.io/zone",
        Op::In,
        ["a"],
    ));
    let light = pool("light", 1);
    let plan = solve(&input(
        vec![pod("a", "1", "1Gi")],
        vec![light.clone(), heavy.clone()],
    ));
    assert_eq!(plan.claims[0].node_pool, "heavy");
    let mut in_b = pod("b", "1", "1Gi");
    in_b.node_selector.add(&Requirement::new(
        "topology.kubernetes.io/zone",
        Op::In,
        ["b"],
    ));
    let plan = solve(&input(vec![in_b], vec![light, heavy]));
    assert_eq!(plan.claims[0].node_pool, "light");
}

#[test]
fn limits_are_pessimistic_and_reported() {
    let mut p = pool("default", 0);
    p.limits = Some([("nodes".to_string(), Quantity::from_units(1))].into());
    let plan = solve(&input(
        vec![pod("a", "7", "1Gi"), pod("b", "7", "1Gi")],
        vec![p],
    ));
    assert_eq!(plan.claims.len(), 1);
    assert_eq!(plan.unschedulable.len(), 1);
    assert!(
        plan.unschedulable[0]
            .reason
            .contains("limits.nodes exhausted"),
        "{}",
        plan.unschedulable[0].reason
    );
    let mut cpu = pool("default", 0);
    cpu.limits = Some(res("6", "1000Gi"));
    let plan = solve(&input(vec![pod("a", "7", "1Gi")], vec![cpu]));
    assert!(
        plan.unschedulable[0]
            .reason
            .contains("exceed the nodepool's remaining limits (cpu=6 left, memory=1000Gi left)"),
        "{:?}",
        plan.unschedulable
    );
    // a used-up limit is named with nothing left, not dropped as a zero
    let mut spent = pool("default", 0);
    spent.limits = Some(res("0", "1000Gi"));
    let plan = solve(&input(vec![pod("a", "1", "1Gi")], vec![spent]));
    let reason = &plan.unschedulable[0].reason;
    assert!(
        reason.contains("(cpu=0 left, memory=1000Gi left)"),
        "{reason}"
    );
}

#[test]
fn existing_nodes_are_used_first() {
    let mut i = input(
        vec![pod("a", "1", "1Gi"), pod("b", "1", "1Gi")],
        vec![pool("default", 0)],
    );
    i.existing = vec![ExistingNode {
        name: "node-1".into(),
        labels: BTreeMap::new(),
        taints: vec![],
        available: {
            let mut r = res("1500m", "8Gi");
            r.insert("pods".into(), Quantity::from_units(10));
            r
        },
        initialized: true,
        ..ExistingNode::default()
    }];
    let plan = solve(&i);
    assert_eq!(plan.existing.len(), 1);
    assert_eq!(
        plan.existing[0].pods.len(),
        1,
        "only one 1-CPU pod fits 1.5 CPU"
    );
    assert_eq!(plan.claims.len(), 1);
}

#[test]
fn too_big_and_unsupported_pods_get_reasons() {
    let mut unsupported = pod("spread", "1", "1Gi");
    unsupported.ignored = Some("label \"kubernetes.io/hostname\" is restricted".into());
    let plan = solve(&input(
        vec![pod("huge", "64", "1Gi"), unsupported],
        vec![pool("default", 0)],
    ));
    assert_eq!(plan.unschedulable.len(), 2);
    let reasons: Vec<&str> = plan
        .unschedulable
        .iter()
        .map(|u| u.reason.as_str())
        .collect();
    assert!(
        reasons[0].contains("no instance type had enough resources for cpu=64"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("ignored: label"), "{reasons:?}");
    assert!(
        solve(&input(vec![pod("a", "1", "1Gi")], vec![])).unschedulable[0]
            .reason
            .contains("no ready nodepools")
    );
}

#[test]
fn the_same_input_gives_the_same_plan() {
    let pods: Vec<PendingPod> = (0..50)
        .map(|i| {
            pod(
                &format!("p{i}"),
                &format!("{}m", 100 + (i * 37) % 900),
                "256Mi",
            )
        })
        .collect();
    let i = input(pods, vec![pool("a", 0), pool("b", 0)]);
    assert_eq!(solve(&i), solve(&i));
}
