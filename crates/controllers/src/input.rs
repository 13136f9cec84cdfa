//! The scheduling engine's input from the cluster state: existing nodes and in-flight
//! NodeClaims with what their pods leave (uninitialized ones without their startup taints,
//! as upstream), pods bound to them for topology, NodePools with their remaining limits,
//! and the pods to place.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_model::wellknown::{labels, taints};
use karpenter_model::{InstanceType, Quantity, Resources};
use karpenter_scheduling::{BoundPod, DaemonSet, ExistingNode, Input, Options, PendingPod, Pool};

use crate::state::{ClaimState, ClusterState, PodState};

/// What stays the same between solves: NodePools (limits as configured), DaemonSets,
/// settings.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// NodePools, limits as configured (usage is subtracted per solve).
    pub pools: Vec<Pool>,
    /// DaemonSets.
    pub daemonsets: Vec<DaemonSet>,
    /// Startup taints per NodePool.
    pub startup_taints: BTreeMap<String, Vec<karpenter_model::Taint>>,
    /// Engine settings.
    pub options: Options,
    /// Disruption settings per NodePool.
    pub disruption: Vec<karpenter_disruption::PoolPolicy>,
    /// The `SpotToSpotConsolidation` feature gate.
    pub spot_to_spot: bool,
}

/// Is the node (or its claim) being removed?
pub fn node_removing(state: &ClusterState, node: &str) -> bool {
    let tainted = state.nodes().get(node).is_some_and(|n| {
        n.deleting
            || n.taints.iter().any(|t| {
                t.key == taints::DISRUPTED_KEY && t.effect.as_str() == taints::DISRUPTED_EFFECT
            })
    });
    tainted
        || state
            .claim_of_node(node)
            .is_some_and(|c| c.deleting_since.is_some() || c.disruption.is_some())
}

/// Can the pod be evicted at all: no `karpenter.sh/do-not-disrupt`, at most one
/// PodDisruptionBudget, and none that blocks every eviction (upstream re-plans a deleting
/// node's pods only then; a budget merely exhausted now opens once replacements run).
pub fn evictable(state: &ClusterState, p: &PodState) -> bool {
    if p.do_not_disrupt {
        return false;
    }
    karpenter_disruption::pdb::Pdb::allow_eviction(state.pdbs_of(p))
}

/// Existing capacity and the pods bound to it. `skip` names nodes (or in-flight claims) to
/// leave out, as a consolidation simulation removes its candidates. Reschedulable pods of
/// nodes being removed are returned as the third element, to be placed again.
pub fn existing<'s>(
    state: &'s ClusterState,
    skip: &BTreeSet<String>,
) -> (Vec<ExistingNode>, Vec<BoundPod>, Vec<&'s PodState>) {
    let mut nodes = Vec::new();
    let mut bound = Vec::new();
    let mut displaced = Vec::new();
    for n in state.nodes().values() {
        let claim = state.claim_of_node(&n.name);
        let removing = node_removing(state, &n.name);
        let leaving = skip.contains(&n.name);
        let initialized = claim.map_or(n.ready, |c| c.initialized_at.is_some());
        let startup: &[karpenter_model::Taint] = claim.map_or(&[], |c| &c.startup_taints);
        // a joining node is planned as it will be: without its startup and known
        // ephemeral taints (upstream's StateNode.Taints)
        let node_taints = n
            .taints
            .iter()
            .filter(|t| {
                initialized || !(t.is_known_ephemeral() || startup.iter().any(|s| s.matches(t)))
            })
            .filter(|t| t.key != taints::UNREGISTERED_KEY)
            .cloned()
            .collect();
        let mut available = n.allocatable.clone();
        let index = nodes.len();
        for p in state.pods_on(&n.name) {
            if removing || leaving {
                // a simulation's candidate moves every pod; a node being removed only those
                // that can leave (the others keep their place until the drain's deadline)
                if leaving || evictable(state, p) {
                    displaced.push(p);
                }
                continue;
            }
            for (k, q) in &p.spec.requests {
                let e = available.entry(k.clone()).or_default();
                *e = e.saturating_sub(*q);
            }
            bound.push(BoundPod {
                namespace: p.spec.namespace.clone(),
                labels: p.spec.labels.clone(),
                node: index,
                anti_affinity: p.spec.anti_affinity.clone(),
            });
        }
        if leaving {
            continue;
        }
        nodes.push(ExistingNode {
            name: n.name.clone(),
            labels: n.labels.clone(),
            taints: node_taints,
            available,
            initialized,
            unschedulable: removing || (!n.ready && claim.is_none()),
            in_flight: false,
            ..Default::default()
        });
    }
    for c in state.claims().values() {
        if c.node.is_some() || skip.contains(&c.name) {
            continue;
        }
        let Some(l) = &c.launched else { continue };
        let mut node_labels = c.labels.clone();
        node_labels.extend(l.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        node_labels.insert(labels::HOSTNAME.into(), c.name.clone());
        nodes.push(ExistingNode {
            name: c.name.clone(),
            labels: node_labels,
            taints: c.taints.clone(),
            available: l.allocatable.clone(),
            initialized: false,
            unschedulable: c.deleting_since.is_some() || c.disruption.is_some(),
            in_flight: true,
            ..Default::default()
        });
    }
    (nodes, bound, displaced)
}

/// NodePools with limits less what their NodeClaims hold.
pub fn pools(setup: &Setup, state: &ClusterState) -> Vec<Pool> {
    let mut usage: BTreeMap<&str, Resources> = BTreeMap::new();
    for c in state.claims().values() {
        let u = usage.entry(c.node_pool.as_str()).or_default();
        if let Some(l) = &c.launched {
            karpenter_model::catalog::add_resources(u, &l.capacity);
        }
        let nodes = u.entry("nodes".into()).or_default();
        *nodes = nodes.saturating_add(Quantity::from_units(1));
    }
    setup
        .pools
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if let (Some(limits), Some(used)) = (p.limits.as_mut(), usage.get(p.name.as_str())) {
                for (k, left) in limits.iter_mut() {
                    *left = left.saturating_sub(used.get(k).copied().unwrap_or_default());
                }
            }
            p
        })
        .collect()
}

