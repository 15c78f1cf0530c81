// The visitor's identity on this box: a device id kept on the phone and the token POST users/
// hands out for it (registered again after a 401), carried by call() and callUpload().
import { api, upload, ApiError } from '/web/shared/api.js';
import { saved } from '/web/visitor/storage.js';

/** The visitor's token (null until the device is registered). */
export const identity = { token: saved.get('token') };

function deviceId() {
  let id = saved.get('device');
  if (!id) {
    // The device id is a bearer secret (POST users/ hands out its token): 128 random bits from
    // crypto.getRandomValues, which (unlike crypto.randomUUID) also exists on plain http.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    id = 'web-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    saved.set('device', id);
  }
  return id;
}

async function register() {
  const user = await api('users/', { body: { device_id: deviceId(), client_type: 'web', client_system: navigator.userAgent.slice(0, 127) } });
  identity.token = user.token;
  saved.set('token', user.token);
  return user.token;
}

// Calls made at the same time (the page reads several things at once) share one registration.
let registering = null;
function registerOnce() {
  registering ||= register().finally(() => (registering = null));
  return registering;
}

/** api() with the visitor's token; a 401 (unknown or expired token) registers again once. */
export async function call(path, opts = {}) {
  if (!identity.token) await registerOnce();
  try {
    return await api(path, { ...opts, token: identity.token });
  } catch (e) {
    if (!(e instanceof ApiError) || !e.unauthorized) throw e;
    saved.set('token', null);
    await registerOnce();
    return api(path, { ...opts, token: identity.token });
  }
}

export async function callUpload(path, form, opts) {
  if (!identity.token) await registerOnce();
  try {
    return await upload(path, form, { ...opts, token: identity.token });
  } catch (e) {
    if (!(e instanceof ApiError) || !e.unauthorized) throw e;
    await register();
    return upload(path, form, { ...opts, token: identity.token });
  }
}

