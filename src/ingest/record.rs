//! `record_dir`: every raw post saved to disk, for replay and bug reports.
//!
//! Layout (the replay tool reads exactly this):
//!
//! ```text
//! RECORD_DIR/<unix_millis>-<seq:06>-<source ip>.xml            a post that decoded
//! RECORD_DIR/rejected/<unix_millis>-<seq:06>-<source ip>.xml   a post the decoder refused
//! RECORD_DIR/rejected/<unix_millis>-<seq:06>-<source ip>.reason  why, one line of text
//! ```
//!
//! `unix_millis` is the receive time, `seq` a process-wide counter (so posts
//! received in the same millisecond keep their order, across both folders),
//! the source IP as printed by Rust (`192.168.1.20`, `fd00::5`). The file
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

/// `<unix_millis>-<seq:06>-<source ip>.xml`
pub fn file_name(wall: DateTime<Utc>, seq: u64, source: IpAddr) -> String {
    format!("{}-{:06}-{}.xml", wall.timestamp_millis(), seq, source.to_canonical())
}

/// Read back a recorded file's name: receive time (unix ms), sequence, source.
pub fn parse_file_name(name: &str) -> Option<(i64, u64, IpAddr)> {
    let stem = name.strip_suffix(".xml")?;
    let mut parts = stem.splitn(3, '-');
    let millis = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let ip = parts.next()?.parse().ok()?;
    Some((millis, seq, ip))
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
}

impl Recorder {
    /// Start the writer thread for `dir`. The folder is created when missing;
    /// failing to create it is logged, not fatal (ingest matters more).
    pub fn start(dir: PathBuf, shared: Arc<IngestShared>) -> std::io::Result<Recorder> {
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
        Ok(Recorder { tx, queued, shared, drop_log: LogLimit::new(ERROR_LOG_INTERVAL, 1) })
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
        let n = file_name(wall, 42, "192.168.1.20".parse().unwrap());
        assert_eq!(n, "1774646121524-000042-192.168.1.20.xml");
        assert_eq!(parse_file_name(&n), Some((1_774_646_121_524, 42, "192.168.1.20".parse().unwrap())));
        let n6 = file_name(wall, 1_234_567, "::ffff:10.0.0.1".parse().unwrap());
        assert_eq!(n6, "1774646121524-1234567-10.0.0.1.xml");
        let v6 = file_name(wall, 7, "fd00::5".parse().unwrap());
        assert_eq!(parse_file_name(&v6).map(|p| p.2), Some("fd00::5".parse().unwrap()));
        assert_eq!(parse_file_name("notes.txt"), None);
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
