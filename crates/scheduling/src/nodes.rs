//! Existing capacity during a solve: each node's label requirements and what is left on it
//! (after the DaemonSet pods it still has to run), kept in a max-tree so a pod finds the
//! first node, in upstream's order, with room for it without visiting full nodes.

use std::collections::{BTreeSet, HashMap};

use karpenter_model::wellknown::labels;
use karpenter_model::{Op, Requirements, Resources, Taint, ValueSet};

use crate::dense::{Bitset, ResourceNames, Vector};
use crate::input::{DaemonSet, ExistingNode, HostPort, Input};
use crate::taints::tolerates;
use crate::well_known;

/// One existing node's working state.
#[derive(Debug, Clone)]
pub struct NodeState {
    /// Requirements from its labels (hostname implied), shared with the cache that made them.
    pub reqs: std::sync::Arc<Requirements>,
    /// Remaining resources.
    pub available: Vector,
    /// Host ports in use.
    pub ports: Vec<HostPort>,
    /// Attached volumes per driver.
    pub volumes: std::collections::BTreeMap<String, BTreeSet<String>>,
}

/// Label requirements of a node.
pub fn node_requirements(node: &ExistingNode) -> Requirements {
    let mut r = Requirements::new();
    for (k, v) in &node.labels {
        r.add_set(k, ValueSet::from_op(Op::In, std::slice::from_ref(v)));
    }
    if !r.has(labels::HOSTNAME) {
        r.add_set(
            labels::HOSTNAME,
            ValueSet::from_op(Op::In, std::slice::from_ref(&node.name)),
        );
    }
    r
}

/// Would `ds` run a pod on a node with these label requirements and taints?
pub fn daemonset_runs_on(ds: &DaemonSet, node: &Requirements, taints: &[Taint]) -> bool {
    if !tolerates(taints, &ds.tolerations, true) {
        return false;
    }
    if ds.required_terms.is_empty() {
        node.compatible_ok(&ds.node_selector, well_known)
    } else {
        ds.required_terms.iter().any(|t| {
            let mut r = ds.node_selector.clone();
            r.add_all(t);
            node.compatible_ok(&r, well_known)
        })
    }
}

/// What the DaemonSets that would run on `node` request together (whether or not their
/// pods are there yet).
pub fn daemonset_overhead(daemonsets: &[DaemonSet], node: &ExistingNode) -> Resources {
    let reqs = node_requirements(node);
    let mut total = Resources::new();
    for ds in daemonsets
        .iter()
        .filter(|ds| daemonset_runs_on(ds, &reqs, &node.taints))
    {
        karpenter_model::catalog::add_resources(&mut total, &ds.requests);
    }
    total
}

/// Working state of every existing node, and the order they are tried in (initialized
/// first, then by name).
pub fn build(input: &Input, names: &ResourceNames) -> (Vec<NodeState>, Vec<usize>) {
    build_with(input, names, &mut |_, node| {
        std::sync::Arc::new(node_requirements(node))
    })
}

/// [`build`] with each node's requirements from `reqs_of` (a cache, for repeated solves).
pub fn build_with(
    input: &Input,
    names: &ResourceNames,
    reqs_of: &mut dyn FnMut(usize, &ExistingNode) -> std::sync::Arc<Requirements>,
) -> (Vec<NodeState>, Vec<usize>) {
    let (mut states, order) = build_base(input, names, reqs_of);
    close_unschedulable(&mut states, input);
    (states, order)
}

/// Nodes marked unschedulable take nothing: every resource left is -1.
pub fn close_unschedulable(states: &mut [NodeState], input: &Input) {
    for (st, node) in states.iter_mut().zip(&input.existing) {
        if node.unschedulable {
            st.available.iter_mut().for_each(|a| *a = -1);
        }
    }
}

