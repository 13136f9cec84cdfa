//! One solve, as upstream's `Scheduler.Solve` (reference 2.3-2.5): pods in first-fit-
//! decreasing order (ours: pods that need a node each first, then by the larger of CPU and
//! weighed memory, where upstream sorts by CPU, then memory); each tries existing nodes
//! (initialized first), then the NodeClaims of this solve (fewest pods first), then a new
//! NodeClaim from each NodePool in weight order;
//! on failure one preference is relaxed and the pod retried; a pod that still fails goes to
//! the back of the queue, and the solve ends when a full pass makes no progress.
//!
//! Nothing here has a timeout: every pod is decided. The hot loop avoids strings; reasons
//! are formatted only for NodePool failures.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound::{Excluded, Unbounded};

use karpenter_model::wellknown::{aws_labels, labels};
use karpenter_model::{Op, Requirement, Requirements, ValueSet};

use crate::dense::{self, Bitset, ResourceNames, Vector};
use crate::input::{HostPort, Input, MinValuesPolicy, PendingPod};
use crate::nodes::{self, NodeIndex, NodeState, Signature};
use crate::plan::Plan;
use crate::pods::{self, PodState};
use crate::pools::{self, PoolState};
use crate::taints::{tolerates, untolerated};
use crate::topology::{DomainSources, Domains, GroupRef, Topology, TopologyError};
use crate::types::{Types, offering_ok};
use crate::{explain, finish, well_known};

/// The median memory (bytes) per vCPU of the catalog's instance types (4 GiB when it has
/// none): how many bytes of a pod's memory request weigh as much as a millicore when the
/// solve orders pods by their larger request.
fn memory_per_cpu(types: &[karpenter_model::InstanceType]) -> i64 {
    let mut ratios: Vec<i64> = types
        .iter()
        .filter_map(|t| {
            let cpu = t.capacity.get("cpu")?.millis();
            let mem = t.capacity.get("memory")?.millis();
            (cpu > 0).then(|| i64::try_from(mem / cpu).unwrap_or(i64::MAX))
        })
        .collect();
    ratios.sort_unstable();
    ratios
        .get(ratios.len() / 2)
        .copied()
        .unwrap_or(4 << 30)
        .max(1)
}

/// A NodeClaim opened in this solve.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Index of its NodePool.
    pub pool: usize,
    /// Hostname slot.
    pub slot: usize,
    /// Requirements (with the placeholder hostname).
    pub reqs: Requirements,
    /// Types its requirements allow (resources not considered).
    pub types: Bitset,
    /// Of those, the ones its pods fit, with their price, cheapest first (ties by name).
    pub by_price: Vec<(f64, usize)>,
    /// Requests of its pods.
    pub used: Vector,
    /// Largest effective allocatable among the candidates, per resource.
    pub max_eff: Vector,
    /// Its pods.
    pub pods: Vec<usize>,
    /// Host ports of its pods.
    pub ports: Vec<HostPort>,
    /// Price of the cheapest type its pods fit.
    pub price: f64,
}

/// A NodeClaim that can take a pod: narrowed requirements and types (when they change) and
/// the price increase.
struct ClaimFit {
    reqs: Option<Requirements>,
    types: Option<Bitset>,
    increase: f64,
}

/// A NodeClaim a pool can open for a pod.
struct NewClaim {
    reqs: Requirements,
    types: Bitset,
    /// The capacity reservation it takes one instance of.
    reservation: Option<String>,
}

/// Why a pod found no place; `reserved` failures are neither relaxed nor retried on
/// lower-weight pools.
struct Failure {
    message: Option<String>,
    reserved: bool,
}

/// How many accepting NodeClaims a pod compares when none has room without growing.
const CHOICES: usize = 8;

/// Where a pod went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Existing node index.
    Node(usize),
    /// NodeClaim index.
    Claim(usize),
}

/// The state of one solve.
pub struct Solver<'a> {
    pub(crate) input: &'a Input,
    pub(crate) names: ResourceNames,
    pub(crate) types: Types<'a>,
    pub(crate) pools: Vec<PoolState>,
    pool_order: Vec<usize>,
    prefer_taints: bool,
    nodes: Vec<NodeState>,
    index: NodeIndex,
    pub(crate) topology: Topology,
    pub(crate) pods: Vec<PodState>,
    pub(crate) claims: Vec<Claim>,
    by_size: BTreeSet<(usize, usize)>,
    fit_from: HashMap<(Vector, usize, Option<Vec<usize>>), usize>,
    reservations: BTreeMap<String, u32>,
    pub(crate) placed: Vec<Option<Place>>,
    pub(crate) errors: Vec<Option<String>>,
    /// Compute the plan's lower bound (what-if simulations skip it).
    pub(crate) lower_bound: bool,
}

