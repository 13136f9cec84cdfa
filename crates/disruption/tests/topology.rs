//! Consolidation's simulation counts topology as kube-scheduler will once the candidates
//! are gone: the pods it moves do not count on the nodes they leave.

mod common;

use common::{ZONE, cluster, disrupted};
use karpenter_model::wellknown::labels;
use karpenter_model::{LabelSelector, Op, Requirement};
use karpenter_scheduling::Spread;

const OTHER: &str = "us-east-1b";

#[test]
fn a_moved_pod_does_not_count_on_the_node_it_leaves() {
    // app z spreads over two zones with maxSkew 1: two pods on a1 (zone a, room to
    // spare), one on b1 (zone b, full) and one on b2 (zone b). Without b2 the zones hold
    // 2 and 1, so b2's pod may only go to zone b, where nothing has room: b2 stays. Had
    // the simulation still counted that pod on b2, it would see 2 and 2 and move it to
    // a1, where kube-scheduler refuses it, and provisioning would bring b2 back.
    let mut c = cluster(&["m5.large", "m5.xlarge"], &["on-demand"]);
    c.input.scheduling.pools[0]
        .requirements
        .add(&Requirement::new(labels::ZONE, Op::In, [ZONE, OTHER]));
    c.node("a1", "m5.xlarge", "on-demand", &[(500, 512), (500, 512)]);
    c.node("b1", "m5.large", "on-demand", &[(500, 512), (1400, 512)]);
    c.node("b2", "m5.large", "on-demand", &[(500, 512)]);
    let spread = Spread {
        key: labels::ZONE.into(),
        max_skew: 1,
        min_domains: None,
        schedule_anyway: false,
        selector: LabelSelector {
            match_labels: [("app".to_string(), "z".to_string())].into(),
            ..LabelSelector::default()
        },
        honor_node_affinity: true,
        honor_node_taints: false,
    };
    // every node's first pod, and a1's second, are app z; b1 and b2 are in zone b
    let z_pods = [("a1", 0), ("a1", 1), ("b1", 0), ("b2", 0)];
    for n in &mut c.input.nodes {
        if n.name != "a1" {
            n.zone = OTHER.into();
        }
        let name = n.name.clone();
        for (i, p) in n.pods.iter_mut().enumerate() {
            if z_pods.contains(&(name.as_str(), i)) {
                p.spec.labels.insert("app".into(), "z".into());
                p.spec.spreads = vec![spread.clone()];
            }
        }
    }
    for e in &mut c.input.scheduling.existing {
        if e.name != "a1" {
            e.labels.insert(labels::ZONE.into(), OTHER.into());
        }
    }
    let names: Vec<String> = c
        .input
        .scheduling
        .existing
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let mut seen = std::collections::BTreeMap::<usize, usize>::new();
    for b in &mut c.input.scheduling.bound {
        let i = seen.entry(b.node).or_default();
        if z_pods.contains(&(names[b.node].as_str(), *i)) {
            b.labels.insert("app".into(), "z".into());
        }
        *i += 1;
    }
    let d = c.decide();
    assert!(!disrupted(&d).contains(&"b2".to_string()), "{d:#?}");
}
