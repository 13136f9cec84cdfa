//! End to end on a real control plane: consolidation after a scale-in (no PodDisruptionBudget
//! broken, the do-not-disrupt pod untouched), drift after a NodePool template change, expiry,
//! and deletions (a NodeClaim drains and removes its Node; a Node takes its NodeClaim).

mod e2e;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use e2e::{Env, NODECLASS, NodeClass, all_running, deployment, names, nodepool};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use karpenter_api::{NodeClaim, NodePool};
use kube::Api;
use kube::api::ListParams;

const MINUTE: Duration = Duration::from_secs(60);

fn running(pods: &[Pod], app: &str) -> usize {
    pods.iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str)
                == Some(app)
                && p.metadata.deletion_timestamp.is_none()
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
        .count()
}

#[test]
fn consolidation_removes_nodes_within_pdbs_and_leaves_do_not_disrupt_pods() {
    let mut env = Env::new();
    env.create::<NodeClass>(NODECLASS);
    env.create::<NodePool>(&nodepool("default", "0s", "100%"));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    env.create::<Deployment>(&deployment("web", "app", 16, "1", "1Gi"));
    let pinned = deployment("web", "pinned", 1, "1", "1Gi").replace(
        "    metadata: {labels: {app: pinned}}",
        "    metadata: {labels: {app: pinned}, annotations: {karpenter.sh/do-not-disrupt: \"true\"}}",
    );
    env.create::<Deployment>(&pinned);
    env.create::<PodDisruptionBudget>(
        r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: app, namespace: web}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: app}}
