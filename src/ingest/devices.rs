//! The registry of devices that posted: who, from where, when last heard.
//!
//! A device is keyed by the most stable identity its posts carry: the MAC,
//! else the serial number, else the name together with the source IP. An NVR
//! is one device whatever channel an event came from (the channels seen are
//! listed). An empty-body keepalive carries no identity at all: it refreshes
//! the device last seen from that source IP, or creates an `ip:` placeholder
//! that the first identified post from that IP replaces.
//!
//! Devices that match a `[[camera]]` are never forgotten: a client inventing
//! identities could otherwise push a real camera out, and its
//! `camera_offline` rule would never fire. Unconfigured devices share their
//! own bound ([`MAX_UNKNOWN_DEVICES`]; the longest silent goes first), and
//! their offline and back-online lines are rate-limited (counted in
//! [`Devices::offline_reports`] all the same).

use super::limit::LogLimit;
use crate::clock::{Instant, Now};
use crate::config::CameraConfig;
use crate::decode::{Device, Event, EventKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Unconfigured devices kept at most; the least recently heard one is
/// forgotten beyond this, so a LAN client inventing identities cannot grow memory.
pub const MAX_UNKNOWN_DEVICES: usize = 256;

/// What the status API shows for one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceStatus {
    /// Registry key: the MAC, `sn:SERIAL`, `name:NAME@IP` or `ip:IP`.
    pub key: String,
    pub name: Option<String>,
    pub mac: Option<String>,
    pub serial: Option<String>,
    /// The IP the device reports about itself.
    pub ip: Option<String>,
    /// The IP its posts arrive from.
    pub source: IpAddr,
    /// NVR channels events came from.
    pub channels: Vec<u32>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub last_keepalive: Option<DateTime<Utc>>,
    pub last_event: Option<LastEvent>,
    pub posts: u64,
    pub online: bool,
    /// The `[[camera]]` this device matched, if any (kept whatever else posts).
    pub camera: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastEvent {
    /// The kind word (`traject`, `intrusion`, `alarm`, ...).
    pub kind: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Entry {
    device: Device,
    source: IpAddr,
    channels: BTreeSet<u32>,
    first_seen: DateTime<Utc>,
    last_seen_at: Instant,
    last_seen: DateTime<Utc>,
    last_keepalive: Option<DateTime<Utc>>,
    last_event: Option<LastEvent>,
    posts: u64,
    offline: bool,
    /// The `[[camera]]` it matched: such an entry is never evicted.
    camera: Option<String>,
}

/// The device registry, shared by all connections.
#[derive(Debug)]
pub struct Devices {
    inner: Mutex<HashMap<String, Entry>>,
    cameras: Mutex<Vec<CameraConfig>>,
    unknown_log: LogLimit,
    offline_reports: AtomicU64,
    /// Devices reported offline and heard again, until the core takes them
    /// (the `camera_online` event).
    back_online: Mutex<Vec<Device>>,
    /// `[[camera]]`s heard for the first time since the start, for outputs
    /// that show whether a camera posts (not a `camera_online` event).
    first_heard: Mutex<Vec<String>>,
}

/// Back-online devices kept until the core takes them.
const MAX_BACK_ONLINE: usize = 256;

impl Default for Devices {
    fn default() -> Self {
        Devices {
            inner: Mutex::default(),
            back_online: Mutex::default(),
            first_heard: Mutex::default(),
            cameras: Mutex::default(),
            unknown_log: LogLimit::new(Duration::from_secs(60), 5),
            offline_reports: AtomicU64::new(0),
        }
    }
}

/// The registry key for a post's device, or `None` when the post names nobody.
pub fn identity(device: &Device, source: IpAddr) -> Option<String> {
    if let Some(mac) = device.mac.as_deref().filter(|m| !m.is_empty()) {
        return Some(mac.to_ascii_lowercase());
    }
    if let Some(sn) = device.serial.as_deref().filter(|s| !s.is_empty()) {
        return Some(format!("sn:{sn}"));
    }
    if let Some(name) = device.name.as_deref().filter(|s| !s.is_empty()) {
        return Some(format!("name:{name}@{source}"));
    }
    None
}

impl Devices {
    pub fn new() -> Self {
        Self::default()
    }

    /// The configured cameras (at startup and after each reload): which
    /// devices are pinned, and which `[[camera]]` status names for each.
    pub fn set_cameras(&self, cameras: &[CameraConfig]) {
        let mut configured = self.cameras.lock().unwrap_or_else(|p| p.into_inner());
        *configured = cameras.to_vec();
        for e in self.lock().values_mut() {
            e.camera = matched_camera(&configured, e);
        }
    }

    /// Devices reported offline so far (logged or not).
    pub fn offline_reports(&self) -> u64 {
        self.offline_reports.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Note a decoded post; returns the device's registry key. Logs "back
    /// online" once when a device reported offline is heard again.
    pub fn observe(&self, event: &Event, source: IpAddr, now: Now) -> String {
        let source = source.to_canonical();
        let mut map = self.lock();
        let key = match identity(&event.device, source) {
            Some(key) => {
                if !map.contains_key(&key) {
                    // The first identified post from an IP adopts what its
                    // anonymous keepalives recorded.
                    let placeholder = map.remove(&format!("ip:{source}"));
                    let mut entry = placeholder.unwrap_or_else(|| new_entry(source, now));
                    merge_identity(&mut entry.device, &event.device);
                    entry.channels.extend(event.device.channel);
                    entry.camera = self.matched(&entry);
                    if entry.camera.is_none() {
                        evict_if_full(&mut map);
                    }
                    self.first_seen(&key, &entry, event);
                    map.insert(key.clone(), entry);
                }
                key
            }
            None => {
                // Credited to a known device only when it is the one device at
                // that address: behind a NAT or an NVR several share one.
                let mut from_source = map.iter().filter(|(k, e)| e.source == source && !k.starts_with("ip:"));
                let by_source = match (from_source.next(), from_source.next()) {
                    (Some((k, _)), None) => Some(k.clone()),
                    _ => Some(format!("ip:{source}")).filter(|k| map.contains_key(k)),
                };
                match by_source {
                    Some(k) => k,
                    None => {
                        let k = format!("ip:{source}");
                        let mut entry = new_entry(source, now);
                        entry.camera = self.matched(&entry);
                        if entry.camera.is_none() {
                            evict_if_full(&mut map);
                        }
                        self.first_seen(&k, &entry, event);
                        map.insert(k.clone(), entry);
                        k
                    }
                }
            }
        };
        if let Some(e) = map.get_mut(&key) {
            let mut changed = merge_identity(&mut e.device, &event.device);
            if let Some(ch) = event.device.channel {
                changed |= e.channels.insert(ch);
            }
            if changed && e.camera.is_none() {
                e.camera = self.matched(e);
            }
            e.source = source;
            e.last_seen_at = now.at;
            e.last_seen = now.wall;
            e.posts += 1;
            if event.kind == EventKind::Keepalive {
                e.last_keepalive = Some(now.wall);
            } else {
                // Reuses the previous kind's string: this runs for every post.
                let word = event.kind.word();
                match &mut e.last_event {
                    Some(last) => {
                        if last.kind != word {
                            last.kind.clear();
                            last.kind.push_str(word);
                        }
                        last.at = now.wall;
                    }
                    None => e.last_event = Some(LastEvent { kind: word.to_string(), at: now.wall }),
                }
            }
            if e.offline {
                e.offline = false;
                let mut back = self.back_online.lock().unwrap_or_else(|p| p.into_inner());
                if back.len() < MAX_BACK_ONLINE {
                    let mut d = e.device.clone();
                    d.channel = None;
                    if d.ip.is_none() {
                        d.ip = Some(e.source.to_string());
                    }
                    back.push(d);
                }
                match &e.camera {
                    Some(camera) => {
                        tracing::info!(device = %key, %camera, source = %source, "device back online")
                    }
                    None => {
                        if let Some(suppressed) = self.unknown_log.check() {
                            tracing::info!(device = %key, source = %source, suppressed, "unconfigured device back online");
                        }
                    }
                }
            }
        }
        key
    }

    /// `[[camera]]`s heard for the first time, since the last call.
    pub fn take_first_heard(&self) -> Vec<String> {
        std::mem::take(&mut *self.first_heard.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Devices heard again after they were reported offline, since the last call.
    pub fn take_back_online(&self) -> Vec<Device> {
        std::mem::take(&mut *self.back_online.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// When the next device falls silent for `after`, if any is online:
    /// the daemon and replay check then, to the millisecond.
    pub fn next_offline(&self, after: Duration) -> Option<Instant> {
        self.lock().values().filter(|e| !e.offline).map(|e| e.last_seen_at + after).min()
    }

    /// Devices that have sent nothing for `after`, each reported once until
    /// heard again. The returned `Device` has `ip` filled from the source
    /// address when the device never said its own.
    pub fn check_offline(&self, now: Instant, after: Duration) -> Vec<Device> {
        let mut map = self.lock();
        let mut gone = Vec::new();
        for (key, e) in map.iter_mut() {
            if !e.offline && now.since(e.last_seen_at) >= after {
                e.offline = true;
                self.offline_reports.fetch_add(1, Ordering::Relaxed);
                let silent_s = now.since(e.last_seen_at).as_secs();
                match &e.camera {
                    Some(camera) => tracing::warn!(device = %key, %camera, source = %e.source, silent_s,
                        "device offline: nothing received"),
                    None => {
                        if let Some(suppressed) = self.unknown_log.check() {
                            tracing::warn!(device = %key, source = %e.source, silent_s, suppressed,
                                "unconfigured device offline: nothing received");
                        }
                    }
                }
                let mut d = e.device.clone();
                d.channel = None;
                if d.ip.is_none() {
                    d.ip = Some(e.source.to_string());
                }
                gone.push(d);
            }
        }
        gone
    }

    /// Every known device, sorted by key.
    pub fn snapshot(&self) -> Vec<DeviceStatus> {
        let map = self.lock();
        let mut out: Vec<DeviceStatus> = map
            .iter()
            .map(|(key, e)| DeviceStatus {
                key: key.clone(),
                name: e.device.name.clone(),
                mac: e.device.mac.clone(),
                serial: e.device.serial.clone(),
                ip: e.device.ip.clone(),
                source: e.source,
                channels: e.channels.iter().copied().collect(),
                first_seen: e.first_seen,
                last_seen: e.last_seen,
                last_keepalive: e.last_keepalive,
                last_event: e.last_event.clone(),
                posts: e.posts,
                online: !e.offline,
                camera: e.camera.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// The key of the device last heard from `source`, for logging posts
    /// that carry no (decodable) identity.
    pub fn key_for_source(&self, source: IpAddr) -> Option<String> {
        let source = source.to_canonical();
        let map = self.lock();
        map.iter()
            .filter(|(_, e)| e.source == source)
            .max_by_key(|(_, e)| e.last_seen_at)
            .map(|(k, _)| k.clone())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn new_entry(source: IpAddr, now: Now) -> Entry {
    Entry {
        device: Device::default(),
        source,
        channels: BTreeSet::new(),
        first_seen: now.wall,
        last_seen_at: now.at,
        last_seen: now.wall,
        last_keepalive: None,
        last_event: None,
        posts: 0,
        offline: false,
        camera: None,
    }
}

/// Make room for one more unconfigured device: configured cameras are never chosen.
fn evict_if_full(map: &mut HashMap<String, Entry>) {
    let unknown = map.values().filter(|e| e.camera.is_none()).count();
    if unknown < MAX_UNKNOWN_DEVICES {
        return;
    }
    let oldest = map
        .iter()
        .filter(|(_, e)| e.camera.is_none())
        .min_by_key(|(_, e)| e.last_seen_at)
        .map(|(k, _)| k.clone());
    if let Some(k) = oldest {
        tracing::debug!(device = %k, limit = MAX_UNKNOWN_DEVICES, "device registry full: forgetting the longest silent unconfigured device");
        map.remove(&k);
    }
}

/// The first `[[camera]]` matching what the entry knows (any of its channels).
fn matched_camera(cameras: &[CameraConfig], e: &Entry) -> Option<String> {
    let source = Some(e.source);
    cameras
        .iter()
        .find(|c| {
            c.matches(&e.device, source, None)
                || e.channels.iter().any(|&ch| c.matches(&e.device, source, Some(ch)))
        })
        .map(|c| c.name.clone())
}

/// Keep what the device said about itself; a later post that omits a field
/// does not erase it. The channel is per event, never part of the identity.
/// Returns whether anything changed. Compares before it copies: a camera
/// sends the same identity with every post, and this runs for each.
fn merge_identity(into: &mut Device, from: &Device) -> bool {
    let mut changed = false;
    if from.name.is_some() && into.name != from.name {
        into.name.clone_from(&from.name);
        changed = true;
    }
    if let Some(mac) = &from.mac {
        // What is stored is always lower case.
        if !into.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(mac)) {
            into.mac = Some(mac.to_ascii_lowercase());
            changed = true;
        }
    }
    if from.ip.is_some() && into.ip != from.ip {
        into.ip.clone_from(&from.ip);
        changed = true;
    }
    if from.serial.is_some() && into.serial != from.serial {
        into.serial.clone_from(&from.serial);
        changed = true;
    }
    if from.device_no.is_some() && into.device_no != from.device_no {
        into.device_no = from.device_no;
        changed = true;
    }
    changed
}

impl Devices {
    /// One line when a device first posts: who it is, and the `[[camera]]`
    /// it matched, or the block that would match it.
    fn first_seen(&self, key: &str, e: &Entry, event: &Event) {
        let kind = event.kind.word();
        match &e.camera {
            Some(camera) => {
                let mut heard = self.first_heard.lock().unwrap_or_else(|p| p.into_inner());
                if heard.len() < MAX_BACK_ONLINE {
                    heard.push(camera.clone());
                }
                tracing::info!(device = %key, source = %e.source, %camera, kind, "device first seen, matches [[camera]]")
            }
            None => {
                let d = &e.device;
                let matcher = if let Some(mac) = &d.mac {
                    format!("mac = \"{mac}\"")
                } else if let Some(sn) = &d.serial {
                    format!("serial = \"{sn}\"")
                } else if let Some(name) = &d.name {
                    format!("device_name = \"{name}\"")
                } else {
                    format!("ip = \"{}\"", e.source)
                };
                if let Some(suppressed) = self.unknown_log.check() {
                    tracing::info!(device = %key, source = %e.source, kind, suppressed,
                        "device first seen, matches no [[camera]]; to name it, add: [[camera]] name = \"...\" {matcher}");
                }
            }
        }
    }

    fn matched(&self, e: &Entry) -> Option<String> {
        matched_camera(&self.cameras.lock().unwrap_or_else(|p| p.into_inner()), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Dialect;

    fn event(kind: EventKind, device: Device) -> Event {
        Event { dialect: Dialect::Ipc, ..Event::bare(kind, device) }
    }

    fn now(ms: u64) -> Now {
        Now {
            at: Instant::from_millis(ms),
            wall: DateTime::from_timestamp_millis(1_700_000_000_000 + ms as i64).unwrap(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn keys_by_mac_then_serial_then_name_and_ip() {
        let src = ip("192.168.1.5");
        let d =
            Device { mac: Some("58:5B:69:AA:BB:CC".into()), serial: Some("X".into()), ..Default::default() };
        assert_eq!(identity(&d, src).as_deref(), Some("58:5b:69:aa:bb:cc"));
        let d = Device { serial: Some("X1".into()), name: Some("Gate".into()), ..Default::default() };
        assert_eq!(identity(&d, src).as_deref(), Some("sn:X1"));
        let d = Device { name: Some("Gate".into()), ..Default::default() };
        assert_eq!(identity(&d, src).as_deref(), Some("name:Gate@192.168.1.5"));
        assert_eq!(identity(&Device::default(), src), None);
    }

    #[test]
    fn anonymous_keepalive_is_adopted_by_the_first_identified_post() {
        let reg = Devices::new();
        let src = ip("192.168.1.5");
        assert_eq!(
            reg.observe(&event(EventKind::Keepalive, Device::default()), src, now(0)),
            "ip:192.168.1.5"
        );
        let cam =
            Device { mac: Some("58:5b:69:aa:bb:cc".into()), name: Some("Gate".into()), ..Default::default() };
        assert_eq!(reg.observe(&event(EventKind::Traject, cam), src, now(1000)), "58:5b:69:aa:bb:cc");
        // Later anonymous keepalives refresh the identified device.
        assert_eq!(
            reg.observe(&event(EventKind::Keepalive, Device::default()), src, now(2000)),
            "58:5b:69:aa:bb:cc"
        );
        let snap = reg.snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].posts, 3);
        assert_eq!(snap[0].first_seen, now(0).wall);
        assert_eq!(snap[0].last_keepalive, Some(now(2000).wall));
        assert_eq!(snap[0].last_event, Some(LastEvent { kind: "traject".into(), at: now(1000).wall }));
        assert_eq!(snap[0].name.as_deref(), Some("Gate"));
    }

    #[test]
    fn offline_reported_once_until_heard_again() {
        let reg = Devices::new();
        let cam = Device { mac: Some("58:5b:69:aa:bb:cc".into()), ..Default::default() };
        reg.observe(&event(EventKind::Keepalive, cam.clone()), ip("10.0.0.2"), now(0));
        let after = Duration::from_secs(90);
        assert!(reg.check_offline(Instant::from_millis(89_999), after).is_empty());
        let gone = reg.check_offline(Instant::from_millis(90_000), after);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].mac.as_deref(), Some("58:5b:69:aa:bb:cc"));
        assert_eq!(gone[0].ip.as_deref(), Some("10.0.0.2"));
        assert!(reg.check_offline(Instant::from_millis(200_000), after).is_empty());
        assert!(!reg.snapshot()[0].online);
        reg.observe(&event(EventKind::Keepalive, cam), ip("10.0.0.2"), now(200_000));
        assert!(reg.snapshot()[0].online);
        assert!(reg.check_offline(Instant::from_millis(250_000), after).is_empty());
        assert_eq!(reg.check_offline(Instant::from_millis(290_000), after).len(), 1);
    }

    /// Operator-path finding 5: a post without identity was credited to the
    /// last device seen from its address, even when several post from there.
    #[test]
    fn finding_05_identity_less_posts_are_credited_only_to_the_one_device_at_that_address() {
        let reg = Devices::new();
        let nat = ip("10.0.0.7");
        let a = Device { mac: Some("58:5b:69:00:00:0a".into()), ..Default::default() };
        let b = Device { mac: Some("58:5b:69:00:00:0b".into()), ..Default::default() };
        reg.observe(&event(EventKind::Traject, a.clone()), nat, now(0));
        assert_eq!(
            reg.observe(&event(EventKind::Keepalive, Device::default()), nat, now(10)),
            "58:5b:69:00:00:0a"
        );
        reg.observe(&event(EventKind::Traject, b), nat, now(20));
        // Two devices behind one address: the keepalive names neither.
        assert_eq!(reg.observe(&event(EventKind::Keepalive, Device::default()), nat, now(30)), "ip:10.0.0.7");
        let snap = reg.snapshot();
        let posts = |k: &str| snap.iter().find(|s| s.key == k).map(|s| s.posts);
        assert_eq!(
            (posts("58:5b:69:00:00:0a"), posts("58:5b:69:00:00:0b"), posts("ip:10.0.0.7")),
            (Some(2), Some(1), Some(1))
        );
    }

    #[test]
    fn registry_is_bounded() {
        let reg = Devices::new();
        for i in 0..MAX_UNKNOWN_DEVICES as u64 + 5 {
            let d = Device { serial: Some(format!("S{i}")), ..Default::default() };
            reg.observe(&event(EventKind::Keepalive, d), ip("10.0.0.9"), now(i));
        }
        assert_eq!(reg.len(), MAX_UNKNOWN_DEVICES);
        let keys: Vec<String> = reg.snapshot().into_iter().map(|s| s.key).collect();
        assert!(!keys.contains(&"sn:S0".to_string()));
        assert!(keys.contains(&format!("sn:S{}", MAX_UNKNOWN_DEVICES + 4)));
    }

    /// Hostile-LAN finding 7: 1,100 invented identities pushed the real
    /// camera out of the registry, and its `camera_offline` never fired.
    #[test]
    fn finding_07_invented_identities_never_evict_a_configured_camera() {
        let reg = Devices::new();
        let camera = CameraConfig {
            name: "driveway".into(),
            mac: Some("58:5b:69:aa:bb:cc".into()),
            ..CameraConfig::default()
        };
        reg.set_cameras(std::slice::from_ref(&camera));
        let cam = Device { mac: Some("58:5B:69:AA:BB:CC".into()), ..Default::default() };
        reg.observe(&event(EventKind::Traject, cam), ip("10.0.0.2"), now(0));
        for i in 0..1_100u64 {
            let d = Device {
                mac: Some(format!("02:00:00:00:{:02x}:{:02x}", i >> 8, i & 0xff)),
                ..Default::default()
            };
            reg.observe(&event(EventKind::Traject, d), ip("10.0.0.66"), now(10 + i));
        }
        assert_eq!(reg.len(), MAX_UNKNOWN_DEVICES + 1);
        let snap = reg.snapshot();
        let real = snap.iter().find(|s| s.key == "58:5b:69:aa:bb:cc").expect("the camera is kept");
        assert_eq!(real.camera.as_deref(), Some("driveway"));
        // Silence: the camera is reported offline (once), with the others.
        let gone = reg.check_offline(Instant::from_millis(400_000), Duration::from_secs(300));
        assert!(gone.iter().any(|d| d.mac.as_deref() == Some("58:5b:69:aa:bb:cc")));
        assert_eq!(reg.offline_reports(), MAX_UNKNOWN_DEVICES as u64 + 1);
    }
}
