//! NodePool validation: one test per rule, with a valid and an invalid case.

mod common;

use common::{assert_one, errors_after, remove, set};
use karpenter_api::NodePool;
use serde_json::{Value, json};

const BASE: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
        - {key: karpenter.k8s.aws/instance-cpu, operator: Gt, values: ["4"]}
  disruption:
    consolidateAfter: 0s
"#;

fn errs(patch: impl FnOnce(&mut Value)) -> Vec<String> {
    errors_after::<NodePool>(BASE, patch)
}

#[test]
fn base_is_valid() {
    assert!(errs(|_| {}).is_empty());
}

#[test]
fn numeric_operators_need_one_non_negative_integer() {
    for (op, values) in [
        ("Gt", json!(["1.5"])),
        ("Lt", json!(["a"])),
        ("Gte", json!([])),
        ("Lte", json!(["1", "2"])),
    ] {
        let e = errs(|v| {
            set(
                v,
                "/spec/template/spec/requirements/2",
                json!({"key": "karpenter.k8s.aws/instance-cpu", "operator": op, "values": values}),
            )
        });
        assert_eq!(
            e,
            vec![format!(
                r#"NodePool "default": spec.template.spec.requirements[2]: operator {op} needs exactly one non-negative integer value"#
            )]
        );
    }
    let e = errs(|v| {
        set(
            v,
            "/spec/template/spec/requirements/2/values",
            json!(["-1"]),
        )
    });
    assert!(
        e.iter()
            .any(|m| m.contains("operator Gt needs exactly one non-negative integer value")),
        "{e:?}"
    );
    for op in ["Gt", "Lt", "Gte", "Lte"] {
        let e = errs(|v| set(v, "/spec/template/spec/requirements/2/operator", json!(op)));
        assert!(e.is_empty(), "{op}: {e:?}");
    }
}

#[test]
fn in_needs_a_value() {
    let e = errs(|v| set(v, "/spec/template/spec/requirements/1/values", json!([])));
    assert_one(
        &e,
        &[
            "spec.template.spec.requirements[1]",
            "operator In needs at least one value",
        ],
    );
    let e = errs(|v| {
        set(
            v,
            "/spec/template/spec/requirements/1",
            json!({"key": "example.com/team", "operator": "Exists"}),
        )
    });
    assert!(e.is_empty(), "{e:?}");
}

#[test]
fn min_values_within_range_and_values() {
    let e = errs(|v| set(v, "/spec/template/spec/requirements/0/minValues", json!(3)));
    assert_one(
        &e,
        &[
            "requirements[0].minValues",
            "minValues 3 needs at least 3 values, got 2",
        ],
    );
    let e = errs(|v| set(v, "/spec/template/spec/requirements/0/minValues", json!(51)));
    assert!(
        e.iter()
            .any(|m| m.contains("must be between 1 and 50, got 51")),
        "{e:?}"
    );
    let e = errs(|v| set(v, "/spec/template/spec/requirements/0/minValues", json!(2)));
    assert!(e.is_empty(), "{e:?}");
    // minValues with NotIn or Exists is allowed: the count is checked against instance types
    let e = errs(|v| {
        set(
            v,
            "/spec/template/spec/requirements/1",
            json!({"key": "karpenter.k8s.aws/instance-family", "operator": "Exists", "minValues": 5}),
        )
    });
    assert!(e.is_empty(), "{e:?}");
}

