//! The ingest server end to end: what cameras and NVRs send, what they get back.

mod ingest_support;

use camrelay::decode::EventKind;
use camrelay::ingest::{self, Rejection, SUCCESS_XML};
use ingest_support::*;
use std::time::Duration;

fn assert_success(r: &Reply, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/xml"), "{what}");
    assert_eq!(r.text(), SUCCESS_XML, "{what}");
}

#[tokio::test]
async fn every_fixture_in_both_request_forms_gets_the_success_xml() {
    let decoder = fixture_decoder();
    let server = Server::start(test_config(), decoder.clone()).await;
    let fixtures = fixtures();

    // IPC style: origin form, many posts on one keep-alive connection.
    let mut ipc = server.connect().await;
    for (name, body) in &fixtures {
        ipc.send(&request("/API", body, "Connection: keep-alive\r\n")).await;
        assert_success(&ipc.reply().await, name);
    }
    // NVR style: absolute form, SOAP content type, one connection per post.
    for (name, body) in &fixtures {
        let mut nvr = server.connect().await;
        let mut req = format!(
            "POST http://192.168.0.56:5002/API HTTP/1.1\r\nHost: 192.168.0.56:5002\r\nContent-Type: application/soap+xml; charset=utf-8\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        nvr.send(&req).await;
        assert_success(&nvr.reply().await, name);
        assert!(nvr.closed_by_server().await, "{name}: Connection: close must be honoured");
    }

    let n = fixtures.len() * 2;
    eventually("all events on the channel", || server.event_count() == n).await;
    let events = server.events.lock().unwrap();
    for (i, (name, body)) in fixtures.iter().chain(fixtures.iter()).enumerate() {
        let got = &events[i];
        assert_eq!(got.event, decoder(body).unwrap(), "{name}");
        assert_body_handed_on(got, body, name);
        assert_eq!(got.source.ip().to_string(), "127.0.0.1");
    }
    let t = server.shared.stats.totals();
    assert_eq!((t.decoded, t.decode_errors, t.rejected), (n as u64, 0, 0));
}

/// A post with images arrives with its body (the images' ranges point into
/// it); one without arrives without, so its read buffer is reused at once.
fn assert_body_handed_on(got: &camrelay::ingest::Received, body: &[u8], what: &str) {
    if got.event.images.is_empty() {
        assert!(got.body.is_empty(), "{what}: a post without images keeps no body");
    } else {
        assert_eq!(&got.body[..], body, "{what}: body handed on as received");
        for image in &got.event.images {
            assert!(image.range.end <= got.body.len(), "{what}: image range inside the body");
        }
    }
}

#[tokio::test]
async fn chunked_bodies_are_reassembled_exactly() {
    let decoder = fixture_decoder();
    let server = Server::start(test_config(), decoder.clone()).await;
    let mut c = server.connect().await;
    let bodies = [fixture("ipc-v1x/traject.xml"), fixture("nvr-v2/vehicle-lpr.xml"), image_post(1 << 20)];
    for (i, body) in bodies.iter().enumerate() {
        // Odd chunk sizes so chunk and read boundaries never line up.
        c.send(&chunked_request("/API", body, 97 + i * 4000)).await;
        assert_success(&c.reply().await, &format!("chunked body {i}"));
    }
    eventually("3 events", || server.event_count() == 3).await;
    let events = server.events.lock().unwrap();
    for (i, (got, body)) in events.iter().zip(&bodies).enumerate() {
        assert_eq!(got.event, decoder(body).unwrap());
        assert_body_handed_on(got, body, &format!("chunked body {i}"));
    }
    assert!(events[2].body.len() > 1 << 20, "the image post's body is handed on whole");
}

#[tokio::test]
async fn empty_body_keepalive_gets_the_success_xml() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let mut c = server.connect().await;
    c.send(b"POST /API HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").await;
    assert_success(&c.reply().await, "Content-Length: 0");
    // No length header at all: an HTTP/1.1 request without a body.
    c.send(b"POST /API HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_success(&c.reply().await, "no length header");
    eventually("2 keepalives", || server.event_count() == 2).await;
    let events = server.events.lock().unwrap();
    assert!(events.iter().all(|r| r.event.kind == EventKind::Keepalive && r.body.is_empty()));
    let snap = server.shared.devices.snapshot();
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].key, "ip:127.0.0.1");
    assert_eq!(snap[0].posts, 2);
    assert!(snap[0].last_keepalive.is_some());
}

