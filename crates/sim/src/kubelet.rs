//! The nodes' side of the simulated cluster: a running instance registers its Node after
//! the registration latency (tainted `karpenter.sh/unregistered` and with its NodeClaim's
//! startup taints, as Karpenter's user data makes kubelet do), becomes Ready after the
//! ready latency (an agent removes the startup taints), and the cloud node controller
//! removes Nodes whose instance is gone.

use std::collections::BTreeMap;

use karpenter_cloud::{InstanceState, sim::SimCloud};
use karpenter_controllers::{ClusterState, NodeState};
use karpenter_model::time::Time;
use karpenter_model::wellknown::{labels, taints};
use karpenter_model::{Effect, Taint};

/// Node groups of the Cluster Autoscaler baseline: labels and taints per group name.
pub type GroupNodeSpec = BTreeMap<String, (BTreeMap<String, String>, Vec<Taint>)>;

/// The kubelets (and the cloud node controller).
#[derive(Debug, Clone, Default)]
pub struct Kubelet {
    /// Running to registered.
    pub registration_latency: Time,
    /// Registered to Ready.
    pub ready_latency: Time,
    registered: BTreeMap<String, String>,
    ready_at: BTreeMap<String, Time>,
    next: u64,
}

impl Kubelet {
    /// Kubelets with the given latencies.
    pub fn new(registration_latency: Time, ready_latency: Time) -> Self {
        Kubelet {
            registration_latency,
            ready_latency,
            ..Default::default()
        }
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
        let boot = cloud.boot_latency();
        let due: Vec<_> = cloud
            .instances()
            .values()
            .filter(|i| {
                i.state == InstanceState::Running
                    && !self.registered.contains_key(&i.provider_id)
                    && now >= i.launched_at + boot + self.registration_latency
            })
            .cloned()
            .collect();
        for i in due {
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
            self.ready_at.insert(name, now + self.ready_latency);
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
        let boot = cloud.boot_latency();
        let registrations = cloud
            .instances()
            .values()
            .filter(|i| !self.registered.contains_key(&i.provider_id))
            .map(|i| i.launched_at + boot + self.registration_latency);
        registrations.chain(self.ready_at.values().copied()).min()
    }

    /// Is the instance registered as a Node?
    pub fn is_registered(&self, provider_id: &str) -> bool {
        self.registered.contains_key(provider_id)
    }
}
