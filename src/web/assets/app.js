// camrelay's page, phone first: relays and inputs as cards (a gate gets
// "Open" with a confirmation), cameras, what happened in words, the camera's
// picture with its zones and live targets and the zone editor, the history
// with its pictures, the plate lists, and each rule's why-not.
// Reads /api/status, /api/config, /api/recent, /api/history, /api/plates
// and the /api/events stream; changes things only through the API (relay
// commands, zone and plate-list saves). Text from the daemon is always set
// as text, never parsed as HTML.

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const FULL = 10000;

const state = {
  session: { token_configured: false, logged_in: false, can_read: false, can_edit_zones: false },
  config: null,
  status: null,
  statusAt: 0, // Date.now() when status was read: at_ms values are on the daemon's clock
  camera: null,
  targets: [], // of the shown camera, newest post
  draft: null, // the zone editor's working copy for the shown camera
  drag: null,
  events: null,
  pulse: new Map(), // a relay's pulse length as typed, kept across redraws
  history: { before: null },
  plates: null,
};

// When each target id was first drawn (the latency benchmark reads it).
window.camrelayDrawn = new Map();

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

async function api(path, options = {}) {
  const r = await fetch(path, { credentials: 'same-origin', ...options });
  const type = r.headers.get('content-type') || '';
  const body = type.includes('json') ? await r.json() : null;
  if (!r.ok) throw new Error((body && body.error) || `${r.status} ${r.statusText}`);
  return body;
}

// ---- words -------------------------------------------------------------------

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function nameWords(name) {
  return String(name).replace(/_/g, ' ');
}

// Milliseconds on the daemon's clock now.
function daemonNow() {
  return state.status ? state.status.uptime_ms + (Date.now() - state.statusAt) : 0;
}

// A daemon-clock time as a wall-clock Date.
function wallOf(atMs) {
  if (!state.status) return new Date();
  return new Date(Date.parse(state.status.started_at) + atMs);
}

function span(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

const sameDay = (a, b) => a.toDateString() === b.toDateString();

// A wall time as a homeowner reads it: 21:32, yesterday 21:32, Sat 12 Dec 21:32.
function clock(date) {
  const now = new Date();
  const hm = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (sameDay(date, now)) return hm;
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(date, yesterday)) return `yesterday ${hm}`;
  return `${date.toLocaleDateString([], { weekday: 'short', day: 'numeric', month: 'short' })} ${hm}`;
}

// "2 min ago" for the last hour, else the clock time.
function when(date) {
  const ms = Date.now() - date.getTime();
  if (ms < 10_000) return 'now';
  if (ms < 3_600_000) return `${span(ms)} ago`;
  return clock(date);
}

function inTime(ms) {
  return ms < 1000 ? 'now' : `in ${span(ms)}`;
}

const EVENT_WORDS = {
  presence: 'seen', zone_entry: 'came into', zone_exit: 'left', line_crossing: 'crossed a line',
  intrusion: 'intrusion', plate: 'plate', input: 'input', manual: 'by hand', loitering: 'loitering',
};

// Why a relay is in its state, in one line: `porch: person #41 in path (driveway)`.
function whyText(why) {
  if (!why) return '';
  if (why.rule === 'manual') return 'switched by hand';
  const what = [];
  if (why.plate) what.push(`plate ${why.plate}`);
  else if (why.input) what.push(`${nameWords(why.input)} changed`);
  else if (why.target != null) what.push(`target #${why.target}`);
  else what.push(EVENT_WORDS[why.event] || nameWords(why.event || ''));
  if (why.zone) what.push(`in ${nameWords(why.zone)}`);
  if (why.area) what.push(`in ${nameWords(why.area)}`);
  if (why.camera) what.push(`(${nameWords(why.camera)})`);
  return `${nameWords(why.rule)}: ${what.join(' ')}`;
}

const REASON_WORDS = {
  max_on: 'cut off: it was on for its longest allowed time',
  startup: 'off since camrelay started',
  shutdown: 'off: camrelay stopped',
  manual: 'switched by hand',
  released: 'back to the rules',
  chatter: 'locked out: it switched too often',
};

function reasonText(reason) {
  if (!reason) return '';
  const word = String(reason).split(/[\s:(]/)[0];
  return REASON_WORDS[word] || String(reason).replace(/_/g, ' ');
}

// What a rule's command does, from its log form (`hold until 12.3s`, `pulse 1s (single)`).
function actionText(action, relay) {
  const r = nameWords(relay);
  const first = String(action).split(' ')[0];
  switch (first) {
    case 'hold': return `keeps ${r} on`;
    case 'pulse': {
      const m = /^pulse (\S+)/.exec(action);
      return `pulses ${r}${m ? ` for ${m[1]}` : ''}`;
    }
    case 'on': return `switches ${r} on`;
    case 'off': return `switches ${r} off`;
    case 'toggle': return `toggles ${r}`;
    case 'blink': return `blinks ${r}`;
    default: return `${action} ${r}`;
  }
}

function manualText(m) {
  if (m == null) return '';
  if (m.mode === 'pulse') return `by hand: on for ${span(m.duration)}${m.started == null ? ', waiting' : ''}`;
  return `by hand: ${m.mode}`;
}

// ---- session -------------------------------------------------------------

async function loadSession() {
  state.session = await api('/api/session');
  const s = state.session;
  $('login').hidden = s.logged_in || !s.token_configured;
  $('who').hidden = !s.logged_in;
  $('no-read').hidden = s.can_read;
  $('read-only').hidden = !s.can_read || s.logged_in || !s.token_configured;
  $('no-token').hidden = s.token_configured;
  $('token-where').textContent = s.token_file
    ? ` The token is the first line of ${s.token_file} (on the Pi: sudo head -1 ${s.token_file}).`
    : '';
  document.querySelector('main').hidden = !s.can_read;
  for (const b of document.querySelectorAll('[data-write]')) b.disabled = !s.logged_in;
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('login-msg').textContent = '';
  try {
    await api('/login', { method: 'POST', body: new URLSearchParams({ token: $('login-token').value }) });
    $('login-token').value = '';
    await start();
  } catch (e) {
    $('login-msg').textContent = e.message;
  }
});

