// The visitor page: choose a project, choose what to hear, Listen (users/ → sessions/ →
// streams/ → player.js), walk the map (PATCH streams/{id}/), and record (recorder.js), in the
// visitor's language (i18n.js): the session is opened in a language the project offers, the
// project's texts are read localized for that session, and the page's own words come from
// strings.js. Everything goes through the public api/2. State for tests and debugging: window.__rw.
import { apiUrl, ApiError, backoffMs, detailText, sleep } from '/web/shared/api.js';
import { t, say, sayText, setPageLanguage, browserLanguages, firstOffered, baseCode, nativeName, PageError } from '/web/visitor/i18n.js';
import { ProjectMap, fetchTiles, fetchFloorplan } from '/web/shared/map.js';
import { TakeRecorder, describeMicError } from '/web/visitor/recorder.js';
import { StreamPlayer } from '/web/visitor/player.js';
import { saved, tabStream } from '/web/visitor/storage.js';
import { identity, call, callUpload } from '/web/visitor/identity.js';

const $ = (id) => document.getElementById(id);
/** Page state, exposed for tests (window.__rw) — read it, do not drive the page with it. */
const rw = {
  /** The project's page is ready: its session open, its texts and tags rendered. */
  ready: false,
  /** The visitor's token (identity.js). */
  get token() {
    return identity.token;
  },
  projectId: null,
  sessionId: null,
  language: null,
  pageLanguage: null,
  languages: [],
  streamId: null,
  listening: false,
  audioState: 'idle',
  level: 0,
  firstAudioMs: null,
  listenClickedAt: null,
  streamOpenMs: null,
  playingMs: null,
  nowPlaying: [],
  listener: null,
  patches: 0,
  reconnects: 0,
  take: null,
  uploads: [],
  player: null,
  /** The personal stream's playback id (what POST /livepeer/api/clip takes) and the clips kept. */
  playbackId: null,
  clips: [],
};
window.__rw = rw;

let project = null;
let projectList = [];
let allLanguages = [];
let uiconfig = { listen: [], speak: [] };
let assetsById = new Map();
let map = null;

// ---------- messages ----------
/**
 * The page's own words: in the language the visitor picked, else the browser's, else the
 * project's (its texts are in that one), else English; the first of these the page has.
 */
const relanguage = () => (rw.pageLanguage = setPageLanguage([saved.get('lang'), ...browserLanguages(), rw.language]));
relanguage();
document.title = t('page.title');

/** The catalogue message [key, params] telling the visitor what went wrong. */
function errorMessage(err) {
  if (err instanceof PageError) return [err.key, err.params];
  if (err instanceof ApiError) {
    if (err.network) return ['error.network'];
    const detail = detailText(err.body);
    return detail ? ['error.server', { status: err.status, detail }] : ['error.serverBare', { status: err.status }];
  }
  return ['error.unexpected', { message: err instanceof Error ? err.message : String(err) }];
}

let retryAction = null;
function showError(err, retry) {
  const [key, params] = errorMessage(err);
  say($('error-text'), key, params);
  $('error').hidden = false;
  retryAction = retry || null;
  $('error-retry').hidden = !retry;
  console.warn(err instanceof Error ? err.message : String(err));
}
function clearError() {
  $('error').hidden = true;
  retryAction = null;
}
$('error-retry').addEventListener('click', async () => {
  const f = retryAction;
  clearError();
  if (f) await f();
});
$('error-close').addEventListener('click', clearError);
/** Shows catalogue message `key` in the element `id` (no key: empties it). */
const sayIn = (id) => (key, params) => (key ? say($(id), key, params) : sayText($(id), ''));
const status = sayIn('status');
const listenStatus = sayIn('listen-status');

