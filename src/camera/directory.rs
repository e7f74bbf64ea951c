//! The daemon's view of the cameras: the pictures of those with a `url`
//! (fetched on demand, cached a few seconds, one request in flight and one
//! image held per camera), the last full frame a post carried for the others
//! (one per configured camera, decoded only when asked for), whether their
//! subscription still posts here (checked at start and every few minutes,
//! never changed), and the regions drawn in the camera, for the zone editor.
//!
//! Shared by the API task (snapshots) and the core (status); updated on
//! reload. It must never touch the engine or a relay, and never change a
//! camera's settings.

use super::client::CameraError;
use crate::config::CameraConfig;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A snapshot younger than this is served from the cache.
pub const CACHE_FOR: Duration = Duration::from_secs(3);
/// How often subscriptions are checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(300);
/// A camera whose traject arrived this recently posts here, whatever a check said.
pub const POSTS_PROVE: Duration = Duration::from_secs(600);

/// A camera's subscription, as last checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub camera: String,
    pub checked_at: DateTime<Utc>,
    /// `Some(true)`: a switched-on slot posts here; `Some(false)`: none does;
    /// `None`: the camera could not be asked (see `detail`).
    pub posts_here: Option<bool>,
    pub detail: String,
}

type Cached = Arc<tokio::sync::Mutex<Option<(Instant, Bytes)>>>;

#[derive(Debug, Clone)]
struct Entry {
    camera: CameraConfig,
    cache: Cached,
    /// Base64 text of the last full frame a post carried.
    posted: Arc<Mutex<Option<Bytes>>>,
}

/// Where a picture came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureSource {
    /// The camera's own snapshot, fetched through its API.
    Live,
    /// The last full frame a post carried.
    Posted,
}

impl PictureSource {
    pub fn word(self) -> &'static str {
        match self {
            PictureSource::Live => "live",
            PictureSource::Posted => "posted",
        }
    }
}

/// Why a snapshot could not be served.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no [[camera]] named {0:?}")]
    Unknown(String),
    #[error("[[camera]] {0:?} has no url: camrelay cannot ask it for a picture")]
    NoUrl(String),
    #[error("[[camera]] {0:?} has no url and none of its posts carried a picture yet")]
    NoPicture(String),
    #[error("{0}")]
    Camera(String),
}

/// The cameras with an API, by name.
#[derive(Debug, Default)]
pub struct Directory {
    entries: Mutex<Vec<Entry>>,
    subscriptions: Mutex<Vec<Subscription>>,
    /// When each camera's traject last arrived here: proof that it posts
    /// here, whatever its slots say (a slot set by hand to a host name).
    posts: Mutex<std::collections::HashMap<String, (DateTime<Utc>, Instant)>>,
    /// Woken by [`Directory::set`]: a reload that adds a camera gets it checked at once.
    changed: tokio::sync::Notify,
}

impl Directory {
    pub fn new() -> Directory {
        Directory::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configured cameras (at start and after each reload); a camera
    /// whose settings did not change keeps its cached picture.
    pub fn set(&self, cameras: &[CameraConfig]) {
        let mut entries = self.lock();
        let old = std::mem::take(&mut *entries);
        *entries = cameras
            .iter()
            .map(|c| {
                let same = old.iter().find(|e| e.camera == *c);
                let cache = same.map(|e| e.cache.clone()).unwrap_or_default();
                let posted = same.map(|e| e.posted.clone()).unwrap_or_default();
                Entry { camera: c.clone(), cache, posted }
            })
            .collect();
        let names: Vec<&str> = cameras.iter().map(|c| c.name.as_str()).collect();
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| names.contains(&s.camera.as_str()));
        self.changed.notify_one();
    }

    /// Wait until the cameras change, or `every` passes.
    pub async fn changed_or(&self, every: Duration) {
        let _ = tokio::time::timeout(every, self.changed.notified()).await;
    }

    /// The camera's current picture: cached for [`CACHE_FOR`]; concurrent
    /// callers wait for the one fetch in flight; the old picture is dropped
    /// before a new one is fetched, so one image per camera is held.
    pub async fn snapshot(&self, name: &str) -> Result<Bytes, SnapshotError> {
        let entry = self.lock().iter().find(|e| e.camera.name == name).cloned();
        let Some(entry) = entry else { return Err(SnapshotError::Unknown(name.to_string())) };
        let Some(api) = &entry.camera.api else { return Err(SnapshotError::NoUrl(name.to_string())) };
        let mut cached = entry.cache.lock().await;
        if let Some((at, jpeg)) = cached.as_ref() {
            if at.elapsed() < CACHE_FOR {
                return Ok(jpeg.clone());
            }
        }
        *cached = None;
        let client = super::cli::client_for(api).map_err(|e| SnapshotError::Camera(format!("{e:#}")))?;
        let jpeg =
            client.snapshot(entry.camera.channel).await.map_err(|e| SnapshotError::Camera(e.to_string()))?;
        let jpeg = Bytes::from(jpeg);
        *cached = Some((Instant::now(), jpeg.clone()));
        Ok(jpeg)
    }

    /// Keep the base64 text of a full frame a post of camera `name` carried
    /// (replacing the one before); unconfigured devices' pictures are not kept.
    pub fn keep_posted(&self, name: &str, base64: &[u8]) {
        if let Some(e) = self.lock().iter().find(|e| e.camera.name == name) {
            *e.posted.lock().unwrap_or_else(|p| p.into_inner()) = Some(Bytes::copy_from_slice(base64));
        }
    }

