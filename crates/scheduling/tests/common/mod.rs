//! Builders for engine inputs in tests: a small catalog in the shape of upstream's fake
//! instance types, pods, pools and nodes.

#![allow(dead_code)]

use std::collections::BTreeMap;

use karpenter_model::{
    Effect, InstanceType, LabelSelector, Offering, Op, Overhead, Quantity, Requirement,
    Requirements, Resources, Taint, Toleration,
};
use karpenter_scheduling::{AffinityTerm, ExistingNode, Input, PendingPod, Pool, Spread};

pub const ZONE: &str = "topology.kubernetes.io/zone";
pub const HOSTNAME: &str = "kubernetes.io/hostname";

pub fn q(s: &str) -> Quantity {
    match Quantity::parse(s) {
        Ok(v) => v,
        Err(e) => panic!("{s}: {e}"),
    }
}

pub fn res(cpu: &str, mem: &str) -> Resources {
    [("cpu".to_string(), q(cpu)), ("memory".to_string(), q(mem))].into()
}

/// Upstream's `fake.InstanceTypes(n)` shape: type i has i+1 vCPU, 2(i+1) GiB, 10(i+1)
/// pods; on-demand in zones a, b, c; price 0.1 per vCPU plus 0.1 per GiB.
pub fn catalog(n: usize) -> Vec<InstanceType> {
    (0..n)
        .map(|i| {
            let cpu = i as i128 + 1;
            let mut capacity = res(&cpu.to_string(), &format!("{}Gi", 2 * cpu));
            capacity.insert("pods".into(), Quantity::from_units(10 * cpu));
            InstanceType {
                name: format!("t-{:03}", i + 1),
                capacity,
                overhead: Overhead::default(),
                requirements: vec![Requirement::new("kubernetes.io/arch", Op::In, ["amd64"])],
                offerings: ["a", "b", "c"]
                    .iter()
                    .map(|z| Offering {
                        zone: z.to_string(),
                        zone_id: None,
                        capacity_type: "on-demand".into(),
                        price: 0.1 * cpu as f64 + 0.2 * cpu as f64,
                        available: true,
                        reservation_id: None,
                        reservation_capacity: None,
                    })
                    .collect(),
            }
        })
        .collect()
}

pub fn pod(name: &str, cpu: &str, mem: &str) -> PendingPod {
    let mut requests = res(cpu, mem);
    requests.insert("pods".into(), Quantity::from_units(1));
    PendingPod {
        id: format!("default/{name}"),
        namespace: "default".into(),
        requests,
        ..PendingPod::default()
    }
}

pub fn labelled(mut p: PendingPod, k: &str, v: &str) -> PendingPod {
    p.labels.insert(k.into(), v.into());
    p
}

pub fn selector(k: &str, v: &str) -> LabelSelector {
    LabelSelector {
        match_labels: [(k.to_string(), v.to_string())].into(),
        ..LabelSelector::default()
    }
}

pub fn spread(key: &str, max_skew: i32, k: &str, v: &str) -> Spread {
    Spread {
        key: key.into(),
        max_skew,
        min_domains: None,
        schedule_anyway: false,
        selector: selector(k, v),
        honor_node_affinity: true,
        honor_node_taints: false,
    }
}

pub fn term(key: &str, k: &str, v: &str) -> AffinityTerm {
    AffinityTerm {
        key: key.into(),
        selector: selector(k, v),
        namespaces: ["default".to_string()].into(),
    }
}

pub fn reqs(list: &[(&str, Op, &[&str])]) -> Requirements {
    let mut r = Requirements::new();
    for (k, op, vals) in list {
        r.add(&Requirement::new(
            k,
            *op,
            vals.iter().map(|v| v.to_string()),
        ));
    }
    r
}

pub fn pool(name: &str) -> Pool {
    Pool {
        name: name.into(),
        weight: 0,
        requirements: reqs(&[("karpenter.sh/nodepool", Op::In, &[name])]),
        taints: vec![],
        limits: None,
        instance_types: None,
    }
}

pub fn taint(key: &str, effect: Effect) -> Taint {
    Taint {
        key: key.into(),
        value: String::new(),
        effect,
    }
}

pub fn tolerate(key: &str) -> Toleration {
    Toleration {
        key: key.into(),
        exists: true,
        value: String::new(),
        effect: None,
    }
}

pub fn node(name: &str, zone: &str, cpu: &str, mem: &str) -> ExistingNode {
    let mut available = res(cpu, mem);
    available.insert("pods".into(), Quantity::from_units(50));
    let labels: BTreeMap<String, String> = [
        (ZONE.to_string(), zone.to_string()),
        (HOSTNAME.to_string(), name.to_string()),
        ("kubernetes.io/arch".to_string(), "amd64".to_string()),
    ]
    .into();
    ExistingNode {
        name: name.into(),
        labels,
        available,
        initialized: true,
        ..ExistingNode::default()
    }
}

pub fn input(pods: Vec<PendingPod>, pools: Vec<Pool>, types: usize) -> Input {
    Input {
        pods,
        pools,
        instance_types: catalog(types).into(),
        ..Input::default()
    }
}

/// The zone label of the claim holding `pod`.
pub fn zone_of(plan: &karpenter_scheduling::Plan, pod: &str) -> Option<String> {
    plan.claims
        .iter()
        .find(|c| c.pods.iter().any(|p| p == pod))
        .and_then(|c| c.labels.get(ZONE).cloned())
}

/// Index of the claim holding `pod`.
pub fn claim_of(plan: &karpenter_scheduling::Plan, pod: &str) -> Option<usize> {
    plan.claims
        .iter()
        .position(|c| c.pods.iter().any(|p| p == pod))
}