// ---------- start: choose a project ----------
async function boot() {
  clearError();
  status('status.connecting');
  // A stream an earlier visit of this page left running (closed or reloaded while listening)
  // would hold one of the visitor's few stream places ([limits] streams_per_user) until it
  // times out: end it.
  const stale = Number(tabStream.get());
  if (stale && identity.token) call(`streams/${stale}/kill/`, { method: 'POST', body: {} }).catch(() => {});
  tabStream.set(null);
  try {
    const [projects, languages] = await Promise.all([call('projects/'), call('languages/')]);
    const list = rows(projects);
    projectList = list;
    allLanguages = rows(languages);
    if (!list.length) {
      status('status.noProject');
      return;
    }
    const wanted = Number(new URLSearchParams(location.search).get('project'));
    const pick = list.find((p) => p.id === wanted) || (list.length === 1 ? list[0] : null);
    if (pick) return openProject(pick.id);
    const sel = $('project-select');
    sel.replaceChildren(...list.map((p) => new Option(p.name, p.id)));
    const last = Number(saved.get('project'));
    if (list.some((p) => p.id === last)) sel.value = String(last);
    $('choose').hidden = false;
    status('status.choose');
    sel.focus();
  } catch (e) {
    status('');
    showError(e, boot);
  }
}
const rows = (r) => (Array.isArray(r) ? r : (r && r.results) || []);
$('project-go').addEventListener('click', () => openProject(Number($('project-select').value)));

async function openProject(id) {
  clearError();
  status('status.opening');
  try {
    const listed = projectList.find((p) => p.id === id) || (await call(`projects/${id}/`));
    rw.projectId = id;
    saved.set('project', String(id));
    rw.languages = projectLanguages(listed);
    const lang = firstOffered([saved.get('lang') || '', ...browserLanguages(), 'en'], rw.languages.map((l) => l.code)) || rw.languages[0]?.code || 'en';
    // The map first: it needs the project's place (from the list), its zones and recordings,
    // not the session, so Leaflet starts and the map is drawn while the session opens. Listen
    // and Record stay disabled until the session is there (renderProject).
    rw.ready = false;
    $('listen-btn').disabled = true;
    $('record-btn').disabled = true;
    sayText($('project-name'), listed.name);
    $('choose').hidden = true;
    $('project').hidden = false;
    makeMap();
    const drawn = Promise.all([
      call('speakers/', { query: { project_id: id, activeyn: true } }),
      call('assets/', { query: { project_id: id, submitted: true, media_type: 'audio' } }),
    ]).then(([speakers, assets]) => setupMap(listed, speakers || [], assets || []));
    const [opened] = await Promise.all([openSession(id, lang), drawn]);
    useSession(opened);
    renderProject(false);
    rw.ready = true;
    status('');
  } catch (e) {
    status('');
    showError(e, () => openProject(id));
  }
}

// ---------- languages ----------
/** A project's languages as {code, name}, in the project's order. */
function projectLanguages(p) {
  const byId = new Map(allLanguages.map((l) => [l.id, l]));
  return (p.language_ids || []).filter((i) => byId.has(i)).map((i) => ({ code: baseCode(byId.get(i).language_code), name: byId.get(i).name }));
}

/**
 * Opens a session of project `id` in language `lang` (the box then plays and files recordings
 * in that language) and reads the project and its UI localized for it. Changes no state.
 */
async function openSession(id, lang) {
  const session = await call('sessions/', {
    body: { project_id: id, geo_listen_enabled: true, client_system: navigator.userAgent.slice(0, 127), language: lang },
  });
  const q = { session_id: session.id };
  const [p, ui] = await Promise.all([call(`projects/${id}/`, { query: q }), call(`projects/${id}/uiconfig/`, { query: q })]);
  return { sessionId: session.id, lang, project: p, uiconfig: ui || { listen: [], speak: [] } };
}

function useSession(opened) {
  rw.sessionId = opened.sessionId;
  rw.language = opened.lang;
  project = opened.project;
  uiconfig = opened.uiconfig;
  // Now-playing follows the new session's listen events.
  events = [];
  newestStart = null;
}

/** Shows a text of the project (hidden when it has none). */
function showProjectText(el, text) {
  sayText(el, text || '');
  el.hidden = !text;
}

