//! What the engine decides over, in model terms: pending pods with every scheduling
//! constraint, NodePools, the instance-type catalog, existing nodes (and in-flight NodeClaims)
//! with the pods bound to them, and DaemonSets. Adapters (manifests, the kube-rs watcher, the
//! simulator) build an [`Input`]; the engine never sees a Kubernetes object.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_model::{InstanceType, LabelSelector, Requirements, Resources, Taint, Toleration};

/// A container host port; `0.0.0.0` (or empty) as IP is the wildcard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// Host IP; empty means every address.
    pub ip: String,
    /// Port number.
    pub port: i32,
}

impl HostPort {
    /// Do the two ports collide on one node?
    pub fn conflicts(&self, other: &HostPort) -> bool {
        let wild = |ip: &str| ip.is_empty() || ip == "0.0.0.0";
        self.port == other.port
            && self.protocol == other.protocol
            && (wild(&self.ip) || wild(&other.ip) || self.ip == other.ip)
    }
}

/// A topology spread constraint, with `matchLabelKeys` already folded into the selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spread {
    /// Node label the domains are values of.
    pub key: String,
    /// Largest allowed difference between a domain's count and the global minimum.
    pub max_skew: i32,
    /// `minDomains`, if set.
    pub min_domains: Option<i32>,
    /// `whenUnsatisfiable: ScheduleAnyway` (a preference that relaxation may drop).
    pub schedule_anyway: bool,
    /// Pods that count.
    pub selector: LabelSelector,
    /// `nodeAffinityPolicy: Honor` (the default): only nodes matching the pod's node
    /// selector and required node affinity count.
    pub honor_node_affinity: bool,
    /// `nodeTaintsPolicy: Honor`: only nodes whose taints the pod tolerates count.
    pub honor_node_taints: bool,
}

/// A pod (anti-)affinity term with its namespaces resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AffinityTerm {
    /// Node label the domains are values of.
    pub key: String,
    /// Pods the term refers to.
    pub selector: LabelSelector,
    /// Namespaces those pods are looked for in.
    pub namespaces: BTreeSet<String>,
}

/// A weighted preference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Weighted<T> {
    /// Weight (1-100).
    pub weight: i32,
    /// The preferred term.
    pub term: T,
}

/// A volume the pod attaches through a CSI driver, for attach limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VolumeAttachment {
    /// CSI driver name.
    pub driver: String,
    /// Volume identity (`namespace/claim`), so pods sharing a claim count once.
    pub volume: String,
}

/// A pod waiting for capacity, with every constraint the engine honours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PendingPod {
    /// `namespace/name`.
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Effective requests (including `pods: 1`).
    pub requests: Resources,
    /// `nodeSelector`.
    pub node_selector: Requirements,
    /// Required node-affinity terms (ORed); empty when none.
    pub required_terms: Vec<Requirements>,
    /// Preferred node-affinity terms.
    pub preferred_terms: Vec<Weighted<Requirements>>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Topology spread constraints.
    pub spreads: Vec<Spread>,
    /// Required pod affinity.
    pub affinity: Vec<AffinityTerm>,
    /// Preferred pod affinity.
    pub preferred_affinity: Vec<Weighted<AffinityTerm>>,
    /// Required pod anti-affinity.
    pub anti_affinity: Vec<AffinityTerm>,
    /// Preferred pod anti-affinity.
    pub preferred_anti_affinity: Vec<Weighted<AffinityTerm>>,
    /// Host ports of its containers.
    pub host_ports: Vec<HostPort>,
    /// Where its volumes can be reached: alternatives (ORed) of node requirements; empty when
    /// the volumes do not constrain the node.
    pub volume_requirements: Vec<Requirements>,
    /// CSI volumes it attaches.
    pub volumes: Vec<VolumeAttachment>,
    /// Set when the pod must not be considered at all (restricted label, `matchFields`,
    /// invalid volume...): the reason, reported as upstream reports ignored pods.
    pub ignored: Option<String>,
    /// Moved by a consolidation simulation: it takes no [`ExistingNode::settling`] node.
    pub moving: bool,
}

