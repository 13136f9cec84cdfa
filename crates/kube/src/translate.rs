//! From the watch caches to what the controllers read: the snapshot `Cluster` the planner
//! uses (so `plan` and the controller cannot drift apart), and the `ClusterState` of pods,
//! Nodes and NodeClaims the simulator also keeps. Objects the translation cannot read are
//! logged with the field and left out; they never stop the loop.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::VolumeAttachment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as K8sTime;
use karpenter_api::snapshot::{self, Cluster};
use karpenter_api::{EC2NodeClass, NodeClaim, NodePool, ResourceList};
use karpenter_controllers::{ClaimState, ClusterState, Launched, NodeState, PodState, PodTable};
use karpenter_model::time::Time;
use karpenter_model::wellknown::{annotations, conditions, labels};
use karpenter_model::{InstanceType, Op, Quantity, Requirement, Requirements, Resources, Taint};

use crate::cache::Stores;
use crate::log;

/// The scheduler a pod without `spec.schedulerName` gets: only its pods are planned before
/// it marked them (another scheduler may never try them).
const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// The objects of one pass, taken from the caches under the lock and read without it.
#[derive(Debug, Default, Clone)]
pub struct Objects {
    /// Pods.
    pub pods: Vec<Arc<Pod>>,
    /// Nodes.
    pub nodes: Vec<Arc<Node>>,
    /// NodeClaims.
    pub nodeclaims: Vec<Arc<NodeClaim>>,
    /// NodePools.
    pub nodepools: Vec<Arc<NodePool>>,
    /// EC2NodeClasses.
    pub nodeclasses: Vec<Arc<EC2NodeClass>>,
    /// Upstream's KWOKNodeClasses.
    pub kwok_nodeclasses: Vec<Arc<crate::kwoknodeclass::KwokNodeClass>>,
    /// DaemonSets.
    pub daemonsets: Vec<Arc<DaemonSet>>,
    /// PodDisruptionBudgets.
    pub pdbs: Vec<Arc<PodDisruptionBudget>>,
    /// VolumeAttachments.
    pub attachments: Vec<Arc<VolumeAttachment>>,
    /// The caches' version.
    pub version: u64,
}

impl Objects {
    /// Take the current objects.
    pub fn take(stores: &Stores) -> Objects {
        fn all<K: kube::Resource>(s: &crate::cache::Store<K>) -> Vec<Arc<K>> {
            s.items().values().cloned().collect()
        }
        Objects {
            pods: all(&stores.pods),
            nodes: all(&stores.nodes),
            nodeclaims: all(&stores.nodeclaims),
            nodepools: all(&stores.nodepools),
            nodeclasses: all(&stores.nodeclasses),
            kwok_nodeclasses: all(&stores.kwok_nodeclasses),
            daemonsets: all(&stores.daemonsets),
            pdbs: all(&stores.pdbs),
            attachments: all(&stores.attachments),
            version: stores.version,
        }
    }

    /// The planner's view of these objects.
    pub fn cluster(&self) -> Cluster<'_> {
        let mut c = Cluster {
            nodepools: self.nodepools.iter().map(AsRef::as_ref).collect(),
            nodeclaims: self.nodeclaims.iter().map(AsRef::as_ref).collect(),
            nodes: self.nodes.iter().map(AsRef::as_ref).collect(),
            pods: self.pods.iter().map(AsRef::as_ref).collect(),
            daemonsets: self.daemonsets.iter().map(AsRef::as_ref).collect(),
            pdbs: self.pdbs.iter().map(AsRef::as_ref).collect(),
            nodeclasses: self.nodeclasses.iter().map(AsRef::as_ref).collect(),
            ..Cluster::default()
        };
        for p in &self.pods {
            let ns = p.metadata.namespace.as_deref().unwrap_or("default");
            // most pods share a few namespaces: no key allocated for one already there
            if !c.namespaces.contains_key(ns) {
                c.namespaces.insert(ns.to_string(), Default::default());
            }
        }
        c
    }
}

/// Milliseconds since the epoch.
pub fn ms(t: &K8sTime) -> Time {
    t.0.as_millisecond()
}

