//! The cluster as the controllers see it (upstream's cluster-state cache): pods with their
//! scheduling constraints, Nodes, NodeClaims and PodDisruptionBudgets, with an index of
//! pods per node and a generation that moves on every change, so loops can skip work when
//! nothing changed. The simulator owns one as its API server; the kube adapter fills one
//! from watches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use karpenter_model::time::Time;
use karpenter_model::{Requirements, Resources, Taint};
use karpenter_scheduling::PendingPod;

use crate::pods::PodTable;
use crate::writes::Write;

/// A pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodState {
    /// `namespace/name`.
    pub id: String,
    /// Scheduling constraints and effective requests (shared by a workload's replicas).
    pub spec: Arc<PendingPod>,
    /// Owning workload (`Kind/namespace/name`), if any.
    pub owner: Option<String>,
    /// Node it is bound to.
    pub node: Option<String>,
    /// Creation time.
    pub created: Time,
    /// When it was bound.
    pub bound_at: Option<Time>,
    /// kube-scheduler marked it `PodScheduled=False` with reason `Unschedulable`.
    pub unschedulable: bool,
    /// kube-scheduler has not tried it yet: no `PodScheduled` condition, the default
    /// scheduler's, no scheduling gates and no nominated node. Provisioning may plan it
    /// before the mark ([`crate::karpenter::Settings::provision_untried`]); the simulator's
    /// scheduler tries every pod in the step it appears, so there it is always false.
    pub untried: bool,
    /// `status.nominatedNodeName`: kube-scheduler preempts pods there for it, so
    /// provisioning leaves it alone (upstream's `IsPreempting`).
    pub nominated: Option<String>,
    /// Priority.
    pub priority: i32,
    /// `controller.kubernetes.io/pod-deletion-cost`.
    pub deletion_cost: i32,
    /// Carries `karpenter.sh/do-not-disrupt: "true"`.
    pub do_not_disrupt: bool,
    /// `system-cluster-critical` or `system-node-critical`.
    pub critical: bool,
    /// Being deleted (a deletion timestamp) but not gone yet.
    pub terminating: bool,
    /// Moves whenever the pod changes in the API (a fingerprint of its `resourceVersion`;
    /// 0 in the simulator): a pending pod that changed triggers provisioning again, as every
    /// pod event does upstream.
    pub revision: u64,
}

impl PodState {
    /// Would it need a place elsewhere if its node went (upstream's `IsReschedulable`)? A
    /// terminating pod is on its way out, except a StatefulSet's, which comes back under
    /// the same name.
    pub fn reschedulable(&self) -> bool {
        !self.terminating
            || self
                .owner
                .as_deref()
                .is_some_and(|o| o.starts_with("StatefulSet/"))
    }
}

/// A Node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    /// Name.
    pub name: String,
    /// Cloud provider id.
    pub provider_id: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Allocatable.
    pub allocatable: Resources,
    /// `Ready=True`.
    pub ready: bool,
    /// Registration time.
    pub created: Time,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// VolumeAttachments to it that are not detached yet.
    pub attached_volumes: Vec<String>,
}

/// A NodeClaim.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimState {
    /// Name.
    pub name: String,
    /// NodePool.
    pub node_pool: String,
    /// Requirements, including the instance-type list.
    pub requirements: Requirements,
    /// Instance types, cheapest first.
    pub instance_types: Vec<String>,
    /// Labels from the plan (single-valued requirements and template labels).
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Startup taints.
    pub startup_taints: Vec<Taint>,
    /// Creation time.
    pub created: Time,
    /// Launch result, once launched.
    pub launched: Option<Launched>,
    /// When the Node registered.
    pub registered_at: Option<Time>,
    /// When it became initialized.
    pub initialized_at: Option<Time>,
    /// Its Node's name, once registered.
    pub node: Option<String>,
    /// When its deletion started.
    pub deleting_since: Option<Time>,
    /// Why it is being disrupted (`Empty`, `Underutilized`, `Drifted`, `Expired`,
    /// `Interrupted`...), if it is.
    pub disruption: Option<String>,
    /// Last time a pod was bound to or removed from its node.
    pub last_pod_event: Time,
    /// `terminationGracePeriod` from its NodePool: once deleting for this long, its pods
    /// are deleted whatever blocks their eviction, and volumes are not waited for.
    pub termination_grace_period: Option<Time>,
}

