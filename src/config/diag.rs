//! Validation messages that point into the user's file, the way `just` does.
//!
//! Owns turning a byte span into `file:line:column`, quoting the line with a
//! caret, and the "did you mean" suggestion. Never decides what is valid.

use super::ConfigError;
use std::ops::Range;
use std::path::Path;

/// One problem at a place in the rules text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diag {
    pub span: Range<usize>,
    /// The key the problem is about (`relay`, `polygon`, ...), for tools.
    pub key: String,
    pub message: String,
}

impl Diag {
    pub fn new(span: Range<usize>, key: impl Into<String>, message: impl Into<String>) -> Diag {
        Diag { span, key: key.into(), message: message.into() }
    }

    pub fn into_error(self, text: &str, origin: &Path) -> ConfigError {
        let start = self.span.start.min(text.len());
        let (line, column) = line_col(text, start);
        ConfigError::At {
            path: origin.to_path_buf(),
            line,
            column,
            key: self.key,
            message: self.message,
            snippet: snippet(text, self.span),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The line holding the span's start, numbered, with carets under the span
/// (up to the end of that line).
pub(crate) fn snippet(text: &str, span: Range<usize>) -> String {
    let start = span.start.min(text.len());
    let (line, column) = line_col(text, start);
    let line_text = text.lines().nth(line - 1).unwrap_or("").trim_end_matches('\r');
    let line_chars = line_text.chars().count();
    let span_end = span.end.clamp(start, text.len());
    let mut end_col = if text.is_char_boundary(span_end) && text.is_char_boundary(start) {
        column + text[start..span_end].chars().count()
    } else {
        column + 1
    };
    end_col = end_col.min(line_chars + 1);
    let width = end_col.saturating_sub(column).max(1);
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    format!(
        "{pad} |\n{number} | {line_text}\n{pad} | {}{}",
        " ".repeat(column.saturating_sub(1)),
        "^".repeat(width)
    )
}

/// The closest candidate, when it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(&word.to_ascii_lowercase(), &c.to_ascii_lowercase());
        if !matches!(best, Some((bd, _)) if bd <= d) {
            best = Some((d, c));
        }
    }
    let limit = (word.chars().count() / 3).max(1);
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2 = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `a`, `b` or `c` for messages listing what would be valid.
pub(crate) fn one_of<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{}\"", s.as_ref())).collect();
    match quoted.len() {
        0 => "nothing".to_string(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_transposed_and_close_keys() {
        assert_eq!(did_you_mean("relya", ["relay", "action", "hold"]), Some("relay"));
        assert_eq!(did_you_mean("duraton", ["duration", "hold"]), Some("duration"));
        assert_eq!(did_you_mean("xyz", ["relay", "action"]), None);
    }

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbc = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 11), (2, 6));
        assert_eq!(snippet(text, 6..8), "  |\n2 | bc = 2\n  | ^^");
    }
}
