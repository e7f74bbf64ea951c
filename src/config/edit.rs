//! Changing the rules file from a program (`camrelay camera zones --write`,
//! the web page's zone editor) the way a careful person would.
//!
//! Owns the write path of the rules file: `toml_edit` keeps every comment
//! and the layout of whatever is not changed; the whole new text must pass
//! the same parser `run` and `check` use before anything is written; the
//! write is atomic (a temporary file beside it, renamed over it) and the
//! version it replaces is kept as `<file>.prev`. It must never write a text
//! the parser refuses, and never touch anything but `[[zone]]` tables (zone
//! edits) or one list's `[[plates.<list>]]` tables (plate list edits).
//!
//! Plate lists live in the rules file, not a file of their own, so that
//! `check` validates them with the rules that name them and one backup holds
//! everything; [`set_plate_list`] writes them as zones are written, and a
//! reload applies them. [`plate_lists`] shows them back with where each
//! entry stands at a wall time the caller passes (no clock is read here).
//!
//! Writers serialise: every edit takes an exclusive lock on the rules file's
//! folder (`flock`, so the daemon's page and `camrelay camera ...` as root
//! exclude each other), then reads the file, edits and writes it, so no edit
//! is lost to another writer's older copy. The temporary file's name is
//! unique; it is given the old file's mode, owner and group before it
//! replaces it (a writer that may not give it the owner keeps the group);
//! a rules file that is a symbolic link keeps its link: the file it points
//! to is replaced.

use super::{parse, Anchor, Config, ConfigError, PlateEntry, PlateTime};
use crate::decode::Point;
use crate::engine::plates::{clock_text, standing, Standing};
use std::path::{Path, PathBuf};

/// One zone as the editor wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneEdit {
    pub name: String,
    pub polygon: Vec<Point>,
    pub anchor: Anchor,
}

/// Why the file was not changed.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not TOML: {message}", path.display())]
    NotToml { path: PathBuf, message: String },
    /// The edit asks for something the file cannot hold (a zone of another camera).
    #[error("{0}")]
    Refused(String),
    /// The new text fails validation: the located message, nothing written.
    #[error("the rules file would not be valid, nothing written: {0}")]
    Invalid(ConfigError),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// What a zone edit changed, in words for the page and the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ZoneChanges {
    pub changed: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Append `blocks` (TOML text) to the rules file, first removing the
/// `[[zone]]`s named in `replace`. `blocks` may hold `[[camera]]` and
/// `[[zone]]` tables and nothing else: whatever text went into them, it can
/// never add a rule, a relay or a setting.
pub fn append_blocks(path: &Path, replace: &[String], blocks: &str) -> Result<(), EditError> {
    let parsed: toml_edit::DocumentMut = blocks.parse().map_err(|e: toml_edit::TomlError| {
        EditError::Refused(format!("the blocks to add are not TOML: {}", e.message()))
    })?;
    if let Some((key, _)) =
        parsed.iter().find(|(k, v)| !(matches!(*k, "zone" | "camera") && v.is_array_of_tables()))
    {
        return Err(EditError::Refused(format!(
            "the blocks to add hold {key:?}; only [[camera]] and [[zone]] blocks are added this way"
        )));
    }
    let path = &target(path);
    let _lock = lock(path)?;
    let mut doc = read(path)?;
    if let Some(zones) = doc.get_mut("zone").and_then(|z| z.as_array_of_tables_mut()) {
        zones.retain(|t| !name_of(t).is_some_and(|n| replace.iter().any(|r| r == n)));
    }
    let mut new = doc.to_string();
    if !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(blocks);
    validate_and_write(path, &new)
}

