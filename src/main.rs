//! The `camrelay` binary: command-line parsing and error reporting at the edge.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
        /// The rules file (e.g. /etc/camrelay/rules.toml).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a rules file and print what it will do.
    Check {
        /// The rules file to check.
        file: PathBuf,
        /// Treat warnings (a rule that can never fire, an empty file, ...) as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Decode saved posts and print each normalized event as JSON.
    Inspect {
        /// Saved post bodies (XML files).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Feed recorded posts through the rules on a virtual clock and print the relay timeline.
    Replay {
        /// The rules file to replay with.
        #[arg(long, short)]
        config: PathBuf,
        /// Post files or record_dir folders.
        #[arg(required = true)]
        captures: Vec<PathBuf>,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
        /// Also print this rule's verdict on every event: fired, or the first condition that failed.
        #[arg(long, value_name = "RULE")]
        why: Option<String>,
    },
    /// Drive every relay in the file off and exit (systemd runs it after every stop).
    SafeState {
        /// The rules file; only [gpio] and [[relay]] are needed.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the /boot/firmware/config.txt lines that hold every relay off from power-on (Raspberry Pi).
    BootConfig {
        /// The rules file; only [gpio] and [[relay]] are needed.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Search the event history (read-only; the daemon may run or not), newest first.
    History {
        /// The rules file: its [history] dir and [site] timezone.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The history folder (instead of the rules file's).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// From: 2026-12-05T21:30:00Z, 2026-12-05 (local midnight) or an age (24h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Until, in the same words as --since.
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        camera: Option<String>,
        /// A plate, as written on it (case and separators do not matter).
        #[arg(long)]
        plate: Option<String>,
        /// Admit plates this far, as the rules' plate_distance (0.5: one look-alike misread).
        #[arg(long)]
        plate_distance: Option<f64>,
        #[arg(long)]
        relay: Option<String>,
        #[arg(long)]
        rule: Option<String>,
        /// switched, fired, no_effect, detection, visit, manual, device, reload, remote (comma-separated).
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        who: Option<String>,
        /// The next page: rows older than this id.
        #[arg(long)]
        before: Option<i64>,
        /// Rows at most (default 100).
        #[arg(long)]
        limit: Option<usize>,
        /// Print CSV (as GET /api/history.csv).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Ask a camera's own API: probe it, add it, subscribe it, fetch its picture, import its zones.
    #[command(subcommand)]
    Camera(CameraCommand),
    /// Make the running daemon re-read its rules file; fail with the reason if it is refused.
    Reload {
        /// The rules file the daemon runs with (for its [api] address).
        #[arg(long, short)]
        config: PathBuf,
        /// The daemon's process id (systemd's $MAINPID); default: the one the API reports.
        #[arg(long)]
        pid: Option<u32>,
    },
}

#[derive(clap::Subcommand)]
enum CameraCommand {
    /// What a device is (model, firmware, API, MAC, channels), its webhook slots, and the [[camera]] block that matches it.
    Probe {
        /// The camera's address, e.g. http://192.168.1.20
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "admin")]
        user: String,
        /// File whose first line is the password.
        #[arg(long)]
        password_file: PathBuf,
        /// The name to give it in the block.
        #[arg(long)]
        name: Option<String>,
    },
    /// Probe a camera and add its [[camera]] block (with url and password_file) to the rules file.
    Add {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "admin")]
        user: String,
        #[arg(long)]
        password_file: PathBuf,
    },
    /// Point a free webhook slot (or the one already pointing here) at camrelay, verify it, and wait for the first post.
    Subscribe {
        #[arg(long, short)]
        config: PathBuf,
        /// The [[camera]] name.
        camera: String,
        /// Take this slot (1-3) even if it posts elsewhere.
        #[arg(long)]
        slot: Option<u32>,
        /// Also subscribe the source and target images (~500 KB a post).
        #[arg(long)]
        images: bool,
        /// Where the camera should post (default: this machine's address towards the camera, [server] listen's port).
        #[arg(long)]
        address: Option<String>,
        /// The running daemon's API, to see the first post arrive (default: [api] listen).
        #[arg(long)]
        api: Option<String>,
        /// Seconds to wait for the first post; 0: do not wait.
        #[arg(long, default_value = "30")]
        wait: u64,
    },
    /// Put back the slot `subscribe` changed, as it was.
    Unsubscribe {
        #[arg(long, short)]
        config: PathBuf,
        camera: String,
    },
    /// Save the camera's live picture as a JPEG.
    Snapshot {
        #[arg(long, short)]
        config: PathBuf,
        camera: String,
        #[arg(long, short, default_value = "snapshot.jpg")]
        output: PathBuf,
    },
    /// The camera's own regions and tripwires as [[zone]] blocks (printed, or written into the rules file).
    Zones {
        #[arg(long, short)]
        config: PathBuf,
        camera: String,
        /// Write them into the rules file (replacing zones of the same names).
        #[arg(long)]
        write: bool,
    },
}

