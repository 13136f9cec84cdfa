//! The workload controllers of the simulated cluster: Deployments keep their replica count
//! (replacing evicted pods, scaling down pending pods first, then the newest), Jobs run
//! each pod for a fixed time once bound and replace pods lost before they finished. Each
//! running pod lost (evicted, or gone with its node) counts as a restart, and the time
//! until its replacement is bound is the pod-time the restart cost.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_controllers::{ClusterState, PodState};
use karpenter_model::time::Time;

use crate::build::Template;

#[derive(Debug, Clone)]
struct Deployment {
    template: Template,
    replicas: u32,
    pods: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Job {
    template: Template,
    total: u32,
    done: u32,
    run_for: Time,
    pods: BTreeSet<String>,
}

/// Deployments and Jobs.
#[derive(Debug, Clone, Default)]
pub struct Workloads {
    deployments: BTreeMap<String, Deployment>,
    jobs: BTreeMap<String, Job>,
    next: u64,
    /// Pods created so far.
    pub created: u64,
    /// Job pods that ran to completion.
    pub completed: u64,
    /// Running pods lost and replaced (restarts).
    pub restarted: u64,
    /// Time from losing a running pod to its replacement being bound, summed.
    pub downtime: Time,
    /// Running pods lost per owner, not replaced yet.
    lost_by_owner: BTreeMap<String, u32>,
    /// Replacement pods not bound yet, with when their predecessor was lost.
    replacements: BTreeMap<String, Time>,
}

fn owner(kind: &str, name: &str) -> String {
    format!("{kind}/{name}")
}

impl Workloads {
    /// Add a Deployment.
    pub fn deploy(&mut self, name: &str, template: Template, replicas: u32) {
        self.deployments.insert(
            name.to_string(),
            Deployment {
                template,
                replicas,
                pods: BTreeSet::new(),
            },
        );
    }

    /// Change a Deployment's replicas.
    pub fn scale(&mut self, name: &str, replicas: u32) {
        if let Some(d) = self.deployments.get_mut(name) {
            d.replicas = replicas;
        }
    }

    /// Start a Job.
    pub fn start_job(&mut self, name: &str, template: Template, pods: u32, run_for: Time) {
        self.jobs.insert(
            name.to_string(),
            Job {
                template,
                total: pods,
                done: 0,
                run_for,
                pods: BTreeSet::new(),
            },
        );
    }

    fn new_pod(
        &mut self,
        state: &mut ClusterState,
        owner_key: &str,
        t: &Template,
        now: Time,
    ) -> String {
        self.next += 1;
        self.created += 1;
        let base = owner_key.rsplit('/').next().unwrap_or(owner_key);
        let id = format!("{}/{base}-{:06x}", t.spec.namespace, self.next);
        state.put_pod(PodState {
            id: id.clone(),
            spec: t.spec.clone(),
            owner: Some(owner_key.to_string()),
            node: None,
            created: now,
            bound_at: None,
            unschedulable: false,
            untried: false,
            nominated: None,
            priority: t.priority,
            deletion_cost: t.deletion_cost,
            do_not_disrupt: t.do_not_disrupt,
            critical: t.critical,
            terminating: false,
            revision: 0,
        });
        if let Some(n) = self.lost_by_owner.get_mut(owner_key)
            && *n > 0
        {
            *n -= 1;
            self.replacements.insert(id.clone(), now);
        }
        id
    }

    /// Account for replacements bound (or gone) by `now`.
    fn settle_replacements(&mut self, state: &ClusterState, now: Time) {
        let mut done = Vec::new();
        for (id, lost_at) in &self.replacements {
            match state.pods().get(id) {
                Some(p) => {
                    if let Some(b) = p.bound_at {
                        self.downtime += b - lost_at;
                        done.push(id.clone());
                    }
                }
                None => {
                    self.downtime += now - lost_at;
                    done.push(id.clone());
                }
            }
        }
        for id in done {
            self.replacements.remove(&id);
        }
    }

