//! Ingest counters, rendered in the Prometheus text format.
//!
//! Every request whose head was parsed is counted exactly once: as a decoded
//! post (`camrelay_posts_total`), a decode failure (`camrelay_decode_errors_total`)
//! or a rejection with a reason (`camrelay_rejected_total`). That is what lets
//! a test (and an operator) check that nothing was lost: requests in ==
//! decoded + decode errors + rejected. Connection-level events that never
//! became a request (a client stalled mid-headers, the connection cap) are
//! counted in `camrelay_connections_dropped_total`, never in the request sum.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram.
pub const LATENCY_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Distinct `device`/`kind` label pairs kept; beyond this, posts count under
/// `device="other"` so a LAN client inventing identities cannot grow memory.
const MAX_SERIES: usize = 4096;

/// Why a request was refused before (or instead of) decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rejection {
    /// 413: declared or streamed body over `max_body`.
    TooLarge,
    /// 404: path not in `paths`.
    WrongPath,
    /// 403: source not in the allow list.
    NotAllowed,
    /// 405: not a POST.
    Method,
    /// 408: the body did not arrive within `body_timeout`.
    BodyTimeout,
    /// The client closed the connection before the body was complete.
    Disconnected,
    /// The body framing was broken (bad chunk syntax).
    BadBody,
    /// 503: the event channel is closed (daemon shutting down).
    ShuttingDown,
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::TooLarge => "too_large",
            Rejection::WrongPath => "wrong_path",
            Rejection::NotAllowed => "not_allowed",
            Rejection::Method => "method",
            Rejection::BodyTimeout => "body_timeout",
            Rejection::Disconnected => "disconnected",
            Rejection::BadBody => "bad_body",
            Rejection::ShuttingDown => "shutting_down",
        }
    }
}

/// Why a connection was closed without a request being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dropped {
    /// Headers not complete within `header_timeout` (slow-loris).
    HeaderTimeout,
    /// Keep-alive connection idle longer than `idle_timeout`.
    Idle,
    /// The connection cap was reached and every connection was mid-request:
    /// the new connection was closed at once.
    TooManyConnections,
    /// Closed, idle, to make room at the connection cap.
    Evicted,
    /// Closed, idle, to make room for a newer connection from the same
    /// source at `max_connections_per_source`.
    SourceLimit,
    /// hyper refused the request head (not HTTP, headers too large).
    BadRequest,
}

impl Dropped {
    pub fn reason(self) -> &'static str {
        match self {
            Dropped::HeaderTimeout => "header_timeout",
            Dropped::Idle => "idle",
            Dropped::TooManyConnections => "too_many_connections",
            Dropped::Evicted => "evicted",
            Dropped::SourceLimit => "source_limit",
            Dropped::BadRequest => "bad_request",
        }
    }
}

/// Totals used by tests and the status API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Posts decoded and handed to the engine (keepalives included).
    pub decoded: u64,
    /// Posts answered 400 because the decoder refused them.
    pub decode_errors: u64,
    /// Requests refused before decoding (413, 404, 403, 405, 408, disconnects).
    pub rejected: u64,
}

impl Totals {
    /// Every request whose head was parsed.
    pub fn requests(&self) -> u64 {
        self.decoded + self.decode_errors + self.rejected
    }
}

#[derive(Debug, Default)]
struct PostCounts {
    by_device: BTreeMap<String, BTreeMap<String, u64>>,
    /// Series in `by_device`, bounded by `MAX_SERIES`.
    series: usize,
}

impl PostCounts {
    fn bump(&mut self, device: &str, kind: &str) {
        if let Some(n) = self.by_device.get_mut(device).and_then(|kinds| kinds.get_mut(kind)) {
            *n += 1;
            return;
        }
        // A new series; past the cap, new devices share one.
        let device = if self.series < MAX_SERIES { device } else { "other" };
        let n = self.by_device.entry(device.to_string()).or_default().entry(kind.to_string()).or_insert(0);
        if *n == 0 {
            self.series += 1;
        }
        *n += 1;
    }

    fn get(&self, device: &str, kind: &str) -> u64 {
        self.by_device.get(device).and_then(|kinds| kinds.get(kind)).copied().unwrap_or(0)
    }
}

