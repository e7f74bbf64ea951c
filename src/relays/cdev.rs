//! Linux GPIO character-device backend (`/dev/gpiochipN`) through `gpiocdev`.
//!
//! Owns finding each relay's chip (path, name or label) and line (offset or
//! name, searched across chips), checking them before asking the kernel so a
//! refusal names the chips that exist, the chip's line count or the consumer
//! holding a line, and requesting every configured line once, as an output,
//! initially off, with consumer label `camrelay`. The kernel applies the
//! relay's active level (the active-low flag), so `set(on)` is always the
//! logical state. It must never request a line "as is" or on, and never
//! release a line without driving it off first.
//!
//! Drive and bias are left at the kernel's defaults (push-pull, bias as is):
//! the rules file has no keys for them yet, and relay boards need neither.

use super::{Backend, GpioError};
use crate::clock::Instant;
use crate::config::{GpioConfig, RelayConfig};

#[cfg(target_os = "linux")]
pub use linux::{open_inputs, CdevBackend};
#[cfg(not(target_os = "linux"))]
pub use other::{open_inputs, CdevBackend};

/// The consumer label the kernel shows (`gpioinfo`) for every line camrelay holds.
pub const CONSUMER: &str = "camrelay";

/// Which GPIO character-device ABI to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Uapi {
    /// v2 where the kernel has it (Linux 5.10 and later), else v1.
    #[default]
    Auto,
    /// The v1 ABI that kernels before 5.10 speak (one request per line).
    V1,
    /// The v2 ABI (one request per chip).
    V2,
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use crate::clock::SystemClock;
    use crate::config::{Bias, InputConfig};
    use crate::relays::input::{Edge, InputLines};
    use gpiocdev::line::{Bias as LineBias, EdgeDetection, EdgeKind, Offset, Value};
    use gpiocdev::{AbiVersion, Chip, Request};
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    // Linux errno values (the same on every architecture camrelay targets).
    const EPERM: i32 = 1;
    const EACCES: i32 = 13;
    const EBUSY: i32 = 16;

    /// All relay lines, held from the kernel until the backend is dropped.
    pub struct CdevBackend {
        relays: Vec<RelayLine>,
        requests: Vec<Held>,
    }

    /// Where one relay (by its index in the configuration) lives.
    struct RelayLine {
        name: String,
        chip: String,
        offset: Offset,
        request: usize,
    }

    /// One kernel line request: all lines of a chip (uAPI v2), or one line (v1,
    /// whose requests can only set all their lines at once).
    struct Held {
        chip: String,
        offsets: Vec<Offset>,
        request: Request,
    }

    /// A chip found under /dev, opened if we may.
    struct ChipEntry {
        path: PathBuf,
        name: String,
        label: Option<String>,
        lines: u32,
        chip: Option<Chip>,
        denied: bool,
    }

    impl ChipEntry {
        /// `/dev/gpiochip0 (9030000.pl061)`: how messages name a chip.
        fn display(&self) -> String {
            match &self.label {
                Some(label) => format!("{} ({label})", self.path.display()),
                None => self.path.display().to_string(),
            }
        }

        /// One entry of the "chips on this system" list.
        fn listing(&self) -> String {
            match (&self.label, self.denied) {
                (Some(label), _) => format!("{} (label {label}, {} lines)", self.path.display(), self.lines),
                (None, true) => format!("{} (permission denied)", self.path.display()),
                (None, false) => format!("{} (cannot be opened)", self.path.display()),
            }
        }
    }

    /// The relays (indices) that go into one kernel request.
    struct Group {
        chip: usize,
        /// The line, for v1 (one request per line); None for v2 (one per chip).
        line: Option<Offset>,
        abi: AbiVersion,
        members: Vec<usize>,
    }

    /// A line camrelay wants, as the rules file names it: a relay's or an input's.
    struct Wanted<'a> {
        /// `relay` or `input`, for messages.
        what: &'static str,
        name: &'a str,
        line: &'a crate::config::LineRef,
        chip: Option<&'a str>,
        active_low: bool,
    }

    impl<'a> Wanted<'a> {
        fn relay(r: &'a RelayConfig) -> Wanted<'a> {
            Wanted {
                what: "relay",
                name: &r.name,
                line: &r.line,
                chip: r.chip.as_deref(),
                active_low: r.active_low,
            }
        }

        fn input(i: &'a InputConfig) -> Wanted<'a> {
            Wanted {
                what: "input",
                name: &i.name,
                line: &i.line,
                chip: i.chip.as_deref(),
                active_low: i.active_low,
            }
        }
    }

    /// A relay's line, resolved to a chip (index into the survey) and offset.
    struct Resolved {
        chip: usize,
        offset: Offset,
        active_low: bool,
    }

    impl CdevBackend {
        /// Request every relay's line as an output, initially off, speaking
        /// uAPI v2 where the kernel has it and v1 otherwise.
        pub fn open(gpio: &GpioConfig, relays: &[RelayConfig]) -> Result<CdevBackend, GpioError> {
            Self::open_with_uapi(gpio, relays, Uapi::Auto)
        }

        /// [`CdevBackend::open`] with the ABI chosen by the caller (tests force v1
        /// to cover the fallback on a kernel that has both).
        pub fn open_with_uapi(
            gpio: &GpioConfig,
            relays: &[RelayConfig],
            uapi: Uapi,
        ) -> Result<CdevBackend, GpioError> {
            let chips = survey();
            let wanted: Vec<Wanted> = relays.iter().map(Wanted::relay).collect();
            let resolved = resolve_all(&wanted, gpio.chip.as_deref(), &chips)?;

            // Group into requests: one per chip for v2, one per line for v1.
            let groups = group(&resolved, &chips, uapi)?;

            let mut requests = Vec::with_capacity(groups.len());
            let mut lines: Vec<Option<RelayLine>> = relays.iter().map(|_| None).collect();
            for Group { chip, abi, members, .. } in groups {
                let entry = &chips[chip];
                let mut builder = Request::builder();
                builder.on_chip(&entry.path).with_consumer(CONSUMER).using_abi_version(abi);
                for &i in &members {
                    builder.with_line(resolved[i].offset).as_output(Value::Inactive);
                    if resolved[i].active_low {
                        builder.as_active_low();
                    }
                }
                let request = builder.request().map_err(|e| {
                    request_error(
                        e,
                        entry,
                        members.iter().map(|&i| (&wanted[i], resolved[i].offset)),
                        "outputs",
                    )
                })?;
                for &i in &members {
                    lines[i] = Some(RelayLine {
                        name: relays[i].name.clone(),
                        chip: entry.display(),
                        offset: resolved[i].offset,
                        request: requests.len(),
                    });
                }
                requests.push(Held {
                    chip: entry.display(),
                    offsets: members.iter().map(|&i| resolved[i].offset).collect(),
                    request,
                });
            }
            let relays = lines.into_iter().flatten().collect();
            Ok(CdevBackend { relays, requests })
        }

        /// Every relay's logical state as the kernel reads it back from the
        /// chip (true = on), in configuration order. The physical level is this
        /// value inverted for lines the kernel reports as active-low.
        pub fn line_levels(&self) -> Result<Vec<bool>, GpioError> {
            self.relays
                .iter()
                .map(|r| {
                    self.requests[r.request].request.value(r.offset).map(|v| v == Value::Active).map_err(
                        |e| GpioError::Io {
                            what: format!("relay {:?} (line {} of {})", r.name, r.offset, r.chip),
                            message: format!("reading its level back: {e}"),
                        },
                    )
                })
                .collect()
        }

        fn all_off(&mut self) {
            for r in &self.relays {
                // Best effort: this runs on the way out, where there is no one
                // left to report to but the log.
                if let Err(e) = self.requests[r.request].request.set_value(r.offset, Value::Inactive) {
                    tracing::error!(relay = %r.name, line = r.offset, chip = %r.chip, error = %e,
                        "could not drive the relay off while releasing its line");
                }
            }
        }
    }

    impl Drop for CdevBackend {
        /// The kernel keeps a released output at its last level (on the Pi and
        /// most chips), so the lines are driven off before they are let go.
        fn drop(&mut self) {
            self.all_off();
        }
    }

    impl Backend for CdevBackend {
        fn set(&mut self, index: usize, on: bool, _at: Instant, reason: &str) -> Result<(), GpioError> {
            let r = self.relays.get(index).ok_or_else(|| GpioError::Io {
                what: format!("relay #{index}"),
                message: format!("the cdev backend holds only {} relays", self.relays.len()),
            })?;
            let value = if on { Value::Active } else { Value::Inactive };
            self.requests[r.request].request.set_value(r.offset, value).map_err(|e| GpioError::Io {
                what: format!("relay {:?} (line {} of {})", r.name, r.offset, r.chip),
                message: format!("switching it {} ({reason}): {e}", if on { "on" } else { "off" }),
            })
        }

        fn describe(&self) -> String {
            let mut by_chip: Vec<(&str, Vec<Offset>)> = Vec::new();
            for held in &self.requests {
                match by_chip.iter_mut().find(|(c, _)| *c == held.chip) {
                    Some((_, offsets)) => offsets.extend(&held.offsets),
                    None => by_chip.push((&held.chip, held.offsets.clone())),
                }
            }
            let parts: Vec<String> = by_chip
                .into_iter()
                .map(|(chip, mut offsets)| {
                    offsets.sort_unstable();
                    let list: Vec<String> = offsets.iter().map(|o| o.to_string()).collect();
                    format!("{chip} lines {}", list.join(","))
                })
                .collect();
            format!("cdev {}", parts.join("; "))
        }
    }

    /// Every GPIO chip under /dev, with its label and line count where it can be opened.
    fn survey() -> Vec<ChipEntry> {
        let paths = gpiocdev::chip::chips().unwrap_or_default();
        paths
            .into_iter()
            .map(|path| {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let mut entry = ChipEntry { path, name, label: None, lines: 0, chip: None, denied: false };
                match Chip::from_path(&entry.path) {
                    Ok(chip) => {
                        if let Ok(info) = chip.info() {
                            entry.label = Some(info.label);
                            entry.lines = info.num_lines;
                            entry.chip = Some(chip);
                        }
                    }
                    Err(e) => entry.denied = is_denied(&e),
                }
                entry
            })
            .collect()
    }

    /// Find a chip by path (`/dev/gpiochip0`, or a udev symlink to it), name
    /// (`gpiochip0`) or label (`pinctrl-rp1`).
    fn find_chip(spec: &str, chips: &[ChipEntry]) -> Result<usize, GpioError> {
        let by_path = if spec.contains('/') {
            match std::fs::canonicalize(spec) {
                Ok(p) => chips.iter().position(|c| c.path == p),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(GpioError::PermissionDenied { path: spec.to_string() })
                }
                Err(_) => None,
            }
        } else {
            None
        };
        let found = by_path
            .or_else(|| chips.iter().position(|c| c.name == spec))
            .or_else(|| chips.iter().position(|c| c.label.as_deref() == Some(spec)));
        match found {
            Some(i) if chips[i].chip.is_some() => Ok(i),
            Some(i) if chips[i].denied => Err(denied(&chips[i].path)),
            Some(i) => Err(GpioError::Io {
                what: chips[i].path.display().to_string(),
                message: "it is a GPIO chip but could not be opened or queried".into(),
            }),
            // A label can only be matched on chips we may open.
            None => match chips.iter().find(|c| c.denied) {
                Some(c) if !spec.contains('/') => Err(denied(&c.path)),
                _ => Err(GpioError::ChipNotFound {
                    chip: spec.to_string(),
                    available: chips.iter().map(ChipEntry::listing).collect(),
                }),
            },
        }
    }

    /// The chip and offset of one relay's line.
    /// Every wanted line resolved, refused when two are one line or one is
    /// held by someone else. Line info is asked first: a refused request
    /// only says EBUSY, the info says who holds the line.
    fn resolve_all(
        wanted: &[Wanted],
        default_chip: Option<&str>,
        chips: &[ChipEntry],
    ) -> Result<Vec<Resolved>, GpioError> {
        let mut resolved = Vec::with_capacity(wanted.len());
        for w in wanted {
            resolved.push(resolve(w, default_chip, chips)?);
        }
        refuse_duplicates(wanted, &resolved, chips)?;
        for (w, r) in wanted.iter().zip(&resolved) {
            check_free(w, r, chips)?;
        }
        Ok(resolved)
    }

    fn resolve(w: &Wanted, default_chip: Option<&str>, chips: &[ChipEntry]) -> Result<Resolved, GpioError> {
        let spec = w.chip.or(default_chip);
        let active_low = w.active_low;
        match w.line {
            crate::config::LineRef::Offset(offset) => {
                let chip = find_chip(spec.unwrap_or("gpiochip0"), chips)?;
                if *offset >= chips[chip].lines {
                    return Err(GpioError::LineOutOfRange {
                        what: w.what,
                        relay: w.name.to_string(),
                        line: *offset,
                        chip: chips[chip].display(),
                        lines: chips[chip].lines,
                    });
                }
                Ok(Resolved { chip, offset: *offset, active_low })
            }
            crate::config::LineRef::Name(name) => {
                let candidates: Vec<usize> = match spec {
                    Some(s) => vec![find_chip(s, chips)?],
                    None => (0..chips.len()).filter(|&i| chips[i].chip.is_some()).collect(),
                };
                for &i in &candidates {
                    if let Some(info) = chips[i].chip.as_ref().and_then(|c| c.find_line_info(name)) {
                        return Ok(Resolved { chip: i, offset: info.offset, active_low });
                    }
                }
                if spec.is_none() {
                    if let Some(c) = chips.iter().find(|c| c.denied) {
                        // The line may well be on the chip we may not read.
                        return Err(denied(&c.path));
                    }
                }
                let searched = if candidates.is_empty() {
                    "no GPIO chips on this system".to_string()
                } else {
                    let names: Vec<String> = candidates.iter().map(|&i| chips[i].display()).collect();
                    format!("searched {}", names.join(", "))
                };
                Err(GpioError::LineNotFound {
                    what: w.what,
                    relay: w.name.to_string(),
                    line: name.clone(),
                    searched,
                })
            }
        }
    }

    fn refuse_duplicates(
        wanted: &[Wanted],
        resolved: &[Resolved],
        chips: &[ChipEntry],
    ) -> Result<(), GpioError> {
        let mut seen: HashMap<(usize, Offset), usize> = HashMap::new();
        for (i, r) in resolved.iter().enumerate() {
            if let Some(&first) = seen.get(&(r.chip, r.offset)) {
                return Err(GpioError::DuplicateLine {
                    what: wanted[i].what,
                    first: wanted[first].name.to_string(),
                    second: wanted[i].name.to_string(),
                    line: r.offset.to_string(),
                    chip: chips[r.chip].display(),
                });
            }
            seen.insert((r.chip, r.offset), i);
        }
        Ok(())
    }

    fn check_free(w: &Wanted, r: &Resolved, chips: &[ChipEntry]) -> Result<(), GpioError> {
        let entry = &chips[r.chip];
        let Some(chip) = &entry.chip else { return Err(denied(&entry.path)) };
        let info = chip.line_info(r.offset).map_err(|e| GpioError::Io {
            what: format!("line {} of {}", r.offset, entry.display()),
            message: format!("reading line info: {e}"),
        })?;
        if info.used {
            return Err(busy(w, r.offset, entry, &info.consumer));
        }
        Ok(())
    }

    fn busy(w: &Wanted, offset: Offset, entry: &ChipEntry, consumer: &str) -> GpioError {
        GpioError::LineBusy {
            what: w.what,
            relay: w.name.to_string(),
            line: offset,
            chip: entry.display(),
            consumer: if consumer.is_empty() {
                "(no label: a kernel driver or device-tree hog)".to_string()
            } else {
                consumer.to_string()
            },
        }
    }

    /// Lines (indices into `resolved`) grouped into kernel requests: one per
    /// chip for v2, one per line for v1.
    fn group(resolved: &[Resolved], chips: &[ChipEntry], uapi: Uapi) -> Result<Vec<Group>, GpioError> {
        let mut groups: Vec<Group> = Vec::new();
        for (i, r) in resolved.iter().enumerate() {
            let abi = abi_for(&chips[r.chip], uapi)?;
            let line = if abi == AbiVersion::V1 { Some(r.offset) } else { None };
            match groups.iter_mut().find(|g| g.chip == r.chip && g.line == line) {
                Some(g) => g.members.push(i),
                None => groups.push(Group { chip: r.chip, line, abi, members: vec![i] }),
            }
        }
        Ok(groups)
    }

    fn abi_for(entry: &ChipEntry, uapi: Uapi) -> Result<AbiVersion, GpioError> {
        match uapi {
            Uapi::V1 => Ok(AbiVersion::V1),
            Uapi::V2 => Ok(AbiVersion::V2),
            Uapi::Auto => match &entry.chip {
                Some(chip) => chip.detect_abi_version().map_err(|e| GpioError::Io {
                    what: entry.display(),
                    message: format!("the kernel speaks neither GPIO uAPI v2 nor v1: {e}"),
                }),
                None => Err(denied(&entry.path)),
            },
        }
    }

    /// Turn a refused request into the error that says what to do.
    /// `as_what`: `outputs` or `inputs`, for the message.
    fn request_error<'a, 'w: 'a>(
        e: gpiocdev::Error,
        entry: &ChipEntry,
        lines: impl Iterator<Item = (&'a Wanted<'w>, Offset)>,
        as_what: &str,
    ) -> GpioError {
        let lines: Vec<(&Wanted, Offset)> = lines.collect();
        match errno(&e) {
            Some(EBUSY) => {
                // Someone took a line between our check and the request: ask who.
                for (relay, offset) in &lines {
                    if let Some(info) = entry.chip.as_ref().and_then(|c| c.line_info(*offset).ok()) {
                        if info.used {
                            return busy(relay, *offset, entry, &info.consumer);
                        }
                    }
                }
            }
            Some(EACCES) | Some(EPERM) => return denied(&entry.path),
            _ => {}
        }
        let offsets: Vec<String> = lines.iter().map(|(_, o)| o.to_string()).collect();
        GpioError::Io {
            what: format!("lines {} of {}", offsets.join(","), entry.display()),
            message: format!("requesting them as {as_what}: {e}"),
        }
    }

    fn errno(e: &gpiocdev::Error) -> Option<i32> {
        match e {
            gpiocdev::Error::Os(errno) => Some(errno.0),
            gpiocdev::Error::Uapi(_, gpiocdev_uapi::Error::Os(errno)) => Some(errno.0),
            _ => None,
        }
    }

    fn is_denied(e: &gpiocdev::Error) -> bool {
        matches!(errno(e), Some(EACCES) | Some(EPERM))
    }

    fn denied(path: &Path) -> GpioError {
        GpioError::PermissionDenied { path: path.display().to_string() }
    }

    /// Request every input's line as an input with edge detection on both
    /// edges, its bias and (uAPI v2) the kernel's debounce, and start a
    /// reader thread per request. Errors name the input.
    pub fn open_inputs(
        gpio: &GpioConfig,
        inputs: &[InputConfig],
        clock: SystemClock,
        stop: Arc<AtomicBool>,
    ) -> Result<InputLines, GpioError> {
        let chips = survey();
        let wanted: Vec<Wanted> = inputs.iter().map(Wanted::input).collect();
        let resolved = resolve_all(&wanted, gpio.chip.as_deref(), &chips)?;
        let groups = group(&resolved, &chips, Uapi::Auto)?;
        let (tx, rx) = super::super::input::edge_channel();
        let mut initial = vec![false; inputs.len()];
        let mut debounce = vec![std::time::Duration::ZERO; inputs.len()];
        let mut described = Vec::new();
        for Group { chip, abi, members, .. } in groups {
            let entry = &chips[chip];
            let mut builder = Request::builder();
            builder.on_chip(&entry.path).with_consumer(CONSUMER).using_abi_version(abi);
            for &i in &members {
                let input = &inputs[i];
                builder
                    .with_line(resolved[i].offset)
                    .as_input()
                    .with_edge_detection(EdgeDetection::BothEdges);
                if input.active_low {
                    builder.as_active_low();
                }
                match input.bias {
                    Bias::AsIs => {}
                    Bias::PullUp => {
                        builder.with_bias(LineBias::PullUp);
                    }
                    Bias::PullDown => {
                        builder.with_bias(LineBias::PullDown);
                    }
                    Bias::Disabled => {
                        builder.with_bias(LineBias::Disabled);
                    }
                }
                if abi == AbiVersion::V2 && !input.debounce.is_zero() {
                    builder.with_debounce_period(input.debounce);
                } else {
                    // uAPI v1 has no debounce: camrelay does it.
                    debounce[i] = input.debounce;
                }
            }
            let request = builder.request().map_err(|e| {
                request_error(e, entry, members.iter().map(|&i| (&wanted[i], resolved[i].offset)), "inputs")
            })?;
            let mut by_offset = Vec::new();
            for &i in &members {
                let value = request.value(resolved[i].offset).map_err(|e| GpioError::Io {
                    what: format!(
                        "input {:?} (line {} of {})",
                        inputs[i].name,
                        resolved[i].offset,
                        entry.display()
                    ),
                    message: e.to_string(),
                })?;
                initial[i] = value == Value::Active;
                by_offset.push((resolved[i].offset, i));
            }
            described.push(format!(
                "{} lines {}",
                entry.path.display(),
                members.iter().map(|&i| resolved[i].offset.to_string()).collect::<Vec<_>>().join(",")
            ));
            let (tx, stop) = (tx.clone(), stop.clone());
            std::thread::Builder::new()
                .name("camrelay-inputs".into())
                .spawn(move || read_edges(request, by_offset, tx, clock, stop))
                .map_err(|e| GpioError::Io {
                    what: "the input reader thread".into(),
                    message: e.to_string(),
                })?;
        }
        Ok(InputLines::new(
            initial,
            debounce,
            Some(rx),
            format!("cdev {}", described.join("; ")),
            false,
            stop,
        ))
    }

    /// The reader thread: the kernel's edge events, on the daemon's clock,
    /// until the daemon stops (it looks every 200 ms).
    fn read_edges(
        request: Request,
        by_offset: Vec<(Offset, usize)>,
        tx: tokio::sync::mpsc::Sender<Edge>,
        clock: SystemClock,
        stop: Arc<AtomicBool>,
    ) {
        while !stop.load(Ordering::Relaxed) {
            match request.wait_edge_event(std::time::Duration::from_millis(200)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(e) => {
                    tracing::error!(error = %e, "reading the inputs' edges failed; inputs stop changing");
                    return;
                }
            }
            let event = match request.read_edge_event() {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "reading the inputs' edges failed; inputs stop changing");
                    return;
                }
            };
            let Some(&(_, index)) = by_offset.iter().find(|(o, _)| *o == event.offset) else { continue };
            let edge = Edge {
                index,
                on: event.kind == EdgeKind::Rising,
                at: super::super::input::kernel_instant(&clock, event.timestamp_ns),
            };
            if tx.blocking_send(edge).is_err() {
                return;
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod other {
    use super::*;

    /// The GPIO character device exists only on Linux.
    pub struct CdevBackend {
        _private: (),
    }

    impl CdevBackend {
        pub fn open(gpio: &GpioConfig, relays: &[RelayConfig]) -> Result<CdevBackend, GpioError> {
            Self::open_with_uapi(gpio, relays, Uapi::Auto)
        }

        pub fn open_with_uapi(
            _gpio: &GpioConfig,
            _relays: &[RelayConfig],
            _uapi: Uapi,
        ) -> Result<CdevBackend, GpioError> {
            Err(GpioError::Unavailable {
                backend: "cdev",
                hint: "the GPIO character device is Linux only".into(),
            })
        }

        pub fn line_levels(&self) -> Result<Vec<bool>, GpioError> {
            Ok(Vec::new())
        }
    }

    pub fn open_inputs(
        _gpio: &GpioConfig,
        _inputs: &[crate::config::InputConfig],
        _clock: crate::clock::SystemClock,
        _stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<crate::relays::input::InputLines, GpioError> {
        Err(GpioError::Unavailable {
            backend: "cdev",
            hint: "the GPIO character device is Linux only".into(),
        })
    }

    impl Backend for CdevBackend {
        fn set(&mut self, _index: usize, _on: bool, _at: Instant, _reason: &str) -> Result<(), GpioError> {
            Err(GpioError::Unavailable {
                backend: "cdev",
                hint: "the GPIO character device is Linux only".into(),
            })
        }

        fn describe(&self) -> String {
            "cdev (unavailable)".into()
        }
    }
}
