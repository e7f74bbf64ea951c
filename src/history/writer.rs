//! The history's writer: one more subscriber of the core's stream, on its
//! own thread, so a slow SD card never holds the core.
//!
//! A task on the runtime turns stream items into rows (stamped with the
//! wall clock) and hands them over a bounded queue; when the queue is full,
//! rows are dropped and counted, never waited for. The thread folds repeats
//! into one row with a count, commits every `commit_every` or
//! [`BATCH_ROWS`] rows (a written row's growing count waits for the repeats
//! to stop, or [`GROWN_EVERY`]), checkpoints the WAL every five minutes or
//! megabyte, and forgets by age and size a step at a time. A full disk
//! pauses it (said once, retried); a damaged file is moved aside and a new
//! one started. It must never touch the engine, the controller or a line.

use super::entry::{Entry, PictureNote, Remembered};
use super::picture;
use super::store::{Store, StoreError};
use crate::clock::SystemClock;
use crate::happened::Feed;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// Rows waiting for the thread; past it they are dropped and counted.
pub const QUEUE: usize = 4_096;

/// Rows that make a commit without waiting for `commit_every`.
pub const BATCH_ROWS: usize = 512;

/// Rows kept in memory while the disk is full; past it the oldest go.
const HELD_WHILE_PAUSED: usize = 20_000;

/// A repeat this close after the last one folds into its row.
pub const FOLD_GAP: Duration = Duration::from_secs(30);

/// A row folds repeats for at most this long, then a new row starts: a
/// light held all evening is a row an hour, and searches stay bounded.
pub const FOLD_SPAN: Duration = Duration::from_secs(3600);

/// A row already written whose repeats go on (a light held all evening)
/// has its count and span written this often, or when the repeats stop,
/// not at every commit: rewriting its `last` moves it in every index.
pub const GROWN_EVERY: Duration = Duration::from_secs(60);

/// The WAL is copied into the database at most this often, or sooner once
/// it holds [`CHECKPOINT_WAL_BYTES`]: a checkpoint writes again every page
/// the commits since the last one touched, and the tail pages of the table
/// and its indexes are touched by nearly every commit, so rarer checkpoints
/// write each of them once. The kernel writes the WAL out within about 30 s
/// on its own, so a power cut still loses only the last half minute.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(300);

/// A WAL this large is checkpointed at the next commit.
const CHECKPOINT_WAL_BYTES: u64 = 1 << 20;

/// How long the thread waits, once woken, for the rest of a burst.
const GATHER: Duration = Duration::from_millis(50);

/// Old rows are looked for this often.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// A paused writer tries the disk again this often.
const RETRY_EVERY: Duration = Duration::from_secs(10);

/// What the writer is told to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub dir: PathBuf,
    pub keep: Duration,
    pub max_bytes: u64,
    pub commit_every: Duration,
    pub pictures: picture::Keep,
}

/// Counters shown in `/api/status` and `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub forgotten: AtomicU64,
    pub commits: AtomicU64,
    pub paused: AtomicBool,
    pub bytes: AtomicU64,
    pub picture_bytes: AtomicU64,
    pub pictures: AtomicU64,
    last_problem: Mutex<Option<String>>,
}

/// The history's part of `/api/status`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    pub dir: PathBuf,
    pub written: u64,
    pub dropped: u64,
    pub forgotten: u64,
    pub commits: u64,
    /// Bytes of the database, free pages left out.
    pub bytes: u64,
    /// Bytes of the pictures kept, and how many were written since start.
    pub picture_bytes: u64,
    pub pictures: u64,
    /// Writing paused (the disk is full): rows wait in memory.
    pub paused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_problem: Option<String>,
}