/// Make `camera`'s zones named in `zones` have those polygons and anchors
/// (a zone that does not exist yet is appended as a new block), and remove
/// the zones named in `remove`. A zone keeps its place, its comments and
/// every other key.
pub fn set_zones(
    path: &Path,
    camera: &str,
    zones: &[ZoneEdit],
    remove: &[String],
) -> Result<ZoneChanges, EditError> {
    if zones.len() > MAX_ZONES_PER_EDIT {
        return Err(EditError::Refused(format!(
            "{} zones in one edit; at most {MAX_ZONES_PER_EDIT}",
            zones.len()
        )));
    }
    let path = &target(path);
    let _lock = lock(path)?;
    let mut doc = read(path)?;
    let mut changes = ZoneChanges::default();
    let mut appended = String::new();
    let tables = doc.get_mut("zone").and_then(|z| z.as_array_of_tables_mut());
    let mut tables = tables.map(|t| t.iter_mut().collect::<Vec<_>>()).unwrap_or_default();
    for z in zones {
        match tables.iter_mut().find(|t| name_of(t) == Some(z.name.as_str())) {
            Some(table) => {
                let owner = table.get("camera").and_then(|c| c.as_str()).unwrap_or("");
                if owner != camera {
                    return Err(EditError::Refused(format!(
                        "zone {:?} belongs to camera {owner:?}, not {camera:?}; choose another name",
                        z.name
                    )));
                }
                table.insert("polygon", toml_edit::value(polygon_value(&z.polygon)));
                match (z.anchor, table.contains_key("anchor")) {
                    (Anchor::BottomCenter, false) => {}
                    (anchor, _) => {
                        table.insert("anchor", toml_edit::value(anchor_word(anchor)));
                    }
                }
                changes.changed.push(z.name.clone());
            }
            None => {
                appended.push_str(&zone_block(camera, z));
                changes.added.push(z.name.clone());
            }
        }
    }
    if !remove.is_empty() {
        if let Some(all) = doc.get_mut("zone").and_then(|z| z.as_array_of_tables_mut()) {
            all.retain(|t| {
                let gone = name_of(t).is_some_and(|n| remove.iter().any(|r| r == n))
                    && t.get("camera").and_then(|c| c.as_str()) == Some(camera);
                if gone {
                    changes.removed.push(name_of(t).unwrap_or_default().to_string());
                }
                !gone
            });
        }
        if let Some(missing) = remove.iter().find(|r| !changes.removed.contains(r)) {
            return Err(EditError::Refused(format!("camera {camera:?} has no zone {missing:?} to remove")));
        }
    }
    let mut new = doc.to_string();
    if !appended.is_empty() {
        if !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str(&appended);
    }
    validate_and_write(path, &new)?;
    Ok(changes)
}

/// One `[[plates.<list>]]` entry as the page edits it: what the file says,
/// in the file's own words (`days = ["sat", "sun"]`, `after = "09:00"`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlateEntryEdit {
    pub plate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A local date-time (`2026-12-12T09:00:00`) or date (`2026-12-12`: from its start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<PlateTime>,
    /// A local date-time, or a date (to the end of that day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<PlateTime>,
    /// Weekday words as a rule's `days` (`mon`..`sun`, `weekdays`, `weekend`); empty: every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
    /// Daily hours, clock times (`"09:00"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

impl From<&PlateEntry> for PlateEntryEdit {
    fn from(e: &PlateEntry) -> PlateEntryEdit {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let days = match e.days {
            0x7f => Vec::new(),
            0b001_1111 => vec!["weekdays".to_string()],
            0b110_0000 => vec!["weekend".to_string()],
            m => (0..7).filter(|i| m & (1 << i) != 0).map(|i| names[i].to_string()).collect(),
        };
        PlateEntryEdit {
            plate: e.plate.clone(),
            name: e.name.clone(),
            from: e.from,
            until: e.until,
            days,
            after: e.after.map(clock_text),
            before: e.before.map(clock_text),
        }
    }
}

/// One plate list for the page, with where each entry stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlateListView {
    pub list: String,
    pub entries: Vec<PlateEntryView>,
}

/// One entry for the page: what the file says, and whether it counts at the wall time asked about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlateEntryView {
    #[serde(flatten)]
    pub entry: PlateEntryEdit,
    /// `valid`, `not_yet`, `expired`, or `off_hours` (within its dates, not on its days or hours).
    pub standing: Standing,
    /// `standing == valid`: a read of this plate would count now.
    pub valid_now: bool,
}

