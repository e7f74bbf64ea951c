//! `[history]`: where the event history lives, how long and how much of it is kept.

use super::*;

impl Builder {
    pub(super) fn history(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        if t.bool("enabled")? == Some(false) {
            return Ok(());
        }
        let dir = match t.str("dir")? {
            Some(("", span)) => {
                return Err(Diag::new(
                    span,
                    "dir",
                    "[history] dir is empty; write e.g. dir = \"/var/lib/camrelay/history\"".to_string(),
                ))
            }
            Some((d, _)) => PathBuf::from(d),
            None => PathBuf::from("history"),
        };
        let duration = |key: &str, default: Duration| -> R<Duration> {
            match t.duration(key)? {
                Some((d, span)) => {
                    in_range(d, "history", key, t.label, span)?;
                    Ok(d)
                }
                None => Ok(default),
            }
        };
        let keep = duration("keep", Duration::from_secs(30 * 86_400))?;
        let commit_every = duration("commit_every", Duration::from_secs(10))?;
        let max_size = match t.str("max_size")? {
            Some((text, span)) => {
                let bytes = parse_size(text).map_err(|why| {
                    Diag::new(span.clone(), "max_size", format!("[history] max_size {why}"))
                })?;
                if !(MIN_HISTORY_BYTES..=MAX_HISTORY_BYTES).contains(&bytes) {
                    return Err(Diag::new(
                        span,
                        "max_size",
                        format!("[history] max_size \"{text}\" must be from 10MB to 1TB"),
                    ));
                }
                bytes
            }
            None => 1_000_000_000,
        };
        let pictures = match t.str("pictures")? {
            None | Some(("all", _)) => crate::history::picture::Keep::All,
            Some(("crops", _)) => crate::history::picture::Keep::Crops,
            Some(("none", _)) => crate::history::picture::Keep::None,
            Some((other, span)) => {
                return Err(bad_word(span, "pictures", other, t.label, &["all", "crops", "none"]))
            }
        };
        self.cfg.history = Some(HistoryConfig { dir, keep, max_size, commit_every, pictures });
        Ok(())
    }
}