/**
 * Renders the project's texts in the session's language and the page's words in the nearest
 * language the page has; `keepChoices` keeps the visitor's tag choices (a language switch).
 */
function renderProject(keepChoices) {
  relanguage();
  for (const id of ['description', 'legal', 'sharing', 'listen-tags', 'speak-tags']) $(id).lang = rw.language;
  sayText($('project-name'), project.name);
  document.title = t('page.projectTitle', { project: project.name });
  sayText($('description'), project.description || '');
  showProjectText($('legal'), project.legal_agreement);
  showProjectText($('sharing'), rw.take?.uploaded ? project.sharing_message : '');
  renderTags($('listen-tags'), uiconfig.listen, 'listen', keepChoices);
  renderTags($('speak-tags'), uiconfig.speak, 'speak', keepChoices);
  $('listen-btn').disabled = !project.listen_enabled;
  $('record-btn').disabled = !project.speak_enabled;
  if (!project.speak_enabled) recordStatus('record.off');
  const sel = $('lang-select');
  sel.replaceChildren(
    ...rw.languages.map((l) => {
      const o = new Option(nativeName(l.code, l.name), l.code);
      o.lang = l.code;
      return o;
    }),
  );
  sel.value = rw.language;
  $('lang-box').hidden = rw.languages.length < 2;
}

// The latest choice wins when the visitor switches again before a switch finished.
let switchSeq = 0;
async function switchLanguage(lang) {
  if (lang === rw.language || !rw.projectId) return;
  const seq = ++switchSeq;
  clearError();
  saved.set('lang', lang);
  relanguage();
  status('status.switching');
  try {
    const wasListening = rw.listening;
    const opened = await openSession(rw.projectId, lang);
    if (seq !== switchSeq) return;
    // The stream belongs to the old session: it ends, and a new one starts in the new language.
    if (wasListening) await stopListening();
    useSession(opened);
    if (rw.take && !rw.take.uploaded) rw.take.envelopeId = null;
    renderProject(true);
    status('');
    if (wasListening) await startListening();
  } catch (e) {
    if (seq !== switchSeq) return;
    // Still in the language the texts are in; Retry tries the switch again.
    saved.set('lang', rw.language);
    relanguage();
    status('');
    $('lang-select').value = rw.language;
    showError(e, () => switchLanguage(lang));
  }
}
$('lang-select').addEventListener('change', (e) => switchLanguage(e.target.value));

// ---------- tags ----------
/** The tag choices of a form; `keepChoices` keeps what was checked (by tag) instead of the defaults. */
function renderTags(form, groups, kind, keepChoices) {
  const kept = keepChoices ? new Set(checkedTags(form)) : null;
  form.replaceChildren();
  for (const [gi, g] of (groups || []).entries()) {
    const fs = document.createElement('fieldset');
    const lg = document.createElement('legend');
    lg.textContent = g.header_display_text || g.group_short_name || t('tags.group');
    const box = document.createElement('div');
    box.className = 'rw-checks';
    const single = g.select === 'single';
    for (const item of g.display_items || []) {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = single ? 'radio' : 'checkbox';
      input.name = `${kind}-${gi}`;
      input.value = item.tag_id;
      input.checked = kept ? kept.has(item.tag_id) : !!item.default_state;
      // The box labels an item without a localized text with its tag's value (decisions.md).
      label.append(input, document.createTextNode(item.tag_display_text || t('tags.item', { id: item.tag_id })));
      box.append(label);
    }
    if (single && !box.querySelector('input:checked') && box.querySelector('input')) box.querySelector('input').checked = true;
    fs.append(lg, box);
    form.append(fs);
  }
}
const checkedTags = (form) => [...form.querySelectorAll('input:checked')].map((i) => Number(i.value));
const allTags = (form) => [...form.querySelectorAll('input')].map((i) => Number(i.value));