/// The ingest counters. Cheap to update from many connections at once.
#[derive(Debug)]
pub struct IngestStats {
    /// Device → kind → posts. Nested so that counting a post looks both up
    /// by reference, without building a key.
    posts: Mutex<PostCounts>,
    decode_errors: Mutex<BTreeMap<&'static str, u64>>,
    rejected: Mutex<BTreeMap<Rejection, u64>>,
    dropped: Mutex<BTreeMap<Dropped, u64>>,
    decoded_total: AtomicU64,
    decode_errors_total: AtomicU64,
    rejected_total: AtomicU64,
    bytes: AtomicU64,
    connections_total: AtomicU64,
    connections_open: AtomicU64,
    record_errors: AtomicU64,
    record_dropped: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Default for IngestStats {
    fn default() -> Self {
        IngestStats {
            posts: Mutex::default(),
            decode_errors: Mutex::default(),
            rejected: Mutex::default(),
            dropped: Mutex::default(),
            decoded_total: AtomicU64::new(0),
            decode_errors_total: AtomicU64::new(0),
            rejected_total: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            record_errors: AtomicU64::new(0),
            record_dropped: AtomicU64::new(0),
            latency_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_count: AtomicU64::new(0),
            latency_sum_micros: AtomicU64::new(0),
        }
    }
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    // A poisoned lock only means another thread panicked mid-increment; the
    // map itself is still a valid map of counters.
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    *m.entry(key).or_insert(0) += 1;
}

impl IngestStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// One decoded post from `device` (registry key) of `kind` (kind word).
    pub fn post(&self, device: &str, kind: &str) {
        self.decoded_total.fetch_add(1, Ordering::Relaxed);
        self.posts.lock().unwrap_or_else(|p| p.into_inner()).bump(device, kind);
    }

    /// One post the decoder refused, by `DecodeError::reason()`.
    pub fn decode_error(&self, reason: &'static str) {
        self.decode_errors_total.fetch_add(1, Ordering::Relaxed);
        bump(&self.decode_errors, reason);
    }

    pub fn rejected(&self, why: Rejection) {
        self.rejected_total.fetch_add(1, Ordering::Relaxed);
        bump(&self.rejected, why);
    }

    pub fn dropped(&self, why: Dropped) {
        bump(&self.dropped, why);
    }

