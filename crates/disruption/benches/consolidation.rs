//! One disruption decision over a large cluster: 5,000 on-demand nodes holding 100,000
//! pods, one node in ten underused, everything past consolidateAfter, a 10 % budget. The
//! decision is deterministic and has no timeout; the issue's target is under 2 s.

use std::collections::BTreeMap;

use criterion::{Criterion, criterion_group, criterion_main};
use karpenter_catalog::AwsSettings;
use karpenter_disruption::{
    Allowance, Budget, DisruptionInput, NodeInfo, PodInfo, Policy, PoolPolicy, decide,
};
use karpenter_model::time::HOUR;
use karpenter_model::wellknown::{aws_labels, labels};
use karpenter_model::{Op, Quantity, Requirement, Requirements, Resources};
use karpenter_scheduling::{BoundPod, ExistingNode, Input, Options, PendingPod, Pool};

const TYPES: [&str; 4] = ["m5.2xlarge", "c5.2xlarge", "r5.xlarge", "m5.4xlarge"];
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

fn cluster(nodes: usize, pods_per_node: usize) -> DisruptionInput {
    let catalog = match karpenter_catalog::load("builtin:aws/us-east-1", &AwsSettings::default()) {
        Ok(c) => c,
        Err(e) => panic!("embedded catalog: {e}"),
    };
    let mut reqs = Requirements::new();
    for (k, op, v) in [
        (labels::CAPACITY_TYPE, Op::In, vec!["on-demand"]),
        (labels::ARCH, Op::In, vec!["amd64"]),
        (aws_labels::INSTANCE_CATEGORY, Op::In, vec!["c", "m", "r"]),
        (aws_labels::INSTANCE_GENERATION, Op::Gt, vec!["4"]),
        (labels::NODEPOOL, Op::In, vec!["default"]),
    ] {
        reqs.add(&Requirement::new(k, op, v.into_iter().map(String::from)));
    }
    let mut existing = Vec::with_capacity(nodes);
    let mut bound = Vec::with_capacity(nodes * pods_per_node);
    let mut infos = Vec::with_capacity(nodes);
    for n in 0..nodes {
        let ty = TYPES[n % TYPES.len()];
        let zone = ZONES[(n / TYPES.len()) % 3];
        let Some(it) = catalog.iter().find(|t| t.name == ty) else {
            panic!("{ty} missing from the catalog");
        };
        let price = it
            .offerings
            .iter()
            .filter(|o| o.zone == zone && o.capacity_type == "on-demand")
            .map(|o| o.price)
            .fold(f64::INFINITY, f64::min);
        let alloc = it.allocatable();
        let share = if n % 10 == 0 { 15 } else { 75 };
        let per = |r: &str| {
            alloc.get(r).copied().unwrap_or_default().millis() * share / 100 / pods_per_node as i128
        };
        let (cpu, mem) = (per("cpu"), per("memory"));
        let name = format!("node-{n:05}");
        let mut available = alloc.clone();
        let mut pods = Vec::with_capacity(pods_per_node);
        for b in 0..pods_per_node {
            let app = format!("app-{}", (n * pods_per_node + b) % 500);
            let requests: Resources = [
                ("cpu".to_string(), Quantity::from_millis(cpu)),
                ("memory".to_string(), Quantity::from_millis(mem)),
                ("pods".to_string(), Quantity::from_units(1)),
            ]
            .into();
            for (k, v) in &requests {
                if let Some(a) = available.get_mut(k) {
                    *a = a.saturating_sub(*v);
                }
            }
            let labels: BTreeMap<String, String> = [("app".to_string(), app)].into();
            bound.push(BoundPod {
                namespace: "default".into(),
                labels: labels.clone(),
                node: n,
                anti_affinity: Vec::new(),
            });
            let id = format!("default/{name}-{b}");
            pods.push(PodInfo {
                id: id.clone(),
                spec: PendingPod {
                    id,
                    namespace: "default".into(),
                    labels,
                    requests,
                    ..PendingPod::default()
                },
                deletion_cost: 0,
                priority: 0,
                blocker: None,
                reschedulable: true,
            });
        }
        let mut node_labels: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            (labels::INSTANCE_TYPE, ty),
            (labels::ZONE, zone),
            (labels::CAPACITY_TYPE, "on-demand"),
            (labels::NODEPOOL, "default"),
            (labels::ARCH, "amd64"),
            (labels::HOSTNAME, name.as_str()),
        ] {
            node_labels.insert(k.to_string(), v.to_string());
        }
        existing.push(ExistingNode {
            name: name.clone(),
            labels: node_labels,
            available,
            initialized: true,
            ..ExistingNode::default()
        });
        infos.push(NodeInfo {
            name: name.clone(),
            claim: format!("claim-{n:05}"),
            node_pool: "default".into(),
            instance_type: ty.into(),
            zone: zone.into(),
            capacity_type: "on-demand".into(),
            price,
            initialized: true,
            ready: true,
            created: 0,
            quiet_since: 0,
            disrupting: false,
            do_not_disrupt: false,
            nominated: false,
            drifted: None,
            index: n,
            pods,
        });
    }
    DisruptionInput {
        now: HOUR,
        scheduling: Input {
            pods: Vec::new(),
            pools: vec![Pool {
                name: "default".into(),
                weight: 0,
                requirements: reqs,
                taints: Vec::new(),
                limits: None,
                instance_types: None,
            }],
            instance_types: catalog.into(),
            existing,
            bound,
            daemonsets: Vec::new(),
            options: Options::default(),
        },
        nodes: infos,
        pools: vec![PoolPolicy {
            name: "default".into(),
            policy: Policy::WhenEmptyOrUnderutilized,
            consolidate_after: Some(0),
            budgets: vec![Budget {
                nodes: Allowance::Percent(10),
                reasons: Vec::new(),
                window: None,
            }],
            expire_after: None,
            termination_grace_period: None,
            is_static: false,
        }],
        spot_to_spot: false,
        max_simulations: 100,
    }
}

fn bench(c: &mut Criterion) {
    let input = cluster(5_000, 20);
    let decision = decide(&input);
    let removed: usize = decision.commands.iter().map(|c| c.candidates.len()).sum();
    assert!(removed > 0, "the underused nodes must be consolidated");
    eprintln!(
        "5,000 nodes / 100,000 pods: {} commands removing {removed} nodes, {} nodes left alone",
        decision.commands.len(),
        decision.blocked.len()
    );
    let mut g = c.benchmark_group("disruption");
    g.sample_size(10);
    g.bench_function("decide 5000 nodes 100k pods", |b| b.iter(|| decide(&input)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