/// Decide placements for `input.pods`.
pub fn solve(input: &Input) -> Plan {
    let mut s = Solver::new(input);
    s.run();
    finish::plan(&mut s)
}

/// Resource names of a solve: the well-known three, then pods', DaemonSets', the catalog's
/// and `more`.
pub(crate) fn learn_names<'r>(
    input: &Input,
    more: impl Iterator<Item = &'r karpenter_model::Resources>,
) -> ResourceNames {
    let mut names = ResourceNames::default();
    for r in ["cpu", "memory", "pods"] {
        names.learn(&[(r.to_string(), karpenter_model::Quantity::ZERO)].into());
    }
    input.pods.iter().for_each(|p| names.learn(&p.requests));
    input
        .daemonsets
        .iter()
        .for_each(|d| names.learn(&d.requests));
    input
        .instance_types
        .iter()
        .for_each(|t| names.learn(&t.capacity));
    more.for_each(|r| names.learn(r));
    names
}

/// Add the existing nodes' labels to the domains (reference 2.8).
pub(crate) fn add_node_domains(input: &Input, out: &mut DomainSources) {
    for node in &input.existing {
        let taints = out.taint_id(&node.taints);
        for (k, v) in &node.labels {
            out.insert(k, v, taints);
        }
    }
}

/// Key/value domains the NodePools offer (reference 2.8); existing nodes' labels are
/// added by [`add_node_domains`].
pub(crate) fn domains(input: &Input, types: &Types<'_>, pools: &[PoolState]) -> DomainSources {
    let mut out = DomainSources::default();
    for (pool, ps) in input.pools.iter().zip(pools) {
        // a pool's values first, then each under the pool's taints once
        let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut insert = |r: &Requirements| {
            for key in r.keys() {
                if let Some(set) = r.get(key)
                    && !set.complement
                {
                    values
                        .entry(key.to_string())
                        .or_default()
                        .extend(set.values.iter().cloned());
                }
            }
        };
        insert(&pool.requirements);
        for i in ps.types.iter() {
            let mut r = pool.requirements.clone();
            r.add_all(&types.base.reqs[i]);
            insert(&r);
        }
        let taints = out.taint_id(&pool.taints);
        for (k, vs) in &values {
            for v in vs {
                out.insert(k, v, taints);
            }
        }
    }
    out
}

fn ports_conflict(a: &[HostPort], b: &[HostPort]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.conflicts(y)))
}

/// Narrow `reqs` (lazily cloned from `base`) by every topology group the pod owns or is
/// selected by as an inverse anti-affinity target.
fn constrain(
    topology: &Topology,
    st: &PodState,
    slot: usize,
    base: &Requirements,
    reqs: &mut Option<Requirements>,
) -> Result<(), TopologyError> {
    let owned = st
        .owned
        .iter()
        .map(|&g| (GroupRef::Owned(g), st.selects_self(g)));
    let inverse = st
        .selected_by_inverse
        .iter()
        .map(|&g| (GroupRef::Inverse(g), true));
    for (r, self_sel) in owned.chain(inverse) {
        if topology.is_hostname(r) {
            if !topology.slot_ok(r, slot, self_sel) {
                return Err(TopologyError { group: r });
            }
            continue;
        }
        let key = &topology.group(r).key;
        let node_set = reqs.as_ref().unwrap_or(base).get(key);
        let pod_domains = topology.pod_domains(r, &st.strict);
        if let Some(narrower) = topology.narrow(r, pod_domains, self_sel, node_set)? {
            reqs.get_or_insert_with(|| base.clone())
                .add_set(key, narrower);
        }
    }
    Ok(())
}

/// The cheap part of [`constrain`]: hostname groups only (one lookup each).
fn hostname_ok(topology: &Topology, st: &PodState, slot: usize) -> bool {
    let owned = st
        .owned
        .iter()
        .map(|&g| (GroupRef::Owned(g), st.selects_self(g)));
    let inverse = st
        .selected_by_inverse
        .iter()
        .map(|&g| (GroupRef::Inverse(g), true));
    owned
        .chain(inverse)
        .all(|(r, self_sel)| !topology.is_hostname(r) || topology.slot_ok(r, slot, self_sel))
}

/// Add the first volume alternative compatible with the requirements.
fn add_volumes(pod: &PendingPod, base: &Requirements, reqs: &mut Option<Requirements>) -> bool {
    if pod.volume_requirements.is_empty() {
        return true;
    }
    let current = reqs.as_ref().unwrap_or(base);
    let Some(alt) = pod
        .volume_requirements
        .iter()
        .find(|alt| current.compatible_ok(alt, well_known))
    else {
        return false;
    };
    reqs.get_or_insert_with(|| base.clone()).add_all(alt);
    true
}