/// The plate lists of `config` as the page shows them, each entry's
/// standing taken at `wall` in the site's timezone.
pub fn plate_lists(config: &Config, wall: chrono::DateTime<chrono::Utc>) -> Vec<PlateListView> {
    let now = crate::engine::schedule::local_time(wall, &config.site);
    config
        .plates
        .iter()
        .map(|l| PlateListView {
            list: l.name.clone(),
            entries: l
                .entries
                .iter()
                .map(|e| {
                    let standing = standing(e, now);
                    PlateEntryView { entry: e.into(), standing, valid_now: standing == Standing::Valid }
                })
                .collect(),
        })
        .collect()
}

/// [`plate_lists`] of the rules file at `path`, read and validated as `check` does.
pub fn read_plate_lists(
    path: &Path,
    wall: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<PlateListView>, EditError> {
    let config = super::load(path).map_err(|e| match e {
        ConfigError::Read { path, source } => EditError::Read { path, source },
        other => EditError::Invalid(other),
    })?;
    Ok(plate_lists(&config, wall))
}

/// Entries one list may hold: a household's visitors, not a fleet register;
/// the whole file is parsed on every post's reload.
pub const MAX_PLATE_ENTRIES: usize = 500;

/// Make list `list` hold exactly `entries`: every `[[plates.<list>]]` table
/// of that list is replaced, in the order given. An entry whose plate was
/// already listed keeps its block's comments and the layout of the keys
/// that did not change; the comment above the list's first block stays
/// above it; nothing else in the file changes. No entries: the list stays,
/// empty, as `visitors = []` under `[plates]` (rules may name it while it has
/// no plate), and its next plate is a block again. The whole new file must pass the
/// parser `check` uses before it is written, atomically.
pub fn set_plate_list(path: &Path, list: &str, entries: &[PlateEntryEdit]) -> Result<(), EditError> {
    if !super::parse::list_name_ok(list) {
        return Err(EditError::Refused(format!(
            "plate list {list:?} needs a name of lower-case letters, digits and \"_\""
        )));
    }
    if entries.len() > MAX_PLATE_ENTRIES {
        return Err(EditError::Refused(format!(
            "{} plates on list {list:?}; at most {MAX_PLATE_ENTRIES}",
            entries.len()
        )));
    }
    let path = &target(path);
    let _lock = lock(path)?;
    let mut doc = read(path)?;
    let plates_item = doc.get_mut("plates");
    let plates = match plates_item {
        None => None,
        Some(item) => match item.as_table_mut() {
            Some(t) => Some(t),
            None => {
                return Err(EditError::Refused(
                    "the rules file's \"plates\" is not written as [[plates.<list>]] blocks; fix it by hand first"
                        .into(),
                ))
            }
        },
    };
    // An emptied list is kept as `visitors = []` under `[plates]`, so the
    // rules that name it stay valid while it has no plate.
    let kept_empty =
        plates.as_ref().and_then(|p| p.get(list)).and_then(|i| i.as_array()).is_some_and(|a| a.is_empty());
    let old: Vec<toml_edit::Table> = match plates.as_ref().and_then(|p| p.get(list)) {
        None => Vec::new(),
        Some(_) if kept_empty => Vec::new(),
        Some(item) => match item.as_array_of_tables() {
            Some(a) => a.iter().cloned().collect(),
            None => {
                return Err(EditError::Refused(format!(
                    "plate list {list:?} is not written as [[plates.{list}]] blocks; fix it by hand first"
                )))
            }
        },
    };
    let mut new = String::new();
    if old.is_empty() {
        // A new list goes at the end of the file, where a person would add it.
        if entries.is_empty() {
            // Nothing to add, nothing to take away.
            return validate_and_write(path, &doc.to_string());
        }
        if kept_empty {
            if let Some(plates) = doc.get_mut("plates").and_then(|p| p.as_table_mut()) {
                plates.remove(list);
                if plates.iter().all(|(_, item)| !item.is_value()) {
                    plates.set_implicit(true);
                }
            }
        }
        let mut appended = String::new();
        for e in entries {
            let mut t = toml_edit::Table::new();
            fill_entry(&mut t, e)?;
            appended.push_str(&format!("\n[[plates.{list}]]\n{t}"));
        }
        new.push_str(&doc.to_string());
        if !appended.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str(&appended);
    } else {
        let plate_of =
            |t: &toml_edit::Table| t.get("plate").and_then(|p| p.as_str()).map(super::normalize_plate);
        let first_prefix = old[0].decor().prefix().cloned();
        // The blocks stay where the list's first block was, in the order given.
        let position = old[0].position();
        let mut used = vec![false; old.len()];
        let mut array = toml_edit::ArrayOfTables::new();
        for (i, e) in entries.iter().enumerate() {
            let want = super::normalize_plate(&e.plate);
            let reuse =
                (0..old.len()).find(|&j| !used[j] && plate_of(&old[j]).as_deref() == Some(want.as_str()));
            let mut t = match reuse {
                Some(j) => {
                    used[j] = true;
                    old[j].clone()
                }
                None => toml_edit::Table::new(),
            };
            fill_entry(&mut t, e)?;
            match (i, reuse) {
                (0, Some(0)) => {}
                (0, _) => match &first_prefix {
                    Some(p) => t.decor_mut().set_prefix(p.clone()),
                    None => t.decor_mut().set_prefix("\n"),
                },
                (_, Some(0)) => t.decor_mut().set_prefix("\n"),
                (_, Some(_)) => {}
                (_, None) => t.decor_mut().set_prefix("\n"),
            }
            t.set_position(position);
            array.push(t);
        }
        if let Some(plates) = doc.get_mut("plates").and_then(|p| p.as_table_mut()) {
            if array.is_empty() {
                plates.remove(list);
                plates.set_implicit(false);
                plates.insert(list, toml_edit::value(toml_edit::Array::new()));
            } else {
                plates.insert(list, toml_edit::Item::ArrayOfTables(array));
            }
        }
        new.push_str(&doc.to_string());
    }
    validate_and_write(path, &new)
}

/// Write entry `e` into block `t`: keys that keep their value keep their
/// layout and comments; keys `e` leaves out go.
fn fill_entry(t: &mut toml_edit::Table, e: &PlateEntryEdit) -> Result<(), EditError> {
    let time = |p: Option<PlateTime>| -> Result<Option<toml_edit::Value>, EditError> {
        p.map(|p| {
            p.toml_text()
                .parse::<toml_edit::Datetime>()
                .map(toml_edit::Value::from)
                .map_err(|err| EditError::Refused(format!("{} is not a date: {err}", p.toml_text())))
        })
        .transpose()
    };
    let days = (!e.days.is_empty()).then(|| {
        let mut a = toml_edit::Array::new();
        for d in &e.days {
            a.push(d.as_str());
        }
        toml_edit::Value::Array(a)
    });
    let keys: [(&str, Option<toml_edit::Value>); 7] = [
        ("plate", Some(e.plate.trim().into())),
        ("name", e.name.as_deref().map(toml_edit::Value::from)),
        ("from", time(e.from)?),
        ("until", time(e.until)?),
        ("days", days),
        ("after", e.after.as_deref().map(toml_edit::Value::from)),
        ("before", e.before.as_deref().map(toml_edit::Value::from)),
    ];
    for (key, value) in keys {
        match value {
            None => {
                t.remove(key);
            }
            Some(v) => {
                let same = t.get(key).and_then(|i| i.as_value()).is_some_and(|old| {
                    let mut old = old.clone();
                    old.decor_mut().clear();
                    old.to_string() == v.to_string()
                });
                if !same {
                    t.insert(key, toml_edit::value(v));
                }
            }
        }
    }
    Ok(())
}

/// Zones one edit may add or change: a camera has a handful (the page draws
/// them one by one); thousands in one request are not an edit.
pub const MAX_ZONES_PER_EDIT: usize = 64;

/// The file a path names: a symbolic link's target, so the link stays.
fn target(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Held while one writer reads, edits and writes the rules file.
struct FolderLock(std::fs::File);

impl Drop for FolderLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd as _;
        // SAFETY: flock on a descriptor this value owns; no memory is involved.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// An exclusive lock on the folder of `path`, shared by every process that
/// edits it (the daemon's page, `camrelay camera ...`).
fn lock(path: &Path) -> Result<FolderLock, EditError> {
    use std::os::fd::AsRawFd as _;
    let dir = folder(path);
    let err = |source| EditError::Write { path: path.to_path_buf(), source };
    let file = std::fs::File::open(&dir).map_err(err)?;
    loop {
        // SAFETY: flock on an open descriptor; blocks until the other writer is done.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(FolderLock(file));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(err(e));
        }
    }
}

fn folder(path: &Path) -> PathBuf {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    }
}