$('logout').addEventListener('click', async () => {
  await api('/logout', { method: 'POST' }).catch(() => {});
  await loadSession();
  renderRelays();
  renderInputs();
});

// ---- home: relays, inputs, cameras -------------------------------------------------

async function loadStatus() {
  try {
    state.status = await api('/api/status');
    state.statusAt = Date.now();
  } catch (e) {
    return;
  }
  $('clock').textContent = `up ${span(state.status.uptime_ms)}`;
  renderRelays();
  renderInputs();
  renderCameras();
  renderTargets();
}

let statusSoon = null;
function refreshStatusSoon() {
  if (statusSoon) return;
  statusSoon = setTimeout(() => { statusSoon = null; loadStatus(); }, 100);
}

async function control(relay, action, duration) {
  const body = { action };
  if (duration) body.duration = duration;
  try {
    await api(`/api/relays/${encodeURIComponent(relay)}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
  } catch (e) {
    addRecentLine(`${nameWords(relay)}: ${action} refused: ${e.message}`, true, null);
  }
  refreshStatusSoon();
}

// "Open" asks first: a gate moves something heavy, and a pocket can tap.
function confirmOpen(relay, view) {
  const d = $('confirm');
  $('confirm-text').textContent = `Open ${nameWords(relay)}? It is switched on for ${view.open_for}.`;
  $('confirm-yes').dataset.relay = relay;
  d.returnValue = '';
  d.onclose = () => {
    if (d.returnValue === 'yes') control(relay, 'pulse', view.open_for);
  };
  d.showModal();
}

function relayView(name) {
  return (state.config && state.config.relays.find((r) => r.name === name)) || { gate: false, open_for: '1s' };
}

function inputOf(name) {
  return ((state.status && state.status.inputs) || []).find((i) => i.name === name);
}

function renderRelays() {
  const box = $('relays');
  if (!state.status) return;
  const now = daemonNow();
  const cards = [];
  for (const r of state.status.relays) {
    const view = relayView(r.name);
    const write = !state.session.logged_in;
    const button = (label, action, extra = {}) => el('button', {
      type: 'button', 'data-write': '', 'data-relay': r.name, 'data-action': action, disabled: write,
      onclick: () => control(r.name, action, action === 'pulse' ? (state.pulse.get(r.name) || '1s') : null), ...extra,
    }, label);
    const times = [`${r.on ? 'on' : 'off'} since ${clock(wallOf(r.since))}`];
    if (r.until != null) times.push(`off ${inTime(r.until - now)}`);
    const why = r.why ? whyText(r.why) : reasonText(r.reason);
    const holds = (r.claims || []).filter((c) => !c.spent).length;
    const pulse = el('input', { class: 'pulse', value: state.pulse.get(r.name) || '1s', 'aria-label': `how long Pulse keeps ${nameWords(r.name)} on`,
      oninput: (ev) => state.pulse.set(r.name, ev.target.value) });
    const controls = [];
    if (view.gate) {
      controls.push(el('button', { type: 'button', class: 'primary', 'data-write': '', 'data-relay': r.name, 'data-action': 'open', disabled: write,
        onclick: () => confirmOpen(r.name, view) }, 'Open'));
    }
    controls.push(button('On', 'on'), button('Off', 'off'), button('Auto', 'release', { title: 'back to the rules' }));
    if (!view.gate) controls.push(pulse, button('Pulse', 'pulse'));
    const position = view.position ? inputOf(view.position) : null;
    cards.push(el('article', { class: 'card', 'data-relay': r.name },
      el('div', { class: 'head' }, el('h3', {}, nameWords(r.name)),
        el('span', { class: r.on ? 'pill on' : 'pill', 'data-state': r.on ? 'on' : 'off' }, r.on ? 'ON' : 'off')),
      el('div', { class: 'line', title: why }, why || '\u00a0'),
      el('div', { class: 'line muted' }, times.join(' · ')),
      holds > 1 ? el('div', { class: 'muted' }, `${holds} rules hold it`) : '',
      r.pending ? el('div', { class: 'muted' }, `waiting for ${nameWords(r.pending.waiting_for)}`) : '',
      r.write_fault ? el('div', { class: 'error' }, 'cannot switch the line: retrying') : '',
      r.manual ? el('div', { class: 'muted' }, manualText(r.manual)) : '',
      position ? el('div', { class: 'muted', 'data-position': view.position },
        `${nameWords(view.position)}: ${position.on == null ? 'not read yet' : position.on ? 'on' : 'off'}`) : '',
      el('div', { class: 'controls' }, ...controls)));
  }
  box.replaceChildren(...cards);
}

function renderInputs() {
  const inputs = (state.status && state.status.inputs) || [];
  $('inputs-section').hidden = inputs.length === 0;
  $('inputs').replaceChildren(...inputs.map((i) => {
    const word = i.on == null ? 'not read' : i.on ? 'ON' : 'off';
    return el('article', { class: 'card', 'data-input': i.name },
      el('div', { class: 'head' }, el('h3', {}, nameWords(i.name)),
        el('span', { class: i.on ? 'pill on' : 'pill', 'data-state': word }, word)),
      el('div', { class: 'muted' }, [i.device_class ? nameWords(i.device_class) : '',
        i.since_ms == null ? '' : `since ${when(wallOf(i.since_ms))}`,
        plural(i.changes, 'change')].filter(Boolean).join(' · ')));
  }));
}

function renderCameras() {
  if (!state.status || !state.config) return;
  const devices = state.status.devices || [];
  const subs = state.status.subscriptions || [];
  const rows = state.config.cameras.map((c) => c.name);
  for (const d of devices) if (!d.camera && !rows.includes(d.key)) rows.push(d.key);
  $('cameras').replaceChildren(...rows.map((name) => {
    const d = devices.find((x) => x.camera === name || (!x.camera && x.key === name));
    const s = subs.find((x) => x.camera === name);
    const online = d ? d.online : null;
    const sub = s ? (s.posts_here === true ? 'its webhook posts here' : s.posts_here === false ? 'its webhook does not post here' : '') : '';
    const last = d ? `last post ${when(new Date(d.last_seen))}${d.last_event ? ` (${nameWords(d.last_event.kind)})` : ''} · ${plural(d.posts, 'post')}` : 'no post yet';
    return el('article', { class: 'card', 'data-camera': name },
      el('div', { class: 'head' }, el('h3', {}, nameWords(name)),
        el('span', { class: online === false ? 'pill offline' : online ? 'pill on' : 'pill' },
          online === false ? 'silent' : online ? 'online' : 'not seen')),
      el('div', { class: 'line muted' }, last),
      d && !d.camera ? el('div', { class: 'muted' }, 'no [[camera]] in the rules matches it') : '',
      sub ? el('div', { class: 'muted', title: s.detail }, sub) : '',
      el('div', { class: 'controls' }, el('button', { type: 'button', onclick: () => { showCamera(name); location.hash = '#camera'; } }, 'View')));
  }));
}

function recentText(h) {
  switch (h.type) {
    case 'switched': return [`${nameWords(h.relay)} ${h.on ? 'on' : 'off'}${h.why ? ` · ${whyText(h.why)}` : h.reason ? ` · ${reasonText(h.reason)}` : ''}`, false];
    case 'input': return [`${nameWords(h.input)} ${h.on ? 'on' : 'off'}`, false];
    case 'did_not_move': return [`${nameWords(h.news.relay)} switched on but ${nameWords(h.news.input)} did not move`, true];
    case 'tailgating': return [`tailgating: ${plural(h.news.vehicles, 'vehicle')} while ${nameWords(h.news.input)} said the gate was open`, true];
    case 'fired': return [`${whyText(h.why)} → ${actionText(h.action, h.relay)}`, false];
    case 'no_effect': return [`${nameWords(h.rule)} matched but did nothing: ${nameWords(h.reason)}${h.detail ? ` (${h.detail})` : ''}`, false];
    case 'device': {
      const cam = nameWords(h.camera || h.device);
      if (h.first) return [`first post from ${cam}`, false];
      return [h.online ? `${cam} is posting again` : `${cam} went silent`, !h.online];
    }
    case 'reloaded': return [h.applied ? `rules reloaded${h.who ? ` (${h.who})` : ''}: ${h.message}` : `new rules refused, the old ones stay: ${h.message}`, !h.applied];
    case 'detected': {
      const d = h.detection;
      const where = d.zones.length ? ` in ${d.zones.map(nameWords).join(', ')}` : '';
      return [`${nameWords(d.camera)}: ${nameWords(d.kind)}${d.class ? ` (${d.class})` : ''}${where}${d.plate ? ` plate ${d.plate}` : ''}`, false];
    }
    case 'remote': return [`${whyText(h.why)} → ${h.node}/${nameWords(h.relay)}: ${h.action.action} (over MQTT)`, false];
    default: return [h.type.replace(/_/g, ' '), false];
  }
}

function addRecentLine(text, bad, atMs, key) {
  const first = $('recent').firstElementChild;
  // A hold renewed on every post is one line with a count, not a flood.
  if (key && first && first.dataset.key === key) {
    const n = Number(first.dataset.count || 1) + 1;
    first.dataset.count = n;
    first.querySelector('.what').textContent = `${text} (${plural(n, 'post')})`;
    return;
  }
  const at = atMs != null ? wallOf(atMs) : new Date();
  const li = el('li', { class: bad ? 'error' : null }, el('time', { class: 'when', datetime: at.toISOString() }, clock(at)), el('span', { class: 'what' }, text));
  if (key) li.dataset.key = key;
  $('recent').prepend(li);
  while ($('recent').children.length > 100) $('recent').lastChild.remove();
}

function addRecent(h) {
  const [text, bad] = recentText(h);
  const key = h.type === 'fired' ? `${h.relay}|${h.why.rule}|${h.why.camera}|${h.why.target}` : null;
  addRecentLine(text, bad, h.at_ms, key);
}

// ---- events ----------------------------------------------------------------

// A browser keeps at most 6 connections to one server over HTTP/1.1 and the
// stream holds one: a hidden tab lets go of it (and polls nothing), so many
// tabs never starve each other, and a phone with its screen off costs the Pi nothing.
function listen() {
  if (state.events) state.events.close();
  state.events = null;
  if (document.hidden) return;
  const q = state.camera ? `?camera=${encodeURIComponent(state.camera)}` : '';
  const es = new EventSource(`/api/events${q}`);
  state.events = es;
  es.addEventListener('targets', (m) => {
    const h = JSON.parse(m.data);
    if (h.camera !== state.camera) return;
    state.targets = h.targets;
    renderTargets();
    // The frame that shows a new target's box: when it is painted.
    const fresh = h.targets.filter((t) => !window.camrelayDrawn.has(t.id)).map((t) => t.id);
    if (fresh.length) {
      requestAnimationFrame(() => {
        const at = performance.timeOrigin + performance.now();
        for (const id of fresh) if (!window.camrelayDrawn.has(id)) window.camrelayDrawn.set(id, at);
      });
    }
    if (window.camrelayDrawn.size > 5000) window.camrelayDrawn.clear();
  });
  for (const type of ['switched', 'fired', 'no_effect', 'device', 'reloaded', 'detected', 'remote', 'input', 'did_not_move', 'tailgating']) {
    es.addEventListener(type, (m) => {
      const h = JSON.parse(m.data);
      addRecent(h);
      refreshStatusSoon();
      if (type === 'reloaded') { loadConfig(); if (location.hash === '#plates') loadPlates(); }
      if ((type === 'fired' && h.why.rule === $('rule-select').value) || (type === 'no_effect' && h.rule === $('rule-select').value)) loadWhySoon();
    });
  }
}

// ---- camera view -------------------------------------------------------------

let pictureUrl = null;
async function loadPicture() {
  if (!state.camera) return;
  const img = $('picture');
  try {
    const r = await fetch(`/api/cameras/${encodeURIComponent(state.camera)}/snapshot?missing=empty`, { credentials: 'same-origin' });
    if (r.status === 204) throw new Error('no post has brought one yet');
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error(body.error || r.statusText);
    }
    const source = r.headers.get('x-camrelay-picture');
    const blob = await r.blob();
    if (pictureUrl) URL.revokeObjectURL(pictureUrl);
    pictureUrl = URL.createObjectURL(blob);
    img.src = pictureUrl;
    img.hidden = false;
    $('picture-source').textContent = source === 'live' ? `live picture, ${clock(new Date())}` : 'the last picture a post carried';
  } catch (e) {
    img.hidden = true;
    $('picture-source').textContent = `No picture (${e.message}): zones are drawn on an empty grid.`;
  }
}

function drawGrid() {
  const g = $('grid');
  g.replaceChildren();
  for (let v = 1000; v < FULL; v += 1000) {
    g.append(svg('line', { x1: v, y1: 0, x2: v, y2: FULL }), svg('line', { x1: 0, y1: v, x2: FULL, y2: v }));
  }
}

function cameraZones() {
  return state.config ? state.config.zones.filter((z) => z.camera === state.camera) : [];
}

function resetDraft(keep) {
  state.draft = {
    camera: state.camera,
    zones: cameraZones().map((z) => ({ name: z.name, polygon: z.polygon.map((p) => [...p]), anchor: z.anchor, dirty: false, isNew: false })),
    removed: [],
    sel: null,
    selPt: -1,
  };
  // After a save, the zone just saved stays selected.
  if (keep && state.draft.zones.some((z) => z.name === keep)) state.draft.sel = keep;
  else if (state.draft.zones.length) state.draft.sel = state.draft.zones[0].name;
  renderZoneSelect();
  renderZones();
}

function selectedZone() {
  const d = state.draft;
  return d && d.zones.find((z) => z.name === d.sel);
}

function renderZoneSelect() {
  const s = $('zone-select');
  s.replaceChildren();
  for (const z of state.draft.zones) s.append(el('option', { value: z.name }, z.name + (z.dirty ? ' (not saved)' : '')));
  if (state.draft.sel) s.value = state.draft.sel;
  const z = selectedZone();
  $('zone-anchor').value = z ? z.anchor : 'bottom_center';
}

function anchorOf(t, anchor) {
  const r = t.rect;
  if (anchor === 'center') return [(r.x1 + r.x2) / 2, (r.y1 + r.y2) / 2];
  return [(r.x1 + r.x2) / 2, Math.max(r.y1, r.y2)];
}

function renderZones() {
  const g = $('zones');
  const h = $('handles');
  g.replaceChildren();
  h.replaceChildren();
  if (!state.draft) return;
  for (const z of state.draft.zones) {
    const selected = z.name === state.draft.sel;
    const cls = `zone${selected ? ' selected' : ''}${z.dirty ? ' dirty' : ''}`;
    const points = z.polygon.map((p) => p.join(',')).join(' ');
    g.append(svg(z.polygon.length > 2 ? 'polygon' : 'polyline', { class: cls, points, 'data-zone': z.name, 'pointer-events': 'none' }));
    if (selected) {
      z.polygon.forEach((p, i) => {
        const c = svg('circle', { class: `handle${i === state.draft.selPt ? ' selected' : ''}`, cx: p[0], cy: p[1], r: 110, 'data-point': i });
        h.append(c);
      });
    }
  }
  renderLabels();
}

// A target in words, on its label and in the list: `person #41 · path · holds path light`.
function targetWords(t, held) {
  return [`${t.class} #${t.id}`, t.zones.map(nameWords).join(', '), t.stationary ? 'parked' : '', held.length ? `holds ${held.map(nameWords).join(', ')}` : ''].filter(Boolean).join(' · ');
}

function renderTargets() {
  const g = $('targets');
  g.replaceChildren();
  const items = [];
  const holds = holdsByTarget();
  const anchor = selectedZone() ? selectedZone().anchor : 'bottom_center';
  for (const t of state.targets) {
    const held = holds.get(`${t.camera}/${t.id}`) || [];
    if (t.rect) {
      const r = t.rect;
      const cls = `target${t.stationary ? ' stationary' : ''}${held.length ? ' holds' : ''}`;
      g.append(svg('rect', { class: cls, x: Math.min(r.x1, r.x2), y: Math.min(r.y1, r.y2), width: Math.abs(r.x2 - r.x1), height: Math.abs(r.y2 - r.y1), 'data-target': t.id }));
      if (anchor !== 'box') {
        const [ax, ay] = anchorOf(t, anchor);
        g.append(svg('ellipse', { class: 'anchor', cx: ax, cy: ay, rx: 70, ry: 120 }));
      }
    }
    const words = targetWords(t, held);
    items.push(el('li', { 'data-target': t.id }, el('span', { class: 'when' }, span(t.seen_for_ms)), el('span', { class: 'what' }, words)));
  }
  $('targets-list').replaceChildren(...items);
  if (!items.length) $('targets-list').append(el('li', { class: 'muted' }, 'Nobody and nothing is tracked on this camera now.'));
  renderLabels(holds);
}

// Labels of zones and targets, drawn at a fixed pixel size over the
// picture (the shapes under them stretch with it, text must not), kept
// inside the picture and moved down, or up, until none covers another.
function renderLabels(holds = holdsByTarget()) {
  const box = $('labels');
  const stage = $('stage');
  const W = stage.clientWidth;
  const H = stage.clientHeight;
  box.replaceChildren();
  if (!W || !H) return;
  const wanted = [];
  for (const z of (state.draft ? state.draft.zones : [])) {
    if (!z.polygon.length) continue;
    const top = z.polygon.reduce((a, p) => (p[1] < a[1] ? p : a), z.polygon[0]);
    wanted.push({ text: nameWords(z.name), x: top[0], y: top[1], cls: 'label zone', zone: z.name });
  }
  for (const t of state.targets) {
    if (!t.rect) continue;
    const held = holds.get(`${t.camera}/${t.id}`) || [];
    const text = targetWords(t, held);
    wanted.push({ text, x: Math.min(t.rect.x1, t.rect.x2), y: Math.min(t.rect.y1, t.rect.y2), cls: held.length ? 'label holds' : 'label', target: t.id });
  }
  const placed = [];
  const overlaps = (r) => placed.some((p) => r.x < p.x + p.w && p.x < r.x + r.w && r.y < p.y + p.h && p.y < r.y + r.h);
  for (const w of wanted) {
    const e = el('span', { class: w.cls, 'data-zone': w.zone, 'data-target': w.target }, w.text);
    box.append(e);
    const ew = Math.min(e.offsetWidth, W);
    const eh = e.offsetHeight;
    const x = Math.min(Math.max(0, (w.x / FULL) * W), Math.max(0, W - ew));
    const y0 = Math.min(Math.max(0, (w.y / FULL) * H - eh - 2), Math.max(0, H - eh));
    const rows = [];
    for (let y = y0; y <= H - eh; y += eh + 2) rows.push(y);
    for (let y = y0 - eh - 2; y >= 0; y -= eh + 2) rows.push(y);
    let r = { x, y: y0, w: ew, h: eh };
    const free = rows.map((y) => ({ x, y, w: ew, h: eh })).find((c) => !overlaps(c));
    if (free) r = free;
    e.style.left = `${r.x}px`;
    e.style.top = `${r.y}px`;
    e.style.maxWidth = `${W}px`;
    placed.push(r);
  }
}
new ResizeObserver(() => renderLabels()).observe($('stage'));

// Which rules each target holds a relay for now (claims not spent by max_on).
function holdsByTarget() {
  const m = new Map();
  if (!state.status) return m;
  for (const r of state.status.relays) {
    const whys = (r.claims || []).filter((c) => !c.spent).map((c) => c.why);
    if (r.on && r.why) whys.push(r.why);
    for (const w of whys) {
      if (!w.camera || w.target == null) continue;
      const k = `${w.camera}/${w.target}`;
      const list = m.get(k) || [];
      const text = w.rule;
      if (!list.includes(text)) list.push(text);
      m.set(k, list);
    }
  }
  return m;
}

function showCamera(name) {
  if (name === state.camera) return;
  state.camera = name;
  $('camera-select').value = name;
  state.targets = [];
  resetDraft();
  renderTargets();
  loadPicture();
  listen();
}

function pointerAt(ev) {
  const box = $('overlay').getBoundingClientRect();
  const x = Math.round(((ev.clientX - box.left) / box.width) * FULL);
  const y = Math.round(((ev.clientY - box.top) / box.height) * FULL);
  return [Math.min(FULL, Math.max(0, x)), Math.min(FULL, Math.max(0, y))];
}

function zoneMsg(text, bad) {
  const m = $('zone-msg');
  m.replaceChildren(bad ? el('pre', { class: 'error', id: 'zone-error' }, text) : el('p', { class: 'ok', id: 'zone-ok' }, text));
  m.scrollIntoView({ block: 'nearest' });
}

function touched(z) {
  z.dirty = true;
  renderZoneSelect();
  renderZones();
}

$('overlay').addEventListener('pointerdown', (ev) => {
  const z = selectedZone();
  if (!z) { zoneMsg('Pick a zone or make a new one first.', true); return; }
  const handle = ev.target.closest && ev.target.closest('.handle');
  if (handle) {
    state.draft.selPt = Number(handle.dataset.point);
  } else {
    const at = state.draft.selPt >= 0 ? state.draft.selPt + 1 : z.polygon.length;
    z.polygon.splice(at, 0, pointerAt(ev));
    state.draft.selPt = at;
    z.dirty = true;
    renderZoneSelect();
  }
  state.drag = { zone: z, index: state.draft.selPt, moved: false };
  $('overlay').setPointerCapture(ev.pointerId);
  renderZones();
  ev.preventDefault();
});

$('overlay').addEventListener('pointermove', (ev) => {
  const d = state.drag;
  if (!d) return;
  d.zone.polygon[d.index] = pointerAt(ev);
  d.moved = true;
  d.zone.dirty = true;
  renderZones();
});

$('overlay').addEventListener('pointerup', () => {
  if (state.drag && state.drag.moved) renderZoneSelect();
  state.drag = null;
});

$('zone-select').addEventListener('change', () => {
  state.draft.sel = $('zone-select').value;
  state.draft.selPt = -1;
  renderZoneSelect();
  renderZones();
  renderTargets();
});

$('zone-anchor').addEventListener('change', () => {
  const z = selectedZone();
  if (!z) return;
  z.anchor = $('zone-anchor').value;
  touched(z);
  renderTargets();
});

$('new-zone').addEventListener('click', () => {
  const name = $('new-zone-name').value.trim();
  if (!name) { zoneMsg('Type a name for the new zone first.', true); return; }
  if (state.draft.zones.some((z) => z.name === name) || (state.config.zones || []).some((z) => z.name === name && z.camera !== state.camera)) {
    zoneMsg(`There is already a zone called "${name}".`, true);
    return;
  }
  state.draft.zones.push({ name, polygon: [], anchor: 'bottom_center', dirty: true, isNew: true });
  state.draft.removed = state.draft.removed.filter((n) => n !== name);
  state.draft.sel = name;
  state.draft.selPt = -1;
  $('new-zone-name').value = '';
  zoneMsg(`Click on the picture to place the corners of "${name}", then Save.`, false);
  renderZoneSelect();
  renderZones();
});

$('delete-point').addEventListener('click', () => {
  const z = selectedZone();
  if (!z || state.draft.selPt < 0) return;
  z.polygon.splice(state.draft.selPt, 1);
  state.draft.selPt = Math.min(state.draft.selPt, z.polygon.length - 1);
  touched(z);
});

document.addEventListener('keydown', (ev) => {
  if ((ev.key === 'Delete' || ev.key === 'Backspace') && location.hash === '#camera' && document.activeElement === document.body) {
    $('delete-point').click();
  }
});

$('delete-zone').addEventListener('click', () => {
  const z = selectedZone();
  if (!z) return;
  state.draft.zones = state.draft.zones.filter((x) => x !== z);
  if (!z.isNew) state.draft.removed.push(z.name);
  state.draft.sel = state.draft.zones.length ? state.draft.zones[0].name : null;
  state.draft.selPt = -1;
  zoneMsg(`"${z.name}" will be removed when you Save.`, false);
  renderZoneSelect();
  renderZones();
});

$('import-zones').addEventListener('click', async () => {
  try {
    const regions = await api(`/api/cameras/${encodeURIComponent(state.camera)}/regions`);
    for (const r of regions) {
      const old = state.draft.zones.find((z) => z.name === r.name);
      if (old) { old.polygon = r.polygon; old.dirty = true; }
      else state.draft.zones.push({ name: r.name, polygon: r.polygon, anchor: 'bottom_center', dirty: true, isNew: true });
    }
    if (regions.length && !state.draft.sel) state.draft.sel = regions[0].name;
    zoneMsg(regions.length ? `${plural(regions.length, 'region or line side', 'regions and line sides')} from the camera: Save to keep them.` : 'The camera has no regions or lines drawn.', false);
    renderZoneSelect();
    renderZones();
  } catch (e) {
    zoneMsg(`Cannot import: ${e.message}`, true);
  }
});

$('revert-zones').addEventListener('click', () => { resetDraft(); zoneMsg('Back to the zones in force.', false); });

$('save-zones').addEventListener('click', async () => {
  const d = state.draft;
  const zones = d.zones.filter((z) => z.dirty).map((z) => ({ name: z.name, polygon: z.polygon, anchor: z.anchor }));
  if (!zones.length && !d.removed.length) { zoneMsg('Nothing to save.', false); return; }
  try {
    const r = await api(`/api/cameras/${encodeURIComponent(d.camera)}/zones`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ zones, remove: d.removed }),
    });
    const s = r.saved;
    const words = [['changed', s.changed], ['added', s.added], ['removed', s.removed]]
      .filter(([, v]) => v.length).map(([k, v]) => `${k} ${v.join(', ')}`).join('; ');
    await loadConfig();
    resetDraft(d.sel);
    zoneMsg(`Saved (${words}). Rules ${r.reload.message}.`, false);
  } catch (e) {
    zoneMsg(e.message, true);
  }
});