/// Placeholder hostname of a NodeClaim slot.
pub fn placeholder(slot: usize) -> String {
    format!("hostname-placeholder-{slot:05}")
}

impl<'a> Solver<'a> {
    /// Prepare a solve over `input`.
    pub fn new(input: &'a Input) -> Self {
        let names = learn_names(input, std::iter::empty());
        let mut types = Types::new(&input.instance_types, &names);
        let pools = pools::build(input, &names, &mut types);
        let mut all_domains = domains(input, &types, &pools);
        add_node_domains(input, &mut all_domains);
        let nodes = nodes::build(input, &names);
        let all_domains = std::sync::Arc::new(Domains::new(all_domains));
        Self::from_parts(input, names, types, pools, all_domains, nodes)
    }

    /// A solve over `input` from parts prepared earlier (see [`crate::Prepared`]).
    pub(crate) fn from_parts(
        input: &'a Input,
        names: ResourceNames,
        types: Types<'a>,
        pools: Vec<PoolState>,
        all_domains: std::sync::Arc<Domains>,
        (nodes, node_order): (Vec<NodeState>, Vec<usize>),
    ) -> Self {
        let mut pool_order: Vec<usize> = (0..input.pools.len()).collect();
        pool_order.sort_by(|&a, &b| {
            let (pa, pb) = (&input.pools[a], &input.pools[b]);
            pb.weight
                .cmp(&pa.weight)
                .then_with(|| pb.name.cmp(&pa.name))
        });
        let mut topology = Topology::new(all_domains, input.existing.len());
        for t in input.bound.iter().flat_map(|b| &b.anti_affinity) {
            topology.inverse_group(t);
        }
        let states = pods::build(
            &input.pods,
            &names,
            &mut topology,
            input.options.preference_policy,
        );
        count_bound_pods(input, &nodes, &mut topology);
        let zones = topology.domain_count(labels::ZONE);
        let zone_of: Vec<usize> = input
            .existing
            .iter()
            .map(|n| {
                n.labels
                    .get(labels::ZONE)
                    .and_then(|z| topology.domain_id(labels::ZONE, z))
                    .unwrap_or(zones)
            })
            .collect();
        let index = NodeIndex::new(&nodes, node_order, &zone_of, zones, names.len());
        let mut reservations: BTreeMap<String, u32> = BTreeMap::new();
        for o in input.instance_types.iter().flat_map(|t| &t.offerings) {
            if let (Some(id), Some(n)) = (&o.reservation_id, o.reservation_capacity) {
                let e = reservations.entry(id.clone()).or_insert(0);
                *e = (*e).max(n);
            }
        }
        let n = input.pods.len();
        Solver {
            input,
            prefer_taints: pools.iter().any(|p| p.prefer_taint),
            names,
            types,
            pools,
            pool_order,
            nodes,
            index,
            topology,
            pods: states,
            claims: Vec::new(),
            by_size: BTreeSet::new(),
            fit_from: HashMap::new(),
            reservations,
            placed: vec![None; n],
            errors: vec![None; n],
            lower_bound: true,
        }
    }

    /// Run the queue to its end.
    pub fn run(&mut self) {
        let cpu = self.names.slot("cpu").unwrap_or(0);
        let mem = self.names.slot("memory").unwrap_or(0);
        let mut order: Vec<usize> = (0..self.input.pods.len())
            .filter(|&p| self.input.pods[p].ignored.is_none())
            .collect();
        let spreading: Vec<bool> = (0..self.pods.len())
            .map(|p| self.spreads_over_nodes(p))
            .collect();
        let per_cpu = memory_per_cpu(&self.input.instance_types);
        let pods = &self.pods;
        let dominant = |r: &Vector| r[cpu].max(r[mem] / per_cpu);
        order.sort_by(|&a, &b| {
            let (ra, rb) = (&pods[a].requests, &pods[b].requests);
            spreading[b]
                .cmp(&spreading[a])
                .then_with(|| dominant(rb).cmp(&dominant(ra)))
                .then_with(|| rb[cpu].cmp(&ra[cpu]))
                .then_with(|| rb[mem].cmp(&ra[mem]))
                .then_with(|| a.cmp(&b))
        });
        let mut queue: VecDeque<usize> = order.into();
        let mut last_len: Vec<Option<usize>> = vec![None; self.input.pods.len()];
        while let Some(&p) = queue.front() {
            if last_len[p] == Some(queue.len()) {
                break;
            }
            queue.pop_front();
            loop {
                match self.add(p) {
                    Ok(()) => {
                        self.errors[p] = None;
                        break;
                    }
                    Err(e) => {
                        if !e.reserved
                            && self.pods[p].relax(&self.input.pods[p], self.prefer_taints)
                        {
                            continue;
                        }
                        self.errors[p] = e.message;
                        queue.push_back(p);
                        last_len[p] = Some(queue.len());
                        break;
                    }
                }
            }
        }
    }

