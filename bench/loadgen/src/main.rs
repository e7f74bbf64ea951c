//! Keep-alive HTTP POST load generator for bench/run.sh.
//!
//! One body, N keep-alive connections, on one thread (the client should take
//! as little of a 2-core machine as possible away from the server):
//! - closed loop (default): each connection posts, reads the reply, posts
//!   again; latency is from the first byte written to the reply read whole;
//! - fixed rate (`--rate R`): posts are scheduled at R per second spread over
//!   the connections (wrk2-style) and latency counts from the scheduled time,
//!   so a server that falls behind is not hidden by the client waiting on it.
//!
//! With `--pid P` it also measures the server process over the measured
//! window: CPU (utime + stime from /proc/P/stat), RSS sampled every 50 ms from
//! /proc/P/status, and the peak RSS of the window (VmHWM, reset at the window
//! start through /proc/P/clear_refs when permitted).
//!
//! Prints one human line on stderr and appends one JSON object per run to `--json FILE`.
//!
//! Usage: loadgen --addr HOST:PORT --body FILE [--conns N] [--duration S]
//!        [--warmup S] [--rate R] [--pid P] [--server NAME] [--label NAME] [--json FILE] [--close 1]

use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

struct Opts {
    addr: SocketAddr,
    body: String,
    conns: usize,
    duration: f64,
    warmup: f64,
    rate: Option<f64>,
    pid: Option<u32>,
    server: String,
    label: String,
    json: Option<String>,
    /// Send `Connection: close`: one connection per post (connection churn).
    close: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    eprintln!("usage: loadgen --addr HOST:PORT --body FILE [--conns N] [--duration S] [--warmup S] [--rate R] [--pid P] [--server NAME] [--label NAME] [--json FILE] [--close 1]");
    std::process::exit(2)
}

fn arg<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value.parse().unwrap_or_else(|_| usage(&format!("bad value for {flag}: {value}")))
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        body: String::new(),
        conns: 1,
        duration: 5.0,
        warmup: 1.0,
        rate: None,
        pid: None,
        server: "server".into(),
        label: "run".into(),
        json: None,
        close: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--addr" => o.addr = value.parse().unwrap_or_else(|_| usage("bad --addr")),
            "--body" => o.body = value,
            "--conns" => o.conns = arg(&flag, &value),
            "--duration" => o.duration = arg(&flag, &value),
            "--warmup" => o.warmup = arg(&flag, &value),
            "--rate" => o.rate = Some(arg(&flag, &value)),
            "--pid" => o.pid = Some(arg(&flag, &value)),
            "--server" => o.server = value,
            "--label" => o.label = value,
            "--json" => o.json = Some(value),
            "--close" => o.close = arg::<u8>(&flag, &value) != 0,
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    if o.body.is_empty() || o.addr.port() == 0 || o.conns == 0 {
        usage("--addr and --body are required, --conns must be positive");
    }
    o
}

/// What one connection measured inside the window.
#[derive(Default)]
struct ConnStats {
    /// Latency of each post completed in the window (ns).
    latency: Vec<u64>,
    /// Fixed-rate mode: time from the actual write to the reply (ns).
    service: Vec<u64>,
    /// Fixed-rate mode: how late the client itself started the post (ns).
    lag: Vec<u64>,
    posts: u64,
    errors: u64,
    reconnects: u64,
}

struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
}