$('camera-select').addEventListener('change', () => showCamera($('camera-select').value));
$('picture-refresh').addEventListener('click', loadPicture);


$('camera-select').addEventListener('change', () => showCamera($('camera-select').value));
$('picture-refresh').addEventListener('click', loadPicture);

// ---- history -------------------------------------------------------------------

function historyQuery() {
  const q = new URLSearchParams();
  const day = $('h-day').value;
  if (day) {
    const next = new Date(`${day}T00:00:00`);
    next.setDate(next.getDate() + 1);
    q.set('since', day);
    q.set('until', `${next.getFullYear()}-${String(next.getMonth() + 1).padStart(2, '0')}-${String(next.getDate()).padStart(2, '0')}`);
  }
  for (const [key, id] of [['camera', 'h-camera'], ['relay', 'h-relay'], ['plate', 'h-plate'], ['who', 'h-who']]) {
    const v = $(id).value.trim();
    if (v) q.set(key, v);
  }
  if ($('h-plate').value.trim()) q.set('plate_distance', '0.5');
  return q;
}

const KIND_WORDS = {
  switched: 'switched', fired: 'rule', no_effect: 'did nothing', detection: 'seen', device: 'camera',
  reload: 'rules', remote: 'other Pi', manual: 'by hand', visit: 'visit', input: 'input',
  did_not_move: 'did not move', tailgating: 'tailgating',
};

