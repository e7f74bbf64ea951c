//! The registry of devices that posted: who, from where, when last heard.
//!
//! A device is keyed by the most stable identity its posts carry: the MAC,
//! else the serial number, else the name together with the source IP. An NVR
//! is one device whatever channel an event came from (the channels seen are
//! listed). An empty-body keepalive carries no identity at all: it refreshes
//! the device last seen from that source IP, or creates an `ip:` placeholder
//! that the first identified post from that IP replaces.

use crate::clock::{Instant, Now};
use crate::decode::{Device, Event, EventKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// Devices kept at most; the least recently heard one is forgotten beyond
/// this, so a LAN client inventing identities cannot grow memory.
pub const MAX_DEVICES: usize = 1024;

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
}

/// The device registry, shared by all connections.
#[derive(Debug, Default)]
pub struct Devices {
    inner: Mutex<HashMap<String, Entry>>,
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
                    let entry = placeholder.unwrap_or_else(|| new_entry(source, now));
                    evict_if_full(&mut map);
                    map.insert(key.clone(), entry);
                }
                key
            }
            None => {
                let by_source = map
                    .iter()
                    .filter(|(_, e)| e.source == source)
                    .max_by_key(|(_, e)| e.last_seen_at)
                    .map(|(k, _)| k.clone());
                match by_source {
                    Some(k) => k,
                    None => {
                        let k = format!("ip:{source}");
                        evict_if_full(&mut map);
                        map.insert(k.clone(), new_entry(source, now));
                        k
                    }
                }
            }
        };
        if let Some(e) = map.get_mut(&key) {
            merge_identity(&mut e.device, &event.device);
            if let Some(ch) = event.device.channel {
                e.channels.insert(ch);
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
                tracing::info!(device = %key, source = %source, "device back online");
            }
        }
        key
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
                tracing::warn!(device = %key, source = %e.source, silent_s = now.since(e.last_seen_at).as_secs(),
                    "device offline: nothing received");
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
    }
}

fn evict_if_full(map: &mut HashMap<String, Entry>) {
    if map.len() < MAX_DEVICES {
        return;
    }
    let oldest = map.iter().min_by_key(|(_, e)| e.last_seen_at).map(|(k, _)| k.clone());
    if let Some(k) = oldest {
        tracing::warn!(device = %k, limit = MAX_DEVICES, "device registry full: forgetting the longest silent device");
        map.remove(&k);
    }
}

/// Keep what the device said about itself; a later post that omits a field
/// does not erase it. The channel is per event, never part of the identity.
fn merge_identity(into: &mut Device, from: &Device) {
    if from.name.is_some() {
        into.name.clone_from(&from.name);
    }
    if let Some(mac) = &from.mac {
        // Compared first (what is stored is always lower case): a camera
        // sends the same MAC with every post.
        if !into.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(mac)) {
            into.mac = Some(mac.to_ascii_lowercase());
        }
    }
    if from.ip.is_some() {
        into.ip.clone_from(&from.ip);
    }
    if from.serial.is_some() {
        into.serial.clone_from(&from.serial);
    }
    if from.device_no.is_some() {
        into.device_no = from.device_no;
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

    #[test]
    fn registry_is_bounded() {
        let reg = Devices::new();
        for i in 0..MAX_DEVICES as u64 + 5 {
            let d = Device { serial: Some(format!("S{i}")), ..Default::default() };
            reg.observe(&event(EventKind::Keepalive, d), ip("10.0.0.9"), now(i));
        }
        assert_eq!(reg.len(), MAX_DEVICES);
        let keys: Vec<String> = reg.snapshot().into_iter().map(|s| s.key).collect();
        assert!(!keys.contains(&"sn:S0".to_string()));
        assert!(keys.contains(&format!("sn:S{}", MAX_DEVICES + 4)));
    }
}
