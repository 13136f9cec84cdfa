//! NodeClaim lifecycle (upstream §3): launch through the cloud port, registration when a
//! Node with the claim's provider id appears (labels and taints synced, the unregistered
//! taint removed), initialization once the Node is ready with no startup taints left, and
//! liveness: a claim not launched within 5 minutes or not registered within 15 is deleted.

use karpenter_cloud::{CloudError, CloudProvider, LaunchRequest};
use karpenter_model::Taint;
use karpenter_model::time::{MINUTE, Time};
use karpenter_model::wellknown::{labels, taints};

use crate::events::Recorder;
use crate::state::{ClusterState, Launched};

/// Upstream's launch timeout.
pub const LAUNCH_TIMEOUT: Time = 5 * MINUTE;
/// Upstream's registration timeout.
pub const REGISTRATION_TIMEOUT: Time = 15 * MINUTE;

/// Launch every claim that is not launched yet. Capacity and NodeClass errors delete the
/// claim (its pods are planned again with the cloud's updated availability); other errors
/// are retried on the next pass.
pub fn launch<C: CloudProvider>(
    state: &mut ClusterState,
    cloud: &mut C,
    now: Time,
    recorder: &mut Recorder,
) {
    // one request a claim, launched together (a provider may launch them concurrently)
    let requests: Vec<LaunchRequest> = state
        .claims()
        .values()
        .filter(|c| c.launched.is_none() && c.deleting_since.is_none())
        .map(|c| LaunchRequest {
            claim: c.name.clone(),
            node_pool: c.node_pool.clone(),
            requirements: c.requirements.clone(),
            instance_types: c.instance_types.clone(),
        })
        .collect();
    let answers = cloud.create_all(&requests, now);
    for (request, answer) in requests.iter().zip(answers) {
        let name = request.claim.clone();
        let pool = request.node_pool.clone();
        match answer {
            Ok(i) => {
                recorder.count(
                    "karpenter_nodeclaims_launched_total",
                    &[("nodepool", &pool)],
                    1.0,
                );
                recorder.event(
                    now,
                    "Launched",
                    format!("NodeClaim/{name}"),
                    format!(
                        "{} {} {} ${:.4}/h",
                        i.instance_type, i.zone, i.capacity_type, i.price
                    ),
                );
                state.update_claim(&name, |c| {
                    for (k, v) in &i.labels {
                        c.labels.insert(k.clone(), v.clone());
                    }
                    c.launched = Some(Launched {
                        provider_id: i.provider_id.clone(),
                        instance_type: i.instance_type.clone(),
                        zone: i.zone.clone(),
                        capacity_type: i.capacity_type.clone(),
                        price: i.price,
                        image_id: i.image_id.clone(),
                        allocatable: i.allocatable.clone(),
                        capacity: i.capacity.clone(),
                        labels: i.labels.clone(),
                        at: now,
                    });
                });
            }
            Err(
                e @ (CloudError::InsufficientCapacity { .. }
                | CloudError::NodeClassNotReady { .. }
                | CloudError::Invalid { .. }),
            ) => {
                let reason = match e {
                    CloudError::NodeClassNotReady { .. } => "nodeclass_not_ready",
                    _ => "insufficient_capacity",
                };
                recorder.count(
                    "karpenter_nodeclaims_terminated_total",
                    &[("nodepool", &pool), ("reason", reason)],
                    1.0,
                );
                recorder.event(
                    now,
                    "InsufficientCapacityError",
                    format!("NodeClaim/{name}"),
                    e.to_string(),
                );
                state.remove_claim(&name);
            }
            Err(e) => {
                recorder.count(
                    "karpenter_cloudprovider_errors_total",
                    &[("method", "Create")],
                    1.0,
                );
                if now - c_created(state, &name) >= LAUNCH_TIMEOUT {
                    recorder.event(
                        now,
                        "LaunchTimeout",
                        format!("NodeClaim/{name}"),
                        e.to_string(),
                    );
                    state.remove_claim(&name);
                }
            }
        }
    }
}

fn c_created(state: &ClusterState, name: &str) -> Time {
    state.claims().get(name).map_or(0, |c| c.created)
}

