//! The cluster port against a real API server: each [`Write`] the controllers recorded
//! becomes requests under one field manager. NodeClaims are created with their NodePool as
//! owner and upstream's finalizer; status goes through the status subresource; finalizers
//! are released with the object's resourceVersion as a precondition (a conflict is retried
//! on fresh data); pods leave through the Eviction API with a UID precondition, where a 429
//! means a PodDisruptionBudget said no. Every failure is logged with its object and left to
//! the next pass, which decides again from what the watches show.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use karpenter_api::common::{Condition, NodeSelectorRequirementWithMinValues, Operator};
use karpenter_api::nodeclaim::{NodeClaimSpec, ResourceRequirements};
use karpenter_api::{NodeClaim, NodePool};
use karpenter_controllers::{ClaimState, NodeState, Write};
use karpenter_model::algebra::ValueSet;
use karpenter_model::time::Time;
use karpenter_model::wellknown::{annotations, conditions, finalizers, labels};
use karpenter_model::{Requirements, Resources, Taint};
use kube::api::Preconditions;
use kube::api::{DeleteParams, EvictParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde_json::{Value, json};

use crate::cache::Cache;
use crate::log;
use crate::translate::{Objects, k8s_time};

/// The one field manager of every write.
pub const FIELD_MANAGER: &str = "karpenter";

/// Instance types a NodeClaim's requirement lists at most (upstream's `MaxInstanceTypes`).
const MAX_INSTANCE_TYPES: usize = 60;

/// Sends writes.
#[derive(Clone)]
pub struct Writer {
    client: Client,
    cache: Cache,
}

/// What one batch of writes did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Requests that succeeded.
    pub done: u64,
    /// Requests that failed (logged).
    pub failed: u64,
    /// Evictions a PodDisruptionBudget refused.
    pub refused: u64,
}

/// Lanes of writes in flight at once (each lane is one object's writes, in order).
pub const LANES: usize = 64;

