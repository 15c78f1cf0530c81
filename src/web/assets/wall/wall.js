// The live wall at /wall/?project=ID&access_token=KIOSK_TOKEN: a lobby screen of a project's
// newest recordings (with a play button and their votes) and of how many people listen in
// each zone, kept current by the box's event stream (live.js) — no polling after the first
// load. The kiosk token comes in the link the console's Kiosks section gives; it is taken out
// of the address bar at once and kept for this tab only (sessionStorage), never shown.
//
// Order of the start, so nothing falls between the first load and the live updates: the
// event stream is found or made first (that fixes where it resumes), then the project, its
// zones and recordings are read, then the stream connects. A change read both ways is applied
// twice harmlessly: recordings are replaced whole, vote counts are set from the counts a vote
// message carries, listener streams are keyed by id.
import { api, ApiError, backoffMs, sleep } from '/web/shared/api.js';
import { WallFollower, StreamError } from '/web/wall/live.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'rw-wall-token';
/** Recordings shown at once (newest first). */
const SHOWN = 30;
/** Vote counts read at once while loading. */
const VOTE_READS = 4;
/** Vote types shown on a public wall (moderation votes are not). */
const VOTE_LABELS = { like: ['♥', 'like', 'likes'], rate: ['★', 'rating', 'ratings'] };

/** Page state, for tests and the curious (window.__wall): read it, do not drive the page with it. */
const wall = {
  projectId: null,
  project: null,
  /** speaker id → speaker */
  speakers: new Map(),
  /** asset id → asset (submitted audio of the project) */
  assets: new Map(),
  /** asset id → Map(type → {total, avg}) */
  votes: new Map(),
  /** vote id → {asset_id, type}, from vote messages (to take a withdrawn vote off) */
  voteIndex: new Map(),
  /** listener stream id → speaker ids of the zones it is in */
  listeners: new Map(),
  /** The newest `created` (ms) known: a recording created later is a new arrival. */
  newest: 0,
  /** Asset ids that arrived while the page was open. */
  arrived: [],
  /** The last messages applied: {id (meta.id), type, object (its id), deleted}. */
  log: [],
  state: 'starting',
  follower: null,
  loaded: false,
};
window.__wall = wall;

// ---------- token and project from the address ----------

function readAddress() {
  const q = new URLSearchParams(location.search);
  let token = q.get('access_token');
  if (token) {
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      /* no storage: memory only (a reload then needs the link again) */
    }
    // Out of the address bar (and of any Referer) before anything is fetched.
    q.delete('access_token');
    const rest = q.toString();
    history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  } else {
    try {
      token = sessionStorage.getItem(TOKEN_KEY);
    } catch {
      token = null;
    }
  }
  const project = Number(q.get('project'));
  return { token, projectId: Number.isInteger(project) && project > 0 ? project : null };
}

// ---------- messages ----------

function say(text) {
  $('status').textContent = text;
}

function fail(text) {
  $('error-text').textContent = text;
  $('error').hidden = false;
}

function clearFail() {
  $('error').hidden = true;
}

const LIVE_TEXT = {
  starting: 'Connecting…',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  refused: 'Not connected',
  off: 'Not live',
};

function setLive(state) {
  wall.state = state;
  $('live').dataset.state = state;
  $('live-text').textContent = LIVE_TEXT[state] || state;
}

let announceTimer = null;
/** Says a new arrival in the polite live region (a screen reader reads it when idle). */
function announce(text) {
  const box = $('arrivals');
  box.textContent = '';
  clearTimeout(announceTimer);
  // A fresh node each time, so the same words are read again for the next arrival.
  announceTimer = setTimeout(() => (box.textContent = text), 50);
}

const REVOKED =
  'This screen’s kiosk link no longer works (the kiosk was revoked, or the link is incomplete). ' +
  'A curator can open the console (/console/), section Kiosks, and open a new wall link on this screen.';

// ---------- formatting ----------