/// Register launched claims whose Node appeared; initialize registered ones whose Node is
/// ready without startup taints; delete claims that never registered.
pub fn register_and_initialize(state: &mut ClusterState, now: Time, recorder: &mut Recorder) {
    let mut by_provider = std::collections::BTreeMap::new();
    for n in state.nodes().values() {
        by_provider.insert(n.provider_id.clone(), n.name.clone());
    }
    type Row = (String, Option<String>, Option<String>, bool, Time);
    let claims: Vec<Row> = state
        .claims()
        .values()
        .filter(|c| c.deleting_since.is_none())
        .map(|c| {
            (
                c.name.clone(),
                c.launched.as_ref().map(|l| l.provider_id.clone()),
                c.node.clone(),
                c.initialized_at.is_some(),
                c.launched.as_ref().map_or(c.created, |l| l.at),
            )
        })
        .collect();
    for (name, provider_id, node, initialized, launched_at) in claims {
        match (provider_id, node) {
            (Some(pid), None) => {
                if let Some(node_name) = by_provider.get(&pid).cloned() {
                    register(state, &name, &node_name, now, recorder);
                    // a Node that is ready already (no startup taints) is initialized in
                    // the same pass: one Node patch and one status patch instead of two
                    // each, and the round's capacity counts as up a pass sooner
                    initialize_if_ready(state, &name, &node_name, now, recorder);
                } else if now - launched_at >= REGISTRATION_TIMEOUT {
                    recorder.count(
                        "karpenter_nodeclaims_terminated_total",
                        &[("reason", "registration_timeout")],
                        1.0,
                    );
                    recorder.event(
                        now,
                        "RegistrationTimeout",
                        format!("NodeClaim/{name}"),
                        "no Node registered within 15m".into(),
                    );
                    state.update_claim(&name, |c| c.deleting_since = Some(now));
                }
            }
            (Some(_), Some(node_name)) if needs_sync(state, &name, &node_name) => {
                // a registration whose Node update was lost (a conflict, a restart): the
                // Node's labels and taints are synced again, as upstream re-reconciles
                sync_node(state, &name, &node_name);
            }
            (Some(_), Some(node_name)) if !initialized => {
                initialize_if_ready(state, &name, &node_name, now, recorder);
            }
            _ => {}
        }
    }
}

/// Initialize registered claim `name` if its Node is ready with none of the claim's
/// startup taints and none of the known ephemeral taints (not-ready, unreachable,
/// uninitialized) left, as upstream's initialization requires.
fn initialize_if_ready(
    state: &mut ClusterState,
    name: &str,
    node_name: &str,
    now: Time,
    recorder: &mut Recorder,
) {
    let ready = state.nodes().get(node_name).is_some_and(|n| {
        n.ready
            && !n.taints.iter().any(|t| {
                t.is_known_ephemeral()
                    || state
                        .claims()
                        .get(name)
                        .is_some_and(|c| c.startup_taints.contains(t))
            })
    });
    if !ready {
        return;
    }
    state.update_node(node_name, |n| {
        n.labels.insert(labels::INITIALIZED.into(), "true".into());
    });
    state.update_claim(name, |c| c.initialized_at = Some(now));
    recorder.event(
        now,
        "Initialized",
        format!("NodeClaim/{name}"),
        format!("Node {node_name} is ready"),
    );
}

/// Does the registered claim's Node still lack its registration (the registered label,
/// the unregistered taint removed)?
fn needs_sync(state: &ClusterState, claim: &str, node: &str) -> bool {
    let registered = state
        .claims()
        .get(claim)
        .is_some_and(|c| c.registered_at.is_some());
    registered
        && state.nodes().get(node).is_some_and(|n| {
            !n.labels.contains_key(labels::REGISTERED)
                || n.taints.iter().any(|t| t.key == taints::UNREGISTERED_KEY)
        })
}

/// Give the Node its claim's labels and taints, and lift the unregistered taint.
fn sync_node(state: &mut ClusterState, claim: &str, node: &str) {
    let Some(c) = state.claims().get(claim) else {
        return;
    };
    let mut synced_labels = c.labels.clone();
    synced_labels.insert(labels::REGISTERED.into(), "true".into());
    synced_labels.insert(labels::NODEPOOL.into(), c.node_pool.clone());
    let mut want: Vec<Taint> = c.taints.clone();
    want.extend(c.startup_taints.iter().cloned());
    state.update_node(node, |n| {
        for (k, v) in synced_labels {
            n.labels.entry(k).or_insert(v);
        }
        n.taints.retain(|t| t.key != taints::UNREGISTERED_KEY);
        for t in want {
            if !n.taints.contains(&t) {
                n.taints.push(t);
            }
        }
    });
}

fn register(state: &mut ClusterState, claim: &str, node: &str, now: Time, recorder: &mut Recorder) {
    if !state.claims().contains_key(claim) {
        return;
    }
    sync_node(state, claim, node);
    state.update_claim(claim, |c| {
        c.node = Some(node.to_string());
        c.registered_at = Some(now);
    });
    recorder.count("karpenter_nodes_created_total", &[], 1.0);
    recorder.event(
        now,
        "Registered",
        format!("NodeClaim/{claim}"),
        format!("Node {node}"),
    );
}