    /// Does pod `p` limit how many of its kind one node may hold (a required hostname
    /// anti-affinity or hostname spread that selects the pod itself)? Such pods open a
    /// node each once the nodes there are full, so they are placed first: the others
    /// then fill the nodes they open, where upstream's order (CPU, then memory) places
    /// them after the nodes are full and leaves each one a node of its own, mostly empty.
    fn spreads_over_nodes(&self, p: usize) -> bool {
        let st = &self.pods[p];
        st.required_spreads()
            .chain(st.required_anti_affinity().iter().copied())
            .any(|g| st.selects_self(g) && self.topology.is_hostname(GroupRef::Owned(g)))
    }

    fn add(&mut self, p: usize) -> Result<(), Failure> {
        // 1. existing nodes, in order, skipping those without room; room only shrinks
        //    during a solve, so where a request vector first fits only moves forward
        if self.index.len() > 0 {
            let sig = self.signature(p);
            let zones = self.allowed_zones(p);
            let key = (self.pods[p].requests.clone(), sig, zones);
            let mut pos = self.fit_from.get(&key).copied().unwrap_or(0);
            let mut first = None;
            while let Some(i) = self.index.first_fit(sig, key.2.as_deref(), pos, &key.0) {
                let earliest = *first.get_or_insert(i);
                let n = self.index.order[i];
                if let Some(reqs) = self.try_node(p, n) {
                    self.fit_from.insert(key, earliest);
                    self.commit_node(p, n, i, reqs);
                    return Ok(());
                }
                pos = i + 1;
            }
            let end = first.unwrap_or(self.index.len());
            self.fit_from.insert(key, end);
        }
        // 2. NodeClaims of this solve, fewest pods first; the first that takes the pod
        //    without a larger instance type wins, else the cheapest increase among the
        //    first few that take it (upstream takes the first that accepts)
        if !self.claims_blocked(p) {
            let mut best: Option<(usize, ClaimFit)> = None;
            let mut accepted = 0;
            let mut next = self.by_size.first().copied();
            while let Some(key) = next {
                if let Some(fit) = self.try_claim(p, key.1) {
                    if fit.increase <= 0.0 {
                        best = Some((key.1, fit));
                        break;
                    }
                    if best.as_ref().is_none_or(|b| fit.increase < b.1.increase) {
                        best = Some((key.1, fit));
                    }
                    accepted += 1;
                    if accepted >= CHOICES {
                        break;
                    }
                }
                next = self
                    .by_size
                    .range((Excluded(key), Unbounded))
                    .next()
                    .copied();
            }
            if let Some((c, fit)) = best {
                // joining would narrow the claim (say, to on-demand only) and raise its
                // price by more than a NodeClaim of the pod's own would cost: open one
                let narrowing = fit.reqs.is_some() && fit.increase > 0.0;
                if !narrowing
                    || self
                        .fresh_price(p)
                        .is_none_or(|fresh| fit.increase <= fresh)
                {
                    self.commit_claim(p, c, fit.reqs, fit.types);
                    return Ok(());
                }
            }
        }
        // 3. a new NodeClaim from the first NodePool that can take the pod
        let mut reasons = Vec::new();
        for k in 0..self.pool_order.len() {
            let pi = self.pool_order[k];
            match self.new_claim(p, pi) {
                Ok(new) => {
                    self.open_claim(p, pi, new);
                    return Ok(());
                }
                Err(f) => {
                    let name = &self.input.pools[pi].name;
                    reasons.push(format!(
                        "nodepool {name:?}: {}",
                        f.message.unwrap_or_default()
                    ));
                    if f.reserved {
                        return Err(Failure {
                            message: Some(reasons.join("; ")),
                            reserved: true,
                        });
                    }
                }
            }
        }
        if self.input.pools.is_empty() {
            reasons.push("no ready nodepools found".into());
        }
        Err(Failure {
            message: Some(reasons.join("; ")),
            reserved: false,
        })
    }

