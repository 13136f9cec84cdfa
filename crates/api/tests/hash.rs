//! The NodePool template hash against values upstream stamped on real NodePools (the
//! public `kubectl get nodepool -o yaml` outputs of an EKS workshop and a Karpenter guide),
//! and its properties: requirements and behavioural fields never change it, template
//! fields do.

use karpenter_api::NodePool;
use karpenter_api::hash::nodepool_hash;

fn pool(yaml: &str) -> NodePool {
    match yaml_serde::from_str(yaml) {
        Ok(p) => p,
        Err(e) => panic!("fixture does not parse: {e}"),
    }
}

const DEFAULT: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  disruption: {budgets: [{nodes: 10%}], consolidateAfter: 1m, consolidationPolicy: WhenEmptyOrUnderutilized}
  limits: {cpu: 1000}
  template:
    spec:
      expireAfter: 720h
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
      - {key: kubernetes.io/arch, operator: In, values: [amd64]}
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand, spot]}
"#;

#[test]
fn matches_upstream_on_a_default_nodepool() {
    assert_eq!(nodepool_hash(&pool(DEFAULT)), "6821555240594823858");
}

#[test]
fn matches_upstream_with_termination_grace_period() {
    let yaml = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: general-purpose}
spec:
  template:
    metadata: {}
    spec:
      expireAfter: 336h
      nodeClassRef: {group: eks.amazonaws.com, kind: NodeClass, name: default}
      requirements: [{key: kubernetes.io/os, operator: In, values: [linux]}]
      terminationGracePeriod: 24h0m0s
"#;
    assert_eq!(nodepool_hash(&pool(yaml)), "4012513481623584108");
}

#[test]
fn requirements_and_behaviour_do_not_change_it_template_fields_do() {
    let base = nodepool_hash(&pool(DEFAULT));
    let widened = DEFAULT
        .replace("values: [amd64]", "values: [amd64, arm64]")
        .replace("consolidateAfter: 1m", "consolidateAfter: 5m")
        .replace("cpu: 1000", "cpu: 2000");
    assert_eq!(nodepool_hash(&pool(&widened)), base);
    let changed = [
        DEFAULT.replace("expireAfter: 720h", "expireAfter: 360h"),
        DEFAULT.replace("expireAfter: 720h", "expireAfter: Never"),
        DEFAULT.replace(
            "kind: EC2NodeClass, name: default}",
            "kind: EC2NodeClass, name: other}",
        ),
        DEFAULT.replace(
            "    spec:\n      expireAfter",
            "    metadata: {labels: {team: a}}\n    spec:\n      expireAfter",
        ),
        DEFAULT.replace(
            "      expireAfter",
            "      taints: [{key: gpu, effect: NoSchedule}]\n      expireAfter",
        ),
    ];
    for (i, yaml) in changed.iter().enumerate() {
        assert_ne!(nodepool_hash(&pool(yaml)), base, "change {i} kept the hash");
    }
    // a label set is a map: order does not matter
    let ab = DEFAULT.replace(
        "    spec:\n      expireAfter",
        "    metadata: {labels: {a: '1', b: '2'}}\n    spec:\n      expireAfter",
    );
    let ba = DEFAULT.replace(
        "    spec:\n      expireAfter",
        "    metadata: {labels: {b: '2', a: '1'}}\n    spec:\n      expireAfter",
    );
    assert_eq!(nodepool_hash(&pool(&ab)), nodepool_hash(&pool(&ba)));
}
