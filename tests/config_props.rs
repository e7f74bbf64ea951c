//! No rules file, however mangled, panics the parser: it is accepted or refused
//! with a located message.

use camrelay::config::{parse, ConfigError};
use proptest::prelude::*;
use std::path::Path;

const EXAMPLE: &str = include_str!("../rules.example.toml");

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_example_never_panics(
        edits in prop::collection::vec((0usize..EXAMPLE.len(), 0usize..8, "[ -~\n\u{e9}\u{1f600}]{0,6}"), 1..6)
    ) {
        let mut text = EXAMPLE.to_string();
        for (at, del, insert) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + del).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(at..end, &insert);
        }
        match parse(&text, Path::new("rules.toml")) {
            Ok(_) => {}
            Err(ConfigError::At { path, line, column, .. }) => {
                prop_assert_eq!(path, Path::new("rules.toml"));
                prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1);
                prop_assert!(column >= 1);
            }
            Err(other) => prop_assert!(false, "unlocated error: {other}"),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = parse(&text, Path::new("rules.toml"));
    }
}
