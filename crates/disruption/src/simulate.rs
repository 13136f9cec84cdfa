//! Scheduling simulations for disruption: the cluster's scheduling input with some nodes
//! removed and their pods placed again, and the bookkeeping that lets later commands of the
//! same decision see earlier ones (moved pods and replacement NodeClaims committed as if
//! they had happened).

use std::collections::{BTreeMap, BTreeSet};

use karpenter_model::Requirements;
use karpenter_model::time::Time;
use karpenter_model::wellknown::labels;
use karpenter_scheduling::{BoundPod, ClaimPlan, ExistingNode, Input, PendingPod, Plan, Prepared};

use crate::types::{NodeInfo, PoolPolicy};

/// The working input.
#[derive(Debug)]
pub struct Work {
    input: Input,
    pending: Vec<PendingPod>,
    by_name: BTreeMap<String, usize>,
    removed: BTreeSet<usize>,
    replacements: usize,
    prepared: Prepared,
    /// Names the existing nodes' current state for the prepared solves: a new one after
    /// every change but the unschedulable flags simulations flip and restore.
    epoch: u64,
}

/// The result of one simulation.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every moved pod found a place on initialized capacity or new claims.
    pub placed_all: bool,
    /// New claims holding moved pods.
    pub claims: Vec<ClaimPlan>,
    /// The plan (its claims moved to `claims`).
    pub plan: Plan,
}

