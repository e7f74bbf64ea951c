//! `camrelay camera ...`: probe, add, subscribe, unsubscribe, snapshot, zones.
//!
//! The binary's edge for the device client: it reads the rules file, asks
//! the camera, prints what it found in the user's words, and writes the rules
//! file only after the whole new text passed the same parser `run` uses.
//! What subscribe changed is kept beside the rules file
//! (`camrelay-subscriptions.json`) so unsubscribe restores exactly that.

use super::answer::{DeviceInfo, PostConfig};
use super::client::{Client, Secret};
use super::setup::{self, Ingest, SlotChoice};
use super::xml;
use crate::config::{self, CameraApi, Config};
use anyhow::{anyhow, bail, Context};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Read the first line of a password file.
pub fn read_password(path: &Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the camera password file {}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r').to_string();
    if line.is_empty() {
        bail!("the camera password file {} is empty; its first line is the password", path.display());
    }
    Ok(Secret::new(line))
}

/// The client for a configured camera.
pub fn client_for(api: &CameraApi) -> anyhow::Result<Client> {
    Ok(Client::new(&api.url, &api.user, read_password(&api.password_file)?)?
        .with_password_file(&api.password_file))
}

/// A password file as the rules file must name it: absolute, since the
/// rules take a relative path relative to their own folder, not to the
/// folder the command was typed in.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot tell where {} is", path.display()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn camera<'a>(
    cfg: &'a Config,
    path: &Path,
    name: &str,
) -> anyhow::Result<(&'a config::CameraConfig, &'a CameraApi)> {
    let Some(cam) = cfg.cameras.iter().find(|c| c.name == name) else {
        let names: Vec<String> = cfg.cameras.iter().map(|c| format!("{:?}", c.name)).collect();
        bail!("{}: no [[camera]] named {name:?}; cameras: {}", path.display(), names.join(", "));
    };
    let Some(api) = &cam.api else {
        bail!(
            "{}: [[camera]] {name:?} has no url; add url = \"http://<camera address>\" and password_file",
            path.display()
        );
    };
    Ok((cam, api))
}

fn describe(url: &str, info: &DeviceInfo) -> String {
    let kind = if info.is_nvr() { "NVR" } else { "camera" };
    let mut s = format!(
        "{kind} at {url}: model {}, firmware {}, API {}\n",
        info.model.as_deref().unwrap_or("?"),
        info.firmware.as_deref().unwrap_or("?"),
        info.generation
    );
    s.push_str(&format!(
        "  mac {}, serial {}, {} channel(s), {} alarm output(s)\n",
        info.mac.as_deref().unwrap_or("?"),
        info.serial.as_deref().unwrap_or("?"),
        info.channels,
        info.alarm_outputs
    ));
    s
}

fn describe_slots(cfg: &PostConfig, ingest: Option<&Ingest>) -> String {
    let mut s = String::from("  webhook slots (httpPostV2):\n");
    for id in 1..=cfg.max_slots {
        match cfg.slots.iter().find(|x| x.id == id) {
            Some(slot) if !slot.is_free() => {
                let whose = match ingest {
                    Some(i) if slot.points_at(&i.host, i.port) => "camrelay",
                    _ => "someone else's",
                };
                s.push_str(&format!(
                    "    {id}: {} {} ({}), {whose}\n",
                    if slot.enabled { "on " } else { "off" },
                    slot.target(),
                    slot.data.join(", ")
                ));
            }
            _ => s.push_str(&format!("    {id}: free\n")),
        }
    }
    s
}

/// The steps for an NVR, whose post settings have no API.
pub const NVR_STEPS: &str = "The NVR's alarm server has no API: set it in the NVR's web interface:\n  \
Settings > Network > HTTP Post (or Alarm Server): enable, protocol HTTP, address <this Pi's address>, port 5002, path /API,\n  \
tick the event types to send (and \"Smart track data\" is not available on NVRs: traject comes from each camera directly).";

/// `camrelay camera probe`: what the device is, its slots, the block to add.
pub fn probe(url: &str, user: &str, password_file: &Path, name: Option<&str>) -> anyhow::Result<String> {
    let password_file = &absolute(password_file)?;
    let client = Client::new(url, user, read_password(password_file)?)?.with_password_file(password_file);
    runtime()?.block_on(async {
        let info = client.device_info().await?;
        let mut out = describe(url, &info);
        let name = name.map(str::to_string).unwrap_or_else(|| {
            Some(setup::slug(info.name.as_deref().unwrap_or("")))
                .filter(|s| !s.is_empty())
                .unwrap_or("camera".into())
        });
        if info.is_nvr() {
            let channels = client.channels(&info).await?;
            out.push_str("  channels:\n");
            for c in &channels {
                out.push_str(&format!("    {}: {} ({})\n", c.id, c.name.as_deref().unwrap_or(""), c.status));
            }
            out.push_str("\nAdd these to the rules file:\n\n");
            out.push_str(&setup::nvr_blocks(&name, client.host(), &channels));
            out.push_str(NVR_STEPS);
            out.push('\n');
            return Ok::<_, anyhow::Error>(out);
        }
        let post = client.post_config().await?;
        out.push_str(&describe_slots(&post, None));
        out.push_str("\nAdd this to the rules file (or run camrelay camera add):\n\n");
        out.push_str(&setup::camera_block(&name, &info, url, user, &password_file.display().to_string()));
        Ok(out)
    })
}