    /// The camera's picture: live through its API when it has a `url`,
    /// else the last full frame one of its posts carried.
    pub async fn picture(&self, name: &str) -> Result<(Bytes, PictureSource), SnapshotError> {
        let entry = self.lock().iter().find(|e| e.camera.name == name).cloned();
        let Some(entry) = entry else { return Err(SnapshotError::Unknown(name.to_string())) };
        if entry.camera.api.is_some() {
            return self.snapshot(name).await.map(|j| (j, PictureSource::Live));
        }
        let posted = entry.posted.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(text) = posted else { return Err(SnapshotError::NoPicture(name.to_string())) };
        let image = crate::decode::ImageRef {
            role: crate::decode::ImageRole::Overview,
            declared_len: None,
            range: 0..text.len(),
            target: None,
        };
        // Half a megabyte of base64: decoded on the blocking pool, never on
        // the daemon's one thread, where the relay timers run.
        let jpeg = tokio::task::spawn_blocking(move || crate::decode::image_bytes(&text, &image))
            .await
            .map_err(|e| SnapshotError::Camera(format!("the picture's decoder stopped: {e}")))?
            .map_err(|e| SnapshotError::Camera(e.to_string()))?;
        Ok((Bytes::from(jpeg), PictureSource::Posted))
    }

    /// The regions and lines drawn in the camera itself, as zones named as
    /// `camrelay camera zones` names them.
    pub async fn drawn_zones(&self, name: &str) -> Result<Vec<super::setup::ImportedZone>, SnapshotError> {
        let entry = self.lock().iter().find(|e| e.camera.name == name).cloned();
        let Some(entry) = entry else { return Err(SnapshotError::Unknown(name.to_string())) };
        let Some(api) = &entry.camera.api else { return Err(SnapshotError::NoUrl(name.to_string())) };
        let client = super::cli::client_for(api).map_err(|e| SnapshotError::Camera(format!("{e:#}")))?;
        super::setup::drawn_zones(&client, name).await.map_err(|e| SnapshotError::Camera(e.to_string()))
    }

    /// A traject post of camera `name` arrived.
    pub fn saw_post(&self, name: &str) {
        let mut posts = self.posts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, last)) = posts.get_mut(name) {
            *last = Instant::now();
        } else if posts.len() < 1024 {
            posts.insert(name.to_string(), (Utc::now(), Instant::now()));
        }
    }

    /// The last subscription checks, and for a camera whose traject arrived
    /// within [`POSTS_PROVE`], that it posts here: the page never says
    /// "does not post here" beside a camera that is posting.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let posts = self.posts.lock().unwrap_or_else(|p| p.into_inner());
        let with_url: Vec<String> =
            self.lock().iter().filter(|e| e.camera.api.is_some()).map(|e| e.camera.name.clone()).collect();
        for name in with_url {
            let Some((first, last)) = posts.get(&name) else { continue };
            if last.elapsed() > POSTS_PROVE {
                continue;
            }
            let detail = format!(
                "its traject arrives here (first at {}, last {} s ago)",
                first.format("%H:%M:%S UTC"),
                last.elapsed().as_secs()
            );
            match subs.iter_mut().find(|s| s.camera == name) {
                Some(s) if s.posts_here != Some(true) => {
                    s.posts_here = Some(true);
                    s.detail = detail;
                }
                Some(_) => {}
                None => subs.push(Subscription {
                    camera: name,
                    checked_at: Utc::now(),
                    posts_here: Some(true),
                    detail,
                }),
            }
        }
        subs
    }

    /// Ask every camera with a `url` whether a switched-on slot posts to
    /// `ingest` (its port; the host is this machine's address on the route to
    /// the camera unless the listener names one).
    pub async fn check_subscriptions(&self, ingest: SocketAddr) {
        let cameras: Vec<CameraConfig> = self.lock().iter().map(|e| e.camera.clone()).collect();
        for cam in cameras {
            let Some(api) = &cam.api else { continue };
            let result = async {
                let client = super::cli::client_for(api).map_err(|e| format!("{e:#}"))?;
                let host = client
                    .ingest_host(ingest.ip())
                    .map_err(|e| format!("cannot tell this machine's address towards the camera: {e}"))?
                    .to_string();
                let post = client.post_config().await.map_err(|e: CameraError| e.to_string())?;
                Ok::<_, String>(
                    match post.slots.iter().find(|s| s.enabled && s.points_at(&host, ingest.port())) {
                        Some(s) => {
                            (true, format!("slot {} posts {} to {}", s.id, s.data.join(", "), s.target()))
                        }
                        None => (
                            false,
                            format!(
                                "no slot posts to {host}:{}: run camrelay camera subscribe",
                                ingest.port()
                            ),
                        ),
                    },
                )
            }
            .await;
            let (posts_here, detail) = match result {
                Ok((here, d)) => (Some(here), d),
                Err(e) => (None, e),
            };
            if posts_here == Some(false) {
                tracing::warn!(camera = %cam.name, %detail, "camera subscription does not post here");
            } else if posts_here.is_none() {
                tracing::warn!(camera = %cam.name, %detail, "camera subscription could not be checked");
            }
            let s = Subscription { camera: cam.name.clone(), checked_at: Utc::now(), posts_here, detail };
            let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
            subs.retain(|x| x.camera != s.camera);
            subs.push(s);
        }
    }
}
