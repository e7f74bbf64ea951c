//! `camrelay inspect FILE...`: one JSON object per file on stdout, the reason
//! for each failure on stderr, and a non-zero exit when any file failed.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

fn inspect(files: &[PathBuf]) -> (bool, Vec<Value>, String) {
    let out = common::camrelay_command().arg("inspect").args(files).output().expect("run camrelay");
    let lines = String::from_utf8(out.stdout)
        .expect("UTF-8 stdout")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    (out.status.success(), lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn prints_the_event_of_each_file() {
    let files = [
        fixture_path("ipc-v1x/traject.xml"),
        fixture_path("nvr-v2/vehicle-lpr.xml"),
        fixture_path("extra/empty-keepalive.xml"),
    ];
    let (ok, lines, stderr) = inspect(&files);
    assert!(ok, "stderr: {stderr}");
    assert_eq!(lines.len(), 3);

    let traject = &lines[0];
    assert_eq!(traject["file"], files[0].display().to_string());
    assert_eq!(traject["bytes"], 1507);
    assert_eq!(traject["event"]["kind"]["kind"], "traject");
    assert_eq!(traject["event"]["device"]["mac"], "58:5b:69:5f:42:1b");
    assert_eq!(traject["event"]["time"]["unix_micros"], 1_774_646_121_524_166i64);
    assert_eq!(traject["event"]["targets"][0]["id"], 434);
    assert_eq!(traject["event"]["targets"][0]["class"], "person");
    assert_eq!(traject["event"]["targets"][0]["rect"]["x2"], 7585);

    let plate = &lines[1]["event"];
    assert_eq!(plate["dialect"], "nvr");
    assert_eq!(plate["kind"]["kind"], "plate");
    assert_eq!(plate["device"]["channel"], 2);
    assert_eq!(plate["plate"]["number"], "JP116D");
    assert_eq!(plate["plate"]["car"]["brand"], "GMC");
    assert_eq!(plate["images"][1]["role"], "target");
    assert_eq!(plate["images"][1]["declared_len"], 2760);

    assert_eq!(lines[2]["event"]["dialect"], "empty");
    assert_eq!(lines[2]["event"]["kind"]["kind"], "keepalive");
}

#[test]
fn unknown_kind_keeps_its_name() {
    let (ok, lines, _) = inspect(&[fixture_path("extra/unknown-smarttype.xml")]);
    assert!(ok);
    assert_eq!(lines[0]["event"]["kind"], serde_json::json!({"kind": "unknown", "name": "FALLING"}));
}

#[test]
fn a_failing_file_is_reported_and_the_others_still_print() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, b"<config><traject>").expect("write");
    let missing = dir.path().join("missing.xml");
    let files = [
        fixture_path("nvr-v2/keepalive.xml"),
        bad.clone(),
        missing.clone(),
        fixture_path("ipc-v1x/keepalive.xml"),
    ];
    let (ok, lines, stderr) = inspect(&files);
    assert!(!ok, "exit status must be non-zero");
    assert_eq!(lines.len(), 2, "the two good files still print");
    assert_eq!(lines[0]["event"]["dialect"], "nvr");
    assert_eq!(lines[1]["event"]["dialect"], "ipc");
    assert!(
        stderr.contains(&format!(
            "{}: truncated: the document ends at byte 17 inside <traject> [truncated]",
            bad.display()
        )),
        "stderr: {stderr}"
    );
    assert!(stderr.contains(&format!("{}: cannot read:", missing.display())), "stderr: {stderr}");
}

#[test]
fn every_fixture_inspects() {
    let mut files = Vec::new();
    for dir in ["ipc-v1x", "nvr-v2", "extra"] {
        files.extend(std::fs::read_dir(fixture_path(dir)).expect("dir").flatten().map(|e| e.path()));
    }
    let (ok, lines, stderr) = inspect(&files);
    assert!(ok, "stderr: {stderr}");
    assert_eq!(lines.len(), files.len());
    for line in &lines {
        assert!(line["event"]["kind"]["kind"].is_string(), "{line}");
    }
}