/// `camrelay camera add`: probe, then put the `[[camera]]` block in the rules file.
pub fn add(path: &Path, name: &str, url: &str, user: &str, password_file: &Path) -> anyhow::Result<String> {
    let cfg = config::load(path)?;
    if cfg.cameras.iter().any(|c| c.name == name) {
        bail!("{}: there is already a [[camera]] named {name:?}", path.display());
    }
    let password_file = &absolute(password_file)?;
    let client = Client::new(url, user, read_password(password_file)?)?.with_password_file(password_file);
    let info = runtime()?.block_on(client.device_info())?;
    if info.is_nvr() {
        bail!("{url} is an NVR: add its cameras as [[camera]] nvr = ..., channel = N blocks (camrelay camera probe prints them)");
    }
    if let Some(other) = cfg.cameras.iter().find(|c| c.mac.is_some() && c.mac == info.mac) {
        bail!(
            "{}: [[camera]] {:?} already matches this camera's MAC {}",
            path.display(),
            other.name,
            info.mac.as_deref().unwrap_or("")
        );
    }
    let block = setup::camera_block(name, &info, url, user, &password_file.display().to_string());
    config::edit::append_blocks(path, &[], &block)?;
    Ok(format!(
        "{}added to {}:\n\n{block}\n{}\n",
        describe(url, &info),
        path.display(),
        crate::reload::after_edit(path)
    ))
}

/// Where the camera should post: `--address`, else the address of this
/// machine on the route to the camera and the ingest port.
fn ingest_for(cfg: &Config, client: &Client, address: Option<&str>) -> anyhow::Result<Ingest> {
    let path = cfg.server.paths.first().cloned().unwrap_or_else(|| "/API".to_string());
    if let Some(a) = address {
        let addr: SocketAddr =
            a.parse().with_context(|| format!("--address {a:?}: write it as 192.168.1.5:5002"))?;
        return Ok(Ingest { host: addr.ip().to_string(), port: addr.port(), path });
    }
    let listen = cfg.server.listen;
    let host = client.ingest_host(listen.ip()).with_context(|| {
        format!("cannot tell this machine's address towards {}; give it with --address", client.host())
    })?;
    Ok(Ingest { host: host.to_string(), port: listen.port(), path })
}

