//! Topology spread, pod affinity and pod anti-affinity (reference 2.8): groups that count
//! matching pods per domain, the domain a pod may take on a candidate node, and recording a
//! placement. Groups are shared by every pod with the same term (1,000 replicas with self
//! anti-affinity are one group). Hostname domains are slots (existing node or NodeClaim
//! index), so a hostname check is one array lookup.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use karpenter_model::wellknown::labels;
use karpenter_model::{LabelSelector, Op, Requirements, Taint, Toleration, ValueSet};

use crate::input::{AffinityTerm, Spread};
use crate::taints::tolerates;
use crate::well_known;

/// What a group enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Topology spread.
    Spread {
        /// maxSkew.
        max_skew: i32,
        /// minDomains.
        min_domains: Option<i32>,
    },
    /// Pod affinity: a domain that already holds a matching pod.
    Affinity,
    /// Pod anti-affinity: a domain without matching pods.
    AntiAffinity,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Spread { .. } => "topology spread",
            Kind::Affinity => "pod affinity",
            Kind::AntiAffinity => "pod anti-affinity",
        }
    }
}

/// Which nodes count for a spread (nodeAffinityPolicy, nodeTaintsPolicy).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeFilter {
    /// nodeAffinityPolicy Honor: the pod's own node requirements limit the domains.
    pub honor_affinity: bool,
    /// Node requirements (ORed); empty: every node.
    pub terms: Vec<Requirements>,
    /// Tolerations the node's taints must satisfy (nodeTaintsPolicy Honor).
    pub tolerations: Option<Vec<Toleration>>,
}

impl NodeFilter {
    fn matches(&self, reqs: &Requirements, taints: &[Taint]) -> bool {
        (self.terms.is_empty() || self.terms.iter().any(|t| reqs.compatible_ok(t, well_known)))
            && self
                .tolerations
                .as_ref()
                .is_none_or(|tols| tolerates(taints, tols, true))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    kind: Kind,
    key: String,
    namespaces: BTreeSet<String>,
    selector: LabelSelector,
    filter: Option<NodeFilter>,
}

/// One group: pods matching a selector in some namespaces, counted per domain of a key.
#[derive(Debug, Clone)]
pub struct Group {
    /// What it enforces.
    pub kind: Kind,
    /// The topology key.
    pub key: String,
    hostname: bool,
    namespaces: BTreeSet<String>,
    selector: LabelSelector,
    filter: Option<NodeFilter>,
    /// nodeTaintsPolicy Honor: per domain id, whether it counts at all (something offering
    /// it has taints the pod tolerates); `None`: every domain counts.
    eligible: Option<Vec<bool>>,
    /// Counts per domain id (per slot for hostname).
    counts: Vec<i32>,
    /// Domains (slots) with a nonzero count.
    nonzero: usize,
    /// NodeClaim slots with a nonzero count (hostname only).
    nonzero_claims: usize,
}

impl Group {
    /// Does the group select a pod with these labels in this namespace?
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespaces.contains(namespace) && self.selector.matches(labels)
    }

    /// One `matchLabels` pair of the selector, for indexing.
    pub fn first_label(&self) -> Option<(&String, &String)> {
        if self.selector.nothing {
            return None;
        }
        self.selector.match_labels.iter().next()
    }

    fn count(&self, d: usize) -> i32 {
        self.counts.get(d).copied().unwrap_or(0)
    }

    /// Does domain `d` count toward the skew's minimum?
    fn eligible(&self, d: usize) -> bool {
        self.eligible
            .as_ref()
            .is_none_or(|e| e.get(d).copied().unwrap_or(false))
    }

    fn inc(&mut self, d: usize, claim_slot: bool) {
        if self.counts.len() <= d {
            self.counts.resize(d + 1, 0);
        }
        if self.counts[d] == 0 {
            self.nonzero += 1;
            if claim_slot {
                self.nonzero_claims += 1;
            }
        }
        self.counts[d] += 1;
    }

    /// Hostname anti-affinity (or inverse) that every NodeClaim of this solve already violates.
    pub fn blocks_all_claims(&self, claims: usize) -> bool {
        self.hostname && self.kind == Kind::AntiAffinity && self.nonzero_claims >= claims
    }
}