function historyText(e) {
  const parts = [];
  switch (e.kind) {
    case 'switched': parts.push(`${nameWords(e.relay)} ${e.detail}`); break;
    case 'fired': parts.push(`${nameWords(e.rule)} → ${actionText(e.detail, e.relay || '')}`); break;
    case 'manual': parts.push(`${nameWords(e.relay)} ${e.detail}`); break;
    case 'visit': parts.push(`${e.class || 'target'} #${e.target} ${e.zone ? `in ${nameWords(e.zone)}` : ''}`); break;
    case 'detection': parts.push(`${e.detail}${e.plate ? ` ${e.plate}` : ''}${e.zone ? ` in ${nameWords(e.zone)}` : ''}`); break;
    default: parts.push(`${KIND_WORDS[e.kind] || e.kind}: ${e.detail}`);
  }
  if (e.camera && e.kind !== 'device') parts.push(`· ${nameWords(e.camera)}`);
  if (e.who) parts.push(`· by ${e.who}`);
  if (e.count > 1) parts.push(`· ${plural(e.count, 'time')} until ${clock(new Date(e.last_ms))}`);
  return parts.join(' ');
}

function showPicture(e) {
  $('picture-big').src = `/api/history/pictures/${e.picture || e.thumb}`;
  $('picture-big').alt = historyText(e);
  $('picture-caption').textContent = `${clock(new Date(e.at_ms))} · ${historyText(e)}`;
  $('picture-view').showModal();
}

