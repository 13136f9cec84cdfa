//! What a run's capacity costs and when its pods existed: the managed Nodes' hourly price
//! from upstream's KWOK catalog (the type, capacity type and zone on each Node's labels),
//! so two controllers that end a scale-out with different Nodes compare by what a user
//! pays, and the time the last pod of the Deployments was created, so a scale-out's
//! figure says how much of it the ReplicaSet controller's pod creation took.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::ListParams;

use crate::e2e::Env;

/// USD per hour of `nodes` (the managed ones: those with `karpenter.sh/nodepool`) at the
/// KWOK catalog's price of each one's offering; a Node whose type or offering the catalog
/// lacks adds nothing and is counted in the second element.
pub fn hourly_cost(nodes: &[Node]) -> (f64, usize) {
    let types = karpenter_catalog::kwok::instance_types();
    let mut total = 0.0;
    let mut unpriced = 0;
    for n in nodes {
        let Some(labels) = n.metadata.labels.as_ref() else {
            continue;
        };
        if !labels.contains_key("karpenter.sh/nodepool") {
            continue;
        }
        let label = |k: &str| labels.get(k).map(String::as_str);
        let price = types
            .iter()
            .find(|t| Some(t.name.as_str()) == label("node.kubernetes.io/instance-type"))
            .and_then(|t| {
                t.offerings.iter().find(|o| {
                    Some(o.capacity_type.as_str()) == label("karpenter.sh/capacity-type")
                        && Some(o.zone.as_str()) == label("topology.kubernetes.io/zone")
                })
            })
            .map(|o| o.price);
        match price {
            Some(p) => total += p,
            None => unpriced += 1,
        }
    }
    (total, unpriced)
}

/// Seconds from `started_wall` (ms since the epoch) to the creation of the newest pod in
/// the `perf` namespace (metadata only: a 20,000-pod list stays small).
pub fn last_pod_created(env: &Env, started_wall: i64) -> Option<f64> {
    let api: Api<Pod> = Api::namespaced(env.client.clone(), "perf");
    let pods = env
        .rt
        .block_on(api.list_metadata(&ListParams::default()))
        .ok()?;
    pods.items
        .iter()
        .filter_map(|p| p.metadata.creation_timestamp.as_ref())
        .map(|t| (t.0.as_millisecond() - started_wall) as f64 / 1000.0)
        .max_by(f64::total_cmp)
}
