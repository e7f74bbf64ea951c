// camrelay's page: relays and why, cameras, the camera's picture with its
// zones and live targets, the zone editor and each rule's why-not.
// Reads /api/status, /api/config, /api/recent and the /api/events stream;
// changes things only through the API (relay commands, zone saves). Text
// from the daemon is always set as text, never parsed as HTML.

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const FULL = 10000;

const state = {
  session: { token_configured: false, logged_in: false, can_read: false, can_edit_zones: false },
  config: null,
  status: null,
  statusAt: 0, // Date.now() when status was read: at_ms values are on the daemon's clock
  recent: [],
  camera: null,
  targets: [], // of the shown camera, newest post
  draft: null, // the zone editor's working copy for the shown camera
  drag: null,
  events: null,
};

// When each target id was first drawn (the latency benchmark reads it).
window.camrelayDrawn = new Map();

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
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

// Milliseconds on the daemon's clock now.
function daemonNow() {
  return state.status ? state.status.uptime_ms + (Date.now() - state.statusAt) : 0;
}

function span(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function ago(atMs) {
  return `${span(daemonNow() - atMs)} ago`;
}

function whyText(why) {
  if (!why) return '';
  const parts = [`rule "${why.rule}"`, why.event];
  if (why.camera) parts.push(`camera ${why.camera}`);
  if (why.target != null) parts.push(`target #${why.target}`);
  if (why.zone) parts.push(`zone ${why.zone}`);
  if (why.area) parts.push(`area ${why.area}`);
  if (why.plate) parts.push(`plate ${why.plate}`);
  return parts.filter(Boolean).join(' · ');
}

function manualText(m) {
  if (m == null) return '';
  if (typeof m === 'string') return m;
  return Object.entries(m).map(([k, v]) => (v && v.duration_ms ? `${k} ${v.duration_ms / 1000} s` : k)).join(' ');
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

// ---- overview --------------------------------------------------------------

async function loadStatus() {
  try {
    state.status = await api('/api/status');
    state.statusAt = Date.now();
  } catch (e) {
    return;
  }
  $('clock').textContent = `up ${span(state.status.uptime_ms)} · pid ${state.status.pid}`;
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
    addRecentLine(`manual ${action} on ${relay} refused: ${e.message}`, true);
  }
  refreshStatusSoon();
}

function renderRelays() {
  const tbody = $('relays').tBodies[0];
  tbody.replaceChildren();
  if (!state.status) return;
  const now = daemonNow();
  for (const r of state.status.relays) {
    const pulse = el('input', { class: 'pulse', value: '1s', 'aria-label': `pulse length for ${r.name}` });
    const button = (label, action) => {
      const b = el('button', { type: 'button', 'data-write': '', 'data-relay': r.name, 'data-action': action,
        onclick: () => control(r.name, action, action === 'pulse' ? pulse.value : null) }, label);
      b.disabled = !state.session.logged_in;
      return b;
    };
    const times = [`since ${span(now - r.since)} ago`];
    if (r.until != null) times.push(`until in ${span(r.until - now)}`);
    const why = r.why ? whyText(r.why) : r.reason;
    const holds = (r.claims || []).filter((c) => !c.spent).length;
    tbody.append(el('tr', { 'data-relay': r.name },
      el('td', {}, r.name),
      el('td', {}, el('span', { class: r.on ? 'pill on' : 'pill', 'data-state': r.on ? 'on' : 'off' }, r.on ? 'ON' : 'off')),
      el('td', {}, why, holds > 1 ? el('div', { class: 'muted' }, `${holds} claims hold it`) : ''),
      el('td', {}, times.join(', ')),
      el('td', {}, r.pending ? r.pending.waiting_for : (r.write_fault ? 'write fault: retrying' : '')),
      el('td', {}, manualText(r.manual)),
      el('td', {}, button('On', 'on'), ' ', button('Off', 'off'), ' ', button('Pulse', 'pulse'), pulse, ' ', button('Release', 'release')),
    ));
  }
}

function renderInputs() {
  const inputs = (state.status && state.status.inputs) || [];
  $('inputs-section').hidden = inputs.length === 0;
  const tbody = $('inputs').tBodies[0];
  tbody.replaceChildren();
  const now = daemonNow();
  for (const i of inputs) {
    const word = i.on == null ? 'not read' : i.on ? 'ON' : 'off';
    tbody.append(el('tr', { 'data-input': i.name },
      el('td', {}, i.name, i.device_class ? el('div', { class: 'muted' }, i.device_class.replace('_', ' ')) : ''),
      el('td', {}, el('span', { class: i.on ? 'pill on' : 'pill', 'data-state': word }, word)),
      el('td', {}, i.since_ms == null ? '' : `since ${span(now - i.since_ms)} ago`),
      el('td', {}, String(i.changes)),
    ));
  }
}

function renderCameras() {
  const tbody = $('cameras').tBodies[0];
  tbody.replaceChildren();
  if (!state.status || !state.config) return;
  const devices = state.status.devices || [];
  const subs = state.status.subscriptions || [];
  const rows = state.config.cameras.map((c) => c.name);
  for (const d of devices) if (!d.camera && !rows.includes(d.key)) rows.push(d.key);
  for (const name of rows) {
    const d = devices.find((x) => x.camera === name || (!x.camera && x.key === name));
    const s = subs.find((x) => x.camera === name);
    const online = d ? d.online : null;
    const sub = s ? (s.posts_here === true ? 'posts here' : s.posts_here === false ? 'does not post here' : 'not checked') : '';
    const view = el('button', { type: 'button', onclick: () => { showCamera(name); location.hash = '#camera'; } }, 'View');
    tbody.append(el('tr', {},
      el('td', {}, name, d && !d.camera ? el('div', { class: 'muted' }, 'no [[camera]] block matches it') : ''),
      el('td', {}, el('span', { class: online === false ? 'pill offline' : online ? 'pill on' : 'pill' },
        online === false ? 'offline' : online ? 'online' : 'not seen')),
      el('td', {}, d ? `${new Date(d.last_seen).toLocaleTimeString()}${d.last_event ? ' · ' + d.last_event.kind : ''} · ${d.posts} posts` : ''),
      el('td', {}, sub, s ? el('div', { class: 'muted' }, s.detail) : ''),
      el('td', {}, view),
    ));
  }
}

function recentText(h) {
  switch (h.type) {
    case 'switched': return [`${h.relay} ${h.on ? 'ON' : 'off'}: ${h.reason}`, false];
    case 'input': return [`input ${h.input} ${h.on ? 'on' : 'off'}`, false];
    case 'did_not_move': return [`${h.news.relay} switched on but ${h.news.input} did not move`, true];
    case 'tailgating': return [`tailgating: ${h.news.vehicles} vehicles while ${h.news.input} said the gate was open`, true];
    case 'fired': return [`${whyText(h.why)} → ${h.relay}: ${h.action}`, false];
    case 'no_effect': return [`rule "${h.rule}" matched, nothing happened: ${h.reason} (${h.detail})`, false];
    case 'device': return [`${h.device} ${h.online ? 'is posting again' : 'went silent'}`, !h.online];
    case 'reloaded': return [h.applied ? `rules reloaded: ${h.message}` : `reload refused, the old rules stay: ${h.message}`, !h.applied];
    case 'detected': {
      const d = h.detection;
      const where = d.zones.length ? ` in ${d.zones.join(', ')}` : '';
      return [`${d.camera}: ${d.kind}${d.class ? ' ' + d.class : ''}${where}${d.plate ? ' plate ' + d.plate : ''}`, false];
    }
    case 'remote': return [`${whyText(h.why)} → ${h.node}/${h.relay}: ${h.action.action} (to node ${h.node} over MQTT)`, false];
    default: return [JSON.stringify(h), false];
  }
}

function addRecentLine(text, bad, atMs, key) {
  const first = $('recent').firstElementChild;
  // A hold renewed on every post is one line with a count, not a flood.
  if (key && first && first.dataset.key === key) {
    const n = Number(first.dataset.count || 1) + 1;
    first.dataset.count = n;
    first.lastChild.textContent = `${text} (×${n})`;
    return;
  }
  const li = el('li', { class: bad ? 'error' : '' }, el('span', { class: 'muted' }, atMs != null ? `${ago(atMs)} ` : 'now '), text);
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
      if (type === 'reloaded') loadConfig();
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
    const r = await fetch(`/api/cameras/${encodeURIComponent(state.camera)}/snapshot`, { credentials: 'same-origin' });
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
    $('picture-source').textContent = source === 'live' ? `live picture, ${new Date().toLocaleTimeString()}` : 'the last picture a post carried';
  } catch (e) {
    img.hidden = true;
    $('picture-source').textContent = `no picture (${e.message}): drawing on the 0–10000 grid`;
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

function resetDraft() {
  state.draft = {
    camera: state.camera,
    zones: cameraZones().map((z) => ({ name: z.name, polygon: z.polygon.map((p) => [...p]), anchor: z.anchor, dirty: false, isNew: false })),
    removed: [],
    sel: null,
    selPt: -1,
  };
  if (state.draft.zones.length) state.draft.sel = state.draft.zones[0].name;
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
    if (z.polygon.length) {
      const label = svg('text', { class: 'zone-label', x: z.polygon[0][0] + 80, y: z.polygon[0][1] - 80, 'pointer-events': 'none' });
      label.textContent = z.name;
      g.append(label);
    }
    if (selected) {
      z.polygon.forEach((p, i) => {
        const c = svg('circle', { class: `handle${i === state.draft.selPt ? ' selected' : ''}`, cx: p[0], cy: p[1], r: 110, 'data-point': i });
        h.append(c);
      });
    }
  }
}

function renderTargets() {
  const g = $('targets');
  g.replaceChildren();
  const tbody = $('targets-table').tBodies[0];
  tbody.replaceChildren();
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
      const label = svg('text', { class: 'target-label', x: Math.min(r.x1, r.x2), y: Math.max(150, Math.min(r.y1, r.y2) - 60) });
      label.textContent = [`${t.class} #${t.id}`, t.zones.join(', '), t.stationary ? 'stationary' : '', held.length ? `holds ${held.join(', ')}` : ''].filter(Boolean).join(' · ');
      g.append(label);
    }
    tbody.append(el('tr', { 'data-target': t.id },
      el('td', {}, `#${t.id}`), el('td', {}, t.class), el('td', {}, t.zones.join(', ')),
      el('td', {}, t.stationary ? 'yes' : ''), el('td', {}, held.join(', ')), el('td', {}, span(t.seen_for_ms))));
  }
}

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
    zoneMsg(regions.length ? `${regions.length} region(s) and line side(s) from the camera: Save to keep them.` : 'The camera has no regions or lines drawn.', false);
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
    resetDraft();
    zoneMsg(`Saved (${words}) and applied: ${r.reload.message}`, false);
  } catch (e) {
    zoneMsg(e.message, true);
  }
});