async function loadHistory(more) {
  const list = $('history-list');
  const note = $('history-note');
  if (!state.status) await loadStatus();
  if (!state.status || !state.status.history) {
    note.textContent = 'No history is kept: add a [history] section to the rules file.';
    list.replaceChildren();
    $('h-csv').hidden = true;
    return;
  }
  const q = historyQuery();
  $('h-csv').href = `/api/history.csv?${q}`;
  $('h-csv').hidden = false;
  q.set('limit', '50');
  if (more && state.history.before != null) q.set('before', String(state.history.before));
  try {
    const r = await api(`/api/history?${q}`);
    if (!more) list.replaceChildren();
    for (const e of r.events) {
      const picture = e.thumb || e.picture;
      list.append(el('li', { 'data-kind': e.kind, 'data-id': e.id },
        el('time', { class: 'when', datetime: new Date(e.at_ms).toISOString() }, clock(new Date(e.at_ms))),
        el('span', { class: 'what' }, historyText(e)),
        picture ? el('button', { type: 'button', class: 'thumb', 'aria-label': `picture: ${historyText(e)}`, onclick: () => showPicture(e) },
          el('img', { src: `/api/history/pictures/${picture}`, loading: 'lazy', alt: '', width: 64, height: 48 })) : ''));
    }
    state.history.before = r.next_before;
    $('history-more').hidden = r.next_before == null;
    note.textContent = list.children.length ? '' : 'Nothing was recorded that matches.';
  } catch (e) {
    note.textContent = e.message;
  }
}

