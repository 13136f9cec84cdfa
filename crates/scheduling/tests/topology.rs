//! Topology spread, pod affinity, anti-affinity and inverse anti-affinity, written from
//! upstream's documented behaviour (reference 2.8).

mod common;

use std::collections::BTreeMap;

use common::*;
use karpenter_scheduling::{BoundPod, solve};

#[test]
fn zone_spread_balances_new_claims_across_zones() {
    let pods = (0..6)
        .map(|i| {
            let mut p = labelled(pod(&format!("web-{i}"), "1", "1Gi"), "app", "web");
            p.spreads.push(spread(ZONE, 1, "app", "web"));
            p
        })
        .collect();
    let plan = solve(&input(pods, vec![pool("default")], 8));
    assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..6 {
        let z = zone_of(&plan, &format!("default/web-{i}")).unwrap_or_default();
        *per_zone.entry(z).or_default() += 1;
    }
    assert_eq!(
        per_zone,
        [("a".into(), 2), ("b".into(), 2), ("c".into(), 2)].into(),
        "maxSkew 1 over three zones"
    );
}

#[test]
fn hostname_spread_and_anti_affinity_need_a_node_each() {
    let mut pods = Vec::new();
    for i in 0..4 {
        let mut p = labelled(pod(&format!("s-{i}"), "100m", "100Mi"), "app", "s");
        p.spreads.push(spread(HOSTNAME, 1, "app", "s"));
        pods.push(p);
        let mut a = labelled(pod(&format!("a-{i}"), "100m", "100Mi"), "app", "a");
        a.anti_affinity.push(term(HOSTNAME, "app", "a"));
        pods.push(a);
    }
    let plan = solve(&input(pods, vec![pool("default")], 8));
    assert!(plan.unschedulable.is_empty());
    let claims_of = |prefix: &str| {
        let mut c: Vec<usize> = (0..4)
            .filter_map(|i| claim_of(&plan, &format!("default/{prefix}-{i}")))
            .collect();
        c.sort();
        c.dedup();
        c.len()
    };
    assert_eq!(claims_of("s"), 4, "maxSkew 1 on hostname: one per node");
    assert_eq!(claims_of("a"), 4, "anti-affinity: one per node");
    // the two groups share nodes: small pods pack together
    assert_eq!(plan.claims.len(), 4);
}

#[test]
fn self_affinity_keeps_pods_in_one_zone() {
    let pods = (0..5)
        .map(|i| {
            let mut p = labelled(pod(&format!("db-{i}"), "3", "1Gi"), "app", "db");
            p.affinity.push(term(ZONE, "app", "db"));
            p
        })
        .collect();
    let plan = solve(&input(pods, vec![pool("default")], 4));
    assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
    assert!(
        plan.claims.len() > 1,
        "3-CPU pods on 4-CPU types need several nodes"
    );
    let zones: Vec<Option<String>> = plan
        .claims
        .iter()
        .map(|c| c.labels.get(ZONE).cloned())
        .collect();
    assert!(zones.iter().all(|z| z.as_deref() == Some("a")), "{zones:?}");
}

#[test]
fn affinity_to_a_running_pod_follows_its_zone_and_fails_without_one() {
    let mut i = input(vec![], vec![pool("default")], 4);
    i.existing = vec![node("n1", "b", "0", "0")];
    i.bound = vec![BoundPod {
        namespace: "default".into(),
        labels: [("app".to_string(), "cache".to_string())].into(),
        node: 0,
        anti_affinity: vec![],
    }];
    let mut p = pod("api", "1", "1Gi");
    p.affinity.push(term(ZONE, "app", "cache"));
    let mut orphan = pod("orphan", "1", "1Gi");
    orphan.affinity.push(term(ZONE, "app", "nothing-runs-this"));
    i.pods = vec![p, orphan];
    let plan = solve(&i);
    assert_eq!(zone_of(&plan, "default/api").as_deref(), Some("b"));
    assert_eq!(plan.unschedulable.len(), 1);
    assert!(
        plan.unschedulable[0].reason.contains("pod affinity"),
        "{}",
        plan.unschedulable[0].reason
    );
}

#[test]
fn inverse_anti_affinity_of_running_pods_blocks_their_node() {
    let mut i = input(vec![pod("web", "1", "1Gi")], vec![pool("default")], 4);
    i.pods[0].labels.insert("app".into(), "web".into());
    i.existing = vec![node("n1", "a", "4", "8Gi"), node("n2", "b", "4", "8Gi")];
    i.bound = vec![BoundPod {
        namespace: "default".into(),
        labels: [("app".to_string(), "batch".to_string())].into(),
        node: 0,
        anti_affinity: vec![term(HOSTNAME, "app", "web")],
    }];
    let plan = solve(&i);
    assert_eq!(plan.existing.len(), 1);
    assert_eq!(
        plan.existing[0].name, "n2",
        "n1 runs a pod that repels app=web"
    );
}