/// What the cloud launched for a claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Launched {
    /// Provider id.
    pub provider_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: String,
    /// Price, USD per hour.
    pub price: f64,
    /// Image.
    pub image_id: String,
    /// Allocatable.
    pub allocatable: Resources,
    /// Capacity (what NodePool limits count).
    pub capacity: Resources,
    /// Labels of the instance (type, zone, capacity type, the type's labels).
    pub labels: BTreeMap<String, String>,
    /// When.
    pub at: Time,
}

pub use karpenter_disruption::pdb::{IntOrPercent, Pdb};

/// The cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    pods: PodTable,
    nodes: BTreeMap<String, NodeState>,
    claims: BTreeMap<String, ClaimState>,
    claim_by_node: BTreeMap<String, String>,
    evicted: Vec<PodState>,
    audit: Vec<String>,
    evictions: u64,
    journal: Option<Vec<crate::writes::Write>>,
    /// PodDisruptionBudgets.
    pub pdbs: Vec<Pdb>,
    generation: u64,
}

impl ClusterState {
    /// Moves on every change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Set the generation: a state rebuilt from watch caches takes the caches' version, so
    /// equal generations mean an unchanged cluster across rebuilds.
    pub fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }

    /// Pods by id.
    pub fn pods(&self) -> &BTreeMap<String, PodState> {
        self.pods.pods()
    }

    /// Replace every pod with `table`'s (a copy-on-write share: the kube adapter keeps the
    /// table across passes).
    pub fn set_pod_table(&mut self, table: PodTable) {
        self.pods = table;
        self.generation += 1;
    }

    /// Nodes by name.
    pub fn nodes(&self) -> &BTreeMap<String, NodeState> {
        &self.nodes
    }

    /// NodeClaims by name.
    pub fn claims(&self) -> &BTreeMap<String, ClaimState> {
        &self.claims
    }

    /// Ids of the pods bound to `node`.
    pub fn pods_on(&self, node: &str) -> impl Iterator<Item = &PodState> {
        self.pods.on(node)
    }

    /// Number of pods bound to `node`.
    pub fn pod_count(&self, node: &str) -> usize {
        self.pods.ids_on(node).map_or(0, BTreeSet::len)
    }

    /// The claim that owns `node`, if any.
    pub fn claim_of_node(&self, node: &str) -> Option<&ClaimState> {
        self.claim_by_node
            .get(node)
            .and_then(|c| self.claims.get(c))
    }

    /// Add (or replace) a pod.
    pub fn put_pod(&mut self, pod: PodState) {
        self.pods.put(pod);
        self.generation += 1;
    }

    /// Bind a pending pod to `node` at `now`.
    pub fn bind(&mut self, pod: &str, node: &str, now: Time) {
        let bound = self.pods.bind(pod, node, |p| {
            p.node = Some(node.to_string());
            p.bound_at = Some(now);
            p.unschedulable = false;
            p.untried = false;
        });
        if bound {
            self.touch_node(node, now);
            self.generation += 1;
        }
    }

    /// Mark pods unschedulable (kube-scheduler's condition).
    pub fn mark_unschedulable(&mut self, pods: &[String]) {
        let mut changed = false;
        for id in pods {
            if self.pods.get(id).is_some_and(|p| !p.unschedulable) {
                self.pods.update(id, |p| {
                    p.unschedulable = true;
                    p.untried = false;
                });
                changed = true;
            }
        }
        if changed {
            self.generation += 1;
        }
    }

    /// Remove a pod (deleted, evicted or completed); returns it.
    pub fn remove_pod(&mut self, id: &str, now: Time) -> Option<PodState> {
        let pod = self.pods.remove(id)?;
        if let Some(n) = &pod.node {
            self.touch_node(n, now);
        }
        self.generation += 1;
        Some(pod)
    }

    fn touch_node(&mut self, node: &str, now: Time) {
        if let Some(c) = self
            .claim_by_node
            .get(node)
            .and_then(|c| self.claims.get_mut(c))
        {
            c.last_pod_event = now;
        }
    }

    /// Add (or replace) a node.
    pub fn put_node(&mut self, node: NodeState) {
        self.nodes.insert(node.name.clone(), node);
        self.generation += 1;
    }

    /// Change a node in place.
    pub fn update_node(&mut self, name: &str, f: impl FnOnce(&mut NodeState)) {
        if let Some(n) = self.nodes.get_mut(name) {
            let before = self.journal.is_some().then(|| n.clone());
            f(n);
            if let (Some(journal), Some(before)) = (self.journal.as_mut(), before)
                && before != *n
            {
                // a second change in the same pass extends the first: one request
                match last_for(journal, true, name) {
                    Some(Write::UpdateNode { after, .. }) => **after = n.clone(),
                    _ => journal.push(Write::UpdateNode {
                        before: Box::new(before),
                        after: Box::new(n.clone()),
                    }),
                }
            }
            self.generation += 1;
        }
    }

    /// Start recording every change controllers make as a [`Write`] (the kube adapter's
    /// cluster port); the simulator never does.
    pub fn record_writes(&mut self) {
        self.journal.get_or_insert_with(Vec::new);
    }

    /// The writes recorded since the last call.
    pub fn take_writes(&mut self) -> Vec<Write> {
        self.journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn record(&mut self, write: Write) {
        if let Some(journal) = self.journal.as_mut() {
            journal.push(write);
        }
    }

    /// Remove a node; pods still bound to it are deleted with it (as the pod GC does) and
    /// reported as evicted, so their owners replace them.
    pub fn remove_node(&mut self, name: &str, now: Time) {
        if let Some(n) = self.nodes.remove(name) {
            self.record(Write::RemoveNode(Box::new(n)));
        }
        let ids: Vec<String> = self
            .pods
            .ids_on(name)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for id in ids {
            if let Some(p) = self.remove_pod(&id, now) {
                self.evicted.push(p);
            }
        }
        self.pods.drop_node(name);
        self.generation += 1;
    }

    /// Evict a pod (Eviction API): it is removed and reported through
    /// [`ClusterState::take_evicted`] so its owner can replace it. An eviction that a
    /// PodDisruptionBudget forbids, or of a `karpenter.sh/do-not-disrupt` pod, is carried
    /// out but written to [`ClusterState::audit`]: callers must check first, and the
    /// simulator treats an entry there as a broken invariant.
    pub fn evict(&mut self, id: &str, now: Time) {
        if let Some(p) = self.pods.get(id) {
            let pdbs: Vec<&Pdb> = self.pdbs_of(p).collect();
            let refused = pdbs.iter().find(|b| self.pdb_allowed(b) == 0);
            if p.do_not_disrupt {
                self.audit.push(format!(
                    "t={}s: evicted do-not-disrupt pod {id}",
                    now / 1000
                ));
            } else if let Some(b) = refused {
                self.audit.push(format!(
                    "t={}s: evicted pod {id} although PodDisruptionBudget {} allowed no disruption",
                    now / 1000,
                    b.id
                ));
            }
            self.evictions += 1;
        }
        self.record(Write::Evict {
            pod: id.to_string(),
        });
        if let Some(p) = self.remove_pod(id, now) {
            self.evicted.push(p);
        }
    }

    /// Delete a pod outright (a drain's deadline passed): no PDB or do-not-disrupt check,
    /// and no audit entry, since upstream deletes such pods by design. It is reported through
    /// [`ClusterState::take_evicted`] so its owner can replace it.
    pub fn force_delete(&mut self, id: &str, now: Time) {
        self.record(Write::DeletePod {
            pod: id.to_string(),
        });
        if let Some(p) = self.remove_pod(id, now) {
            self.evicted.push(p);
        }
    }

    /// Evictions that broke a PodDisruptionBudget or touched a do-not-disrupt pod.
    pub fn audit(&self) -> &[String] {
        &self.audit
    }

    /// Evictions through the Eviction API so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Pods evicted (or deleted with their node) since the last call.
    pub fn take_evicted(&mut self) -> Vec<PodState> {
        std::mem::take(&mut self.evicted)
    }

    /// Add (or replace) a NodeClaim.
    pub fn put_claim(&mut self, claim: ClaimState) {
        if let Some(n) = &claim.node {
            self.claim_by_node.insert(n.clone(), claim.name.clone());
        }
        self.record(Write::CreateClaim(Box::new(claim.clone())));
        self.claims.insert(claim.name.clone(), claim);
        self.generation += 1;
    }

    /// Change a NodeClaim in place.
    pub fn update_claim(&mut self, name: &str, f: impl FnOnce(&mut ClaimState)) {
        if let Some(c) = self.claims.get_mut(name) {
            let before = self.journal.is_some().then(|| c.clone());
            f(c);
            if let Some(n) = &c.node {
                self.claim_by_node.insert(n.clone(), c.name.clone());
            }
            if let (Some(journal), Some(before)) = (self.journal.as_mut(), before)
                && before != *c
            {
                match last_for(journal, false, name) {
                    Some(Write::UpdateClaim { after, .. }) => **after = c.clone(),
                    last => {
                        let mut before = before;
                        if let Some(Write::CreateClaim(created)) = last {
                            // created in this pass (a claim launched in the round that
                            // planned it): its new labels go with the create, one request
                            // fewer; the rest (the status, which a create cannot set)
                            // follows as an update
                            created.labels = c.labels.clone();
                            before.labels = c.labels.clone();
                        }
                        journal.push(Write::UpdateClaim {
                            before: Box::new(before),
                            after: Box::new(c.clone()),
                        });
                    }
                }
            }
            self.generation += 1;
        }
    }

    /// Remove a NodeClaim.
    pub fn remove_claim(&mut self, name: &str) -> Option<ClaimState> {
        let c = self.claims.remove(name);
        if let Some(n) = c.as_ref().and_then(|c| c.node.as_ref()) {
            self.claim_by_node.remove(n);
        }
        if let Some(c) = &c {
            self.record(Write::RemoveClaim(Box::new(c.clone())));
        }
        self.generation += 1;
        c
    }

    /// What the pods bound to `node` request together.
    pub fn requested(&self, node: &str) -> Resources {
        let mut total = Resources::new();
        for p in self.pods_on(node) {
            karpenter_model::catalog::add_resources(&mut total, &p.spec.requests);
        }
        total
    }

    /// How many more pods covered by `pdb` may be evicted now: healthy pods (bound to a
    /// ready node) less what the budget keeps.
    pub fn pdb_allowed(&self, pdb: &Pdb) -> i32 {
        let covered: Vec<&PodState> = self
            .pods
            .pods()
            .values()
            .filter(|p| pdb.covers(&p.spec.namespace, &p.spec.labels))
            .collect();
        let expected = covered.len() as i32;
        let healthy = covered
            .iter()
            .filter(|p| {
                p.node
                    .as_deref()
                    .and_then(|n| self.nodes.get(n))
                    .is_some_and(|n| n.ready)
            })
            .count() as i32;
        pdb.allowed(expected, healthy)
    }

    /// The PDBs covering `pod`.
    pub fn pdbs_of<'a>(&'a self, pod: &'a PodState) -> impl Iterator<Item = &'a Pdb> {
        self.pdbs
            .iter()
            .filter(|b| b.covers(&pod.spec.namespace, &pod.spec.labels))
    }
}

/// Requirements that hold for every value in `labels`.
pub fn label_requirements(labels: &BTreeMap<String, String>) -> Requirements {
    let mut r = Requirements::new();
    for (k, v) in labels {
        r.add(&karpenter_model::Requirement::new(
            k,
            karpenter_model::Op::In,
            [v.clone()],
        ));
    }
    r
}

/// The journal's last write about Node (`node`) or NodeClaim `name`, if any.
fn last_for<'a>(journal: &'a mut [Write], node: bool, name: &str) -> Option<&'a mut Write> {
    journal
        .iter_mut()
        .rev()
        .find(|w| w.object() == Some((node, name)))
}