    /// Price of a NodeClaim holding only pod `p`, from the first NodePool that can take it.
    fn fresh_price(&mut self, p: usize) -> Option<f64> {
        for k in 0..self.pool_order.len() {
            let pi = self.pool_order[k];
            if let Some(new) = self.new_claim_quiet(p, pi) {
                let prices = &self.types.offered(&new.reqs).price;
                return Some(
                    new.types
                        .iter()
                        .map(|i| prices[i])
                        .fold(f64::INFINITY, f64::min),
                );
            }
        }
        None
    }

    /// The pod's static signature id (cached until relaxation changes it).
    fn signature(&mut self, p: usize) -> usize {
        if let Some(id) = self.pods[p].signature {
            return id;
        }
        let st = &self.pods[p];
        let sig = Signature {
            reqs: st.reqs.clone(),
            tolerations: self.input.pods[p].tolerations.clone(),
            tolerate_prefer: st.tolerate_prefer,
        };
        let id = self.index.signature(&sig, self.input, &self.nodes);
        self.pods[p].signature = Some(id);
        id
    }

    /// Zone ids an existing node may be in for the pod's zone-keyed topology groups; `None`
    /// when no group restricts zones.
    fn allowed_zones(&self, p: usize) -> Option<Vec<usize>> {
        let st = &self.pods[p];
        let owned = st
            .owned
            .iter()
            .map(|&g| (GroupRef::Owned(g), st.selects_self(g)));
        let inverse = st
            .selected_by_inverse
            .iter()
            .map(|&g| (GroupRef::Inverse(g), true));
        let mut out: Option<Vec<usize>> = None;
        for (r, self_sel) in owned.chain(inverse) {
            if self.topology.group(r).key != labels::ZONE {
                continue;
            }
            let pod_domains = self.topology.pod_domains(r, &st.strict);
            let allowed = self.topology.allowed_single(r, pod_domains, self_sel);
            out = Some(match out {
                None => allowed,
                Some(prev) => prev.into_iter().filter(|z| allowed.contains(z)).collect(),
            });
        }
        out
    }

    fn claims_blocked(&self, p: usize) -> bool {
        let st = &self.pods[p];
        let n = self.claims.len();
        st.owned
            .iter()
            .any(|&g| self.topology.groups[g].blocks_all_claims(n))
            || st
                .selected_by_inverse
                .iter()
                .any(|&g| self.topology.inverse[g].blocks_all_claims(n))
    }

    fn try_node(&mut self, p: usize, n: usize) -> Option<Option<Requirements>> {
        let (pod, st) = (&self.input.pods[p], &self.pods[p]);
        let node = &self.input.existing[n];
        let ns = &self.nodes[n];
        if (pod.moving && node.settling)
            || !tolerates(&node.taints, &pod.tolerations, st.tolerate_prefer)
            || ports_conflict(&pod.host_ports, &ns.ports)
            || !self.volumes_fit(p, n)
            || !ns.reqs.compatible_ok(&st.reqs, well_known)
        {
            return None;
        }
        let mut reqs = None;
        if !st.reqs.is_empty() {
            let mut r = (*ns.reqs).clone();
            r.add_all(&st.reqs);
            reqs = Some(r);
        }
        constrain(&self.topology, st, n, &ns.reqs, &mut reqs).ok()?;
        add_volumes(pod, &ns.reqs, &mut reqs).then_some(reqs)
    }

    fn volumes_fit(&self, p: usize, n: usize) -> bool {
        let pod = &self.input.pods[p];
        if pod.volumes.is_empty() {
            return true;
        }
        let node = &self.input.existing[n];
        let attached = &self.nodes[n].volumes;
        let mut per_driver: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for v in &pod.volumes {
            per_driver.entry(&v.driver).or_default().insert(&v.volume);
        }
        per_driver.iter().all(|(driver, vols)| {
            let Some(&limit) = node.volume_limits.get(*driver) else {
                return true;
            };
            let current = attached.get(*driver);
            let new = vols
                .iter()
                .filter(|v| current.is_none_or(|c| !c.contains(**v)))
                .count();
            current.map_or(0, BTreeSet::len) + new <= limit as usize
        })
    }

    fn commit_node(&mut self, p: usize, n: usize, pos: usize, reqs: Option<Requirements>) {
        let pod = &self.input.pods[p];
        let ns = &mut self.nodes[n];
        dense::sub(&mut ns.available, &self.pods[p].requests);
        ns.ports.extend(pod.host_ports.iter().cloned());
        for v in &pod.volumes {
            ns.volumes
                .entry(v.driver.clone())
                .or_default()
                .insert(v.volume.clone());
        }
        self.index.update(pos, &ns.available);
        let final_reqs = reqs.unwrap_or_else(|| (*ns.reqs).clone());
        let taints = &self.input.existing[n].taints;
        record(&mut self.topology, &self.pods[p], n, &final_reqs, taints);
        self.placed[p] = Some(Place::Node(n));
    }

