//! The `karpenter` binary: one entry point, one subcommand per job.

/// `println!` whose failure ends the process: quietly (status 0) when the reader has gone,
/// as in `karpenter catalog | head`, with an error otherwise; never a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(&e)
        }
    }};
}

/// `print!` with [`outln!`]'s handling of a closed output.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(&e)
        }
    }};
}

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

/// Standard output could not be written: a closed pipe ends the run quietly (what was
/// wanted has been read), anything else is an error.
fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing standard output: {e}");
    std::process::exit(1)
}
