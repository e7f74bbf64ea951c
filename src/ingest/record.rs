//! `record_dir`: every raw post saved to disk, for replay and bug reports.
//!
//! Layout (the replay tool reads exactly this):
//!
//! ```text
//! RECORD_DIR/<run>-<seq:09>-<mono:010>-<unix_millis>-<source ip>.xml           a post that decoded
//! RECORD_DIR/rejected/<run>-<seq:09>-<mono:010>-<unix_millis>-<source ip>.xml  a post the decoder refused
//! RECORD_DIR/rejected/<same name>.reason                                        why, one line of text
//! ```
//!
//! `run` is the wall-clock time (unix ms, 13 digits) the daemon started,
//! `seq` a process-wide counter (posts keep their order across both folders),
//! `mono` the receive time in ms on the daemon's monotonic clock, `unix_millis`
//! the wall-clock receive time, the source IP as printed by Rust
//! (`192.168.1.20`, `fd00::5`). Sorted by name, files are in receive order
//! whatever the wall clock did (NTP steps, a manual `date`), and replay
//! times them by `run + mono`, never by the wall clock. Names of the older
//! form `<unix_millis>-<seq>-<source ip>.xml` are still read. The file
//! holds the body exactly as received. Bodies never read in full (413, 403,
//! 404, 405, timeouts, disconnects) are not recorded: there is nothing to
//! replay.
//!
//! Writing happens on one writer thread fed by a bounded queue, never on the
//! request path: when the disk is slow the queue fills and posts go
//! unrecorded (counted in `camrelay_record_dropped_total`) while ingest goes
//! on; when the disk is full or the folder unwritable the error is counted
//! and logged at most once a minute.

use super::limit::LogLimit;
use super::IngestShared;
use crate::clock::Instant;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Posts waiting for the disk, at most.
const QUEUE_POSTS: usize = 256;
/// Body bytes waiting for the disk, at most (memory bound on a Pi).
const QUEUE_BYTES: usize = 32 * 1024 * 1024;
/// Write errors are logged at most once per this interval.
pub const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(60);

static SEQ: AtomicU64 = AtomicU64::new(0);

/// The next process-wide post sequence number.
pub fn next_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// What a recorded file's name says about its post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordName {
    /// Wall-clock start of the daemon run (unix ms); `None` in old names.
    pub run_ms: Option<i64>,
    pub seq: u64,
    /// Receive time on the run's monotonic clock (ms); `None` in old names.
    pub mono_ms: Option<u64>,
    /// Wall-clock receive time (unix ms).
    pub wall_ms: i64,
    pub source: Option<IpAddr>,
}

impl RecordName {
    /// A post received now.
    pub fn new(run_ms: i64, seq: u64, at: Instant, wall: DateTime<Utc>, source: IpAddr) -> RecordName {
        RecordName {
            run_ms: Some(run_ms),
            seq,
            mono_ms: Some(at.as_millis()),
            wall_ms: wall.timestamp_millis(),
            source: Some(source.to_canonical()),
        }
    }

    /// The receive order across runs: run start, then sequence.
    pub fn order(&self) -> (i64, u64) {
        (self.run_ms.unwrap_or(self.wall_ms), self.seq)
    }

    /// When the post arrived for replay: the run's start plus monotonic
    /// time when the name has them (a wall-clock jump cannot move it), else
    /// the wall-clock receive time.
    pub fn timeline_ms(&self) -> i64 {
        match (self.run_ms, self.mono_ms) {
            (Some(run), Some(mono)) => run.saturating_add(i64::try_from(mono).unwrap_or(i64::MAX)),
            _ => self.wall_ms,
        }
    }