$('listen-tags').addEventListener('change', async () => {
  if (!rw.streamId) return;
  try {
    await call(`streams/${rw.streamId}/`, { method: 'PATCH', body: { tag_ids: checkedTags($('listen-tags')).join(',') } });
    listenStatus('listen.following');
  } catch (e) {
    showError(e, () => $('listen-tags').dispatchEvent(new Event('change')));
  }
});

// ---------- map and listener position ----------
let mapMade = null;
/** Starts the map (Leaflet) once, as soon as its card shows; settles with it. */
const makeMap = () => (mapMade ??= ProjectMap.create($('map'), { onMoveListener: (lat, lon, { final }) => moveListener(lat, lon, final) }));

/** Draws project `proj`'s zones and recordings and places the listener. */
async function setupMap(proj, speakers, assets) {
  assetsById = new Map(assets.map((a) => [a.id, a]));
  map = await makeMap();
  map.setSpeakers(speakers);
  map.setAssets(assets.map(assetMarker));
  const radius = Math.max(60, Number(proj.recording_radius) || 0);
  map.setBounds({ latitude: proj.latitude, longitude: proj.longitude, radius_m: radius });
  map.fit(25);
  const last = (saved.get(`listener.${proj.id}`) || '').split(',').map(Number);
  const [lat, lon] = last.length === 2 && last.every(Number.isFinite) ? last : [proj.latitude, proj.longitude];
  setListener(lat, lon);
  loadBackdrop(proj.id);
}

/** The box's offline tiles and the project's floor plan, when it has them (after the first paint). */
async function loadBackdrop(id) {
  try {
    const [tiles, plan] = await Promise.all([fetchTiles(call), fetchFloorplan(call, id)]);
    if (rw.projectId !== id) return;
    map.setTiles(tiles).setFloorplan(plan);
  } catch (e) {
    // The map works on its grid without them; the zones and the walk are what matter.
    console.warn('map backdrop not loaded:', e.message);
  }
}

function assetMarker(a) {
  return { id: a.id, latitude: a.latitude, longitude: a.longitude, label: a.description || t('recording.name', { id: a.id }) };
}

function setListener(lat, lon) {
  rw.listener = { lat, lon };
  map.setListener(lat, lon);
  say($('listener-pos'), 'map.position', { lat: lat.toFixed(6), lon: lon.toFixed(6) });
  saved.set(`listener.${rw.projectId}`, `${lat},${lon}`);
}

// At most one PATCH in flight and one every 250 ms; the last position always goes out.
let patchBusy = false;
let patchPending = false;
let lastPatchAt = 0;
function moveListener(lat, lon, final) {
  setListener(lat, lon);
  patchPending = true;
  if (final) lastPatchAt = 0;
  pumpPatch();
}
async function pumpPatch() {
  if (patchBusy || !patchPending || !rw.streamId) return;
  const wait = lastPatchAt + 250 - performance.now();
  if (wait > 0) {
    setTimeout(pumpPatch, wait);
    return;
  }
  patchBusy = true;
  patchPending = false;
  lastPatchAt = performance.now();
  const { lat, lon } = rw.listener;
  try {
    await call(`streams/${rw.streamId}/`, { method: 'PATCH', body: { latitude: lat, longitude: lon } });
    rw.patches++;
  } catch (e) {
    // A box that went away is handled by the stream's reconnection; anything else is shown.
    if (!(e instanceof ApiError && e.network) && rw.streamId) showError(e, () => moveListener(rw.listener.lat, rw.listener.lon, true));
  } finally {
    patchBusy = false;
    if (patchPending) pumpPatch();
  }
}

