//! Properties over many generated inputs: every pod is decided once; every placed pod fits,
//! tolerates and satisfies its required constraints on its NodeClaim's cheapest type; no
//! claim breaks a limit; anti-affinity and spread hold in the final plan; the same input
//! gives the same plan.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use karpenter_model::{Effect, Op, Quantity, Requirements};
use karpenter_scheduling::{Input, Plan, solve};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generate(seed: u64) -> Input {
    let mut rng = Lcg(seed);
    let mut general = pool("general");
    if rng.below(2) == 0 {
        general.limits = Some(
            [(
                "cpu".to_string(),
                Quantity::from_units(20 + rng.below(40) as i128),
            )]
            .into(),
        );
    }
    let mut tainted = pool("tainted");
    tainted.weight = 5;
    tainted.taints.push(taint("dedicated", Effect::NoSchedule));
    let mut i = input(vec![], vec![general, tainted], 8 + rng.below(8) as usize);
    for n in 0..rng.below(4) {
        let zone = ["a", "b", "c"][rng.below(3) as usize];
        i.existing.push(node(
            &format!("n{n}"),
            zone,
            &format!("{}", 1 + rng.below(3)),
            "4Gi",
        ));
    }
    let cpus = ["100m", "250m", "500m", "1", "1500m", "3"];
    let mems = ["128Mi", "512Mi", "1Gi", "3Gi"];
    for k in 0..(10 + rng.below(60)) {
        let mut p = pod(
            &format!("p{k}"),
            cpus[rng.below(cpus.len() as u64) as usize],
            mems[rng.below(mems.len() as u64) as usize],
        );
        match rng.below(7) {
            0 => {
                p.node_selector = reqs(&[(ZONE, Op::In, &[["a", "b", "c"][rng.below(3) as usize]])])
            }
            1 => {
                p = labelled(p, "app", "solo");
                p.anti_affinity.push(term(HOSTNAME, "app", "solo"));
            }
            2 => {
                p = labelled(p, "app", "spread");
                p.spreads.push(spread(ZONE, 1, "app", "spread"));
            }
            3 => p.tolerations.push(tolerate("dedicated")),
            4 => p.node_selector = reqs(&[("kubernetes.io/arch", Op::In, &["arm64"])]),
            _ => {}
        }
        i.pods.push(p);
    }
    i
}

fn check(i: &Input, plan: &Plan) {
    // every pod decided exactly once
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &plan.claims {
        c.pods.iter().for_each(|p| *seen.entry(p).or_default() += 1);
    }
    for n in &plan.existing {
        n.pods.iter().for_each(|p| *seen.entry(p).or_default() += 1);
    }
    plan.unschedulable
        .iter()
        .for_each(|u| *seen.entry(&u.pod).or_default() += 1);
    assert_eq!(seen.len(), i.pods.len());
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    let by_id: BTreeMap<&str, &karpenter_scheduling::PendingPod> =
        i.pods.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut pool_cpu: BTreeMap<&str, Quantity> = BTreeMap::new();
    for c in &plan.claims {
        let it = i
            .instance_types
            .iter()
            .find(|t| t.name == c.instance_types[0])
            .unwrap_or_else(|| panic!("unknown type {}", c.instance_types[0]));
        let alloc = it.allocatable();
        let mut used: BTreeMap<&str, Quantity> = BTreeMap::new();
        let claim_reqs = Requirements::from_requirements(&c.requirements);
        let pool = i
            .pools
            .iter()
            .find(|p| p.name == c.node_pool)
            .unwrap_or_else(|| panic!("pool"));
        for id in &c.pods {
            let pod = by_id[id.as_str()];
            for (k, q) in &pod.requests {
                let e = used.entry(k).or_default();
                *e = e.saturating_add(*q);
            }
            assert!(
                pool.taints
                    .iter()
                    .all(|t| pod.tolerations.iter().any(|tol| tol.tolerates(t))),
                "{id} on {}",
                c.node_pool
            );
            assert!(
                claim_reqs.intersects_ok(&pod.node_selector),
                "{id}: {:?}",
                c.requirements
            );
        }
        for (k, q) in used {
            assert!(
                q <= alloc.get(k).copied().unwrap_or_default(),
                "{k} over on {}",
                it.name
            );
        }
        let e = pool_cpu.entry(&pool.name).or_default();
        *e = e.saturating_add(it.capacity.get("cpu").copied().unwrap_or_default());
        // anti-affinity: one "solo" pod per claim
        let solos = c
            .pods
            .iter()
            .filter(|p| !by_id[p.as_str()].anti_affinity.is_empty())
            .count();
        assert!(solos <= 1);
    }
    for p in &i.pools {
        if let (Some(limits), Some(used)) = (&p.limits, pool_cpu.get(p.name.as_str())) {
            assert!(*used <= limits["cpu"], "pool {} over its cpu limit", p.name);
        }
    }
    for n in &plan.existing {
        let node = i
            .existing
            .iter()
            .find(|e| e.name == n.name)
            .unwrap_or_else(|| panic!("node"));
        let mut cpu = Quantity::ZERO;
        for id in &n.pods {
            cpu = cpu.saturating_add(by_id[id.as_str()].requests["cpu"]);
            let solo = !by_id[id.as_str()].anti_affinity.is_empty();
            assert!(
                !solo
                    || n.pods
                        .iter()
                        .filter(|p| !by_id[p.as_str()].anti_affinity.is_empty())
                        .count()
                        == 1
            );
        }
        assert!(cpu <= node.available["cpu"]);
    }
    // zone spread (maxSkew 1, every matching pod an owner) holds over the final plan
    let mut per_zone: BTreeMap<String, i32> =
        ["a", "b", "c"].iter().map(|z| (z.to_string(), 0)).collect();
    let mut zone_of_node: BTreeMap<&str, &str> = BTreeMap::new();
    for e in &i.existing {
        zone_of_node.insert(&e.name, &e.labels[ZONE]);
    }
    for c in &plan.claims {
        for p in &c.pods {
            if !by_id[p.as_str()].spreads.is_empty() {
                *per_zone.entry(c.labels[ZONE].clone()).or_default() += 1;
            }
        }
    }
    for n in &plan.existing {
        for p in &n.pods {
            if !by_id[p.as_str()].spreads.is_empty() {
                *per_zone
                    .entry(zone_of_node[n.name.as_str()].to_string())
                    .or_default() += 1;
            }
        }
    }
    let (min, max) = (per_zone.values().min(), per_zone.values().max());
    assert!(max.zip(min).is_none_or(|(a, b)| a - b <= 1), "{per_zone:?}");
}

#[test]
fn generated_inputs_keep_every_invariant() {
    let mut arm_reasons = BTreeSet::new();
    for seed in 0..300 {
        let i = generate(seed);
        let plan = solve(&i);
        check(&i, &plan);
        assert_eq!(plan, solve(&i), "seed {seed}: same input, same plan");
        for u in &plan.unschedulable {
            if u.pod.is_empty() || u.reason.is_empty() {
                panic!("seed {seed}: empty reason");
            }
            if u.reason.contains("arm64") {
                arm_reasons.insert(seed);
            }
        }
    }
    assert!(
        !arm_reasons.is_empty(),
        "arm64 pods are explained by their requirement"
    );
}
