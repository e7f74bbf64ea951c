//! A detection's pictures on disk: the JPEGs the camera sent, decoded from
//! the post's base64 and written as they are (no re-encoding on the Pi),
//! under `pictures/<date>/` in the history folder, and found again by the
//! name a row keeps. Owns the file names; it must never write outside that
//! folder or serve a name it did not make.

use crate::happened::Pictures;
use std::path::{Path, PathBuf};

/// The folder inside the history folder.
pub const FOLDER: &str = "pictures";

/// Which pictures are kept (`[history] pictures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// The scene and the target crop.
    #[default]
    All,
    /// The target crop only (a few KB for a plate, ~90 KB for a person).
    Crops,
    /// None.
    None,
}

/// What was written for one detection: names relative to the pictures
/// folder, and the bytes they take.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Written {
    pub scene: Option<String>,
    pub crop: Option<String>,
    pub bytes: u64,
}

/// Decode and write the pictures `keep` asks for. `stem` is unique per
/// detection (its wall time and a sequence number); the date folder comes
/// from `day` (`2026-12-05`). A picture that is not a JPEG is left out.
pub fn write(dir: &Path, day: &str, stem: &str, p: &Pictures, keep: Keep) -> std::io::Result<Written> {
    let mut out = Written::default();
    if keep == Keep::None {
        return Ok(out);
    }
    let folder = dir.join(FOLDER).join(day);
    let scene = if keep == Keep::All { p.overview.clone() } else { None };
    for (range, suffix) in [(scene, "scene"), (p.crop.clone(), "crop")] {
        let Some(range) = range else { continue };
        let Some(jpeg) = p.jpeg(range) else { continue };
        std::fs::create_dir_all(&folder)?;
        let name = format!("{day}/{stem}-{suffix}.jpg");
        std::fs::write(dir.join(FOLDER).join(&name), &jpeg)?;
        out.bytes += jpeg.len() as u64;
        match suffix {
            "scene" => out.scene = Some(name),
            _ => out.crop = Some(name),
        }
    }
    Ok(out)
}

/// The file a row's picture name stands for, if the name is one this
/// module makes (`2026-12-05/1796506320000-3-scene.jpg`): nothing else in
/// the history folder, or outside it, is ever served.
pub fn file(dir: &Path, name: &str) -> Option<PathBuf> {
    let (day, file) = name.split_once('/')?;
    let day_ok = day.len() == 10 && day.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    let stem = file.strip_suffix("-scene.jpg").or_else(|| file.strip_suffix("-crop.jpg"))?;
    let stem_ok = !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    (day_ok && stem_ok).then(|| dir.join(FOLDER).join(day).join(file))
}

/// Remove a picture a forgotten row named; a date folder left empty goes too.
pub fn remove(dir: &Path, name: &str) {
    if let Some(path) = file(dir, name) {
        let _ = std::fs::remove_file(&path);
        if let Some(folder) = path.parent() {
            // Fails while other pictures are in it: that is the point.
            let _ = std::fs::remove_dir(folder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_it_makes_are_files() {
        let dir = Path::new("/var/lib/camrelay/history");
        assert_eq!(
            file(dir, "2026-12-05/1796506320000-3-scene.jpg"),
            Some(PathBuf::from("/var/lib/camrelay/history/pictures/2026-12-05/1796506320000-3-scene.jpg"))
        );
        for bad in [
            "../history.db",
            "2026-12-05/../../history.db",
            "2026-12-05/x-scene.jpg",
            "2026-12-05/1-scene.png",
            "/etc/passwd",
            "2026-12-05",
            "2026-12-05/-scene.jpg",
        ] {
            assert_eq!(file(dir, bad), None, "{bad}");
        }
    }
}