$('history-filter').addEventListener('submit', (ev) => { ev.preventDefault(); loadHistory(false); });
$('history-more').addEventListener('click', () => loadHistory(true));

// ---- plates --------------------------------------------------------------------

function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

// The next seven days as chips, and "always" (a resident's plate).
function renderDayChips() {
  const box = $('p-days');
  const legend = box.querySelector('legend');
  const chips = [];
  const today = new Date();
  for (let i = 0; i < 7; i++) {
    const d = new Date(today);
    d.setDate(today.getDate() + i);
    const label = i === 0 ? 'Today' : i === 1 ? 'Tomorrow' : d.toLocaleDateString([], { weekday: 'short', day: 'numeric' });
    chips.push(el('label', {}, el('input', { type: 'radio', name: 'p-day', value: isoDay(d), checked: i === 0 }), el('span', {}, label)));
  }
  chips.push(el('label', {}, el('input', { type: 'radio', name: 'p-day', value: 'always' }), el('span', {}, 'Always')));
  box.replaceChildren(legend, ...chips);
}

const STANDING_WORDS = { expired: ' · expired', not_yet: ' · not yet', off_hours: ' · not now' };

function validityText(e) {
  const parts = [];
  const fmt = (s) => clock(new Date(s.length === 10 ? `${s}T00:00:00` : s));
  if (e.from && e.until) parts.push(`${fmt(e.from)} to ${e.until.length === 10 ? `end of ${fmt(e.until).replace(/ \d\d:\d\d$/, '')}` : fmt(e.until)}`);
  else if (e.from) parts.push(`from ${fmt(e.from)}`);
  else if (e.until) parts.push(`until ${fmt(e.until)}`);
  if (e.days && e.days.length) parts.push(e.days.join(', '));
  if (e.after || e.before) parts.push(`${e.after || '00:00'}–${e.before || '24:00'}`);
  return parts.length ? parts.join(' · ') : 'always';
}