impl Stats {
    pub fn status(&self, dir: PathBuf) -> Status {
        Status {
            dir,
            written: self.written.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            forgotten: self.forgotten.load(Relaxed),
            commits: self.commits.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            picture_bytes: self.picture_bytes.load(Relaxed),
            pictures: self.pictures.load(Relaxed),
            paused: self.paused.load(Relaxed),
            last_problem: self.last_problem.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    pub fn problem(&self, text: String) {
        *self.last_problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
    }

    /// Prometheus lines.
    pub fn render_prometheus(&self, out: &mut String) {
        use std::fmt::Write;
        let lines = [
            (
                "camrelay_history_written_total",
                "counter",
                "Rows written to the history.",
                self.written.load(Relaxed),
            ),
            (
                "camrelay_history_dropped_total",
                "counter",
                "Rows dropped: the writer fell behind or the disk stayed full.",
                self.dropped.load(Relaxed),
            ),
            (
                "camrelay_history_forgotten_total",
                "counter",
                "Rows forgotten by age or size.",
                self.forgotten.load(Relaxed),
            ),
            ("camrelay_history_commits_total", "counter", "History commits.", self.commits.load(Relaxed)),
            (
                "camrelay_history_bytes",
                "gauge",
                "Bytes the history database takes.",
                self.bytes.load(Relaxed),
            ),
            (
                "camrelay_history_picture_bytes",
                "gauge",
                "Bytes the history's pictures take.",
                self.picture_bytes.load(Relaxed),
            ),
            (
                "camrelay_history_pictures_total",
                "counter",
                "Detections whose pictures were written.",
                self.pictures.load(Relaxed),
            ),
            (
                "camrelay_history_paused",
                "gauge",
                "1 while writing is paused (disk full).",
                self.paused.load(Relaxed) as u64,
            ),
        ];
        for (name, ty, help, v) in lines {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {ty}\n{name} {v}");
        }
    }
}

/// Open the history and start writing what the feed brings until `stop`
/// turns true. Fails only if the folder cannot be made or the file is of a
/// newer camrelay; a damaged file is moved aside (logged) and a new one used.
pub fn spawn(
    settings: Settings,
    feed: &Feed,
    clock: SystemClock,
    stats: Arc<Stats>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Running, StoreError> {
    let (store, opened) = Store::open(&settings.dir, chrono::Utc::now())?;
    if let Some(aside) = opened.moved_aside {
        tracing::error!(moved_to = %aside.display(), "the history database was damaged: moved aside, a new one started");
    }
    let (tx, rx) = sync_channel::<Remembered>(QUEUE);
    let mut items = feed.subscribe();
    let feeder_stats = stats.clone();
    let to_row = move |item: &crate::happened::Item| {
        let late = clock.instant().as_millis().saturating_sub(item.at_ms());
        Remembered::of(item, chrono::Utc::now().timestamp_millis() - late as i64)
    };
    let feeder = tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                biased;
                r = items.recv() => r,
                _ = stop.changed() => {
                    // What the core said on its way down (every relay off) is kept too.
                    while let Ok(item) = items.try_recv() {
                        if let Some(entry) = to_row(&item) {
                            let _ = tx.try_send(entry);
                        }
                    }
                    break;
                }
            };
            let item = match item {
                Ok(item) => item,
                Err(RecvError::Lagged(n)) => {
                    feeder_stats.dropped.fetch_add(n, Relaxed);
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            let Some(entry) = to_row(&item) else { continue };
            match tx.try_send(entry) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    feeder_stats.dropped.fetch_add(1, Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => break,
            }
        }
        // Dropping the sender lets the thread write what it holds and end.
    });
    let thread = std::thread::Builder::new()
        .name("history".into())
        .spawn(move || {
            lower_priority();
            Writer::new(store, settings, stats).run(rx)
        })
        .map_err(|e| StoreError::Folder { path: PathBuf::from("history thread"), source: e })?;
    Ok(Running { feeder, thread })
}

/// The history is background work: on a busy Pi the scheduler runs the
/// core (posts, rules, relays) first. Linux's nice is per thread.
fn lower_priority() {
    // SAFETY: plain syscalls on this thread's own id; a failure changes nothing.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// A started writer.
pub struct Running {
    feeder: tokio::task::JoinHandle<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Running {
    /// After `stop`: wait for the last rows to be committed (a few seconds at most).
    pub async fn finish(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.feeder).await;
        let thread = self.thread;
        let _ =
            tokio::time::timeout(Duration::from_secs(5), tokio::task::spawn_blocking(move || thread.join()))
                .await;
    }
}

/// Where a folding row is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Pending(usize),
    Written(i64),
}

struct Fold {
    entry: Entry,
    place: Place,
    grown: bool,
}

/// The thread's state: rows not yet written and rows that may still fold.
/// The thread drives it with the real clocks; tests drive it on a virtual one.
pub struct Writer {
    store: Store,
    settings: Settings,
    stats: Arc<Stats>,
    pending: Vec<Entry>,
    folds: Vec<Fold>,
    first_pending: Option<Instant>,
    /// When a written row first grew since the last commit.
    grown_since: Option<Instant>,
    last_checkpoint: Instant,
    committed_since_checkpoint: bool,
    last_forget: Instant,
    paused_since: Option<Instant>,
    /// Detection rows pictures may still join (the NVR's copy comes later).
    detections: Vec<(Place, Entry)>,
    /// Pictures for rows already written.
    pictured: Vec<(i64, Option<String>, Option<String>, u64)>,
    /// Makes picture names unique within a millisecond.
    seq: u64,
}

impl Writer {
    pub fn new(store: Store, settings: Settings, stats: Arc<Stats>) -> Writer {
        let now = Instant::now();
        if let Ok(bytes) = store.used_bytes() {
            stats.bytes.store(bytes, Relaxed);
        }
        if let Ok(bytes) = store.picture_bytes() {
            stats.picture_bytes.store(bytes, Relaxed);
        }
        Writer {
            store,
            settings,
            stats,
            pending: Vec::new(),
            folds: Vec::new(),
            first_pending: None,
            grown_since: None,
            last_checkpoint: now,
            committed_since_checkpoint: false,
            // Forget what an earlier run left past its age soon after start.
            last_forget: now.checked_sub(FORGET_EVERY).unwrap_or(now),
            paused_since: None,
            detections: Vec::new(),
            pictured: Vec::new(),
            seq: 0,
        }
    }