    /// Close the books at the end of a run: replacements still pending count until `end`.
    pub fn finish(&mut self, state: &ClusterState, end: Time) {
        self.settle_replacements(state, end);
        for lost_at in std::mem::take(&mut self.replacements).into_values() {
            self.downtime += end - lost_at;
        }
    }

    /// Reconcile every workload at `now`. Returns whether pods were created or removed.
    pub fn reconcile(&mut self, state: &mut ClusterState, now: Time) -> bool {
        let mut changed = false;
        if !self.replacements.is_empty() {
            self.settle_replacements(state, now);
        }
        let lost: Vec<PodState> = state.take_evicted();
        for p in &lost {
            changed = true;
            if p.node.is_some()
                && let Some(o) = &p.owner
            {
                self.restarted += 1;
                *self.lost_by_owner.entry(o.clone()).or_default() += 1;
            }
            for d in self.deployments.values_mut() {
                d.pods.remove(&p.id);
            }
            for j in self.jobs.values_mut() {
                j.pods.remove(&p.id);
            }
        }
        let names: Vec<String> = self.deployments.keys().cloned().collect();
        for name in names {
            let Some(d) = self.deployments.get(&name) else {
                continue;
            };
            let (want, have) = (d.replicas as usize, d.pods.len());
            let key = owner("Deployment", &name);
            if have < want {
                let t = d.template.clone();
                let ids: Vec<String> = (have..want)
                    .map(|_| self.new_pod(state, &key, &t, now))
                    .collect();
                if let Some(d) = self.deployments.get_mut(&name) {
                    d.pods.extend(ids);
                }
                changed = true;
            } else if have > want {
                // pending pods go first, then the most recently created
                let mut victims: Vec<(bool, Time, String)> = d
                    .pods
                    .iter()
                    .filter_map(|id| state.pods().get(id))
                    .map(|p| (p.node.is_some(), -p.created, p.id.clone()))
                    .collect();
                victims.sort();
                for (_, _, id) in victims.into_iter().take(have - want) {
                    state.remove_pod(&id, now);
                    if let Some(d) = self.deployments.get_mut(&name) {
                        d.pods.remove(&id);
                    }
                }
                changed = true;
            }
        }
        let jobs: Vec<String> = self.jobs.keys().cloned().collect();
        for name in jobs {
            let Some(j) = self.jobs.get(&name) else {
                continue;
            };
            let finished: Vec<String> = j
                .pods
                .iter()
                .filter(|id| {
                    state
                        .pods()
                        .get(*id)
                        .and_then(|p| p.bound_at)
                        .is_some_and(|b| now >= b + j.run_for)
                })
                .cloned()
                .collect();
            for id in &finished {
                state.remove_pod(id, now);
            }
            let key = owner("Job", &name);
            let Some(j) = self.jobs.get_mut(&name) else {
                continue;
            };
            j.done += finished.len() as u32;
            self.completed += finished.len() as u64;
            for id in &finished {
                j.pods.remove(id);
            }
            changed |= !finished.is_empty();
            let missing = j
                .total
                .saturating_sub(j.done)
                .saturating_sub(j.pods.len() as u32);
            if missing > 0 {
                let t = j.template.clone();
                let ids: Vec<String> = (0..missing)
                    .map(|_| self.new_pod(state, &key, &t, now))
                    .collect();
                if let Some(j) = self.jobs.get_mut(&name) {
                    j.pods.extend(ids);
                }
                changed = true;
            }
        }
        // a lost pod not replaced at once was not going to be (its owner scaled down)
        self.lost_by_owner.clear();
        changed
    }

    /// The next Job pod completion, if any.
    pub fn next_wake(&self, state: &ClusterState) -> Option<Time> {
        self.jobs
            .values()
            .flat_map(|j| {
                j.pods
                    .iter()
                    .filter_map(|id| state.pods().get(id).and_then(|p| p.bound_at))
                    .map(move |b| b + j.run_for)
            })
            .min()
    }
}