#[tokio::test]
async fn one_megabyte_image_post_is_accepted_whole() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let body = image_post(1 << 20);
    assert!(body.len() > 1 << 20);
    let mut c = server.connect().await;
    assert_success(&c.post("/API", &body).await, "1 MB post");
    eventually("1 event", || server.event_count() == 1).await;
    assert_eq!(server.events.lock().unwrap()[0].body.len(), body.len());
    let mut metrics = String::new();
    server.shared.stats.render_prometheus(&mut metrics);
    assert!(metrics.contains(&format!("camrelay_received_bytes_total {}\n", body.len())), "{metrics}");
}

#[tokio::test]
async fn malformed_post_gets_400_and_the_next_post_on_the_connection_works() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let mut c = server.connect().await;
    let bad = c.post("/API", MALFORMED).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("content-type"), Some("application/xml"));
    let expected = camrelay::decode::decode(MALFORMED).unwrap_err().to_string();
    assert_eq!(bad.text(), ingest::error_xml(&expected));
    assert!(bad.text().contains("<status>failed</status><reason>"));
    assert_ne!(bad.header("connection"), Some("close"));

    assert_success(&c.post("/API", &fixture("ipc-v1x/traject.xml")).await, "post after the malformed one");
    let t = server.shared.stats.totals();
    assert_eq!((t.decoded, t.decode_errors, t.rejected), (1, 1, 0));
    let reason_word = camrelay::decode::decode(MALFORMED).unwrap_err().reason();
    assert_eq!(server.shared.stats.decode_errors_for(reason_word), 1);
}

#[tokio::test]
async fn path_filter_and_method() {
    let mut config = test_config();
    config.paths = vec!["/API".into()];
    let server = Server::start(config, fixture_decoder()).await;
    let body = fixture("nvr-v2/keepalive.xml");
    let mut c = server.connect().await;
    assert_success(&c.post("/API", &body).await, "origin form");
    assert_success(&c.post("http://192.168.0.56:5002/API", &body).await, "absolute form");
    let r = c.post("/api/other", &body).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<reason>path /api/other not configured</reason>"), "{}", r.text());
    assert_eq!(c.post("http://192.168.0.56:5002/other", &body).await.status, 404);
    c.send(b"GET /API HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let r = c.reply().await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    // Still usable after the refusals.
    assert_success(&c.post("/API", &body).await, "after refusals");
    let s = &server.shared.stats;
    assert_eq!(s.rejected_for(Rejection::WrongPath), 2);
    assert_eq!(s.rejected_for(Rejection::Method), 1);
    assert_eq!(s.totals().decoded, 3);
}

#[tokio::test]
async fn allow_list_refuses_other_sources() {
    let mut config = test_config();
    config.allow = vec!["192.168.1.0/24".into(), "fd00::/8".into()];
    let server = Server::start(config, fixture_decoder()).await;
    let mut c = server.connect().await;
    let r = c.post("/API", &fixture("ipc-v1x/traject.xml")).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("<reason>source not allowed</reason>"));
    assert!(c.closed_by_server().await);
    assert_eq!(server.shared.stats.rejected_for(Rejection::NotAllowed), 1);
    assert_eq!(server.event_count(), 0);
    assert!(server.shared.devices.is_empty(), "a refused source is not a device");

    let mut config = test_config();
    config.allow = vec!["10.0.0.0/8".into(), "127.0.0.1".into()];
    let server = Server::start(config, fixture_decoder()).await;
    assert_success(&server.connect().await.post("/API", &fixture("ipc-v1x/traject.xml")).await, "allowed");
}