/** Milliseconds of an api/2 time (UTC; naive times are UTC too). */
function timeMs(s) {
  if (!s) return 0;
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s}Z`);
  return Number.isNaN(t) ? 0 : t;
}

function when(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === new Date().toDateString()) return `Today ${time}`;
  return `${d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })}, ${time}`;
}

function length(seconds) {
  if (seconds == null || !Number.isFinite(Number(seconds))) return '';
  const s = Math.round(Number(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const title = (a) => (a.description && a.description.trim()) || `Recording #${a.id}`;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

// ---------- recordings ----------

/** Whether an asset belongs on the wall: submitted audio of this project with a file. */
function shows(a) {
  return !!a && a.submitted === true && (a.media_type || 'audio') === 'audio' && !!a.file && (a.project_id == null || Number(a.project_id) === wall.projectId);
}

/** The recordings shown, newest first. */
function shown() {
  return [...wall.assets.values()].sort((a, b) => timeMs(b.created) - timeMs(a.created) || b.id - a.id).slice(0, SHOWN);
}

/** id → {li, audio, play, votesEl, sig} */
const cards = new Map();
let playing = null;

function renderCards() {
  const list = shown();
  const ids = new Set(list.map((a) => a.id));
  for (const [id, c] of cards) {
    if (!ids.has(id)) {
      c.audio.pause();
      c.li.remove();
      cards.delete(id);
    }
  }
  const ol = $('cards');
  let prev = null;
  for (const a of list) {
    let c = cards.get(a.id);
    if (!c) {
      c = makeCard(a);
      cards.set(a.id, c);
    }
    const sig = JSON.stringify([a.description, a.file, a.created, a.audio_length_in_seconds]);
    if (c.sig !== sig) fillCard(c, a, sig);
    if (prev ? prev.nextSibling !== c.li : ol.firstChild !== c.li) {
      if (prev) prev.after(c.li);
      else ol.prepend(c.li);
    }
    prev = c.li;
    if (!wall.votes.has(a.id)) wantVotes(a.id);
  }
  const n = wall.assets.size;
  $('recordings-summary').textContent = n
    ? `${n} recording${n === 1 ? '' : 's'} so far${n > SHOWN ? `; the newest ${SHOWN} are shown` : ''}. Press Play to listen here.`
    : 'No recording yet. Yours could be the first!';
}

function makeCard(a) {
  const audio = el('audio', { preload: 'none' });
  const play = el('button', { type: 'button', class: 'wall-play' });
  const c = {
    li: el('li', { class: 'wall-card', dataset: { assetId: a.id } }),
    audio,
    play,
    titleEl: el('h3', { class: 'wall-card-title' }),
    metaEl: el('p', { class: 'wall-card-meta' }),
    votesEl: el('p', { class: 'wall-votes' }),
    sig: null,
    name: '',
  };
  play.addEventListener('click', () => toggle(c));
  audio.addEventListener('play', () => playState(c, true));
  audio.addEventListener('pause', () => playState(c, false));
  audio.addEventListener('ended', () => playState(c, false));
  audio.addEventListener('error', () => {
    playState(c, false);
    if (audio.getAttribute('src')) say(`“${c.name}” could not be played (its file did not load).`);
  });
  c.li.append(el('div', { class: 'wall-card-play' }, play, audio), el('div', { class: 'wall-card-body' }, c.titleEl, c.metaEl, c.votesEl));
  return c;
}

function fillCard(c, a, sig) {
  c.sig = sig;
  c.name = title(a);
  c.titleEl.textContent = c.name;
  const ms = timeMs(a.created);
  const time = ms ? el('time', { datetime: new Date(ms).toISOString() }, when(ms)) : null;
  const len = length(a.audio_length_in_seconds);
  c.metaEl.replaceChildren(...[time, len ? `${time ? ' · ' : ''}${len}` : null].filter(Boolean));
  if (c.audio.getAttribute('src') !== a.file) {
    c.audio.pause();
    c.audio.setAttribute('src', a.file);
  }
  playState(c, !c.audio.paused);
  renderVotes(a.id);
}

