//! The decision: candidates and their blockers, then each method in upstream's order, each
//! seeing the cluster as earlier commands leave it.

use std::collections::BTreeSet;

use karpenter_model::time::Time;

use crate::budgets::Budgets;
use crate::pricing::cheaper_replacement;
use crate::simulate::Work;
use crate::types::{
    Blocked, Command, Decision, DisruptionInput, Method, NodeInfo, Policy, PoolPolicy, Reason,
};

/// Single-node simulations per decision at most, as the controller and `plan --disruption`
/// run it (a deterministic stand-in for upstream's 3-minute timeout).
pub const MAX_SIMULATIONS: usize = 100;

/// Upstream's cap on multi-node consolidation candidates.
pub const MAX_MULTI_NODE_CANDIDATES: usize = 100;

/// `EvictionCost` of a pod: `clamp(1 + deletionCost/2^27 + priority/2^25, -10, 10)`.
pub(crate) fn eviction_cost(deletion_cost: i32, priority: i32) -> f64 {
    (1.0 + f64::from(deletion_cost) / 2f64.powi(27) + f64::from(priority) / 2f64.powi(25))
        .clamp(-10.0, 10.0)
}

/// Upstream's disruption cost of a node: the pods' eviction costs times the share of the
/// node's lifetime that remains.
pub fn disruption_cost(node: &NodeInfo, pool: Option<&PoolPolicy>, now: Time) -> f64 {
    let remaining = match pool.and_then(|p| p.expire_after) {
        Some(expire) if expire > 0 => {
            ((expire - (now - node.created)) as f64 / expire as f64).clamp(0.0, 1.0)
        }
        _ => 1.0,
    };
    let cost: f64 = node
        .pods
        .iter()
        .filter(|p| p.reschedulable)
        .map(|p| eviction_cost(p.deletion_cost, p.priority))
        .sum();
    cost * remaining
}

fn is_empty(node: &NodeInfo) -> bool {
    node.pods.iter().all(|p| !p.reschedulable)
}

struct Ctx<'a> {
    input: &'a DisruptionInput,
    work: Work,
    budgets: Budgets,
    taken: BTreeSet<String>,
    decision: Decision,
}

