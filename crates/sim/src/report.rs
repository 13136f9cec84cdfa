//! Results for people and machines: percentiles, the side-by-side summary (Karpenter, the
//! same without consolidation, and the Cluster Autoscaler baseline), the attribution of the
//! saving, the churn, the faults survived, stable JSON, and a self-contained HTML report
//! whose charts are inline SVG (no script, no network).

use std::fmt::Write as _;

use karpenter_model::time::{HOUR, Time};
use serde_json::{Value, json};

use crate::charts::{Series, esc, lines, stacked};
use crate::churn::{Attribution, MARGINAL_SAVING, Moves, attribution, churn, moves};
use crate::run::{Outcome, Sample, Which};
use crate::scenario::Scenario;

/// The `q` quantile (0..=1) of `values` in milliseconds, nearest rank; 0 when empty.
pub fn percentile(values: &[Time], q: f64) -> Time {
    if values.is_empty() {
        return 0;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Headline numbers of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Autoscaler name.
    pub autoscaler: &'static str,
    /// Dollars spent.
    pub cost: f64,
    /// Average dollars per hour.
    pub cost_per_hour: f64,
    /// Median time to schedule, seconds.
    pub p50_s: f64,
    /// 99th percentile time to schedule, seconds.
    pub p99_s: f64,
    /// Pods bound.
    pub bound: usize,
    /// Pods pending over 15 minutes at the end.
    pub stuck: usize,
    /// Mean CPU utilisation over samples with nodes.
    pub cpu_utilisation: f64,
    /// Most nodes at once.
    pub max_nodes: usize,
    /// Instances launched.
    pub launched: u64,
    /// Launches that hit insufficient capacity.
    pub capacity_errors: u64,
    /// Nodes removed by disruption (Karpenter) or scale-down (CA).
    pub disrupted: f64,
    /// Invariant violations.
    pub violations: usize,
}

/// The summary of an outcome.
pub fn summarize(o: &Outcome) -> Summary {
    let with_nodes: Vec<&Sample> = o.samples.iter().filter(|s| s.nodes > 0).collect();
    let util = if with_nodes.is_empty() {
        0.0
    } else {
        with_nodes.iter().map(|s| s.cpu_utilisation).sum::<f64>() / with_nodes.len() as f64
    };
    let hours = o.duration as f64 / HOUR as f64;
    Summary {
        autoscaler: o.autoscaler.name(),
        cost: o.cost,
        cost_per_hour: if hours > 0.0 { o.cost / hours } else { 0.0 },
        p50_s: percentile(&o.waits, 0.50) as f64 / 1000.0,
        p99_s: percentile(&o.waits, 0.99) as f64 / 1000.0,
        bound: o.waits.len(),
        stuck: o.stuck.len(),
        cpu_utilisation: util,
        max_nodes: o.samples.iter().map(|s| s.nodes).max().unwrap_or(0),
        launched: o.launched,
        capacity_errors: o.capacity_errors,
        disrupted: o.recorder.total("karpenter_nodeclaims_disrupted_total")
            + o.recorder
                .total("cluster_autoscaler_scaled_down_nodes_total"),
        violations: o.violations.len(),
    }
}

/// How much better the first summary is than the second: (cost saving %, p99 speed-up %).
pub fn comparison(k: &Summary, ca: &Summary) -> (f64, f64) {
    let pct = |ours: f64, theirs: f64| {
        if theirs > 0.0 {
            (theirs - ours) / theirs * 100.0
        } else {
            0.0
        }
    };
    (pct(k.cost, ca.cost), pct(k.p99_s, ca.p99_s))
}

/// The summaries of Karpenter and the Cluster Autoscaler, when both ran.
fn pair(outcomes: &[Outcome]) -> Option<(Summary, Summary)> {
    let find = |w: Which| outcomes.iter().find(|o| o.autoscaler == w).map(summarize);
    Some((find(Which::Karpenter)?, find(Which::ClusterAutoscaler)?))
}

/// The typical launch-to-ready time of the scenario's nodes (the latencies' medians).
pub fn startup(scenario: &Scenario) -> Time {
    let c = &scenario.cloud;
    [
        ("cloud.bootLatency", &c.boot_latency),
        ("cloud.registrationLatency", &c.registration_latency),
        ("cloud.readyLatency", &c.ready_latency),
    ]
    .iter()
    .filter_map(|(p, l)| scenario.latency_of(p, l).ok())
    .map(|l| l.p50)
    .sum()
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole.abs() > 1e-9 {
        part / whole * 100.0
    } else {
        0.0
    }
}

/// The attribution in one line.
pub fn attribution_line(a: &Attribution) -> String {
    let share = |v: f64| {
        if a.shares_meaningful() {
            format!(" ({:.0}%)", pct(v, a.total))
        } else {
            String::new()
        }
    };
    format!(
        "{} ${:.2} against the Cluster Autoscaler: capacity type ${:.2}{}, instance choice and packing ${:.2}{}, consolidation ${:.2}{}",
        if a.total >= 0.0 {
            "saving"
        } else {
            "extra cost"
        },
        a.total.abs(),
        a.capacity_type,
        share(a.capacity_type),
        a.provisioning,
        share(a.provisioning),
        a.consolidation,
        share(a.consolidation)
    )
}

/// The consolidation moves in one line.
pub fn moves_line(m: &Moves) -> String {
    format!(
        "{} consolidation moves ({} replacing): {} paid for themselves, {} marginal (saved under ${MARGINAL_SAVING} before the pool launched again); saved ${:.2} while they held, cost ${:.2}; median ${:.4}/h each",
        m.moves, m.replacing, m.paid, m.marginal, m.realized, m.cost, m.median_saving_per_hour
    )
}

/// The summary table.
pub fn table(scenario: &Scenario, outcomes: &[Outcome]) -> String {
    let sums: Vec<Summary> = outcomes.iter().map(summarize).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {}: {} simulated",
        scenario.name, scenario.duration
    );
    let _ = writeln!(
        out,
        "{:<26} {:>10} {:>9} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>8} {:>9}",
        "autoscaler",
        "cost $",
        "$/hour",
        "p50 s",
        "p99 s",
        "bound",
        "stuck",
        "cpu %",
        "nodes",
        "launched",
        "disrupted"
    );
    for s in &sums {
        let _ = writeln!(
            out,
            "{:<26} {:>10.2} {:>9.3} {:>7.1} {:>7.1} {:>7} {:>6} {:>6.1} {:>6} {:>8} {:>9}",
            s.autoscaler,
            s.cost,
            s.cost_per_hour,
            s.p50_s,
            s.p99_s,
            s.bound,
            s.stuck,
            s.cpu_utilisation * 100.0,
            s.max_nodes,
            s.launched,
            s.disrupted
        );
    }
    let _ = writeln!(
        out,
        "\n{:<26} {:>9} {:>8} {:>12} {:>8} {:>10} {:>10} {:>10}",
        "churn",
        "evict/day",
        "restarts",
        "pod-min lost",
        "launched",
        "terminated",
        "mean life h",
        "p10 life h"
    );
    for o in outcomes {
        let c = churn(o);
        let _ = writeln!(
            out,
            "{:<26} {:>9.0} {:>8} {:>12.0} {:>8} {:>10} {:>10.2} {:>10.2}",
            o.autoscaler.name(),
            c.evictions_per_day,
            c.restarts,
            c.pod_minutes_lost,
            c.launched,
            c.terminated,
            c.mean_life_h,
            c.p10_life_h
        );
    }
    out.push('\n');
    if let Some((k, ca)) = pair(outcomes) {
        let (cost, p99) = comparison(&k, &ca);
        let _ = writeln!(
            out,
            "karpenter vs cluster-autoscaler: {} {:.1}% on cost, p99 time to schedule {} {:.1}%",
            if cost >= 0.0 {
                "saves"
            } else {
                "spends more by"
            },
            cost.abs(),
            if p99 >= 0.0 { "faster by" } else { "slower by" },
            p99.abs()
        );
    }
    if let Some(a) = attribution(outcomes) {
        let _ = writeln!(out, "{}", attribution_line(&a));
    }
    if let Some(k) = outcomes.iter().find(|o| o.autoscaler == Which::Karpenter) {
        let _ = writeln!(
            out,
            "karpenter: {}",
            moves_line(&moves(k, startup(scenario)))
        );
    }
    for o in outcomes {
        let _ = writeln!(out, "{}", convergence(o));
    }
    for o in outcomes.iter().filter(|o| o.faults.total() > 0) {
        let _ = writeln!(out, "{}", faults_line(o));
    }
    for o in outcomes {
        for v in o.violations.iter().take(5) {
            let _ = writeln!(out, "VIOLATION ({}): {v}", o.autoscaler.name());
        }
    }
    out
}