let geoWatch = null;
const geoSwitch = $('geo-switch');
if (!('geolocation' in navigator) || !window.isSecureContext) {
  geoSwitch.disabled = true;
  geoSwitch.parentElement.dataset.i18nTitle = 'geo.insecure';
  geoSwitch.parentElement.title = t('geo.insecure');
  const why = document.createElement('span');
  say(why, 'geo.notHere');
  geoSwitch.parentElement.append(' ', why);
}
const geoStatus = $('geo-status');
const sayGeo = sayIn('geo-status');
geoSwitch.addEventListener('change', () => {
  if (!geoSwitch.checked) {
    if (geoWatch !== null) navigator.geolocation.clearWatch(geoWatch);
    geoWatch = null;
    sayGeo('');
    return;
  }
  sayGeo('geo.waiting');
  geoWatch = navigator.geolocation.watchPosition(
    (p) => {
      sayGeo('geo.following', { metres: Math.round(p.coords.accuracy) });
      moveListener(p.coords.latitude, p.coords.longitude, true);
    },
    (err) => {
      if (err.code !== err.PERMISSION_DENIED) {
        // A lost fix (indoors, a tunnel) or a slow one: keep watching, keep the last point.
        sayGeo('geo.lost');
        return;
      }
      geoSwitch.checked = false;
      if (geoWatch !== null) navigator.geolocation.clearWatch(geoWatch);
      geoWatch = null;
      sayGeo('');
      showError(new PageError('geo.denied'));
    },
    { enableHighAccuracy: true, maximumAge: 2000, timeout: 20000 },
  );
});

// ---------- listening ----------
const player = $('player');
const streamPlayer = new StreamPlayer(player, (why) => reconnect(why));
rw.player = streamPlayer.mode;
let audioCtx = null;
let analyser = null;
let heartbeatTimer = null;
let nowPlayingTimer = null;
let lastProgressAt = 0;
let lastTime = 0;

function setupAudioGraph() {
  if (audioCtx) {
    audioCtx.resume();
    return;
  }
  try {
    audioCtx = new AudioContext();
    const src = audioCtx.createMediaElementSource(player);
    analyser = audioCtx.createAnalyser();
    analyser.fftSize = 2048;
    src.connect(analyser);
    analyser.connect(audioCtx.destination);
  } catch (e) {
    console.warn('no level meter:', e);
  }
  const buf = new Float32Array(2048);
  setInterval(() => {
    if (!analyser) return;
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    rw.level = Math.sqrt(sum / buf.length);
    $('level-bar').style.width = `${Math.min(100, rw.level * 300)}%`;
    if (rw.listening && rw.firstAudioMs === null && rw.level > 0.002) {
      rw.firstAudioMs = Math.round(performance.now() - rw.listenClickedAt);
    }
  }, 50);
}

$('listen-btn').addEventListener('click', () => (rw.listening ? stopListening() : startListening()));
$('skip-btn').addEventListener('click', async () => {
  try {
    await call(`streams/${rw.streamId}/skipasset/`, { method: 'POST', body: {} });
  } catch (e) {
    showError(e);
  }
});

async function openStream() {
  const { lat, lon } = rw.listener;
  const r = await call('streams/', { body: { session_id: rw.sessionId, latitude: lat, longitude: lon } });
  rw.streamId = r.stream_id;
  rw.playbackId = r.playback_id || null;
  playingSince = null;
  clipButton();
  if (rw.streamOpenMs === null) rw.streamOpenMs = Math.round(performance.now() - rw.listenClickedAt);
  const chosen = checkedTags($('listen-tags'));
  if (chosen.length !== allTags($('listen-tags')).length) {
    await call(`streams/${rw.streamId}/`, { method: 'PATCH', body: { tag_ids: chosen.join(',') } });
  }
  // The box's own message (out of range, demo) is localized for the session.
  const message = r.user_message || r.demo_stream_message;
  if (message) sayText($('listen-status'), message);
  else listenStatus('listen.listening');
  lastProgressAt = performance.now();
  await streamPlayer.play(r.stream_url);
}

async function startListening() {
  clearError();
  rw.listenClickedAt = performance.now();
  rw.firstAudioMs = null;
  rw.streamOpenMs = null;
  rw.playingMs = null;
  rw.listening = true;
  setupAudioGraph();
  const btn = $('listen-btn');
  say(btn, 'listen.stop');
  btn.setAttribute('aria-pressed', 'true');
  listenStatus('listen.starting');
  try {
    await openStream();
    tabStream.set(String(rw.streamId));
    $('skip-btn').disabled = false;
    heartbeatTimer = setInterval(() => rw.streamId && call(`streams/${rw.streamId}/heartbeat/`, { method: 'POST', body: {} }).catch(() => {}), 60000);
    nowPlayingTimer = setInterval(pollNowPlaying, 2000);
  } catch (e) {
    if (!rw.listening) return;
    if (e instanceof ApiError && e.network) return reconnect({ key: 'why.network' });
    stopListening(false);
    showError(e, startListening);
  }
}