    /// Read a file name of either form; `None` for any other name.
    pub fn parse(name: &str) -> Option<RecordName> {
        let stem = name.strip_suffix(".xml").or_else(|| name.strip_suffix(".json")).unwrap_or(name);
        let parts: Vec<&str> = stem.splitn(5, '-').collect();
        let num = |s: &str| s.parse::<i64>().ok();
        match parts[..] {
            [run, seq, mono, wall, ip] if run.len() == 13 => Some(RecordName {
                run_ms: Some(num(run)?),
                seq: seq.parse().ok()?,
                mono_ms: Some(mono.parse().ok()?),
                wall_ms: num(wall)?,
                source: ip.parse().ok(),
            }),
            _ => {
                let mut old = stem.splitn(3, '-');
                let wall_ms = num(old.next()?)?;
                let seq = old.next()?.parse().ok()?;
                Some(RecordName {
                    run_ms: None,
                    seq,
                    mono_ms: None,
                    wall_ms,
                    source: old.next().and_then(|s| s.parse().ok()),
                })
            }
        }
    }
}

impl std::fmt::Display for RecordName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = self.source.map(|s| s.to_string()).unwrap_or_default();
        match (self.run_ms, self.mono_ms) {
            (Some(run), Some(mono)) => {
                write!(f, "{run:013}-{:09}-{mono:010}-{}-{ip}.xml", self.seq, self.wall_ms)
            }
            _ => write!(f, "{}-{:06}-{ip}.xml", self.wall_ms, self.seq),
        }
    }
}

struct Job {
    name: String,
    body: Bytes,
    /// `Some(reason)` for a post the decoder refused.
    rejected: Option<String>,
}

/// Handle to the writer thread. Dropping it lets the thread finish the queue and end.
pub struct Recorder {
    tx: SyncSender<Job>,
    queued: Arc<AtomicUsize>,
    shared: Arc<IngestShared>,
    drop_log: LogLimit,
    run_ms: i64,
}

impl Recorder {
    /// The wall-clock time (unix ms) of the run's monotonic zero, in every name.
    pub fn run_ms(&self) -> i64 {
        self.run_ms
    }

    /// Start the writer thread for `dir`. The folder is created when missing;
    /// failing to create it is logged, not fatal (ingest matters more).
    /// `run_ms`: wall-clock unix ms of the daemon's monotonic zero.
    pub fn start(dir: PathBuf, shared: Arc<IngestShared>, run_ms: i64) -> std::io::Result<Recorder> {
        let (tx, rx) = sync_channel::<Job>(QUEUE_POSTS);
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            dir,
            ready: false,
            shared: shared.clone(),
            queued: queued.clone(),
            error_log: LogLimit::new(ERROR_LOG_INTERVAL, 1),
        };
        std::thread::Builder::new().name("camrelay-record".into()).spawn(move || {
            let mut writer = writer;
            if let Err((path, e)) = writer.prepare() {
                // Said once at start; each post it then fails to record is counted.
                if writer.error_log.check().is_some() {
                    tracing::warn!(path = %path.display(), error = %e,
                        "record_dir: cannot write; ingest continues, next report in 60 s at most");
                }
            }
            while let Ok(job) = rx.recv() {
                writer.write(&job);
                writer.queued.fetch_sub(job.body.len(), Ordering::Relaxed);
            }
        })?;
        Ok(Recorder { tx, queued, shared, drop_log: LogLimit::new(ERROR_LOG_INTERVAL, 1), run_ms })
    }

    /// Queue one post for writing; never blocks.
    pub fn record(&self, name: String, body: Bytes, rejected: Option<String>) {
        let len = body.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > QUEUE_BYTES {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.dropped(&name);
            return;
        }
        match self.tx.try_send(Job { name, body, rejected }) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) | Err(TrySendError::Disconnected(job)) => {
                self.queued.fetch_sub(len, Ordering::Relaxed);
                self.dropped(&job.name);
            }
        }
    }

    fn dropped(&self, name: &str) {
        self.shared.stats.record_dropped();
        if let Some(suppressed) = self.drop_log.check() {
            tracing::warn!(
                file = name,
                suppressed,
                "record_dir: writer behind, post not recorded; ingest continues"
            );
        }
    }
}

struct Writer {
    dir: PathBuf,
    ready: bool,
    shared: Arc<IngestShared>,
    queued: Arc<AtomicUsize>,
    error_log: LogLimit,
}

