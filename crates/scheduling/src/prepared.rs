//! Solves that share their static half. What a solve derives from the catalog, the NodePools
//! and the DaemonSets alone (dense resource names, the types' requirements and allocatable,
//! each pool's types and DaemonSet overhead, the pools' topology domains), and each existing
//! node's label requirements, does not change between the many simulations of a disruption
//! decision, nor between most provisioning loops, so it is built once here and reused. A
//! prepared solve returns exactly what [`crate::solve`] returns for the same input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use karpenter_model::Resources;

use karpenter_model::Requirements;

use crate::dense::ResourceNames;
use crate::finish;
use crate::input::{DaemonSet, ExistingNode, Input, Pool};
use crate::nodes::{self, node_requirements};
use crate::plan::Plan;
use crate::pools::{self, PoolState};
use crate::solve::{Solver, add_node_domains, domains, learn_names};
use crate::topology::{DomainSources, Domains};
use crate::types::Types;

/// The static half of a solve, built from one input and valid for every input with the same
/// instance types, NodePools and DaemonSets (pods and existing nodes may differ).
#[derive(Clone)]
pub struct Prepared {
    names: ResourceNames,
    types: Types<'static>,
    pools: Vec<PoolState>,
    domains: DomainSources,
    type_names: Vec<String>,
    pools_in: Vec<Pool>,
    daemonsets: Vec<DaemonSet>,
    node_reqs: BTreeMap<String, (BTreeMap<String, String>, Arc<Requirements>)>,
    /// The last solve's existing nodes by position (name, labels, requirements): the
    /// simulations of one decision see the same nodes in the same order, so a positional
    /// comparison finds them without a lookup or a hash.
    last_nodes: Vec<(String, BTreeMap<String, String>, Arc<Requirements>)>,
    /// The domains with `last_nodes`' labels added.
    full_domains: Option<Arc<Domains>>,
    /// The last epoch handed out by [`Prepared::fresh_epoch`].
    epoch: u64,
    /// The existing nodes' working state as built for an epoch, as if none were
    /// unschedulable, with its try order and domains.
    by_epoch: Option<EpochNodes>,
}

/// The nodes built for one epoch of an input.
#[derive(Clone)]
struct EpochNodes {
    epoch: u64,
    count: usize,
    states: Vec<nodes::NodeState>,
    order: Vec<usize>,
    domains: Arc<Domains>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("types", &self.type_names.len())
            .field("pools", &self.pools_in.len())
            .finish()
    }
}