/// How long one write may take before the pass gives up on it (the next pass retries).
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Writer {
    /// A writer on `client` that puts what the API server returns into `cache` at once
    /// (write-through), so the next pass does not act on a read older than its own writes.
    pub fn new(client: Client, cache: Cache) -> Self {
        Writer { client, cache }
    }

    /// Send `writes`. `objects` is what the pass read (owners, UIDs, finalizers).
    ///
    /// Writes about one object form a lane and go in the journal's order; a lane stops at
    /// its first failure (what follows depended on it, and the next pass decides again).
    /// Lanes are independent of each other and run concurrently, at most [`LANES`] at once;
    /// the client's rate limiter (`KUBE_CLIENT_QPS`, `KUBE_CLIENT_BURST`) paces them.
    pub async fn apply(&self, writes: Vec<Write>, objects: &Objects, now: Time) -> Outcome {
        use futures::StreamExt;
        let lanes = lanes(writes);
        let outcomes: Vec<Outcome> = futures::stream::iter(lanes)
            .map(|lane| self.lane(lane, objects, now))
            .buffer_unordered(LANES)
            .collect()
            .await;
        outcomes
            .into_iter()
            .fold(Outcome::default(), |a, b| Outcome {
                done: a.done + b.done,
                failed: a.failed + b.failed,
                refused: a.refused + b.refused,
            })
    }

    async fn lane(&self, lane: Vec<Write>, objects: &Objects, now: Time) -> Outcome {
        let mut out = Outcome::default();
        let total = lane.len() as u64;
        for (i, w) in lane.into_iter().enumerate() {
            let (object, result) =
                match tokio::time::timeout(WRITE_TIMEOUT, self.one(&w, objects, now, &mut out))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => (w.subject(), Err(format!("no answer in {WRITE_TIMEOUT:?}"))),
                };
            match result {
                Ok(()) => out.done += 1,
                Err(e) => {
                    let skipped = total - i as u64 - 1;
                    out.failed += 1 + skipped;
                    if skipped > 0 {
                        log::warn(
                            &object,
                            &format!("{e} ({skipped} later write(s) of it left to the next pass)"),
                        );
                    } else {
                        log::warn(&object, &e);
                    }
                    break;
                }
            }
        }
        out
    }

    async fn one(
        &self,
        w: &Write,
        objects: &Objects,
        now: Time,
        out: &mut Outcome,
    ) -> (String, Result<(), String>) {
        match w {
            Write::CreateClaim(c) => (
                format!("NodeClaim/{}", c.name),
                self.create_claim(c, objects).await,
            ),
            Write::UpdateClaim { before, after } => (
                format!("NodeClaim/{}", after.name),
                self.update_claim(before, after, objects, now).await,
            ),
            Write::RemoveClaim(c) => (
                format!("NodeClaim/{}", c.name),
                self.remove::<NodeClaim>(Api::all(self.client.clone()), &c.name)
                    .await,
            ),
            Write::UpdateNode { before, after } => (
                format!("Node/{}", after.name),
                self.update_node(before, after, objects).await,
            ),
            Write::RemoveNode(n) => (
                format!("Node/{}", n.name),
                self.remove::<Node>(Api::all(self.client.clone()), &n.name)
                    .await,
            ),
            Write::Evict { pod } => {
                let r = self.evict(pod, objects).await;
                if matches!(&r, Err(e) if e.contains("429")) {
                    out.refused += 1;
                    log::debug(
                        &format!("Pod/{pod}"),
                        "eviction refused by a PodDisruptionBudget",
                    );
                    return (format!("Pod/{pod}"), Ok(()));
                }
                (format!("Pod/{pod}"), r)
            }
            Write::DeletePod { pod } => {
                let (ns, name) = split(pod);
                let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
                let r = api
                    .delete(name, &DeleteParams::default())
                    .await
                    .map(|_| ())
                    .or_else(not_found_ok);
                (format!("Pod/{pod}"), r)
            }
        }
    }

    async fn create_claim(&self, c: &ClaimState, objects: &Objects) -> Result<(), String> {
        let Some(pool) = objects
            .nodepools
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(c.node_pool.as_str()))
        else {
            return Err(format!("NodePool {} is gone", c.node_pool));
        };
        let mut claim = new_claim(c, pool);
        // the EC2NodeClass's hash, so a later change of the class is drift
        let class_ref = &pool.spec.template.spec.node_class_ref;
        if class_ref.kind == "EC2NodeClass"
            && let Some(class) = objects
                .nodeclasses
                .iter()
                .find(|k| k.metadata.name.as_deref() == Some(class_ref.name.as_str()))
        {
            let from = class.metadata.annotations.clone().unwrap_or_default();
            let to = claim
                .metadata
                .annotations
                .get_or_insert_with(Default::default);
            for key in [
                annotations::EC2NODECLASS_HASH,
                annotations::EC2NODECLASS_HASH_VERSION,
            ] {
                if let Some(v) = from.get(key) {
                    to.insert(key.into(), v.clone());
                }
            }
        }
        let api: Api<NodeClaim> = Api::all(self.client.clone());
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        let created = api.create(&pp, &claim).await.map_err(text)?;
        self.cache.lock().nodeclaims.put(created);
        Ok(())
    }

    async fn update_claim(
        &self,
        before: &ClaimState,
        after: &ClaimState,
        objects: &Objects,
        now: Time,
    ) -> Result<(), String> {
        let api: Api<NodeClaim> = Api::all(self.client.clone());
        let current = objects
            .nodeclaims
            .iter()
            .find(|o| o.metadata.name.as_deref() == Some(after.name.as_str()));
        if after.labels != before.labels {
            let patch = json!({"metadata": {"labels": label_diff(&before.labels, &after.labels)}});
            let o = api
                .patch(&after.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(text)?;
            self.cache.lock().nodeclaims.put(o);
        }
        let status = claim_status(before, after, current.map(AsRef::as_ref), now);
        if status != json!({}) {
            let patch = json!({"status": status});
            let o = api
                .patch_status(&after.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(text)?;
            self.cache.lock().nodeclaims.put(o);
        }
        if after.deleting_since.is_some() && before.deleting_since.is_none() {
            match api.delete(&after.name, &DeleteParams::background()).await {
                Ok(either::Either::Left(o)) => self.cache.lock().nodeclaims.put(o),
                Ok(either::Either::Right(_)) => {}
                Err(e) => not_found_ok(e)?,
            }
        }
        Ok(())
    }

    async fn update_node(
        &self,
        before: &NodeState,
        after: &NodeState,
        objects: &Objects,
    ) -> Result<(), String> {
        let api: Api<Node> = Api::all(self.client.clone());
        let registering = after.labels.contains_key(labels::REGISTERED)
            && !before.labels.contains_key(labels::REGISTERED);
        let cached = objects
            .nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(after.name.as_str()));
        let mut fresh: Option<Node> = None;
        // A change of the taints or a registration carries the Node's resourceVersion (it
        // replaces the taint list, extends the finalizer and owner lists); KWOK or the kubelet
        // updating the Node's status meanwhile, or the node lifecycle controller lifting
        // `not-ready`, is a conflict retried at once on a fresh read (the lists recomputed
        // from it), not a pass later, so that the nodes of a round become schedulable together.
        for _ in 0..5 {
            let current = fresh.as_ref().or(cached.map(AsRef::as_ref));
            let patch = node_patch(before, after, registering, current, objects);
            if patch == json!({}) {
                return Ok(());
            }
            match api
                .patch(&after.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(o) => {
                    self.cache.lock().nodes.put(o);
                    return Ok(());
                }
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    log::debug(
                        &format!("Node/{}", after.name),
                        "conflict: reading the Node again",
                    );
                    fresh = Some(api.get(&after.name).await.map_err(text)?);
                }
                Err(e) => return Err(text(e)),
            }
        }
        Err("Node not patched: it kept changing (conflicts)".into())
    }

    /// Delete the object if it is not being deleted, then release our finalizer.
    async fn remove<K>(&self, api: Api<K>, name: &str) -> Result<(), String>
    where
        K: Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        for _ in 0..3 {
            let Some(o) = api.get_opt(name).await.map_err(text)? else {
                return Ok(());
            };
            if o.meta().deletion_timestamp.is_none() {
                api.delete(name, &DeleteParams::background())
                    .await
                    .map(|_| ())
                    .or_else(not_found_ok)?;
                continue;
            }
            let fins = o.meta().finalizers.clone().unwrap_or_default();
            if !fins.iter().any(|f| f == finalizers::TERMINATION) {
                return Ok(());
            }
            let rest: Vec<&String> = fins
                .iter()
                .filter(|f| *f != finalizers::TERMINATION)
                .collect();
            let patch = json!({"metadata": {
                "finalizers": rest,
                "resourceVersion": o.meta().resource_version,
            }});
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
                Err(e) => return Err(text(e)),
            }
        }
        Err("finalizer not released: the object kept changing (conflicts)".into())
    }

    async fn evict(&self, pod: &str, objects: &Objects) -> Result<(), String> {
        let (ns, name) = split(pod);
        let uid = objects
            .pods
            .iter()
            .find(|p| {
                p.metadata.namespace.as_deref() == Some(ns)
                    && p.metadata.name.as_deref() == Some(name)
            })
            .and_then(|p| p.metadata.uid.clone());
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let params = EvictParams {
            delete_options: Some(DeleteParams {
                preconditions: Some(Preconditions {
                    uid,
                    resource_version: None,
                }),
                ..DeleteParams::default()
            }),
            ..EvictParams::default()
        };
        api.evict(name, &params)
            .await
            .map(|_| ())
            .or_else(not_found_ok)
    }
}

