//! The disruption loop and its orchestration queue (upstream §4.1, §4.6): every 10 s when
//! idle, and again at once after a drift or expiration command, the cluster is handed to
//! the pure decision (`karpenter-disruption`); commands without replacements delete their
//! candidates at once; commands with replacements taint the candidates, launch the
//! replacements, and delete the candidates only once every replacement is initialized. A replacement that disappears, or a command older than
//! 10 minutes, rolls back: the taint and the disruption mark are removed, nothing is lost.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_disruption::{DisruptionInput, NodeInfo, PodInfo, Reason, decide_cached};
use karpenter_model::InstanceType;
use karpenter_model::time::{MINUTE, SECOND, Time};
use karpenter_model::wellknown::taints;

use crate::events::Recorder;
use crate::input::{Setup, build};
use crate::provisioner::{Namer, new_claim, provisionable};
use crate::state::{ClaimState, ClusterState};
use crate::termination::{delete_claim, disrupted_taint, eviction_blocker};

/// How often the loop runs when idle (upstream: 10 s).
pub const POLL: Time = 10 * SECOND;
/// How long a command may wait for its replacements (upstream's minimum retry window).
pub const COMMAND_TIMEOUT: Time = 10 * MINUTE;
pub use karpenter_disruption::MAX_SIMULATIONS;

#[derive(Debug, Clone)]
struct Queued {
    candidates: Vec<String>,
    replacements: Vec<String>,
    reason: &'static str,
    started: Time,
}

/// The disruption controller.
#[derive(Debug, Clone, Default)]
pub struct Disruption {
    queue: Vec<Queued>,
    last_run: Option<Time>,
    /// Generation after the last decision that found nothing, and when time alone could
    /// change that (a consolidateAfter or expireAfter coming due).
    settled: Option<(u64, Time)>,
    /// The static half of the scheduling simulations, kept between decisions.
    prepared: Option<karpenter_scheduling::Prepared>,
    /// The last decision acted without a validation wait (drift, expiration): the next one
    /// runs at once, as upstream requeues immediately after a method succeeds.
    again: bool,
}

fn reason_str(r: Reason) -> &'static str {
    match r {
        Reason::Empty => "Empty",
        Reason::Drifted => "Drifted",
        Reason::Underutilized => "Underutilized",
        Reason::Expired => "Expired",
    }
}

impl Disruption {
    /// Commands waiting for their replacements.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Is a decision due at `now` (the poll interval passed and something could have
    /// changed)? Runs the orchestration queue on the way.
    pub fn due(&mut self, state: &mut ClusterState, now: Time, recorder: &mut Recorder) -> bool {
        self.run_queue(state, now, recorder);
        if !self.again && self.last_run.is_some_and(|t| now - t < POLL) {
            return false;
        }
        let settled = self
            .settled
            .is_some_and(|(generation, due)| generation == state.generation() && now < due);
        if settled {
            self.last_run = Some(now);
        }
        !settled
    }

    /// When the loop next needs to run.
    pub fn next_wake(&self, state: &ClusterState, now: Time) -> Option<Time> {
        if self.again || !self.queue.is_empty() {
            return Some(now + SECOND);
        }
        let poll = self.last_run.map_or(now, |t| t + POLL).max(now + 1);
        match self.settled {
            Some((generation, _)) if generation != state.generation() => Some(poll),
            Some((_, due)) if due < Time::MAX => Some(due.max(poll)),
            Some(_) => None,
            None => Some(self.last_run.map_or(now, |t| t + POLL)),
        }
    }