/// A Kubernetes time from milliseconds since the epoch.
pub fn k8s_time(t: Time) -> K8sTime {
    K8sTime(jiff::Timestamp::from_millisecond(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
}

/// Parse a resource list, logging and skipping values that are not quantities.
pub fn resources(object: &str, list: Option<&ResourceList>) -> Resources {
    let mut out = Resources::new();
    for (k, q) in list.into_iter().flatten() {
        match Quantity::parse(&q.0) {
            Ok(v) => {
                out.insert(k.clone(), v);
            }
            Err(e) => log::warn(object, &format!("resource {k}: {e}")),
        }
    }
    out
}

/// Translates objects to cluster state, keeping each pod's translation between passes
/// while the cache holds the same object for it (at 20,000 pods, translating every pod
/// again was over half of the controller's CPU in a scale-out).
#[derive(Debug, Default)]
pub struct Translator {
    /// By the address of the cached object, which the entry holds (so the address cannot be
    /// reused by another object while it is here): the watch cache replaces an object's
    /// `Arc` on every event and keeps it otherwise.
    pods: HashMap<usize, Cached>,
    /// The translated pods, changed only where the caches changed and shared with each
    /// pass's state (copy-on-write).
    table: PodTable,
    /// Moves every pass; an entry not seen in the latest pass is dropped.
    pass: u64,
}

/// A cached pod object already translated into the table.
#[derive(Debug)]
struct Cached {
    /// Held, never read: while it is here its address names no other object.
    _object: Arc<Pod>,
    /// Its id in the table; `None`: left out (terminal, or not readable, logged once).
    id: Option<String>,
    pass: u64,
}

impl Translator {
    /// The cluster state of `objects`. `catalog` prices launched NodeClaims.
    pub fn state(
        &mut self,
        objects: &Objects,
        cluster: &Cluster<'_>,
        catalog: &[InstanceType],
        pdbs: Vec<karpenter_controllers::Pdb>,
    ) -> ClusterState {
        let mut state = ClusterState::default();
        state.pdbs = pdbs;
        let mut volumes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in &objects.attachments {
            if a.status.as_ref().is_some_and(|s| s.attached) {
                volumes
                    .entry(a.spec.node_name.clone())
                    .or_default()
                    .push(a.metadata.name.clone().unwrap_or_default());
            }
        }
        for n in &objects.nodes {
            let name = n.metadata.name.clone().unwrap_or_default();
            let attached = volumes.remove(&name).unwrap_or_default();
            state.put_node(node_state(n, attached));
        }
        for c in &objects.nodeclaims {
            if let Some(claim) = claim_state(c, catalog) {
                state.put_claim(claim);
            }
        }
        self.pass += 1;
        let pass = self.pass;
        let mut fresh = Vec::new();
        for p in &objects.pods {
            let key = Arc::as_ptr(p) as usize;
            if let Some(c) = self.pods.get_mut(&key) {
                c.pass = pass;
                continue;
            }
            let translated = if terminal(p) {
                None
            } else {
                pod_state(cluster, p)
            };
            self.pods.insert(
                key,
                Cached {
                    _object: Arc::clone(p),
                    id: translated.as_ref().map(|t| t.id.clone()),
                    pass,
                },
            );
            fresh.extend(translated);
        }
        // what the caches dropped or replaced leaves the table first, then what replaced
        // it (the same pod id) goes in
        let table = &mut self.table;
        self.pods.retain(|_, c| {
            if c.pass != pass
                && let Some(gone) = &c.id
            {
                table.remove(gone);
            }
            c.pass == pass
        });
        for pod in fresh {
            self.table.put(pod);
        }
        state.set_pod_table(self.table.clone());
        state.set_generation(objects.version);
        state
    }
}

/// A pod as the controllers see it; `None` (logged) when it cannot be read.
fn pod_state(cluster: &Cluster<'_>, p: &Pod) -> Option<PodState> {
    let id = snapshot::pod_id(p);
    let spec = match snapshot::pending_pod(cluster, p) {
        Ok(spec) => Arc::new(spec),
        Err(e) => {
            log::warn(&format!("Pod/{id}"), &e.to_string());
            return None;
        }
    };
    let status = p.status.as_ref();
    let scheduled = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    let unschedulable = scheduled
        .is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
        && spec.ignored.is_none();
    let pod_spec = p.spec.as_ref();
    let node = pod_spec
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    let terminating = p.metadata.deletion_timestamp.is_some();
    let nominated = status
        .and_then(|s| s.nominated_node_name.clone())
        .filter(|n| !n.is_empty());
    let untried = node.is_none()
        && scheduled.is_none()
        && spec.ignored.is_none()
        && !terminating
        && pod_spec
            .and_then(|s| s.scheduler_name.as_deref())
            .is_none_or(|n| n == DEFAULT_SCHEDULER)
        && pod_spec
            .and_then(|s| s.scheduling_gates.as_ref())
            .is_none_or(Vec::is_empty)
        && nominated.is_none();
    let annotations_map = p.metadata.annotations.clone().unwrap_or_default();
    let class = pod_spec
        .and_then(|s| s.priority_class_name.as_deref())
        .unwrap_or("");
    let owner = p
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| {
            let ns = p.metadata.namespace.as_deref().unwrap_or("default");
            format!("{}/{ns}/{}", o.kind, o.name)
        });
    Some(PodState {
        id,
        spec,
        owner,
        created: p.metadata.creation_timestamp.as_ref().map_or(0, ms),
        bound_at: node.as_ref().map(|_| {
            scheduled
                .and_then(|c| c.last_transition_time.as_ref())
                .map_or(0, ms)
        }),
        node,
        unschedulable,
        untried,
        nominated,
        priority: pod_spec.and_then(|s| s.priority).unwrap_or(0),
        deletion_cost: annotations_map
            .get(annotations::POD_DELETION_COST)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        do_not_disrupt: annotations_map
            .get(annotations::DO_NOT_DISRUPT)
            .is_some_and(|v| v == "true"),
        critical: class == "system-cluster-critical" || class == "system-node-critical",
        terminating,
        revision: revision(p.metadata.resource_version.as_deref().unwrap_or("")),
    })
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// A Node as the controllers see it.
pub fn node_state(n: &Node, attached_volumes: Vec<String>) -> NodeState {
    let name = n.metadata.name.clone().unwrap_or_default();
    let object = format!("Node/{name}");
    let spec = n.spec.as_ref();
    let status = n.status.as_ref();
    NodeState {
        provider_id: spec.and_then(|s| s.provider_id.clone()).unwrap_or_default(),
        labels: n.metadata.labels.clone().unwrap_or_default(),
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter_map(karpenter_api::convert::node_taint)
            .collect(),
        allocatable: resources(&object, status.and_then(|s| s.allocatable.as_ref())),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        created: n.metadata.creation_timestamp.as_ref().map_or(0, ms),
        deleting: n.metadata.deletion_timestamp.is_some(),
        attached_volumes,
        name,
    }
}

/// A NodeClaim as the controllers see it; `None` (logged) when it names no NodePool.
pub fn claim_state(c: &NodeClaim, catalog: &[InstanceType]) -> Option<ClaimState> {
    let name = c.metadata.name.clone().unwrap_or_default();
    let object = format!("NodeClaim/{name}");
    let claim_labels = c.metadata.labels.clone().unwrap_or_default();
    let Some(pool) = claim_labels.get(labels::NODEPOOL).cloned() else {
        log::debug(&object, "no karpenter.sh/nodepool label: not Karpenter's");
        return None;
    };
    let mut requirements = Requirements::new();
    let mut instance_types = Vec::new();
    for r in &c.spec.requirements {
        let op = Op::from(r.operator);
        requirements.add(&Requirement::new(&r.key, op, r.values.clone()));
        if let Some(n) = r.min_values {
            requirements.add_min_values(&r.key, u32::try_from(n).unwrap_or(0));
        }
        if r.key == labels::INSTANCE_TYPE && op == Op::In {
            instance_types.clone_from(&r.values);
        }
    }
    let taints: Vec<Taint> = c
        .spec
        .taints
        .iter()
        .flatten()
        .map(karpenter_api::convert::taint)
        .collect();
    let startup_taints: Vec<Taint> = c
        .spec
        .startup_taints
        .iter()
        .flatten()
        .map(karpenter_api::convert::taint)
        .collect();
    let status = c.status.clone().unwrap_or_default();
    let created = c.metadata.creation_timestamp.as_ref().map_or(0, ms);
    let true_since = |type_: &str| {
        c.condition(type_)
            .filter(|x| x.is_true())
            .map(|x| x.last_transition_time.as_ref().map_or(created, ms))
    };
    let launched = status
        .provider_id
        .clone()
        .filter(|p| !p.is_empty())
        .map(|provider_id| {
            let get = |k: &str| claim_labels.get(k).cloned().unwrap_or_default();
            let (instance_type, zone, capacity_type) = (
                get(labels::INSTANCE_TYPE),
                get(labels::ZONE),
                get(labels::CAPACITY_TYPE),
            );
            let price = catalog
                .iter()
                .find(|t| t.name == instance_type)
                .and_then(|t| {
                    t.offerings
                        .iter()
                        .find(|o| o.zone == zone && o.capacity_type == capacity_type)
                })
                .map_or(0.0, |o| o.price);
            Launched {
                provider_id,
                instance_type,
                zone,
                capacity_type,
                price,
                image_id: status.image_id.clone().unwrap_or_default(),
                allocatable: resources(&object, status.allocatable.as_ref()),
                capacity: resources(&object, status.capacity.as_ref()),
                labels: claim_labels.clone(),
                at: true_since(conditions::LAUNCHED).unwrap_or(created),
            }
        });
    let initialized_at = true_since(conditions::INITIALIZED);
    let tgp = c
        .spec
        .termination_grace_period
        .as_deref()
        .and_then(|d| karpenter_model::Duration::parse(d).ok())
        .map(|d| d.as_nanos() / 1_000_000);
    let disruption = c
        .condition(conditions::DISRUPTION_REASON)
        .filter(|x| x.is_true())
        .map(|x| x.reason.clone());
    Some(ClaimState {
        node_pool: pool,
        requirements,
        instance_types,
        labels: claim_labels,
        taints,
        startup_taints,
        created,
        registered_at: true_since(conditions::REGISTERED),
        node: status.node_name.clone().filter(|n| !n.is_empty()),
        deleting_since: c.metadata.deletion_timestamp.as_ref().map(ms),
        disruption,
        last_pod_event: status
            .last_pod_event_time
            .as_ref()
            .map(ms)
            .or(initialized_at)
            .unwrap_or(created),
        termination_grace_period: tgp,
        initialized_at,
        launched,
        name,
    })
}

/// A stable fingerprint of an opaque `resourceVersion` (FNV-1a), so a changed object shows
/// as changed without reading meaning into the string.
fn revision(resource_version: &str) -> u64 {
    resource_version
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pending pod with `spec` and `status` merged into a minimal one.
    fn pod(name: &str, spec: serde_json::Value, status: serde_json::Value) -> Arc<Pod> {
        let mut v = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "1"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
            "status": {"phase": "Pending"}
        });
        if let (Some(to), Some(from)) = (v["spec"].as_object_mut(), spec.as_object()) {
            to.extend(from.clone());
        }
        if let (Some(to), Some(from)) = (v["status"].as_object_mut(), status.as_object()) {
            to.extend(from.clone());
        }
        match serde_json::from_value(v) {
            Ok(p) => Arc::new(p),
            Err(e) => panic!("pod {name}: {e}"),
        }
    }

    #[test]
    fn a_pass_follows_pods_replaced_added_and_removed_since_the_last() {
        let none = serde_json::json!({});
        let (a, b) = (
            pod("a", none.clone(), none.clone()),
            pod("b", none.clone(), none.clone()),
        );
        let mut t = Translator::default();
        let first = Objects {
            pods: vec![Arc::clone(&a), Arc::clone(&b)],
            ..Objects::default()
        };
        let s = t.state(&first, &first.cluster(), &[], Vec::new());
        assert!(s.pods().values().all(|p| p.node.is_none()));
        // the watch replaced b (now bound), removed a and added c (terminal: left out)
        let second = Objects {
            pods: vec![
                pod("b", serde_json::json!({"nodeName": "n1"}), none.clone()),
                pod("c", none, serde_json::json!({"phase": "Succeeded"})),
            ],
            ..Objects::default()
        };
        let s = t.state(&second, &second.cluster(), &[], Vec::new());
        let seen: Vec<(&str, Option<&str>)> = s
            .pods()
            .values()
            .map(|p| (p.id.as_str(), p.node.as_deref()))
            .collect();
        assert_eq!(seen, vec![("default/b", Some("n1"))]);
        assert_eq!(s.pod_count("n1"), 1);
        assert_eq!(t.pods.len(), 2, "a's entry is dropped, b's and c's kept");
        // the same objects again: the same state from the kept translations
        let again = t.state(&second, &second.cluster(), &[], Vec::new());
        assert_eq!(again.pods(), s.pods());
    }

    #[test]
    fn only_pods_the_default_scheduler_has_yet_to_try_are_untried() {
        let none = serde_json::json!({});
        let marked = serde_json::json!({"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]});
        let objects = Objects {
            pods: vec![
                pod("fresh", none.clone(), none.clone()),
                pod("marked", none.clone(), marked),
                pod(
                    "other-scheduler",
                    serde_json::json!({"schedulerName": "batch"}),
                    none.clone(),
                ),
                pod(
                    "gated",
                    serde_json::json!({"schedulingGates": [{"name": "wait"}]}),
                    none.clone(),
                ),
                pod(
                    "preempting",
                    none.clone(),
                    serde_json::json!({"nominatedNodeName": "n1"}),
                ),
                pod("bound", serde_json::json!({"nodeName": "n1"}), none.clone()),
                pod(
                    "named-default",
                    serde_json::json!({"schedulerName": "default-scheduler"}),
                    none,
                ),
            ],
            ..Objects::default()
        };
        let state = Translator::default().state(&objects, &objects.cluster(), &[], Vec::new());
        let flags: Vec<(&str, bool, bool, Option<&str>)> = state
            .pods()
            .values()
            .map(|p| {
                (
                    p.id.as_str(),
                    p.untried,
                    p.unschedulable,
                    p.nominated.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            flags,
            vec![
                ("default/bound", false, false, None),
                ("default/fresh", true, false, None),
                ("default/gated", false, false, None),
                ("default/marked", false, true, None),
                ("default/named-default", true, false, None),
                ("default/other-scheduler", false, false, None),
                ("default/preempting", false, false, Some("n1")),
            ]
        );
    }
}