/// Topology domains as the NodePools and nodes offer them: per key, each value with the
/// taint lists of what offers it (upstream's `DomainGroup`), the lists interned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainSources {
    /// Key to value to the ids (into `taints`) of its sources' taint lists.
    pub values: BTreeMap<String, BTreeMap<String, BTreeSet<usize>>>,
    /// Distinct taint lists.
    pub taints: Vec<Vec<Taint>>,
}

impl DomainSources {
    /// The id of a taint list (interned on first use).
    pub fn taint_id(&mut self, taints: &[Taint]) -> usize {
        match self.taints.iter().position(|t| t.as_slice() == taints) {
            Some(i) => i,
            None => {
                self.taints.push(taints.to_vec());
                self.taints.len() - 1
            }
        }
    }

    /// `key=value` is offered by something carrying taint list `taints` (an id).
    pub fn insert(&mut self, key: &str, value: &str, taints: usize) {
        let values = match self.values.get_mut(key) {
            Some(v) => v,
            None => self.values.entry(key.to_string()).or_default(),
        };
        match values.get_mut(value) {
            Some(ids) => {
                ids.insert(taints);
            }
            None => {
                values.insert(value.to_string(), BTreeSet::from([taints]));
            }
        }
    }
}

/// Every topology key's domains, in value order, and each value's position: built once
/// per cluster view and shared by the solves over it.
#[derive(Debug, Default)]
pub struct Domains {
    domains: BTreeMap<String, Vec<String>>,
    domain_ids: HashMap<String, HashMap<String, usize>>,
    /// Per key, per domain: the taint lists of what offers it.
    sources: HashMap<String, Vec<Vec<usize>>>,
    taints: Vec<Vec<Taint>>,
}

impl Domains {
    /// Index `sources`.
    pub fn new(sources: DomainSources) -> Self {
        let mut domains = BTreeMap::new();
        let mut domain_ids = HashMap::new();
        let mut by_key = HashMap::new();
        for (k, vs) in sources.values {
            let ids: HashMap<String, usize> =
                vs.keys().enumerate().map(|(i, v)| (v.clone(), i)).collect();
            by_key.insert(
                k.clone(),
                vs.values().map(|s| s.iter().copied().collect()).collect(),
            );
            domains.insert(k.clone(), vs.into_keys().collect());
            domain_ids.insert(k, ids);
        }
        Domains {
            domains,
            domain_ids,
            sources: by_key,
            taints: sources.taints,
        }
    }

    /// Per domain of `key`: does something offering it carry taints `tolerations` tolerate?
    fn tolerable(&self, key: &str, tolerations: &[Toleration]) -> Vec<bool> {
        let ok: Vec<bool> = self
            .taints
            .iter()
            .map(|t| tolerates(t, tolerations, true))
            .collect();
        self.sources.get(key).map_or_else(Vec::new, |per| {
            per.iter()
                .map(|ids| ids.iter().any(|&i| ok.get(i).copied().unwrap_or(true)))
                .collect()
        })
    }
}

/// The domains of every topology key and every group of the solve.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    shared: Arc<Domains>,
    /// Groups pods own (spread, affinity, anti-affinity).
    pub groups: Vec<Group>,
    /// Inverse anti-affinity: owners are the pods with the term; they block matching pods.
    pub inverse: Vec<Group>,
    index: HashMap<GroupKey, usize>,
    inverse_index: HashMap<GroupKey, usize>,
    existing: usize,
}

/// A group id with its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupRef {
    /// An owned group.
    Owned(usize),
    /// An inverse anti-affinity group.
    Inverse(usize),
}

impl Topology {
    /// Topology over `domains`; `existing` slots are existing nodes.
    pub fn new(domains: Arc<Domains>, existing: usize) -> Self {
        Topology {
            shared: domains,
            existing,
            ..Topology::default()
        }
    }

    fn make(
        kind: Kind,
        key: &str,
        ns: &BTreeSet<String>,
        sel: &LabelSelector,
        filter: Option<NodeFilter>,
    ) -> (GroupKey, Group) {
        let gk = GroupKey {
            kind,
            key: key.to_string(),
            namespaces: ns.clone(),
            selector: sel.clone(),
            filter: filter.clone(),
        };
        let g = Group {
            kind,
            key: key.to_string(),
            hostname: key == labels::HOSTNAME,
            namespaces: ns.clone(),
            selector: sel.clone(),
            filter,
            eligible: None,
            counts: Vec::new(),
            nonzero: 0,
            nonzero_claims: 0,
        };
        (gk, g)
    }

