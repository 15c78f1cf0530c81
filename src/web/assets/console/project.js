// Project settings: the common fields of the selected project, saved with
// PATCH projects/{id}/ (only what changed). A refused field shows the server's message
// next to it.
import { state, call, say, showError, el, LoggedOut, ApiError } from './core.js';

/** [field, label, kind, extra]: kind is text, number, bool or a list of choices. */
const FIELDS = [
  ['name', 'Name', 'text'],
  ['owner', 'Owner', 'text'],
  ['latitude', 'Centre latitude (°)', 'number', { step: 'any', min: -90, max: 90 }],
  ['longitude', 'Centre longitude (°)', 'number', { step: 'any', min: -180, max: 180 }],
  ['recording_radius', 'Recording radius (m)', 'number', { step: 1, min: 0 }],
  ['out_of_range_distance', 'Out-of-range distance (m)', 'number', { step: 'any', min: 0 }],
  ['max_recording_length', 'Longest recording (s)', 'number', { step: 1, min: 1 }],
  ['audio_stream_bitrate', 'Stream bitrate (kbps)', ['64', '96', '112', '128', '160', '192', '256', '320']],
  ['ordering', 'Playlist order', ['random', 'by_like', 'by_weight']],
  ['repeat_mode', 'When the playlist ends', ['continuous', 'stop']],
  ['listen_enabled', 'Listening on', 'bool'],
  ['geo_listen_enabled', 'Listening follows location', 'bool'],
  ['speak_enabled', 'Recording on', 'bool'],
  ['geo_speak_enabled', 'Recordings get a location', 'bool'],
  ['auto_submit', 'New recordings are submitted at once', 'bool'],
  ['timed_asset_priority', 'Timed recordings first', 'bool'],
  ['demo_stream_enabled', 'Demo stream on', 'bool'],
  ['demo_stream_url', 'Demo stream URL', 'text'],
  ['out_of_range_url', 'Out-of-range stream URL', 'text'],
];

function inputFor([key, label, kind, extra]) {
  const id = `pf-${key}`;
  if (kind === 'bool') {
    return el('p', { class: 'rw-field' }, el('label', { for: id }, el('input', { id, name: key, type: 'checkbox' }), ` ${label}`), el('span', { class: 'rw-field-error', id: `${id}-err` }));
  }
  const input = Array.isArray(kind)
    ? el('select', { id, name: key }, kind.map((c) => el('option', { value: c }, c)))
    : el('input', { id, name: key, type: kind === 'number' ? 'number' : 'text', ...(extra || {}), 'aria-describedby': `${id}-err` });
  return el('p', { class: 'rw-field' }, el('label', { for: id }, label), el('br'), input, el('span', { class: 'rw-field-error', id: `${id}-err` }));
}

function valueOf(form, [key, , kind]) {
  const input = form.elements[key];
  if (kind === 'bool') return input.checked;
  if (kind === 'number') return input.value.trim() === '' ? null : Number(input.value);
  return input.value;
}

function fill(form, project) {
  for (const f of FIELDS) {
    const [key, , kind] = f;
    const input = form.elements[key];
    const v = project[key];
    if (kind === 'bool') input.checked = !!v;
    else input.value = v == null ? '' : String(v);
    document.getElementById(`pf-${key}-err`).textContent = '';
  }
}

/** The Project section. */
export function projectSection() {
  const form = document.getElementById('project-form');
  let built = false;

  function build() {
    form.replaceChildren(
      el('div', { class: 'rw-fields' }, FIELDS.map(inputFor)),
      el('div', { class: 'rw-row' }, el('button', { type: 'submit' }, 'Save settings'), el('button', { type: 'button', class: 'rw-secondary', onclick: () => fill(form, state.project) }, 'Undo changes')),
      el('p', { id: 'project-saved', class: 'rw-small', role: 'status' }),
    );
    form.addEventListener('submit', save);
    built = true;
  }

  async function save(ev) {
    ev.preventDefault();
    const changes = {};
    for (const f of FIELDS) {
      const v = valueOf(form, f);
      const old = state.project[f[0]];
      if (f[2] === 'number' ? v !== (old == null ? null : Number(old)) : v !== (old ?? (f[2] === 'bool' ? false : ''))) changes[f[0]] = v;
      document.getElementById(`pf-${f[0]}-err`).textContent = '';
    }
    const saved = document.getElementById('project-saved');
    if (!Object.keys(changes).length) {
      saved.textContent = 'Nothing changed.';
      return;
    }
    try {
      state.project = await call(`projects/${state.projectId}/`, { method: 'PATCH', body: changes });
      fill(form, state.project);
      saved.textContent = `Saved: ${Object.keys(changes).join(', ')}.`;
      say(`Project settings saved.`);
    } catch (e) {
      if (e instanceof LoggedOut) return;
      if (e instanceof ApiError && e.status === 400 && e.body && typeof e.body === 'object' && !e.body.detail) {
        let first = null;
        for (const [k, v] of Object.entries(e.body)) {
          const span = document.getElementById(`pf-${k}-err`);
          if (span) {
            span.textContent = Array.isArray(v) ? v.join(' ') : String(v);
            first = first || form.elements[k];
          }
        }
        saved.textContent = 'Not saved: correct the marked fields.';
        first?.focus();
      } else {
        showError(e, () => form.requestSubmit());
      }
    }
  }

  /** The QR code of this project's visitor page, made by the box (GET /qr.svg). */
  function showQr() {
    const url = `${location.origin}/?project=${state.projectId}`;
    const qr = `/qr.svg?url=${encodeURIComponent(url)}`;
    document.getElementById('qr-img').src = qr;
    document.getElementById('qr-open').href = qr;
    const link = document.getElementById('qr-link');
    link.href = url;
    link.textContent = url;
  }

  return {
    activate() {
      if (!built) build();
      fill(form, state.project);
      showQr();
    },
    deactivate() {},
    projectChanged() {
      if (built) fill(form, state.project);
      showQr();
    },
  };
}