impl Work {
    /// Start from the cluster's input (its `pods` are the pending pods); `moved` are the
    /// pods later simulations may place.
    /// `cache` is a [`Prepared`] from an earlier decision, reused when it still fits.
    pub fn new<'r>(
        input: &Input,
        moved: impl Iterator<Item = &'r PendingPod> + Clone,
        cache: Option<Prepared>,
    ) -> Self {
        let mut prepared = Prepared::refresh(cache, input, moved.map(|p| &p.requests));
        let epoch = prepared.fresh_epoch();
        let mut input = input.clone();
        let pending = std::mem::take(&mut input.pods);
        let by_name = input
            .existing
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        Work {
            input,
            pending,
            by_name,
            removed: BTreeSet::new(),
            replacements: 0,
            prepared,
            epoch,
        }
    }

    /// Mark the nodes still inside their pool's `consolidateAfter` window (quiet for less
    /// than it, counted from the last pod event, else from initialization): consolidation
    /// moves no pod onto them, as their own pods may still be changing. `Never` and `0s`
    /// open no window.
    pub fn settle(&mut self, nodes: &[NodeInfo], pools: &[PoolPolicy], now: Time) {
        self.epoch = self.prepared.fresh_epoch();
        for n in nodes {
            let after = pools
                .iter()
                .find(|p| p.name == n.node_pool)
                .and_then(|p| p.consolidate_after)
                .unwrap_or(0);
            if let Some(e) = self.input.existing.get_mut(n.index) {
                e.settling = after > 0 && now - n.quiet_since < after;
            }
        }
    }

    /// The instance-type catalog.
    pub fn catalog(&self) -> &[karpenter_model::InstanceType] {
        &self.input.instance_types
    }

    /// Place `moved` (the pods of the nodes `remove`) with those nodes gone, together with
    /// the pending pods (which may stay pending).
    pub fn simulate(&mut self, remove: &[usize], moved: &[PendingPod]) -> Outcome {
        let mut flipped = Vec::new();
        let mut leaving = Vec::new();
        for &i in remove {
            if let Some(n) = self.input.existing.get_mut(i) {
                if !n.unschedulable {
                    n.unschedulable = true;
                    flipped.push(i);
                }
                if !n.leaving {
                    n.leaving = true;
                    leaving.push(i);
                }
            }
        }
        self.input.pods = self.pending.clone();
        self.input.pods.extend(moved.iter().map(|p| PendingPod {
            moving: true,
            ..p.clone()
        }));
        let mut plan = self.prepared.simulate_in(&self.input, self.epoch);
        self.input.pods.clear();
        for i in flipped {
            self.input.existing[i].unschedulable = false;
        }
        for i in leaving {
            self.input.existing[i].leaving = false;
        }
        let moved_ids: BTreeSet<&str> = moved.iter().map(|p| p.id.as_str()).collect();
        let unplaced = plan
            .unschedulable
            .iter()
            .any(|u| moved_ids.contains(u.pod.as_str()));
        let on_uninitialized = plan.existing.iter().any(|n| {
            self.by_name
                .get(&n.name)
                .is_some_and(|&i| !self.input.existing[i].initialized)
                && n.pods.iter().any(|p| moved_ids.contains(p.as_str()))
        });
        // only the claims are needed by value: take them rather than copy them
        let claims: Vec<ClaimPlan> = std::mem::take(&mut plan.claims)
            .into_iter()
            .filter(|c| c.pods.iter().any(|p| moved_ids.contains(p.as_str())))
            .collect();
        Outcome {
            placed_all: !unplaced && !on_uninitialized,
            claims,
            plan,
        }
    }

    /// Make a command's effect part of the input: the nodes are gone, the moved pods sit
    /// where the plan put them, and replacement claims are in-flight capacity.
    pub fn commit(
        &mut self,
        remove: &[usize],
        outcome: &Outcome,
        replacements: &[ClaimPlan],
        moved: &[PendingPod],
    ) {
        for &i in remove {
            self.removed.insert(i);
            if let Some(n) = self.input.existing.get_mut(i) {
                n.unschedulable = true;
                n.leaving = true;
            }
        }
        let specs: BTreeMap<&str, &PendingPod> = moved.iter().map(|p| (p.id.as_str(), p)).collect();
        for n in &outcome.plan.existing {
            let Some(&i) = self.by_name.get(&n.name) else {
                continue;
            };
            for pod in &n.pods {
                if let Some(p) = specs.get(pod.as_str()) {
                    self.place(i, p);
                }
            }
        }
        for c in replacements {
            let Some(t) = c
                .instance_types
                .first()
                .and_then(|name| self.input.instance_types.iter().find(|t| &t.name == name))
            else {
                continue;
            };
            let mut available = t.allocatable();
            for (k, q) in &c.requests {
                let e = available.entry(k.clone()).or_default();
                *e = e.saturating_sub(*q);
            }
            self.replacements += 1;
            let name = format!("replacement-{}", self.replacements);
            let mut node_labels = c.labels.clone();
            node_labels.insert(labels::HOSTNAME.into(), name.clone());
            let index = self.input.existing.len();
            self.input.existing.push(ExistingNode {
                name: name.clone(),
                labels: node_labels,
                available,
                initialized: false,
                in_flight: true,
                ..Default::default()
            });
            self.by_name.insert(name, index);
            for pod in &c.pods {
                if let Some(p) = specs.get(pod.as_str()) {
                    self.input.bound.push(BoundPod {
                        namespace: p.namespace.clone(),
                        labels: p.labels.clone(),
                        node: index,
                        anti_affinity: p.anti_affinity.clone(),
                    });
                }
            }
        }
    }

    fn place(&mut self, node: usize, pod: &PendingPod) {
        self.epoch = self.prepared.fresh_epoch();
        if let Some(n) = self.input.existing.get_mut(node) {
            for (k, q) in &pod.requests {
                let e = n.available.entry(k.clone()).or_default();
                *e = e.saturating_sub(*q);
            }
        }
        self.input.bound.push(BoundPod {
            namespace: pod.namespace.clone(),
            labels: pod.labels.clone(),
            node,
            anti_affinity: pod.anti_affinity.clone(),
        });
    }

    /// The prepared static half, for the next decision.
    pub fn into_prepared(self) -> Prepared {
        self.prepared
    }

    /// Has an earlier command of this decision removed the node?
    pub fn is_removed(&self, index: usize) -> bool {
        self.removed.contains(&index)
    }
}

/// The requirements of a claim plan.
pub fn claim_requirements(c: &ClaimPlan) -> Requirements {
    Requirements::from_requirements(&c.requirements)
}