#[test]
fn requirement_keys_are_restricted_like_upstream() {
    for (key, message) in [
        (
            "karpenter.sh/nodepool",
            r#"label "karpenter.sh/nodepool" is restricted"#,
        ),
        (
            "karpenter.sh/custom",
            r#"label domain "karpenter.sh" is restricted"#,
        ),
        (
            "karpenter.k8s.aws/not-a-label",
            r#"label domain "karpenter.k8s.aws" is restricted"#,
        ),
        ("bad key!", "is not a qualified label key"),
    ] {
        let e = errs(|v| set(v, "/spec/template/spec/requirements/1/key", json!(key)));
        assert_one(&e, &["requirements[1].key", message]);
    }
    // since v1.9 the kubernetes.io domain is open but for the hostname
    let e = errs(|v| {
        set(
            v,
            "/spec/template/spec/requirements/1/key",
            json!("kubernetes.io/hostname"),
        )
    });
    assert_one(&e, &[r#"label "kubernetes.io/hostname" is restricted"#]);
    for key in [
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
        "node-restriction.kubernetes.io/team",
        "kops.k8s.io/instancegroup",
        "node-role.kubernetes.io/worker",
        "example.kubernetes.io/x",
        "example.k8s.io/x",
        "k8s.io/x",
        "karpenter.k8s.aws/instance-family",
        "topology.k8s.aws/zone-id",
        "example.com/team",
    ] {
        let e = errs(|v| set(v, "/spec/template/spec/requirements/1/key", json!(key)));
        assert!(e.is_empty(), "{key}: {e:?}");
    }
}

#[test]
fn requirement_values_are_label_values() {
    let e = errs(|v| {
        set(
            v,
            "/spec/template/spec/requirements/1/values",
            json!(["-bad-"]),
        )
    });
    assert_one(
        &e,
        &["requirements[1].values[0]", "not a valid label value"],
    );
    let e = errs(|v| {
        set(
            v,
            "/spec/template/spec/requirements/1/values",
            json!(["a".repeat(64)]),
        )
    });
    assert_one(&e, &["requirements[1].values[0]", "at most 63 characters"]);
}

#[test]
fn at_most_100_requirements() {
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"key": format!("example.com/k{i}"), "operator": "Exists"}))
        .collect();
    let e = errs(|v| set(v, "/spec/template/spec/requirements", Value::Array(many)));
    assert_one(
        &e,
        &[
            "spec.template.spec.requirements",
            "at most 100 items, got 101",
        ],
    );
}

#[test]
fn template_labels_are_restricted_like_upstream() {
    for (key, message) in [
        (
            "karpenter.sh/nodepool",
            r#"label "karpenter.sh/nodepool" is restricted"#,
        ),
        (
            "karpenter.k8s.aws/custom",
            r#"label domain "karpenter.k8s.aws" is restricted"#,
        ),
        (
            "karpenter.sh/foo",
            r#"label domain "karpenter.sh" is restricted"#,
        ),
    ] {
        let e = errs(|v| set(v, "/spec/template/metadata/labels", json!({key: "x"})));
        assert_one(
            &e,
            &[&format!("spec.template.metadata.labels[{key}]"), message],
        );
    }
    let e = errs(|v| set(v, "/spec/template/metadata/labels", json!({"team": "a b"})));
    assert_one(&e, &["labels[team]", "not a valid label value"]);
    let e = errs(|v| {
        set(
            v,
            "/spec/template/metadata/labels",
            json!({"karpenter.sh/capacity-type": "spot", "team": "a"}),
        )
    });
    assert!(e.is_empty(), "{e:?}");
    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!("v"))).collect();
    let e = errs(|v| set(v, "/spec/template/metadata/labels", Value::Object(many)));
    assert_one(&e, &["must have at most 100 labels"]);
}

#[test]
fn taints_are_checked_and_not_duplicated() {
    let t = json!({"key": "example.com/gpu", "effect": "NoSchedule"});
    let e = errs(|v| {
        set(v, "/spec/template/spec/taints", json!([t.clone()]));
        set(v, "/spec/template/spec/startupTaints", json!([t.clone()]));
    });
    assert_one(
        &e,
        &[
            "spec.template.spec.startupTaints[0]",
            "duplicate taint example.com/gpu:NoSchedule",
        ],
    );
    let e = errs(|v| {
        set(
            v,
            "/spec/template/spec/taints",
            json!([{"key": "", "effect": "NoSchedule"}]),
        )
    });
    assert_one(&e, &["taints[0].key", "key may not be empty"]);
    let e = errs(|v| {
        set(
            v,
            "/spec/template/spec/taints",
            json!([{"key": "a", "value": "b c", "effect": "NoExecute"}]),
        )
    });
    assert_one(&e, &["taints[0].value"]);
    let e = errs(|v| {
        set(
            v,
            "/spec/template/spec/taints",
            json!([t.clone(), {"key": "example.com/gpu", "effect": "NoExecute"}]),
        )
    });
    assert!(e.is_empty(), "same key with another effect is fine: {e:?}");
}