function renderPlates() {
  const box = $('plate-lists');
  const lists = (state.plates && state.plates.lists) || [];
  const select = $('p-list');
  const chosen = select.value;
  const names = lists.map((l) => l.list);
  for (const usual of ['residents', 'visitors', 'deliveries']) if (!names.includes(usual)) names.push(usual);
  select.replaceChildren(...names.map((n) => el('option', { value: n }, nameWords(n))));
  select.value = chosen || (names.includes('visitors') ? 'visitors' : names[0]);
  box.replaceChildren(...lists.map((l) => el('section', { 'data-list': l.list },
    el('h2', {}, `${nameWords(l.list)} (${l.entries.length})`),
    el('ul', { class: 'feed' }, ...(l.entries.length ? l.entries.map((e, i) => el('li', { class: e.standing === 'expired' ? 'expired' : null, 'data-plate': e.plate, 'data-now': e.standing },
      el('span', { class: 'what' }, el('strong', {}, e.plate), e.name ? ` ${e.name}` : '', el('br'),
        el('span', { class: 'muted' }, `${validityText(e)}${STANDING_WORDS[e.standing] || ''}`)),
      el('button', { type: 'button', class: 'danger', 'data-write': '', disabled: !state.session.logged_in, 'aria-label': `remove ${e.plate} from ${nameWords(l.list)}`,
        onclick: () => removePlate(l.list, i) }, 'Remove'))) : [el('li', { class: 'muted' }, 'No plate on this list.')])))));
  if (!lists.length) box.append(el('p', { class: 'muted' }, 'No plate list yet: add a plate above, or write [[plates.visitors]] entries in the rules file.'));
}

async function loadPlates() {
  try {
    state.plates = await api('/api/plates');
  } catch (e) {
    plateMsg(e.message, true);
    return;
  }
  renderPlates();
}

function plateMsg(text, bad) {
  $('plate-msg').replaceChildren(bad ? el('pre', { class: 'error', id: 'plate-error' }, text) : el('p', { class: 'ok', id: 'plate-ok' }, text));
}

function entryOut(e) {
  const out = { plate: e.plate };
  for (const k of ['name', 'from', 'until', 'days', 'after', 'before']) if (e[k] != null && e[k] !== '' && !(Array.isArray(e[k]) && !e[k].length)) out[k] = e[k];
  return out;
}

async function saveList(list, entries, done) {
  try {
    const r = await api(`/api/plates/${encodeURIComponent(list)}`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ entries: entries.map(entryOut) }),
    });
    plateMsg(`${done}.`, false);
    await loadPlates();
    return true;
  } catch (e) {
    plateMsg(e.message, true);
    return false;
  }
}

async function removePlate(list, index) {
  const l = state.plates.lists.find((x) => x.list === list);
  const entries = l.entries.filter((_, i) => i !== index);
  await saveList(list, entries, `${l.entries[index].plate} removed from ${nameWords(list)}`);
}