#[test]
fn zone_anti_affinity_blocks_every_zone_a_new_claim_may_take() {
    // upstream records an anti-affinity pod in every domain its NodeClaim may still land
    // in: a claim open to zones a, b and c blocks all three, so one pod per batch
    let pods = (0..4)
        .map(|i| {
            let mut p = labelled(pod(&format!("z-{i}"), "1", "1Gi"), "app", "z");
            p.anti_affinity.push(term(ZONE, "app", "z"));
            p
        })
        .collect();
    let plan = solve(&input(pods, vec![pool("default")], 4));
    assert_eq!(plan.claims.len(), 1);
    assert_eq!(plan.unschedulable.len(), 3);
    assert!(plan.unschedulable[0].reason.contains("pod anti-affinity"));
}

#[test]
fn schedule_anyway_spreads_are_relaxed_when_unsatisfiable() {
    // two pods pinned to zone a with a ScheduleAnyway zone spread of maxSkew 1 whose
    // nodeAffinityPolicy is Ignore (every zone counts): the second would skew 2-0, so its
    // spread is relaxed
    let pods = (0..2)
        .map(|i| {
            let mut p = labelled(pod(&format!("p-{i}"), "3", "1Gi"), "app", "p");
            p.node_selector = reqs(&[(ZONE, karpenter_model::Op::In, &["a"])]);
            let mut s = spread(ZONE, 1, "app", "p");
            s.schedule_anyway = true;
            s.honor_node_affinity = false;
            p.spreads.push(s);
            p
        })
        .collect();
    let plan = solve(&input(pods, vec![pool("default")], 4));
    assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
    let mut strict = input(vec![], vec![pool("default")], 4);
    strict.pods = (0..2)
        .map(|i| {
            let mut p = labelled(pod(&format!("p-{i}"), "3", "1Gi"), "app", "p");
            p.node_selector = reqs(&[(ZONE, karpenter_model::Op::In, &["a"])]);
            let mut s = spread(ZONE, 1, "app", "p");
            s.honor_node_affinity = false;
            p.spreads.push(s);
            p
        })
        .collect();
    let plan = solve(&strict);
    assert_eq!(
        plan.unschedulable.len(),
        1,
        "DoNotSchedule is never relaxed"
    );
    assert!(plan.unschedulable[0].reason.contains("topology spread"));
    // with nodeAffinityPolicy Honor (the default) only zone a counts: both fit there
    for p in &mut strict.pods {
        p.spreads[0].honor_node_affinity = true;
    }
    assert!(solve(&strict).unschedulable.is_empty());
}

#[test]
fn min_domains_treats_missing_domains_as_empty() {
    // minDomains 4 over three zones: the global minimum counts as 0, so with maxSkew 1 a
    // zone may hold at most one matching pod
    let pods = (0..4)
        .map(|i| {
            let mut p = labelled(pod(&format!("m-{i}"), "1", "1Gi"), "app", "m");
            let mut s = spread(ZONE, 1, "app", "m");
            s.min_domains = Some(4);
            p.spreads.push(s);
            p
        })
        .collect();
    let plan = solve(&input(pods, vec![pool("default")], 4));
    assert_eq!(plan.claims.len(), 3);
    assert_eq!(plan.unschedulable.len(), 1);
}

#[test]
fn spread_counts_existing_pods() {
    // zone a already runs two matching pods; a maxSkew 1 spread sends new pods to b and c
    let mut i = input(vec![], vec![pool("default")], 4);
    i.existing = vec![node("n1", "a", "0", "0")];
    for _ in 0..2 {
        i.bound.push(BoundPod {
            namespace: "default".into(),
            labels: [("app".to_string(), "w".to_string())].into(),
            node: 0,
            anti_affinity: vec![],
        });
    }
    i.pods = (0..2)
        .map(|k| {
            let mut p = labelled(pod(&format!("w-{k}"), "3", "1Gi"), "app", "w");
            p.spreads.push(spread(ZONE, 1, "app", "w"));
            p
        })
        .collect();
    let plan = solve(&i);
    let mut zones: Vec<String> = (0..2)
        .filter_map(|k| zone_of(&plan, &format!("default/w-{k}")))
        .collect();
    zones.sort();
    assert_eq!(zones, vec!["b".to_string(), "c".to_string()]);
}

