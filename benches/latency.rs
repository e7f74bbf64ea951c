//! Post-to-relay latency (issue 4): the time from writing a traject post (one
//! write call; its last byte leaves in it) to the mock line change it causes, p50 and p99
//! over 10,000 posts on loopback. Target: p99 under 1 ms.
//!
//! The daemon runs in this process ([`camrelay::daemon::serve`], the same
//! 2-worker runtime as `camrelay run`) on a [`MockBackend`] whose record the
//! client thread polls, so the end of the interval is seen within a few hundred
//! nanoseconds of the controller writing the line, with no log file in between.
//!
//! One line change per post, deterministically: one target walks between two
//! zones that split the picture (left, right), `inertia = 1`, and two
//! `presence` rules toggle the same relay, one per zone. A `toggle` fires on
//! the rising edge of its rule for the target, so the post that puts the
//! target in the left zone fires the left rule (and clears the right rule's
//! edge), the next post fires the right rule, and so on: every post toggles
//! the relay once, through the full path (HTTP, decode, presence, zones,
//! rules, controller, backend), with one track and no timers involved.
//!
//! Run: `cargo bench --bench latency` (`LATENCY_POSTS=N` to change the count).

use camrelay::daemon::{self, Started};
use camrelay::relays::mock::{MockBackend, MockRecord};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const RULES: &str = r#"
[server]
listen = "127.0.0.1:0"

[api]
listen = "127.0.0.1:0"

[gpio]
backend = "mock"

[presence]
target_timeout = "2s"
inertia = 1

[[relay]]
name = "lamp"
line = 17
max_on = "1h"
# Every post toggles the lamp: the chatter protections a real lamp gets by
# default would hold most of these switches back, and this measures latency.
min_off = "0s"
switch_limit = "unlimited"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "left"
camera = "driveway"
polygon = [[0, 0], [4999, 0], [4999, 10000], [0, 10000]]

[[zone]]
name = "right"
camera = "driveway"
polygon = [[5001, 0], [10000, 0], [10000, 10000], [5001, 10000]]

[[rule]]
name = "toggle on entering left"
when = { event = "presence", zone = "left" }
then = { relay = "lamp", action = "toggle" }

[[rule]]
name = "toggle on entering right"
when = { event = "presence", zone = "right" }
then = { relay = "lamp", action = "toggle" }
"#;

const WARMUP: usize = 500;
/// A post whose change has not shown up after this long counts as a miss.
const MISS_AFTER: Duration = Duration::from_secs(2);

fn main() {
    let posts: usize = std::env::var("LATENCY_POSTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    // LATENCY_HISTORY=1: the same with [history] on (every post's toggle is
    // a rule firing and a switch to remember), in a temporary folder.
    let history = std::env::var("LATENCY_HISTORY").is_ok_and(|v| v == "1").then(tempfile_dir);
    let rules = match &history {
        Some(dir) => format!("{RULES}\n[history]\ndir = \"{}\"\n", dir.display()),
        None => RULES.to_string(),
    };
    let config = camrelay::config::parse(&rules, std::path::Path::new("latency-bench.toml"))
        .unwrap_or_else(|e| panic!("bench rules: {e}"));
    let backend = MockBackend::new(&config.relays, None).expect("mock backend");
    let record = backend.record();

    let (started_tx, started_rx) = std::sync::mpsc::channel::<Started>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // `camrelay run` uses 2 workers; LATENCY_WORKERS changes it to see what the tail owes to it.
    let workers: usize = std::env::var("LATENCY_WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let daemon = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(daemon::serve(
            PathBuf::from("latency-bench.toml"),
            config,
            Box::new(backend),
            async {
                let _ = stop_rx.await;
            },
            move |s| {
                let _ = started_tx.send(s);
            },
        ))
    });
    let started = started_rx.recv_timeout(Duration::from_secs(30)).expect("daemon did not start");

    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ipc-v1x/traject.xml"))
            .expect("traject fixture");
    // The fixture's box (x 6534..7585) is in the right zone; its mirror is in the left one.
    let right = request(started.posts, template.as_bytes());
    let left = request(
        started.posts,
        template
            .replace("<x1 type=\"uint32\">6534</x1>", "<x1 type=\"uint32\">1534</x1>")
            .replace("<x2 type=\"uint32\">7585</x2>", "<x2 type=\"uint32\">2585</x2>")
            .as_bytes(),
    );
    assert_ne!(left, right, "the left-zone box must differ from the fixture's");

    let mut stream = TcpStream::connect(started.posts).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut reply = Reply::default();
    let mut line_us = Vec::with_capacity(posts);
    let mut reply_us = Vec::with_capacity(posts);
    let mut misses = 0usize;
    let mut waited_ns = 0u64;
    let mut run_wall = Duration::ZERO;
    for i in 0..WARMUP + posts {
        if i == WARMUP {
            waited_ns = runqueue_wait_ns();
            run_wall = Duration::from_nanos(0);
        }
        let post_started = Instant::now();
        let body = if i % 2 == 0 { &left } else { &right };
        let before = record.len();
        // Timed from just before the write: the post is one write of ~1.7 KB, and on
        // loopback the woken daemon may preempt this thread before the write returns,
        // so a clock read after it would hide the daemon's work.
        let sent = Instant::now();
        stream.write_all(body).expect("write post");
        let changed = wait_change(&record, before, sent);
        let replied = reply.read(&mut stream);
        if i < WARMUP {
            continue;
        }
        run_wall += post_started.elapsed();
        match changed {
            Some(at) => line_us.push(at.duration_since(sent).as_secs_f64() * 1e6),
            None => misses += 1,
        }
        reply_us.push(replied.duration_since(sent).as_secs_f64() * 1e6);
    }
    let waited = Duration::from_nanos(runqueue_wait_ns().saturating_sub(waited_ns));
    let changes = record.changes_since(0);
    let toggles = changes.iter().filter(|c| c.reason != "startup").count();

    let _ = stop_tx.send(());
    let _ = daemon.join();

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    if let Some(dir) = &history {
        let _ = std::fs::remove_dir_all(dir);
    }
    println!(
        "post → mock line change, {posts} traject posts on loopback, one connection, keep-alive, history {}",
        if history.is_some() { "on" } else { "off" }
    );
    println!("  (after {WARMUP} warm-up posts; load average {load}; {} CPUs)", cpus());
    print_stats("line change", &mut line_us);
    print_stats("reply read ", &mut reply_us);
    println!(
        "  line changes: {toggles} for {} posts, misses (no change within {MISS_AFTER:?}): {misses}",
        WARMUP + posts
    );
    let slow = line_us.iter().filter(|&&us| us > 1000.0).count();
    println!(
        "  posts over 1 ms: {slow}; the daemon's threads waited {:.0} ms runnable but without a CPU during {:.0} ms of posting",
        waited.as_secs_f64() * 1e3,
        run_wall.as_secs_f64() * 1e3
    );
    let p99 = percentile(&line_us, 99.0);
    println!("  target p99 < 1000 µs: {}", if p99 < 1000.0 && misses == 0 { "met" } else { "MISSED" });
    // Machine-readable line for bench/run.sh.
    println!(
        "LATENCY_JSON {{\"posts\":{posts},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1},\"misses\":{misses},\"over_1ms\":{slow},\"runqueue_wait_ms\":{:.1},\"posting_ms\":{:.1},\"load\":\"{load}\",\"history\":{}}}",
        percentile(&line_us, 50.0),
        percentile(&line_us, 90.0),
        p99,
        percentile(&line_us, 99.9),
        line_us.last().copied().unwrap_or(f64::NAN),
        waited.as_secs_f64() * 1e3,
        run_wall.as_secs_f64() * 1e3,
        history.is_some()
    );
}

