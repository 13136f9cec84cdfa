//! Results for people and machines: percentiles, the side-by-side summary (Karpenter vs
//! the Cluster Autoscaler baseline), stable JSON, and a self-contained HTML report whose
//! charts are inline SVG (no script, no network).

use std::fmt::Write as _;

use karpenter_model::time::{HOUR, Time};
use serde_json::{Value, json};

use crate::run::{Outcome, Sample};
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
        "{:<20} {:>10} {:>9} {:>9} {:>9} {:>7} {:>6} {:>7} {:>6} {:>8} {:>9}",
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
            "{:<20} {:>10.2} {:>9.3} {:>9.1} {:>9.1} {:>7} {:>6} {:>7.1} {:>6} {:>8} {:>9}",
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
    if let [k, ca] = sums.as_slice() {
        let (cost, p99) = comparison(k, ca);
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
    for o in outcomes {
        let _ = writeln!(out, "{}", convergence(o));
    }
    for o in outcomes {
        for v in o.violations.iter().take(5) {
            let _ = writeln!(out, "VIOLATION ({}): {v}", o.autoscaler.name());
        }
    }
    out
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
            json!({
                "autoscaler": s.autoscaler,
                "cost": round(s.cost, 4),
                "costPerHour": round(s.cost_per_hour, 4),
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
    if let [k, ca] = sums.as_slice() {
        let (cost, p99) = comparison(k, ca);
        v["comparison"] =
            json!({"costSavingPercent": round(cost, 2), "p99SpeedupPercent": round(p99, 2)});
    }
    v
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLORS: [&str; 2] = ["#1f77b4", "#d62728"];

/// One line chart as inline SVG: each outcome's series over time.
fn chart(title: &str, outcomes: &[Outcome], value: fn(&Sample) -> f64) -> String {
    let (w, h, pad) = (720.0, 220.0, 40.0);
    let t_max = outcomes
        .iter()
        .flat_map(|o| o.samples.last())
        .map(|s| s.t)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let v_max = outcomes
        .iter()
        .flat_map(|o| o.samples.iter().map(value))
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">",
        esc(title),
        esc(title)
    );
    let _ = write!(
        svg,
        "<rect x=\"{pad}\" y=\"10\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#ccc\"/>",
        w - pad - 10.0,
        h - pad - 10.0
    );
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"20\" font-size=\"11\">{}</text>",
        fmt_num(v_max)
    );
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"{}\" font-size=\"11\">0</text>",
        h - pad
    );
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{:.1} h</text>",
        w - 10.0,
        h - pad + 16.0,
        t_max / HOUR as f64
    );
    for (i, o) in outcomes.iter().enumerate() {
        let points: Vec<String> = o
            .samples
            .iter()
            .map(|s| {
                let x = pad + (s.t as f64 / t_max) * (w - pad - 10.0);
                let y = 10.0 + (1.0 - value(s) / v_max) * (h - pad - 10.0);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            svg,
            "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
            o.autoscaler.name(),
            COLORS[i % 2],
            points.join(" ")
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The HTML report.
pub fn html(scenario: &Scenario, outcomes: &[Outcome]) -> String {
    let mut out = String::from("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        out,
        "<title>karpenter simulate: {}</title>",
        esc(&scenario.name)
    );
    out.push_str("<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:780px}table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}figure{margin:1.5em 0}figcaption{font-weight:600}.legend span{margin-right:1em}</style></head><body>");
    let _ = write!(
        out,
        "<h1>{}</h1><p>{}</p><p>Simulated {}.</p>",
        esc(&scenario.name),
        esc(&scenario.description),
        esc(&scenario.duration)
    );
    let sums: Vec<Summary> = outcomes.iter().map(summarize).collect();
    if let [k, ca] = sums.as_slice() {
        let (cost, p99) = comparison(k, ca);
        let _ = write!(
            out,
            "<p id=\"verdict\"><strong>karpenter-rs {} {:.1}% on cost and is {:.1}% {} at p99 time to schedule than the Cluster Autoscaler baseline.</strong></p>",
            if cost >= 0.0 { "saves" } else { "spends" },
            cost.abs(),
            p99.abs(),
            if p99 >= 0.0 { "faster" } else { "slower" }
        );
    }
    for o in outcomes {
        let _ = write!(out, "<p class=\"convergence\">{}</p>", esc(&convergence(o)));
    }
    out.push_str("<table><tr><th>autoscaler</th><th>cost $</th><th>$/hour</th><th>p50 s</th><th>p99 s</th><th>pods bound</th><th>stuck</th><th>CPU %</th><th>max nodes</th><th>launched</th><th>disrupted</th></tr>");
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
    out.push_str("</table><p class=\"legend\">");
    for (i, o) in outcomes.iter().enumerate() {
        let _ = write!(
            out,
            "<span style=\"color:{}\">&#9632; {}</span>",
            COLORS[i % 2],
            o.autoscaler.name()
        );
    }
    out.push_str("</p>");
    out.push_str(&chart("Nodes", outcomes, |s| s.nodes as f64));
    out.push_str(&chart("Pending pods", outcomes, |s| s.pending as f64));
    out.push_str(&chart("Cost per hour (USD)", outcomes, |s| s.cost_per_hour));
    out.push_str(&chart(
        "CPU utilisation (requested / allocatable)",
        outcomes,
        |s| s.cpu_utilisation,
    ));
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
        out.push_str("<h2>Consolidation and scale-down events</h2><table><tr><th>autoscaler</th><th>time</th><th>object</th><th>detail</th></tr>");
        for (who, e) in disruptions {
            let _ = write!(
                out,
                "<tr><td>{who}</td><td>{:.2} h</td><td>{}</td><td>{}</td></tr>",
                e.at as f64 / HOUR as f64,
                esc(&e.object),
                esc(&e.message)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}