/// The `[[zone]]` block for a new zone, as `camrelay camera zones` writes them.
pub fn zone_block(camera: &str, z: &ZoneEdit) -> String {
    let mut block = format!(
        "\n[[zone]]\nname = {}\ncamera = {}\npolygon = {}\n",
        toml_edit::Value::from(z.name.as_str()),
        toml_edit::Value::from(camera),
        polygon_value(&z.polygon)
    );
    if z.anchor != Anchor::BottomCenter {
        block.push_str(&format!("anchor = \"{}\"\n", anchor_word(z.anchor)));
    }
    block
}

/// The word the rules file uses for an anchor.
pub fn anchor_word(a: Anchor) -> &'static str {
    match a {
        Anchor::BottomCenter => "bottom_center",
        Anchor::Center => "center",
        Anchor::Box => "box",
    }
}

fn polygon_value(points: &[Point]) -> toml_edit::Array {
    let mut outer = toml_edit::Array::new();
    for p in points {
        let mut pair = toml_edit::Array::new();
        pair.push(i64::from(p.x));
        pair.push(i64::from(p.y));
        outer.push(pair);
    }
    outer.fmt();
    outer
}

fn name_of(t: &toml_edit::Table) -> Option<&str> {
    t.get("name").and_then(|n| n.as_str())
}

