//! The `camrelay` binary: command-line parsing and error reporting at the edge.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "camrelay", version, about = "Viewtron camera detections in, relay switching out")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: receive posts, evaluate rules, drive relays.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a rules file and print what it will do.
    Check { file: PathBuf },
    /// Decode saved posts and print each normalized event as JSON.
    Inspect {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Feed recorded posts through the rules on a virtual clock and print the relay timeline.
    Replay {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(required = true)]
        captures: Vec<PathBuf>,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Drive every configured relay off and exit.
    SafeState {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Check { file } => camrelay::config::run_check(&file),
        Command::Replay { config, captures, json } => camrelay::replay::run_cli(&config, &captures, json),
        Command::Run { .. } | Command::Inspect { .. } | Command::SafeState { .. } => {
            Err(anyhow::anyhow!("not built yet"))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("camrelay: {e:#}");
            ExitCode::FAILURE
        }
    }
}