fn main() {
    let opts = parse_opts();
    let body =
        std::fs::read(&opts.body).unwrap_or_else(|e| usage(&format!("cannot read {}: {e}", opts.body)));
    let mut request = format!(
        "POST /API HTTP/1.1\r\nHost: {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n{}\r\n",
        opts.addr,
        body.len(),
        if opts.close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(run(opts, Rc::new(request), body.len()));
}

async fn run(opts: Opts, request: Rc<Vec<u8>>, body_len: usize) {
    let t0 = Instant::now();
    let window = Rc::new(Window {
        start: t0 + Duration::from_secs_f64(opts.warmup),
        end: t0 + Duration::from_secs_f64(opts.warmup + opts.duration),
    });
    let local = tokio::task::LocalSet::new();
    let result = local
        .run_until(async {
            let mut tasks = Vec::new();
            for k in 0..opts.conns {
                let (request, window) = (request.clone(), window.clone());
                let (addr, rate, conns) = (opts.addr, opts.rate, opts.conns);
                tasks.push(tokio::task::spawn_local(async move {
                    match rate {
                        None => closed_loop(addr, &request, &window).await,
                        Some(rate) => {
                            let interval = Duration::from_secs_f64(conns as f64 / rate);
                            let first = t0 + Duration::from_secs_f64(k as f64 / rate);
                            fixed_rate(addr, &request, &window, first, interval).await
                        }
                    }
                }));
            }
            let sampler = opts.pid.map(|pid| tokio::task::spawn_local(sample_process(pid, window.clone())));
            tokio::time::sleep_until(window.start).await;
            let self_start = self_cpu_seconds();
            let mut all = ConnStats::default();
            for t in tasks {
                if let Ok(s) = t.await {
                    all.latency.extend(s.latency);
                    all.service.extend(s.service);
                    all.lag.extend(s.lag);
                    all.posts += s.posts;
                    all.errors += s.errors;
                    all.reconnects += s.reconnects;
                }
            }
            let self_cpu = self_cpu_seconds() - self_start;
            let proc = match sampler {
                Some(s) => s.await.ok(),
                None => None,
            };
            (all, self_cpu, proc)
        })
        .await;
    let (mut all, self_cpu, proc) = result;
    report(&opts, body_len, &mut all, self_cpu, proc);
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// One request and its reply. Ok(close) when the server asked to close.
async fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> std::io::Result<bool> {
    stream.write_all(request).await?;
    buf.clear();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some((status, length, close, head_end)) = parse_head(buf) {
            while buf.len() < head_end + length {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            if status != 200 {
                return Err(std::io::Error::other(format!("status {status}")));
            }
            return Ok(close);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// (status, content length, connection close, end of head) once the head is complete.
fn parse_head(buf: &[u8]) -> Option<(u16, usize, bool, usize)> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let (mut length, mut close) = (0, head.starts_with("HTTP/1.0"));
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            } else if k.eq_ignore_ascii_case("connection") {
                close = v.trim().eq_ignore_ascii_case("close");
            }
        }
    }
    Some((status, length, close, head_end))
}

const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

async fn closed_loop(addr: SocketAddr, request: &[u8], window: &Window) -> ConnStats {
    let mut stats = ConnStats::default();
    let mut buf = Vec::with_capacity(4096);
    let mut conn: Option<TcpStream> = None;
    while Instant::now() < window.end {
        let stream = match conn.as_mut() {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => conn.insert(s),
                Err(_) => {
                    stats.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let sent = Instant::now();
        let r = tokio::time::timeout(EXCHANGE_TIMEOUT, exchange(stream, request, &mut buf)).await;
        let done = Instant::now();
        match r {
            Ok(Ok(close)) => {
                if window.contains(done) {
                    stats.posts += 1;
                    stats.latency.push((done - sent).as_nanos() as u64);
                }
                if close {
                    conn = None;
                    stats.reconnects += 1;
                }
            }
            _ => {
                if window.contains(done) {
                    stats.errors += 1;
                }
                conn = None;
            }
        }
    }
    stats
}

async fn fixed_rate(
    addr: SocketAddr,
    request: &[u8],
    window: &Window,
    first: Instant,
    interval: Duration,
) -> ConnStats {
    let mut stats = ConnStats::default();
    let mut buf = Vec::with_capacity(4096);
    let mut conn: Option<TcpStream> = None;
    let mut scheduled = first;
    while scheduled < window.end {
        tokio::time::sleep_until(scheduled).await;
        let stream = match conn.as_mut() {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => conn.insert(s),
                Err(_) => {
                    stats.errors += 1;
                    scheduled += interval;
                    continue;
                }
            },
        };
        let sent = Instant::now();
        let r = tokio::time::timeout(EXCHANGE_TIMEOUT, exchange(stream, request, &mut buf)).await;
        let done = Instant::now();
        let in_window = window.contains(scheduled);
        match r {
            Ok(Ok(close)) => {
                if in_window {
                    stats.posts += 1;
                    stats.latency.push((done - scheduled).as_nanos() as u64);
                    stats.service.push((done - sent).as_nanos() as u64);
                    stats.lag.push((sent - scheduled).as_nanos() as u64);
                }
                if close {
                    conn = None;
                    stats.reconnects += 1;
                }
            }
            _ => {
                if in_window {
                    stats.errors += 1;
                }
                conn = None;
            }
        }
        scheduled += interval;
    }
    stats
}

// ---- the server process -------------------------------------------------------

struct ProcStats {
    cpu_seconds: f64,
    wall_seconds: f64,
    rss_start_kb: u64,
    rss_max_kb: u64,
    rss_end_kb: u64,
    /// VmHWM at the window's end; the window's own peak when the reset worked.
    hwm_kb: u64,
    hwm_reset: bool,
    threads: u64,
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// (utime + stime in seconds, threads) of `pid`.
fn proc_cpu(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((ticks as f64 / clk_tck(), f.get(17)?.parse().ok()?))
}

fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(key)?.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn sample_process(pid: u32, window: Rc<Window>) -> ProcStats {
    tokio::time::sleep_until(window.start).await;
    let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let (cpu_start, _) = proc_cpu(pid).unwrap_or((0.0, 0));
    let wall_start = Instant::now();
    let rss_start_kb = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    let mut rss_max_kb = rss_start_kb;
    while Instant::now() < window.end {
        tokio::time::sleep(Duration::from_millis(50)).await;
        rss_max_kb = rss_max_kb.max(proc_status_kb(pid, "VmRSS:").unwrap_or(0));
    }
    let (cpu_end, threads) = proc_cpu(pid).unwrap_or((0.0, 0));
    ProcStats {
        cpu_seconds: cpu_end - cpu_start,
        wall_seconds: wall_start.elapsed().as_secs_f64(),
        rss_start_kb,
        rss_max_kb,
        rss_end_kb: proc_status_kb(pid, "VmRSS:").unwrap_or(0),
        hwm_kb: proc_status_kb(pid, "VmHWM:").unwrap_or(0),
        hwm_reset,
        threads,
    }
}

fn self_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

// ---- report ----------------------------------------------------------------------

fn percentile_us(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "null".into()
    }
}

fn report(opts: &Opts, body_len: usize, all: &mut ConnStats, self_cpu: f64, proc: Option<ProcStats>) {
    all.latency.sort_unstable();
    all.service.sort_unstable();
    all.lag.sort_unstable();
    let posts_per_s = all.posts as f64 / opts.duration;
    let mb_per_s = posts_per_s * body_len as f64 / 1e6;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let mut j = format!(
        "{{\"server\":\"{}\",\"label\":\"{}\",\"conns\":{},\"rate\":{},\"duration_s\":{},\"body_bytes\":{body_len},\"posts\":{},\"errors\":{},\"reconnects\":{},\"posts_per_s\":{},\"mb_per_s\":{},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"client_cpu_pct\":{},\"load\":\"{}\"",
        opts.server,
        opts.label,
        opts.conns,
        opts.rate.map(num).unwrap_or_else(|| "null".into()),
        opts.duration,
        all.posts,
        all.errors,
        all.reconnects,
        num(posts_per_s),
        num(mb_per_s),
        num(percentile_us(&all.latency, 50.0)),
        num(percentile_us(&all.latency, 90.0)),
        num(percentile_us(&all.latency, 99.0)),
        num(percentile_us(&all.latency, 99.9)),
        num(all.latency.last().map(|&n| n as f64 / 1000.0).unwrap_or(f64::NAN)),
        num(100.0 * self_cpu / opts.duration),
        load.join(" "),
    );
    if opts.rate.is_some() {
        j += &format!(
            ",\"service_p50_us\":{},\"service_p99_us\":{},\"client_lag_p50_us\":{},\"client_lag_p99_us\":{}",
            num(percentile_us(&all.service, 50.0)),
            num(percentile_us(&all.service, 99.0)),
            num(percentile_us(&all.lag, 50.0)),
            num(percentile_us(&all.lag, 99.0))
        );
    }
    let mut human = format!(
        "{:<14} {:<16} {:>9.0} posts/s {:>8.1} MB/s  p50 {:>9.0} µs  p99 {:>9.0} µs  errors {}",
        opts.server,
        opts.label,
        posts_per_s,
        mb_per_s,
        percentile_us(&all.latency, 50.0),
        percentile_us(&all.latency, 99.0),
        all.errors
    );
    if let Some(p) = proc {
        let cpu_pct = 100.0 * p.cpu_seconds / p.wall_seconds.max(1e-9);
        let cpu_us_per_post = if all.posts > 0 { 1e6 * p.cpu_seconds / all.posts as f64 } else { f64::NAN };
        j += &format!(
            ",\"server_cpu_pct\":{},\"server_cpu_us_per_post\":{},\"rss_start_kb\":{},\"rss_max_kb\":{},\"rss_end_kb\":{},\"hwm_kb\":{},\"hwm_reset\":{},\"threads\":{}",
            num(cpu_pct),
            num(cpu_us_per_post),
            p.rss_start_kb,
            p.rss_max_kb,
            p.rss_end_kb,
            p.hwm_kb,
            p.hwm_reset,
            p.threads
        );
        human += &format!(
            "  server CPU {cpu_pct:.1}% ({cpu_us_per_post:.0} µs/post)  RSS {:.1}→{:.1} MB (peak {:.1})",
            p.rss_start_kb as f64 / 1024.0,
            p.rss_end_kb as f64 / 1024.0,
            p.hwm_kb.max(p.rss_max_kb) as f64 / 1024.0
        );
    }
    j.push('}');
    eprintln!("{human}");
    match &opts.json {
        Some(path) => {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap_or_else(|e| usage(&format!("cannot open {path}: {e}")));
            let _ = writeln!(f, "{j}");
        }
        None => println!("{j}"),
    }
}
