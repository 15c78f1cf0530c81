// Live streams (staff GET streams/status/, every 2 s): listener position, requested tags, what
// each audiotrack plays and what is queued, counters; Skip, Pause/Resume and Kill through the
// streams/ API. Rows are updated in place so the buttons keep focus between refreshes.
import { state, call, say, el, tagNames, coords, Poller, act, ApiError, LoggedOut } from './core.js';

const POLL_MS = 2000;

/** Asset id → description, for the project's assets (refreshed when an unknown id shows up). */
export class AssetNames {
  constructor() {
    this.names = new Map();
    this.project = null;
  }

  async ensure(ids) {
    if (this.project === state.projectId && ids.every((id) => this.names.has(id))) return;
    const list = await call('assets/', { query: { project_id: state.projectId } });
    this.project = state.projectId;
    this.names = new Map(list.map((a) => [a.id, a.description || `recording ${a.id}`]));
  }

  label(id) {
    return this.names.has(id) ? `#${id} ${this.names.get(id)}` : `#${id}`;
  }
}

/** "Playing …; next …" of a status entry. */
export function playingText(st, names) {
  const playing = (st.playing || []).map((id, i) => `track ${i + 1}: ${id == null ? 'silence' : names.label(id)}`).join('; ');
  const queue = st.queue || [];
  const next = queue.length ? `${queue.length} queued, next ${names.label(queue[0])}` : 'nothing queued';
  return `${playing || 'no audiotracks'}. ${next}.`;
}

/** Buttons that control stream `id`; `isPaused()` tells the current state; no Kill with `kill: false`. */
export function controls(id, isPaused, { kill: withKill = true } = {}) {
  const post = (what) => act(what, async () => {
    const r = await call(`streams/${id}/${what}/`, { method: 'POST', body: {} });
    if (r && r.success === false) throw new ApiError(409, `${what} on stream ${id}: ${r.message || 'refused'}`);
    say(`Stream ${id}: ${what} sent.`);
  });
  const skip = el('button', { type: 'button', class: 'rw-secondary rw-small-btn', 'data-action': 'skip', onclick: () => post('skip') }, 'Skip', el('span', { class: 'visually-hidden' }, ` on stream ${id}`));
  const pause = el('button', { type: 'button', class: 'rw-secondary rw-small-btn', 'data-action': 'pause', onclick: () => post(isPaused() ? 'resume' : 'pause') });
  let armed = null;
  const kill = el('button', { type: 'button', class: 'rw-danger rw-small-btn', 'data-action': 'kill' });
  const killLabel = (t) => kill.replaceChildren(t, el('span', { class: 'visually-hidden' }, ` stream ${id}`));
  killLabel('Kill');
  kill.addEventListener('click', () => {
    if (!armed) {
      killLabel('Confirm kill');
      armed = setTimeout(() => {
        armed = null;
        killLabel('Kill');
      }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    killLabel('Kill');
    post('kill');
  });
  const setPaused = (p) => pause.replaceChildren(p ? 'Resume' : 'Pause', el('span', { class: 'visually-hidden' }, ` stream ${id}`));
  return { node: el('div', { class: 'rw-row rw-controls' }, skip, pause, withKill ? kill : null), setPaused };
}

/** The Streams section. */
export function streamsSection() {
  const tbody = document.querySelector('#streams-table tbody');
  const summary = document.getElementById('streams-summary');
  const names = new AssetNames();
  /** id → {tr, cells, ctl, st} */
  const rows = new Map();
  let localId = null;

  async function refresh() {
    const status = await call('streams/status/');
    const streams = status.streams || [];
    await names.ensure(streams.flatMap((s) => [...(s.playing || []).filter((x) => x != null), ...(s.queue || []).slice(0, 1)]));
    const ids = new Set(streams.map((s) => s.stream_id));
    for (const [id, r] of rows) {
      if (!ids.has(id)) {
        r.tr.remove();
        rows.delete(id);
      }
    }
    for (const st of streams) {
      let r = rows.get(st.stream_id);
      if (!r) {
        const cells = Array.from({ length: 5 }, () => el('td'));
        const ctl = controls(st.stream_id, () => rows.get(st.stream_id)?.st.paused);
        r = { tr: el('tr', { dataset: { id: st.stream_id } }, cells, el('td', {}, ctl.node)), cells, ctl, st };
        rows.set(st.stream_id, r);
        tbody.append(r.tr);
      }
      r.st = st;
      const [idCell, who, tags, playing, health] = r.cells;
      idCell.textContent = `${st.stream_id}${st.stream_id === localId ? ' (local listener)' : ''} · project ${st.project_id} · ${st.bitrate_kbps} kbps · ${st.listeners} connected · ${Math.round(st.elapsed_s)} s`;
      who.textContent = st.position ? coords(st.position[0], st.position[1]) : 'no position';
      tags.textContent = st.tag_ids == null ? 'project defaults' : tagNames(st.tag_ids) || 'none';
      playing.textContent = `${st.paused ? 'Paused. ' : ''}${playingText(st, names)}`;
      health.textContent = `${st.underruns} underruns, ${st.late_blocks} late blocks, peak ${Number(st.peak).toFixed(2)}`;
      r.ctl.setPaused(st.paused);
    }
    summary.textContent = streams.length
      ? `${streams.length} stream${streams.length > 1 ? 's' : ''} running; ${(status.resident_source_bytes / 1e6).toFixed(1)} MB of decoded audio in memory. Refreshed every ${POLL_MS / 1000} s.`
      : 'No stream is running.';
  }

  const poller = new Poller('streams', refresh, POLL_MS);
  return {
    async activate() {
      try {
        localId = (await call('streams/local/')).stream_id;
      } catch (e) {
        if (e instanceof LoggedOut) return;
        localId = null;
      }
      poller.start();
    },
    deactivate: () => poller.stop(),
    projectChanged() {},
  };
}
