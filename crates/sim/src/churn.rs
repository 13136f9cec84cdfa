//! What the savings cost and where they come from: churn per autoscaler (evictions,
//! restarts, pod-time lost, nodes launched and terminated, node lifetimes), whether each
//! consolidation move paid for itself, and the attribution of Karpenter's saving over the
//! Cluster Autoscaler to capacity type, provisioning and consolidation.

use karpenter_model::time::{HOUR, Time};

use crate::report::percentile;
use crate::run::{Outcome, Which};

/// A consolidation move that saved less than this (USD, over the time it held, until its
/// NodePool launched again) is reported as marginal: it restarted pods for, in hindsight,
/// nothing. A cent is under a tenth of what one spot vCPU costs in a day in us-east-1, far
/// below what a page of restarted pods is worth to anyone.
pub const MARGINAL_SAVING: f64 = 0.01;

/// Churn of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Churn {
    /// Evictions per simulated day.
    pub evictions_per_day: f64,
    /// Running pods lost and restarted.
    pub restarts: u64,
    /// Pod-minutes lost to restarts (loss until the replacement was bound).
    pub pod_minutes_lost: f64,
    /// Instances launched.
    pub launched: usize,
    /// Instances terminated.
    pub terminated: usize,
    /// Mean lifetime of terminated instances, hours.
    pub mean_life_h: f64,
    /// 10th percentile lifetime of terminated instances, hours.
    pub p10_life_h: f64,
}

/// The churn of `o`.
pub fn churn(o: &Outcome) -> Churn {
    let days = o.duration as f64 / (24 * HOUR) as f64;
    let lives: Vec<Time> = o
        .records
        .iter()
        .filter_map(|r| r.ended_at.map(|e| e - r.launched_at))
        .collect();
    let mean = if lives.is_empty() {
        0.0
    } else {
        lives.iter().sum::<Time>() as f64 / lives.len() as f64
    };
    Churn {
        evictions_per_day: if days > 0.0 {
            o.evictions as f64 / days
        } else {
            0.0
        },
        restarts: o.restarted,
        pod_minutes_lost: o.downtime as f64 / 60_000.0,
        launched: o.records.len(),
        terminated: lives.len(),
        mean_life_h: mean / HOUR as f64,
        p10_life_h: percentile(&lives, 0.10) as f64 / HOUR as f64,
    }
}

/// How Karpenter's consolidation moves paid off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moves {
    /// Consolidation moves (empty and underutilized).
    pub moves: usize,
    /// Of which replaced nodes (rather than only deleting).
    pub replacing: usize,
    /// Moves whose saving, over the time it held (until the pool next launched), exceeded
    /// what the move cost.
    pub paid: usize,
    /// Moves that saved less than [`MARGINAL_SAVING`] while they held.
    pub marginal: usize,
    /// Dollars the moves saved while they held.
    pub realized: f64,
    /// Dollars the moves cost (pod-time lost, valued at the cluster's price per pod-hour,
    /// and the replacements' start-up).
    pub cost: f64,
    /// Median saving per move, USD per hour.
    pub median_saving_per_hour: f64,
}

/// Judge each consolidation move of `o`. `startup` is the typical time from launch to a
/// ready node (the replacement runs, and costs, that long before it takes pods).
pub fn moves(o: &Outcome, startup: Time) -> Moves {
    let pod_hours: f64 = o
        .samples
        .windows(2)
        .map(|w| w[0].bound as f64 * (w[1].t - w[0].t) as f64 / HOUR as f64)
        .sum();
    let per_pod_hour = if pod_hours > 0.0 {
        o.cost / pod_hours
    } else {
        0.0
    };
    let restart_h = if o.restarted > 0 {
        o.downtime as f64 / o.restarted as f64 / HOUR as f64
    } else {
        0.0
    };
    let mut out = Moves::default();
    let mut savings = Vec::new();
    for m in o
        .recorder
        .moves
        .iter()
        .filter(|m| matches!(m.reason, "Empty" | "Underutilized"))
    {
        out.moves += 1;
        out.replacing += usize::from(m.replacements > 0);
        let next_launch = o
            .records
            .iter()
            .filter(|r| r.node_pool == m.node_pool && r.launched_at > m.at)
            .map(|r| r.launched_at)
            .min()
            .unwrap_or(o.duration);
        let held_h = (next_launch - m.at).max(0) as f64 / HOUR as f64;
        let cost = m.pods as f64 * restart_h * per_pod_hour
            + m.replacement_price * startup as f64 / HOUR as f64;
        let realized = m.savings_per_hour * held_h;
        out.paid += usize::from(realized >= cost);
        out.marginal += usize::from(realized < MARGINAL_SAVING);
        out.realized += realized;
        out.cost += cost;
        savings.push((m.savings_per_hour * 1e6).round() as Time);
    }
    out.median_saving_per_hour = percentile(&savings, 0.5) as f64 / 1e6;
    out
}

/// Where Karpenter's saving over the Cluster Autoscaler comes from, in dollars. The three
/// parts add up to the whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attribution {
    /// The Cluster Autoscaler's cost.
    pub baseline: f64,
    /// The Cluster Autoscaler's cost less Karpenter's.
    pub total: f64,
    /// From buying a different mix of spot and on-demand: Karpenter without consolidation,
    /// priced at its own discount against at the Cluster Autoscaler's.
    pub capacity_type: f64,
    /// From instance choice and packing at provisioning: fewer on-demand-equivalent dollars
    /// (without consolidation) at the Cluster Autoscaler's discount.
    pub provisioning: f64,
    /// From consolidation: Karpenter without consolidation less Karpenter.
    pub consolidation: f64,
}

/// The attribution, when `outcomes` hold Karpenter, Karpenter without consolidation and the
/// Cluster Autoscaler.
pub fn attribution(outcomes: &[Outcome]) -> Option<Attribution> {
    let find = |w: Which| outcomes.iter().find(|o| o.autoscaler == w);
    let (k, nc, ca) = (
        find(Which::Karpenter)?,
        find(Which::KarpenterNoConsolidation)?,
        find(Which::ClusterAutoscaler)?,
    );
    let discount = |o: &Outcome| {
        let e = o.on_demand_equivalent();
        if e > 0.0 { 1.0 - o.cost / e } else { 0.0 }
    };
    let (e_nc, e_ca) = (nc.on_demand_equivalent(), ca.on_demand_equivalent());
    let (d_nc, d_ca) = (discount(nc), discount(ca));
    Some(Attribution {
        baseline: ca.cost,
        total: ca.cost - k.cost,
        capacity_type: e_nc * (d_nc - d_ca),
        provisioning: (e_ca - e_nc) * (1.0 - d_ca),
        consolidation: nc.cost - k.cost,
    })
}

impl Attribution {
    /// Are shares of the total meaningful (a saving of at least 1 % of the baseline)? Shares
    /// of a near-zero or negative total only confuse.
    pub fn shares_meaningful(&self) -> bool {
        self.total > 0.01 * self.baseline
    }
}
