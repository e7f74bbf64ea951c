//! Changing the rules file from a program (`camrelay camera zones --write`,
//! the web page's zone editor) the way a careful person would.
//!
//! Owns the write path of the rules file: `toml_edit` keeps every comment
//! and the layout of whatever is not changed; the whole new text must pass
//! the same parser `run` and `check` use before anything is written; the
//! write is atomic (a temporary file beside it, renamed over it) and the
//! version it replaces is kept as `<file>.prev`. It must never write a text
//! the parser refuses, and never touch anything but `[[zone]]` tables.

use super::{parse, Anchor, ConfigError};
use crate::decode::Point;
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
/// `[[zone]]`s named in `replace`.
pub fn append_blocks(path: &Path, replace: &[String], blocks: &str) -> Result<(), EditError> {
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
    use std::io::Write as _;
    let tmp = beside(path, "camrelay-new");
    let old_mode = std::fs::metadata(path).map(|m| m.permissions()).ok();
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        if let Some(mode) = &old_mode {
            f.set_permissions(mode.clone())?;
        }
        f.sync_all()?;
        drop(f);
        // The previous version, for a person to compare or put back.
        if old_mode.is_some() {
            std::fs::copy(path, beside(path, "prev"))?;
        }
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename must survive a power cut: sync the folder entry too.
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