impl Ctx<'_> {
    fn pool(&self, name: &str) -> Option<&PoolPolicy> {
        self.input.pools.iter().find(|p| p.name == name)
    }

    fn block(&mut self, node: &str, reason: String) {
        if !self.decision.blocked.iter().any(|b| b.node == node) {
            self.decision.blocked.push(Blocked {
                node: node.to_string(),
                reason,
            });
        }
    }

    /// Why `node` cannot be a candidate at all, if it cannot (`pods_matter`: pod blockers
    /// count; forceful methods ignore them).
    fn ineligible(&self, node: &NodeInfo, pods_matter: bool) -> Option<String> {
        if self.taken.contains(&node.name) {
            return Some("already in a command of this decision".into());
        }
        if node.disrupting {
            return Some("already being disrupted".into());
        }
        if !node.initialized {
            return Some("not initialized".into());
        }
        if node.nominated {
            return Some("pods are nominated to it".into());
        }
        if node.do_not_disrupt {
            return Some("node has karpenter.sh/do-not-disrupt".into());
        }
        if self.pool(&node.node_pool).is_none() {
            return Some(format!("NodePool {} not found", node.node_pool));
        }
        if pods_matter && let Some(b) = node.pods.iter().find_map(|p| p.blocker.clone()) {
            return Some(b);
        }
        None
    }

    /// Is `node`'s pool out of budget for `reason`? If so the node is blocked with that.
    fn out_of_budget(&mut self, node: &NodeInfo, reason: Reason) -> bool {
        if self.budgets.left(&node.node_pool, reason) > 0 {
            return false;
        }
        let why = format!(
            "disruption budget of NodePool {} for {} is used up",
            node.node_pool,
            reason.as_str()
        );
        self.block(&node.name, why);
        true
    }

    /// May emptiness or consolidation take `node`? If not it is blocked with the reason.
    fn may_consolidate(&mut self, node: &NodeInfo) -> bool {
        let why = self
            .ineligible(node, true)
            .or_else(|| self.consolidatable(node).err());
        match why {
            Some(r) => {
                self.block(&node.name, r);
                false
            }
            None => true,
        }
    }

    fn consolidatable(&self, node: &NodeInfo) -> Result<(), String> {
        let Some(pool) = self.pool(&node.node_pool) else {
            return Err("NodePool not found".into());
        };
        if pool.is_static {
            return Err(format!(
                "NodePool {} is static (spec.replicas): its nodes are not consolidated",
                pool.name
            ));
        }
        match pool.consolidate_after {
            None => Err("consolidateAfter is Never".into()),
            Some(_) if node.quiet_since > self.input.now => {
                Err("consolidateAfter: its pods changed after now".into())
            }
            Some(after) if self.input.now - node.quiet_since < after => Err(format!(
                "consolidateAfter: pods changed {}s ago, needs {}s",
                (self.input.now - node.quiet_since) / 1000,
                after / 1000
            )),
            Some(_) => Ok(()),
        }
    }

    fn push(
        &mut self,
        method: Method,
        reason: Reason,
        nodes: &[&NodeInfo],
        replacements: Vec<karpenter_scheduling::ClaimPlan>,
        message: String,
    ) {
        for n in nodes {
            self.taken.insert(n.name.clone());
            if reason != Reason::Expired {
                self.budgets.spend(&n.node_pool);
            }
        }
        let savings = nodes.iter().map(|n| n.price).sum::<f64>()
            - replacements.iter().map(|c| c.price).sum::<f64>();
        self.decision.commands.push(Command {
            method,
            reason,
            candidates: nodes.iter().map(|n| n.name.clone()).collect(),
            replacements,
            savings_per_hour: savings,
            message,
        });
    }
}

fn moved(nodes: &[&NodeInfo]) -> Vec<karpenter_scheduling::PendingPod> {
    nodes
        .iter()
        .flat_map(|n| {
            n.pods
                .iter()
                .filter(|p| p.reschedulable)
                .map(|p| p.spec.clone())
        })
        .collect()
}

/// Decide what one disruption loop does now.
pub fn decide(input: &DisruptionInput) -> Decision {
    decide_cached(input, &mut None)
}

/// [`decide`], reusing (and leaving in `cache`) the static half of its scheduling
/// simulations: the answer is the same with or without a cache, only faster with one.
pub fn decide_cached(
    input: &DisruptionInput,
    cache: &mut Option<karpenter_scheduling::Prepared>,
) -> Decision {
    let moved = input
        .nodes
        .iter()
        .flat_map(|n| n.pods.iter().map(|p| &p.spec));
    let mut ctx = Ctx {
        input,
        work: Work::new(&input.scheduling, moved, cache.take()),
        budgets: Budgets::new(input),
        taken: BTreeSet::new(),
        decision: Decision::default(),
    };
    let mut nodes: Vec<&NodeInfo> = input.nodes.iter().collect();
    nodes.sort_by(|a, b| {
        let ca = disruption_cost(a, ctx.pool(&a.node_pool), input.now);
        let cb = disruption_cost(b, ctx.pool(&b.node_pool), input.now);
        ca.total_cmp(&cb).then_with(|| a.name.cmp(&b.name))
    });
    expiration(&mut ctx, &nodes);
    emptiness(&mut ctx, &nodes);
    drift(&mut ctx, &nodes);
    // from here on the methods consolidate: nodes inside their consolidateAfter window
    // take none of the pods they move
    ctx.work.settle(&input.nodes, &input.pools, input.now);
    let candidates = consolidation_candidates(&mut ctx, &nodes);
    multi_node(&mut ctx, &candidates);
    single_node(&mut ctx, &candidates);
    ctx.decision.budgets = ctx.budgets.states();
    *cache = Some(ctx.work.into_prepared());
    ctx.decision
}