/** Stops listening; resolves once the box was told to end the stream (`kill`). */
function stopListening(kill = true) {
  rw.listening = false;
  rw.audioState = 'idle';
  clearInterval(heartbeatTimer);
  clearInterval(nowPlayingTimer);
  streamPlayer.stop();
  const btn = $('listen-btn');
  say(btn, 'listen.start');
  btn.setAttribute('aria-pressed', 'false');
  $('skip-btn').disabled = true;
  clipButton();
  listenStatus('listen.stopped');
  const killed = kill && rw.streamId ? call(`streams/${rw.streamId}/kill/`, { method: 'POST', body: {} }).catch(() => {}) : Promise.resolve();
  if (kill) tabStream.set(null);
  rw.streamId = null;
  return killed;
}

// The box restarting under the page: the audio errors, ends or stalls. Re-create the stream
// with back-off until it plays again (or the visitor presses Stop). `why` is a catalogue
// message {key, args}.
let reconnecting = false;
async function reconnect(why) {
  if (reconnecting || !rw.listening) return;
  reconnecting = true;
  rw.audioState = 'reconnecting';
  clipButton();
  for (let attempt = 0; rw.listening; attempt++) {
    const delay = backoffMs(attempt);
    listenStatus('listen.reconnecting', { why, seconds: Math.ceil(delay / 1000) });
    await sleep(delay);
    if (!rw.listening) break;
    try {
      await openStream();
      rw.reconnects++;
      listenStatus('listen.reconnected');
      break;
    } catch (e) {
      const [key, args] = errorMessage(e);
      why = { key, args };
    }
  }
  reconnecting = false;
}

player.addEventListener('playing', () => {
  rw.audioState = 'playing';
  playingSince ??= Date.now();
  clipButton();
  if (rw.playingMs === null && rw.listenClickedAt !== null) rw.playingMs = Math.round(performance.now() - rw.listenClickedAt);
  pollNowPlaying();
  lastProgressAt = performance.now();
});
player.addEventListener('timeupdate', () => {
  if (player.currentTime !== lastTime) {
    lastTime = player.currentTime;
    lastProgressAt = performance.now();
  }
});
for (const ev of ['error', 'ended', 'stalled']) {
  player.addEventListener(ev, () => {
    if (rw.listening && player.getAttribute('src')) reconnect({ key: ev === 'error' ? 'why.audio' : ev === 'ended' ? 'why.closed' : 'why.noData' });
  });
}
// A watchdog for silent failures: no playback progress for 8 s while listening.
setInterval(() => {
  if (rw.listening && !reconnecting && rw.streamId && performance.now() - lastProgressAt > 8000) reconnect({ key: 'why.stalled' });
}, 2000);

