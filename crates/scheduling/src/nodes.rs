//! Existing capacity during a solve: each node's label requirements and what is left on it
//! (after the DaemonSet pods it still has to run), kept in a max-tree so a pod finds the
//! first node, in upstream's order, with room for it without visiting full nodes.

use std::collections::BTreeSet;

use karpenter_model::wellknown::labels;
use karpenter_model::{Op, Requirements, ValueSet};

use crate::dense::{ResourceNames, Vector};
use crate::input::{ExistingNode, HostPort, Input};
use crate::taints::tolerates;
use crate::well_known;

/// One existing node's working state.
#[derive(Debug, Clone)]
pub struct NodeState {
    /// Requirements from its labels (hostname implied).
    pub reqs: Requirements,
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

/// Working state of every existing node, and the order they are tried in (initialized
/// first, then by name).
pub fn build(input: &Input, names: &ResourceNames) -> (Vec<NodeState>, Vec<usize>) {
    let states = input
        .existing
        .iter()
        .map(|node| {
            let reqs = node_requirements(node);
            let mut available = names.vector(&node.available);
            // DaemonSets that should run here but have no pod yet still claim their share
            for ds in &input.daemonsets {
                if node.daemonsets.contains(&ds.name)
                    || !tolerates(&node.taints, &ds.tolerations, true)
                {
                    continue;
                }
                let fits_terms = if ds.required_terms.is_empty() {
                    reqs.compatible(&ds.node_selector, well_known).is_ok()
                } else {
                    ds.required_terms.iter().any(|t| {
                        let mut r = ds.node_selector.clone();
                        r.add_all(t);
                        reqs.compatible(&r, well_known).is_ok()
                    })
                };
                if fits_terms {
                    let need = names.vector(&ds.requests);
                    for (a, n) in available.iter_mut().zip(&need) {
                        *a = (*a - n).max(0);
                    }
                }
            }
            if node.unschedulable {
                available.iter_mut().for_each(|a| *a = -1);
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