/// `writes` grouped by the object they are about, each group in the journal's order; the
/// groups that start with a Node update first (a registration lifts the taint that keeps
/// kube-scheduler off new capacity, and a round registers a hundred Nodes with their
/// NodeClaims' statuses), then the others, each in the order of their first write.
pub fn lanes(writes: Vec<Write>) -> Vec<Vec<Write>> {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<Vec<Write>> = Vec::new();
    for w in writes {
        let i = *index.entry(w.subject()).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[i].push(w);
    }
    // stable: the journal's order within each kind
    out.sort_by_key(|lane| !matches!(lane.first(), Some(Write::UpdateNode { .. })));
    out
}

/// The merge patch that takes a Node from `before` to `after`: changed labels, the taint
/// change applied to `current`'s list (the Node as last read), and on registration the
/// termination finalizer and the NodeClaim owner added to its lists; with a list in it,
/// `current`'s resourceVersion as a precondition.
fn node_patch(
    before: &NodeState,
    after: &NodeState,
    registering: bool,
    current: Option<&Node>,
    objects: &Objects,
) -> Value {
    let mut patch = json!({});
    if after.labels != before.labels {
        patch["metadata"]["labels"] = label_diff(&before.labels, &after.labels);
    }
    if after.taints != before.taints {
        patch["spec"]["taints"] = Value::Array(taints_now(before, after, current));
        if let Some(node) = current {
            // the list is replaced whole: only over the Node it was computed from
            patch["metadata"]["resourceVersion"] = json!(node.metadata.resource_version);
        }
    }
    if registering && let Some(node) = current {
        // upstream: the Node gets the termination finalizer and its NodeClaim as owner
        let mut fins = node.metadata.finalizers.clone().unwrap_or_default();
        if !fins.iter().any(|f| f == finalizers::TERMINATION) {
            fins.push(finalizers::TERMINATION.into());
        }
        patch["metadata"]["finalizers"] = json!(fins);
        patch["metadata"]["resourceVersion"] = json!(node.metadata.resource_version);
        let claim = objects.nodeclaims.iter().find(|c| {
            c.status.as_ref().and_then(|s| s.provider_id.as_deref())
                == Some(after.provider_id.as_str())
                || c.metadata.name.as_deref() == Some(after.name.as_str())
        });
        if let Some(owner) = claim.and_then(|c| owner_ref(c.as_ref(), false)) {
            let mut owners = node.metadata.owner_references.clone().unwrap_or_default();
            if !owners.iter().any(|o| o.uid == owner.uid) {
                owners.push(owner);
            }
            patch["metadata"]["ownerReferences"] = json!(owners);
        }
    }
    patch
}

