//! End to end on a real control plane: pending pods become NodeClaims and KWOK Nodes, the
//! real kube-scheduler binds every pod, NodeClaims go through Launched, Registered and
//! Initialized with upstream's labels, finalizers and owners; metrics and probes answer; the
//! API server refuses an invalid NodePool through our CRDs; a NodePool without its NodeClass
//! reports NodeClassReady=False and launches nothing; a NodePool written for upstream's kwok
//! provider (a KWOKNodeClass, upstream's KWOK catalog) runs unchanged; pods kube-scheduler
//! has not tried yet get capacity at once (`PROVISION_UNTRIED_PODS`), and none without it.

mod e2e;

use std::time::Duration;

use e2e::{Env, NODECLASS, NodeClass, all_running, conditions, deployment, metric, nodepool};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use karpenter_api::NodePool;
use karpenter_model::wellknown::{finalizers, labels};

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn pending_pods_get_nodes_and_the_scheduler_binds_them() {
    let mut env = Env::new();
    env.create::<NodeClass>(NODECLASS);
    env.create::<NodePool>(&nodepool("default", "5m", "10%"));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    let c = env.start_controller(&["--disable-leader-election"]);
    env.wait_ready(c);
    let port = env.controller(c).health_port;
    assert_eq!(e2e::http_get(port, "/healthz").as_deref(), Some("ok"));
    // upstream's "basic" mix, scaled to a test: small, medium and large requests
    env.create::<Deployment>(&deployment("web", "small", 12, "250m", "256Mi"));
    env.create::<Deployment>(&deployment("web", "medium", 6, "1", "2Gi"));
    env.create::<Deployment>(&deployment("web", "large", 2, "3", "6Gi"));
    let pods = env.wait("all 20 pods running", 3 * MINUTE, |env| {
        all_running(env, "web", 20)
    });
    // a pod runs once its Node is registered; initialization follows within a pass or two
    let claims = env.wait("every NodeClaim initialized", MINUTE, |env| {
        let claims = env.nodeclaims();
        let behind: Vec<String> = claims
            .iter()
            .filter(|c| conditions(c).get("Ready").map(String::as_str) != Some("True"))
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        if claims.is_empty() || !behind.is_empty() {
            Err(format!("not ready: {behind:?}"))
        } else {
            Ok(claims)
        }
    });
    let nodes = env.nodes();
    // every pod runs on a node Karpenter launched, every claim has its node
    for p in &pods {
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
        assert!(
            claims
                .iter()
                .any(|c| c.status.as_ref().and_then(|s| s.node_name.clone()) == node),
            "pod {:?} on {node:?}, not a Karpenter node",
            p.metadata.name
        );
    }
    for c in &claims {
        let name = c.metadata.name.clone().unwrap_or_default();
        let cond = conditions(c);
        for t in ["Launched", "Registered", "Initialized", "Ready"] {
            assert_eq!(cond.get(t).map(String::as_str), Some("True"), "{name}: {t}");
        }
        let l = c.metadata.labels.clone().unwrap_or_default();
        for key in [
            labels::NODEPOOL,
            labels::INSTANCE_TYPE,
            labels::ZONE,
            labels::CAPACITY_TYPE,
        ] {
            assert!(l.contains_key(key), "{name} lacks label {key}");
        }
        assert_eq!(
            l.get(labels::CAPACITY_TYPE).map(String::as_str),
            Some("on-demand")
        );
        assert_eq!(
            c.metadata.finalizers.clone().unwrap_or_default(),
            vec![finalizers::TERMINATION.to_string()]
        );
        let owner = c.metadata.owner_references.clone().unwrap_or_default();
        assert!(
            owner
                .iter()
                .any(|o| o.kind == "NodePool" && o.name == "default")
        );
        let provider_id = c.status.as_ref().and_then(|s| s.provider_id.clone());
        let node = nodes
            .iter()
            .find(|n| n.spec.as_ref().and_then(|s| s.provider_id.clone()) == provider_id);
        let Some(node) = node else {
            panic!("{name}: no node with provider id {provider_id:?}")
        };
        let nl = node.metadata.labels.clone().unwrap_or_default();
        assert_eq!(nl.get(labels::REGISTERED).map(String::as_str), Some("true"));
        assert_eq!(
            nl.get(labels::INITIALIZED).map(String::as_str),
            Some("true")
        );
        assert_eq!(
            nl.get(labels::NODEPOOL).map(String::as_str),
            Some("default")
        );
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        assert!(
            !taints.iter().any(|t| t.key == "karpenter.sh/unregistered"),
            "{name}: unregistered taint left"
        );
        assert!(
            node.metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == finalizers::TERMINATION)
        );
        assert!(
            node.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "NodeClaim" && o.name == name)
        );
    }
    // the metrics endpoint tells the same story with upstream's names
    let text = env.controller(c).metrics();
    assert_eq!(
        metric(&text, "karpenter_nodeclaims_created_total"),
        claims.len() as f64,
        "{text}"
    );
    assert_eq!(
        metric(&text, "karpenter_nodeclaims_launched_total"),
        claims.len() as f64
    );
    assert_eq!(
        metric(&text, "karpenter_nodes_created_total"),
        claims.len() as f64
    );
    assert_eq!(
        metric(&text, "karpenter_cluster_state_node_count"),
        nodes.len() as f64
    );
    // events.k8s.io Events with upstream's reasons, on the NodeClaims they concern
    let claim_uids: Vec<String> = claims
        .iter()
        .filter_map(|c| c.metadata.uid.clone())
        .collect();
    env.wait("a Launched Event per NodeClaim", MINUTE, |env| {
        let events: Vec<k8s_openapi::api::events::v1::Event> = env.list();
        let launched: Vec<String> = events
            .iter()
            .filter(|e| {
                e.reason.as_deref() == Some("Launched")
                    && e.reporting_controller.as_deref() == Some("karpenter")
                    && e.type_.as_deref() == Some("Normal")
            })
            .filter_map(|e| e.regarding.as_ref().and_then(|r| r.uid.clone()))
            .collect();
        let missing: Vec<&String> = claim_uids
            .iter()
            .filter(|u| !launched.contains(u))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("no Launched Event for {missing:?}"))
        }
    });
    // NodePool status: node count, resources, Ready, and the hash annotation
    let pool = env.wait("NodePool status", MINUTE, |env| {
        let pools: Vec<NodePool> = env.list();
        let p = pools.into_iter().next().ok_or("no pool")?;
        let nodes = p.status.as_ref().and_then(|s| s.nodes);
        if nodes == Some(claims.len() as i64) {
            Ok(p)
        } else {
            Err(format!("status.nodes {nodes:?}"))
        }
    });
    assert!(pool.is_ready());
    assert!(
        pool.metadata
            .annotations
            .iter()
            .flatten()
            .any(|(k, v)| k == "karpenter.sh/nodepool-hash"
                && *v == karpenter_api::hash::nodepool_hash(&pool))
    );
    // SIGTERM stops it cleanly
    assert_eq!(env.controller(c).terminate(), Some(0));
}

