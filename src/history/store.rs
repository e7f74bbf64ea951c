//! The history's database: one SQLite file in WAL mode, its schema and
//! migrations, writing a batch in one transaction, forgetting by age and by
//! size a little at a time, and searching.
//!
//! Owns the file and nothing else: it never reads the clock (times come in
//! as arguments) and never decides when to commit (the writer does).

use super::entry::{Entry, Kind};
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// The file in the history folder.
pub const FILE: &str = "history.db";

/// The schema this build writes; older files are migrated on open.
pub const SCHEMA_VERSION: i64 = 3;

/// The indexes of schema 3. Every one ends in `at`, which never changes
/// once written, rather than `last`, which a visit or a held light moves:
/// an update of a row's span and count then rewrites the row's own page
/// only, not its entry in every index (issue 27's bytes a row on an SD
/// card). The listing orders by when an event began. `plate` holds each
/// plate the rows hold once: a fuzzy plate search compares those few
/// thousand, not the plate index's every entry.
const INDEXES: &str = "CREATE INDEX event_at ON event(at);
    CREATE INDEX event_plate ON event(plate, at) WHERE plate IS NOT NULL;
    CREATE INDEX event_camera ON event(camera, at) WHERE camera IS NOT NULL;
    CREATE INDEX event_relay ON event(relay, at) WHERE relay IS NOT NULL;
    CREATE INDEX event_rule ON event(rule, at) WHERE rule IS NOT NULL;
    CREATE INDEX event_pictured ON event(at) WHERE picture_bytes > 0;
    CREATE TABLE plate (plate TEXT PRIMARY KEY) WITHOUT ROWID;";

/// Rows forgotten per step, so a large backlog of old rows never holds the
/// writer for long (and never needs a full VACUUM).
pub const PRUNE_STEP: usize = 2_000;

/// The longest a row spans (`at..=last`): the writer stops folding repeats
/// into a row after [`super::writer::FOLD_SPAN`], and a visit longer than a
/// day (a car parked in view) is found by a search that ends within a day
/// of its end.
pub const MAX_SPAN_MS: i64 = 86_400_000;

/// The database's page, in bytes, for files this build creates.
pub const PAGE_SIZE: u32 = 512;

/// Pictures forgotten per step when over the size cap.
pub const PICTURE_STEP: usize = 200;

/// What one step of forgetting did.
#[derive(Debug, Default, PartialEq)]
pub struct Forgotten {
    /// Rows deleted.
    pub rows: usize,
    /// Rows whose pictures were let go (the rows stay).
    pub pictures: usize,
    /// Picture files to remove, as named in the rows.
    pub files: Vec<String>,
}

impl Forgotten {
    /// Whether a whole step was taken (there may be more to forget).
    pub fn full(&self) -> bool {
        self.rows >= PRUNE_STEP || self.pictures >= PICTURE_STEP
    }
}

/// Free pages handed back to the file system per step.
const VACUUM_PAGES: u32 = 512;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot create the history folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the history database {path} was written by a newer camrelay (schema {found}, this one knows {SCHEMA_VERSION})")]
    Newer { path: PathBuf, found: i64 },
    #[error("cannot move the damaged history database {path} aside: {source}")]
    MoveAside { path: PathBuf, source: std::io::Error },
}

impl StoreError {
    /// The file is not a database, or is damaged.
    pub fn is_corrupt(&self) -> bool {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        matches!(self, StoreError::Sqlite(e) if matches!(e.sqlite_error_code(), Some(DatabaseCorrupt | NotADatabase)))
    }

    /// The disk (or the file system's quota) is full.
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
    }
}

/// What a search asks for. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Wall-clock milliseconds, inclusive.
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub camera: Option<String>,
    /// Normalized (upper case, no separators).
    pub plate: Option<String>,
    /// Half-units of the plate distance (0: the exact plate).
    pub plate_halves: u32,
    pub relay: Option<String>,
    pub rule: Option<String>,
    pub kinds: Vec<Kind>,
    pub who: Option<String>,
    /// Only rows with a smaller id (the next page of a newest-first listing).
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// The database, open for writing (the daemon) or reading (the API, the command line).
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What opening found.
#[derive(Debug, Default, PartialEq)]
pub struct Opened {
    /// A damaged file was moved here and a new one started.
    pub moved_aside: Option<PathBuf>,
}