#[tokio::test]
async fn invalid_allow_entry_stops_the_server_with_a_clear_error() {
    let mut config = test_config();
    config.allow = vec!["192.168.1.1/24".into()];
    let mut server = Server::start(config, fixture_decoder()).await;
    let err = server.handle.take().unwrap().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "allow entry \"192.168.1.1/24\" has host bits set after /24; did you mean \"192.168.1.0/24\"?"
    );
}

#[tokio::test]
async fn device_registry_after_ipc_and_nvr_posts() {
    let decoder = fixture_decoder();
    let server = Server::start(test_config(), decoder.clone()).await;
    let mut ipc = server.connect().await;
    let traject = fixture("ipc-v1x/traject.xml");
    assert_success(&ipc.post("/API", &traject).await, "traject");
    assert_success(&ipc.post("/API", b"").await, "empty keepalive");
    let nvr_posts = [fixture("nvr-v2/keepalive.xml"), fixture("nvr-v2/face-detection.xml")];
    for body in &nvr_posts {
        assert_success(&server.connect().await.post("http://127.0.0.1:5002/API", body).await, "nvr");
    }
    let snap = server.shared.devices.snapshot();
    let keys: Vec<&str> = snap.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["58:5b:69:12:f0:79", "58:5b:69:5f:42:1b"]);

    let nvr = &snap[0];
    assert_eq!(nvr.name.as_deref(), Some("Office"));
    assert_eq!(nvr.ip.as_deref(), Some("192.168.0.50"));
    assert_eq!(nvr.posts, 2);
    assert_eq!(nvr.source.to_string(), "127.0.0.1");
    assert!(nvr.last_keepalive.is_some());
    let face = decoder(&nvr_posts[1]).unwrap();
    assert_eq!(nvr.last_event.as_ref().map(|e| e.kind.as_str()), Some(face.kind.word()));
    assert_eq!(nvr.channels, face.device.channel.into_iter().collect::<Vec<_>>());
    assert!(nvr.online);

    let cam = &snap[1];
    assert_eq!(cam.name.as_deref(), Some("FaceCam"));
    assert_eq!(cam.serial.as_deref(), Some("I421B0Z1173Q"));
    // Traject, then the anonymous keepalive from the same source.
    assert_eq!(cam.posts, 2);
    assert!(cam.last_keepalive.is_some());
    assert_eq!(cam.last_event.as_ref().map(|e| e.kind.as_str()), Some("traject"));
    assert_eq!(server.shared.stats.posts_for("58:5b:69:5f:42:1b", "traject"), 1);
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json[1]["mac"], "58:5b:69:5f:42:1b");
}

#[tokio::test]
async fn offline_check_reports_a_silent_device_once_and_it_comes_back() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let body = fixture("nvr-v2/keepalive.xml");
    assert_success(&server.connect().await.post("/API", &body).await, "keepalive");
    let after = Duration::from_millis(200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let gone = server.shared.devices.check_offline(server.clock.instant(), after);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].mac.as_deref(), Some("58:5b:69:12:f0:79"));
    assert!(server.shared.devices.check_offline(server.clock.instant(), after).is_empty(), "reported once");
    assert!(!server.shared.devices.snapshot()[0].online);

    assert_success(&server.connect().await.post("/API", &body).await, "back");
    assert!(server.shared.devices.snapshot()[0].online);
}