    /// The group of a spread constraint of a pod in `namespace` (created on first use).
    pub fn spread_group(
        &mut self,
        s: &Spread,
        namespace: &str,
        filter: NodeFilter,
    ) -> (usize, bool) {
        let ns = BTreeSet::from([namespace.to_string()]);
        let kind = Kind::Spread {
            max_skew: s.max_skew,
            min_domains: s.min_domains,
        };
        let tolerations = filter.tolerations.clone();
        let (gk, mut g) = Self::make(kind, &s.key, &ns, &s.selector, Some(filter));
        if let Some(tols) = tolerations
            && !g.hostname
        {
            g.eligible = Some(self.shared.tolerable(&s.key, &tols));
        }
        Self::intern(&mut self.index, &mut self.groups, gk, g)
    }

    /// The group of an affinity or anti-affinity term (created on first use).
    pub fn term_group(&mut self, kind: Kind, t: &AffinityTerm) -> (usize, bool) {
        let (gk, g) = Self::make(kind, &t.key, &t.namespaces, &t.selector, None);
        Self::intern(&mut self.index, &mut self.groups, gk, g)
    }

    /// The inverse group of a required anti-affinity term (created on first use).
    pub fn inverse_group(&mut self, t: &AffinityTerm) -> (usize, bool) {
        let (gk, g) = Self::make(Kind::AntiAffinity, &t.key, &t.namespaces, &t.selector, None);
        Self::intern(&mut self.inverse_index, &mut self.inverse, gk, g)
    }

    fn intern(
        index: &mut HashMap<GroupKey, usize>,
        list: &mut Vec<Group>,
        gk: GroupKey,
        g: Group,
    ) -> (usize, bool) {
        if let Some(&i) = index.get(&gk) {
            return (i, false);
        }
        list.push(g);
        index.insert(gk, list.len() - 1);
        (list.len() - 1, true)
    }

    /// The group behind a reference.
    pub fn group(&self, r: GroupRef) -> &Group {
        match r {
            GroupRef::Owned(i) => &self.groups[i],
            GroupRef::Inverse(i) => &self.inverse[i],
        }
    }

    fn group_mut(&mut self, r: GroupRef) -> &mut Group {
        match r {
            GroupRef::Owned(i) => &mut self.groups[i],
            GroupRef::Inverse(i) => &mut self.inverse[i],
        }
    }

    /// Count a pod that already runs on existing node `slot` with `labels` into group `r`
    /// (`node_reqs`/`taints` describe the node, for spread node filters).
    pub fn count_existing(
        &mut self,
        r: GroupRef,
        slot: usize,
        node_labels: &BTreeMap<String, String>,
        node_reqs: &Requirements,
        taints: &[Taint],
    ) {
        let g = self.group(r);
        if g.filter
            .as_ref()
            .is_some_and(|f| !f.matches(node_reqs, taints))
        {
            return;
        }
        let d = if g.hostname {
            Some(slot)
        } else {
            node_labels.get(&g.key).and_then(|v| {
                self.shared
                    .domain_ids
                    .get(&g.key)
                    .and_then(|m| m.get(v))
                    .copied()
            })
        };
        if let Some(d) = d {
            self.group_mut(r).inc(d, false);
        }
    }

    fn domain_list(&self, key: &str) -> &[String] {
        self.shared.domains.get(key).map_or(&[], Vec::as_slice)
    }

