//! The nodes' side of the simulated cluster: a running instance registers its Node after
//! a registration latency drawn for it (a share of instances, when a fault asks, never
//! registers: a broken bootstrap), tainted `karpenter.sh/unregistered` and with its NodeClaim's
//! startup taints, as Karpenter's user data makes kubelet do), becomes Ready after a drawn
//! ready latency (an agent removes the startup taints), and the cloud node controller
//! removes Nodes whose instance is gone.

use std::collections::BTreeMap;

use karpenter_cloud::latency::Latency;
use karpenter_cloud::rng::Rng;
use karpenter_cloud::{InstanceState, sim::SimCloud};
use karpenter_controllers::{ClusterState, NodeState};
use karpenter_model::time::Time;
use karpenter_model::wellknown::{labels, taints};
use karpenter_model::{Effect, Taint};

/// Node groups of the Cluster Autoscaler baseline: labels and taints per group name.
pub type GroupNodeSpec = BTreeMap<String, (BTreeMap<String, String>, Vec<Taint>)>;

/// The kubelets (and the cloud node controller).
#[derive(Debug, Clone)]
pub struct Kubelet {
    /// Running to registered.
    pub registration_latency: Latency,
    /// Registered to Ready.
    pub ready_latency: Latency,
    /// Share of instances that never register.
    pub never_register_rate: f64,
    registered: BTreeMap<String, String>,
    ready_at: BTreeMap<String, Time>,
    /// Per instance not registered yet: when it will (None: never).
    plan: BTreeMap<String, Option<Time>>,
    rng: Rng,
    next: u64,
    /// Instances that were never going to register.
    pub never_registered: u64,
}

impl Kubelet {
    /// Kubelets with the given latencies, drawing with `seed`.
    pub fn new(registration_latency: Latency, ready_latency: Latency, seed: u64) -> Self {
        Kubelet {
            registration_latency,
            ready_latency,
            never_register_rate: 0.0,
            registered: BTreeMap::new(),
            ready_at: BTreeMap::new(),
            plan: BTreeMap::new(),
            rng: Rng::new(seed ^ 0x6b75_6265),
            next: 0,
            never_registered: 0,
        }
    }

    /// Draw when each new instance registers.
    fn plan_new(&mut self, cloud: &SimCloud) {
        for i in cloud.instances().values() {
            if self.registered.contains_key(&i.provider_id)
                || self.plan.contains_key(&i.provider_id)
            {
                continue;
            }
            let broken =
                self.never_register_rate > 0.0 && self.rng.next_f64() < self.never_register_rate;
            let at = if broken {
                self.never_registered += 1;
                None
            } else {
                let runs = cloud.running_at(&i.provider_id).unwrap_or(i.launched_at);
                Some(runs + self.registration_latency.sample(&mut self.rng))
            };
            self.plan.insert(i.provider_id.clone(), at);
        }
        self.plan
            .retain(|pid, _| cloud.instances().contains_key(pid));
    }

    fn node_name(&mut self) -> String {
        self.next += 1;
        let n = self.next;
        format!(
            "ip-10-{}-{}-{}.ec2.internal",
            (n >> 16) & 0xff,
            (n >> 8) & 0xff,
            n & 0xff
        )
    }

    /// Register, ready and remove nodes. Returns whether any node became Ready or was
    /// removed (the scheduler has new capacity, or pods to re-place).
    pub fn reconcile(
        &mut self,
        state: &mut ClusterState,
        cloud: &SimCloud,
        groups: &GroupNodeSpec,
        now: Time,
    ) -> bool {
        let mut changed = false;
        self.plan_new(cloud);
        let due: Vec<_> = cloud
            .instances()
            .values()
            .filter(|i| {
                i.state == InstanceState::Running
                    && self
                        .plan
                        .get(&i.provider_id)
                        .copied()
                        .flatten()
                        .is_some_and(|at| now >= at)
            })
            .cloned()
            .collect();
        for i in due {
            self.plan.remove(&i.provider_id);
            let name = self.node_name();
            let mut node_labels = i.labels.clone();
            node_labels.insert(labels::HOSTNAME.into(), name.clone());
            let mut node_taints = Vec::new();
            if let Some(c) = state.claims().get(&i.claim) {
                for (k, v) in &c.labels {
                    node_labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
                node_taints.push(Taint {
                    key: taints::UNREGISTERED_KEY.into(),
                    value: String::new(),
                    effect: Effect::NoExecute,
                });
                node_taints.extend(c.taints.iter().cloned());
                node_taints.extend(c.startup_taints.iter().cloned());
            } else if let Some((l, t)) = groups.get(&i.node_pool) {
                node_labels.extend(l.iter().map(|(k, v)| (k.clone(), v.clone())));
                node_taints.extend(t.iter().cloned());
            }
            state.put_node(NodeState {
                name: name.clone(),
                provider_id: i.provider_id.clone(),
                labels: node_labels,
                taints: node_taints,
                allocatable: i.allocatable.clone(),
                ready: false,
                created: now,
                deleting: false,
                attached_volumes: Vec::new(),
            });
            self.registered.insert(i.provider_id.clone(), name.clone());
            let ready = now + self.ready_latency.sample(&mut self.rng);
            self.ready_at.insert(name, ready);
        }
        let ready: Vec<String> = self
            .ready_at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for name in ready {
            self.ready_at.remove(&name);
            let startup: Vec<Taint> = state
                .claim_of_node(&name)
                .map(|c| c.startup_taints.clone())
                .unwrap_or_default();
            state.update_node(&name, |n| {
                n.ready = true;
                n.taints.retain(|t| !startup.contains(t));
            });
            changed = true;
        }
        // the cloud node controller: Nodes whose instance is gone are deleted
        let gone: Vec<(String, String)> = self
            .registered
            .iter()
            .filter(|(pid, _)| !cloud.instances().contains_key(*pid))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect();
        for (pid, name) in gone {
            self.registered.remove(&pid);
            self.ready_at.remove(&name);
            if state.nodes().contains_key(&name) {
                state.remove_node(&name, now);
                changed = true;
            }
        }
        changed
    }

    /// The next registration or readiness due, if any.
    pub fn next_wake(&self, cloud: &SimCloud) -> Option<Time> {
        // an instance launched since the last pass has no draw yet: wake when it runs
        let registrations = cloud
            .instances()
            .values()
            .filter(|i| !self.registered.contains_key(&i.provider_id))
            .filter_map(|i| match self.plan.get(&i.provider_id) {
                Some(at) => *at,
                None => Some(cloud.running_at(&i.provider_id).unwrap_or(i.launched_at)),
            });
        registrations.chain(self.ready_at.values().copied()).min()
    }

    /// The longest a healthy instance takes from launch to registration, give or take the
    /// tails (for the leak check's grace).
    pub fn registration_grace(&self) -> Time {
        self.registration_latency.p99 * 10
    }

    /// Is the instance registered as a Node?
    pub fn is_registered(&self, provider_id: &str) -> bool {
        self.registered.contains_key(provider_id)
    }
}