/// A NodePool as the engine sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pool {
    /// Name.
    pub name: String,
    /// Weight (0 when unset); higher is tried first.
    pub weight: i32,
    /// Template requirements, template labels and `karpenter.sh/nodepool`.
    pub requirements: Requirements,
    /// Taints pods must tolerate (startup taints excluded).
    pub taints: Vec<Taint>,
    /// Remaining capacity the pool may add (`limits` less existing nodes), if limited; the
    /// resource `nodes` counts nodes.
    pub limits: Option<Resources>,
    /// Indices into [`Input::instance_types`] this pool may use; `None`: all of them.
    pub instance_types: Option<Vec<usize>>,
}

/// A node, or an in-flight NodeClaim, that already exists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExistingNode {
    /// Name (the Node's, or the NodeClaim's while it has no Node).
    pub name: String,
    /// Labels (`kubernetes.io/hostname` is implied from the name when absent).
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Allocatable less what bound pods request.
    pub available: Resources,
    /// Initialized nodes are tried before the rest.
    pub initialized: bool,
    /// Being deleted or disrupted: takes no pods, but its pods still count for topology.
    pub unschedulable: bool,
    /// An in-flight NodeClaim rather than a registered node (reported alike).
    pub in_flight: bool,
    /// DaemonSets (`namespace/name`) that already have a pod here.
    pub daemonsets: BTreeSet<String>,
    /// Host ports in use by bound pods.
    pub host_ports: Vec<HostPort>,
    /// Attach limits per CSI driver (from CSINode).
    pub volume_limits: BTreeMap<String, u32>,
    /// Volumes attached per CSI driver.
    pub volumes: BTreeMap<String, BTreeSet<String>>,
    /// Still inside its NodePool's `consolidateAfter` window: pending pods may go here,
    /// pods a consolidation moves ([`PendingPod::moving`]) may not.
    pub settling: bool,
    /// A disruption simulation removes it: its bound pods are the ones being placed again,
    /// so topology does not count them here (upstream leaves the pods it reschedules out
    /// of its counts).
    pub leaving: bool,
}

/// A pod already running on an existing node, as topology sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundPod {
    /// Namespace.
    pub namespace: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Index into [`Input::existing`].
    pub node: usize,
    /// Its required pod anti-affinity (blocks matching pods from its domains).
    pub anti_affinity: Vec<AffinityTerm>,
}

/// A DaemonSet's pod template, for per-node overhead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaemonSet {
    /// `namespace/name`.
    pub name: String,
    /// Effective requests of one pod.
    pub requests: Resources,
    /// `nodeSelector`.
    pub node_selector: Requirements,
    /// Required node-affinity terms (ORed).
    pub required_terms: Vec<Requirements>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Host ports.
    pub host_ports: Vec<HostPort>,
}

/// Upstream's `PREFERENCE_POLICY`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PreferencePolicy {
    /// Preferences are tried as requirements and relaxed one at a time.
    #[default]
    Respect,
    /// Preferences are dropped up front.
    Ignore,
}

/// Upstream's `MIN_VALUES_POLICY`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MinValuesPolicy {
    /// A NodeClaim that cannot meet minValues is not created.
    #[default]
    Strict,
    /// minValues are lowered to what is achievable.
    BestEffort,
}

/// Settings of one solve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Preference policy.
    pub preference_policy: PreferencePolicy,
    /// minValues policy.
    pub min_values_policy: MinValuesPolicy,
}

/// Everything one solve needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    /// Pending pods (including reschedulable pods of nodes being removed).
    pub pods: Vec<PendingPod>,
    /// NodePools that are ready.
    pub pools: Vec<Pool>,
    /// The instance-type catalog (shared: solves of one cluster reuse it).
    pub instance_types: std::sync::Arc<Vec<InstanceType>>,
    /// Existing nodes and in-flight NodeClaims.
    pub existing: Vec<ExistingNode>,
    /// Pods bound to existing nodes.
    pub bound: Vec<BoundPod>,
    /// DaemonSets.
    pub daemonsets: Vec<DaemonSet>,
    /// Settings.
    pub options: Options,
}

impl Input {
    /// Index in [`Input::existing`] by node (or in-flight claim) name.
    pub fn existing_index(&self) -> std::collections::BTreeMap<&str, usize> {
        self.existing
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect()
    }
}