fn state_path(rules: &Path) -> PathBuf {
    rules
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("camrelay-subscriptions.json")
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Subscriptions {
    /// Camera name → (slot, the slot's XML before subscribe; `None`: it did not exist).
    cameras: std::collections::BTreeMap<String, (u32, Option<String>)>,
}

fn read_state(rules: &Path) -> Subscriptions {
    std::fs::read(state_path(rules)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn write_state(rules: &Path, s: &Subscriptions) -> anyhow::Result<()> {
    let p = state_path(rules);
    config::edit::write_atomically(&p, &serde_json::to_vec_pretty(s)?, false)
        .with_context(|| format!("cannot write {}", p.display()))
}

/// `camrelay camera subscribe`.
pub fn subscribe(
    path: &Path,
    name: &str,
    slot: Option<u32>,
    images: bool,
    address: Option<&str>,
    daemon_api: Option<&str>,
    wait: Duration,
) -> anyhow::Result<String> {
    let cfg = config::load(path)?;
    let (cam, api) = camera(&cfg, path, name)?;
    let client = client_for(api)?;
    let ingest = ingest_for(&cfg, &client, address)?;
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    let rt = runtime()?;
    let (info, choice) = rt.block_on(async {
        let info = client.device_info().await?;
        let post = client.post_config().await?;
        let choice = setup::choose_slot(&post, &ingest, slot)?;
        if let SlotChoice::Use(id) = choice {
            let previous = setup::slot_element(&post, id).map(|e| {
                let mut s = String::new();
                e.write(&mut s);
                s
            });
            let ours = setup::our_slot_like(setup::slot_template(&post, id), id, &ingest, images);
            client.set_post_config(&setup::with_slot(&post, id, Some(ours.clone()))).await?;
            let back = client.post_config().await?;
            let differs = setup::slot_differences(&ours, back.slots.iter().find(|s| s.id == id));
            if !differs.is_empty() {
                return Err(anyhow!(
                    "the camera accepted slot {id} but reads it back otherwise ({}); check it in its web interface (Network > HTTP POST)",
                    differs.join("; ")
                ));
            }
            let mut state = read_state(path);
            state.cameras.entry(name.to_string()).or_insert((id, previous));
            write_state(path, &state)?;
        }
        Ok::<_, anyhow::Error>((info, choice))
    })?;
    let mut out = match choice {
        SlotChoice::AlreadyHere(id) => format!(
            "{name}: slot {id} already posts to http://{}:{}{}\n",
            ingest.host, ingest.port, ingest.path
        ),
        SlotChoice::Use(id) => format!(
            "{name}: slot {id} now posts {} to http://{}:{}{} (read back and verified in {} ms)\n",
            setup::DATA.join(", "),
            ingest.host,
            ingest.port,
            ingest.path,
            t0.elapsed().as_millis()
        ),
    };
    if wait.is_zero() {
        return Ok(out);
    }
    let mac = info.mac.clone().or_else(|| cam.mac.clone());
    let daemon = match daemon_api {
        Some(a) => a.parse().with_context(|| format!("--api {a:?}: write it as 127.0.0.1:5003"))?,
        None => crate::reload::api_address(path)?,
    };
    match wait_for_post(daemon, mac.as_deref(), started, wait) {
        Ok(after) => out.push_str(&format!(
            "{name}: its first traject post reached camrelay after {:.1} s\n",
            after.as_secs_f64()
        )),
        Err(e) => return Err(e.context(out.trim_end().to_string())),
    }
    Ok(out)
}

fn wait_for_post(
    addr: SocketAddr,
    mac: Option<&str>,
    since: chrono::DateTime<chrono::Utc>,
    wait: Duration,
) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    loop {
        let status = crate::reload::status(addr)
            .context("subscribed, but camrelay is not running to receive the posts: start it (systemctl start camrelay)")?;
        let arrived = status["devices"].as_array().into_iter().flatten().any(|d| {
            let same = mac.is_some_and(|m| d["mac"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(m)));
            let at =
                d["last_event"]["at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            same && d["last_event"]["kind"] == "traject"
                && at.is_some_and(|t| t >= since - chrono::Duration::seconds(1))
        });
        if arrived {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > wait {
            bail!("no traject post arrived within {} s: is someone in view, is \"Smart track data\" on in the camera, and does [server] allow let it in? (journalctl -u camrelay)", wait.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `camrelay camera unsubscribe`: put back the slot subscribe changed.
pub fn unsubscribe(path: &Path, name: &str) -> anyhow::Result<String> {
    let cfg = config::load(path)?;
    let (_, api) = camera(&cfg, path, name)?;
    let mut state = read_state(path);
    let Some((id, previous)) = state.cameras.get(name).cloned() else {
        bail!(
            "{name}: camrelay camera subscribe did not change this camera (nothing in {})",
            state_path(path).display()
        );
    };
    let client = client_for(api)?;
    runtime()?.block_on(async {
        let post = client.post_config().await?;
        let restored = match &previous {
            Some(x) => Some(
                xml::parse(x.as_bytes())
                    .map_err(|e| anyhow!("{}: slot {id}: {e}", state_path(path).display()))?,
            ),
            None => None,
        };
        client.set_post_config(&setup::with_slot(&post, id, restored)).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    state.cameras.remove(name);
    write_state(path, &state)?;
    Ok(format!("{name}: slot {id} is back as it was before subscribe\n"))
}

/// `camrelay camera snapshot`.
pub fn snapshot(path: &Path, name: &str, out: &Path) -> anyhow::Result<String> {
    let cfg = config::load(path)?;
    let (cam, api) = camera(&cfg, path, name)?;
    let client = client_for(api)?;
    let jpeg = runtime()?.block_on(client.snapshot(cam.channel))?;
    std::fs::write(out, &jpeg).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(format!("{name}: {} bytes of JPEG in {}\n", jpeg.len(), out.display()))
}

/// `camrelay camera zones`: the camera's regions and lines as `[[zone]]`
/// blocks, printed, or with `write` put in the rules file (replacing zones
/// of the same names from an earlier import).
pub fn zones(path: &Path, name: &str, write: bool) -> anyhow::Result<String> {
    let cfg = config::load(path)?;
    let (_, api) = camera(&cfg, path, name)?;
    let client = client_for(api)?;
    let zones = runtime()?.block_on(setup::drawn_zones(&client, name))?;
    if zones.is_empty() {
        return Ok(format!("{name}: the camera has no regions or lines drawn\n"));
    }
    let text: String = zones.iter().map(|z| format!("\n{}", z.block(name))).collect();
    if !write {
        return Ok(text);
    }
    let names: Vec<String> = zones.iter().map(|z| z.name.clone()).collect();
    config::edit::append_blocks(path, &names, &text)?;
    Ok(format!(
        "{name}: {} written to {}:\n{text}\n{}\n",
        crate::words::count(zones.len(), "zone"),
        path.display(),
        crate::reload::after_edit(path)
    ))
}