function playState(c, on) {
  c.play.replaceChildren(el('span', { 'aria-hidden': 'true', class: 'wall-icon' }, on ? '❚❚' : '▶'), ` ${on ? 'Pause' : 'Play'}`, el('span', { class: 'visually-hidden' }, ` ${c.name}`));
  c.li.classList.toggle('wall-playing', on);
  if (on) playing = c;
  else if (playing === c) playing = null;
}

function toggle(c) {
  if (!c.audio.paused) {
    c.audio.pause();
    return;
  }
  if (playing && playing !== c) playing.audio.pause();
  c.audio.play().catch((e) => {
    if (e && e.name === 'AbortError') return;
    say(`“${c.name}” could not be played (${e && e.message ? e.message : 'the browser refused'}).`);
  });
}

// ---------- votes ----------

function setCounts(assetId, list) {
  const m = new Map();
  for (const v of list || []) m.set(v.type, { total: Number(v.total) || 0, avg: v.avg ?? null });
  wall.votes.set(assetId, m);
  renderVotes(assetId);
}

function bump(assetId, type, by) {
  const m = wall.votes.get(assetId);
  if (!m) return;
  const v = m.get(type) || { total: 0, avg: null };
  v.total = Math.max(0, v.total + by);
  m.set(type, v);
  renderVotes(assetId);
}

function renderVotes(assetId) {
  const c = cards.get(assetId);
  if (!c) return;
  const m = wall.votes.get(assetId);
  if (!m) {
    c.votesEl.replaceChildren();
    return;
  }
  const parts = [];
  for (const [type, [icon, one, many]] of Object.entries(VOTE_LABELS)) {
    const v = m.get(type);
    if (type !== 'like' && !(v && v.total)) continue;
    const total = v ? v.total : 0;
    const avg = type === 'rate' && v && v.avg != null ? `${Number(v.avg).toFixed(1)} ` : '';
    parts.push(el('span', { class: 'wall-vote', dataset: { vote: type, total } }, el('span', { 'aria-hidden': 'true' }, `${icon} `), `${avg}${type === 'rate' ? '(' : ''}${total} ${total === 1 ? one : many}${type === 'rate' ? ')' : ''}`));
  }
  c.votesEl.replaceChildren(...parts);
}

const voteQueue = [];
const voteWanted = new Set();
let voteReaders = 0;

/** Reads a shown recording's vote counts once (at the start, or when it comes into view). */
function wantVotes(id) {
  if (voteWanted.has(id)) return;
  voteWanted.add(id);
  voteQueue.push(id);
  while (voteReaders < VOTE_READS && voteQueue.length) readVotes();
}

async function readVotes() {
  voteReaders += 1;
  try {
    while (voteQueue.length) {
      const id = voteQueue.shift();
      if (wall.votes.has(id) || !wall.assets.has(id)) continue;
      try {
        const counts = await api(`assets/${id}/votes/`, { token: wall.token });
        // A vote message that came meanwhile is as new or newer: keep it.
        if (!wall.votes.has(id)) setCounts(id, counts);
      } catch (e) {
        voteWanted.delete(id);
        if (e instanceof ApiError && e.unauthorized) return refused();
      }
    }
  } finally {
    voteReaders -= 1;
  }
}

// ---------- listeners by zone ----------

