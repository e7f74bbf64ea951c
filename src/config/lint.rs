//! Warnings: files `check` and `run` accept that still cannot do what their
//! author meant (a rule that can never fire, a line that is probably an
//! offset). `camrelay check` prints them; `--strict` refuses them.
//!
//! Owns only the judgement over a validated [`Config`]; it must never refuse
//! anything itself (that is `parse`'s job) nor look at hardware.

use super::{Config, EventWord, LineRef};

/// Event words whose IPC v1.x posts carry no MAC (the smartData alarms: the
/// fixtures of every IPC alarm kind lack one; traject and alarm status carry it).
const WITHOUT_MAC: &[EventWord] = &[
    EventWord::Intrusion,
    EventWord::LineCrossing,
    EventWord::Loitering,
    EventWord::IllegalParking,
    EventWord::Plate,
    EventWord::Face,
    EventWord::FaceMatch,
    EventWord::Metadata,
    EventWord::ObjectRemoval,
    EventWord::CrowdDensity,
    EventWord::PeopleCounting,
    EventWord::PeopleIntrusion,
    EventWord::Counting,
    EventWord::CountingByLine,
    EventWord::CountingByArea,
];

/// The service user the package creates, which must read the token file.
const SERVICE_USER: &str = "camrelay";

/// `[api] token_file`: missing, empty, unreadable (here, or by the service
/// user), or readable by every user: each leaves the owner without a way in
/// or the token open, while the rules still run.
fn token_file(c: &Config, out: &mut Vec<String>) {
    let Some(path) = &c.api.token_file else {
        if c.api.token.is_none() && !c.relays.is_empty() {
            out.push(
                "[api] has no token or token_file: relays cannot be switched by hand from the page or the API; \
                 put a long random token in a file (the package makes /etc/camrelay/api-token) and set token_file"
                    .to_string(),
            );
        }
        return;
    };
    let shown = path.display();
    match std::fs::read_to_string(path) {
        Err(e) => {
            out.push(format!(
                "[api] token_file {shown} cannot be read: {e}; manual control stays refused until it can"
            ));
            return;
        }
        Ok(text) if text.lines().next().map_or(true, |l| l.trim().is_empty()) => {
            out.push(format!("[api] token_file {shown} is empty; its first line is the token"));
        }
        Ok(_) => {}
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let Ok(meta) = std::fs::metadata(path) else { return };
        if meta.mode() & 0o004 != 0 {
            out.push(format!(
                "[api] token_file {shown} can be read by every user (mode {:o}); chmod 640 it (owner root, group camrelay)",
                meta.mode() & 0o777
            ));
        }
        if let Some((uid, gid)) = service_user() {
            let readable = meta.mode() & 0o004 != 0
                || (meta.uid() == uid && meta.mode() & 0o400 != 0)
                || (meta.gid() == gid && meta.mode() & 0o040 != 0);
            if !readable {
                out.push(format!(
                    "[api] token_file {shown} cannot be read by the service user {SERVICE_USER}; \
                     sudo chgrp {SERVICE_USER} {shown} && sudo chmod 640 {shown}"
                ));
            }
        }
    }
}