    fn run(mut self, rx: Receiver<Remembered>) {
        loop {
            let wait = self.next_deadline().saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(entry) => {
                    // What happened comes in bursts (a post is a detection, a
                    // firing, a switch): a moment's wait lets the rest of it
                    // queue, so a busy core wakes this thread a few times a
                    // second, not once per item, and a sender never has to.
                    std::thread::sleep(GATHER);
                    let now = Instant::now();
                    self.take(entry, now);
                    while let Ok(more) = rx.try_recv() {
                        self.take(more, now);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.commit(Instant::now());
                    if self.committed_since_checkpoint {
                        let _ = self.store.checkpoint();
                    }
                    return;
                }
            }
            self.tick(Instant::now(), chrono::Utc::now().timestamp_millis());
        }
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        let mut next = now + FORGET_EVERY;
        if let Some(first) = self.first_pending {
            next = next.min(first + self.settings.commit_every);
        }
        if let Some(since) = self.grown_since {
            next = next.min(since + GROWN_EVERY);
            // And when the last of the repeats is a fold gap old.
            let wall = chrono::Utc::now().timestamp_millis();
            if let Some(last) = self.quietest_grown() {
                let left = (last + FOLD_GAP.as_millis() as i64 - wall).max(0) as u64;
                next = next.min(now + Duration::from_millis(left + 1));
            }
        }
        if let Some(since) = self.paused_since {
            next = next.min(since + RETRY_EVERY);
        }
        next.max(now + Duration::from_millis(1))
    }

    /// The wall time of the last repeat of the written row that has been
    /// quiet longest: its growth is final a fold gap after it.
    fn quietest_grown(&self) -> Option<i64> {
        self.folds.iter().filter(|f| f.grown).map(|f| f.entry.last_ms).min()
    }

    /// Take one item of the stream.
    pub fn take(&mut self, item: Remembered, now: Instant) {
        match item {
            Remembered::Row(entry) => self.add(entry, now),
            Remembered::Picture(note) => self.add_picture(&note, now),
        }
    }