$('plate-add').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const list = $('p-list').value;
  const plate = $('p-plate').value.trim().toUpperCase();
  if (!plate) return;
  const day = (document.querySelector('input[name=p-day]:checked') || {}).value || 'always';
  const hours = (document.querySelector('input[name=p-hours]:checked') || {}).value || 'all';
  const entry = { plate, name: $('p-name').value.trim() };
  if (day !== 'always') {
    if (hours === '9-18') { entry.from = `${day}T09:00:00`; entry.until = `${day}T18:00:00`; }
    else { entry.from = day; entry.until = day; }
  }
  const l = ((state.plates && state.plates.lists) || []).find((x) => x.list === list);
  const entries = [...(l ? l.entries : []), entry];
  const chip = document.querySelector('input[name=p-day]:checked + span');
  const dayWords = chip ? chip.textContent.toLowerCase() : day;
  const when = day === 'always' ? 'always' : `${dayWords}${hours === '9-18' ? ' 9:00–18:00' : ', all day'}`;
  if (await saveList(list, entries, `${plate} added to ${nameWords(list)}, ${when}`)) {
    $('p-plate').value = '';
    $('p-name').value = '';
  }
});

// ---- why ---------------------------------------------------------------------

async function loadWhy() {
  const rule = $('rule-select').value;
  const list = $('why-list');
  if (!rule) return;
  const r = state.config.rules.find((x) => x.name === rule);
  $('rule-text').textContent = r ? r.sentence : '';
  try {
    const w = await api(`/api/rules/${encodeURIComponent(rule)}/why`);
    // The same verdict on the same target, post after post, is one row.
    const rows = [];
    for (const e of w.events.slice().reverse()) {
      const text = e.text + (e.relay ? ` (the relay did nothing: ${e.relay})` : '');
      const last = rows[rows.length - 1];
      if (last && last.text === text && last.e.camera === e.camera && last.e.target === e.target && last.e.event === e.event) {
        last.count += 1;
        last.first = e.at;
        continue;
      }
      rows.push({ e, text, count: 1, first: e.at });
    }
    list.replaceChildren(...rows.map(({ e, text, count, first }) => el('li', {},
      el('time', { class: 'when' }, clock(wallOf(e.at))),
      el('span', { class: 'what' },
        el('span', { class: e.verdict === 'fired' ? 'verdict verdict-fired' : 'verdict' }, text),
        el('br'),
        el('span', { class: 'muted' }, [nameWords(e.event), e.camera ? nameWords(e.camera) : '', e.target != null ? `#${e.target}` : '',
          count > 1 ? `${plural(count, 'post')} since ${clock(wallOf(first))}` : ''].filter(Boolean).join(' · '))))));
    if (!rows.length) list.append(el('li', { class: 'muted' }, 'No event has reached this rule yet.'));
  } catch (e) {
    list.replaceChildren(el('li', { class: 'error' }, e.message));
  }
}

let whySoon = null;
function loadWhySoon() {
  if (whySoon || location.hash !== '#why') return;
  whySoon = setTimeout(() => { whySoon = null; loadWhy(); }, 300);
}

$('rule-select').addEventListener('change', loadWhy);
$('why-refresh').addEventListener('click', loadWhy);

// ---- start -------------------------------------------------------------------

async function loadConfig() {
  state.config = await api('/api/config');
  const cams = $('camera-select');
  const names = state.config.cameras.map((c) => c.name);
  cams.replaceChildren(...names.map((n) => el('option', { value: n }, nameWords(n))));
  const rules = $('rule-select');
  const chosen = rules.value;
  rules.replaceChildren(...state.config.rules.map((r) => el('option', { value: r.name }, nameWords(r.name))));
  if (chosen) rules.value = chosen;
  if (state.camera) cams.value = state.camera;
  for (const [id, items] of [['h-camera', names], ['h-relay', state.config.relays.map((r) => r.name)]]) {
    const s = $(id);
    const v = s.value;
    s.replaceChildren(el('option', { value: '' }, 'any'), ...items.map((n) => el('option', { value: n }, nameWords(n))));
    s.value = v;
  }
  if (state.draft && !state.draft.zones.some((z) => z.dirty) && !state.draft.removed.length) resetDraft(state.draft.sel);
  renderCameras();
  renderRelays();
}

const TABS = ['overview', 'camera', 'history', 'plates', 'why'];

function route() {
  const tab = TABS.includes((location.hash || '#overview').slice(1)) ? (location.hash || '#overview').slice(1) : 'overview';
  for (const id of TABS) {
    $(id).hidden = id !== tab;
    $(`tab-${id}`).classList.toggle('active', id === tab);
    if (id === tab) $(`tab-${id}`).setAttribute('aria-current', 'page');
    else $(`tab-${id}`).removeAttribute('aria-current');
  }
  if (tab === 'camera') { loadPicture(); renderLabels(); }
  if (tab === 'why') loadWhy();
  if (tab === 'history') loadHistory(false);
  if (tab === 'plates') loadPlates();
}

async function start() {
  await loadSession();
  if (!state.session.can_read) return;
  // One round trip for all three, not three in a row: a phone's network is slow to answer.
  const [, , recent] = await Promise.all([loadConfig(), loadStatus(), api('/api/recent').catch(() => [])]);
  $('recent').replaceChildren();
  for (const h of recent) addRecent(h);
  drawGrid();
  renderDayChips();
  if (!state.camera && state.config.cameras.length) showCamera(state.config.cameras[0].name);
  else listen();
  route();
}

window.addEventListener('hashchange', route);
document.addEventListener('visibilitychange', () => {
  if (!state.session.can_read) return;
  listen();
  if (!document.hidden) loadStatus();
});
setInterval(() => { if (state.session.can_read && !document.hidden) loadStatus(); }, 2000);
setInterval(() => { if (!document.hidden && location.hash === '#camera' && state.config && (state.config.cameras.find((c) => c.name === state.camera) || {}).has_url) loadPicture(); }, 5000);
start().then(() => document.body.setAttribute('data-ready', '1'));
