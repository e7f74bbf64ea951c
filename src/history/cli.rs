//! `camrelay history`: the history on the command line, read-only, whether
//! the daemon runs or not (WAL lets a reader in beside the writer).

use super::{Entry, Filter, Store};
use anyhow::Context;
use chrono::{TimeZone, Utc};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
    Json,
}

/// Print the rows `filter` asks for, newest first. `config` gives the
/// folder and the timezone; `dir` overrides the folder.
pub fn run(
    config: Option<&Path>,
    dir: Option<PathBuf>,
    filter: &Filter,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let named = config.map(where_kept).transpose()?;
    let (dir, tz) = match (named, dir) {
        (named, Some(dir)) => (dir, named.map_or(chrono_tz::UTC, |(_, tz)| tz)),
        (Some((Some(dir), tz)), None) => (dir, tz),
        (Some((None, _)), None) => anyhow::bail!(
            "{} has no [history] section: no history is kept (or name its folder with --dir)",
            config.map(|p| p.display().to_string()).unwrap_or_default()
        ),
        (None, None) => anyhow::bail!("name the rules file (--config) or the history folder (--dir)"),
    };
    if !dir.join(super::store::FILE).exists() {
        anyhow::bail!(
            "{}: no history yet (the daemon creates {} when it starts)",
            dir.display(),
            super::store::FILE
        );
    }
    let query = filter.query(Utc::now(), tz).map_err(anyhow::Error::msg)?;
    let store =
        Store::open_read(&dir).with_context(|| format!("cannot read the history in {}", dir.display()))?;
    let rows = store.search(&query)?;
    match format {
        Format::Csv => print!("{}", super::csv(&rows, tz)),
        Format::Json => {
            for e in &rows {
                println!("{}", serde_json::to_string(e)?);
            }
        }
        Format::Text => {
            for e in &rows {
                println!("{}", line(e, tz));
            }
            if rows.len() == query.limit {
                if let Some(last) = rows.last() {
                    eprintln!("(more: --before {})", last.id);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The history folder and timezone a rules file names. A file with a
/// mistake elsewhere (an edit under way) still names them: the history is
/// most wanted when something went wrong.
fn where_kept(path: &Path) -> anyhow::Result<(Option<PathBuf>, chrono_tz::Tz)> {
    match crate::config::load(path) {
        Ok(config) => Ok((config.history.map(|h| h.dir), config.site.timezone)),
        Err(e) => {
            #[derive(serde::Deserialize, Default)]
            struct Lenient {
                history: Option<LenientHistory>,
                site: Option<LenientSite>,
            }
            #[derive(serde::Deserialize)]
            struct LenientHistory {
                dir: Option<PathBuf>,
                enabled: Option<bool>,
            }
            #[derive(serde::Deserialize)]
            struct LenientSite {
                timezone: Option<String>,
            }
            let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
            let Ok(lenient) = toml::from_str::<Lenient>(&text) else { return Err(e.into()) };
            eprintln!("camrelay: {e:#}\ncamrelay: reading the history the file names all the same");
            let tz = lenient.site.and_then(|s| s.timezone?.parse().ok()).unwrap_or(chrono_tz::UTC);
            let dir = lenient.history.filter(|h| h.enabled != Some(false)).map(|h| {
                let dir = h.dir.unwrap_or_else(|| PathBuf::from("history"));
                match path.parent().filter(|p| dir.is_relative() && !p.as_os_str().is_empty()) {
                    Some(base) => base.join(dir),
                    None => dir,
                }
            });
            Ok((dir, tz))
        }
    }
}

/// One row as a line: time, kind, what, and the span of a folded row.
pub fn line(e: &Entry, tz: chrono_tz::Tz) -> String {
    let time = |ms: i64, fmt: &str| {
        Utc.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.with_timezone(&tz).format(fmt).to_string())
            .unwrap_or_default()
    };
    let mut s = format!("{}  {:<9}  {}", time(e.at_ms, "%Y-%m-%d %H:%M:%S"), e.kind.word(), e.detail);
    for (key, value) in [
        ("rule", &e.rule),
        ("relay", &e.relay),
        ("camera", &e.camera),
        ("zone", &e.zone),
        ("plate", &e.plate),
        ("class", &e.class),
        ("who", &e.who),
    ] {
        if let Some(v) = value {
            s.push_str(&format!("  {key}={v:?}"));
        }
    }
    if let Some(t) = e.target {
        s.push_str(&format!("  target={t}"));
    }
    if e.count > 1 {
        s.push_str(&format!("  ×{} until {}", e.count, time(e.last_ms, "%H:%M:%S")));
    }
    s
}