fn camera(cmd: CameraCommand) -> anyhow::Result<ExitCode> {
    use camrelay::camera::cli;
    let text = match cmd {
        CameraCommand::Probe { url, user, password_file, name } => {
            cli::probe(&url, &user, &password_file, name.as_deref())?
        }
        CameraCommand::Add { config, name, url, user, password_file } => {
            cli::add(&config, &name, &url, &user, &password_file)?
        }
        CameraCommand::Subscribe { config, camera, slot, images, address, api, wait } => cli::subscribe(
            &config,
            &camera,
            slot,
            images,
            address.as_deref(),
            api.as_deref(),
            std::time::Duration::from_secs(wait),
        )?,
        CameraCommand::Unsubscribe { config, camera } => cli::unsubscribe(&config, &camera)?,
        CameraCommand::Snapshot { config, camera, output } => cli::snapshot(&config, &camera, &output)?,
        CameraCommand::Zones { config, camera, write } => cli::zones(&config, &camera, write)?,
    };
    // Whatever answered as the camera reached this text: no control
    // character of it may drive the terminal.
    print!("{}", camrelay::camera::untrusted::printable(&text));
    Ok(ExitCode::SUCCESS)
}

/// `camrelay safe-state`: every relay off, then exit (systemd `ExecStopPost`).
/// Needs only `[gpio]` and the `[[relay]]` blocks: a mistake elsewhere in the
/// file (or in a relay block, when its name and line can still be read) is
/// reported and every relay it can name is driven off all the same. Fails
/// only when a relay it could name was not driven off.
fn safe_state(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let found = camrelay::config::load_relays(config)?;
    for problem in &found.problems {
        eprintln!("camrelay: safe-state: warning: {problem}");
    }
    let report = camrelay::relays::safe_state(&found.gpio, &found.relays).context("safe-state")?;
    println!("{}", report.backend);
    report.done.iter().for_each(|line| println!("{line}"));
    report.failed.iter().for_each(|e| eprintln!("camrelay: safe-state: {e}"));
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn boot_config(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    let found = camrelay::config::load_relays(config)?;
    for problem in &found.problems {
        eprintln!("camrelay: boot-config: warning: {problem}");
    }
    print!("{}", camrelay::relays::boot::config_txt(&found.gpio, &found.relays));
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon logs what it does; a one-shot command (replay on a virtual
    // clock, check, camera) only its warnings, with no wall-clock stamp that
    // would sit beside a timeline from another day.
    init_logging(matches!(cli.command, Command::Run { .. }));
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::SafeState { config } => safe_state(&config),
        Command::BootConfig { config } => boot_config(&config),
        Command::Inspect { files } => inspect(&files),
        Command::Check { file, strict } => camrelay::config::run_check(&file, strict),
        Command::Reload { config, pid } => camrelay::reload::run(&config, pid).map(|applied| {
            if applied {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        Command::Replay { config, captures, json, why } => {
            camrelay::replay::run_cli(&config, &captures, json, why.as_deref())
        }
        Command::Run { config } => camrelay::daemon::run(&config).map(|()| ExitCode::SUCCESS),
        Command::Camera(cmd) => camera(cmd),
        Command::History {
            config,
            dir,
            since,
            until,
            camera,
            plate,
            plate_distance,
            relay,
            rule,
            kind,
            who,
            before,
            limit,
            csv,
            json,
        } => {
            use camrelay::history::cli::{run, Format};
            let filter = camrelay::history::Filter {
                since,
                until,
                camera,
                plate,
                plate_distance,
                relay,
                rule,
                kind,
                who,
                before,
                limit,
            };
            let format = if csv {
                Format::Csv
            } else if json {
                Format::Json
            } else {
                Format::Text
            };
            run(config.as_deref(), dir, &filter, format)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("camrelay: {}", camrelay::camera::untrusted::printable(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// `camrelay inspect`: one JSON line per file on stdout; each failure on stderr
/// with its reason, and a non-zero exit if any file failed.
fn inspect(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for path in files {
        let shown = path.display().to_string();
        let outcome = std::fs::read(path).map_err(|e| format!("cannot read: {e}")).and_then(|body| {
            camrelay::decode::inspect::to_json(&shown, &body).map_err(|e| format!("{e} [{}]", e.reason()))
        });
        match outcome {
            Ok(json) => writeln!(out, "{json}")?,
            Err(why) => {
                eprintln!("camrelay inspect: {shown}: {why}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Logs go to stderr. Under systemd (JOURNAL_STREAM set) the journal adds its own
/// timestamps, so they are left out there. `CAMRELAY_LOG` (or `RUST_LOG`) sets the
/// filter: a level (`debug` shows one line per decoded post) and per-module
/// levels, `info,camrelay::mqtt=debug,rumqttc=warn`. Targets, not EnvFilter:
/// its span and field matching pulled a regex engine (300 KB on the Pi) into
/// a binary that never used it.
fn init_logging(daemon: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let default = if daemon { "info" } else { "warn" };
    let filter = std::env::var("CAMRELAY_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_string());
    let targets: Targets = filter.parse().unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false);
    // The journal stamps every line itself; a one-shot command is not a log.
    if !daemon || camrelay::systemd::stderr_is_journal() {
        tracing_subscriber::registry()
            .with(layer.without_time().with_ansi(false).with_filter(targets))
            .init();
    } else {
        // Colours only for a person at a terminal, never into a file or a pipe.
        use std::io::IsTerminal;
        let layer = layer.with_ansi(std::io::stderr().is_terminal());
        tracing_subscriber::registry().with(layer.with_filter(targets)).init();
    }
}