/// The service user's uid and primary gid, when this machine has it.
fn service_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&SERVICE_USER) && f.len() > 3)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// What `check` warns about, one sentence each.
pub fn warnings(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if c.relays.is_empty() && c.rules.is_empty() {
        out.push("the file configures nothing: no [[relay]] and no [[rule]]".to_string());
    } else if c.rules.is_empty() {
        out.push("no [[rule]]: the relays will never switch (except by the API)".to_string());
    }
    token_file(c, &mut out);
    for cam in &c.cameras {
        let Some(api) = &cam.api else { continue };
        let path = api.password_file.display();
        // Read, not only looked at: `camera snapshot` and the daemon read it.
        let readable = std::fs::read_to_string(&api.password_file)
            .map(|t| !t.lines().next().unwrap_or("").trim().is_empty());
        match std::fs::metadata(&api.password_file) {
            Err(e) => out.push(format!("camera \"{}\": cannot read password_file {path}: {e}", cam.name)),
            Ok(_) if readable.is_err() => out.push(format!(
                "camera \"{}\": cannot read password_file {path}: {} (run check as the service user: sudo -u camrelay camrelay check ...)",
                cam.name,
                readable.as_ref().err().map(|e| e.to_string()).unwrap_or_default()
            )),
            Ok(_) if readable.as_ref().is_ok_and(|nonempty| !nonempty) => out.push(format!(
                "camera \"{}\": password_file {path} is empty; its first line is the camera's password",
                cam.name
            )),
            Ok(meta) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    if meta.permissions().mode() & 0o077 != 0 {
                        out.push(format!(
                            "camera \"{}\": password_file {path} can be read by other users (mode {:o}); chmod 600 it",
                            cam.name,
                            meta.permissions().mode() & 0o777
                        ));
                    }
                }
                let _ = meta;
            }
        }
    }
    for r in &c.relays {
        if let LineRef::Name(name) = &r.line {
            if !name.is_empty() && name.chars().all(|ch| ch.is_ascii_digit()) {
                out.push(format!(
                    "relay \"{}\": line = \"{name}\" is a line *name*, searched across chips; for offset {name} write line = {name}",
                    r.name
                ));
            }
        }
    }
    for rule in &c.rules {
        for cam_name in &cameras_of(c, rule) {
            let Some(cam) = c.cameras.iter().find(|k| &k.name == cam_name) else { continue };
            if cam.nvr.is_some() && !cam.has_two_sources() && rule.when.events.contains(&EventWord::Presence)
            {
                out.push(format!(
                    "rule \"{}\": event \"presence\" on camera \"{cam_name}\", which is behind an NVR: NVRs do not forward traject, so it can never fire; use the camera's own alarm event (e.g. \"intrusion\"), or post traject from the camera itself",
                    rule.name
                ));
            }
            let mac_only = cam.mac.is_some()
                && cam.ip.is_none()
                && cam.serial.is_none()
                && cam.device_name.is_none()
                && cam.nvr.is_none();
            let blind: Vec<&str> =
                rule.when.events.iter().filter(|e| WITHOUT_MAC.contains(e)).map(|e| e.word()).collect();
            if mac_only && !blind.is_empty() {
                let through = if rule.when.cameras.contains(cam_name) {
                    String::new()
                } else {
                    " (the camera of its zone or area)".to_string()
                };
                out.push(format!(
                    "rule \"{}\": camera \"{cam_name}\"{through} is matched by mac only, but IPC cameras send {} posts without a MAC, so it can never fire on them; add ip = \"...\" (or serial, device_name) to its [[camera]]",
                    rule.name,
                    blind.join(", ")
                ));
            }
        }
        if rule.when.events.contains(&EventWord::CameraOffline) {
            if let super::ActionKind::Hold { hold } = rule.then.action {
                let gap = if hold < c.server.offline_after {
                    format!(
                        ", shorter than the {} of silence it took to notice",
                        super::fmt_duration(c.server.offline_after)
                    )
                } else {
                    String::new()
                };
                out.push(format!(
                    "rule \"{}\": holds relay \"{}\" for {} on camera_offline{gap}, then leaves it dark while the camera may still be silent (camera_offline comes once); latch it with action = \"on\" and switch it off on event = \"camera_online\", unless = {{ offline = \"any\" }}",
                    rule.name,
                    rule.then.relay,
                    super::fmt_duration(hold)
                ));
            }
        }
        if rule.when.plate_distance >= 1.0 {
            out.push(format!(
                "rule \"{}\": plate_distance = {} admits any {} wrong character(s), so another car's plate can match (ABC1284 for ABC1234); 0.5 admits one look-alike misread (8/B, 1/I, 0/O, 5/S, 2/Z) and nothing else",
                rule.name,
                rule.when.plate_distance,
                rule.when.plate_distance.floor()
            ));
        }
    }
    out
}

/// The cameras a rule listens to: those it names, and those of its zones and
/// areas (a rule reaches a camera through `zone` as surely as through `camera`).
fn cameras_of(c: &Config, rule: &super::RuleConfig) -> Vec<String> {
    let mut out = rule.when.cameras.clone();
    let mut zones: Vec<&String> = rule.when.zones.iter().collect();
    for area in c.areas.iter().filter(|a| rule.when.areas.contains(&a.name)) {
        zones.extend(&area.zones);
    }
    for z in zones {
        if let Some(zone) = c.zones.iter().find(|k| &k.name == z) {
            if !out.contains(&zone.camera) {
                out.push(zone.camera.clone());
            }
        }
    }
    out
}