/// The Node's taints with the change from `before` to `after` applied to the list `current`
/// holds (the latest read), not `after`'s: the node lifecycle controller or a kubelet may
/// have added or removed a taint (`node.kubernetes.io/not-ready`) since the state was read,
/// and writing the state's list back whole would undo that. Without a Node, `after`'s.
fn taints_now(before: &NodeState, after: &NodeState, current: Option<&Node>) -> Vec<Value> {
    let Some(base) = current
        .and_then(|n| n.spec.as_ref())
        .map(|s| s.taints.clone())
    else {
        return after.taints.iter().map(taint).collect();
    };
    let same = |t: &k8s_openapi::api::core::v1::Taint, m: &Taint| {
        karpenter_api::convert::node_taint(t).as_ref() == Some(m)
    };
    let removed: Vec<&Taint> = before
        .taints
        .iter()
        .filter(|t| !after.taints.contains(t))
        .collect();
    let mut out: Vec<Value> = base
        .iter()
        .flatten()
        .filter(|t| !removed.iter().any(|r| same(t, r)))
        .filter_map(|t| serde_json::to_value(t).ok())
        .collect();
    for t in after.taints.iter().filter(|t| !before.taints.contains(t)) {
        if !base.iter().flatten().any(|b| same(b, t)) {
            out.push(taint(t));
        }
    }
    out
}

fn split(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or(("default", id))
}

fn text(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("API error {}: {}", s.code, s.message),
        other => other.to_string(),
    }
}

fn not_found_ok(e: kube::Error) -> Result<(), String> {
    match e {
        kube::Error::Api(s) if s.code == 404 => Ok(()),
        other => Err(text(other)),
    }
}

