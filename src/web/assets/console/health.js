// Health and counters: GET /healthz (overall state and each component with its reason) and
// a selection of /metrics lines (streams, listeners, underruns, uploads, requests, database,
// disk, sound card, position), refreshed every 5 s.
import { el, fetchText, Poller, ApiError } from './core.js';

const POLL_MS = 5000;

/** Metric names shown (summed over their labels), with a readable name. */
const SHOWN = [
  ['roundwared_uptime_seconds', 'Uptime (s)'],
  ['roundwared_streams', 'Streams running'],
  ['roundwared_stream_listeners', 'Stream listeners connected'],
  ['roundwared_stream_underruns_total', 'Stream underruns'],
  ['roundwared_stream_late_blocks_total', 'Late blocks'],
  ['roundwared_stream_source_underruns_total', 'Live speaker source underruns'],
  ['roundwared_stream_lagged_clients_total', 'Lagging clients skipped ahead'],
  ['roundwared_decoded_source_bytes', 'Decoded audio in memory (bytes)'],
  ['roundwared_uploads_total', 'Uploads'],
  ['roundwared_http_requests_total', 'HTTP requests'],
  ['roundwared_database_ping_seconds', 'Database ping (s)'],
  ['roundwared_data_free_bytes', 'Free space for data (bytes)'],
  ['process_resident_memory_bytes', 'Daemon memory (bytes)'],
  ['process_cpu_seconds_total', 'Daemon CPU time (s)'],
];

/** name → [{labels, value}] of a Prometheus text exposition. */
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const list = out.get(m[1]) || [];
    list.push({ labels: m[2] || '', value: Number(m[3]) });
    out.set(m[1], list);
  }
  return out;
}

const fmt = (v) => (Number.isInteger(v) ? v.toLocaleString('en') : v.toFixed(4));

/** The Health section. */
export function healthSection() {
  const body = document.getElementById('health-body');
  const tbody = document.querySelector('#metrics-table tbody');

  async function refresh() {
    let resp;
    try {
      resp = await fetch('/healthz', { cache: 'no-store' });
    } catch {
      throw new ApiError(0, 'GET /healthz failed: the box did not answer (is it restarting?)');
    }
    const h = await resp.json().catch(() => ({ status: `HTTP ${resp.status}`, components: {} }));
    const comps = Object.entries(h.components || {});
    body.replaceChildren(
      el('p', {}, 'The box is ', el('strong', { class: h.status === 'ok' ? 'rw-ok' : 'rw-warn', id: 'health-status' }, String(h.status)), ` · version ${h.version || '?'} · up ${Math.round(h.uptime_s || 0)} s`),
      el(
        'table',
        { class: 'rw-small' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Component'), el('th', { scope: 'col' }, 'State'), el('th', { scope: 'col' }, 'Why'))),
        el('tbody', {}, comps.map(([name, c]) => el('tr', {}, el('td', {}, name), el('td', { class: c.state === 'ok' ? 'rw-ok' : c.state === 'disabled' ? 'rw-muted' : 'rw-warn' }, c.state), el('td', {}, c.reason || '')))),
      ),
    );
    const metrics = parseMetrics(await fetchText('/metrics'));
    const rows = [];
    for (const [name, label] of SHOWN) {
      const list = metrics.get(name);
      if (!list) continue;
      rows.push(el('tr', {}, el('td', {}, label, el('br'), el('code', { class: 'rw-small' }, name)), el('td', {}, fmt(list.reduce((s, x) => s + x.value, 0)))));
    }
    for (const [name, list] of metrics) {
      if (/^roundwared_(soundcard|card|position|gps|local)_/.test(name)) rows.push(el('tr', {}, el('td', {}, el('code', {}, name)), el('td', {}, fmt(list.reduce((s, x) => s + x.value, 0)))));
    }
    tbody.replaceChildren(...rows);
  }

  const poller = new Poller('health', refresh, POLL_MS);
  return {
    activate: () => poller.start(),
    deactivate: () => poller.stop(),
    projectChanged() {},
  };
}