#[tokio::test]
async fn metrics_count_posts_by_device_and_kind() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let mut c = server.connect().await;
    let traject = fixture("ipc-v1x/traject.xml");
    for _ in 0..3 {
        assert_success(&c.post("/API", &traject).await, "traject");
    }
    assert_eq!(c.post("/API", MALFORMED).await.status, 400);
    let mut m = String::new();
    server.shared.stats.render_prometheus(&mut m);
    assert!(m.contains("camrelay_posts_total{device=\"58:5b:69:5f:42:1b\",kind=\"traject\"} 3\n"), "{m}");
    let reason = camrelay::decode::decode(MALFORMED).unwrap_err().reason();
    assert!(m.contains(&format!("camrelay_decode_errors_total{{reason=\"{reason}\"}} 1\n")), "{m}");
    assert!(m.contains("camrelay_request_seconds_count 4\n"), "{m}");
    assert!(m.contains("camrelay_request_seconds_bucket{le=\"+Inf\"} 4\n"), "{m}");
}

#[tokio::test]
async fn backpressure_holds_the_reply_until_the_engine_takes_the_event() {
    let mut server = Server::start_with(test_config(), fixture_decoder(), 1, false).await;
    let mut rx = server.rx.take().unwrap();
    let body = fixture("ipc-v1x/traject.xml");
    let mut c = server.connect().await;
    assert_success(&c.post("/API", &body).await, "first fits in the channel");
    c.send(&request("/API", &body, "")).await;
    // The channel is full: no reply may come while nobody reads it.
    let early = tokio::time::timeout(Duration::from_millis(300), c.reply()).await;
    assert!(early.is_err(), "replied before the engine took the event");
    assert!(rx.recv().await.is_some());
    assert_success(&c.reply().await, "second after the engine read");
    assert!(rx.recv().await.is_some());
    assert_eq!(server.shared.stats.totals().decoded, 2);
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_returns() {
    let server = Server::start(test_config(), fixture_decoder()).await;
    let mut idle = server.connect().await;
    assert_success(&idle.post("/API", b"").await, "keepalive");
    let addr = server.addr;
    server.stop().await.unwrap();
    assert!(idle.closed_by_server().await);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "listener closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_under_way_finish() {
    let mut server = Server::start(test_config(), fixture_decoder()).await;
    let body = fixture("ipc-v1x/traject.xml");
    let mut c = server.connect().await;
    let req = request("/API", &body, "");
    let split = req.len() - 100;
    c.send(&req[..split]).await;
    eventually("request under way", || server.shared.stats.connections_open() == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.signal_stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.send(&req[split..]).await;
    let r = c.reply().await;
    assert_success(&r, "request finished during shutdown");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_by_server().await);
    let handle = server.handle.take().unwrap();
    tokio::time::timeout(PATIENCE, handle).await.expect("serve did not return").unwrap().unwrap();
    // The reply follows the event into the channel; the test's collector
    // task moves it into `events` on its own time (seen once at 0 in CI).
    assert_eq!(events_eventually(&server, 1).await, 1);
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body() {
    // What `curl --data-binary @fixture` sends for bodies over 1 KiB.
    let server = Server::start(test_config(), fixture_decoder()).await;
    let body = fixture("ipc-v1x/line-crossing.xml");
    let mut c = server.connect().await;
    c.send(
        format!(
            "POST /API HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(c.reply().await.status, 100);
    c.send(&body).await;
    assert_success(&c.reply().await, "after 100-continue");

    // Refused from the headers alone: no 100, straight to 413.
    let mut config = test_config();
    config.max_body = 1000;
    let server = Server::start(config, fixture_decoder()).await;
    let mut c = server.connect().await;
    c.send(
        format!(
            "POST /API HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(c.reply().await.status, 413);
}

#[test]
fn error_xml_names_the_reason() {
    assert_eq!(
        ingest::error_xml("not XML at byte 0: <junk>"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><config version=\"1.0\" xmlns=\"http://www.ipc.com/ver10\"><status>failed</status><reason>not XML at byte 0: &lt;junk&gt;</reason></config>"
    );
}