#[test]
fn the_api_server_refuses_invalid_nodepools_and_a_missing_nodeclass_launches_nothing() {
    let mut env = Env::new();
    let refused = env.try_create::<NodePool>(
        r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: bad}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: karpenter.sh/custom, operator: In, values: [a]}
"#,
    );
    let Err(message) = refused else {
        panic!("the API server accepted a NodePool with a restricted key")
    };
    assert!(
        message.contains(r#"label domain \"karpenter.sh\" is restricted"#)
            || message.contains(r#"label domain "karpenter.sh" is restricted"#),
        "{message}"
    );
    // no EC2NodeClass "default" exists
    env.create::<NodePool>(&nodepool("orphan", "5m", "10%"));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    env.create::<Deployment>(&deployment("web", "app", 3, "500m", "512Mi"));
    env.start_controller(&["--disable-leader-election"]);
    let pool = env.wait("NodeClassReady=False", MINUTE, |env| {
        let pools: Vec<NodePool> = env.list();
        let p = pools.into_iter().next().ok_or("no pool")?;
        let c = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        match c.iter().find(|c| c.type_ == "NodeClassReady") {
            Some(x) if x.status == "False" => Ok(p),
            other => Err(format!("{other:?}")),
        }
    });
    assert!(!pool.is_ready());
    // pods stay pending well past a batch window, and nothing is launched
    std::thread::sleep(Duration::from_secs(15));
    assert!(env.nodeclaims().is_empty());
    assert!(env.nodes().is_empty());
    // once the NodeClass exists, the same pods get a node
    env.create::<NodeClass>(NODECLASS);
    env.wait(
        "pods running after the NodeClass appears",
        2 * MINUTE,
        |env| all_running(env, "web", 3),
    );
}

#[test]
fn a_nodepool_written_for_upstreams_kwok_provider_runs_unchanged() {
    let mut env = Env::new();
    env.create::<karpenter_kube::kwoknodeclass::KwokNodeClass>(
        "apiVersion: karpenter.kwok.sh/v1alpha1\nkind: KWOKNodeClass\nmetadata: {name: default}",
    );
    // upstream's default performance-suite NodePool (reference 7.2)
    env.create::<NodePool>(
        r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      expireAfter: Never
      requirements:
        - {key: kubernetes.io/os, operator: In, values: [linux]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: karpenter.kwok.sh/instance-cpu, operator: Lt, values: ["17"]}
  limits: {cpu: "10000", memory: 8000Gi}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: Never
    budgets: [{nodes: "100%"}]
"#,
    );
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    env.create::<Deployment>(&deployment("web", "basic", 12, "900m", "3100Mi"));
    env.start_controller(&["--disable-leader-election", "--catalog", "builtin:kwok"]);
    env.wait("all 12 pods running", 3 * MINUTE, |env| {
        all_running(env, "web", 12)
    });
    let nodes = env.nodes();
    assert!(!nodes.is_empty());
    for n in &nodes {
        let l = n.metadata.labels.clone().unwrap_or_default();
        let name = n.metadata.name.clone().unwrap_or_default();
        assert_eq!(
            l.get("karpenter.kwok.sh/kwoknodeclass").map(String::as_str),
            Some("default"),
            "{name}"
        );
        assert!(
            l.get(labels::ZONE)
                .is_some_and(|z| z.starts_with("test-zone-")),
            "{name}: {:?}",
            l.get(labels::ZONE)
        );
        assert!(
            l.get(labels::INSTANCE_TYPE)
                .is_some_and(|t| t.ends_with("-amd64-linux") || t.ends_with("-arm64-linux")),
            "{name}: {:?}",
            l.get(labels::INSTANCE_TYPE)
        );
        assert!(
            l.contains_key("karpenter.kwok.sh/instance-family"),
            "{name}"
        );
    }
    let pools: Vec<NodePool> = env.list();
    assert!(pools.iter().all(NodePool::is_ready));
}

/// Pods of `ns` that carry a `PodScheduled` condition (kube-scheduler tried them).
fn tried(env: &Env, ns: &str) -> Vec<String> {
    env.pods(ns)
        .iter()
        .filter(|p: &&Pod| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "PodScheduled"))
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

#[test]
fn pods_the_scheduler_has_not_tried_get_capacity_before_it_marks_them() {
    let mut env = Env::new();
    env.create::<NodeClass>(NODECLASS);
    env.create::<NodePool>(&nodepool("default", "5m", "10%"));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    // with kube-scheduler stopped no pod is ever tried, so none is marked Unschedulable
    env.control_plane("stop-scheduler");
    let strict = env.start_controller(&[
        "--disable-leader-election",
        "--provision-untried-pods=false",
    ]);
    env.wait_ready(strict);
    env.create::<Deployment>(&deployment("web", "early", 8, "1", "1Gi"));
    env.wait("8 pods created", MINUTE, |env| {
        let n = env.pods("web").len();
        if n == 8 {
            Ok(())
        } else {
            Err(format!("{n} pods"))
        }
    });
    // upstream's rule: no mark, no capacity, well past a batch window
    std::thread::sleep(Duration::from_secs(6));
    assert!(env.nodeclaims().is_empty(), "launched without the mark");
    env.controller(strict).kill();
    // ours by default: capacity for the untried pods, initialized before the scheduler runs
    env.start_controller(&["--disable-leader-election"]);
    let claims = env.wait(
        "NodeClaims initialized for untried pods",
        2 * MINUTE,
        |env| {
            let claims = env.nodeclaims();
            let behind = claims
                .iter()
                .filter(|c| conditions(c).get("Initialized").map(String::as_str) != Some("True"))
                .count();
            if claims.is_empty() || behind > 0 {
                Err(format!("{} claims, {behind} not initialized", claims.len()))
            } else {
                Ok(claims)
            }
        },
    );
    assert_eq!(
        tried(&env, "web"),
        Vec::<String>::new(),
        "the scheduler ran"
    );
    // the scheduler comes back and binds every pod to that capacity, on its first try
    env.control_plane("start-scheduler");
    env.wait("all 8 pods running", 2 * MINUTE, |env| {
        all_running(env, "web", 8)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        e2e::names(&env.nodeclaims()),
        e2e::names(&claims),
        "the planned capacity was enough: no NodeClaim more"
    );
}