impl Store {
    /// Open (or create) the database in `dir` for writing. A file that is
    /// not a database or is damaged is moved aside with a timestamp in its
    /// name (`history.db.damaged-20261205T101500Z`) and a new one started:
    /// the relays must not wait for a history.
    pub fn open(dir: &Path, now: chrono::DateTime<chrono::Utc>) -> Result<(Store, Opened), StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::Folder { path: dir.to_path_buf(), source })?;
        let path = dir.join(FILE);
        match Store::open_file(&path) {
            Ok(store) => Ok((store, Opened::default())),
            Err(e) if e.is_corrupt() => {
                let aside = dir.join(format!("{FILE}.damaged-{}", now.format("%Y%m%dT%H%M%SZ")));
                std::fs::rename(&path, &aside)
                    .map_err(|source| StoreError::MoveAside { path: path.clone(), source })?;
                for suffix in ["-wal", "-shm"] {
                    let side = dir.join(format!("{FILE}{suffix}"));
                    if side.exists() {
                        let _ = std::fs::rename(&side, dir.join(format!("{}{suffix}", aside.display())));
                    }
                }
                let store = Store::open_file(&path)?;
                Ok((store, Opened { moved_aside: Some(aside) }))
            }
            Err(e) => Err(e),
        }
    }

    fn open_file(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(2))?;
        // Before the file has its first page (a file made by an older build
        // keeps its size): a commit writes every page it touched to the WAL
        // and a checkpoint writes them again, the tail of the table and of
        // each index, so small pages are what keeps an SD card's bytes per
        // event low. Searches at a million rows stay well under their targets.
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        // Before any table exists, so freed pages can be handed back a few
        // at a time (incremental_vacuum) instead of by a full VACUUM.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        // WAL with NORMAL: a power cut loses at most the last commit, never the file.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoints only when the writer asks (after a commit, see
        // `checkpoint`), not on every 1000 pages written.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let mut store = Store { conn, path: path.to_path_buf() };
        store.migrate()?;
        Ok(store)
    }

    /// Open an existing database read-only (the API, `camrelay history`):
    /// never creates, never migrates, never blocks the writer.
    pub fn open_read(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(FILE);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_secs(2))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer { path, found: version });
        }
        Ok(Store { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer { path: self.path.clone(), found: version });
        }
        let tx = self.conn.transaction()?;
        if version == 0 {
            // A new file gets today's schema in one step: the steps below
            // are for files older builds made, and replaying them here would
            // write every index twice before the first event.
            tx.execute_batch(&format!(
                "CREATE TABLE event (
                    id INTEGER PRIMARY KEY,
                    at INTEGER NOT NULL,
                    last INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    camera TEXT, relay TEXT, rule TEXT, zone TEXT, plate TEXT,
                    target INTEGER, class TEXT, who TEXT,
                    detail TEXT NOT NULL,
                    picture TEXT, thumb TEXT, picture_bytes INTEGER NOT NULL DEFAULT 0
                );
                {INDEXES}
                PRAGMA user_version = {SCHEMA_VERSION};"
            ))?;
            tx.commit()?;
            return Ok(());
        }
        if version < 2 {
            // Pictures: the names of a detection's JPEGs and the bytes they take.
            tx.execute_batch(
                "ALTER TABLE event ADD COLUMN picture TEXT;
                ALTER TABLE event ADD COLUMN thumb TEXT;
                ALTER TABLE event ADD COLUMN picture_bytes INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX event_pictured ON event(last) WHERE picture_bytes > 0;
                PRAGMA user_version = 2;",
            )?;
        }
        if version < 3 {
            // The indexes move from `last` to `at` (see [`INDEXES`]).
            tx.execute_batch(
                "DROP INDEX event_last;
                DROP INDEX event_plate;
                DROP INDEX event_camera;
                DROP INDEX event_relay;
                DROP INDEX event_rule;
                DROP INDEX event_pictured;",
            )?;
            tx.execute_batch(INDEXES)?;
            tx.execute_batch(
                "INSERT INTO plate SELECT DISTINCT plate FROM event WHERE plate IS NOT NULL;
                PRAGMA user_version = 3;",
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Write new rows, the new span and count of rows already written, and
    /// pictures that came after their row, in one transaction. Returns the
    /// new rows' ids, in order.
    pub fn write(
        &mut self,
        rows: &[Entry],
        grown: &[(i64, i64, u32)],
        pictured: &[(i64, Option<String>, Option<String>, u64)],
    ) -> Result<Vec<i64>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(rows.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO event (at, last, count, kind, camera, relay, rule, zone, plate, target, class, who, detail, picture, thumb, picture_bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            let mut plates = tx.prepare_cached("INSERT OR IGNORE INTO plate (plate) VALUES (?1)")?;
            for e in rows {
                insert.execute(params![
                    e.at_ms,
                    e.last_ms,
                    e.count,
                    e.kind.word(),
                    e.camera,
                    e.relay,
                    e.rule,
                    e.zone,
                    e.plate,
                    e.target,
                    e.class,
                    e.who,
                    e.detail,
                    e.picture,
                    e.thumb,
                    e.picture_bytes as i64
                ])?;
                ids.push(tx.last_insert_rowid());
                if let Some(plate) = &e.plate {
                    // A plate already known writes nothing.
                    plates.execute([plate])?;
                }
            }
            let mut update = tx.prepare_cached("UPDATE event SET last = ?2, count = ?3 WHERE id = ?1")?;
            for (id, last, count) in grown {
                update.execute(params![id, last, count])?;
            }
            let mut picture = tx.prepare_cached(
                "UPDATE event SET picture = ?2, thumb = ?3, picture_bytes = ?4 WHERE id = ?1",
            )?;
            for (id, scene, crop, bytes) in pictured {
                picture.execute(params![id, scene, crop, *bytes as i64])?;
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    /// The WAL's size on disk (0 when there is none).
    pub fn wal_bytes(&self) -> u64 {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    /// Copy the WAL back into the database file and start the WAL over, so
    /// it stays small and its pages are written once per checkpoint.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Forget one step of what last happened before `keep_from_ms`; then, while
    /// the database and its pictures take more than `max_bytes`, one step of
    /// the oldest pictures (rows are small: pictures go long before them),
    /// and once no picture is left, of the oldest rows. Returns what was
    /// forgotten; the caller removes the picture files it names.
    pub fn forget(&mut self, keep_from_ms: i64, max_bytes: u64) -> Result<Forgotten, StoreError> {
        let mut out = Forgotten::default();
        let tx = self.conn.transaction()?;
        {
            let mut old = tx.prepare_cached(
                "SELECT id, picture, thumb, plate FROM event WHERE at < ?1 AND last < ?1 ORDER BY at LIMIT ?2",
            )?;
            let rows = old.query_map(params![keep_from_ms, PRUNE_STEP as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?;
            let mut ids = Vec::new();
            let mut plates = Vec::new();
            for row in rows {
                let (id, scene, crop, plate) = row?;
                ids.push(id);
                out.files.extend(scene.into_iter().chain(crop));
                plates.extend(plate);
            }
            let mut delete = tx.prepare_cached("DELETE FROM event WHERE id = ?1")?;
            for id in &ids {
                delete.execute([id])?;
            }
            out.rows = ids.len();
            forget_plates(&tx, plates)?;
        }
        tx.commit()?;
        let pictures = self.picture_bytes()?;
        let used = self.used_bytes()? + pictures;
        if out.rows < PRUNE_STEP && used > max_bytes {
            let mut excess = used - max_bytes;
            if pictures > 0 {
                let tx = self.conn.transaction()?;
                {
                    let mut oldest = tx.prepare_cached(
                        "SELECT id, picture, thumb, picture_bytes FROM event WHERE picture_bytes > 0 ORDER BY at LIMIT ?1",
                    )?;
                    let rows = oldest.query_map([PICTURE_STEP as i64], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, i64>(3)?,
                        ))
                    })?;
                    let mut ids = Vec::new();
                    for row in rows {
                        let (id, scene, crop, bytes) = row?;
                        ids.push(id);
                        out.files.extend(scene.into_iter().chain(crop));
                        // Only as many as bring it under the cap.
                        excess = excess.saturating_sub(bytes.max(0) as u64);
                        if excess == 0 {
                            break;
                        }
                    }
                    let mut clear = tx.prepare_cached(
                        "UPDATE event SET picture = NULL, thumb = NULL, picture_bytes = 0 WHERE id = ?1",
                    )?;
                    for id in &ids {
                        clear.execute([id])?;
                    }
                    out.pictures = ids.len();
                }
                tx.commit()?;
            } else {
                let tx = self.conn.transaction()?;
                let mut plates = Vec::new();
                {
                    let mut oldest = tx.prepare_cached(
                        "DELETE FROM event WHERE id IN (SELECT id FROM event ORDER BY at LIMIT ?1) RETURNING plate",
                    )?;
                    let rows =
                        oldest.query_map(params![PRUNE_STEP as i64], |r| r.get::<_, Option<String>>(0))?;
                    for row in rows {
                        out.rows += 1;
                        plates.extend(row?);
                    }
                }
                forget_plates(&tx, plates)?;
                tx.commit()?;
            }
        }
        if out.rows > 0 || out.pictures > 0 {
            self.conn
                .query_row(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"), [], |_| Ok(()))
                .optional()?;
        }
        Ok(out)
    }

    /// Bytes the kept pictures take on disk.
    pub fn picture_bytes(&self) -> Result<u64, StoreError> {
        let sum: Option<i64> =
            self.conn.query_row("SELECT sum(picture_bytes) FROM event WHERE picture_bytes > 0", [], |r| {
                r.get(0)
            })?;
        Ok(sum.unwrap_or(0).max(0) as u64)
    }

    /// Bytes the database's pages take, free pages left out.
    pub fn used_bytes(&self) -> Result<u64, StoreError> {
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = self.conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(((pages - free).max(0) * size) as u64)
    }

    /// SQLite's own check of the file: `ok`, or what is damaged.
    pub fn integrity(&self) -> Result<String, StoreError> {
        Ok(self.conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?)
    }

    /// Rows in the database.
    pub fn count(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM event", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// The rows a query asks for, newest first.
    pub fn search(&self, q: &Query) -> Result<Vec<Entry>, StoreError> {
        let mut sql = String::from(
            "SELECT id, at, last, count, kind, camera, relay, rule, zone, plate, target, class, who, detail, picture, thumb, picture_bytes FROM event WHERE 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(t) = q.since_ms {
            arg(&mut sql, " AND last >= ?", t.into());
            // Bounds the index walk: a row's span (a folded repeat, a
            // visit) is at most [`MAX_SPAN_MS`].
            arg(&mut sql, " AND at >= ?", t.saturating_sub(MAX_SPAN_MS).into());
        }
        if let Some(t) = q.until_ms {
            arg(&mut sql, " AND at <= ?", t.into());
        }
        if let Some(c) = &q.camera {
            arg(&mut sql, " AND camera = ?", c.clone().into());
        }
        if let Some(r) = &q.relay {
            arg(&mut sql, " AND relay = ?", r.clone().into());
        }
        if let Some(r) = &q.rule {
            arg(&mut sql, " AND rule = ?", r.clone().into());
        }
        if let Some(w) = &q.who {
            arg(&mut sql, " AND who = ?", w.clone().into());
        }
        if let Some(id) = q.before_id {
            // The next page: after that row in the listing's order.
            arg(&mut sql, " AND (at, id) < (SELECT at, id FROM event WHERE id = ?)", id.into());
        }
        if !q.kinds.is_empty() {
            let words: Vec<String> = q.kinds.iter().map(|k| format!("'{}'", k.word())).collect();
            sql.push_str(&format!(" AND kind IN ({})", words.join(",")));
        }
        if let Some(plate) = &q.plate {
            // The plates the history holds are few next to its rows: match
            // them the way rules do, then fetch the rows of those that match.
            let plates = self.plates_near(plate, q.plate_halves)?;
            if plates.is_empty() {
                return Ok(Vec::new());
            }
            let mut marks = Vec::new();
            for p in plates {
                args.push(p.into());
                marks.push(format!("?{}", args.len()));
            }
            sql.push_str(&format!(" AND plate IN ({})", marks.join(",")));
        }
        // Newest first, by when it began: every index ends in `at`, so a
        // filtered search walks its index backwards and stops at the limit.
        sql.push_str(&format!(" ORDER BY at DESC, id DESC LIMIT {}", q.limit.max(1)));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
            let kind: String = r.get(4)?;
            Ok(Entry {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                last_ms: r.get(2)?,
                count: r.get(3)?,
                kind: Kind::from_word(&kind).unwrap_or(Kind::NoEffect),
                camera: r.get(5)?,
                relay: r.get(6)?,
                rule: r.get(7)?,
                zone: r.get(8)?,
                plate: r.get(9)?,
                target: r.get(10)?,
                class: r.get(11)?,
                who: r.get(12)?,
                detail: r.get(13)?,
                picture: r.get(14)?,
                thumb: r.get(15)?,
                picture_bytes: r.get::<_, i64>(16)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The distinct plates within `halves` of `plate`.
    fn plates_near(&self, plate: &str, halves: u32) -> Result<Vec<String>, StoreError> {
        if halves == 0 {
            return Ok(vec![plate.to_string()]);
        }
        let mut stmt = self.conn.prepare_cached("SELECT plate FROM plate")?;
        let plates = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut near = Vec::new();
        for p in plates {
            let p = p?;
            if crate::engine::plates::distance_halves(plate, &p) <= halves {
                near.push(p);
            }
        }
        Ok(near)
    }
}

/// A plate whose every row has been forgotten is forgotten too: what the
/// history keeps of a car ends with its last event. Only the plates of the
/// rows just deleted are looked at, so a step costs what it removed, not one
/// probe for every plate ever seen.
fn forget_plates(tx: &rusqlite::Transaction, mut plates: Vec<String>) -> Result<(), StoreError> {
    plates.sort_unstable();
    plates.dedup();
    let mut forget = tx.prepare_cached(
        "DELETE FROM plate WHERE plate = ?1 AND NOT EXISTS (SELECT 1 FROM event WHERE event.plate = ?1)",
    )?;
    for plate in &plates {
        forget.execute([plate])?;
    }
    Ok(())
}