    /// Run the decision (call when [`Disruption::due`]). `drifted` tells whether a
    /// claim's instance drifted (the cloud's check).
    #[allow(clippy::too_many_arguments)]
    pub fn reconcile(
        &mut self,
        setup: &Setup,
        state: &mut ClusterState,
        types: std::sync::Arc<Vec<InstanceType>>,
        drifted: &dyn Fn(&ClaimState) -> Option<String>,
        now: Time,
        namer: &mut Namer,
        recorder: &mut Recorder,
    ) -> Option<Time> {
        self.last_run = Some(now);
        let input = disruption_input(setup, state, types, drifted, now);
        let next_due = next_due(&input);
        let decision = decide_cached(&input, &mut self.prepared);
        // Emptiness and consolidation stand in for upstream's 15 s validation wait with the
        // 10 s poll; drift and expiration have no such wait upstream, so the loop goes on.
        self.again = !decision.commands.is_empty()
            && decision
                .commands
                .iter()
                .all(|c| matches!(c.reason, Reason::Drifted | Reason::Expired));
        if decision.commands.is_empty() {
            self.settled = Some((state.generation(), next_due));
            return self.next_wake(state, now);
        }
        self.settled = None;
        let claim_of: BTreeMap<String, String> = input
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.claim.clone()))
            .collect();
        let pool_of: BTreeMap<String, String> = input
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.node_pool.clone()))
            .collect();
        for cmd in &decision.commands {
            let reason = reason_str(cmd.reason);
            let method = cmd.method.as_str();
            recorder.moves.push(crate::events::Move {
                at: now,
                reason,
                node_pool: cmd
                    .candidates
                    .first()
                    .and_then(|n| pool_of.get(n))
                    .cloned()
                    .unwrap_or_default(),
                nodes: cmd.candidates.len(),
                replacements: cmd.replacements.len(),
                replacement_price: cmd.replacements.iter().map(|r| r.price).sum(),
                savings_per_hour: cmd.savings_per_hour,
                pods: cmd.candidates.iter().map(|n| state.pod_count(n)).sum(),
            });
            recorder.count(
                "karpenter_voluntary_disruption_decisions_total",
                &[
                    (
                        "decision",
                        if cmd.replacements.is_empty() {
                            "delete"
                        } else {
                            "replace"
                        },
                    ),
                    ("reason", reason),
                ],
                1.0,
            );
            let claims: Vec<String> = cmd
                .candidates
                .iter()
                .filter_map(|n| claim_of.get(n).cloned())
                .collect();
            for (node, claim) in cmd.candidates.iter().zip(&claims) {
                let pool = pool_of.get(node).cloned().unwrap_or_default();
                recorder.count(
                    "karpenter_nodeclaims_disrupted_total",
                    &[("reason", &reason.to_lowercase()), ("nodepool", &pool)],
                    1.0,
                );
                recorder.event(
                    now,
                    "DisruptionTerminating",
                    format!("Node/{node}"),
                    format!(
                        "{method}: {} (saves ${:.4}/h)",
                        cmd.message, cmd.savings_per_hour
                    ),
                );
                state.update_node(node, |n| {
                    let t = disrupted_taint();
                    if !n.taints.contains(&t) {
                        n.taints.push(t);
                    }
                });
                if cmd.replacements.is_empty() {
                    delete_claim(state, claim, reason, now);
                } else {
                    state.update_claim(claim, |c| c.disruption = Some(reason.to_string()));
                }
            }
            if !cmd.replacements.is_empty() {
                let mut names = Vec::new();
                for r in &cmd.replacements {
                    let name = namer.unused(&r.node_pool, |n| state.claims().contains_key(n));
                    recorder.count(
                        "karpenter_nodeclaims_created_total",
                        &[
                            ("nodepool", &r.node_pool),
                            ("reason", &reason.to_lowercase()),
                            ("min_values_relaxed", "false"),
                        ],
                        1.0,
                    );
                    recorder.event(
                        now,
                        "DisruptionLaunching",
                        format!("NodeClaim/{name}"),
                        format!("replacement for {}", cmd.candidates.join(", ")),
                    );
                    state.put_claim(new_claim(setup, r, name.clone(), now));
                    names.push(name);
                }
                self.queue.push(Queued {
                    candidates: claims,
                    replacements: names,
                    reason,
                    started: now,
                });
            }
        }
        Some(now + SECOND)
    }

    fn run_queue(&mut self, state: &mut ClusterState, now: Time, recorder: &mut Recorder) {
        let mut keep = Vec::new();
        for q in std::mem::take(&mut self.queue) {
            let gone = q.replacements.iter().any(|r| {
                state
                    .claims()
                    .get(r)
                    .is_none_or(|c| c.deleting_since.is_some())
            });
            if gone || now - q.started > COMMAND_TIMEOUT {
                // a failed replacement waits the poll: a pool that keeps answering
                // insufficient capacity costs a NodeClaim per poll, not one per second
                self.again = false;
                recorder.count(
                    "karpenter_voluntary_disruption_queue_failures_total",
                    &[],
                    1.0,
                );
                for c in &q.candidates {
                    let node = state.claims().get(c).and_then(|c| c.node.clone());
                    state.update_claim(c, |c| c.disruption = None);
                    if let Some(n) = node {
                        state.update_node(&n, |n| {
                            n.taints.retain(|t| t.key != taints::DISRUPTED_KEY)
                        });
                    }
                    recorder.event(
                        now,
                        "DisruptionFailed",
                        format!("NodeClaim/{c}"),
                        "replacement did not come up; rolled back".into(),
                    );
                }
                for r in &q.replacements {
                    delete_claim(state, r, "Rollback", now);
                }
                continue;
            }
            let ready = q.replacements.iter().all(|r| {
                state
                    .claims()
                    .get(r)
                    .is_some_and(|c| c.initialized_at.is_some())
            });
            if ready {
                for c in &q.candidates {
                    delete_claim(state, c, q.reason, now);
                }
            } else {
                keep.push(q);
            }
        }
        self.queue = keep;
        self.release_orphans(state, now, recorder);
    }

    /// Candidates marked and tainted by a command this controller no longer holds (it
    /// restarted, or lost its lease, mid-command) are released, as upstream does on start:
    /// the `karpenter.sh/disrupted` taint and the disruption mark come off, so the node takes
    /// pods again and a later decision may pick it anew.
    fn release_orphans(&mut self, state: &mut ClusterState, now: Time, recorder: &mut Recorder) {
        let queued: BTreeSet<&str> = self
            .queue
            .iter()
            .flat_map(|q| q.candidates.iter().map(String::as_str))
            .collect();
        let orphans: Vec<(String, Option<String>)> = state
            .claims()
            .values()
            .filter(|c| c.deleting_since.is_none() && !queued.contains(c.name.as_str()))
            .filter(|c| {
                c.disruption.is_some()
                    || c.node.as_ref().is_some_and(|n| {
                        state.nodes().get(n).is_some_and(|n| {
                            !n.deleting && n.taints.iter().any(|t| t.key == taints::DISRUPTED_KEY)
                        })
                    })
            })
            .map(|c| (c.name.clone(), c.node.clone()))
            .collect();
        for (claim, node) in orphans {
            state.update_claim(&claim, |c| c.disruption = None);
            if let Some(n) = node {
                state.update_node(&n, |n| n.taints.retain(|t| t.key != taints::DISRUPTED_KEY));
            }
            recorder.event(
                now,
                "DisruptionFailed",
                format!("NodeClaim/{claim}"),
                "no command holds this candidate (the controller restarted); released".into(),
            );
        }
    }
}