    pub fn bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn record_error(&self) {
        self.record_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_dropped(&self) {
        self.record_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Time from request head parsed to response ready.
    pub fn latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&le| secs <= le) {
            self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(d.as_micros().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    pub fn totals(&self) -> Totals {
        Totals {
            decoded: self.decoded_total.load(Ordering::Relaxed),
            decode_errors: self.decode_errors_total.load(Ordering::Relaxed),
            rejected: self.rejected_total.load(Ordering::Relaxed),
        }
    }

    /// Decoded posts counted for one device and kind.
    pub fn posts_for(&self, device: &str, kind: &str) -> u64 {
        self.posts.lock().unwrap_or_else(|p| p.into_inner()).get(device, kind)
    }

    pub fn decode_errors_for(&self, reason: &str) -> u64 {
        let m = self.decode_errors.lock().unwrap_or_else(|p| p.into_inner());
        m.get(reason).copied().unwrap_or(0)
    }

    pub fn rejected_for(&self, why: Rejection) -> u64 {
        let m = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&why).copied().unwrap_or(0)
    }

    pub fn dropped_for(&self, why: Dropped) -> u64 {
        let m = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&why).copied().unwrap_or(0)
    }

    pub fn record_errors(&self) -> u64 {
        self.record_errors.load(Ordering::Relaxed)
    }

    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// Append every ingest metric in the Prometheus text exposition format.
    pub fn render_prometheus(&self, out: &mut String) {
        let _ = self.render(out);
    }

    fn render(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "# HELP camrelay_posts_total Posts decoded, by device and event kind.")?;
        writeln!(out, "# TYPE camrelay_posts_total counter")?;
        {
            let m = self.posts.lock().unwrap_or_else(|p| p.into_inner());
            for (device, kind, n) in
                m.by_device.iter().flat_map(|(d, kinds)| kinds.iter().map(move |(k, n)| (d, k, n)))
            {
                writeln!(
                    out,
                    "camrelay_posts_total{{device=\"{}\",kind=\"{}\"}} {n}",
                    escape_label(device),
                    escape_label(kind)
                )?;
            }
        }
        writeln!(out, "# HELP camrelay_decode_errors_total Posts answered 400, by reason.")?;
        writeln!(out, "# TYPE camrelay_decode_errors_total counter")?;
        {
            let m = self.decode_errors.lock().unwrap_or_else(|p| p.into_inner());
            for (reason, n) in m.iter() {
                writeln!(out, "camrelay_decode_errors_total{{reason=\"{}\"}} {n}", escape_label(reason))?;
            }
        }
        writeln!(out, "# HELP camrelay_rejected_total Requests refused before decoding, by reason.")?;
        writeln!(out, "# TYPE camrelay_rejected_total counter")?;
        {
            let m = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
            for (why, n) in m.iter() {
                writeln!(out, "camrelay_rejected_total{{reason=\"{}\"}} {n}", why.reason())?;
            }
        }
        writeln!(
            out,
            "# HELP camrelay_connections_dropped_total Connections closed with no request counted."
        )?;
        writeln!(out, "# TYPE camrelay_connections_dropped_total counter")?;
        {
            let m = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
            for (why, n) in m.iter() {
                writeln!(out, "camrelay_connections_dropped_total{{reason=\"{}\"}} {n}", why.reason())?;
            }
        }
        let simple: [(&str, &str, &str, &AtomicU64); 5] = [
            ("camrelay_received_bytes_total", "counter", "Body bytes received.", &self.bytes),
            ("camrelay_connections_total", "counter", "Connections accepted.", &self.connections_total),
            ("camrelay_connections_open", "gauge", "Connections open now.", &self.connections_open),
            (
                "camrelay_record_errors_total",
                "counter",
                "Posts record_dir failed to write.",
                &self.record_errors,
            ),
            (
                "camrelay_record_dropped_total",
                "counter",
                "Posts not recorded because the writer was behind.",
                &self.record_dropped,
            ),
        ];
        for (name, kind, help, v) in simple {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} {kind}")?;
            writeln!(out, "{name} {}", v.load(Ordering::Relaxed))?;
        }
        writeln!(out, "# HELP camrelay_request_seconds Time from request head to response.")?;
        writeln!(out, "# TYPE camrelay_request_seconds histogram")?;
        let mut cumulative = 0u64;
        for (le, n) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            cumulative += n.load(Ordering::Relaxed);
            writeln!(out, "camrelay_request_seconds_bucket{{le=\"{le}\"}} {cumulative}")?;
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        writeln!(out, "camrelay_request_seconds_bucket{{le=\"+Inf\"}} {count}")?;
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        writeln!(out, "camrelay_request_seconds_sum {sum}")?;
        writeln!(out, "camrelay_request_seconds_count {count}")?;
        Ok(())
    }
}

/// Escape a Prometheus label value: backslash, double quote and newline.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escaped_labels_and_cumulative_buckets() {
        let s = IngestStats::new();
        s.post("cam \"a\"\\b\nc", "traject");
        s.post("cam \"a\"\\b\nc", "traject");
        s.decode_error("not_xml");
        s.rejected(Rejection::TooLarge);
        s.latency(Duration::from_micros(50));
        s.latency(Duration::from_millis(3));
        let mut out = String::new();
        s.render_prometheus(&mut out);
        assert!(out.contains("camrelay_posts_total{device=\"cam \\\"a\\\"\\\\b\\nc\",kind=\"traject\"} 2\n"));
        assert!(out.contains("camrelay_decode_errors_total{reason=\"not_xml\"} 1\n"));
        assert!(out.contains("camrelay_rejected_total{reason=\"too_large\"} 1\n"));
        assert!(out.contains("camrelay_request_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(out.contains("camrelay_request_seconds_bucket{le=\"0.0025\"} 1\n"));
        assert!(out.contains("camrelay_request_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(out.contains("camrelay_request_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(out.contains("camrelay_request_seconds_count 2\n"));
        assert_eq!(s.totals(), Totals { decoded: 2, decode_errors: 1, rejected: 1 });
    }

    #[test]
    fn series_are_capped() {
        let s = IngestStats::new();
        for i in 0..MAX_SERIES + 10 {
            s.post(&format!("dev{i}"), "traject");
        }
        assert_eq!(s.posts_for("other", "traject"), 10);
        assert_eq!(s.totals().decoded, (MAX_SERIES + 10) as u64);
    }
}