function renderZones() {
  const counts = new Map();
  for (const ids of wall.listeners.values()) for (const id of new Set(ids)) counts.set(id, (counts.get(id) || 0) + 1);
  const zones = [...wall.speakers.values()].filter((s) => s.activeyn !== false).map((s) => s.id);
  for (const id of counts.keys()) if (!zones.includes(id)) zones.push(id);
  const total = wall.listeners.size;
  const most = Math.max(1, ...counts.values());
  const label = (id) => {
    const s = wall.speakers.get(id);
    return (s && s.code && String(s.code).trim()) || `Zone ${id}`;
  };
  zones.sort((a, b) => label(a).localeCompare(label(b)));
  $('zones').replaceChildren(
    ...zones.map((id) => {
      const n = counts.get(id) || 0;
      return el(
        'li',
        { class: 'wall-zone', dataset: { zone: id, count: n } },
        el('span', { class: 'wall-zone-name' }, label(id)),
        el('span', { class: 'wall-zone-count' }, String(n), el('span', { class: 'visually-hidden' }, ` listening`)),
        el('span', { class: 'wall-bar', 'aria-hidden': 'true' }, el('span', { style: `width: ${Math.round((100 * n) / most)}%` })),
      );
    }),
  );
  if (!zones.length) $('zones').append(el('li', { class: 'rw-muted' }, 'This project has no zones.'));
  $('total').textContent = String(total);
  $('total-label').textContent = total === 1 ? 'person listening' : 'people listening';
}

// ---------- messages from the event stream ----------

function onMessage(msg) {
  const meta = msg.meta || {};
  if (meta.project_id != null && Number(meta.project_id) !== wall.projectId) return;
  const data = msg.data;
  wall.log.push({ id: Number(meta.id), type: meta.type, object: data ? (data.stream_id ?? data.id ?? null) : null, deleted: !!meta.is_deleted });
  if (wall.log.length > 200) wall.log.splice(0, wall.log.length - 200);
  if (meta.type === 'asset') assetChanged(meta, data);
  else if (meta.type === 'vote') voteChanged(meta, data);
  else if (meta.type === 'stream') streamChanged(meta, data);
}

function assetChanged(meta, a) {
  // A deleted object's message names it by its data's id; one without data cannot be placed.
  const id = a && a.id != null ? Number(a.id) : null;
  if (id == null) return;
  if (meta.is_deleted || !shows(a)) {
    if (wall.assets.delete(id)) renderCards();
    return;
  }
  const created = timeMs(a.created);
  const fresh = !wall.assets.has(id) && created > wall.newest;
  wall.assets.set(id, a);
  if (fresh) {
    wall.newest = created;
    wall.arrived.push(id);
    // A recording that just arrived has no votes yet (a vote's message brings its counts).
    if (!wall.votes.has(id)) setCounts(id, []);
  }
  renderCards();
  if (fresh) {
    const c = cards.get(id);
    if (c) {
      c.li.classList.remove('wall-new');
      void c.li.offsetWidth;
      c.li.classList.add('wall-new');
    }
    announce(`New recording: ${title(a)}.`);
  }
}

function voteChanged(meta, v) {
  if (meta.is_deleted) {
    const seen = v && v.id != null ? wall.voteIndex.get(Number(v.id)) : null;
    const what = seen || (v && v.asset_id != null && v.type ? { asset_id: Number(v.asset_id), type: v.type } : null);
    if (!what) return;
    if (v && v.id != null) wall.voteIndex.delete(Number(v.id));
    bump(what.asset_id, what.type, -1);
    return;
  }
  if (!v || v.asset_id == null) return;
  const assetId = Number(v.asset_id);
  wall.voteIndex.set(Number(v.id), { asset_id: assetId, type: v.type });
  if (Array.isArray(v.asset_votes)) setCounts(assetId, v.asset_votes);
  else if (wall.votes.has(assetId)) bump(assetId, v.type, 1);
}

function streamChanged(meta, s) {
  if (!s || s.stream_id == null) return;
  const id = Number(s.stream_id);
  if (meta.is_deleted || s.active === false) wall.listeners.delete(id);
  else wall.listeners.set(id, (s.speaker_ids || []).map(Number));
  renderZones();
}

function onControl(c) {
  if (c.message) say(`From the box: ${c.message}`);
  // Changes removed before this screen read them: read the recordings again.
  if (c.type === 'missed') loadRecordings().catch(() => {});
}