/// A fresh folder under the system's temporary directory.
fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("camrelay-latency-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("history folder");
    dir
}

/// Time the daemon's threads (every thread but the calling client thread)
/// spent runnable but waiting for a CPU (schedstat's second field): on a
/// shared machine, the tail's main cause.
fn runqueue_wait_ns() -> u64 {
    let me =
        std::fs::read_link("/proc/thread-self").ok().and_then(|p| p.file_name().map(|n| n.to_os_string()));
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .flatten()
        .filter(|t| Some(t.file_name()) != me)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// The full HTTP request for `body`, written with one `write_all`.
fn request(addr: SocketAddr, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /API HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Spin until the record grows past `before`; yield now and then so the
/// daemon's workers are not starved on a 2-core machine.
fn wait_change(record: &MockRecord, before: usize, sent: Instant) -> Option<Instant> {
    let mut spins = 0u32;
    loop {
        if record.len() > before {
            return Some(Instant::now());
        }
        spins = spins.wrapping_add(1);
        if spins % 64 == 0 {
            if sent.elapsed() > MISS_AFTER {
                return None;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Reads one HTTP response (Content-Length framed) off a keep-alive connection.
#[derive(Default)]
struct Reply {
    buf: Vec<u8>,
}

impl Reply {
    fn read(&mut self, stream: &mut TcpStream) -> Instant {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = self.complete() {
                let status = &self.buf[9..12];
                assert_eq!(status, b"200", "reply: {}", String::from_utf8_lossy(&self.buf));
                self.buf.drain(..end);
                return Instant::now();
            }
            let n = stream.read(&mut chunk).expect("read reply");
            assert!(n > 0, "daemon closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Length of the first complete response in the buffer, if there is one.
    fn complete(&self) -> Option<usize> {
        let head_end = self.buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = std::str::from_utf8(&self.buf[..head_end]).ok()?;
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        (self.buf.len() >= head_end + length).then_some(head_end + length)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_stats(what: &str, us: &mut [f64]) {
    us.sort_by(|a, b| a.total_cmp(b));
    let mean = us.iter().sum::<f64>() / us.len().max(1) as f64;
    println!(
        "  {what}: p50 {:.0} µs  p90 {:.0} µs  p99 {:.0} µs  p99.9 {:.0} µs  max {:.0} µs  mean {mean:.0} µs",
        percentile(us, 50.0),
        percentile(us, 90.0),
        percentile(us, 99.0),
        percentile(us, 99.9),
        us.last().copied().unwrap_or(f64::NAN)
    );
}

fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