/// A merge-patch value turning `before` labels into `after` (removed keys become null).
fn label_diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in after {
        if before.get(k) != Some(v) {
            m.insert(k.clone(), json!(v));
        }
    }
    for k in before.keys() {
        if !after.contains_key(k) {
            m.insert(k.clone(), Value::Null);
        }
    }
    Value::Object(m)
}

fn taint(t: &Taint) -> Value {
    let mut v = json!({"key": t.key, "effect": t.effect.as_str()});
    if !t.value.is_empty() {
        v["value"] = json!(t.value);
    }
    v
}

/// An owner reference to `o` (a controller reference when `controller`).
fn owner_ref<K: Resource<DynamicType = ()>>(o: &K, controller: bool) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: o.meta().name.clone()?,
        uid: o.meta().uid.clone()?,
        block_owner_deletion: Some(true),
        controller: controller.then_some(true),
    })
}

/// The NodeClaim object for a planned claim of `pool`.
pub fn new_claim(c: &ClaimState, pool: &NodePool) -> NodeClaim {
    let template = &pool.spec.template;
    let mut claim_labels = template.metadata.labels.clone().unwrap_or_default();
    claim_labels.extend(c.labels.clone());
    claim_labels.insert(labels::NODEPOOL.into(), c.node_pool.clone());
    let mut claim_annotations = template.metadata.annotations.clone().unwrap_or_default();
    let pool_annotations = pool.metadata.annotations.clone().unwrap_or_default();
    if let Some(hash) = pool_annotations.get(annotations::NODEPOOL_HASH) {
        claim_annotations.insert(annotations::NODEPOOL_HASH.into(), hash.clone());
        claim_annotations.insert(
            annotations::NODEPOOL_HASH_VERSION.into(),
            annotations::NODEPOOL_HASH_VERSION_VALUE.into(),
        );
    }
    let api_taint = |t: &Taint| karpenter_api::Taint {
        key: t.key.clone(),
        value: (!t.value.is_empty()).then(|| t.value.clone()),
        effect: match t.effect.as_str() {
            "NoExecute" => karpenter_api::common::TaintEffect::NoExecute,
            "PreferNoSchedule" => karpenter_api::common::TaintEffect::PreferNoSchedule,
            _ => karpenter_api::common::TaintEffect::NoSchedule,
        },
        time_added: None,
    };
    let mut claim = NodeClaim::new(
        &c.name,
        NodeClaimSpec {
            taints: (!c.taints.is_empty()).then(|| c.taints.iter().map(api_taint).collect()),
            startup_taints: (!c.startup_taints.is_empty())
                .then(|| c.startup_taints.iter().map(api_taint).collect()),
            requirements: requirements(&c.requirements, &c.instance_types),
            resources: ResourceRequirements::default(),
            node_class_ref: template.spec.node_class_ref.clone(),
            termination_grace_period: template.spec.termination_grace_period.clone(),
            expire_after: template.spec.expire_after.clone(),
        },
    );
    claim.metadata = ObjectMeta {
        name: Some(c.name.clone()),
        labels: Some(claim_labels),
        annotations: (!claim_annotations.is_empty()).then_some(claim_annotations),
        owner_references: owner_ref(pool, false).map(|o| vec![o]),
        finalizers: Some(vec![finalizers::TERMINATION.into()]),
        ..ObjectMeta::default()
    };
    claim
}

/// Model requirements as a NodeClaim's, the instance types capped at 60 cheapest.
pub fn requirements(
    reqs: &Requirements,
    instance_types: &[String],
) -> Vec<NodeSelectorRequirementWithMinValues> {
    let mut out = Vec::new();
    let min_values = reqs.min_values();
    for key in reqs.keys() {
        let Some(set) = reqs.get(key) else { continue };
        let min = min_values.get(key).map(|n| i64::from(*n));
        if key == labels::INSTANCE_TYPE && !instance_types.is_empty() {
            out.push(NodeSelectorRequirementWithMinValues {
                key: key.into(),
                operator: Operator::In,
                values: instance_types
                    .iter()
                    .take(MAX_INSTANCE_TYPES)
                    .cloned()
                    .collect(),
                min_values: min,
            });
            continue;
        }
        for (operator, values) in operators(set) {
            out.push(NodeSelectorRequirementWithMinValues {
                key: key.into(),
                operator,
                values,
                min_values: min,
            });
        }
    }
    out
}

