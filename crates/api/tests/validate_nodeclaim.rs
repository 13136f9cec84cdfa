//! NodeClaim validation: one test per rule, valid and invalid.

mod common;

use common::{assert_one, errors_after, set};
use karpenter_api::NodeClaim;
use serde_json::{Value, json};

const BASE: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata: {name: default-x7k2p}
spec:
  nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
  requirements:
    - {key: karpenter.sh/nodepool, operator: In, values: [default]}
    - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge]}
  resources:
    requests: {cpu: 1500m, memory: 2Gi, pods: "3"}
"#;

fn errs(patch: impl FnOnce(&mut Value)) -> Vec<String> {
    errors_after::<NodeClaim>(BASE, patch)
}

#[test]
fn base_is_valid_and_may_name_its_nodepool() {
    assert!(errs(|_| {}).is_empty());
}

#[test]
fn requirement_rules_apply() {
    let e = errs(|v| set(v, "/spec/requirements/1/values", json!([])));
    assert_one(
        &e,
        &[
            r#"NodeClaim "default-x7k2p": spec.requirements[1]: operator In needs at least one value"#,
        ],
    );
    let e = errs(|v| {
        set(
            v,
            "/spec/requirements/1",
            json!({"key": "karpenter.sh/foo", "operator": "Exists"}),
        )
    });
    assert_one(&e, &[r#"label domain "karpenter.sh" is restricted"#]);
    let e = errs(|v| set(v, "/spec/requirements/1/minValues", json!(3)));
    assert_one(&e, &["spec.requirements[1].minValues"]);
}

#[test]
fn resources_are_quantities() {
    let e = errs(|v| set(v, "/spec/resources/requests/cpu", json!("1.5 cores")));
    assert_one(&e, &["spec.resources.requests[cpu]"]);
}

#[test]
fn durations_and_taints() {
    assert_one(
        &errs(|v| set(v, "/spec/expireAfter", json!("forever"))),
        &["spec.expireAfter"],
    );
    assert_one(
        &errs(|v| set(v, "/spec/terminationGracePeriod", json!("1d"))),
        &["spec.terminationGracePeriod"],
    );
    let t = json!({"key": "a", "effect": "NoSchedule"});
    assert_one(
        &errs(|v| set(v, "/spec/taints", json!([t.clone(), t.clone()]))),
        &["spec.taints[1]", "duplicate taint"],
    );
}

#[test]
fn node_class_ref_kind_is_required() {
    assert_one(
        &errs(|v| set(v, "/spec/nodeClassRef/kind", json!(""))),
        &["spec.nodeClassRef.kind", "kind may not be empty"],
    );
}