fn expiration(ctx: &mut Ctx<'_>, nodes: &[&NodeInfo]) {
    for n in nodes {
        let Some(expire) = ctx.pool(&n.node_pool).and_then(|p| p.expire_after) else {
            continue;
        };
        if ctx.input.now - n.created >= expire && !n.disrupting {
            let msg = format!("expired: older than expireAfter {}h", expire / 3_600_000);
            ctx.push(Method::Expiration, Reason::Expired, &[n], Vec::new(), msg);
        }
    }
}

fn emptiness(ctx: &mut Ctx<'_>, nodes: &[&NodeInfo]) {
    let mut chosen = Vec::new();
    for n in nodes.iter().filter(|n| is_empty(n)) {
        if !ctx.may_consolidate(n) {
            continue;
        }
        if ctx.out_of_budget(n, Reason::Empty) {
            continue;
        }
        ctx.budgets.spend(&n.node_pool);
        chosen.push(*n);
    }
    if !chosen.is_empty() {
        // spent above, one by one, so the budget applied to each; push re-spends: undo
        for n in &chosen {
            ctx.budgets.unspend(&n.node_pool);
        }
        let msg = format!("{} empty node(s)", chosen.len());
        ctx.push(Method::Emptiness, Reason::Empty, &chosen, Vec::new(), msg);
    }
}

fn drift(ctx: &mut Ctx<'_>, nodes: &[&NodeInfo]) {
    let mut drifted: Vec<&NodeInfo> = nodes
        .iter()
        .copied()
        .filter(|n| n.drifted.is_some())
        .collect();
    drifted.sort_by_key(|n| (!is_empty(n), n.name.clone()));
    for n in drifted {
        // drift is eventual: with a terminationGracePeriod pod-level blockers do not stop
        // selection (the deadline ends them); without one they do
        let bounded = ctx
            .pool(&n.node_pool)
            .is_some_and(|p| p.termination_grace_period.is_some());
        if let Some(r) = ctx.ineligible(n, !bounded) {
            ctx.block(&n.name, r);
            continue;
        }
        if ctx.out_of_budget(n, Reason::Drifted) {
            continue;
        }
        let pods = moved(&[n]);
        let out = ctx.work.simulate(&[n.index], &pods);
        if !out.placed_all {
            ctx.block(
                &n.name,
                "drifted, but its pods would not all schedule elsewhere".into(),
            );
            continue;
        }
        let replacements = out.claims.clone();
        ctx.work.commit(&[n.index], &out, &replacements, &pods);
        let msg = format!("drifted: {}", n.drifted.clone().unwrap_or_default());
        ctx.push(Method::Drift, Reason::Drifted, &[n], replacements, msg);
        break; // one drift command per loop, as upstream
    }
}