#[test]
fn node_taints_policy_honor_counts_only_domains_offered_with_tolerated_taints() {
    use karpenter_model::{Effect, Op};
    // zones a and b from an untainted pool; zone c only from a pool the pods do not tolerate
    let mut ab = pool("ab");
    ab.requirements
        .add_all(&reqs(&[(ZONE, Op::In, &["a", "b"])]));
    let mut c = pool("c");
    c.requirements.add_all(&reqs(&[(ZONE, Op::In, &["c"])]));
    c.taints.push(taint("dedicated", Effect::NoSchedule));
    let pods = |honor: bool| -> Vec<_> {
        (0..4)
            .map(|i| {
                let mut p = labelled(pod(&format!("web-{i}"), "1", "1Gi"), "app", "web");
                let mut s = spread(ZONE, 1, "app", "web");
                s.honor_node_taints = honor;
                p.spreads.push(s);
                p
            })
            .collect()
    };
    // Ignore (the default): zone c counts with 0 pods, so a and b may hold one pod each
    let plan = solve(&input(pods(false), vec![ab.clone(), c.clone()], 8));
    assert_eq!(plan.unschedulable.len(), 2, "{:?}", plan.unschedulable);
    // Honor: zone c does not count, the four pods spread two and two over a and b
    let plan = solve(&input(pods(true), vec![ab, c], 8));
    assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
    let mut zones: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..4 {
        *zones
            .entry(zone_of(&plan, &format!("default/web-{i}")).unwrap_or_default())
            .or_default() += 1;
    }
    assert_eq!(zones, BTreeMap::from([("a".into(), 2), ("b".into(), 2)]));
}

#[test]
fn the_bound_counts_the_nodes_hostname_anti_affinity_forces() {
    let group = |anti: bool| -> Vec<_> {
        (0..5)
            .map(|i| {
                let mut p = labelled(pod(&format!("a-{i}"), "100m", "100Mi"), "app", "a");
                if anti {
                    p.anti_affinity.push(term(HOSTNAME, "app", "a"));
                }
                p
            })
            .collect()
    };
    let apart = solve(&input(group(true), vec![pool("default")], 8));
    let cost: f64 = apart.claims.iter().map(|c| c.price).sum();
    assert_eq!(apart.claims.len(), 5);
    // five nodes of the cheapest type ($0.30/h) at least: the plan is optimal
    assert!(
        (apart.lower_bound - 1.5).abs() < 1e-6,
        "{}",
        apart.lower_bound
    );
    assert!(apart.lower_bound <= cost + 1e-9);
    // without the anti-affinity the five pods share one node and the bound is resources only
    let together = solve(&input(group(false), vec![pool("default")], 8));
    assert!(together.lower_bound < 0.3, "{}", together.lower_bound);
}

#[test]
fn the_bound_counts_the_nodes_required_hostname_spread_forces() {
    let group = |skew: i32, anyway: bool| -> Vec<_> {
        (0..6)
            .map(|i| {
                let mut p = labelled(pod(&format!("s-{i}"), "100m", "100Mi"), "app", "s");
                let mut sp = spread(HOSTNAME, skew, "app", "s");
                sp.schedule_anyway = anyway;
                p.spreads.push(sp);
                p
            })
            .collect()
    };
    // maxSkew 2: at most two per new node, three nodes of the cheapest type ($0.30/h)
    let plan = solve(&input(group(2, false), vec![pool("default")], 8));
    let cost: f64 = plan.claims.iter().map(|c| c.price).sum();
    assert_eq!(plan.claims.len(), 3);
    assert!(
        (plan.lower_bound - 0.9).abs() < 1e-6,
        "{}",
        plan.lower_bound
    );
    assert!(plan.lower_bound <= cost + 1e-9);
    // a preference forces nothing: the bound is resources only
    let anyway = solve(&input(group(2, true), vec![pool("default")], 8));
    assert!(anyway.lower_bound < 0.3, "{}", anyway.lower_bound);
}

#[test]
fn the_bound_counts_a_node_per_zone_a_required_zone_spread_must_occupy() {
    let group = |n: usize, skew: i32, anyway: bool| -> Vec<_> {
        (0..n)
            .map(|i| {
                let mut p = labelled(pod(&format!("z-{i}"), "100m", "100Mi"), "app", "z");
                let mut sp = spread(ZONE, skew, "app", "z");
                sp.schedule_anyway = anyway;
                p.spreads.push(sp);
                p
            })
            .collect()
    };
    let bound = |pods| {
        let plan = solve(&input(pods, vec![pool("default")], 8));
        let cost: f64 = plan.claims.iter().map(|c| c.price).sum();
        assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
        assert!(
            plan.lower_bound <= cost + 1e-9,
            "{} > {cost}",
            plan.lower_bound
        );
        (plan.claims.len(), plan.lower_bound)
    };
    // three tiny pods, maxSkew 1 over zones a, b, c: one node in each, three of the
    // cheapest type ($0.30/h); the plan is optimal
    let (claims, lb) = bound(group(3, 1, false));
    assert_eq!(claims, 3);
    assert!((lb - 0.9).abs() < 1e-6, "{lb}");
    // maxSkew 2: two zones may take them (2 + 1, the third zone empty): two nodes at least
    let (_, lb) = bound(group(3, 2, false));
    assert!((lb - 0.6).abs() < 1e-6, "{lb}");
    // twelve pods: never more nodes than there are zones
    let (_, lb) = bound(group(12, 1, false));
    assert!((lb - 0.9).abs() < 1e-6, "{lb}");
    // a preference forces nothing
    let (_, lb) = bound(group(3, 1, true));
    assert!(lb < 0.3, "{lb}");
}