impl Prepared {
    /// Prepare from `input`; `requests` are the resource lists of every pod later solves
    /// may place (a pod asking for a resource not seen here falls back to a full solve).
    pub fn new<'r>(input: &Input, requests: impl Iterator<Item = &'r Resources>) -> Self {
        let names = learn_names(input, requests);
        // The types borrow no catalog here: only the shared base and the value-keyed
        // caches are kept, and every solve rebinds them to its own input's catalog.
        let mut types = Types::new(&input.instance_types, &names);
        let pools = pools::build(input, &names, &mut types);
        let domains = domains(input, &types, &pools);
        Prepared {
            names,
            types: types.lend(&[]),
            pools,
            domains,
            type_names: input
                .instance_types
                .iter()
                .map(|t| t.name.clone())
                .collect(),
            pools_in: input.pools.iter().map(without_limits).collect(),
            daemonsets: input.daemonsets.clone(),
            node_reqs: BTreeMap::new(),
            last_nodes: Vec::new(),
            full_domains: None,
            epoch: 0,
            by_epoch: None,
        }
    }

    /// Was this prepared from an input with `input`'s catalog, NodePools (limits aside) and
    /// DaemonSets, and does it know every resource `input`'s pods request?
    pub fn fits(&self, input: &Input) -> bool {
        input.instance_types.len() == self.type_names.len()
            && input
                .instance_types
                .iter()
                .zip(&self.type_names)
                .all(|(t, n)| &t.name == n)
            && input.pools.len() == self.pools_in.len()
            && input
                .pools
                .iter()
                .zip(&self.pools_in)
                .all(|(p, q)| same_but_limits(p, q))
            && input.daemonsets == self.daemonsets
            && input
                .pods
                .iter()
                .flat_map(|p| p.requests.keys())
                .all(|k| self.names.slot(k).is_some())
    }

    /// Keep `prepared` if it fits `input`, else prepare anew (with `requests` as in
    /// [`Prepared::new`]).
    pub fn refresh<'r>(
        prepared: Option<Prepared>,
        input: &Input,
        requests: impl Iterator<Item = &'r Resources> + Clone,
    ) -> Prepared {
        match prepared {
            Some(p)
                if p.fits(input)
                    && requests
                        .clone()
                        .flat_map(|r| r.keys())
                        .all(|k| p.names.slot(k).is_some()) =>
            {
                p
            }
            _ => Prepared::new(input, requests),
        }
    }

    /// Solve `input` (as [`crate::solve`] would), reusing the static half when it fits.
    pub fn solve(&mut self, input: &Input) -> Plan {
        self.solve_inner(input, true, None)
    }

    /// [`Prepared::solve`] for what-if simulations, which look at placements only: the
    /// plan's `lower_bound` is left at 0 rather than computed.
    pub fn simulate(&mut self, input: &Input) -> Plan {
        self.solve_inner(input, false, None)
    }

    /// A token naming the current state of a caller's input: the caller promises that
    /// while it passes the same token, the input's existing nodes change in nothing but
    /// their `unschedulable` flags (and takes a fresh token whenever they do change).
    pub fn fresh_epoch(&mut self) -> u64 {
        self.epoch += 1;
        self.epoch
    }

    /// [`Prepared::simulate`] for an input in `epoch` ([`Prepared::fresh_epoch`]): the
    /// existing nodes are built once per epoch, and each simulation only closes the
    /// unschedulable ones. The plan is the one [`Prepared::simulate`] gives.
    pub fn simulate_in(&mut self, input: &Input, epoch: u64) -> Plan {
        self.solve_inner(input, false, Some(epoch))
    }

    /// The existing nodes' working state, as if none were unschedulable, reusing the
    /// requirements of nodes seen before; notes whether the nodes are the last solve's.
    fn build_nodes(&mut self, input: &Input) -> (Vec<nodes::NodeState>, Vec<usize>) {
        let cache = &mut self.node_reqs;
        let last = &mut self.last_nodes;
        let mut same = last.len() == input.existing.len();
        let built = nodes::build_base(input, &self.names, &mut |i, node: &ExistingNode| {
            if let Some((name, labels, reqs)) = last.get(i)
                && *name == node.name
                && *labels == node.labels
            {
                return Arc::clone(reqs);
            }
            same = false;
            let reqs = match cache.get(&node.name) {
                Some((labels, reqs)) if labels == &node.labels => Arc::clone(reqs),
                _ => {
                    let reqs = Arc::new(node_requirements(node));
                    cache.insert(node.name.clone(), (node.labels.clone(), Arc::clone(&reqs)));
                    reqs
                }
            };
            let entry = (node.name.clone(), node.labels.clone(), Arc::clone(&reqs));
            match last.get_mut(i) {
                Some(slot) => *slot = entry,
                None => last.push(entry),
            }
            reqs
        });
        self.last_nodes.truncate(input.existing.len());
        if self.node_reqs.len() > 2 * input.existing.len() + 64 {
            let live: BTreeSet<&str> = input.existing.iter().map(|n| n.name.as_str()).collect();
            self.node_reqs
                .retain(|name, _| live.contains(name.as_str()));
        }
        if !same {
            self.full_domains = None;
        }
        built
    }

    /// The domains with the existing nodes' labels added (kept while the nodes are the
    /// last solve's).
    fn domains_for(&mut self, input: &Input) -> Arc<Domains> {
        match &self.full_domains {
            Some(d) => Arc::clone(d),
            None => {
                let mut d = self.domains.clone();
                add_node_domains(input, &mut d);
                let d = Arc::new(Domains::new(d));
                self.full_domains = Some(Arc::clone(&d));
                d
            }
        }
    }

    fn solve_inner(&mut self, input: &Input, bound: bool, epoch: Option<u64>) -> Plan {
        if !self.fits(input) {
            let mut s = Solver::new(input);
            s.lower_bound = bound;
            s.run();
            return finish::plan(&mut s);
        }
        let types = self.types.lend(&input.instance_types);
        let mut pools = self.pools.clone();
        for (state, pool) in pools.iter_mut().zip(&input.pools) {
            state.set_limits(pool, &self.names);
        }
        let hit = self
            .by_epoch
            .as_ref()
            .filter(|b| epoch == Some(b.epoch) && b.count == input.existing.len());
        let (built, all_domains) = match hit {
            Some(b) => {
                let mut states = b.states.clone();
                nodes::close_unschedulable(&mut states, input);
                ((states, b.order.clone()), Arc::clone(&b.domains))
            }
            None => {
                let (mut states, order) = self.build_nodes(input);
                let domains = self.domains_for(input);
                if let Some(e) = epoch {
                    self.by_epoch = Some(EpochNodes {
                        epoch: e,
                        count: input.existing.len(),
                        states: states.clone(),
                        order: order.clone(),
                        domains: Arc::clone(&domains),
                    });
                }
                nodes::close_unschedulable(&mut states, input);
                ((states, order), domains)
            }
        };
        let mut s = Solver::from_parts(input, self.names.clone(), types, pools, all_domains, built);
        s.lower_bound = bound;
        s.run();
        let plan = finish::plan(&mut s);
        self.types.absorb(s.types);
        plan
    }
}

fn without_limits(p: &Pool) -> Pool {
    Pool {
        limits: None,
        ..p.clone()
    }
}

fn same_but_limits(a: &Pool, b: &Pool) -> bool {
    // destructured so that a new field cannot be forgotten here
    let Pool {
        name,
        weight,
        requirements,
        taints,
        limits: _,
        instance_types,
    } = a;
    *name == b.name
        && *weight == b.weight
        && *requirements == b.requirements
        && *taints == b.taints
        && *instance_types == b.instance_types
}