fn consolidation_candidates<'a>(ctx: &mut Ctx<'_>, nodes: &[&'a NodeInfo]) -> Vec<&'a NodeInfo> {
    let mut out = Vec::new();
    for n in nodes {
        if is_empty(n) || ctx.taken.contains(&n.name) {
            continue;
        }
        if ctx
            .pool(&n.node_pool)
            .is_some_and(|p| p.policy == Policy::WhenEmpty)
        {
            ctx.block(
                &n.name,
                "consolidationPolicy WhenEmpty and the node is not empty".into(),
            );
            continue;
        }
        if !ctx.may_consolidate(n) {
            continue;
        }
        out.push(*n);
    }
    out
}

/// Try removing `set`; a command if every pod fits elsewhere with at most one strictly
/// cheaper replacement.
fn try_set(
    ctx: &mut Ctx<'_>,
    set: &[&NodeInfo],
    single: bool,
) -> Result<
    (
        Vec<karpenter_scheduling::ClaimPlan>,
        Vec<karpenter_scheduling::PendingPod>,
        crate::simulate::Outcome,
    ),
    String,
> {
    let pods = moved(set);
    let idx: Vec<usize> = set.iter().map(|n| n.index).collect();
    let out = ctx.work.simulate(&idx, &pods);
    if !out.placed_all {
        return Err(
            "its pods would not all schedule on other initialized nodes or one new NodeClaim"
                .into(),
        );
    }
    let replacements = match out.claims.len() {
        0 => Vec::new(),
        1 => vec![cheaper_replacement(
            &out.claims[0],
            set,
            ctx.work.catalog(),
            ctx.input.spot_to_spot,
            single,
        )?],
        n => return Err(format!("its pods would need {n} new NodeClaims")),
    };
    let balanced = set.iter().any(|n| {
        ctx.pool(&n.node_pool)
            .is_some_and(|p| p.policy == Policy::Balanced)
    });
    if balanced {
        let savings = set.iter().map(|n| n.price).sum::<f64>()
            - replacements.iter().map(|c| c.price).sum::<f64>();
        if let Some(why) = crate::balanced::rejected(ctx.input, set, savings) {
            return Err(why);
        }
    }
    Ok((replacements, pods, out))
}

fn multi_node(ctx: &mut Ctx<'_>, candidates: &[&NodeInfo]) {
    let mut left: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    let mut pool_ok: Vec<&NodeInfo> = Vec::new();
    for n in candidates {
        let l = left
            .entry(n.node_pool.clone())
            .or_insert_with(|| ctx.budgets.left(&n.node_pool, Reason::Underutilized));
        if *l > 0 {
            *l -= 1;
            pool_ok.push(*n);
        }
        if pool_ok.len() >= MAX_MULTI_NODE_CANDIDATES {
            break;
        }
    }
    if pool_ok.len() < 2 {
        return;
    }
    // binary search over prefix sizes [2, n] for the largest that consolidates
    let (mut lo, mut hi) = (2usize, pool_ok.len());
    let mut best = None;
    while lo <= hi {
        let mid = (lo + hi) / 2;
        match try_set(ctx, &pool_ok[..mid], false) {
            Ok(found) => {
                best = Some((mid, found));
                lo = mid + 1;
            }
            Err(_) => hi = mid - 1,
        }
    }
    if let Some((k, (replacements, pods, out))) = best {
        let set = &pool_ok[..k];
        let idx: Vec<usize> = set.iter().map(|n| n.index).collect();
        ctx.work.commit(&idx, &out, &replacements, &pods);
        let msg = if replacements.is_empty() {
            format!("{k} nodes' pods fit on other nodes")
        } else {
            format!(
                "{k} nodes replaced by one cheaper {}",
                replacements[0]
                    .instance_types
                    .first()
                    .map_or("-", String::as_str)
            )
        };
        ctx.push(
            Method::MultiNode,
            Reason::Underutilized,
            set,
            replacements,
            msg,
        );
    }
}

fn single_node(ctx: &mut Ctx<'_>, candidates: &[&NodeInfo]) {
    let mut simulations = 0;
    for n in candidates {
        if ctx.taken.contains(&n.name) {
            continue;
        }
        if ctx.out_of_budget(n, Reason::Underutilized) {
            continue;
        }
        if simulations >= ctx.input.max_simulations {
            ctx.block(
                &n.name,
                "not evaluated in this loop (simulation cap reached)".into(),
            );
            continue;
        }
        simulations += 1;
        match try_set(ctx, &[n], true) {
            Ok((replacements, pods, out)) => {
                ctx.work.commit(&[n.index], &out, &replacements, &pods);
                let msg = match replacements.first() {
                    None => "its pods fit on other nodes".to_string(),
                    Some(r) => format!(
                        "replaced by a cheaper {} (${:.4}/h instead of ${:.4}/h)",
                        r.instance_types.first().map_or("-", String::as_str),
                        r.price,
                        n.price
                    ),
                };
                ctx.push(
                    Method::SingleNode,
                    Reason::Underutilized,
                    &[n],
                    replacements,
                    msg,
                );
            }
            Err(r) => ctx.block(&n.name, r),
        }
    }
}
