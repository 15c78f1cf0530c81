// The pages' one way to the box: a fetch wrapper around the public api/2.
// api(path, {method, body, form, token, query, signal}) → parsed JSON (null for an empty body)
// or throws ApiError{status, message, detail, body}; status 0 means the box could not be
// reached. `message` is human-readable and includes the server's `detail` text.

/** Where api/2 lives (the pages are served by the same box). */
export const API_ROOT = '/api/2/';

/** A failed API call: HTTP status (0 = network), readable message, the parsed error body. */
export class ApiError extends Error {
  constructor(status, message, body = null, what = '') {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
    this.what = what;
  }
  /** True for 401: the token is unknown or expired. */
  get unauthorized() {
    return this.status === 401;
  }
  /** True when the box did not answer at all (restarting, Wi-Fi gone). */
  get network() {
    return this.status === 0;
  }
}

/** The human text of an error body: `detail`, or `field: message` pairs of a field map. */
export function detailText(body) {
  if (body == null) return '';
  if (typeof body === 'string') return body;
  if (typeof body.detail === 'string') return body.detail;
  if (typeof body === 'object') {
    return Object.entries(body)
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : typeof v === 'object' ? JSON.stringify(v) : v}`)
      .join('; ');
  }
  return String(body);
}

/** The URL of an api/2 path ('users/' or '/api/2/users/'), with query parameters added. */
export function apiUrl(path, query) {
  const base = path.startsWith('/') ? path : API_ROOT + path;
  const u = new URL(base, location.origin);
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null) u.searchParams.set(k, String(v));
    }
  }
  return u.pathname + u.search;
}

function toFormData(form) {
  if (form instanceof FormData) return form;
  const fd = new FormData();
  for (const [k, v] of Object.entries(form)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v) && v.length === 2 && v[0] instanceof Blob) fd.append(k, v[0], v[1]);
    else if (v instanceof Blob) fd.append(k, v, 'blob');
    else fd.append(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  return fd;
}

function describe(method, path, status, body) {
  const what = `${method} ${path.replace(/\?.*/, '')}`;
  const detail = detailText(body);
  if (status === 0) return `${what} failed: the box did not answer (is it restarting, or is the Wi-Fi gone?)`;
  return `${what} failed (${status})${detail ? `: ${detail}` : ''}`;
}

/**
 * Calls api/2. `body` is sent as JSON, `form` (object or FormData) as multipart; `token` adds
 * `Authorization: token …`. Resolves to the parsed JSON; throws ApiError.
 */
export async function api(path, { method, body, form, token, query, signal, headers: extra } = {}) {
  const url = apiUrl(path, query);
  method = method || (body !== undefined || form !== undefined ? 'POST' : 'GET');
  const headers = { Accept: 'application/json', ...(extra || {}) };
  if (token) headers.Authorization = `token ${token}`;
  let payload;
  if (form !== undefined) payload = toFormData(form);
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: payload, signal, cache: 'no-store' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, describe(method, url, 0, null), null, `${method} ${url}`);
  }
  const text = await resp.text().catch(() => '');
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = resp.ok ? text : { detail: text.slice(0, 200) };
    }
  }
  if (!resp.ok) throw new ApiError(resp.status, describe(method, url, resp.status, json), json, `${method} ${url}`);
  return json;
}

/**
 * Multipart upload with progress (fetch has none): resolves to the JSON answer, throws
 * ApiError like api(). onProgress(fraction 0..1) is called as bytes leave.
 */
export function upload(path, form, { method = 'PATCH', token, onProgress, query } = {}) {
  const url = apiUrl(path, query);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    if (token) xhr.setRequestHeader('Authorization', `token ${token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    if (onProgress) xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, describe(method, url, 0, null), null, `${method} ${url}`));
    xhr.onabort = xhr.onerror;
    xhr.onload = () => {
      let json = null;
      try {
        json = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        json = { detail: xhr.responseText.slice(0, 200) };
      }
      // The Roundware envelope flow treats a 200 with a truthy `detail` as a failure too.
      if (xhr.status >= 200 && xhr.status < 300 && !(json && json.detail)) resolve(json);
      else reject(new ApiError(xhr.status, describe(method, url, xhr.status, json), json, `${method} ${url}`));
    };
    xhr.send(toFormData(form));
  });
}

/** Back-off delay for retry number `attempt` (0, 1, …): 0.5 s doubling to 10 s, with jitter. */
export function backoffMs(attempt) {
  const base = Math.min(10000, 500 * 2 ** attempt);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** Sleeps ms milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
