//! Ingest under bad clients and load: oversized bodies, stalls, disconnects,
//! idle floods, and the "nothing lost" count.

mod ingest_support;

use camrelay::ingest::{Dropped, Rejection, SUCCESS_XML};
use ingest_support::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn small_limit() -> camrelay::config::ServerConfig {
    let mut c = test_config();
    c.max_body = 64 * 1024;
    c
}

#[tokio::test]
async fn declared_100_mb_body_is_refused_from_the_header_alone() {
    let server = Server::start(small_limit(), fixture_decoder()).await;
    let mut c = server.connect().await;
    c.send(b"POST /API HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n").await;
    let r = c.reply().await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(
        r.text().contains("<reason>body of 104857600 bytes is over the 65536-byte limit</reason>"),
        "{}",
        r.text()
    );
    assert!(c.closed_by_server().await);
    let s = &server.shared.stats;
    assert_eq!(s.rejected_for(Rejection::TooLarge), 1);
    let mut m = String::new();
    s.render_prometheus(&mut m);
    assert!(m.contains("camrelay_received_bytes_total 0\n"), "nothing of the body was taken in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_100_mb_chunked_body_is_cut_off_at_the_limit() {
    let server = Server::start(small_limit(), fixture_decoder()).await;
    let c = server.connect().await;
    let (mut rd, mut wr) = c.stream.into_split();
    let writer = tokio::spawn(async move {
        let head = b"POST /API HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        wr.write_all(head).await?;
        let chunk = {
            let mut v = format!("{:x}\r\n", 64 * 1024).into_bytes();
            v.extend(std::iter::repeat_n(b'A', 64 * 1024));
            v.extend_from_slice(b"\r\n");
            v
        };
        let mut sent = 0usize;
        while sent < 100 << 20 {
            wr.write_all(&chunk).await?;
            sent += 64 * 1024;
        }
        Ok::<usize, std::io::Error>(sent)
    });
    // Read the reply while the writer is still pushing.
    let mut buf = Vec::new();
    let head = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 4096];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut rd, &mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
    .await
    .expect("no 413 in time");
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
    drop(rd);
    let sent = tokio::time::timeout(PATIENCE, writer).await.expect("writer not cut off").unwrap();
    assert!(sent.is_err(), "the server read all 100 MB instead of stopping at the limit");
    assert_eq!(server.shared.stats.rejected_for(Rejection::TooLarge), 1);
    // The server is fine afterwards.
    assert_eq!(server.connect().await.post("/API", b"").await.text(), SUCCESS_XML);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_stalled_mid_headers_is_cut_off_and_others_are_served() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let mut stalled = server.connect().await;
    stalled.send(b"POST /API HTTP/1.1\r\nHost: x\r\nContent-Le").await;
    let mut silent = server.connect().await; // connects and never sends a byte
                                             // Meanwhile others post normally.
    let body = fixture("ipc-v1x/traject.xml");
    for _ in 0..3 {
        assert_eq!(server.connect().await.post("/API", &body).await.text(), SUCCESS_XML);
    }
    assert!(stalled.closed_by_server().await, "stalled client never cut off");
    assert!(silent.closed_by_server().await, "silent client never cut off");
    assert_eq!(server.shared.stats.dropped_for(Dropped::HeaderTimeout), 2);
    assert_eq!(server.shared.stats.totals().requests(), 3, "a stalled head is not a request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_stalled_mid_body_gets_408_and_others_are_served() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let mut stalled = server.connect().await;
    stalled.send(b"POST /API HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<config ").await;
    let body = fixture("nvr-v2/keepalive.xml");
    assert_eq!(server.connect().await.post("/API", &body).await.text(), SUCCESS_XML);
    let r = stalled.reply().await;
    assert_eq!(r.status, 408);
    assert!(r.text().contains("<reason>body not complete within 1000 ms</reason>"), "{}", r.text());
    assert!(stalled.closed_by_server().await);
    assert_eq!(server.shared.stats.rejected_for(Rejection::BodyTimeout), 1);
}

#[tokio::test]
async fn idle_keepalive_connection_outlives_the_header_timeout_then_is_closed() {
    let config = test_config();
    assert!(config.idle_timeout >= config.header_timeout * 4);
    let server = Server::start(config, fixture_decoder()).await;
    let mut c = server.connect().await;
    assert_eq!(c.post("/API", b"").await.text(), SUCCESS_XML);
    // Longer than header_timeout (1 s), well under idle_timeout (5 s).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(c.post("/API", b"").await.text(), SUCCESS_XML, "idle connection cut at the header timeout");
    assert!(c.closed_by_server().await, "idle connection never closed");
    assert_eq!(server.shared.stats.dropped_for(Dropped::Idle), 1);
}

/// The watchdog is not woken per request: it must still see a keep-alive
/// connection go from idle (long timeout) to a stalled head (short timeout).
#[tokio::test]
async fn keepalive_connection_stalling_mid_headers_later_is_cut_at_the_header_timeout() {
    let mut config = test_config();
    config.idle_timeout = Duration::from_secs(30);
    let server = Server::start(config, fixture_decoder()).await;
    let mut c = server.connect().await;
    assert_eq!(c.post("/API", b"").await.text(), SUCCESS_XML);
    // Past one header timeout of idleness, so the watchdog has looked once and gone back to sleep.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.send(b"POST /API HTTP/1.1\r\nHost: x\r\nContent-Le").await;
    let stalled_at = std::time::Instant::now();
    assert!(c.closed_by_server().await, "stalled head on a kept-alive connection never cut off");
    let waited = stalled_at.elapsed();
    assert!(
        waited < Duration::from_secs(10),
        "cut after {waited:?}: the 30 s idle timeout, not the 1 s header timeout"
    );
    assert_eq!(server.shared.stats.dropped_for(Dropped::HeaderTimeout), 1);
    assert_eq!(server.shared.stats.dropped_for(Dropped::Idle), 0);
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnecting_mid_body_is_counted_and_the_server_carries_on() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let mut c = server.connect().await;
    c.send(b"POST /API HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n<config version=\"1.0\">").await;
    // Let the server get into the body before hanging up.
    eventually("connection accepted", || server.shared.stats.connections_open() == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(c);
    eventually("disconnect counted", || server.shared.stats.rejected_for(Rejection::Disconnected) == 1).await;
    assert_eq!(
        server.connect().await.post("/API", &fixture("ipc-v1x/traject.xml")).await.text(),
        SUCCESS_XML
    );
    assert_eq!(events_eventually(&server, 1).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_http_closes_that_connection_only() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let mut c = server.connect().await;
    c.send(b"\x16\x03\x01 this is not http\r\n\r\n").await;
    let r = c.try_reply().await;
    assert!(r.is_err() || r.as_ref().is_ok_and(|r| r.status == 400), "{r:?}");
    assert!(c.closed_by_server().await);
    assert_eq!(server.connect().await.post("/API", b"").await.text(), SUCCESS_XML);
    assert_eq!(server.shared.stats.dropped_for(Dropped::BadRequest), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_idle_connections_do_not_block_a_camera_and_are_reaped() {
    let mut config = test_config();
    // Long enough that the 500 are all open while the camera posts.
    config.header_timeout = Duration::from_secs(5);
    // One source here; the per-source limit has tests of its own.
    config.max_connections_per_source = 4096;
    let server = Server::start(config, fixture_decoder()).await;
    let mut idle = Vec::new();
    for i in 0..500 {
        let mut c = server.connect().await;
        if i % 2 == 0 {
            // Half send a partial head (slow-loris), half nothing at all.
            c.send(b"POST /API HTTP/1.1\r\nX-Slow: ").await;
        }
        idle.push(c);
    }
    eventually("500 connections open", || server.shared.stats.connections_open() >= 500).await;
    let body = fixture("ipc-v1x/traject.xml");
    let mut camera = server.connect().await;
    for _ in 0..5 {
        assert_eq!(camera.post("/API", &body).await.text(), SUCCESS_XML);
    }
    drop(camera);
    eventually("idle connections reaped", || server.shared.stats.connections_open() == 0).await;
    assert_eq!(server.shared.stats.dropped_for(Dropped::HeaderTimeout), 500);
    for c in &mut idle[..10] {
        assert!(c.closed_by_server().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_flood_is_answered_and_counted() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut c = server.connect().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..500 {
                c.send(b"POST /API HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").await;
                assert_eq!(c.reply().await.status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(server.shared.stats.totals().decoded, 2000);
    assert_eq!(events_eventually(&server, 2000).await, 2000);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Sent {
    Good(usize),
    Keepalive,
    Malformed,
    WrongPath,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_lost_under_concurrent_mixed_posts() {
    let mut config = test_config();
    config.paths = vec!["/API".into()];
    let server = Server::start_with(config, fixture_decoder(), 8, true).await;
    let goods: Arc<Vec<Vec<u8>>> = Arc::new(fixtures().into_iter().map(|(_, b)| b).collect());
    const CONNS: usize = 24;
    const PER_CONN: usize = 40;
    let mut tasks = Vec::new();
    for conn in 0..CONNS {
        let goods = goods.clone();
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut c = Client::connect(addr).await;
            // Every third connection behaves like an NVR: one post per connection.
            let close_each = conn % 3 == 0;
            for i in 0..PER_CONN {
                let pick = (conn * 7 + i * 13) % 10;
                let (what, target, body): (Sent, &str, Vec<u8>) = match pick {
                    0..=5 => {
                        let g = (conn + i) % goods.len();
                        (Sent::Good(g), "/API", goods[g].clone())
                    }
                    6 | 7 => (Sent::Keepalive, "/API", Vec::new()),
                    8 => (Sent::Malformed, "/API", MALFORMED.to_vec()),
                    _ => (Sent::WrongPath, "/other", goods[0].clone()),
                };
                let extra = if close_each { "Connection: close\r\n" } else { "" };
                c.send(&request(target, &body, extra)).await;
                let r = c.reply().await;
                let expected = match what {
                    Sent::Good(_) | Sent::Keepalive => 200,
                    Sent::Malformed => 400,
                    Sent::WrongPath => 404,
                };
                assert_eq!(r.status, expected, "{what:?}");
                sent.push(what);
                if close_each {
                    c = Client::connect(addr).await;
                }
            }
            sent
        }));
    }
    let mut sent: HashMap<Sent, u64> = HashMap::new();
    for t in tasks {
        for s in t.await.unwrap() {
            *sent.entry(s).or_insert(0) += 1;
        }
    }
    let n = (CONNS * PER_CONN) as u64;
    let count = |f: &dyn Fn(&Sent) -> bool| sent.iter().filter(|(k, _)| f(k)).map(|(_, v)| v).sum::<u64>();
    let good = count(&|s| matches!(s, Sent::Good(_) | Sent::Keepalive));
    let malformed = count(&|s| *s == Sent::Malformed);
    let wrong = count(&|s| *s == Sent::WrongPath);
    assert!(good > 0 && malformed > 0 && wrong > 0, "{sent:?}");

    let t = server.shared.stats.totals();
    assert_eq!(t.requests(), n, "{t:?}");
    assert_eq!((t.decoded, t.decode_errors, t.rejected), (good, malformed, wrong));
    assert_eq!(server.shared.stats.rejected_for(Rejection::WrongPath), wrong);
    // The engine side saw exactly the decoded posts, each one intact.
    assert_eq!(events_eventually(&server, good as usize).await, good as usize);
    let events = server.events.lock().unwrap();
    let decoder = fixture_decoder();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for r in events.iter() {
        *seen.entry(format!("{:?}", r.event)).or_insert(0) += 1;
        if !r.event.images.is_empty() {
            assert_eq!(decoder(&r.body).as_ref(), Ok(&r.event), "an image post's body arrives intact");
        }
    }
    let mut expected: HashMap<String, u64> = HashMap::new();
    for (what, k) in &sent {
        let body = match what {
            Sent::Good(g) => &goods[*g][..],
            Sent::Keepalive => &b""[..],
            _ => continue,
        };
        *expected.entry(format!("{:?}", decoder(body).unwrap())).or_insert(0) += k;
    }
    assert_eq!(seen, expected);
}

/// At the cap a new connection is still served: the longest-idle one
/// (here: the oldest that never sent a byte) is closed to make room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_longest_idle_connection_makes_room_for_a_new_one() {
    // The same cap the server derives (this raises the test process's soft limit too).
    let (cap, _) = camrelay::ingest::conns::cap_from_file_limit();
    let mut config = test_config();
    config.header_timeout = Duration::from_secs(10);
    config.max_connections_per_source = 4096;
    let server = Server::start(config, fixture_decoder()).await;
    let mut held = Vec::new();
    for _ in 0..cap {
        held.push(server.connect().await);
        // Distinct start times: which one is the longest idle is then certain.
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    eventually("cap reached", || server.shared.stats.connections_open() == cap as u64).await;
    let mut extra = server.connect().await;
    assert_eq!(extra.post("/API", b"").await.text(), SUCCESS_XML, "a new connection at the cap is served");
    assert!(held[0].closed_by_server().await, "the longest-idle connection made room");
    assert_eq!(server.shared.stats.dropped_for(Dropped::Evicted), 1);
    assert_eq!(server.shared.stats.dropped_for(Dropped::TooManyConnections), 0);
    assert_eq!(server.shared.stats.connections_open(), cap as u64);
}
