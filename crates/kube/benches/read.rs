//! The read phase of one controller pass at 20,000 pods (the e2e harness's `20k` scenario
//! once bound): the planner's view of the cached objects and the cluster state rebuilt from
//! them, with no pod changed since the last pass and with 1,000 pods changed. Every pass
//! does this before the controllers run, so its cost is the controller's floor under a
//! busy watch (a 20k scale-out profiled it at over half the controller's CPU).

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::{Node, Pod};
use karpenter_kube::translate::{Objects, Translator};

const PODS: usize = 20_000;
const NODES: usize = 58;
const DEPLOYMENTS: usize = 50;

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    match serde_json::from_value(v) {
        Ok(t) => t,
        Err(e) => panic!("bench object: {e}"),
    }
}

/// A Deployment's pod as the watch cache keeps it: bound and running unless `pending`.
fn pod(i: usize, rv: usize, pending: bool) -> Arc<Pod> {
    let app = format!("app-{}", i % DEPLOYMENTS);
    let mut v = serde_json::json!({
        "metadata": {
            "name": format!("{app}-7d9c5b{i:06}"), "namespace": "perf",
            "resourceVersion": rv.to_string(), "uid": format!("uid-{i}"),
            "creationTimestamp": "2026-12-07T09:00:00Z",
            "labels": {"app": app, "pod-template-hash": "7d9c5b"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{app}-7d9c5b"), "uid": "rs", "controller": true}]
        },
        "spec": {
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
            "schedulerName": "default-scheduler", "priority": 0,
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ]
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"}
    });
    if !pending {
        v["spec"]["nodeName"] = serde_json::json!(format!("node-{}", i % NODES));
        v["status"] = serde_json::json!({
            "phase": "Running", "qosClass": "Burstable", "podIP": "10.0.0.1", "hostIP": "10.1.0.1",
            "startTime": "2026-12-07T09:00:30Z",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-07T09:00:20Z"},
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-12-07T09:00:30Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-12-07T09:00:31Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-07T09:00:31Z"}
            ]
        });
    }
    Arc::new(from_json(v))
}

fn node(i: usize) -> Arc<Node> {
    Arc::new(from_json(serde_json::json!({
        "metadata": {
            "name": format!("node-{i}"), "resourceVersion": "1",
            "creationTimestamp": "2026-12-07T09:00:10Z",
            "labels": {"kubernetes.io/hostname": format!("node-{i}"), "karpenter.sh/nodepool": "default",
                "node.kubernetes.io/instance-type": "c-64x-amd64-linux", "topology.kubernetes.io/zone": "test-zone-a"}
        },
        "spec": {"providerID": format!("kwok://node-{i}")},
        "status": {
            "allocatable": {"cpu": "63770m", "memory": "250Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    })))
}

fn objects(rv: usize, changed: usize) -> Objects {
    Objects {
        pods: (0..PODS)
            .map(|i| pod(i, if i < changed { rv } else { 1 }, i % 10 == 0))
            .collect(),
        nodes: (0..NODES).map(node).collect(),
        version: rv as u64,
        ..Objects::default()
    }
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    group.sample_size(20);
    let unchanged = objects(1, 0);
    let mut translator = Translator::default();
    group.bench_function("20k pods, none changed", |b| {
        b.iter(|| {
            let cluster = unchanged.cluster();
            translator.state(&unchanged, &cluster, &[], Vec::new())
        });
    });
    // as in the watch cache, an unchanged pod is the same object in both
    let even = objects(2, 1000);
    let mut odd = even.clone();
    for (i, p) in odd.pods.iter_mut().enumerate().take(1000) {
        *p = pod(i, 3, i % 10 == 0);
    }
    let mut translator = Translator::default();
    let mut flip = false;
    group.bench_function("20k pods, 1000 changed", |b| {
        b.iter(|| {
            flip = !flip;
            let o = if flip { &even } else { &odd };
            let cluster = o.cluster();
            translator.state(o, &cluster, &[], Vec::new())
        });
    });
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
