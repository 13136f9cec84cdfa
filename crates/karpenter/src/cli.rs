//! Command-line interface: argument parsing and the subcommands.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use karpenter_api::{crds, manifest, validate};

/// karpenter-rs: the Kubernetes node autoscaler, drop-in compatible with Karpenter.
#[derive(Debug, Parser)]
#[command(name = "karpenter", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions (NodePool, NodeClaim, EC2NodeClass) as YAML.
    Crds {
        /// Write one file per CRD into this directory (upstream's file names) instead.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },
    /// List instance types with allocatable resources, labels and the cheapest offering.
    Catalog(crate::catalog_cmd::CatalogArgs),
    /// Plan one scheduling round: which pods go where, which NodeClaims to create, and why
    /// the rest stay pending.
    Plan(crate::plan_cmd::PlanArgs),
    /// Simulate a scenario in virtual time: Karpenter's controllers on a simulated cluster
    /// and cloud, next to a Cluster Autoscaler baseline (default: the bundled scenario).
    Simulate(crate::simulate_cmd::SimulateArgs),
    /// Run the controller against a Kubernetes API server (leader-elected, watches, the
    /// same loops `simulate` runs), launching through a cloud provider.
    Controller(Box<crate::controller_cmd::ControllerArgs>),
    /// Load manifests and validate every NodePool, NodeClaim and EC2NodeClass in them.
    Validate {
        /// Manifest files or directories (YAML, JSON, Lists, gzip).
        #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
}

/// How many problems a command prints before it only counts the rest.
const MAX_SHOWN: usize = 50;

/// Run a parsed command line; the exit code says whether the input was valid.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Simulate(args) => crate::simulate_cmd::run_cmd(args),
        Command::Controller(args) => crate::controller_cmd::run_cmd(*args),
        Command::Crds { output_dir } => {
            match output_dir {
                None => {
                    let yaml = crds::all_yaml()?;
                    out!("{yaml}");
                }
                Some(dir) => {
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    for crd in crds::all()? {
                        let path = dir.join(&crd.file_name);
                        std::fs::write(&path, crd.yaml)
                            .with_context(|| format!("writing {}", path.display()))?;
                        outln!("wrote {}", path.display());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Catalog(args) => {
            crate::catalog_cmd::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => crate::plan_cmd::run(args),
        Command::Validate { files } => {
            let manifests = match manifest::load_paths(&files) {
                Ok(m) => m,
                Err(errors) => {
                    for e in errors.0.iter().take(MAX_SHOWN) {
                        eprintln!("{e}");
                    }
                    if errors.0.len() > MAX_SHOWN {
                        eprintln!("... and {} more", errors.0.len() - MAX_SHOWN);
                    }
                    eprintln!("{} problem(s) loading manifests", errors.0.len());
                    return Ok(ExitCode::FAILURE);
                }
            };
            for note in manifest::skipped_notes(&manifests) {
                eprintln!("{note}");
            }
            let problems = validate::validate_manifests(&manifests);
            for (source, error) in problems.iter().take(MAX_SHOWN) {
                eprintln!("{source}: {error}");
            }
            if problems.len() > MAX_SHOWN {
                eprintln!("... and {} more", problems.len() - MAX_SHOWN);
            }
            let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
            for m in &manifests {
                *kinds.entry(m.object.kind()).or_default() += 1;
            }
            let summary: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            outln!("{} object(s): {}", manifests.len(), summary.join(", "));
            if problems.is_empty() {
                outln!("all valid");
                Ok(ExitCode::SUCCESS)
            } else {
                outln!("{} problem(s)", problems.len());
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
