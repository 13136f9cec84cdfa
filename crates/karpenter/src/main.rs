//! The `karpenter` binary: one entry point, one subcommand per job.

mod catalog_cmd;
mod cli;
mod controller_cmd;
mod disruption_cmd;
mod nodeclass;
mod plan_cmd;
mod simulate_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
