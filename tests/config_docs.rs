//! The reference (docs/rules.md) lists every key the parser accepts with the same
//! type and default, the example file is valid, and `camrelay check` says so.

mod common;

use camrelay::config::schema::{markdown_table, KEYS, SECTIONS};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// With `CAMRELAY_BLESS=1`, rewrite each section's table in docs/rules.md
/// from the schema first (the prose around them is left alone).
fn bless(docs: &str) -> String {
    let mut out = docs.to_string();
    for (id, heading) in SECTIONS {
        let Some(h) = out.find(&format!("### `{heading}`")) else { continue };
        let Some(start) = out[h..].find("| key |").map(|i| h + i) else { continue };
        let end = out[start..].find("\n\n").map_or(out.len(), |i| start + i + 1);
        out.replace_range(start..end, &markdown_table(id));
    }
    out
}

#[test]
fn the_reference_lists_every_key_with_its_default() {
    let path = root().join("docs/rules.md");
    let mut docs = std::fs::read_to_string(&path).unwrap();
    if std::env::var_os("CAMRELAY_BLESS").is_some() {
        docs = bless(&docs);
        std::fs::write(&path, &docs).unwrap();
    }
    for (id, heading) in SECTIONS {
        let table = markdown_table(id);
        assert!(
            docs.contains(&format!("### `{heading}`")) && docs.contains(&table),
            "docs/rules.md must hold the table of {heading} exactly as:\n{table}"
        );
    }
    assert!(KEYS.iter().all(|k| SECTIONS.iter().any(|(id, _)| *id == k.section)));
}

#[test]
fn check_accepts_the_example_and_says_what_it_does() {
    let out =
        common::camrelay_command().arg("check").arg(root().join("rules.example.toml")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("is valid: 4 relays, 4 cameras, 3 zones, 6 rules."), "{stdout}");
    assert!(stdout.contains(
        "1. \"porch light at night\": When a person is present in zone \"porch\", between sunset-30m and sunrise+15m (Europe/Berlin): keep relay \"porch_light\" on until 1m after the last match."
    ), "{stdout}");
    assert!(stdout.contains("at most once per plate every 30s."), "{stdout}");
    assert!(
        stdout.contains(
            "2. \"drive lamp on\": When the first person arrives in area \"driveway\" (any of its cameras)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("(or is read within 0.5 of it; an OCR confusion such as 8/B counts 0.5)"),
        "{stdout}"
    );
}

#[test]
fn check_fails_with_the_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, "[[relay]]\nname = \"gate\"\nline = 27\nmax_on = \"3s\"\nmaxon = \"3s\"\n")
        .unwrap();
    let out = common::camrelay_command().arg("check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "camrelay: {}:5:1: unknown key \"maxon\" in [[relay]] #1; did you mean \"max_on\"?\n  |\n5 | maxon = \"3s\"\n  | ^^^^^\n",
            path.display()
        )
    );
}

#[test]
fn load_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    let good = std::fs::read_to_string(root().join("rules.example.toml")).unwrap();
    std::fs::write(&path, format!("{good}\n[[rule]]\nwhen = {{ event = \"plate\" }}\nthen = {{ relay = \"nope\", action = \"on\" }}\n")).unwrap();
    assert!(camrelay::config::load(&path).is_err(), "one bad rule refuses the whole file");
    assert!(camrelay::config::load(&root().join("rules.example.toml")).is_ok());
}