fn operators(set: &ValueSet) -> Vec<(Operator, Vec<String>)> {
    let values: Vec<String> = set.values.iter().cloned().collect();
    let mut out = Vec::new();
    if !set.complement {
        out.push(if values.is_empty() {
            (Operator::DoesNotExist, vec![])
        } else {
            (Operator::In, values)
        });
        return out;
    }
    if !values.is_empty() {
        out.push((Operator::NotIn, values));
    }
    if let Some(g) = set.greater_than {
        out.push((Operator::Gt, vec![g.to_string()]));
    }
    if let Some(l) = set.less_than {
        out.push((Operator::Lt, vec![l.to_string()]));
    }
    if out.is_empty() {
        out.push((Operator::Exists, vec![]));
    }
    out
}

fn quantities(r: &Resources) -> Value {
    Value::Object(
        r.iter()
            .map(|(k, q)| {
                (
                    k.clone(),
                    json!(karpenter_model::quantity::format_resource(k, *q)),
                )
            })
            .collect(),
    )
}

/// The status merge patch that moves a NodeClaim from `before` to `after` (empty when the
/// status did not change). Conditions keep their transition time while their status holds.
fn claim_status(
    before: &ClaimState,
    after: &ClaimState,
    current: Option<&NodeClaim>,
    now: Time,
) -> Value {
    let mut s = serde_json::Map::new();
    if after.launched != before.launched
        && let Some(l) = &after.launched
    {
        s.insert("providerID".into(), json!(l.provider_id));
        if !l.image_id.is_empty() {
            s.insert("imageID".into(), json!(l.image_id));
        }
        s.insert("capacity".into(), quantities(&l.capacity));
        s.insert("allocatable".into(), quantities(&l.allocatable));
    }
    if after.node != before.node
        && let Some(n) = &after.node
    {
        s.insert("nodeName".into(), json!(n));
    }
    if after.last_pod_event != before.last_pod_event {
        s.insert(
            "lastPodEventTime".into(),
            json!(k8s_time(after.last_pod_event)),
        );
    }
    let lifecycle_changed = after.launched.is_some() != before.launched.is_some()
        || after.registered_at != before.registered_at
        || after.initialized_at != before.initialized_at
        || after.disruption != before.disruption;
    if lifecycle_changed {
        s.insert(
            "conditions".into(),
            json!(claim_conditions(after, current, now)),
        );
    }
    Value::Object(s)
}