#[test]
fn node_class_ref_fields_are_required() {
    let e = errs(|v| set(v, "/spec/template/spec/nodeClassRef/name", json!("")));
    assert_one(&e, &["nodeClassRef.name", "name may not be empty"]);
    let e = errs(|v| set(v, "/spec/template/spec/nodeClassRef/group", json!("a/b")));
    assert_one(&e, &["nodeClassRef.group", "must not contain '/'"]);
}

#[test]
fn durations_follow_upstream_patterns() {
    for (pointer, good, bad) in [
        ("/spec/template/spec/expireAfter", "Never", "30d"),
        ("/spec/template/spec/expireAfter", "1h30m", "1.5h"),
        ("/spec/disruption/consolidateAfter", "Never", "soon"),
        ("/spec/template/spec/terminationGracePeriod", "48h", "Never"),
    ] {
        assert!(
            errs(|v| set(v, pointer, json!(good))).is_empty(),
            "{pointer} {good}"
        );
        let e = errs(|v| set(v, pointer, json!(bad)));
        assert_eq!(e.len(), 1, "{pointer} {bad}: {e:?}");
        assert!(e[0].contains("is not a duration"), "{e:?}");
    }
}

#[test]
fn budgets_nodes_schedule_and_duration() {
    let e = errs(|v| set(v, "/spec/disruption/budgets", json!([{"nodes": "101%"}])));
    assert_one(&e, &["budgets[0].nodes", "a node count or a percentage"]);
    let e = errs(|v| {
        set(
            v,
            "/spec/disruption/budgets",
            json!([{"nodes": "0", "schedule": "@daily"}]),
        )
    });
    assert_one(
        &e,
        &["budgets[0]", "'schedule' must be set with 'duration'"],
    );
    let e = errs(|v| {
        set(
            v,
            "/spec/disruption/budgets",
            json!([{"nodes": "0", "duration": "1h"}]),
        )
    });
    assert_one(&e, &["'schedule' must be set with 'duration'"]);
    let e = errs(|v| {
        set(
            v,
            "/spec/disruption/budgets",
            json!([{"nodes": "0", "schedule": "0 25 * * *", "duration": "1h"}]),
        )
    });
    assert_one(&e, &["budgets[0].schedule", "hour field \"25\""]);
    let e = errs(|v| {
        set(
            v,
            "/spec/disruption/budgets",
            json!([{"nodes": "0", "schedule": "0 9 * *", "duration": "1h"}]),
        )
    });
    assert_one(&e, &["expected 5 fields"]);
    let e = errs(|v| {
        set(
            v,
            "/spec/disruption/budgets",
            json!([{"nodes": "0", "schedule": "@weekly", "duration": "30s"}]),
        )
    });
    assert_one(&e, &["budgets[0].duration"]);
    let e = errs(|v| {
        set(
            v,
            "/spec/disruption/budgets",
            json!([
                {"nodes": "0", "schedule": "0 9 * * mon-fri", "duration": "8h", "reasons": ["Underutilized"]},
                {"nodes": "10%"},
                {"nodes": "3", "schedule": "*/15 0-6 1,15 jan-jun 0", "duration": "1h30m"}
            ]),
        )
    });
    assert!(e.is_empty(), "{e:?}");
    let fifty_one: Vec<Value> = (0..51).map(|_| json!({"nodes": "1"})).collect();
    let e = errs(|v| set(v, "/spec/disruption/budgets", Value::Array(fifty_one)));
    assert_one(&e, &["at most 50 items"]);
}

#[test]
fn limits_are_quantities() {
    let e = errs(|v| set(v, "/spec/limits", json!({"cpu": "lots"})));
    assert_one(&e, &["spec.limits[cpu]"]);
    let e = errs(|v| set(v, "/spec/limits", json!({"memory": "-1Gi"})));
    assert_one(&e, &["spec.limits[memory]", "must not be negative"]);
    assert!(
        errs(|v| set(
            v,
            "/spec/limits",
            json!({"cpu": 1000, "memory": "1000Gi", "nodes": "10"})
        ))
        .is_empty()
    );
}