/// The faults a run survived, in one line.
pub fn faults_line(o: &Outcome) -> String {
    let f = &o.faults;
    format!(
        "{}: {} faults injected ({} API errors, {} nodes that never registered, {} restarts, {} storm interruptions); {}",
        o.autoscaler.name(),
        f.total(),
        f.api_errors,
        f.never_registered,
        f.restarts,
        f.storm_interruptions,
        if o.violations.is_empty() && o.stuck.is_empty() {
            "every invariant held and every pod was bound".to_string()
        } else {
            format!(
                "{} invariant violations, {} pods stuck",
                o.violations.len(),
                o.stuck.len()
            )
        }
    )
}

/// How close the capacity at the end is to a fresh plan for the same pods.
pub fn convergence(o: &Outcome) -> String {
    let over = if o.fresh_cost_per_hour > 0.0 {
        (o.final_cost_per_hour / o.fresh_cost_per_hour - 1.0) * 100.0
    } else {
        0.0
    };
    format!(
        "{}: ends at ${:.3}/hour; a fresh plan for the pods running then costs ${:.3}/hour ({:+.1}%)",
        o.autoscaler.name(),
        o.final_cost_per_hour,
        o.fresh_cost_per_hour,
        over
    )
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Stable JSON.
pub fn to_json(scenario: &Scenario, outcomes: &[Outcome]) -> Value {
    let sums: Vec<Summary> = outcomes.iter().map(summarize).collect();
    let results: Vec<Value> = outcomes
        .iter()
        .zip(&sums)
        .map(|(o, s)| {
            let c = churn(o);
            json!({
                "autoscaler": s.autoscaler,
                "cost": round(s.cost, 4),
                "costPerHour": round(s.cost_per_hour, 4),
                "onDemandEquivalentCost": round(o.on_demand_equivalent(), 4),
                "timeToScheduleSeconds": {"p50": s.p50_s, "p99": s.p99_s},
                "podsCreated": o.pods_created,
                "podsBound": s.bound,
                "podsStuck": o.stuck,
                "cpuUtilisation": round(s.cpu_utilisation, 4),
                "maxNodes": s.max_nodes,
                "instancesLaunched": s.launched,
                "capacityErrors": s.capacity_errors,
                "nodesDisrupted": s.disrupted,
                "evictions": o.evictions,
                "churn": {
                    "evictionsPerDay": round(c.evictions_per_day, 2),
                    "podsRestarted": c.restarts,
                    "podMinutesLost": round(c.pod_minutes_lost, 2),
                    "nodesLaunched": c.launched,
                    "nodesTerminated": c.terminated,
                    "meanNodeLifetimeHours": round(c.mean_life_h, 3),
                    "p10NodeLifetimeHours": round(c.p10_life_h, 3),
                },
                "faults": {
                    "apiErrors": o.faults.api_errors,
                    "neverRegistered": o.faults.never_registered,
                    "restarts": o.faults.restarts,
                    "stormInterruptions": o.faults.storm_interruptions,
                },
                "finalCostPerHour": round(o.final_cost_per_hour, 4),
                "freshPlanCostPerHour": round(o.fresh_cost_per_hour, 4),
                "violations": o.violations,
                "counters": o.recorder.counters,
                "samples": o.samples.iter().map(|x| json!({
                    "t": x.t / 1000,
                    "nodes": x.nodes,
                    "pending": x.pending,
                    "costPerHour": round(x.cost_per_hour, 4),
                    "cpuUtilisation": round(x.cpu_utilisation, 4),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut v = json!({
        "scenario": scenario.name,
        "duration": scenario.duration,
        "results": results,
    });
    if let Some((k, ca)) = pair(outcomes) {
        let (cost, p99) = comparison(&k, &ca);
        v["comparison"] =
            json!({"costSavingPercent": round(cost, 2), "p99SpeedupPercent": round(p99, 2)});
    }
    if let Some(a) = attribution(outcomes) {
        v["attribution"] = json!({
            "total": round(a.total, 4),
            "capacityType": round(a.capacity_type, 4),
            "provisioning": round(a.provisioning, 4),
            "consolidation": round(a.consolidation, 4),
        });
    }
    if let Some(k) = outcomes.iter().find(|o| o.autoscaler == Which::Karpenter) {
        let m = moves(k, startup(scenario));
        v["consolidationMoves"] = json!({
            "moves": m.moves,
            "replacing": m.replacing,
            "paidForThemselves": m.paid,
            "marginal": m.marginal,
            "realizedSaving": round(m.realized, 4),
            "cost": round(m.cost, 4),
            "medianSavingPerHour": round(m.median_saving_per_hour, 6),
        });
    }
    v
}

fn series(outcomes: &[Outcome], value: fn(&Sample) -> f64) -> Vec<Series> {
    outcomes
        .iter()
        .map(|o| Series {
            name: o.autoscaler.name().to_string(),
            points: o.samples.iter().map(|s| (s.t, value(s))).collect(),
        })
        .collect()
}

/// Nodes terminated so far, at each sample time.
fn churn_series(outcomes: &[Outcome]) -> Vec<Series> {
    let mut out = Vec::new();
    for o in outcomes {
        let mut ends: Vec<Time> = o.records.iter().filter_map(|r| r.ended_at).collect();
        ends.sort_unstable();
        out.push(Series {
            name: format!("{} terminated", o.autoscaler.name()),
            points: o
                .samples
                .iter()
                .map(|s| (s.t, ends.partition_point(|e| *e <= s.t) as f64))
                .collect(),
        });
    }
    out
}

/// The HTML report.
pub fn html(scenario: &Scenario, outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    );
    let _ = write!(
        out,
        "<title>karpenter simulate: {}</title>",
        esc(&scenario.name)
    );
    out.push_str("<style>body{font-family:system-ui,sans-serif;margin:1em auto;padding:0 1em;max-width:780px}.wide{overflow-x:auto}table{border-collapse:collapse;font-size:14px}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left}figure{margin:1.5em 0}figcaption{font-weight:600}svg{width:100%;height:auto;display:block}.legend{font-size:13px}.legend span{margin-right:1em;display:inline-block}</style></head><body>");
    let _ = write!(
        out,
        "<h1>{}</h1><p>{}</p><p>Simulated {}.</p>",
        esc(&scenario.name),
        esc(&scenario.description),
        esc(&scenario.duration)
    );
    if let Some((k, ca)) = pair(outcomes) {
        let (cost, p99) = comparison(&k, &ca);
        let _ = write!(
            out,
            "<p id=\"verdict\"><strong>karpenter-rs {} {:.1}% on cost and is {:.1}% {} at p99 time to schedule than the Cluster Autoscaler baseline.</strong></p>",
            if cost >= 0.0 { "saves" } else { "spends" },
            cost.abs(),
            p99.abs(),
            if p99 >= 0.0 { "faster" } else { "slower" }
        );
    }
    if let Some(a) = attribution(outcomes) {
        let _ = write!(
            out,
            "<h2>Where the saving comes from</h2><div class=\"wide\"><table id=\"attribution\"><tr><th>source</th><th>USD</th><th>share</th></tr>"
        );
        for (name, v) in [
            ("capacity type (spot / on-demand mix)", a.capacity_type),
            ("instance choice and packing", a.provisioning),
            ("consolidation", a.consolidation),
            ("total (positive: Karpenter saves)", a.total),
        ] {
            let share = if a.shares_meaningful() {
                format!("{:.0}%", pct(v, a.total))
            } else {
                "-".into()
            };
            let _ = write!(
                out,
                "<tr><td>{name}</td><td>{v:.2}</td><td>{share}</td></tr>"
            );
        }
        out.push_str("</table></div><p>Karpenter without consolidation (every NodePool <code>WhenEmpty</code>) is the third run: the gap to it is consolidation's share; the rest is split by pricing both runs' instance-hours on demand (instance choice and packing) and at each run's own spot discount (capacity type).</p>");
    }
    for o in outcomes {
        let _ = write!(out, "<p class=\"convergence\">{}</p>", esc(&convergence(o)));
    }
    out.push_str("<div class=\"wide\"><table><tr><th>autoscaler</th><th>cost $</th><th>$/hour</th><th>p50 s</th><th>p99 s</th><th>pods bound</th><th>stuck</th><th>CPU %</th><th>max nodes</th><th>launched</th><th>disrupted</th></tr>");
    let sums: Vec<Summary> = outcomes.iter().map(summarize).collect();
    for s in &sums {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{:.2}</td><td>{:.3}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.autoscaler,
            s.cost,
            s.cost_per_hour,
            s.p50_s,
            s.p99_s,
            s.bound,
            s.stuck,
            s.cpu_utilisation * 100.0,
            s.max_nodes,
            s.launched,
            s.disrupted
        );
    }
    out.push_str("</table></div><h2>Churn</h2><div class=\"wide\"><table id=\"churn\"><tr><th>autoscaler</th><th>evictions / day</th><th>pods restarted</th><th>pod-minutes lost</th><th>nodes launched</th><th>terminated</th><th>mean life h</th><th>p10 life h</th></tr>");
    for o in outcomes {
        let c = churn(o);
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{:.0}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            o.autoscaler.name(),
            c.evictions_per_day,
            c.restarts,
            c.pod_minutes_lost,
            c.launched,
            c.terminated,
            c.mean_life_h,
            c.p10_life_h
        );
    }
    out.push_str("</table></div>");
    if let Some(k) = outcomes.iter().find(|o| o.autoscaler == Which::Karpenter) {
        let _ = write!(
            out,
            "<p id=\"moves\">karpenter: {}. A move's cost is the pod-time it lost, valued at what the cluster pays per pod-hour, plus its replacements' start-up; it paid for itself when its saving, until the NodePool next launched, exceeded that.</p>",
            esc(&moves_line(&moves(k, startup(scenario))))
        );
    }
    for o in outcomes.iter().filter(|o| o.faults.total() > 0) {
        let _ = write!(out, "<p class=\"faults\">{}</p>", esc(&faults_line(o)));
    }
    out.push_str(&lines(
        "Nodes",
        "nodes",
        &series(outcomes, |s| s.nodes as f64),
    ));
    out.push_str(&lines(
        "Pending pods",
        "pods",
        &series(outcomes, |s| s.pending as f64),
    ));
    out.push_str(&lines(
        "Cost per hour",
        "USD per hour",
        &series(outcomes, |s| s.cost_per_hour),
    ));
    out.push_str(&lines(
        "CPU utilisation (requested / allocatable)",
        "share",
        &series(outcomes, |s| s.cpu_utilisation),
    ));
    out.push_str(&lines(
        "Churn: nodes terminated so far",
        "nodes",
        &churn_series(outcomes),
    ));
    for o in outcomes {
        let layers: Vec<_> = o.samples.iter().map(|s| (s.t, s.mix.clone())).collect();
        out.push_str(&stacked(
            &format!(
                "Capacity of {} by capacity type and instance family",
                o.autoscaler.name()
            ),
            "vCPU",
            &layers,
        ));
    }
    let disruptions: Vec<_> = outcomes
        .iter()
        .flat_map(|o| {
            o.recorder
                .events
                .iter()
                .filter(|e| matches!(e.reason, "DisruptionTerminating" | "ScaleDown"))
                .map(move |e| (o.autoscaler.name(), e))
        })
        .take(200)
        .collect();
    if !disruptions.is_empty() {
        out.push_str("<h2>Consolidation and scale-down events</h2><div class=\"wide\"><table><tr><th>autoscaler</th><th>time</th><th>object</th><th>detail</th></tr>");
        for (who, e) in disruptions {
            let _ = write!(
                out,
                "<tr><td>{who}</td><td>{:.2} h</td><td>{}</td><td>{}</td></tr>",
                e.at as f64 / HOUR as f64,
                esc(&e.object),
                esc(&e.message)
            );
        }
        out.push_str("</table></div>");
    }
    out.push_str("</body></html>\n");
    out
}