$('camera-select').addEventListener('change', () => showCamera($('camera-select').value));
$('picture-refresh').addEventListener('click', loadPicture);

// ---- why ---------------------------------------------------------------------

async function loadWhy() {
  const rule = $('rule-select').value;
  const tbody = $('why-table').tBodies[0];
  if (!rule) return;
  const r = state.config.rules.find((x) => x.name === rule);
  if (r) {
    const where = [r.cameras.length ? `on ${r.cameras.join(', ')}` : '', r.zones.length ? `in ${r.zones.join(', ')}` : ''].filter(Boolean).join(' ');
    $('rule-text').textContent = `When ${r.events.join(' or ') || 'anything'} ${where}: ${r.action} ${r.relay}.`;
  }
  try {
    const w = await api(`/api/rules/${encodeURIComponent(rule)}/why`);
    tbody.replaceChildren();
    for (const e of w.events.slice().reverse()) {
      const fired = e.verdict === 'fired';
      tbody.append(el('tr', {},
        el('td', {}, ago(e.at)), el('td', {}, e.event), el('td', {}, e.camera || ''),
        el('td', {}, e.target != null ? `#${e.target}` : ''),
        el('td', { class: fired ? 'verdict-fired' : '' }, e.text + (e.relay ? ` (the relay did nothing: ${e.relay})` : ''))));
    }
    if (!w.events.length) tbody.append(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No event has reached this rule yet.')));
  } catch (e) {
    tbody.replaceChildren(el('tr', {}, el('td', { colspan: 5, class: 'error' }, e.message)));
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
  cams.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
  const rules = $('rule-select');
  const chosen = rules.value;
  rules.replaceChildren(...state.config.rules.map((r) => el('option', { value: r.name }, r.name)));
  if (chosen) rules.value = chosen;
  if (state.camera) cams.value = state.camera;
  if (state.draft && !state.draft.zones.some((z) => z.dirty) && !state.draft.removed.length) resetDraft();
  renderCameras();
}

function route() {
  const tab = (location.hash || '#overview').slice(1);
  for (const id of ['overview', 'camera', 'why']) {
    $(id).hidden = id !== tab;
    $(`tab-${id}`).classList.toggle('active', id === tab);
  }
  if (tab === 'camera') loadPicture();
  if (tab === 'why') loadWhy();
}

async function start() {
  await loadSession();
  if (!state.session.can_read) return;
  await loadConfig();
  await loadStatus();
  const recent = await api('/api/recent').catch(() => []);
  $('recent').replaceChildren();
  for (const h of recent) addRecent(h);
  drawGrid();
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