// Now playing: the session's listen events (the box logs one per asset it starts). An event
// counts as playing for its duration after the page first saw it (offsets within one answer
// come from the box's start times), so the box's and the browser's clocks need not agree.
let newestStart = null;
let events = [];
async function pollNowPlaying() {
  if (!rw.sessionId || !rw.listening) return;
  try {
    const q = { session_id: rw.sessionId };
    if (newestStart) q.start_time__gte = newestStart;
    const list = await call('listenevents/', { query: q });
    const rows = Array.isArray(list) ? list : list.results || [];
    const now = Date.now();
    const seen = new Set(events.map((e) => e.id));
    const fresh = rows.filter((r) => !seen.has(r.id));
    const batchNewest = Math.max(...fresh.map((r) => Date.parse(r.start_time + 'Z')));
    for (const r of fresh) events.push({ ...r, seenAt: now - (batchNewest - Date.parse(r.start_time + 'Z')) });
    events.sort((a, b) => (a.start_time < b.start_time ? -1 : 1));
    events = events.slice(-10);
    if (events.length) newestStart = events[events.length - 1].start_time;
    const current = events.filter((e) => e.seenAt + (e.duration_in_seconds || 0) * 1000 > now).reverse();
    rw.nowPlaying = current.map((e) => e.asset_id);
    const names = [];
    for (const e of current) names.push(await assetName(e.asset_id));
    if (names.length) sayText($('now-playing-text'), names.join(' · '));
    else if (events.length) say($('now-playing-text'), 'listen.quiet');
    else sayText($('now-playing-text'), '—');
    map?.highlightAsset(current[0]?.asset_id ?? null);
  } catch {
    /* the stream's own reconnection reports a box that went away */
  }
}
async function assetName(id) {
  if (!assetsById.has(id)) {
    try {
      assetsById.set(id, await call(`assets/${id}/`));
    } catch {
      return t('recording.name', { id });
    }
  }
  const a = assetsById.get(id);
  return a.description || t('recording.name', { id });
}

// ---------- keep the last minute ----------
// The box keeps the last minute of the personal stream, stamped by its wall clock: the window
// asked for starts 1.5 s after the audio started playing here (never before the stream) and
// ends 0.5 s ago. A phone whose clock is off gets a 422 naming the box's window: asked again
// once with the last minute of that window.
let playingSince = null;
let clipBusy = false;
const clipButton = () => ($('clip-btn').disabled = clipBusy || !rw.listening || rw.audioState !== 'playing' || !rw.playbackId || playingSince === null);
async function keepClip() {
  if (clipButton()) return; // not playing (a Retry after Stop) or already asking
  const now = Date.now();
  const win = [Math.max(now - 60000, playingSince + 1500), now - 500];
  clearError();
  if (win[1] - win[0] < 1000) return showError(new PageError('clip.tooSoon'));
  clipBusy = true;
  clipButton();
  say($('clip-status'), 'clip.working');
  $('clip-link').hidden = $('clip-share').hidden = true;
  const ask = ([startTime, endTime]) =>
    call('/livepeer/api/clip', { body: { playbackId: rw.playbackId, startTime, endTime, name: t('clip.name', { project: project.name }) } });
  try {
    let r;
    try {
      r = await ask(win);
    } catch (e) {
      const m = e instanceof ApiError && e.status === 422 && /window is (\d+) to (\d+)/.exec(e.body?.errors?.[0]);
      if (!m || m[2] - m[1] < 2500) throw e;
      r = await ask([Math.max(+m[1] + 1000, m[2] - 58000), +m[2]]);
    }
    const a = r.asset;
    rw.clips.push(a);
    sayText($('clip-status'), '');
    const link = $('clip-link');
    link.href = new URL(a.downloadUrl, location.href).pathname;
    say(link, 'clip.download', { length: fmt((a.endTime - a.startTime) / 1000) });
    link.hidden = false;
    $('clip-share').hidden = !navigator.share;
  } catch (e) {
    sayText($('clip-status'), '');
    const refused = e instanceof ApiError && !e.network;
    if (refused && e.status === 429) showError(new PageError('clip.tooMany'));
    else showError(refused ? new PageError('clip.failed', { detail: e.body?.errors?.[0] || detailText(e.body) || e.status }) : e, keepClip);
  } finally {
    clipBusy = false;
    clipButton();
  }
}
$('clip-btn').addEventListener('click', keepClip);
$('clip-share').addEventListener('click', () => navigator.share({ title: t('clip.name', { project: project.name }), url: $('clip-link').href }).catch(() => {}));

// ---------- recording ----------
const recorder = new TakeRecorder({
  onTick: (s, max) => ($('record-time').textContent = `${fmt(s)} / ${fmt(max)}`),
  onStop: (take) => takeReady(take),
});
const fmt = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
const recordStatus = sayIn('record-status');

