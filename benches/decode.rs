//! `cargo bench --bench decode`: decode time next to the floor (a bare quick-xml
//! pass that only tokenizes the same bytes), for a 1.7 KB traject post and
//! ~530 KB posts with real base64 images (CDATA and plain text), then a summary
//! with the medians, the decode/floor ratio (target ≤ 1.5) and, when
//! `scripts/setup-sdk-venv.sh` has been run, the vendor SDK's posts/s on the
//! same bytes (target: camrelay ≥ 100×).

use base64::Engine as _;
use camrelay::decode::decode;
use criterion::{black_box, Criterion};
use quick_xml::events::Event as XmlEvent;
use quick_xml::Reader;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The floor: what tokenizing alone costs, with quick-xml's default settings.
fn tokenize_floor(body: &[u8]) -> usize {
    let mut reader = Reader::from_reader(body);
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(XmlEvent::Eof) | Err(_) => return events,
            Ok(_) => events += 1,
        }
    }
}

/// Deterministic random base64 of exactly `len` characters (real JPEG bytes
/// look random to the tokenizer; what matters is that no `<` or `]]>` appears).
fn random_base64(len: usize, seed: u64) -> String {
    let mut state = seed;
    let raw: Vec<u8> = (0..len * 3 / 4)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let mut text = base64::engine::general_purpose::STANDARD.encode(raw);
    text.truncate(len);
    text
}

fn image_post(fixture: &str, overview: usize, crop: usize) -> Vec<u8> {
    let text = std::fs::read_to_string(fixture).expect("fixture");
    text.replace("BASE64_JPEG_OVERVIEW_IMAGE", &random_base64(overview, 0x9e37_79b9_7f4a_7c15))
        .replace("BASE64_JPEG_TARGET_CROP", &random_base64(crop, 0xd1b5_4a32_d192_ed03))
        .into_bytes()
}

/// CPU time of this thread: stops while the thread is preempted, unlike wall time.
fn thread_cpu_ns() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

/// decode/floor measured in alternating batches of thread CPU time, so both see
/// the same machine (this one is shared by several jobs; criterion's two wall
/// clock medians are taken seconds apart under different load). Returns the
/// median per-pair ratio and the median per-call CPU times (decode, floor).
fn paired_ratio(body: &[u8], rounds: usize) -> (f64, f64, f64) {
    let batch = (2_000_000 / body.len().max(1)).clamp(20, 5_000);
    let time = |f: &dyn Fn()| {
        let start = thread_cpu_ns();
        for _ in 0..batch {
            f();
        }
        (thread_cpu_ns() - start) / batch as f64
    };
    let decode_once = || {
        black_box(decode(black_box(body)).ok());
    };
    let floor_once = || {
        black_box(tokenize_floor(black_box(body)));
    };
    let pairs: Vec<(f64, f64)> = (0..rounds)
        .map(|round| {
            // Alternate which goes first so neither always gets the warmer cache.
            if round % 2 == 0 {
                let d = time(&decode_once);
                (d, time(&floor_once))
            } else {
                let f = time(&floor_once);
                (time(&decode_once), f)
            }
        })
        .collect();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut ratios: Vec<f64> = pairs.iter().map(|(d, f)| d / f).collect();
    let mut decodes: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let mut floors: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    (median(&mut ratios), median(&mut decodes), median(&mut floors))
}

struct Post {
    name: &'static str,
    body: Vec<u8>,
}

fn posts() -> Vec<Post> {
    vec![
        Post {
            name: "traject",
            body: std::fs::read("tests/fixtures/ipc-v1x/traject.xml").expect("traject fixture"),
        },
        Post {
            name: "image_ipc_cdata",
            body: image_post("tests/fixtures/ipc-v1x/perimeter-intrusion.xml", 430_000, 100_000),
        },
        Post {
            name: "image_nvr_text",
            body: image_post("tests/fixtures/nvr-v2/region-intrusion.xml", 430_000, 100_000),
        },
    ]
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"))
}

fn median_ns(group: &str, function: &str) -> Option<f64> {
    let path = target_dir().join("criterion").join(group).join(function).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Runs tests/sdk/bench_sdk.py in .venv on the same bytes: `{name: posts_per_s}`.
fn sdk_posts_per_s(files: &[(String, PathBuf)]) -> Option<serde_json::Value> {
    let python = Path::new(".venv/bin/python");
    if !python.exists() {
        return None;
    }
    let mut cmd = std::process::Command::new(python);
    cmd.arg("tests/sdk/bench_sdk.py");
    for (name, path) in files {
        cmd.arg(format!("{name}={}", path.display()));
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!("bench_sdk.py failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn main() {
    let posts = posts();
    for post in &posts {
        // A bench of a decoder that fails would measure the error path.
        let event = decode(&post.body).expect("bench post decodes");
        assert!(post.name == "traject" || event.images.len() == 2, "{} images located", post.name);
    }
    let mut c = Criterion::default()
        .sample_size(60)
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for post in &posts {
        let mut group = c.benchmark_group(post.name);
        group.throughput(criterion::Throughput::Bytes(post.body.len() as u64));
        group.bench_function("decode", |b| b.iter(|| decode(black_box(&post.body))));
        group.bench_function("floor", |b| b.iter(|| tokenize_floor(black_box(&post.body))));
        group.finish();
    }
    c.final_summary();
    if std::env::args().any(|a| a == "--profile-time" || a == "--list" || a == "--test") {
        return; // profiling or listing: the summary would only add noise
    }

    let dir = target_dir().join("bench-posts");
    let _ = std::fs::create_dir_all(&dir);
    let mut files = Vec::new();
    for post in &posts {
        let path = dir.join(format!("{}.xml", post.name));
        if std::fs::write(&path, &post.body).is_ok() {
            files.push((post.name.to_string(), path));
        }
    }
    let sdk = sdk_posts_per_s(&files);
    println!("\nsummary (medians; bodies in {})", dir.display());
    println!("criterion: wall-clock medians; cpu: medians of alternating batches in thread CPU time");
    println!(
        "{:<16} {:>7} {:>11} {:>11} {:>6} {:>11} {:>11} {:>6} {:>9} {:>9} {:>7}",
        "post",
        "bytes",
        "decode",
        "floor",
        "ratio",
        "cpu decode",
        "cpu floor",
        "ratio",
        "posts/s",
        "sdk /s",
        "vs sdk"
    );
    for post in &posts {
        let (Some(d), Some(f)) = (median_ns(post.name, "decode"), median_ns(post.name, "floor")) else {
            println!("{:<16} (no criterion estimates: was the bench filtered?)", post.name);
            continue;
        };
        let (paired, cpu_d, cpu_f) = paired_ratio(&post.body, 201);
        // posts/s from CPU time: what one core sustains, independent of other jobs.
        let ours = 1e9 / cpu_d;
        let theirs = sdk.as_ref().and_then(|s| s[post.name].as_f64());
        println!(
            "{:<16} {:>7} {:>8.2} µs {:>8.2} µs {:>5.2}x {:>8.2} µs {:>8.2} µs {:>5.2}x {:>9.0} {:>9} {:>7}",
            post.name,
            post.body.len(),
            d / 1e3,
            f / 1e3,
            d / f,
            cpu_d / 1e3,
            cpu_f / 1e3,
            paired,
            ours,
            theirs.map_or("-".into(), |t| format!("{t:.0}")),
            theirs.map_or("-".into(), |t| format!("{:.0}x", ours / t)),
        );
    }
    if sdk.is_none() {
        println!("(SDK column empty: run scripts/setup-sdk-venv.sh to compare with the vendor SDK)");
    }
}
