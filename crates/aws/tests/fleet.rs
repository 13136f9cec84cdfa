//! The CreateFleet request: overrides over the cheapest offerings, grouped by launch
//! template, capped at 60; the strategy per capacity type; capacity error codes.

use std::collections::BTreeMap;

use karpenter_aws::fleet::{Candidate, MAX_OVERRIDES, is_capacity_error, request};
use karpenter_aws::tags::launch_tags;

fn candidate(ty: &str, zone: &str, price: f64, lt: &str) -> Candidate {
    Candidate {
        instance_type: ty.into(),
        zone: zone.into(),
        subnet_id: format!("subnet-{zone}"),
        price,
        launch_template: lt.into(),
    }
}

#[test]
fn overrides_are_cheapest_first_grouped_by_template() {
    let r = request(
        "spot",
        vec![
            candidate("m5.xlarge", "us-east-1b", 0.08, "lt-b"),
            candidate("c5.large", "us-east-1a", 0.03, "lt-a"),
            candidate("m5.large", "us-east-1a", 0.04, "lt-b"),
            candidate("c5.large", "us-east-1b", 0.03, "lt-a"),
        ],
        BTreeMap::new(),
        "claim-1".into(),
    );
    assert_eq!(r.allocation_strategy, "price-capacity-optimized");
    assert_eq!(r.client_token, "claim-1");
    let shape: Vec<(String, Vec<String>)> = r
        .configs
        .iter()
        .map(|c| {
            (
                c.launch_template.clone(),
                c.overrides
                    .iter()
                    .map(|o| format!("{}/{}/{}", o.instance_type, o.zone, o.subnet_id))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (
                "lt-a".to_string(),
                vec![
                    "c5.large/us-east-1a/subnet-us-east-1a".to_string(),
                    "c5.large/us-east-1b/subnet-us-east-1b".to_string()
                ]
            ),
            (
                "lt-b".to_string(),
                vec![
                    "m5.large/us-east-1a/subnet-us-east-1a".to_string(),
                    "m5.xlarge/us-east-1b/subnet-us-east-1b".to_string()
                ]
            ),
        ]
    );
}

#[test]
fn at_most_sixty_overrides_and_lowest_price_for_on_demand() {
    let many: Vec<Candidate> = (0..100)
        .map(|i| {
            candidate(
                &format!("t{i}.large"),
                "us-east-1a",
                f64::from(100 - i),
                "lt",
            )
        })
        .collect();
    let r = request("on-demand", many, BTreeMap::new(), "c".into());
    assert_eq!(r.allocation_strategy, "lowest-price");
    let all: Vec<&str> = r
        .configs
        .iter()
        .flat_map(|c| c.overrides.iter().map(|o| o.instance_type.as_str()))
        .collect();
    assert_eq!(all.len(), MAX_OVERRIDES);
    // the cheapest 60 (prices 1..=60 belong to t99..t40)
    assert_eq!(all.first(), Some(&"t99.large"));
    assert_eq!(all.last(), Some(&"t40.large"));
}

#[test]
fn launch_tags_are_upstreams_and_win_over_the_classes() {
    let user = BTreeMap::from([
        ("team".to_string(), "web".to_string()),
        ("karpenter.sh/nodepool".to_string(), "spoofed".to_string()),
    ]);
    let t = launch_tags("prod", "default", "default-abc12", "general", Some(&user));
    let want = [
        ("team", "web"),
        ("karpenter.sh/nodepool", "default"),
        ("karpenter.sh/nodeclaim", "default-abc12"),
        ("karpenter.k8s.aws/ec2nodeclass", "general"),
        ("kubernetes.io/cluster/prod", "owned"),
        ("eks:eks-cluster-name", "prod"),
        ("Name", "default-abc12"),
    ];
    for (k, v) in want {
        assert_eq!(t.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert_eq!(t.len(), want.len());
}

#[test]
fn capacity_error_codes() {
    for code in [
        "InsufficientInstanceCapacity",
        "UnfulfillableCapacity",
        "MaxSpotInstanceCountExceeded",
    ] {
        assert!(is_capacity_error(code), "{code}");
    }
    for code in ["InvalidParameterValue", "UnauthorizedOperation", ""] {
        assert!(!is_capacity_error(code), "{code}");
    }
}