$('record-btn').addEventListener('click', async () => {
  const btn = $('record-btn');
  if (recorder.recording) {
    recorder.stop();
    return;
  }
  if (rw.take && !rw.take.uploaded) {
    recordStatus('record.busy');
    return;
  }
  clearError();
  try {
    await recorder.start(Number(project.max_recording_length) || 60);
    say(btn, 'record.stop');
    btn.classList.add('rw-recording');
    recordStatus('record.recording');
  } catch (e) {
    recordStatus('');
    showError(describeMicError(e), () => $('record-btn').click());
  }
});

async function takeReady(take) {
  const btn = $('record-btn');
  say(btn, 'record.start');
  btn.classList.remove('rw-recording');
  if (take.error) {
    showError(new PageError('record.prepareFailed', { why: take.error }));
    return;
  }
  take.tagIds = checkedTags($('speak-tags'));
  take.position = { ...rw.listener };
  take.url = URL.createObjectURL(take.blob);
  rw.take = take;
  $('take-download').href = take.url;
  $('take-download').download = take.filename;
  $('take-preview').src = take.url;
  $('take-preview').hidden = false;
  await uploadTake();
}

async function uploadTake() {
  const take = rw.take;
  if (!take || take.uploaded) return;
  clearError();
  $('take-actions').hidden = true;
  const bar = $('upload-progress');
  bar.hidden = false;
  bar.value = 0;
  recordStatus('record.uploading', { kb: (take.blob.size / 1024).toFixed(0) });
  try {
    if (!take.envelopeId) take.envelopeId = (await call('envelopes/', { body: { session_id: rw.sessionId } })).id;
    const asset = await callUpload(
      `envelopes/${take.envelopeId}/`,
      {
        session_id: rw.sessionId,
        file: [take.blob, take.filename],
        latitude: take.position.lat,
        longitude: take.position.lon,
        tag_ids: take.tagIds.join(','),
        media_type: 'audio',
      },
      { onProgress: (f) => (bar.value = f) },
    );
    take.uploaded = true;
    rw.uploads.push(asset);
    bar.value = 1;
    if (asset && asset.id) {
      assetsById.set(asset.id, asset);
      map.setAssets([...assetsById.values()].filter((a) => a.project_id === undefined || a.project_id === rw.projectId).map(assetMarker));
    }
    recordStatus(rw.listening ? 'record.thanksListening' : 'record.thanks');
    showProjectText($('sharing'), project.sharing_message);
    $('take-actions').hidden = false;
    $('upload-retry').hidden = true;
    say($('take-discard'), 'record.done');
  } catch (e) {
    bar.hidden = true;
    recordStatus('record.notUploaded');
    $('take-actions').hidden = false;
    $('upload-retry').hidden = false;
    say($('take-discard'), 'record.discard');
    showError(e, uploadTake);
  }
}
$('upload-retry').addEventListener('click', uploadTake);
$('take-discard').addEventListener('click', () => {
  if (rw.take && !rw.take.uploaded && !confirm(t('record.confirmDiscard'))) return;
  if (rw.take?.url) URL.revokeObjectURL(rw.take.url);
  rw.take = null;
  $('take-actions').hidden = true;
  $('take-preview').hidden = true;
  $('upload-progress').hidden = true;
  $('sharing').hidden = true;
  $('record-time').textContent = '0:00';
  recordStatus('');
});
window.addEventListener('beforeunload', (e) => {
  if (rw.take && !rw.take.uploaded) e.preventDefault();
});
// Leaving the page ends its stream (keepalive lets the request outlive the page); if the
// browser drops it, the next visit ends it (see boot).
window.addEventListener('pagehide', () => {
  if (!rw.listening || !rw.streamId || !identity.token) return;
  fetch(apiUrl(`streams/${rw.streamId}/kill/`), {
    method: 'POST',
    keepalive: true,
    headers: { Authorization: `token ${identity.token}`, 'Content-Type': 'application/json' },
    body: '{}',
  }).catch(() => {});
});

boot();