/// NodeClaims created but not launched yet (a launch the cloud refused for a moment is
/// retried on the next pass), as in-flight nodes with the least allocatable of their
/// instance types: the next round places their pods on them again instead of planning each
/// pod a second NodeClaim. A claim none of whose types is in the catalog offers nothing.
pub fn unlaunched(
    state: &ClusterState,
    types: &[InstanceType],
    skip: &BTreeSet<String>,
) -> Vec<ExistingNode> {
    let mut nodes = Vec::new();
    for c in state.claims().values() {
        if c.launched.is_some() || c.deleting_since.is_some() || skip.contains(&c.name) {
            continue;
        }
        let mut shapes = c
            .instance_types
            .iter()
            .filter_map(|name| types.iter().find(|t| &t.name == name))
            .map(InstanceType::allocatable);
        let Some(mut available) = shapes.next() else {
            continue;
        };
        for other in shapes {
            for (k, q) in &mut available {
                *q = (*q).min(other.get(k).copied().unwrap_or_default());
            }
        }
        let mut node_labels = c.labels.clone();
        node_labels.insert(labels::HOSTNAME.into(), c.name.clone());
        nodes.push(ExistingNode {
            name: c.name.clone(),
            labels: node_labels,
            taints: c.taints.clone(),
            available,
            initialized: false,
            unschedulable: c.disruption.is_some(),
            in_flight: true,
            ..Default::default()
        });
    }
    nodes
}

/// The full input for placing `pods` (plus pods displaced from nodes being removed).
pub fn build(
    setup: &Setup,
    state: &ClusterState,
    types: std::sync::Arc<Vec<InstanceType>>,
    pods: &[&PodState],
    skip: &BTreeSet<String>,
    with_pools: bool,
) -> Input {
    let (mut existing, bound, displaced) = existing(state, skip);
    existing.extend(unlaunched(state, &types, skip));
    let mut seen = BTreeSet::new();
    let mut all: Vec<PendingPod> = Vec::with_capacity(pods.len() + displaced.len());
    for p in pods.iter().copied().chain(displaced) {
        if seen.insert(p.id.as_str()) {
            let mut spec = (*p.spec).clone();
            spec.id.clone_from(&p.id);
            all.push(spec);
        }
    }
    Input {
        pods: all,
        pools: if with_pools {
            pools(setup, state)
        } else {
            Vec::new()
        },
        instance_types: types,
        existing,
        bound,
        daemonsets: setup.daemonsets.clone(),
        options: setup.options,
    }
}

/// The claim's launched price, if launched.
pub fn price(c: &ClaimState) -> f64 {
    c.launched.as_ref().map_or(0.0, |l| l.price)
}