/// Upstream's NodeClaim conditions for `c`: Launched, Registered, Initialized (Unknown
/// until true), Ready (their conjunction), DisruptionReason while disrupting; other types
/// already on the object are kept.
pub fn claim_conditions(c: &ClaimState, current: Option<&NodeClaim>, now: Time) -> Vec<Condition> {
    let existing: Vec<Condition> = current
        .and_then(|o| o.status.as_ref())
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let set = |type_: &str, status: &str, reason: &str, message: &str| {
        let old = existing.iter().find(|x| x.type_ == type_);
        let since = match old {
            Some(o) if o.status == status => o.last_transition_time.clone(),
            _ => Some(k8s_time(now)),
        };
        Condition {
            type_: type_.into(),
            status: status.into(),
            observed_generation: current.and_then(|o| o.metadata.generation),
            last_transition_time: since,
            reason: reason.into(),
            message: message.into(),
        }
    };
    let stage = |type_: &str, done: bool| {
        if done {
            set(type_, "True", type_, "")
        } else {
            set(
                type_,
                "Unknown",
                "AwaitingReconciliation",
                "object is awaiting reconciliation",
            )
        }
    };
    let launched = c.launched.is_some();
    let registered = c.registered_at.is_some();
    let initialized = c.initialized_at.is_some();
    let mut out = vec![
        stage(conditions::LAUNCHED, launched),
        stage(conditions::REGISTERED, registered),
        stage(conditions::INITIALIZED, initialized),
    ];
    if launched && registered && initialized {
        out.push(set(conditions::READY, "True", conditions::READY, ""));
    } else {
        out.push(set(
            conditions::READY,
            "Unknown",
            "UnhealthyDependents",
            "Launched, Registered or Initialized is not True",
        ));
    }
    if let Some(reason) = &c.disruption {
        out.push(set(conditions::DISRUPTION_REASON, "True", reason, ""));
    }
    let ours = [
        conditions::LAUNCHED,
        conditions::REGISTERED,
        conditions::INITIALIZED,
        conditions::READY,
        conditions::DISRUPTION_REASON,
    ];
    out.extend(
        existing
            .iter()
            .filter(|x| !ours.contains(&x.type_.as_str()))
            .cloned(),
    );
    out
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use kube::client::Body;

    use super::*;

    fn node_state(registered: bool) -> NodeState {
        let mut labels = BTreeMap::new();
        if registered {
            labels.insert(labels::REGISTERED.to_string(), "true".to_string());
        }
        NodeState {
            name: "n1".into(),
            provider_id: "kwok://n1".into(),
            labels,
            taints: Vec::new(),
            allocatable: Resources::new(),
            ready: true,
            created: 0,
            deleting: false,
            attached_volumes: Vec::new(),
        }
    }

    const UNREGISTERED: &str = "karpenter.sh/unregistered";
    const NOT_READY: &str = "node.kubernetes.io/not-ready";

    /// The Node as the scripted API server holds it at `resource_version`: resourceVersion 1
    /// still has the lifecycle controller's `not-ready` taint, later ones do not.
    fn node(resource_version: &str) -> Node {
        let mut taints = vec![json!({"key": UNREGISTERED, "effect": "NoExecute"})];
        if resource_version == "1" {
            taints.push(json!({"key": NOT_READY, "effect": "NoSchedule"}));
        }
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "resourceVersion": resource_version,
                         "finalizers": ["other.example/keep"]},
            "spec": {"taints": taints},
        }))
        .unwrap_or_default()
    }

    fn taint(key: &str, effect: karpenter_model::Effect) -> Taint {
        Taint {
            key: key.into(),
            value: String::new(),
            effect,
        }
    }

    /// The requests a scripted API server saw: method and body.
    type RequestLog = Arc<Mutex<Vec<(String, String)>>>;

    /// An API server that answers the first PATCH of the Node with 409 Conflict, a GET with
    /// the Node at resourceVersion 2, and a later PATCH with the Node; the requests it saw
    /// are left in the returned log (method and body).
    fn conflicting_api() -> (Client, RequestLog) {
        let log: RequestLog = Arc::default();
        let seen = log.clone();
        let svc = tower::service_fn(move |req: http::Request<Body>| {
            let seen = seen.clone();
            async move {
                let method = req.method().to_string();
                let body = http_body_util::BodyExt::collect(req.into_body())
                    .await
                    .map(|b| String::from_utf8_lossy(&b.to_bytes()).to_string())
                    .unwrap_or_default();
                let patches = {
                    let mut l = seen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    l.push((method.clone(), body));
                    l.iter().filter(|(m, _)| m == "PATCH").count()
                };
                let (status, payload) = match (method.as_str(), patches) {
                    ("PATCH", 1) => (
                        409,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                               "message": "the object has been modified", "reason": "Conflict",
                               "code": 409}),
                    ),
                    ("GET", _) => (200, serde_json::to_value(node("2")).unwrap_or_default()),
                    _ => (200, serde_json::to_value(node("3")).unwrap_or_default()),
                };
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(payload.to_string().into_bytes()))
            }
        });
        (Client::new(svc, "default"), log)
    }

    #[tokio::test]
    async fn a_registration_conflict_is_retried_on_a_fresh_read() {
        let (client, log) = conflicting_api();
        let writer = Writer::new(client, Cache::default());
        let objects = Objects {
            nodes: vec![Arc::new(node("1"))],
            ..Objects::default()
        };
        let result = writer
            .update_node(&node_state(false), &node_state(true), &objects)
            .await;
        assert_eq!(result, Ok(()));
        let log = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let methods: Vec<&str> = log.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(methods, ["PATCH", "GET", "PATCH"]);
        let first: Value = serde_json::from_str(&log[0].1).unwrap_or_default();
        let second: Value = serde_json::from_str(&log[2].1).unwrap_or_default();
        assert_eq!(first["metadata"]["resourceVersion"], "1");
        assert_eq!(
            second["metadata"]["resourceVersion"], "2",
            "the retry uses the fresh read"
        );
        assert_eq!(
            second["metadata"]["finalizers"],
            json!(["other.example/keep", finalizers::TERMINATION]),
            "the finalizers already there are kept"
        );
        assert_eq!(second["metadata"]["labels"][labels::REGISTERED], "true");
        let cached = writer
            .cache
            .lock()
            .nodes
            .get("n1")
            .map(|n| n.metadata.resource_version.clone());
        assert_eq!(
            cached,
            Some(Some("3".into())),
            "the answer is written through to the cache"
        );
    }

    #[tokio::test]
    async fn a_taint_change_on_conflict_keeps_what_others_changed_meanwhile() {
        use karpenter_model::Effect;
        let (client, log) = conflicting_api();
        let writer = Writer::new(client, Cache::default());
        let objects = Objects {
            nodes: vec![Arc::new(node("1"))],
            ..Objects::default()
        };
        // the state read both taints; registration lifts ours
        let mut before = node_state(false);
        before.taints = vec![
            taint(UNREGISTERED, Effect::NoExecute),
            taint(NOT_READY, Effect::NoSchedule),
        ];
        let mut after = node_state(true);
        after.taints = vec![taint(NOT_READY, Effect::NoSchedule)];
        let result = writer.update_node(&before, &after, &objects).await;
        assert_eq!(result, Ok(()));
        let log = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first: Value = serde_json::from_str(&log[0].1).unwrap_or_default();
        let second: Value = serde_json::from_str(&log[2].1).unwrap_or_default();
        assert_eq!(
            first["spec"]["taints"],
            json!([{"key": NOT_READY, "effect": "NoSchedule"}])
        );
        assert_eq!(
            second["spec"]["taints"],
            json!([]),
            "the lifecycle controller lifted not-ready meanwhile: the retry does not bring it back"
        );
        assert_eq!(second["metadata"]["resourceVersion"], "2");
    }

    #[tokio::test]
    async fn a_label_change_alone_carries_no_precondition() {
        let (client, log) = conflicting_api();
        let writer = Writer::new(client, Cache::default());
        let mut after = node_state(false);
        after.labels.insert("team".into(), "a".into());
        let objects = Objects {
            nodes: vec![Arc::new(node("1"))],
            ..Objects::default()
        };
        let _ = writer
            .update_node(&node_state(false), &after, &objects)
            .await;
        let log = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first: Value = serde_json::from_str(&log[0].1).unwrap_or_default();
        assert_eq!(first["metadata"]["labels"]["team"], "a");
        assert_eq!(
            first["metadata"].get("resourceVersion"),
            None,
            "a label merge cannot lose anyone's change: no precondition to conflict on"
        );
    }

    #[test]
    fn node_updates_go_first_and_each_object_keeps_its_order() {
        let evict = |pod: &str| Write::Evict { pod: pod.into() };
        let writes = vec![
            evict("ns/a"),
            Write::DeletePod { pod: "ns/b".into() },
            evict("ns/a"),
            Write::UpdateNode {
                before: Box::new(node_state(false)),
                after: Box::new(node_state(true)),
            },
            evict("ns/c"),
        ];
        let subjects: Vec<Vec<String>> = lanes(writes)
            .iter()
            .map(|l| l.iter().map(Write::subject).collect())
            .collect();
        assert_eq!(
            subjects,
            [
                vec!["Node/n1".to_string()],
                vec!["Pod/ns/a".to_string(), "Pod/ns/a".to_string()],
                vec!["Pod/ns/b".to_string()],
                vec!["Pod/ns/c".to_string()],
            ]
        );
    }
}
