//! A real Mosquitto for the MQTT tests: started on a free loopback port with
//! a password file and the ACL docs/mqtt.md tells users to write,
//! and a watching client that records every message with its retain flag
//! and arrival time.

#![allow(dead_code)]

use rumqttc::v5::mqttbytes::v5::{Filter, Packet};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{Client, Event, MqttOptions};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Users the broker knows: each node's name is its user name (the ACL's `%u`).
pub const USERS: &[(&str, &str)] =
    &[("nodea", "secret-a"), ("nodeb", "secret-b"), ("homeassistant", "secret-ha")];

/// The ACL docs/mqtt.md tells users to write, read from there, so the tests
/// run against exactly what the documentation gives.
pub fn documented_acl() -> String {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/mqtt.md")).unwrap();
    let after = docs.split_once("`/etc/mosquitto/acl`:").expect("docs/mqtt.md names the ACL file").1;
    let block = after.split_once("```\n").expect("the ACL in a fenced block").1;
    block.split_once("```").expect("the block ends").0.to_string()
}

pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

fn mosquitto() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("mosquitto")).find(|p| p.is_file()));
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/mosquitto"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        for (i, (user, pass)) in USERS.iter().enumerate() {
            let mut c = Command::new("mosquitto_passwd");
            c.arg("-b");
            if i == 0 {
                c.arg("-c");
            }
            let out = c.arg(&passwd).arg(user).arg(pass).output().expect("mosquitto_passwd");
            assert!(out.status.success(), "mosquitto_passwd: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::fs::write(dir.path().join("acl"), documented_acl()).unwrap();
        let mut b = Broker { child: None, port: free_port(), dir };
        b.run();
        b
    }

    /// The port of a broker that is not running (yet): for "absent at start".
    pub fn absent() -> Broker {
        let mut b = Broker::start();
        b.stop();
        b
    }

    fn run(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\npersistence false\nlog_dest stderr\n",
                self.port,
                self.dir.path().join("passwd").display(),
                self.dir.path().join("acl").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(self.dir.path().join("mosquitto.log")).unwrap();
        let child = Command::new(mosquitto())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop and start again on the same port (retained messages are gone:
    /// persistence is off, as after a broker reinstall).
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    pub fn start_again(&mut self) {
        self.run();
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// An `[mqtt]` section for node `node` (its password in a file in `dir`).
    pub fn section(&self, node: &str, dir: &std::path::Path) -> String {
        let pass = USERS.iter().find(|(u, _)| *u == node).map(|(_, p)| *p).unwrap_or("wrong");
        let file = dir.join(format!("{node}.password"));
        std::fs::write(&file, format!("{pass}\n")).unwrap();
        format!(
            "[mqtt]\nurl = \"{}\"\nnode = \"{node}\"\nusername = \"{node}\"\npassword_file = \"{}\"\n",
            self.url(),
            file.display()
        )
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One message as a client saw it.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: String,
    /// The payload as sent (pictures are not text).
    pub raw: Vec<u8>,
    pub retain: bool,
    pub at: Instant,
}

/// A client that records everything it receives.
pub struct Watcher {
    pub client: Client,
    pub seen: Arc<Mutex<Vec<Msg>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.client.try_disconnect();
    }
}

impl Watcher {
    pub fn connect(broker: &Broker, user: &str, filters: &[&str]) -> Watcher {
        let pass = USERS.iter().find(|(u, _)| *u == user).map(|(_, p)| *p).unwrap();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("watch-{user}-{}-{n}", std::process::id());
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.port);
        options.set_credentials(user, pass);
        options.set_keep_alive(Duration::from_secs(5));
        // Sees (and sends) the oversized messages the hostile tests retain.
        options.set_max_packet_size(Some(8 * 1024 * 1024));
        let (client, mut connection) = Client::new(options, 256);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        let resubscribe = client.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for event in connection.iter() {
                if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let fs = filters.iter().map(|f| {
                            let mut f = Filter::new(f.clone(), QoS::AtLeastOnce);
                            f.preserve_retain = true;
                            f
                        });
                        let _ = resubscribe.try_subscribe_many(fs);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        keep.lock().unwrap().push(Msg {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                            raw: p.payload.to_vec(),
                            retain: p.retain,
                            at: Instant::now(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("watcher subscribed");
        Watcher { client, seen, stop }
    }

    pub fn all(&self) -> Vec<Msg> {
        self.seen.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }

    /// The first message (in arrival order) on `topic` matching `pred`, waiting up to `timeout`.
    pub fn wait(&self, topic: &str, timeout: Duration, pred: impl Fn(&Msg) -> bool) -> Msg {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.all().into_iter().find(|m| m.topic == topic && pred(m)) {
                return m;
            }
            if Instant::now() > deadline {
                let topics: Vec<String> =
                    self.all().iter().map(|m| format!("{} {}", m.topic, m.payload)).collect();
                panic!("no message on {topic} matching within {timeout:?}; seen: {topics:#?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The newest payload seen on `topic`.
    pub fn last(&self, topic: &str) -> Option<String> {
        self.all().into_iter().rev().find(|m| m.topic == topic).map(|m| m.payload)
    }

    pub fn publish(&self, topic: &str, payload: &str, retain: bool) {
        self.client.publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec()).unwrap();
    }
}

/// Wait until `f` holds, or panic with `what`.
pub fn eventually(timeout: Duration, what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
