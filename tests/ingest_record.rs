//! `record_dir`: every post on disk with its receive time and source, the
//! undecodable ones always kept, and a broken disk never stopping ingest.

mod ingest_support;

use camrelay::ingest::record::RecordName;
use camrelay::ingest::SUCCESS_XML;
use ingest_support::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Everything logged at warn and above by this test binary.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

fn log_lines_with(needle: &str) -> Vec<String> {
    let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
    log.lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
}

fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "xml")).collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|p| RecordName::parse(&p.file_name().unwrap().to_string_lossy()).map(|n| n.order()));
    v
}

#[tokio::test]
async fn record_dir_keeps_every_post_exactly_and_the_rejected_ones_apart() {
    capture_logs();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("captures");
    let mut config = test_config();
    config.record_dir = Some(dir.clone());
    let server = Server::start(config, fixture_decoder()).await;
    let before = chrono::Utc::now().timestamp_millis();
    let posts = [fixture("ipc-v1x/traject.xml"), Vec::new(), fixture("nvr-v2/region-intrusion.xml")];
    let mut c = server.connect().await;
    assert_eq!(c.post("/API", &posts[0]).await.text(), SUCCESS_XML);
    assert_eq!(c.post("/API", MALFORMED).await.status, 400);
    assert_eq!(c.post("/API", &posts[1]).await.text(), SUCCESS_XML);
    assert_eq!(c.post("http://10.1.1.1:5002/API", &posts[2]).await.text(), SUCCESS_XML);
    let after = chrono::Utc::now().timestamp_millis();

    eventually("3 recorded posts", || xml_files(&dir).len() == 3).await;
    eventually("1 rejected post", || xml_files(&dir.join("rejected")).len() == 1).await;
    let good = xml_files(&dir);
    let mut seqs = Vec::new();
    for (path, body) in good.iter().zip(&posts) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let r = RecordName::parse(&name).unwrap_or_else(|| panic!("bad name {name}"));
        let (millis, seq, ip) = (r.wall_ms, r.seq, r.source.expect("source"));
        assert!(
            (before..=after).contains(&millis),
            "{name}: receive time {millis} not in {before}..={after}"
        );
        assert_eq!(ip.to_string(), "127.0.0.1");
        assert!(name.contains(&format!("-{seq:09}-")) && name.ends_with("-127.0.0.1.xml"), "{name}");
        assert_eq!(&std::fs::read(path).unwrap(), body, "{name}: contents exact");
        seqs.push(seq);
    }
    let rejected = &xml_files(&dir.join("rejected"))[0];
    let rname = rejected.file_name().unwrap().to_string_lossy().into_owned();
    let rseq = RecordName::parse(&rname).unwrap().seq;
    // Sequence numbers keep the arrival order across both folders.
    assert!(seqs[0] < rseq && rseq < seqs[1] && seqs[1] < seqs[2], "{seqs:?} {rseq}");
    assert_eq!(std::fs::read(rejected).unwrap(), MALFORMED);
    let err = camrelay::decode::decode(MALFORMED).unwrap_err();
    let reason_file = rejected.with_extension("reason");
    eventually("reason file", || reason_file.exists()).await;
    assert_eq!(std::fs::read_to_string(&reason_file).unwrap(), format!("{}: {err}\n", err.reason()));
    assert_eq!(server.shared.stats.record_errors(), 0);
}

#[tokio::test]
async fn unwritable_record_dir_keeps_ingest_answering_and_logs_once() {
    capture_logs();
    let tmp = tempfile::tempdir().unwrap();
    // A folder under a regular file: refused with ENOTDIR even for root.
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let dir = file.join("captures");
    let mut config = test_config();
    config.record_dir = Some(dir.clone());
    let server = Server::start(config, fixture_decoder()).await;
    let mut c = server.connect().await;
    let body = fixture("ipc-v1x/traject.xml");
    for _ in 0..5 {
        assert_eq!(c.post("/API", &body).await.text(), SUCCESS_XML);
    }
    assert_eq!(c.post("/API", MALFORMED).await.status, 400);
    assert_eq!(c.post("/API", MALFORMED).await.status, 400);
    eventually("7 record errors", || server.shared.stats.record_errors() == 7).await;
    assert_eq!(server.shared.stats.totals().decoded, 5);
    assert_eq!(events_eventually(&server, 5).await, 5);
    let needle = file.display().to_string();
    let lines = log_lines_with(&needle);
    assert_eq!(lines.len(), 1, "logged once per interval, got {lines:#?}");
    assert!(lines[0].contains("record_dir: cannot write; ingest continues"), "{}", lines[0]);
    assert!(lines[0].contains("Not a directory"), "{}", lines[0]);
}