    /// Write a detection's pictures and join them to its row, pending or
    /// written. Pictures no detection row takes are not kept.
    pub fn add_picture(&mut self, note: &PictureNote, now: Instant) {
        if self.settings.pictures == picture::Keep::None || self.paused_since.is_some() {
            return;
        }
        let Some(slot) = self.detections.iter_mut().rev().find(|(_, e)| e.pictured_by(note)) else { return };
        let day = chrono::DateTime::from_timestamp_millis(note.at_ms)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "1970-01-01".into());
        self.seq += 1;
        let stem = format!("{}-{}", note.at_ms.max(0), self.seq);
        let written =
            match picture::write(&self.settings.dir, &day, &stem, &note.picture, self.settings.pictures) {
                Ok(w) if w.bytes > 0 => w,
                Ok(_) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "history: a picture could not be written");
                    self.stats.problem(format!("picture not written: {e}"));
                    return;
                }
            };
        self.stats.pictures.fetch_add(1, Relaxed);
        self.stats.picture_bytes.fetch_add(written.bytes, Relaxed);
        slot.1.picture = written.scene.clone();
        slot.1.thumb = written.crop.clone();
        match slot.0 {
            Place::Pending(i) => {
                if let Some(p) = self.pending.get_mut(i) {
                    p.picture = written.scene;
                    p.thumb = written.crop;
                    p.picture_bytes = written.bytes;
                }
            }
            Place::Written(id) => {
                self.pictured.push((id, written.scene, written.crop, written.bytes));
                self.first_pending.get_or_insert(now);
            }
        }
    }

    /// Take one row: fold it into a recent row it repeats, or keep it to write.
    pub fn add(&mut self, entry: Entry, now: Instant) {
        let gap = FOLD_GAP.as_millis() as i64;
        if let Some(fold) = self.folds.iter_mut().rev().find(|f| {
            f.entry.repeats(&entry)
                && entry.at_ms - f.entry.last_ms <= gap
                && entry.at_ms - f.entry.at_ms <= FOLD_SPAN.as_millis() as i64
        }) {
            fold.entry.last_ms = fold.entry.last_ms.max(entry.last_ms);
            fold.entry.count = fold.entry.count.saturating_add(entry.count);
            match fold.place {
                Place::Pending(i) => {
                    if let Some(p) = self.pending.get_mut(i) {
                        p.last_ms = fold.entry.last_ms;
                        p.count = fold.entry.count;
                    }
                }
                Place::Written(_) => {
                    fold.grown = true;
                    self.grown_since.get_or_insert(now);
                }
            }
            return;
        }
        if self.pending.len() >= HELD_WHILE_PAUSED {
            self.stats.dropped.fetch_add(1, Relaxed);
            return;
        }
        if entry.kind == super::Kind::Detection {
            self.detections.push((Place::Pending(self.pending.len()), entry.clone()));
        }
        if entry.may_fold() {
            self.folds.push(Fold {
                entry: entry.clone(),
                place: Place::Pending(self.pending.len()),
                grown: false,
            });
        }
        self.pending.push(entry);
        self.first_pending.get_or_insert(now);
    }

    /// Commit, checkpoint and forget when their time has come.
    pub fn tick(&mut self, now: Instant, wall_ms: i64) {
        let gap = FOLD_GAP.as_millis() as i64;
        let due = self.first_pending.is_some_and(|t| now >= t + self.settings.commit_every)
            || self.pending.len() >= BATCH_ROWS
            || self.grown_since.is_some_and(|t| now >= t + GROWN_EVERY)
            || self.quietest_grown().is_some_and(|last| wall_ms - last > gap);
        let retry = self.paused_since.map_or(true, |since| now >= since + RETRY_EVERY);
        if due && retry {
            self.commit(now);
        }
        let wal_full = || self.store.wal_bytes() >= CHECKPOINT_WAL_BYTES;
        if self.committed_since_checkpoint && (now >= self.last_checkpoint + CHECKPOINT_EVERY || wal_full()) {
            if let Err(e) = self.store.checkpoint() {
                tracing::debug!(error = %e, "history checkpoint failed");
            }
            self.last_checkpoint = now;
            self.committed_since_checkpoint = false;
        }
        if now >= self.last_forget + FORGET_EVERY && self.paused_since.is_none() {
            self.forget(wall_ms);
            self.last_forget = now;
        }
        self.folds
            .retain(|f| matches!(f.place, Place::Pending(_)) || f.grown || wall_ms - f.entry.last_ms <= gap);
        self.detections
            .retain(|(place, e)| matches!(place, Place::Pending(_)) || wall_ms - e.at_ms <= 30_000);
    }

    /// Write what is pending and what grew, in one transaction.
    pub fn commit(&mut self, now: Instant) {
        let grown: Vec<(i64, i64, u32)> = self
            .folds
            .iter()
            .filter_map(|f| match f.place {
                Place::Written(id) if f.grown => Some((id, f.entry.last_ms, f.entry.count)),
                _ => None,
            })
            .collect();
        if self.pending.is_empty() && grown.is_empty() && self.pictured.is_empty() {
            self.first_pending = None;
            self.grown_since = None;
            return;
        }
        match self.store.write(&self.pending, &grown, &self.pictured) {
            Ok(ids) => {
                self.pictured.clear();
                for (place, _) in &mut self.detections {
                    if let Place::Pending(i) = *place {
                        if let Some(id) = ids.get(i) {
                            *place = Place::Written(*id);
                        }
                    }
                }
                for f in &mut self.folds {
                    if let Place::Pending(i) = f.place {
                        if let Some(id) = ids.get(i) {
                            f.place = Place::Written(*id);
                        }
                    }
                    f.grown = false;
                }
                self.stats.written.fetch_add(ids.len() as u64, Relaxed);
                self.stats.commits.fetch_add(1, Relaxed);
                self.pending.clear();
                self.first_pending = None;
                self.grown_since = None;
                self.committed_since_checkpoint = true;
                if self.paused_since.take().is_some() {
                    tracing::warn!("history: writing again");
                    self.stats.paused.store(false, Relaxed);
                }
            }
            Err(e) if e.is_full() => {
                if self.paused_since.is_none() {
                    tracing::error!(error = %e, dir = %self.settings.dir.display(), "history: the disk is full; writing paused (relays are not affected), retrying every 10 s");
                    self.stats.problem(format!("disk full: {e}"));
                    self.stats.paused.store(true, Relaxed);
                }
                self.paused_since = Some(now);
            }
            Err(e) if e.is_corrupt() => {
                self.stats.problem(format!("damaged: {e}"));
                match Store::open(&self.settings.dir, chrono::Utc::now()) {
                    Ok((store, opened)) => {
                        if let Some(aside) = opened.moved_aside {
                            tracing::error!(moved_to = %aside.display(), "the history database was damaged: moved aside, a new one started");
                        }
                        self.store = store;
                        self.folds.retain(|f| matches!(f.place, Place::Pending(_)));
                        self.detections.retain(|(place, _)| matches!(place, Place::Pending(_)));
                        self.pictured.clear();
                    }
                    Err(e) => tracing::error!(error = %e, "history: cannot start a new database"),
                }
                self.paused_since = Some(now);
            }
            Err(e) => {
                if self.paused_since.is_none() {
                    tracing::error!(error = %e, "history: cannot write; retrying every 10 s");
                    self.stats.problem(e.to_string());
                }
                self.paused_since = Some(now);
            }
        }
    }

    /// Forget a few steps of rows past their age or past the size cap.
    pub fn forget(&mut self, wall_ms: i64) {
        let keep_from = wall_ms - self.settings.keep.as_millis() as i64;
        for _ in 0..8 {
            match self.store.forget(keep_from, self.settings.max_bytes) {
                Ok(gone) => {
                    self.stats.forgotten.fetch_add(gone.rows as u64, Relaxed);
                    for name in &gone.files {
                        picture::remove(&self.settings.dir, name);
                    }
                    if !gone.full() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "history: forgetting old rows failed");
                    break;
                }
            }
        }
        if let Ok(bytes) = self.store.used_bytes() {
            self.stats.bytes.store(bytes, Relaxed);
        }
        if let Ok(bytes) = self.store.picture_bytes() {
            self.stats.picture_bytes.store(bytes, Relaxed);
        }
    }
}