/// When time alone could make the decision change.
fn next_due(input: &DisruptionInput) -> Time {
    let mut due = Time::MAX;
    for n in &input.nodes {
        let Some(pool) = input.pools.iter().find(|p| p.name == n.node_pool) else {
            continue;
        };
        if let Some(after) = pool.consolidate_after {
            let t = n.quiet_since + after;
            if t > input.now {
                due = due.min(t);
            }
        }
        if let Some(expire) = pool.expire_after {
            let t = n.created + expire;
            if t > input.now {
                due = due.min(t);
            }
        }
        if pool.budgets.iter().any(|b| b.window.is_some()) {
            due = due.min(input.now + MINUTE);
        }
    }
    due
}

/// The decision's input from the cluster state.
pub fn disruption_input(
    setup: &Setup,
    state: &ClusterState,
    types: std::sync::Arc<Vec<InstanceType>>,
    drifted: &dyn Fn(&ClaimState) -> Option<String>,
    now: Time,
) -> DisruptionInput {
    let pending = provisionable(state, false);
    let scheduling = build(setup, state, types, &pending, &BTreeSet::new(), true);
    let index = scheduling.existing_index();
    let mut nodes = Vec::new();
    for c in state.claims().values() {
        let (Some(node), Some(l)) = (&c.node, &c.launched) else {
            continue;
        };
        let Some(n) = state.nodes().get(node) else {
            continue;
        };
        let Some(&i) = index.get(node.as_str()) else {
            continue;
        };
        let pods = state
            .pods_on(node)
            .map(|p| {
                let mut spec = (*p.spec).clone();
                spec.id.clone_from(&p.id);
                PodInfo {
                    id: p.id.clone(),
                    spec,
                    deletion_cost: p.deletion_cost,
                    priority: p.priority,
                    blocker: eviction_blocker(state, &p.id),
                    reschedulable: p.reschedulable(),
                }
            })
            .collect();
        nodes.push(NodeInfo {
            name: node.clone(),
            claim: c.name.clone(),
            node_pool: c.node_pool.clone(),
            instance_type: l.instance_type.clone(),
            zone: l.zone.clone(),
            capacity_type: l.capacity_type.clone(),
            price: l.price,
            initialized: c.initialized_at.is_some(),
            ready: n.ready,
            created: c.created,
            quiet_since: c.last_pod_event.max(c.initialized_at.unwrap_or(c.created)),
            disrupting: c.deleting_since.is_some() || c.disruption.is_some() || n.deleting,
            do_not_disrupt: false,
            nominated: false,
            drifted: drifted(c),
            index: i,
            pods,
        });
    }
    DisruptionInput {
        now,
        scheduling,
        nodes,
        pools: setup.disruption.clone(),
        spot_to_spot: setup.spot_to_spot,
        max_simulations: MAX_SIMULATIONS,
    }
}
