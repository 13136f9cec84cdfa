//! Round trips: manifests covering every field of the three kinds deserialize, validate
//! clean and serialize back to exactly the input; omitted fields take upstream's defaults.

use std::path::Path;

use karpenter_api::manifest::{Object, parse_bytes};
use karpenter_api::nodepool::ConsolidationPolicy;
use karpenter_api::validate::Validate;
use karpenter_api::{EC2NodeClass, NodeClaim, NodePool};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

fn yaml_value(text: &str) -> Value {
    match yaml_serde::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("fixture is not YAML: {e}"),
    }
}

/// Parse, validate, serialize, compare.
fn round_trip<T>(name: &str) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize + Validate,
{
    round_trip_with_defaults(name, &[])
}

/// As [`round_trip`], where the output also carries the given defaulted `spec` fields.
fn round_trip_with_defaults<T>(name: &str, spec_defaults: &[(&str, Value)]) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize + Validate,
{
    let text = fixture(name);
    let mut input = yaml_value(&text);
    let typed: T = match serde_json::from_value(input.clone()) {
        Ok(t) => t,
        Err(e) => panic!("{name}: {e}"),
    };
    let errors = typed.validate();
    assert!(errors.is_empty(), "{name} should be valid: {errors:#?}");
    let back = match serde_json::to_value(&typed) {
        Ok(v) => v,
        Err(e) => panic!("{name}: {e}"),
    };
    if let Some(spec) = input.get_mut("spec").and_then(Value::as_object_mut) {
        for (key, value) in spec_defaults {
            assert!(
                spec.insert(key.to_string(), value.clone()).is_none(),
                "{key} is in the fixture"
            );
        }
    }
    assert_eq!(back, input, "{name} changed in a round trip");
    // and through the shared loader, which also refuses dropped fields
    let loaded = parse_bytes(Path::new(name), text.as_bytes());
    assert!(loaded.is_ok(), "{name}: {:?}", loaded.err());
    typed
}

#[test]
fn nodepool_with_every_field_round_trips() {
    let np: NodePool = round_trip("nodepool-full.yaml");
    assert_eq!(np.spec.template.spec.requirements.len(), 14);
    assert_eq!(np.spec.disruption.budgets.len(), 3);
    assert_eq!(np.spec.weight, Some(10));
    assert!(np.is_ready());
}

#[test]
fn static_nodepool_round_trips() {
    let np: NodePool = round_trip("nodepool-static.yaml");
    assert_eq!(np.spec.replicas, Some(3));
    assert_eq!(np.spec.template.spec.expire_after, "Never");
}

#[test]
fn nodeclaim_with_every_field_round_trips() {
    let nc: NodeClaim = round_trip("nodeclaim-full.yaml");
    assert_eq!(
        nc.status.as_ref().and_then(|s| s.provider_id.as_deref()),
        Some("aws:///us-west-2b/i-053c6b324e29d2275")
    );
    assert!(nc.condition("Initialized").is_some_and(|c| c.is_true()));
}

#[test]
fn ec2nodeclass_with_every_field_round_trips() {
    let class: EC2NodeClass = round_trip("ec2nodeclass-full.yaml");
    assert_eq!(
        class.spec.kubelet.as_ref().and_then(|k| k.max_pods),
        Some(20)
    );
    let defaults = [
        ("detailedMonitoring", serde_json::json!(false)),
        (
            "metadataOptions",
            serde_json::json!({"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"}),
        ),
    ];
    let _: EC2NodeClass = round_trip_with_defaults("ec2nodeclass-instance-profile.yaml", &defaults);
}

#[test]
fn nodepool_defaults_match_upstream() {
    let np: NodePool = match yaml_serde::from_str(
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n      requirements: []\n",
    ) {
        Ok(np) => np,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(np.spec.template.spec.expire_after, "720h");
    assert_eq!(np.spec.template.spec.termination_grace_period, None);
    let d = &np.spec.disruption;
    assert_eq!(d.consolidate_after, "0s");
    assert_eq!(
        d.consolidation_policy,
        ConsolidationPolicy::WhenEmptyOrUnderutilized
    );
    assert_eq!(d.budgets.len(), 1);
    assert_eq!(d.budgets[0].nodes, "10%");
    assert_eq!(d.budgets[0].schedule, None);
    assert_eq!(np.spec.weight, None);
    assert!(np.is_ready(), "a NodePool without status counts as ready");
    // a budget without nodes gets 10%, as the CRD default says
    let b: karpenter_api::nodepool::Budget = match serde_json::from_str(r#"{"reasons": ["Empty"]}"#)
    {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(b.nodes, "10%");
}

#[test]
fn ec2nodeclass_defaults_match_upstream() {
    let class: EC2NodeClass = match yaml_serde::from_str(
        "apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: d}\nspec:\n  role: r\n  amiSelectorTerms: [{alias: al2023@latest}]\n  subnetSelectorTerms: [{tags: {a: b}}]\n  securityGroupSelectorTerms: [{tags: {a: b}}]\n",
    ) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let m = match &class.spec.metadata_options {
        Some(m) => m,
        None => panic!("metadataOptions must default"),
    };
    assert_eq!(m.http_endpoint.as_deref(), Some("enabled"));
    assert_eq!(m.http_protocol_ipv6.as_deref(), Some("disabled"));
    assert_eq!(m.http_put_response_hop_limit, Some(1));
    assert_eq!(m.http_tokens.as_deref(), Some("required"));
    assert_eq!(class.spec.detailed_monitoring, Some(false));
    assert!(class.validate().is_empty(), "{:?}", class.validate());
}

#[test]
fn nodeclaim_defaults_expire_after() {
    let nc: NodeClaim = match yaml_serde::from_str(
        "apiVersion: karpenter.sh/v1\nkind: NodeClaim\nmetadata: {name: c}\nspec:\n  nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n  requirements: []\n",
    ) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(nc.spec.expire_after, "720h");
}

#[test]
fn loader_types_each_fixture_by_kind() {
    for (name, kind) in [
        ("nodepool-full.yaml", "NodePool"),
        ("nodeclaim-full.yaml", "NodeClaim"),
        ("ec2nodeclass-full.yaml", "EC2NodeClass"),
    ] {
        let loaded = match parse_bytes(Path::new(name), fixture(name).as_bytes()) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].object.kind(), kind);
        assert!(!matches!(loaded[0].object, Object::Pod(_)));
    }
}
