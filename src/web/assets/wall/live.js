// The wall's event stream, as App.net app streams work on the box: the stream `wall-<project>`
// of the kiosk token (found by its key, or made once with its filter on the project), followed
// with the browser's EventSource (Server-Sent Events). Each message reaches onMessage once:
// ids only grow, so anything at or below the last id seen is dropped. The browser's own
// reconnect sends Last-Event-ID and the box resumes after it; when the EventSource gives up
// (an HTTP error), the stream is looked up again and the next connection resumes with
// ?last_event_id. Control messages (buffer warnings, disconnects, missed changes) go to
// onControl; the connection's state to onState.
import { backoffMs, sleep } from '/web/shared/api.js';

/** The object types the wall follows. */
export const OBJECT_TYPES = ['asset', 'vote', 'stream'];

/** A refused or failed call to /stream/0/: HTTP status (0 = no answer), App.net slug, message. */
export class StreamError extends Error {
  constructor(status, slug, message) {
    super(message);
    this.name = 'StreamError';
    this.status = status;
    this.slug = slug;
  }
}

/** Calls /stream/0/ with the token; resolves to the envelope's `data`. */
async function adn(path, token, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw new StreamError(0, 'network', `${method} ${path.replace(/\?.*/, '')}: the box did not answer`);
  }
  let json = null;
  try {
    json = await resp.json();
  } catch {
    /* not JSON */
  }
  if (!resp.ok) {
    const meta = (json && json.meta) || {};
    throw new StreamError(resp.status, meta.error_slug || '', `${method} ${path.replace(/\?.*/, '')} failed (${resp.status})${meta.error_message ? `: ${meta.error_message}` : ''}`);
  }
  return json ? json.data : null;
}

/** The wall's filter: the project's assets, votes and listener streams. */
export function wallFilter(projectId) {
  return {
    name: `wall ${projectId}`,
    match_policy: 'include_any',
    clauses: OBJECT_TYPES.map((t) => ({ object_type: t, field: '/meta/project_id', operator: 'equals', value: projectId })),
  };
}

/** Whether a stored filter is the wall's filter of this project. */
function isWallFilter(f, projectId) {
  return (
    !!f &&
    f.match_policy === 'include_any' &&
    Array.isArray(f.clauses) &&
    f.clauses.length === OBJECT_TYPES.length &&
    OBJECT_TYPES.every((t) => f.clauses.some((c) => c.object_type === t && c.field === '/meta/project_id' && c.operator === 'equals' && Number(c.value) === projectId))
  );
}

/**
 * The kiosk token's stream `wall-<project>`: reused by its key (a token may have only a few
 * streams), made with the wall's filter when missing, mended when its types or filter differ.
 */
export async function wallStream(token, projectId) {
  const key = `wall-${projectId}`;
  const list = (await adn(`/stream/0/streams?key=${encodeURIComponent(key)}`, token)) || [];
  const found = list.find((s) => s.key === key);
  const typesOk = found && OBJECT_TYPES.every((t) => (found.object_types || []).includes(t)) && found.object_types.length === OBJECT_TYPES.length;
  if (found && typesOk && isWallFilter(found.filter, projectId)) return found;
  const filter = found && isWallFilter(found.filter, projectId) ? found.filter : await adn('/stream/0/filters', token, { method: 'POST', body: wallFilter(projectId) });
  const body = { object_types: OBJECT_TYPES, type: 'long_poll', key, filter_id: filter.id };
  if (found) return adn(`/stream/0/streams/${encodeURIComponent(found.id)}`, token, { method: 'PUT', body });
  return adn('/stream/0/streams', token, { method: 'POST', body });
}

/**
 * Follows the wall's stream. onMessage({meta, data}) gets each new message once, in order;
 * onControl(control) the `control` messages; onState(state, detail) one of 'connecting',
 * 'live', 'reconnecting', 'refused' (the token no longer works: detail is the StreamError).
 */
export class WallFollower {
  constructor({ token, projectId, onMessage, onControl, onState }) {
    this.token = token;
    this.projectId = projectId;
    this.onMessage = onMessage;
    this.onControl = onControl || (() => {});
    this.onState = onState || (() => {});
    this.stream = null;
    this.source = null;
    this.lastId = 0;
    /** Give-ups in a row without an open between them (for the back-off). */
    this.failures = 0;
    /** For tests and the curious. */
    this.stats = { opens: 0, drops: 0, messages: 0, duplicates: 0, controls: 0, lookups: 0 };
    this.stopped = false;
  }

  /** Finds or makes the stream (throws StreamError); connect() then follows it. */
  async prepare() {
    this.onState('connecting');
    this.stream = await wallStream(this.token, this.projectId);
    this.stats.lookups += 1;
  }

  /** The endpoint's URL for EventSource (which cannot send headers: the token goes in the query). */
  url() {
    const u = new URL(this.stream.endpoint, location.href);
    u.searchParams.set('access_token', this.token);
    if (this.lastId > 0) u.searchParams.set('last_event_id', String(this.lastId));
    return u.href;
  }

  connect() {
    if (this.stopped) return;
    const es = new EventSource(this.url());
    this.source = es;
    es.addEventListener('open', () => {
      this.stats.opens += 1;
      this.failures = 0;
      this.onState('live');
    });
    es.addEventListener('message', (e) => this.message(e));
    es.addEventListener('control', (e) => {
      this.stats.controls += 1;
      let c = null;
      try {
        c = JSON.parse(e.data).control;
      } catch {
        /* not JSON: ignored */
      }
      if (c) this.onControl(c);
    });
    es.addEventListener('error', () => {
      if (es !== this.source || this.stopped) return;
      this.stats.drops += 1;
      // CONNECTING: the browser reconnects by itself (with Last-Event-ID). CLOSED: it gave
      // up (the endpoint answered an HTTP error); find out why and start again.
      if (es.readyState === EventSource.CLOSED) this.recover();
      else this.onState('reconnecting');
    });
  }

  message(e) {
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      return;
    }
    const id = Number((msg && msg.meta && msg.meta.id) ?? e.lastEventId);
    if (!Number.isFinite(id) || id <= this.lastId) {
      this.stats.duplicates += 1;
      return;
    }
    this.lastId = id;
    this.stats.messages += 1;
    this.onMessage(msg);
  }

  /** The EventSource gave up: look the stream up again (401: revoked) and reconnect. */
  async recover() {
    if (this.source) this.source.close();
    this.source = null;
    this.failures += 1;
    for (let attempt = 0; !this.stopped; attempt++) {
      this.onState('reconnecting');
      // Never straight back: an endpoint that keeps refusing (503: too many connections)
      // is asked again after a growing pause.
      await sleep(backoffMs(Math.min(this.failures - 1 + attempt, 6)));
      if (this.stopped) return;
      try {
        this.stream = await wallStream(this.token, this.projectId);
        this.stats.lookups += 1;
        this.connect();
        return;
      } catch (e) {
        if (e instanceof StreamError && (e.status === 401 || e.status === 403)) {
          this.onState('refused', e);
          return;
        }
      }
    }
  }

  stop() {
    this.stopped = true;
    if (this.source) this.source.close();
    this.source = null;
  }
}