function onState(state, err) {
  if (state === 'refused') return refused(err);
  setLive(state);
  if (state === 'live') {
    clearFail();
    if (/^(Reconnecting|Connecting)/.test($('status').textContent)) say('');
  } else if (state === 'reconnecting') {
    say('Reconnecting to the box… (what happens meanwhile is shown when it is back)');
  }
}

function refused(err) {
  if (wall.follower) wall.follower.stop();
  setLive('refused');
  fail(err && err.status === 403 ? `This link’s token may not follow the box’s events (${err.message}). Use the wall link from the console’s Kiosks section.` : REVOKED);
}

// ---------- start ----------

async function loadRecordings() {
  const list = await api('assets/', { token: wall.token, query: { project_id: wall.projectId, submitted: 'true', media_type: 'audio' } });
  const items = Array.isArray(list) ? list : list.results || [];
  wall.assets = new Map(items.filter(shows).map((a) => [a.id, a]));
  wall.newest = Math.max(wall.newest, 0, ...items.map((a) => timeMs(a.created)));
  renderCards();
}

async function load() {
  const [project, speakers, listeners] = await Promise.all([
    api(`projects/${wall.projectId}/`, { token: wall.token }),
    api('speakers/', { token: wall.token, query: { project_id: wall.projectId } }),
    api(`projects/${wall.projectId}/listeners/`, { token: wall.token }),
  ]);
  // Who listens where now; the stream's `stream` messages keep it current from here.
  wall.listeners = new Map((Array.isArray(listeners) ? listeners : []).map((l) => [Number(l.stream_id), (l.speaker_ids || []).map(Number)]));
  wall.project = project;
  document.title = `${project.name} — live wall`;
  $('title').textContent = project.name;
  wall.speakers = new Map((Array.isArray(speakers) ? speakers : speakers.results || []).map((s) => [s.id, s]));
  await loadRecordings();
  renderZones();
  $('wall').hidden = false;
  wall.loaded = true;
}

/** Without ?project: the box's only project, if it has one. */
async function onlyProject() {
  const list = await api('projects/', { token: wall.token });
  const projects = Array.isArray(list) ? list : list.results || [];
  return projects.length === 1 ? projects[0].id : null;
}

async function start() {
  const { token, projectId } = readAddress();
  wall.token = token;
  if (!token) {
    setLive('off');
    fail(
      'This wall needs its kiosk link, which carries a read-only token. A curator opens the console ' +
        '(/console/), section Kiosks, makes a kiosk for this screen and opens its wall link here.',
    );
    return;
  }
  for (let attempt = 0; ; attempt++) {
    try {
      wall.projectId = projectId || (await onlyProject());
      if (!wall.projectId) {
        setLive('off');
        fail('Which project? Open the wall link from the console’s Kiosks section: it names the project (/wall/?project=ID…).');
        return;
      }
      wall.follower = new WallFollower({ token, projectId: wall.projectId, onMessage, onControl, onState });
      say('Loading…');
      let live = true;
      try {
        // First the stream (where it resumes is fixed now), then what is there, then live.
        await wall.follower.prepare();
      } catch (e) {
        if (!(e instanceof StreamError) || e.status === 0 || e.status >= 500) throw e;
        if (e.status === 401) return refused(e);
        if (e.status === 403) return refused(e);
        // Event streams switched off, or refused: the wall shows what is there, not live.
        live = false;
        setLive('off');
        fail(`Live updates are not available: ${e.message}`);
      }
      await load();
      say('');
      if (live) wall.follower.connect();
      return;
    } catch (e) {
      if ((e instanceof ApiError && e.unauthorized) || (e instanceof StreamError && e.status === 401)) return refused(e);
      if (e instanceof ApiError && e.status === 404) {
        setLive('off');
        fail(`There is no project ${projectId} on this box. Open the wall link from the console’s Kiosks section.`);
        return;
      }
      const wait = backoffMs(Math.min(attempt, 5));
      setLive('reconnecting');
      say(`${e.message}. Trying again in ${Math.round(wait / 1000)} s…`);
      await sleep(wait);
    }
  }
}

start();
