//! `karpenter plan`: load manifests and a catalog, run one scheduling solve, print the plan
//! as JSON (stable field names) or as a table for people.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use karpenter_api::snapshot::WorkloadPods;
use karpenter_api::{manifest, snapshot, validate};
use karpenter_catalog::AwsSettings;
use karpenter_scheduling::{ClaimPlan, MinValuesPolicy, Options, Plan, PreferencePolicy};
use serde_json::{Value, json};

/// Arguments of `karpenter plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Instance-type catalog: `builtin:aws/<region>` or a catalog file (JSON/YAML, gzip ok).
    #[arg(long, default_value = "builtin:aws/us-east-1")]
    catalog: String,
    /// Manifest files or directories: NodePools, Nodes, NodeClaims, Pods, DaemonSets, ...
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Treat preferences as requirements until relaxed (Respect) or drop them (Ignore).
    #[arg(long, value_enum, default_value_t = Preference::Respect)]
    preference_policy: Preference,
    /// Refuse NodeClaims that miss minValues (Strict) or lower minValues (BestEffort).
    #[arg(long, value_enum, default_value_t = MinValues::Strict)]
    min_values_policy: MinValues,
    /// Plan one disruption loop instead: what would be disrupted now, why, and what
    /// blocks the rest.
    #[arg(long)]
    disruption: bool,
    /// The clock of consolidateAfter, expireAfter and budget schedules (RFC 3339;
    /// default: now). With --disruption.
    #[arg(long, value_name = "RFC3339", requires = "disruption")]
    now: Option<String>,
    /// Upstream's feature gates, e.g. `SpotToSpotConsolidation=true`. With --disruption.
    #[arg(long, value_name = "GATES", requires = "disruption")]
    feature_gates: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Json,
    Table,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Preference {
    #[value(name = "Respect")]
    Respect,
    #[value(name = "Ignore")]
    Ignore,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum MinValues {
    #[value(name = "Strict")]
    Strict,
    #[value(name = "BestEffort")]
    BestEffort,
}

const MAX_SHOWN: usize = 50;
const MAX_ROWS: usize = 100;

fn print_errors<T: std::fmt::Display>(errors: &[T], what: &str) {
    for e in errors.iter().take(MAX_SHOWN) {
        eprintln!("{e}");
    }
    if errors.len() > MAX_SHOWN {
        eprintln!("... and {} more", errors.len() - MAX_SHOWN);
    }
    eprintln!("{} problem(s) {what}", errors.len());
}

/// Run `karpenter plan`.
pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let mut manifests = match manifest::load_paths(&args.files) {
        Ok(m) => m,
        Err(errors) => {
            print_errors(&errors.0, "loading manifests");
            return Ok(ExitCode::FAILURE);
        }
    };
    for note in manifest::skipped_notes(&manifests) {
        eprintln!("{note}");
    }
    let problems = validate::validate_manifests(&manifests);
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|(s, e)| format!("{s}: {e}")).collect();
        print_errors(&lines, "validating manifests");
        return Ok(ExitCode::FAILURE);
    }
    // the clock of do-not-disrupt durations (and, with --disruption, of the decision)
    let clock = crate::disruption_cmd::now(args.now.as_deref())?;
    let (now, gates) = if args.disruption {
        (
            Some(clock),
            crate::disruption_cmd::feature_gates(args.feature_gates.as_deref())?,
        )
    } else {
        (None, Default::default())
    };
    // what applying the input would create: workloads' pods not in the input yet (a
    // disruption loop reads a cluster as it is, so only for a plan)
    let workloads = if now.is_none() {
        let (pods, report) = snapshot::workload_pods(&manifests);
        manifests.extend(pods);
        report
    } else {
        Vec::new()
    };
    let catalog = karpenter_catalog::load(&args.catalog, &AwsSettings::default())
        .with_context(|| format!("loading catalog {}", args.catalog))?;
    let cluster = match snapshot::Cluster::new(manifests.iter().map(|m| &m.object)) {
        Ok(c) => snapshot::Cluster {
            now: Some(clock),
            ..c
        },
        Err(errors) => {
            print_errors(&errors, "reading the cluster");
            return Ok(ExitCode::FAILURE);
        }
    };
    let options = Options {
        preference_policy: match args.preference_policy {
            Preference::Respect => PreferencePolicy::Respect,
            Preference::Ignore => PreferencePolicy::Ignore,
        },
        min_values_policy: match args.min_values_policy {
            MinValues::Strict => MinValuesPolicy::Strict,
            MinValues::BestEffort => MinValuesPolicy::BestEffort,
        },
    };
    if let Some(now) = now {
        let settings = crate::disruption_cmd::settings(now, &gates);
        let decision = match crate::disruption_cmd::decide(&cluster, catalog, options, settings) {
            Ok(d) => d,
            Err(errors) => {
                print_errors(&errors, "reading the cluster");
                return Ok(ExitCode::FAILURE);
            }
        };
        match args.output {
            Output::Json => outln!(
                "{}",
                serde_json::to_string_pretty(&crate::disruption_cmd::to_json(&decision))?
            ),
            Output::Table => crate::disruption_cmd::print_table(&decision),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut input = match snapshot::scheduling_input(&cluster, catalog, options) {
        Ok(i) => i,
        Err(errors) => {
            print_errors(&errors, "reading the cluster");
            return Ok(ExitCode::FAILURE);
        }
    };
    crate::nodeclass::shape_by_nodeclass(&mut input, &cluster, &args.catalog)?;
    let started = Instant::now();
    let plan = karpenter_scheduling::solve(&input);
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    match args.output {
        Output::Json => {
            let v = to_json(&plan, input.pods.len(), &workloads, duration_ms);
            outln!("{}", serde_json::to_string_pretty(&v)?);
        }
        Output::Table => print_table(&plan, input.pods.len(), &workloads, duration_ms),
    }
    Ok(ExitCode::SUCCESS)
}

/// Round a price to 6 decimals, so floating noise never reaches the output.
pub fn price(p: f64) -> f64 {
    (p * 1e6).round() / 1e6
}

/// A planned NodeClaim as JSON (the `nodeClaims` entries of a plan, the `replacements` of
/// a disruption command).
pub fn claim_json(c: &ClaimPlan) -> Value {
    json!({
        "nodePool": c.node_pool,
        "instanceTypes": c.instance_types,
        "requirements": c.requirements.iter().map(|r| json!({
            "key": r.key, "operator": r.op.as_str(), "values": r.values,
        })).collect::<Vec<_>>(),
        "labels": c.labels,
        "pods": c.pods,
        "price": price(c.price),
    })
}

/// The plan as JSON, field names as documented.
pub fn to_json(plan: &Plan, pods: usize, workloads: &[WorkloadPods], duration_ms: f64) -> Value {
    let claims: Vec<Value> = plan.claims.iter().map(claim_json).collect();
    json!({
        "nodeClaims": claims,
        "existingNodes": plan.existing.iter().map(|n| json!({"name": n.name, "pods": n.pods})).collect::<Vec<_>>(),
        "unschedulable": plan.unschedulable.iter().map(|u| json!({"pod": u.pod, "reason": u.reason})).collect::<Vec<_>>(),
        "cost": {"perHour": price(plan.cost_per_hour()), "lowerBound": price(plan.lower_bound)},
        "stats": {"pods": pods, "durationMs": (duration_ms * 1000.0).round() / 1000.0},
        "workloads": workloads.iter().map(|w| json!({
            "workload": w.workload, "desired": w.desired, "existing": w.existing, "added": w.added,
        })).collect::<Vec<_>>(),
    })
}

fn print_table(plan: &Plan, pods: usize, workloads: &[WorkloadPods], duration_ms: f64) {
    if !plan.claims.is_empty() {
        outln!(
            "{:<20} {:<22} {:<14} {:<10} {:>6} {:>10} {:>8}",
            "NODEPOOL",
            "INSTANCE TYPE",
            "ZONE",
            "CAPACITY",
            "PODS",
            "PRICE/H",
            "OPTIONS"
        );
        for c in plan.claims.iter().take(MAX_ROWS) {
            outln!(
                "{:<20} {:<22} {:<14} {:<10} {:>6} {:>10.4} {:>8}",
                c.node_pool,
                c.instance_types.first().map_or("-", String::as_str),
                c.zone,
                c.capacity_type,
                c.pods.len(),
                c.price,
                c.instance_types.len()
            );
        }
        if plan.claims.len() > MAX_ROWS {
            outln!(
                "... and {} more NodeClaims (-o json lists all)",
                plan.claims.len() - MAX_ROWS
            );
        }
        outln!();
    }
    let on_existing: usize = plan.existing.iter().map(|n| n.pods.len()).sum();
    outln!("pods:            {pods} pending, solved in {duration_ms:.1} ms");
    let added: usize = workloads.iter().map(|w| w.added).sum();
    if added > 0 {
        outln!(
            "from workloads:  {added} ({})",
            snapshot::workload_summary(workloads)
        );
    }
    outln!(
        "existing nodes:  {on_existing} pods onto {} nodes",
        plan.existing.len()
    );
    let cost = plan.cost_per_hour();
    let gap = if plan.lower_bound > 0.0 {
        format!(
            ", {:+.1}% over the bound",
            (cost / plan.lower_bound - 1.0) * 100.0
        )
    } else {
        String::new()
    };
    outln!(
        "new NodeClaims:  {} for {} pods, ${cost:.4}/h (lower bound ${:.4}/h{gap}; it counts \
         resources and the nodes that hostname anti-affinity and, on an empty cluster, \
         required hostname and zone spread force, not how spread splits capacity between \
         zones, affinity, minValues or limits)",
        plan.claims.len(),
        plan.claims.iter().map(|c| c.pods.len()).sum::<usize>(),
        plan.lower_bound
    );
    outln!("unschedulable:   {}", plan.unschedulable.len());
    let mut grouped: std::collections::BTreeMap<&str, Vec<&str>> =
        std::collections::BTreeMap::new();
    for u in &plan.unschedulable {
        grouped.entry(&u.reason).or_default().push(&u.pod);
    }
    for (reason, pods) in grouped {
        let shown: Vec<&str> = pods.iter().take(5).copied().collect();
        let more = if pods.len() > 5 {
            format!(" and {} more", pods.len() - 5)
        } else {
            String::new()
        };
        outln!("  {} pod(s): {}{more}", pods.len(), shown.join(", "));
        outln!("    {reason}");
    }
}