fn read(path: &Path) -> Result<toml_edit::DocumentMut, EditError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| EditError::Read { path: path.to_path_buf(), source })?;
    text.parse().map_err(|e: toml_edit::TomlError| EditError::NotToml {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })
}

/// Parse `new` as the rules file at `path` would be; only if it passes,
/// write it atomically and keep the old text as `<file>.prev`.
fn validate_and_write(path: &Path, new: &str) -> Result<(), EditError> {
    parse(new, path).map_err(EditError::Invalid)?;
    replace_file(path, new).map_err(|source| EditError::Write { path: path.to_path_buf(), source })
}

/// The file's neighbour `<file>.<suffix>`.
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    write_atomically(path, text.as_bytes(), true)
}

/// Replace `path` with `bytes` atomically, keeping the old file's mode,
/// owner and group, and with `keep_prev` the old bytes as `<file>.prev`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], keep_prev: bool) -> std::io::Result<()> {
    let text = bytes;
    use std::io::Write as _;
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let old = std::fs::metadata(path).ok();
    let tmp = unique_temp(path);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(old.as_ref().map_or(0o644, |m| m.mode() & 0o7777))
            .open(&tmp)?;
        if let Some(old) = &old {
            keep_owner(&f, old.uid(), old.gid());
            // The umask may have narrowed the mode given at creation.
            f.set_permissions(old.permissions())?;
        }
        f.write_all(text)?;
        f.sync_all()?;
        drop(f);
        // The previous version, for a person to compare or put back.
        if old.is_some() && keep_prev {
            let prev = beside(path, "prev");
            let copied = std::fs::read(path).and_then(|bytes| {
                let _ = std::fs::remove_file(&prev);
                let mut p = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(old.as_ref().map_or(0o600, |m| m.mode() & 0o777))
                    .open(&prev)?;
                if let Some(old) = &old {
                    keep_owner(&p, old.uid(), old.gid());
                }
                p.write_all(&bytes)
            });
            copied?;
        }
        std::fs::rename(&tmp, path)?;
        // The rename must survive a power cut: sync the folder entry too.
        std::fs::File::open(folder(path))?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Give `f` this owner and group; a writer that may not give the owner
/// (the service user replacing root's file) still gives the group, which is
/// what lets the service read the file.
fn keep_owner(f: &std::fs::File, uid: u32, gid: u32) {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(now) = f.metadata() else { return };
    if (now.uid(), now.gid()) == (uid, gid) {
        return;
    }
    if std::os::unix::fs::fchown(f, Some(uid), Some(gid)).is_err() {
        let _ = std::os::unix::fs::fchown(f, None, Some(gid));
    }
}