/// [`build_with`] as if no node were unschedulable (to be closed by
/// [`close_unschedulable`]): what repeated simulations over the same nodes share.
pub fn build_base(
    input: &Input,
    names: &ResourceNames,
    reqs_of: &mut dyn FnMut(usize, &ExistingNode) -> std::sync::Arc<Requirements>,
) -> (Vec<NodeState>, Vec<usize>) {
    let states = input
        .existing
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let reqs = reqs_of(i, node);
            let mut available = names.vector(&node.available);
            // DaemonSets that should run here but have no pod yet still claim their share
            for ds in &input.daemonsets {
                if !node.daemonsets.contains(&ds.name) && daemonset_runs_on(ds, &reqs, &node.taints)
                {
                    let need = names.vector(&ds.requests);
                    for (a, n) in available.iter_mut().zip(&need) {
                        *a = (*a - n).max(0);
                    }
                }
            }
            NodeState {
                reqs,
                available,
                ports: node.host_ports.clone(),
                volumes: node.volumes.clone(),
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..input.existing.len()).collect();
    order.sort_by(|&a, &b| {
        let (na, nb) = (&input.existing[a], &input.existing[b]);
        nb.initialized
            .cmp(&na.initialized)
            .then_with(|| na.name.cmp(&nb.name))
    });
    (states, order)
}

/// Per-resource maxima over ranges of nodes (in try order): a node can only take a pod if
/// every resource the pod requests fits, so ranges whose maximum is too small are skipped.
#[derive(Debug, Clone)]
pub struct MaxTree {
    dims: usize,
    size: usize,
    max: Vec<i64>,
}

impl MaxTree {
    /// A tree over `leaves` (one vector per position).
    pub fn new(leaves: &[&Vector], dims: usize) -> Self {
        let size = leaves.len().next_power_of_two().max(1);
        let mut max = vec![-1; 2 * size * dims];
        for (i, v) in leaves.iter().enumerate() {
            max[(size + i) * dims..(size + i + 1) * dims].copy_from_slice(v);
        }
        let mut t = MaxTree { dims, size, max };
        for n in (1..size).rev() {
            t.pull(n);
        }
        t
    }

    fn pull(&mut self, n: usize) {
        for d in 0..self.dims {
            self.max[n * self.dims + d] =
                self.max[2 * n * self.dims + d].max(self.max[(2 * n + 1) * self.dims + d]);
        }
    }

    /// Replace the vector at position `i`.
    pub fn update(&mut self, i: usize, v: &[i64]) {
        let mut n = self.size + i;
        self.max[n * self.dims..(n + 1) * self.dims].copy_from_slice(v);
        while n > 1 {
            n /= 2;
            self.pull(n);
        }
    }

    fn room(&self, n: usize, need: &[i64]) -> bool {
        need.iter()
            .enumerate()
            .all(|(d, q)| *q <= 0 || self.max[n * self.dims + d] >= *q)
    }

    /// The first position at or after `from` whose maximum covers `need`.
    pub fn first_fit(&self, from: usize, need: &[i64]) -> Option<usize> {
        self.search(1, 0, self.size, from, need)
    }

    fn search(&self, n: usize, lo: usize, hi: usize, from: usize, need: &[i64]) -> Option<usize> {
        if hi <= from || !self.room(n, need) {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.search(2 * n, lo, mid, from, need)
            .or_else(|| self.search(2 * n + 1, mid, hi, from, need))
    }
}

/// A pod's static view of nodes: its requirements and tolerations (what never changes
/// during a solve), for caching which nodes it could ever use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    /// Node requirements the pod is tried with.
    pub reqs: Requirements,
    /// Tolerations.
    pub tolerations: Vec<karpenter_model::Toleration>,
    /// PreferNoSchedule taints tolerated.
    pub tolerate_prefer: bool,
}

/// Search structure over existing nodes: the global max-tree, plus lazily built trees per
/// (pod signature, zone) holding only the nodes such a pod could use in that zone, so a pod
/// skips incompatible or full nodes without visiting them. Results equal a scan in order.
pub struct NodeIndex {
    dims: usize,
    /// Node index per position.
    pub order: Vec<usize>,
    zone_of: Vec<usize>,
    zones: usize,
    global: MaxTree,
    leaves: Vec<Vector>,
    signatures: HashMap<Signature, usize>,
    members: Vec<Bitset>,
    trees: HashMap<(usize, usize), MaxTree>,
}

/// Most (signature, zone) trees kept (each holds a vector per node).
const MAX_TREES: usize = 256;