    /// Can claim `c` take pod `p`? The narrowed requirements and types (when they change)
    /// and the price increase. With unchanged requirements only the cheapest type that
    /// still fits is looked for, in price order: usually the first.
    fn try_claim(&mut self, p: usize, c: usize) -> Option<ClaimFit> {
        let (pod, st) = (&self.input.pods[p], &self.pods[p]);
        let claim = &self.claims[c];
        let pool = &self.pools[claim.pool];
        if !dense::fits(&claim.used, &st.requests, &claim.max_eff)
            || !hostname_ok(&self.topology, st, claim.slot)
            || !tolerates(
                &self.input.pools[claim.pool].taints,
                &pod.tolerations,
                st.tolerate_prefer,
            )
            || ports_conflict(&pod.host_ports, &claim.ports)
            || !claim.reqs.compatible_ok(&st.reqs, well_known)
        {
            return None;
        }
        let mut reqs = None;
        if !st.reqs.is_empty() {
            let mut r = claim.reqs.clone();
            r.add_all(&st.reqs);
            reqs = Some(r);
        }
        constrain(&self.topology, st, claim.slot, &claim.reqs, &mut reqs).ok()?;
        if !add_volumes(pod, &claim.reqs, &mut reqs) {
            return None;
        }
        let reqs = reqs.filter(|r| *r != claim.reqs);
        let ok = |i: usize| {
            dense::fits(&claim.used, &st.requests, &pool.eff[i])
                && (pod.host_ports.is_empty()
                    || !ports_conflict(&pod.host_ports, &pool.daemon_ports[i]))
        };
        let check_min = !reqs.as_ref().unwrap_or(&claim.reqs).min_values().is_empty();
        let (types, price, fitting) = match &reqs {
            None => {
                let &(price, _) = claim.by_price.iter().find(|(_, i)| ok(*i))?;
                let fitting = check_min.then(|| {
                    let mut b = Bitset::new(self.types.len());
                    for &(_, i) in claim.by_price.iter().filter(|(_, i)| ok(*i)) {
                        b.insert(i);
                    }
                    b
                });
                (None, price, fitting)
            }
            Some(r) => {
                let mut cand = claim.types.clone();
                cand.and(&self.types.compatible(r));
                let n = self.types.len();
                let offered = self.types.offered(r);
                cand.and(&offered.types);
                let mut best = f64::INFINITY;
                let mut fitting = Bitset::new(n);
                for i in cand.iter().filter(|&i| ok(i)) {
                    best = best.min(offered.price[i]);
                    fitting.insert(i);
                }
                if fitting.is_empty() {
                    return None;
                }
                (Some(cand), best, Some(fitting))
            }
        };
        if let Some(f) = &fitting
            && check_min
            && self
                .min_values_unmet(reqs.as_ref().unwrap_or(&self.claims[c].reqs), f)
                .is_some()
        {
            return None;
        }
        let increase = price - self.claims[c].price;
        Some(ClaimFit {
            reqs,
            types,
            increase,
        })
    }

    /// The first minValues requirement `types` cannot meet under the Strict policy.
    pub(crate) fn min_values_unmet(
        &self,
        reqs: &Requirements,
        types: &Bitset,
    ) -> Option<(String, u32, usize)> {
        if self.input.options.min_values_policy == MinValuesPolicy::BestEffort {
            return None;
        }
        reqs.min_values().iter().find_map(|(key, &need)| {
            let have = self.types.distinct_values(types, key, reqs);
            (have < need as usize).then(|| (key.clone(), need, have))
        })
    }

