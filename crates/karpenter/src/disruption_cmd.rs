//! `karpenter plan --disruption`: what one disruption loop would do right now on the
//! cluster the manifests describe: its commands with their reasons, replacements and
//! savings, every node left alone and why, and the budgets' state. JSON (stable field
//! names) or a table.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use karpenter_api::snapshot::{self, Cluster, DisruptionSettings};
use karpenter_disruption::Decision;
use karpenter_model::InstanceType;
use karpenter_model::time::{Time, parse_rfc3339};
use karpenter_scheduling::Options;
use serde_json::{Value, json};

use crate::plan_cmd::{claim_json, price};

/// Upstream's feature gates (Helm `settings.featureGates`), all off by default.
const GATES: &[&str] = &[
    "SpotToSpotConsolidation",
    "NodeRepair",
    "ReservedCapacity",
    "NodeOverlay",
    "StaticCapacity",
];

/// Parse `--feature-gates A=true,B=false` (Kubernetes' syntax); unknown gates are errors.
pub fn feature_gates(text: Option<&str>) -> anyhow::Result<BTreeMap<String, bool>> {
    let mut out: BTreeMap<String, bool> = GATES.iter().map(|g| (g.to_string(), false)).collect();
    for item in text
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.trim().is_empty())
    {
        let Some((name, value)) = item.split_once('=') else {
            bail!("--feature-gates: {item:?} is not NAME=true|false");
        };
        let name = name.trim();
        if !GATES.contains(&name) {
            bail!(
                "--feature-gates: unknown gate {name:?} (known: {})",
                GATES.join(", ")
            );
        }
        let on = match value.trim() {
            "true" => true,
            "false" => false,
            other => bail!("--feature-gates: {name}={other:?} is not true or false"),
        };
        out.insert(name.to_string(), on);
    }
    Ok(out)
}

/// `--now` as a time; `None`: the controllers' wall clock (the binary's edge may read it).
pub fn now(text: Option<&str>) -> anyhow::Result<Time> {
    match text {
        Some(t) => parse_rfc3339(t).with_context(|| {
            format!("--now: {t:?} is not an RFC 3339 time (2026-11-28T10:00:00Z)")
        }),
        None => Ok(karpenter_controllers::Clock::now(
            &karpenter_controllers::SystemClock,
        )),
    }
}

/// Run the decision on the snapshot. `Err(lines)` lists the objects and fields that are
/// wrong.
pub fn decide(
    cluster: &Cluster<'_>,
    catalog: Vec<InstanceType>,
    options: Options,
    settings: DisruptionSettings,
) -> Result<Decision, Vec<String>> {
    let snap = snapshot::disruption_input(cluster, catalog, options, settings)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let mut decision = karpenter_disruption::decide(&snap.input);
    let mut blocked = snap.unknown;
    blocked.append(&mut decision.blocked);
    decision.blocked = blocked;
    Ok(decision)
}

/// Settings from the command line.
pub fn settings(now: Time, gates: &BTreeMap<String, bool>) -> DisruptionSettings {
    DisruptionSettings {
        now,
        spot_to_spot: gates
            .get("SpotToSpotConsolidation")
            .copied()
            .unwrap_or(false),
        max_simulations: karpenter_disruption::MAX_SIMULATIONS,
    }
}

/// The decision as JSON, field names as documented.
pub fn to_json(d: &Decision) -> Value {
    json!({
        "commands": d.commands.iter().map(|c| json!({
            "method": c.method.as_str(),
            "reason": c.reason.as_str(),
            "candidates": c.candidates,
            "replacements": c.replacements.iter().map(claim_json).collect::<Vec<_>>(),
            "savingsPerHour": price(c.savings_per_hour),
            "message": c.message,
        })).collect::<Vec<_>>(),
        "blocked": d.blocked.iter().map(|b| json!({"node": b.node, "reason": b.reason})).collect::<Vec<_>>(),
        "budgets": d.budgets.iter().map(|b| json!({
            "nodePool": b.node_pool,
            "reason": b.reason.as_str(),
            "allowed": b.allowed,
            "disrupting": b.disrupting,
        })).collect::<Vec<_>>(),
    })
}

/// The decision for people.
pub fn print_table(d: &Decision) {
    if d.commands.is_empty() {
        outln!("no disruption now");
    } else {
        outln!(
            "{:<26} {:<14} {:>10} {:>12} {:>10}",
            "METHOD",
            "REASON",
            "NODES",
            "REPLACEMENTS",
            "SAVES/H"
        );
        for c in &d.commands {
            outln!(
                "{:<26} {:<14} {:>10} {:>12} {:>10.4}",
                c.method.as_str(),
                c.reason.as_str(),
                c.candidates.len(),
                c.replacements.len(),
                c.savings_per_hour
            );
            outln!("  {}: {}", c.candidates.join(", "), c.message);
            for r in &c.replacements {
                outln!(
                    "  -> {} {} {} ${:.4}/h",
                    r.instance_types.first().map_or("-", String::as_str),
                    r.zone,
                    r.capacity_type,
                    r.price
                );
            }
        }
        let total: f64 = d.commands.iter().map(|c| c.savings_per_hour).sum();
        outln!("saves ${total:.4}/h in total");
    }
    if !d.blocked.is_empty() {
        outln!();
        outln!("left alone: {} node(s)", d.blocked.len());
        for b in &d.blocked {
            outln!("  {:<40} {}", b.node, b.reason);
        }
    }
    if !d.budgets.is_empty() {
        outln!();
        outln!(
            "{:<24} {:<14} {:>8} {:>11}",
            "NODEPOOL",
            "REASON",
            "ALLOWED",
            "DISRUPTING"
        );
        for b in &d.budgets {
            outln!(
                "{:<24} {:<14} {:>8} {:>11}",
                b.node_pool,
                b.reason.as_str(),
                b.allowed,
                b.disrupting
            );
        }
    }
}
