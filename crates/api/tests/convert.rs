//! Pods from manifests into the model: effective requests and tolerations.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use karpenter_api::convert::{pod_resources, tolerations};
use karpenter_api::manifest::{Object, parse_bytes};
use karpenter_model::{Effect, Quantity, Resources};

fn pod(yaml: &str) -> Pod {
    match parse_bytes(Path::new("pod.yaml"), yaml.as_bytes()) {
        Ok(mut m) => match m.pop().map(|m| m.object) {
            Some(Object::Pod(p)) => *p,
            other => panic!("not a pod: {other:?}"),
        },
        Err(e) => panic!("{e}"),
    }
}

fn q(s: &str) -> Quantity {
    Quantity::parse(s).unwrap_or_default()
}

#[test]
fn sidecars_init_containers_limits_and_overhead() {
    let p = pod(r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  runtimeClassName: kata
  initContainers:
    - {name: proxy, restartPolicy: Always, resources: {requests: {cpu: 500m, memory: 128Mi}}}
    - {name: migrate, resources: {requests: {cpu: "2", memory: 256Mi}}}
  containers:
    - {name: app, resources: {requests: {cpu: "1"}, limits: {cpu: "2", memory: 1Gi}}}
  tolerations:
    - {key: gpu, operator: Exists, effect: NoSchedule}
    - {key: team, operator: Equal, value: a}
"#);
    let overhead: BTreeMap<String, Resources> =
        [("kata".to_string(), [("cpu".to_string(), q("250m"))].into())].into();
    let r = match pod_resources(&p, &overhead) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let e = r.effective_requests();
    // init phase: 500m + 2 = 2500m; app phase: 1 (request wins over limit) + 500m = 1500m;
    // plus 250m RuntimeClass overhead
    assert_eq!(e["cpu"], q("2750m"));
    // memory: app uses its limit 1Gi + 128Mi sidecar = 1152Mi > init 384Mi
    assert_eq!(e["memory"], q("1152Mi"));
    assert_eq!(e["pods"], q("1"));
    let t = tolerations(&p);
    assert_eq!(t.len(), 2);
    assert!(t[0].exists && t[0].effect == Some(Effect::NoSchedule));
    assert!(!t[1].exists && t[1].value == "a" && t[1].effect.is_none());
}

#[test]
fn bad_quantities_name_pod_and_field() {
    let p = pod(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers: [{name: c, resources: {requests: {cpu: lots}}}]\n",
    );
    let e = match pod_resources(&p, &BTreeMap::new()) {
        Ok(_) => panic!("must fail"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.starts_with(r#"Pod "ns/p": spec.containers[0].resources.requests[cpu]:"#),
        "{e}"
    );
}

#[test]
fn benchmark_pods_translate() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bench/pods_diverse_50.json.gz");
    let m = match karpenter_api::manifest::load_paths(&[path]) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    for m in &m {
        let Object::Pod(p) = &m.object else {
            panic!("not a pod")
        };
        let e = match pod_resources(p, &BTreeMap::new()) {
            Ok(r) => r.effective_requests(),
            Err(e) => panic!("{e}"),
        };
        assert!(
            e["cpu"] > Quantity::ZERO && e["memory"] > Quantity::ZERO,
            "{e:?}"
        );
        assert_eq!(e["pods"], q("1"));
    }
}