impl NodeIndex {
    /// Index `nodes` in try order; `zone_of_node` gives each node's zone id (`zones` when
    /// it has none).
    pub fn new(
        nodes: &[NodeState],
        order: Vec<usize>,
        zone_of_node: &[usize],
        zones: usize,
        dims: usize,
    ) -> Self {
        let leaves: Vec<Vector> = order.iter().map(|&n| nodes[n].available.clone()).collect();
        let refs: Vec<&Vector> = leaves.iter().collect();
        NodeIndex {
            dims,
            global: MaxTree::new(&refs, dims),
            zone_of: order.iter().map(|&n| zone_of_node[n]).collect(),
            order,
            zones,
            leaves,
            signatures: HashMap::new(),
            members: Vec::new(),
            trees: HashMap::new(),
        }
    }

    /// Number of positions.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// The id of a signature, computing which positions it is statically compatible with.
    pub fn signature(&mut self, sig: &Signature, input: &Input, nodes: &[NodeState]) -> usize {
        if let Some(&id) = self.signatures.get(sig) {
            return id;
        }
        let mut members = Bitset::new(self.order.len());
        for (pos, &n) in self.order.iter().enumerate() {
            if tolerates(
                &input.existing[n].taints,
                &sig.tolerations,
                sig.tolerate_prefer,
            ) && nodes[n].reqs.compatible_ok(&sig.reqs, well_known)
            {
                members.insert(pos);
            }
        }
        self.members.push(members);
        self.signatures.insert(sig.clone(), self.members.len() - 1);
        self.members.len() - 1
    }

    fn tree(&mut self, sig: usize, zone: usize) -> Option<&MaxTree> {
        if !self.trees.contains_key(&(sig, zone)) {
            if self.trees.len() >= MAX_TREES {
                return None;
            }
            let none = vec![-1; self.dims];
            let refs: Vec<&Vector> = (0..self.order.len())
                .map(|pos| {
                    if self.members[sig].contains(pos) && self.zone_of[pos] == zone {
                        &self.leaves[pos]
                    } else {
                        &none
                    }
                })
                .collect();
            let t = MaxTree::new(&refs, self.dims);
            self.trees.insert((sig, zone), t);
        }
        self.trees.get(&(sig, zone))
    }

    /// The first position at or after `from`, among nodes of signature `sig` in `zones`
    /// (all zones when `None`; nodes without a zone always), with room for `need`.
    pub fn first_fit(
        &mut self,
        sig: usize,
        zones: Option<&[usize]>,
        from: usize,
        need: &[i64],
    ) -> Option<usize> {
        let all: Vec<usize>;
        let zones = match zones {
            Some(z) => z,
            None => {
                all = (0..self.zones).collect();
                &all
            }
        };
        let mut best: Option<usize> = None;
        let no_zone = self.zones;
        for &z in zones.iter().chain(std::iter::once(&no_zone)) {
            match self.tree(sig, z) {
                Some(t) => {
                    if let Some(p) = t.first_fit(from, need) {
                        best = Some(best.map_or(p, |b| b.min(p)));
                    }
                }
                None => return self.scan(sig, zones, from, need),
            }
        }
        best
    }

    fn scan(&self, sig: usize, zones: &[usize], from: usize, need: &[i64]) -> Option<usize> {
        let mut pos = from;
        while let Some(p) = self.global.first_fit(pos, need) {
            let z = self.zone_of[p];
            if self.members[sig].contains(p) && (z == self.zones || zones.contains(&z)) {
                return Some(p);
            }
            pos = p + 1;
        }
        None
    }

    /// Position `pos` now has `available` left.
    pub fn update(&mut self, pos: usize, available: &[i64]) {
        self.leaves[pos].copy_from_slice(available);
        self.global.update(pos, available);
        let zone = self.zone_of[pos];
        for ((sig, z), t) in self.trees.iter_mut() {
            if *z == zone && self.members[*sig].contains(pos) {
                t.update(pos, available);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_tree_finds_first_fitting_position() {
        let leaves: Vec<Vector> = vec![vec![1, 5], vec![4, 1], vec![4, 4], vec![9, 9]];
        let refs: Vec<&Vector> = leaves.iter().collect();
        let mut t = MaxTree::new(&refs, 2);
        assert_eq!(t.first_fit(0, &[3, 3]), Some(2));
        assert_eq!(t.first_fit(3, &[3, 3]), Some(3));
        assert_eq!(t.first_fit(0, &[10, 0]), None);
        t.update(2, &[0, 0]);
        assert_eq!(t.first_fit(0, &[3, 3]), Some(3));
    }
}
