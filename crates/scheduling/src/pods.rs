//! A pending pod's working state during a solve: the requirements it is tried with
//! (preferences included until relaxed), its topology groups, and upstream's relaxation
//! order (reference 2.4): first required node-selector term (while more than one remain),
//! heaviest preferred pod affinity, heaviest preferred pod anti-affinity, heaviest preferred
//! node affinity, one ScheduleAnyway spread, then tolerating PreferNoSchedule taints.

use std::collections::{BTreeMap, HashMap};

use karpenter_model::Requirements;

use crate::dense::{ResourceNames, Vector};
use crate::input::{PendingPod, PreferencePolicy, Weighted};
use crate::topology::{Kind, NodeFilter, Topology};

/// One pod's state.
#[derive(Debug, Clone, Default)]
pub struct PodState {
    /// Node selector and the active required term: what topology counting uses.
    pub strict: Requirements,
    /// `strict` plus the active preferred node-affinity term: what nodes must meet.
    pub reqs: Requirements,
    /// Requests, dense.
    pub requests: Vector,
    /// PreferNoSchedule taints are tolerated (relaxed, or preferences ignored).
    pub tolerate_prefer: bool,
    required_terms: Vec<Requirements>,
    preferred_terms: Vec<Requirements>,
    spreads: Vec<(bool, usize)>,
    affinity: Vec<usize>,
    preferred_affinity: Vec<usize>,
    anti_affinity: Vec<usize>,
    preferred_anti_affinity: Vec<usize>,
    /// Inverse groups of its required anti-affinity terms.
    pub inverse_owned: Vec<usize>,
    /// Owned groups that select the pod itself (sorted).
    pub selected_by: Vec<usize>,
    /// Inverse groups whose terms select the pod (sorted).
    pub selected_by_inverse: Vec<usize>,
    /// Owned groups, in constraint order.
    pub owned: Vec<usize>,
    /// Cached static signature id for existing-node search (cleared by relaxation).
    pub signature: Option<usize>,
}

fn by_weight<T: Clone>(list: &[Weighted<T>]) -> Vec<T> {
    let mut sorted: Vec<&Weighted<T>> = list.iter().collect();
    sorted.sort_by_key(|w| std::cmp::Reverse(w.weight));
    sorted.into_iter().map(|w| w.term.clone()).collect()
}

impl PodState {
    fn rebuild(&mut self, node_selector: &Requirements) {
        self.signature = None;
        self.strict = node_selector.clone();
        if let Some(first) = self.required_terms.first() {
            self.strict.add_all(first);
        }
        self.reqs = self.strict.clone();
        if let Some(first) = self.preferred_terms.first() {
            self.reqs.add_all(first);
        }
        self.owned = self
            .spreads
            .iter()
            .map(|(_, g)| *g)
            .chain(self.affinity.iter().copied())
            .chain(self.preferred_affinity.iter().copied())
            .chain(self.anti_affinity.iter().copied())
            .chain(self.preferred_anti_affinity.iter().copied())
            .collect();
    }

    /// Its required (DoNotSchedule) spread groups, which relaxation never drops.
    pub fn required_spreads(&self) -> impl Iterator<Item = usize> + '_ {
        self.spreads
            .iter()
            .filter(|(anyway, _)| !anyway)
            .map(|(_, g)| *g)
    }

    /// Its required pod anti-affinity groups.
    pub fn required_anti_affinity(&self) -> &[usize] {
        &self.anti_affinity
    }

    /// Is the pod selected by owned group `g`?
    pub fn selects_self(&self, g: usize) -> bool {
        self.selected_by.binary_search(&g).is_ok()
    }

    /// Relax one preference; `false` when nothing is left to relax.
    pub fn relax(&mut self, pod: &PendingPod, prefer_taints_exist: bool) -> bool {
        let done = if self.required_terms.len() > 1 {
            self.required_terms.remove(0);
            true
        } else if !self.preferred_affinity.is_empty() {
            self.preferred_affinity.remove(0);
            true
        } else if !self.preferred_anti_affinity.is_empty() {
            self.preferred_anti_affinity.remove(0);
            true
        } else if !self.preferred_terms.is_empty() {
            self.preferred_terms.remove(0);
            true
        } else if let Some(i) = self.spreads.iter().position(|(anyway, _)| *anyway) {
            self.spreads.remove(i);
            true
        } else if prefer_taints_exist && !self.tolerate_prefer {
            self.tolerate_prefer = true;
            true
        } else {
            false
        };
        if done {
            self.rebuild(&pod.node_selector);
        }
        done
    }
}

