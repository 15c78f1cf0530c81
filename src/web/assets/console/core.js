// The console's shared plumbing: the logged-in state, the api/2 call with the staff token
// (a 401 sends the curator back to the login form), the error banner with its Retry, the
// polite status line, pollers that back off while the box does not answer, and a tiny DOM
// helper. Sections import from here; nothing here knows about a section.
import { api, ApiError, backoffMs } from '/web/shared/api.js';

export { ApiError };

const TOKEN_KEY = 'rw-console-token';
const USER_KEY = 'rw-console-user';

/** What every section reads: the token, the user name, the project shown and its tags. */
export const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  user: sessionStorage.getItem(USER_KEY) || '',
  projectId: null,
  project: null,
  tags: [],
  /** Called with a message when the token stops working (set by console.js). */
  onLoggedOut: () => {},
};

/** Keeps the token for this browser tab only (sessionStorage), or forgets it. */
export function saveLogin(token, user) {
  state.token = token;
  state.user = user || '';
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, state.user);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  }
}

/** Thrown (and to be ignored by callers) after a 401 already sent the page to the login. */
export class LoggedOut extends Error {}

/**
 * api() with the staff token. A 401 forgets the token, shows the login form with a message
 * and throws LoggedOut; other failures throw ApiError as api() does.
 */
export async function call(path, opts = {}) {
  try {
    return await api(path, { ...opts, token: state.token });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && state.token) {
      saveLogin(null);
      state.onLoggedOut(`Your login is no longer valid (${e.message}). Please log in again.`);
      throw new LoggedOut(e.message);
    }
    throw e;
  }
}

/**
 * A media file fetched with the staff token, as an object URL for an <audio> element: the box
 * serves a recording that is not submitted only to its owner and staff, and an <audio src>
 * cannot send the token.
 */
export async function fetchMediaUrl(url) {
  let resp;
  try {
    resp = await fetch(url, { headers: { Authorization: `token ${state.token}` } });
  } catch (e) {
    throw new ApiError(0, `The box did not answer (${e.message}).`, null, `GET ${url}`);
  }
  if (!resp.ok) throw new ApiError(resp.status, `The file did not load (HTTP ${resp.status}).`, null, `GET ${url}`);
  return URL.createObjectURL(await resp.blob());
}

/** The text of /metrics (not JSON). */
export async function fetchText(path) {
  let resp;
  try {
    resp = await fetch(path, { cache: 'no-store' });
  } catch {
    throw new ApiError(0, `GET ${path} failed: the box did not answer (is it restarting?)`, null, `GET ${path}`);
  }
  const text = await resp.text();
  if (!resp.ok) throw new ApiError(resp.status, `GET ${path} failed (${resp.status})`, null, `GET ${path}`);
  return text;
}

// ----- status line and error banner

/** Says something in the polite status line (announced by screen readers). */
export function say(text) {
  const s = document.getElementById('status');
  if (s) s.textContent = text;
}

let errorOwner = null;
let errorRetry = null;

/**
 * Shows a failure in the banner: what failed and the server's detail (ApiError.message),
 * with a Retry that runs `retry`. `owner` identifies who may clear it later.
 */
export function showError(err, retry, owner = 'action', note = '') {
  if (err instanceof LoggedOut) return;
  const box = document.getElementById('error');
  const msg = err instanceof Error ? err.message : String(err);
  document.getElementById('error-text').textContent = note ? `${msg} ${note}` : msg;
  errorOwner = owner;
  errorRetry = retry || null;
  document.getElementById('error-retry').hidden = !retry;
  box.hidden = false;
}

/** Hides the banner when `owner` put it there (or always without an owner). */
export function clearError(owner) {
  if (owner && owner !== errorOwner) return;
  document.getElementById('error').hidden = true;
  errorOwner = null;
  errorRetry = null;
}

/** Wires the banner's buttons (once, at start). */
export function initErrorBanner() {
  document.getElementById('error-retry').addEventListener('click', () => {
    const r = errorRetry;
    clearError();
    if (r) r();
  });
  document.getElementById('error-dismiss').addEventListener('click', () => clearError());
}

/** Runs an action; a failure goes to the banner with a Retry that runs it again. */
export async function act(what, fn) {
  try {
    const r = await fn();
    clearError('action');
    return r;
  } catch (e) {
    showError(e, () => act(what, fn), 'action');
    return undefined;
  }
}

// ----- pollers

/**
 * Calls `fn` every `intervalMs` while started. When a call fails the banner says so and
 * the next try waits a growing back-off (0.5 s doubling to 10 s); success clears the banner.
 */
export class Poller {
  constructor(name, fn, intervalMs) {
    this.name = name;
    this.fn = fn;
    this.intervalMs = intervalMs;
    this.timer = null;
    this.running = false;
    this.failures = 0;
    this.busy = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.now();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Polls at once (and reschedules). */
  async now() {
    clearTimeout(this.timer);
    if (this.busy) return;
    this.busy = true;
    let delay = this.intervalMs;
    try {
      await this.fn();
      if (this.failures) clearError(this.name);
      this.failures = 0;
    } catch (e) {
      if (e instanceof LoggedOut) {
        this.busy = false;
        this.stop();
        return;
      }
      delay = backoffMs(this.failures);
      this.failures += 1;
      if (this.running) showError(e, () => this.now(), this.name, `Retrying in ${Math.round(delay / 100) / 10} s.`);
    }
    this.busy = false;
    if (this.running) this.timer = setTimeout(() => this.now(), delay);
  }
}

// ----- DOM

/** Creates an element: el('button', {type: 'button', onclick}, 'text', child…). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/** The names of tag ids, from the project's tags. */
export function tagNames(ids) {
  if (!ids || !ids.length) return '';
  return ids
    .map((id) => {
      const t = state.tags.find((x) => x.id === id);
      return t ? t.msg_loc || t.value : `#${id}`;
    })
    .join(', ');
}

/** "12.3 s" for seconds. */
export const secs = (s) => (s == null ? '' : `${Number(s).toFixed(1)} s`);

/** Coordinates as "lat, lon" with 6 decimals (~0.1 m). */
export const coords = (lat, lon) => (lat == null || lon == null ? 'unknown' : `${Number(lat).toFixed(6)}, ${Number(lon).toFixed(6)}`);
