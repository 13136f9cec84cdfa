//! `karpenter simulate`: run a scenario (the bundled one by default) with Karpenter and,
//! when the scenario declares node groups, with the Cluster Autoscaler baseline and with
//! Karpenter without consolidation (to attribute the saving); print a summary table or
//! JSON, and optionally write the HTML report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use karpenter_sim::report::{html, table, to_json};
use karpenter_sim::{Outcome, Scenario, Which, build, run};

/// The bundled scenario `karpenter simulate` runs without arguments.
pub const BUNDLED: &str = include_str!("../../../examples/simulate/steady-web.yaml");

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    /// A summary for people.
    Table,
    /// Stable JSON.
    Json,
}

/// Which autoscalers to run.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Only {
    /// Karpenter alone.
    Karpenter,
    /// The Cluster Autoscaler baseline alone.
    ClusterAutoscaler,
}

/// Arguments of `karpenter simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario file (YAML or JSON); default: the bundled steady-web scenario.
    pub scenario: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Also write a self-contained HTML report with charts.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Run only one autoscaler (no attribution run then).
    #[arg(long, value_enum)]
    pub only: Option<Only>,
    /// Never draw the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Run the command.
pub fn run_cmd(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let scenario = match &args.scenario {
        Some(path) => Scenario::load(&path.to_string_lossy())?,
        None => Scenario::parse("bundled steady-web scenario", BUNDLED)?,
    };
    let built = build(&scenario)?;
    let mut which = vec![Which::Karpenter];
    if scenario.cluster_autoscaler.is_some() {
        which.push(Which::KarpenterNoConsolidation);
        which.push(Which::ClusterAutoscaler);
    }
    match args.only {
        Some(Only::Karpenter) => which.retain(|w| *w == Which::Karpenter),
        Some(Only::ClusterAutoscaler) => {
            anyhow::ensure!(
                scenario.cluster_autoscaler.is_some(),
                "scenario {} has no clusterAutoscaler section",
                scenario.name
            );
            which.retain(|w| *w == Which::ClusterAutoscaler);
        }
        None => {}
    }
    let show = !args.quiet && std::io::stderr().is_terminal();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for w in which {
        let bar = if show {
            ProgressBar::new(1000)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>20} [{bar:40}] {msg}")
                .map_err(|e| anyhow::anyhow!("progress template: {e}"))?
                .progress_chars("=> "),
        );
        bar.set_prefix(w.name());
        let mut progress = |now: i64, end: i64| {
            let pos = if end > 0 {
                (now * 1000 / end) as u64
            } else {
                1000
            };
            if pos != bar.position() {
                bar.set_position(pos);
                bar.set_message(format!("{:.1} h simulated", now as f64 / 3_600_000.0));
            }
        };
        let outcome = run(&scenario, &built, w, &mut progress)?;
        bar.finish_and_clear();
        outcomes.push(outcome);
    }
    match args.output {
        Output::Table => out!("{}", table(&scenario, &outcomes)),
        Output::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&to_json(&scenario, &outcomes))?
        ),
    }
    if let Some(path) = &args.report {
        std::fs::write(path, html(&scenario, &outcomes))
            .with_context(|| format!("writing report {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    let violations: usize = outcomes.iter().map(|o| o.violations.len()).sum();
    Ok(if violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