#[test]
fn weight_between_1_and_100() {
    assert_one(
        &errs(|v| set(v, "/spec/weight", json!(0))),
        &["spec.weight", "between 1 and 100, got 0"],
    );
    assert_one(
        &errs(|v| set(v, "/spec/weight", json!(101))),
        &["spec.weight"],
    );
    assert!(errs(|v| set(v, "/spec/weight", json!(100))).is_empty());
}

#[test]
fn static_nodepools_allow_only_node_limits_and_no_weight() {
    let e = errs(|v| {
        set(v, "/spec/replicas", json!(2));
        set(v, "/spec/weight", json!(5));
    });
    assert_one(
        &e,
        &[
            "spec.weight",
            "'weight' is not supported on static NodePools",
        ],
    );
    let e = errs(|v| {
        set(v, "/spec/replicas", json!(2));
        set(v, "/spec/limits", json!({"cpu": "10"}));
    });
    assert_one(
        &e,
        &["only 'limits.nodes' is supported on static NodePools"],
    );
    let e = errs(|v| {
        set(v, "/spec/replicas", json!(-1));
    });
    assert_one(&e, &["spec.replicas", "at least 0"]);
    assert!(
        errs(|v| {
            set(v, "/spec/replicas", json!(2));
            set(v, "/spec/limits", json!({"nodes": "4"}));
        })
        .is_empty()
    );
}

#[test]
fn names_are_required_and_dns_subdomains() {
    assert_one(
        &errs(|v| remove(v, "/metadata/name")),
        &["metadata.name", "name is required"],
    );
    assert_one(
        &errs(|v| set(v, "/metadata/name", json!("Default"))),
        &["metadata.name", "not a valid name"],
    );
}

#[test]
fn every_problem_is_reported() {
    let e = errs(|v| {
        set(v, "/spec/weight", json!(0));
        set(v, "/spec/template/spec/requirements/1/values", json!([]));
        set(v, "/spec/template/spec/expireAfter", json!("1d"));
    });
    assert_eq!(e.len(), 3, "{e:#?}");
}

#[test]
fn template_labels_under_kubernetes_io_are_allowed_since_v1_9() {
    for key in ["node-role.kubernetes.io/worker", "example.k8s.io/x"] {
        let e = errs(|v| set(v, "/spec/template/metadata", json!({"labels": {key: "x"}})));
        assert!(e.is_empty(), "{key}: {e:?}");
    }
    let e = errs(|v| {
        set(
            v,
            "/spec/template/metadata",
            json!({"labels": {"karpenter.sh/team": "x"}}),
        )
    });
    assert_one(&e, &[r#"label domain "karpenter.sh" is restricted"#]);
}

#[test]
fn consolidate_after_is_required_when_disruption_is_given() {
    // without `disruption` the NodePool-level default applies
    assert!(errs(|v| remove(v, "/spec/disruption")).is_empty());
    let text = BASE.replace("consolidateAfter: 0s", "consolidationPolicy: WhenEmpty");
    let errors = match karpenter_api::manifest::parse_bytes(
        std::path::Path::new("pool.yaml"),
        text.as_bytes(),
    ) {
        Ok(m) => panic!("accepted a disruption block without consolidateAfter: {m:?}"),
        Err(e) => e.to_string(),
    };
    assert!(
        errors.contains("spec.disruption") && errors.contains("consolidateAfter"),
        "{errors}"
    );
}

#[test]
fn budget_reasons_are_a_set() {
    let e = errs(|v| {
        set(
            v,
            "/spec/disruption",
            json!({"consolidateAfter": "0s", "budgets": [{"nodes": "1", "reasons": ["Empty", "Drifted", "Empty"]}]}),
        )
    });
    assert_one(
        &e,
        &["spec.disruption.budgets[0].reasons[2]", "duplicate value"],
    );
}