fn spread_filter(pod: &PendingPod, honor_affinity: bool, honor_taints: bool) -> NodeFilter {
    let terms = if !honor_affinity {
        Vec::new()
    } else if pod.required_terms.is_empty() {
        if pod.node_selector.keys().next().is_some() {
            vec![pod.node_selector.clone()]
        } else {
            Vec::new()
        }
    } else {
        pod.required_terms
            .iter()
            .map(|t| {
                let mut r = pod.node_selector.clone();
                r.add_all(t);
                r
            })
            .collect()
    };
    NodeFilter {
        honor_affinity,
        terms,
        tolerations: honor_taints.then(|| pod.tolerations.clone()),
    }
}

/// Build every pod's state, creating the topology groups in pod order.
pub fn build(
    pods: &[PendingPod],
    names: &ResourceNames,
    topology: &mut Topology,
    policy: PreferencePolicy,
) -> Vec<PodState> {
    let respect = policy == PreferencePolicy::Respect;
    let mut states: Vec<PodState> = pods
        .iter()
        .map(|pod| {
            let spreads = pod
                .spreads
                .iter()
                .filter(|s| respect || !s.schedule_anyway)
                .map(|s| {
                    let filter = spread_filter(pod, s.honor_node_affinity, s.honor_node_taints);
                    (
                        s.schedule_anyway,
                        topology.spread_group(s, &pod.namespace, filter).0,
                    )
                })
                .collect();
            let mut group = |kind, t| topology.term_group(kind, t).0;
            let affinity = pod
                .affinity
                .iter()
                .map(|t| group(Kind::Affinity, t))
                .collect();
            let anti_affinity = pod
                .anti_affinity
                .iter()
                .map(|t| group(Kind::AntiAffinity, t))
                .collect();
            let (preferred_affinity, preferred_anti_affinity, preferred_terms) = if respect {
                (
                    by_weight(&pod.preferred_affinity)
                        .iter()
                        .map(|t| group(Kind::Affinity, t))
                        .collect(),
                    by_weight(&pod.preferred_anti_affinity)
                        .iter()
                        .map(|t| group(Kind::AntiAffinity, t))
                        .collect(),
                    by_weight(&pod.preferred_terms),
                )
            } else {
                (Vec::new(), Vec::new(), Vec::new())
            };
            let inverse_owned = pod
                .anti_affinity
                .iter()
                .map(|t| topology.inverse_group(t).0)
                .collect();
            let mut s = PodState {
                requests: names.vector(&pod.requests),
                tolerate_prefer: !respect,
                required_terms: pod.required_terms.clone(),
                preferred_terms,
                spreads,
                affinity,
                preferred_affinity,
                anti_affinity,
                preferred_anti_affinity,
                inverse_owned,
                ..PodState::default()
            };
            s.rebuild(&pod.node_selector);
            s
        })
        .collect();
    let owned = SelectorIndex::new(topology.groups.iter());
    let inverse = SelectorIndex::new(topology.inverse.iter());
    for (pod, s) in pods.iter().zip(&mut states) {
        s.selected_by = owned.selecting(&pod.namespace, &pod.labels, |g| {
            topology.groups[g].selects(&pod.namespace, &pod.labels)
        });
        s.selected_by_inverse = inverse.selecting(&pod.namespace, &pod.labels, |g| {
            topology.inverse[g].selects(&pod.namespace, &pod.labels)
        });
    }
    states
}

/// Finds the groups that may select a pod without testing every group: groups are indexed
/// by one of their `matchLabels` pairs; groups without one are always tested.
pub struct SelectorIndex {
    by_label: HashMap<String, HashMap<String, Vec<usize>>>,
    scan: Vec<usize>,
}

impl SelectorIndex {
    /// Index groups given as (namespaces, group).
    pub fn new<'a>(groups: impl Iterator<Item = &'a crate::topology::Group>) -> Self {
        let mut by_label: HashMap<String, HashMap<String, Vec<usize>>> = HashMap::new();
        let mut scan = Vec::new();
        for (i, g) in groups.enumerate() {
            match g.first_label() {
                Some((k, v)) => by_label
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default()
                    .push(i),
                None => scan.push(i),
            }
        }
        SelectorIndex { by_label, scan }
    }

    /// Groups (sorted) that `test` confirms, among those that may select the labels.
    pub fn selecting(
        &self,
        _namespace: &str,
        labels: &BTreeMap<String, String>,
        test: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let mut out: Vec<usize> = self.scan.iter().copied().filter(|&g| test(g)).collect();
        for (k, v) in labels {
            if let Some(list) = self.by_label.get(k).and_then(|m| m.get(v)) {
                out.extend(list.iter().copied().filter(|&g| test(g)));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