"#,
    );
    env.start_controller(&["--disable-leader-election"]);
    env.wait("17 pods running", 3 * MINUTE, |env| {
        all_running(env, "web", 17)
    });
    let pinned_pod = env.pods("web").into_iter().find(|p| {
        p.metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("pinned"))
    });
    let Some(pinned_pod) = pinned_pod else {
        panic!("no pinned pod")
    };
    let pinned_uid = pinned_pod.metadata.uid.clone();
    let pinned_node = pinned_pod.spec.as_ref().and_then(|s| s.node_name.clone());
    let before = env.nodeclaims().len();
    // watch the PDB's pods while consolidation runs: never more than one unavailable
    let stop = Arc::new(AtomicBool::new(false));
    let lowest = Arc::new(AtomicUsize::new(usize::MAX));
    let watcher = {
        let (stop, lowest) = (Arc::clone(&stop), Arc::clone(&lowest));
        let api: Api<Pod> = Api::namespaced(env.client.clone(), "web");
        let handle = env.rt.handle().clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(list) = handle.block_on(api.list(&ListParams::default())) {
                    lowest.fetch_min(running(&list.items, "app"), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    env.scale("web", "app", 4);
    let after = env.wait("consolidation to remove nodes", 4 * MINUTE, |env| {
        let n = env.nodeclaims().len();
        let pods = env.pods("web");
        let settled = running(&pods, "app") == 4 && running(&pods, "pinned") == 1;
        if n < before && settled && n <= 3 {
            Ok(n)
        } else {
            let phases: Vec<String> = pods
                .iter()
                .map(|p| {
                    format!(
                        "{}:{}@{}{}",
                        p.metadata.name.as_deref().unwrap_or("?"),
                        p.status
                            .as_ref()
                            .and_then(|s| s.phase.as_deref())
                            .unwrap_or("?"),
                        p.spec
                            .as_ref()
                            .and_then(|s| s.node_name.as_deref())
                            .unwrap_or("-"),
                        if p.metadata.deletion_timestamp.is_some() {
                            " (deleting)"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            Err(format!(
                "{n} NodeClaims (from {before}), settled {settled}: {phases:?}"
            ))
        }
    });
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    assert!(after < before);
    // scaling from 16 to 4 takes 12 away at once; after that, the budget's one
    // unavailable pod is all evictions may take
    let low = lowest.load(Ordering::Relaxed);
    assert!(
        low >= 3,
        "only {low} app pods were running at one point (PDB maxUnavailable 1)"
    );
    let pinned_now = env
        .pods("web")
        .into_iter()
        .find(|p| p.metadata.uid == pinned_uid);
    let Some(pinned_now) = pinned_now else {
        panic!("the do-not-disrupt pod was evicted")
    };
    assert_eq!(
        pinned_now.spec.as_ref().and_then(|s| s.node_name.clone()),
        pinned_node
    );
    // every NodeClaim still has its Node, and no Node is left without a NodeClaim
    let claims = env.nodeclaims();
    let nodes: Vec<Node> = env.nodes();
    let claimed: BTreeSet<String> = claims
        .iter()
        .filter_map(|c| c.status.as_ref().and_then(|s| s.node_name.clone()))
        .collect();
    assert_eq!(claimed, names(&nodes).into_iter().collect());
}

#[test]
fn a_template_change_drifts_every_node_and_deletions_follow_each_other() {
    let mut env = Env::new();
    env.create::<NodeClass>(NODECLASS);
    env.create::<NodePool>(&nodepool("default", "10m", "1"));
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    env.create::<Deployment>(&deployment("web", "app", 6, "1500m", "1Gi"));
    env.start_controller(&["--disable-leader-election"]);
    env.wait("6 pods running", 3 * MINUTE, |env| {
        all_running(env, "web", 6)
    });
    let old: BTreeSet<String> = names(&env.nodeclaims()).into_iter().collect();
    assert!(old.len() >= 2, "want several nodes to drift, got {old:?}");
    env.patch_nodepool(
        "default",
        serde_json::json!({"spec": {"template": {"metadata": {"labels": {"team": "blue"}}}}}),
    );
    let lowest_running = Arc::new(AtomicUsize::new(usize::MAX));
    env.wait("every drifted node replaced", 5 * MINUTE, |env| {
        let claims = env.nodeclaims();
        let pods = env.pods("web");
        lowest_running.fetch_min(running(&pods, "app"), Ordering::Relaxed);
        let now: BTreeSet<String> = names(&claims).into_iter().collect();
        let replaced = now.is_disjoint(&old);
        let labelled = claims.iter().all(|c| {
            c.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("team"))
                .map(String::as_str)
                == Some("blue")
        });
        if replaced && labelled && all_running(env, "web", 6).is_ok() {
            Ok(())
        } else {
            Err(format!("claims {now:?} (old {old:?}), labelled {labelled}"))
        }
    });
    // with a budget of one node, drift never took more than one node's pods at a time
    let low = lowest_running.load(Ordering::Relaxed);
    assert!(low >= 3, "only {low} of 6 pods were running at one point");
    // deleting a NodeClaim drains and removes its Node; the pods land elsewhere
    let claims = env.nodeclaims();
    let victim = claims[0].metadata.name.clone().unwrap_or_default();
    let victim_node = claims[0]
        .status
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    env.delete::<NodeClaim>(&victim);
    env.wait("the NodeClaim and its Node gone", 3 * MINUTE, |env| {
        let c = names(&env.nodeclaims());
        let n = names(&env.nodes());
        if !c.contains(&victim) && !n.contains(&victim_node) && all_running(env, "web", 6).is_ok() {
            Ok(())
        } else {
            Err(format!("claims {c:?}, nodes {n:?}"))
        }
    });
    // deleting a Node takes its NodeClaim
    let node = names(&env.nodes())[0].clone();
    let owner = env
        .nodeclaims()
        .into_iter()
        .find(|c| c.status.as_ref().and_then(|s| s.node_name.as_ref()) == Some(&node))
        .and_then(|c| c.metadata.name);
    let Some(owner) = owner else {
        panic!("node {node} has no NodeClaim")
    };
    env.delete::<Node>(&node);
    env.wait("the Node and its NodeClaim gone", 3 * MINUTE, |env| {
        let c = names(&env.nodeclaims());
        let n = names(&env.nodes());
        if !c.contains(&owner) && !n.contains(&node) && all_running(env, "web", 6).is_ok() {
            Ok(())
        } else {
            Err(format!("claims {c:?}, nodes {n:?}"))
        }
    });
}

#[test]
fn expired_nodes_are_replaced() {
    let mut env = Env::new();
    env.create::<NodeClass>(NODECLASS);
    let pool = nodepool("default", "10m", "10%").replace(
        "      requirements:",
        "      expireAfter: 45s\n      requirements:",
    );
    env.create::<NodePool>(&pool);
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}");
    env.create::<Deployment>(&deployment("web", "app", 2, "500m", "512Mi"));
    env.start_controller(&["--disable-leader-election"]);
    env.wait("2 pods running", 3 * MINUTE, |env| {
        all_running(env, "web", 2)
    });
    let first: BTreeSet<String> = names(&env.nodeclaims()).into_iter().collect();
    env.wait("the first nodes expired and replaced", 4 * MINUTE, |env| {
        let now: BTreeSet<String> = names(&env.nodeclaims()).into_iter().collect();
        if !now.is_empty() && now.is_disjoint(&first) && all_running(env, "web", 2).is_ok() {
            Ok(())
        } else {
            Err(format!("claims {now:?}, first {first:?}"))
        }
    });
}