    fn commit_claim(
        &mut self,
        p: usize,
        c: usize,
        reqs: Option<Requirements>,
        types: Option<Bitset>,
    ) {
        let claim = &mut self.claims[c];
        self.by_size.remove(&(claim.pods.len(), c));
        if let Some(r) = reqs {
            claim.reqs = r;
        }
        dense::add(&mut claim.used, &self.pods[p].requests);
        claim.pods.push(p);
        let pod = &self.input.pods[p];
        claim.ports.extend(pod.host_ports.iter().cloned());
        let pool = &self.pools[claim.pool];
        if let Some(t) = types {
            let its = self.types.its;
            let prices = &self.types.offered(&claim.reqs).price;
            claim.by_price = t.iter().map(|i| (prices[i], i)).collect();
            claim.by_price.sort_by(|a, b| {
                a.0.total_cmp(&b.0)
                    .then_with(|| its[a.1].name.cmp(&its[b.1].name))
            });
            claim.types = t;
        }
        let zero = vec![0; claim.used.len()];
        let ports = !pod.host_ports.is_empty();
        claim.by_price.retain(|&(_, i)| {
            dense::fits(&claim.used, &zero, &pool.eff[i])
                && (!ports || !ports_conflict(&claim.ports, &pool.daemon_ports[i]))
        });
        claim.price = claim.by_price.first().map_or(f64::INFINITY, |b| b.0);
        let mut m = vec![i64::MIN; claim.used.len()];
        for &(_, i) in &claim.by_price {
            for (x, y) in m.iter_mut().zip(&pool.eff[i]) {
                *x = (*x).max(*y);
            }
        }
        claim.max_eff = m;
        self.by_size.insert((claim.pods.len(), c));
        let taints = &self.input.pools[claim.pool].taints;
        record(
            &mut self.topology,
            &self.pods[p],
            claim.slot,
            &claim.reqs,
            taints,
        );
        self.placed[p] = Some(Place::Claim(c));
    }

    fn new_claim(&mut self, p: usize, pi: usize) -> Result<NewClaim, Failure> {
        self.new_claim_inner(p, pi, true)
    }

    /// [`Solver::new_claim`] without formatting a reason (for cost comparisons).
    fn new_claim_quiet(&mut self, p: usize, pi: usize) -> Option<NewClaim> {
        self.new_claim_inner(p, pi, false).ok()
    }

    /// A new NodeClaim from pool `pi` for pod `p`; on failure the reason when `explain`.
    fn new_claim_inner(&mut self, p: usize, pi: usize, explain: bool) -> Result<NewClaim, Failure> {
        let (pod, st) = (&self.input.pods[p], &self.pods[p]);
        let pool = &self.input.pools[pi];
        let why = |m: &dyn Fn() -> String| Failure {
            message: explain.then(m),
            reserved: false,
        };
        if let Some(t) = untolerated(&pool.taints, &pod.tolerations, st.tolerate_prefer) {
            return Err(why(&|| {
                format!(
                    "did not tolerate taint {}={}:{}",
                    t.key,
                    t.value,
                    t.effect.as_str()
                )
            }));
        }
        if !pool.requirements.compatible_ok(&st.reqs, well_known) {
            return Err(why(
                &|| match pool.requirements.compatible(&st.reqs, well_known) {
                    Err(e) => format!("incompatible requirements, {e}"),
                    Ok(()) => "incompatible requirements".into(),
                },
            ));
        }
        if self.pools[pi].nodes_left.is_some_and(|n| n <= 0) {
            return Err(why(&|| "limits.nodes exhausted".into()));
        }
        let slot = self.input.existing.len() + self.claims.len();
        let mut base = pool.requirements.clone();
        base.add_all(&st.reqs);
        base.add_set(
            labels::HOSTNAME,
            ValueSet::from_op(Op::In, &[placeholder(slot)]),
        );
        let mut reqs = None;
        if let Err(e) = constrain(&self.topology, st, slot, &base, &mut reqs) {
            return Err(why(&|| self.topology.explain(&e)));
        }
        if !add_volumes(pod, &base, &mut reqs) {
            return Err(why(&|| {
                "no volume topology alternative is compatible with the nodepool".into()
            }));
        }
        let reqs = reqs.unwrap_or(base);
        let ps = &self.pools[pi];
        let mut cand = ps.types.clone();
        cand.and(&self.types.compatible(&reqs));
        let met_reqs = cand.clone();
        cand.and(&self.types.offered(&reqs).types);
        let offered = cand.clone();
        let within = ps.within_limits(&cand, &self.types);
        let mut fit = within.clone();
        let zero = vec![0; st.requests.len()];
        for i in within.iter() {
            if !dense::fits(&zero, &st.requests, &ps.eff[i])
                || ports_conflict(&pod.host_ports, &ps.daemon_ports[i])
            {
                fit.remove(i);
            }
        }
        if fit.is_empty() {
            let message = explain
                .then(|| explain::no_type(self, pi, p, &reqs, [&met_reqs, &offered, &within]));
            return Err(Failure {
                message,
                reserved: false,
            });
        }
        if let Some((key, need, have)) = self.min_values_unmet(&reqs, &fit) {
            return Err(why(&|| {
                format!(
                    "minValues requirement not met: {key} needs {need} distinct values, {have} available"
                )
            }));
        }
        self.reserve_offering(reqs, fit, explain)
    }