impl Writer {
    /// Create the folders. Posts not recorded because of a failure here are
    /// counted by the caller, one per post.
    fn prepare(&mut self) -> Result<(), (PathBuf, std::io::Error)> {
        let rejected = self.dir.join("rejected");
        std::fs::create_dir_all(&rejected).map_err(|e| (rejected, e))?;
        self.ready = true;
        Ok(())
    }

    fn write(&mut self, job: &Job) {
        if !self.ready {
            // The folder may have been fixed (remounted, permissions) since.
            if let Err((path, e)) = self.prepare() {
                self.failed(&path, &e);
                return;
            }
        }
        let result = match &job.rejected {
            None => write_file(&self.dir.join(&job.name), &job.body),
            Some(reason) => {
                let dir = self.dir.join("rejected");
                let stem = job.name.strip_suffix(".xml").unwrap_or(&job.name);
                write_file(&dir.join(&job.name), &job.body).and_then(|()| {
                    write_file(&dir.join(format!("{stem}.reason")), format!("{reason}\n").as_bytes())
                })
            }
        };
        if let Err((path, e)) = result {
            // Someone may have removed the folder: recreate it next time.
            if e.kind() == std::io::ErrorKind::NotFound {
                self.ready = false;
            }
            self.failed(&path, &e);
        }
    }

    fn failed(&self, path: &Path, e: &std::io::Error) {
        self.shared.stats.record_error();
        if let Some(suppressed) = self.error_log.check() {
            tracing::warn!(path = %path.display(), error = %e, suppressed,
                "record_dir: cannot write; ingest continues, next report in 60 s at most");
        }
    }
}

/// Write a whole file; a partial file is removed so captures stay exact.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), (PathBuf, std::io::Error)> {
    let result = std::fs::File::create(path).and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()));
    result.map_err(|e| {
        let _ = std::fs::remove_file(path);
        (path.to_path_buf(), e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let wall = DateTime::from_timestamp_millis(1_774_646_121_524).unwrap();
        let run = 1_774_646_000_000;
        let n =
            RecordName::new(run, 42, Instant::from_millis(121_524), wall, "192.168.1.20".parse().unwrap());
        assert_eq!(n.to_string(), "1774646000000-000000042-0000121524-1774646121524-192.168.1.20.xml");
        assert_eq!(RecordName::parse(&n.to_string()), Some(n));
        assert_eq!(n.timeline_ms(), 1_774_646_121_524);
        let n6 = RecordName::new(run, 1_234_567, Instant::ZERO, wall, "::ffff:10.0.0.1".parse().unwrap());
        assert!(n6.to_string().ends_with("-10.0.0.1.xml"), "{n6}");
        let v6 = RecordName::new(run, 7, Instant::ZERO, wall, "fd00::5".parse().unwrap());
        assert_eq!(
            RecordName::parse(&v6.to_string()).and_then(|p| p.source),
            Some("fd00::5".parse().unwrap())
        );
        // The older form is still read.
        let old = RecordName::parse("1774646121524-000017-192.168.1.20.xml").unwrap();
        assert_eq!((old.wall_ms, old.seq, old.run_ms), (1_774_646_121_524, 17, None));
        assert_eq!(old.source, Some("192.168.1.20".parse().unwrap()));
        assert_eq!(RecordName::parse("notes.txt"), None);
    }

    #[cfg(unix)]
    #[test]
    fn full_disk_write_fails_with_enospc_and_leaves_no_partial_file() {
        // /dev/full accepts the open and fails every write the way a full
        // disk does. Reach it through a symlink so the cleanup removes the
        // link, never the device node (tests may run as root).
        if !Path::new("/dev/full").exists() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("1-000001-10.0.0.1.xml");
        std::os::unix::fs::symlink("/dev/full", &link).unwrap();
        let (path, e) = write_file(&link, b"<config/>").unwrap_err();
        assert_eq!(path, link);
        assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected, got {e}");
        assert!(!link.exists() && std::fs::symlink_metadata(&link).is_err());
        assert!(Path::new("/dev/full").exists());
    }
}
