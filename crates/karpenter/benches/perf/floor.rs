//! The control plane's floor for a perf scenario: no Karpenter at all, the Nodes a run of
//! ours ended with created as fast as the API server takes them, and the pods timed to all
//! bound. For a scale-out of a thousand pods no controller's can be faster on the same
//! machine; at 20,000 pods capacity there from the start slows kube-scheduler's spreading,
//! and ours has come in under it (README, "Controller performance").

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, NodeSpec, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;

use crate::e2e::Env;
use crate::timeline::Timeline;
use crate::{
    Figures, Scenario, components, components_since, count_pods, deployment, pods_of,
    scheduler_attempts, until_all_bound,
};

/// The managed Nodes of a run as a `floor` run creates them: name, labels, KWOK's
/// annotation, providerID, capacity and allocatable; no taint (the API server adds
/// `node.kubernetes.io/not-ready` itself), no owner, no finalizer.
pub fn floor_nodes(env: &Env) -> Vec<Node> {
    let nodes: Vec<Node> = env.list();
    nodes
        .into_iter()
        .filter(|n| {
            n.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key("karpenter.sh/nodepool"))
        })
        .map(|n| {
            let mut meta = n.metadata;
            let labels = meta.labels.take();
            let annotations = meta.annotations.take().map(|a| {
                a.into_iter()
                    .filter(|(k, _)| k.starts_with("kwok.x-k8s.io/"))
                    .collect()
            });
            let status = n.status.unwrap_or_default();
            Node {
                metadata: ObjectMeta {
                    name: meta.name,
                    labels,
                    annotations,
                    ..ObjectMeta::default()
                },
                spec: Some(NodeSpec {
                    provider_id: n.spec.and_then(|s| s.provider_id),
                    ..NodeSpec::default()
                }),
                status: Some(NodeStatus {
                    capacity: status.capacity,
                    allocatable: status.allocatable,
                    ..NodeStatus::default()
                }),
            }
        })
        .collect()
}

/// `nodes` and a tenth more, copies of the one with the most allocatable memory: with no
/// controller to add a Node for the pods kube-scheduler packs differently from the plan,
/// the floor needs room to spare or it may never bind them all.
fn with_slack(nodes: &[Node]) -> Vec<Node> {
    let memory = |n: &Node| {
        n.status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get("memory"))
            .and_then(|q| karpenter_model::Quantity::parse(&q.0).ok())
            .unwrap_or_default()
    };
    let mut all = nodes.to_vec();
    let Some(largest) = nodes.iter().max_by_key(|n| memory(n)) else {
        return all;
    };
    for i in 0..nodes.len().div_ceil(10) {
        let name = format!("floor-slack-{i}");
        let mut n = largest.clone();
        n.metadata.name = Some(name.clone());
        if let Some(l) = n.metadata.labels.as_mut() {
            l.insert("kubernetes.io/hostname".into(), name.clone());
        }
        if let Some(s) = n.spec.as_mut() {
            s.provider_id = Some(format!("kwok://{name}"));
        }
        all.push(n);
    }
    all
}

/// The control plane's floor for a scenario: no Karpenter at all. The Nodes an `ours` run
/// ended its scale-out with are created as fast as the API server takes them, at once with
/// the Deployments (`batched`: once every pod exists plus `BATCH_IDLE_DURATION`'s default
/// 1 s, the earliest a controller keeping upstream's batching could ask), and the pods
/// timed to all bound as in [`run`]. What is left is KWOK's Ready, the node lifecycle
/// controller's `not-ready` taint, the ReplicaSet controller's pods and kube-scheduler's
/// binding.
pub fn run_floor(scenario: &Scenario, nodes: &[Node], batched: bool, timeout: Duration) -> Figures {
    use kube::api::PostParams;
    let env = Env::new();
    env.create::<Namespace>("apiVersion: v1\nkind: Namespace\nmetadata: {name: perf}");
    let want = pods_of(scenario);
    let nodes = with_slack(nodes);
    let mut f = Figures {
        pods: want,
        nodes_out: nodes.len(),
        cost_out: crate::cost::hourly_cost(&nodes),
        ..Figures::default()
    };
    let comp0 = components(&env.dir);
    let started = Instant::now();
    let timeline = Timeline::start(&env, started);
    for w in &scenario.workloads {
        env.create::<Deployment>(&deployment(w));
    }
    if batched {
        while count_pods(&env, None) < want && started.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    // 32 creates in flight, as the KWOK provider's launches
    let mut lanes: Vec<Vec<Node>> = vec![Vec::new(); 32];
    for (i, n) in nodes.iter().enumerate() {
        lanes[i % 32].push(n.clone());
    }
    let creating: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            let api: Api<Node> = Api::all(env.client.clone());
            env.rt.spawn(async move {
                let mut failed = 0;
                for n in lane {
                    if api.create(&PostParams::default(), &n).await.is_err() {
                        failed += 1;
                    }
                }
                failed
            })
        })
        .collect();
    let failed: usize = creating
        .into_iter()
        .map(|t| env.rt.block_on(t).unwrap_or(0))
        .sum();
    f.floor_created_s = Some(started.elapsed().as_secs_f64());
    if failed > 0 {
        eprintln!("perf: floor: {failed} Node create(s) failed");
    }
    f.scale_out_s = until_all_bound(&env, want, started, timeout);
    f.scheduler = scheduler_attempts(&env);
    f.components = components_since(&env.dir, &comp0);
    // the pods may all be bound before the last slack Node is schedulable
    let by = Instant::now() + Duration::from_secs(30);
    while timeline.schedulable() < nodes.len() && Instant::now() < by {
        std::thread::sleep(Duration::from_millis(200));
    }
    f.timeline = timeline.stop();
    f
}