    /// Reserved capacity (reference 2.14): a NodeClaim that can use a capacity reservation is
    /// pinned to the cheapest one with room (capacity type `reserved` and its id); a pod that
    /// could use a reservation this solve has used up waits for the next round rather than
    /// falling back (upstream's strict mode).
    fn reserve_offering(
        &mut self,
        mut reqs: Requirements,
        mut fit: Bitset,
        explain: bool,
    ) -> Result<NewClaim, Failure> {
        let none = BTreeSet::new();
        let its = self.types.its;
        let mut best: Option<(f64, &str, &str)> = None;
        let mut blocked: BTreeSet<&str> = BTreeSet::new();
        for i in fit.iter() {
            for o in &its[i].offerings {
                let Some(id) = o.reservation_id.as_deref() else {
                    continue;
                };
                if o.capacity_type != labels::CAPACITY_TYPE_RESERVED
                    || !offering_ok(o, &reqs, &none)
                {
                    continue;
                }
                if self.types.exhausted.contains(id) {
                    blocked.insert(id);
                    continue;
                }
                let key = (o.price, its[i].name.as_str(), id);
                if best.is_none_or(|b| (key.0, key.1, key.2) < (b.0, b.1, b.2)) {
                    best = Some(key);
                }
            }
        }
        match best {
            Some((_, _, id)) => {
                let id = id.to_string();
                reqs.add(&Requirement::new(
                    labels::CAPACITY_TYPE,
                    Op::In,
                    [labels::CAPACITY_TYPE_RESERVED],
                ));
                reqs.add(&Requirement::new(
                    aws_labels::CAPACITY_RESERVATION_ID,
                    Op::In,
                    [id.clone()],
                ));
                fit.and(&self.types.offered(&reqs).types);
                Ok(NewClaim {
                    reqs,
                    types: fit,
                    reservation: Some(id),
                })
            }
            None if !blocked.is_empty() => Err(Failure {
                message: explain.then(|| {
                    let ids: Vec<&str> = blocked.into_iter().collect();
                    format!(
                        "capacity reservation {} is used up by this plan; the pod waits for the next round (reserved capacity is strict)",
                        ids.join(", ")
                    )
                }),
                reserved: true,
            }),
            None => Ok(NewClaim {
                reqs,
                types: fit,
                reservation: None,
            }),
        }
    }

    fn open_claim(&mut self, p: usize, pi: usize, new: NewClaim) {
        let NewClaim {
            reqs,
            types,
            reservation,
        } = new;
        if let Some(id) = reservation {
            let left = self.reservations.entry(id.clone()).or_insert(0);
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.types.exhaust(&id);
            }
        }
        let dims = self.names.len();
        self.pools[pi].reserve(&types, &self.types);
        let c = self.claims.len();
        self.claims.push(Claim {
            pool: pi,
            slot: self.input.existing.len() + c,
            reqs,
            types: Bitset::new(0),
            by_price: Vec::new(),
            used: vec![0; dims],
            max_eff: Vec::new(),
            pods: Vec::new(),
            ports: Vec::new(),
            price: 0.0,
        });
        self.by_size.insert((0, c));
        self.commit_claim(p, c, None, Some(types));
    }
}

fn record(
    topology: &mut Topology,
    st: &PodState,
    slot: usize,
    reqs: &Requirements,
    taints: &[karpenter_model::Taint],
) {
    for &g in &st.selected_by {
        topology.record(GroupRef::Owned(g), slot, reqs, taints);
    }
    for &g in &st.inverse_owned {
        topology.record(GroupRef::Inverse(g), slot, reqs, taints);
    }
}

/// Count pods already bound to existing nodes into every group that selects them, and
/// their required anti-affinity into inverse groups; pods of a node a simulation removes
/// ([`crate::ExistingNode::leaving`]) are being placed again and are not counted there.
fn count_bound_pods(input: &Input, nodes: &[NodeState], topology: &mut Topology) {
    let owned = pods::SelectorIndex::new(topology.groups.iter());
    for b in &input.bound {
        let Some(node) = input.existing.get(b.node).filter(|n| !n.leaving) else {
            continue;
        };
        let ns = &nodes[b.node];
        let groups = owned.selecting(&b.namespace, &b.labels, |g| {
            topology.groups[g].selects(&b.namespace, &b.labels)
        });
        for g in groups {
            topology.count_existing(
                GroupRef::Owned(g),
                b.node,
                &node.labels,
                &ns.reqs,
                &node.taints,
            );
        }
        for t in &b.anti_affinity {
            let (g, _) = topology.inverse_group(t);
            topology.count_existing(
                GroupRef::Inverse(g),
                b.node,
                &node.labels,
                &ns.reqs,
                &node.taints,
            );
        }
    }
}