/// `.<file>.camrelay-<pid>-<random>` beside it: two writers never share one.
fn unique_temp(path: &Path) -> PathBuf {
    let mut raw = [0u8; 6];
    let _ = getrandom::fill(&mut raw);
    let random: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.camrelay-{}-{random}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"# my porch
[[relay]]
name = "lamp"
line = 17
max_on = "10m"

[[camera]]
name = "drive"
mac = "58:5b:69:5f:42:1b"

# drawn by hand: keep this comment
[[zone]]
name = "porch"
camera = "drive"
polygon = [[0, 0], [5000, 0], [5000, 5000]]  # the steps

[[rule]]
name = "lamp on"
when = { event = "presence", zone = "porch" }
then = { relay = "lamp", action = "hold", hold = "1m" }
"#;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn pts(v: &[(u32, u32)]) -> Vec<Point> {
        v.iter().map(|&(x, y)| Point { x, y }).collect()
    }

    #[test]
    fn a_moved_zone_keeps_its_place_and_comments_and_the_old_file_is_kept() {
        let (_d, path) = file(RULES);
        let edit = ZoneEdit {
            name: "porch".into(),
            polygon: pts(&[(100, 200), (5000, 0), (5000, 5000), (0, 5000)]),
            anchor: Anchor::BottomCenter,
        };
        let changes = set_zones(&path, "drive", &[edit], &[]).unwrap();
        assert_eq!(changes.changed, vec!["porch".to_string()]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# drawn by hand: keep this comment\n[[zone]]\nname = \"porch\""), "{text}");
        assert!(text.contains("polygon = [[100, 200], [5000, 0], [5000, 5000], [0, 5000]]"), "{text}");
        assert!(!text.contains("anchor"), "an unchanged default is not written: {text}");
        assert_eq!(std::fs::read_to_string(beside(&path, "prev")).unwrap(), RULES);
        assert_eq!(parse(&text, &path).unwrap().zones[0].polygon.len(), 4);
    }

    #[test]
    fn a_new_zone_is_appended_and_a_removed_one_goes() {
        let (_d, path) = file(&RULES.replace("zone = \"porch\" }", "}"));
        let edit = ZoneEdit {
            name: "lawn".into(),
            polygon: pts(&[(0, 6000), (9000, 6000), (9000, 9000)]),
            anchor: Anchor::Center,
        };
        let changes = set_zones(&path, "drive", &[edit], &["porch".into()]).unwrap();
        assert_eq!((changes.added, changes.removed), (vec!["lawn".to_string()], vec!["porch".to_string()]));
        let cfg = crate::config::load(&path).unwrap();
        assert_eq!(cfg.zones.len(), 1);
        assert_eq!((cfg.zones[0].name.as_str(), cfg.zones[0].anchor), ("lawn", Anchor::Center));
    }

    #[test]
    fn an_invalid_result_writes_nothing_and_says_where() {
        let (_d, path) = file(RULES);
        // A bow tie: the parser refuses self-intersecting polygons.
        let edit = ZoneEdit {
            name: "porch".into(),
            polygon: pts(&[(0, 0), (5000, 5000), (5000, 0), (0, 5000)]),
            anchor: Anchor::BottomCenter,
        };
        let err = set_zones(&path, "drive", &[edit], &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("rules.toml:"), "located: {msg}");
        assert!(msg.contains("polygon"), "{msg}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), RULES);
        assert!(!beside(&path, "prev").exists());
        // Removing a zone a rule uses is refused the same way.
        let err = set_zones(&path, "drive", &[], &["porch".into()]).unwrap_err();
        assert!(matches!(err, EditError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("porch"), "{err}");
    }

    #[test]
    fn another_cameras_zone_is_not_taken_over() {
        let (_d, path) = file(RULES);
        let edit =
            ZoneEdit { name: "porch".into(), polygon: pts(&[(0, 0), (1, 0), (1, 1)]), anchor: Anchor::Box };
        let err = set_zones(&path, "garden", &[edit], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "zone \"porch\" belongs to camera \"drive\", not \"garden\"; choose another name"
        );
        let err = set_zones(&path, "drive", &[], &["nope".into()]).unwrap_err();
        assert_eq!(err.to_string(), "camera \"drive\" has no zone \"nope\" to remove");
    }
}