    /// The pod's domains for group `r`: its strict requirement on the key, unless the
    /// group is a spread with nodeAffinityPolicy Ignore (then every domain counts).
    pub fn pod_domains<'r>(&self, r: GroupRef, strict: &'r Requirements) -> Option<&'r ValueSet> {
        let g = self.group(r);
        if g.filter.as_ref().is_some_and(|f| !f.honor_affinity) {
            return None;
        }
        strict.get(&g.key)
    }

    /// For an owned non-hostname spread group whose pods all count the same domains (no
    /// node-affinity filter, or one term): how many domains count toward its skew's
    /// minimum, and its maxSkew. `None` for any other group.
    pub fn spread_domains(&self, g: usize) -> Option<(usize, i32)> {
        let group = self.groups.get(g)?;
        let Kind::Spread { max_skew, .. } = group.kind else {
            return None;
        };
        if group.hostname || max_skew <= 0 {
            return None;
        }
        let pod_domains = match &group.filter {
            Some(f) if f.honor_affinity => match f.terms.as_slice() {
                [] => None,
                [one] => one.get(&group.key),
                _ => return None,
            },
            _ => None,
        };
        let eligible = self
            .domain_list(&group.key)
            .iter()
            .enumerate()
            .filter(|(i, d)| pod_domains.is_none_or(|s| s.has(d)) && group.eligible(*i))
            .count();
        Some((eligible, max_skew))
    }

    /// Is group `r` keyed on hostname (checked per slot, never narrowing requirements)?
    pub fn is_hostname(&self, r: GroupRef) -> bool {
        self.group(r).hostname
    }

    /// May the pod land on `slot` under hostname group `r`?
    pub fn slot_ok(&self, r: GroupRef, slot: usize, self_selecting: bool) -> bool {
        let g = self.group(r);
        let count = g.count(slot);
        match g.kind {
            Kind::Spread { max_skew, .. } => count + i32::from(self_selecting) <= max_skew,
            Kind::Affinity => count > 0 || (g.nonzero == 0 && self_selecting),
            Kind::AntiAffinity => count == 0,
        }
    }

    /// Domain ids of `key` a node labelled with that single domain may have under
    /// (non-hostname) group `r`: what [`Topology::narrow`] accepts for such a node.
    pub fn allowed_single(
        &self,
        r: GroupRef,
        pod_domains: Option<&ValueSet>,
        self_selecting: bool,
    ) -> Vec<usize> {
        let g = self.group(r);
        let domains = self.domain_list(&g.key);
        let pod_has = |d: &str| pod_domains.is_none_or(|s| s.has(d));
        let ids = 0..domains.len();
        match g.kind {
            Kind::Spread {
                max_skew,
                min_domains,
            } => {
                let mut min = i32::MAX;
                let mut eligible = 0;
                for (i, d) in domains.iter().enumerate() {
                    if pod_has(d) && g.eligible(i) {
                        eligible += 1;
                        min = min.min(g.count(i));
                    }
                }
                if min_domains.is_some_and(|m| eligible < m) || min == i32::MAX {
                    min = 0;
                }
                ids.filter(|&i| g.count(i) + i32::from(self_selecting) - min <= max_skew)
                    .collect()
            }
            Kind::Affinity => {
                let with: Vec<usize> = ids
                    .clone()
                    .filter(|&i| pod_has(&domains[i]) && g.count(i) > 0)
                    .collect();
                if !with.is_empty() || !self_selecting {
                    with
                } else {
                    ids.filter(|&i| pod_has(&domains[i])).collect()
                }
            }
            Kind::AntiAffinity => ids
                .filter(|&i| pod_has(&domains[i]) && g.count(i) == 0)
                .collect(),
        }
    }

    /// The id of domain `value` of `key`.
    pub fn domain_id(&self, key: &str, value: &str) -> Option<usize> {
        self.shared
            .domain_ids
            .get(key)
            .and_then(|m| m.get(value))
            .copied()
    }

    /// Number of domains of `key`.
    pub fn domain_count(&self, key: &str) -> usize {
        self.domain_list(key).len()
    }

    /// The narrower set of domains the pod may take under (non-hostname) group `r`, given
    /// the node's current set `node_set` for the key; `None` when nothing narrows.
    /// `pod_domains` is the pod's strict requirement on the key and `self_selecting` whether
    /// the group selects the pod. `Err` names the rule.
    pub fn narrow(
        &self,
        r: GroupRef,
        pod_domains: Option<&ValueSet>,
        self_selecting: bool,
        node_set: Option<&ValueSet>,
    ) -> Result<Option<ValueSet>, TopologyError> {
        let g = self.group(r);
        let fail = || TopologyError { group: r };
        let domains = self.domain_list(&g.key);
        let pod_has = |d: &str| pod_domains.is_none_or(|s| s.has(d));
        let node_has = |d: &str| node_set.is_none_or(|s| s.has(d));
        let chosen: Vec<&String> = match g.kind {
            Kind::Spread {
                max_skew,
                min_domains,
            } => {
                let mut min = i32::MAX;
                let mut eligible = 0;
                for (i, d) in domains.iter().enumerate() {
                    if pod_has(d) && g.eligible(i) {
                        eligible += 1;
                        min = min.min(g.count(i));
                    }
                }
                if min_domains.is_some_and(|m| eligible < m) || min == i32::MAX {
                    min = 0;
                }
                let mut best: Option<(i32, &String)> = None;
                for (i, d) in domains.iter().enumerate() {
                    if !node_has(d) {
                        continue;
                    }
                    let c = g.count(i) + i32::from(self_selecting);
                    if c - min <= max_skew && best.is_none_or(|(bc, _)| c < bc) {
                        best = Some((c, d));
                    }
                }
                best.map(|(_, d)| d).into_iter().collect()
            }
            Kind::Affinity => {
                let mut opts: Vec<&String> = domains
                    .iter()
                    .enumerate()
                    .filter(|(i, d)| pod_has(d) && g.count(*i) > 0)
                    .map(|(_, d)| d)
                    .collect();
                if opts.is_empty() && self_selecting {
                    opts.extend(domains.iter().find(|d| pod_has(d) && node_has(d)));
                    opts.extend(domains.iter().find(|d| pod_has(d)));
                }
                opts
            }
            Kind::AntiAffinity => domains
                .iter()
                .enumerate()
                .filter(|(i, d)| pod_has(d) && g.count(*i) == 0)
                .map(|(_, d)| d)
                .collect(),
        };
        if chosen.is_empty() {
            return Err(fail());
        }
        if let Some(node) = node_set
            && !node.complement
            && node.values.iter().all(|v| chosen.contains(&v))
        {
            return Ok(None);
        }
        let set = ValueSet::from_op(Op::In, &chosen.into_iter().cloned().collect::<Vec<_>>());
        let merged = match node_set {
            Some(node) => node.intersection(&set),
            None => set,
        };
        if merged.is_empty() {
            return Err(fail());
        }
        Ok(Some(merged))
    }

    /// Record a pod landing at `slot` with final requirements `reqs` into group `r`, as
    /// upstream's `Record`: anti-affinity blocks every domain the node may still take; the
    /// others count only a resolved domain. `counts_as_owner` is set for inverse groups.
    pub fn record(&mut self, r: GroupRef, slot: usize, reqs: &Requirements, taints: &[Taint]) {
        let existing = self.existing;
        let g = self.group(r);
        if g.filter.as_ref().is_some_and(|f| !f.matches(reqs, taints)) {
            return;
        }
        if g.hostname {
            self.group_mut(r).inc(slot, slot >= existing);
            return;
        }
        let Some(set) = reqs.get(&g.key) else { return };
        if set.complement {
            return;
        }
        let ids: Vec<usize> = {
            let Some(m) = self.shared.domain_ids.get(&g.key) else {
                return;
            };
            set.values
                .iter()
                .filter_map(|v| m.get(v).copied())
                .collect()
        };
        let all = matches!(g.kind, Kind::AntiAffinity) || matches!(r, GroupRef::Inverse(_));
        if all || ids.len() == 1 && set.values.len() == 1 {
            let g = self.group_mut(r);
            for d in ids {
                g.inc(d, false);
            }
        }
    }

    /// A person-readable account of a failed group: kind, key and the busiest domains.
    pub fn explain(&self, e: &TopologyError) -> String {
        let g = self.group(e.group);
        let side = match e.group {
            GroupRef::Inverse(_) => " (anti-affinity of other pods)",
            GroupRef::Owned(_) => "",
        };
        let counts = if g.hostname {
            format!("{} nodes hold matching pods", g.nonzero)
        } else {
            let list: Vec<String> = self
                .domain_list(&g.key)
                .iter()
                .enumerate()
                .map(|(i, d)| format!("{d}={}", g.count(i)))
                .collect();
            format!("counts {{{}}}", list.join(", "))
        };
        format!(
            "unsatisfiable topology constraint for {}{side}, key={} ({counts})",
            g.kind.describe(),
            g.key
        )
    }
}

/// A topology rule that ruled a candidate out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopologyError {
    /// The group.
    pub group: GroupRef,
}
