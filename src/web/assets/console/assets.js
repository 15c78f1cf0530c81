// The recordings of the project (submitted or not, newest first), refreshed every 3 s so new
// uploads appear: play (an <audio> of the file URL), submit/unsubmit (PATCH submitted), edit
// tags (PATCH tag_ids), delete (DELETE, after an in-page confirmation). Rows are updated in
// place so a playing recording or an open editor survives the refresh.
import { state, call, say, showError, el, tagNames, secs, coords, Poller, act, fetchMediaUrl } from './core.js';

const POLL_MS = 3000;

/** The Assets section. */
export function assetsSection() {
  const tbody = document.querySelector('#assets-table tbody');
  const summary = document.getElementById('assets-summary');
  /** id → {tr, sig, busy, audio} */
  const rows = new Map();
  let loadedFor = null;
  let assets = [];

  async function refresh() {
    const pid = state.projectId;
    const list = await call('assets/', { query: { project_id: pid } });
    if (pid !== state.projectId) return;
    const fresh = loadedFor === pid;
    const arrived = fresh ? list.filter((a) => !rows.has(a.id)) : [];
    if (!fresh) {
      rows.clear();
      tbody.replaceChildren();
      loadedFor = pid;
    }
    assets = list.slice().sort((a, b) => b.id - a.id);
    render();
    if (arrived.length) say(`New recording${arrived.length > 1 ? 's' : ''} arrived: ${arrived.map((a) => `#${a.id}`).join(', ')}.`);
    for (const a of arrived) rows.get(a.id)?.tr.classList.add('rw-new');
  }

  function render() {
    const ids = new Set(assets.map((a) => a.id));
    for (const [id, r] of rows) {
      if (!ids.has(id)) {
        r.tr.remove();
        rows.delete(id);
      }
    }
    let prev = null;
    for (const a of assets) {
      const sig = JSON.stringify([a.description, a.submitted, a.tag_ids, a.file, a.latitude, a.longitude, a.audio_length_in_seconds, state.tags.length]);
      let r = rows.get(a.id);
      if (!r) {
        r = { tr: el('tr', { dataset: { id: a.id } }), sig: null, busy: false, audio: null };
        rows.set(a.id, r);
      }
      if (r.sig !== sig && !r.busy) {
        fillRow(r, a);
        r.sig = sig;
      }
      if (prev ? prev.nextSibling !== r.tr : tbody.firstChild !== r.tr) {
        if (prev) prev.after(r.tr);
        else tbody.prepend(r.tr);
      }
      prev = r.tr;
    }
    const submitted = assets.filter((a) => a.submitted).length;
    summary.textContent = `${assets.length} recordings, ${submitted} submitted (in the playlist), ${assets.length - submitted} not submitted. Refreshed every ${POLL_MS / 1000} s.`;
  }

  function player(r, a) {
    if (a.media_type && a.media_type !== 'audio') return el('a', { href: a.file, target: '_blank', rel: 'noopener' }, `Open ${a.media_type}`);
    // A recording's player is kept across refreshes while its file and publication stay.
    const key = `${a.submitted ? 'public' : 'private'} ${a.file}`;
    if (r.audio && r.audio.dataset.src === key) return r.audio;
    if (!a.submitted) {
      // Not published: the box serves its file only with the staff token, so fetch it first.
      const mp3 = a.file.replace(/\.[^./]+$/, '.mp3');
      const load = el('button', { type: 'button', class: 'rw-small', dataset: { src: key }, 'aria-label': `Load recording ${a.id} to play it` }, 'Load to play');
      load.addEventListener('click', async () => {
        load.disabled = true;
        try {
          const url = await fetchMediaUrl(mp3);
          const audio = el('audio', { controls: true, src: url, 'aria-label': `Play recording ${a.id}`, dataset: { src: key } });
          load.replaceWith(audio);
          r.audio = audio;
          audio.play().catch(() => {});
        } catch (e) {
          load.disabled = false;
          say(`Recording #${a.id} could not be loaded (${e.message}).`);
        }
      });
      r.audio = load;
      return load;
    }
    r.audio = el('audio', { controls: true, preload: 'none', src: a.file, 'aria-label': `Play recording ${a.id}`, dataset: { src: key } });
    r.audio.addEventListener('error', () => say(`Recording #${a.id} could not be played (its file did not load).`));
    return r.audio;
  }

  function fillRow(r, a) {
    const label = a.description || '(no description)';
    r.tr.classList.toggle('rw-unsubmitted', !a.submitted);
    r.tr.replaceChildren(
      el('td', {}, `#${a.id}`),
      el(
        'td',
        {},
        el('strong', {}, label),
        el('br'),
        el('span', { class: 'rw-small rw-muted' }, `${(a.created || '').replace('T', ' ').slice(0, 19)} · ${secs(a.audio_length_in_seconds)} · ${a.latitude != null ? coords(a.latitude, a.longitude) : 'no location'}`),
      ),
      el('td', { class: 'rw-tags' }, el('span', {}, tagNames(a.tag_ids) || 'none'), el('br'), el('button', { type: 'button', class: 'rw-secondary rw-small-btn', onclick: () => editTags(r, a) }, 'Edit tags', el('span', { class: 'visually-hidden' }, ` of recording ${a.id}`))),
      el('td', {}, player(r, a)),
      el(
        'td',
        {},
        el('span', { class: a.submitted ? 'rw-ok' : 'rw-warn' }, a.submitted ? 'Submitted' : 'Not submitted'),
        el('br'),
        el('button', { type: 'button', class: 'rw-secondary rw-small-btn', 'data-action': 'toggle-submitted', onclick: () => setSubmitted(a, !a.submitted) }, a.submitted ? 'Unsubmit' : 'Submit', el('span', { class: 'visually-hidden' }, ` recording ${a.id}`)),
      ),
      el('td', {}, el('button', { type: 'button', class: 'rw-danger rw-small-btn', 'data-action': 'delete', onclick: () => confirmDelete(r, a) }, 'Delete', el('span', { class: 'visually-hidden' }, ` recording ${a.id}`))),
    );
  }

  async function setSubmitted(a, submitted) {
    await act('submit', async () => {
      const updated = await call(`assets/${a.id}/`, { method: 'PATCH', body: { submitted } });
      replace(updated);
      say(`Recording #${a.id} ${submitted ? 'submitted: it can play in streams' : 'unsubmitted: it leaves every playlist'}.`);
      rows.get(a.id)?.tr.querySelector('[data-action="toggle-submitted"]')?.focus();
    });
  }

  function replace(updated) {
    const i = assets.findIndex((x) => x.id === updated.id);
    if (i >= 0) assets[i] = updated;
    render();
  }

  function editTags(r, a) {
    r.busy = true;
    const cell = r.tr.querySelector('.rw-tags');
    const boxes = state.tags.map((t) =>
      el('label', {}, el('input', { type: 'checkbox', value: t.id, checked: a.tag_ids.includes(t.id) }), ` ${t.msg_loc || t.value}`),
    );
    const done = () => {
      r.busy = false;
      r.sig = null;
      render();
      r.tr.querySelector('.rw-tags button')?.focus();
    };
    const save = async () => {
      const ids = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => Number(i.value));
      await act('tags', async () => {
        const updated = await call(`assets/${a.id}/`, { method: 'PATCH', body: { tag_ids: ids } });
        r.busy = false;
        r.sig = null;
        replace(updated);
        say(`Tags of recording #${a.id} saved: ${tagNames(updated.tag_ids) || 'none'}.`);
        r.tr.querySelector('.rw-tags button')?.focus();
      });
    };
    cell.replaceChildren(
      el('fieldset', {}, el('legend', {}, `Tags of recording ${a.id}`), el('div', { class: 'rw-checks' }, boxes)),
      el('div', { class: 'rw-row' }, el('button', { type: 'button', class: 'rw-small-btn', onclick: save }, 'Save tags'), el('button', { type: 'button', class: 'rw-secondary rw-small-btn', onclick: done }, 'Cancel')),
    );
    cell.querySelector('input')?.focus();
  }

  function confirmDelete(r, a) {
    r.busy = true;
    const cell = r.tr.lastElementChild;
    const files = el('input', { type: 'checkbox', id: `del-files-${a.id}`, checked: true });
    const cancel = () => {
      r.busy = false;
      r.sig = null;
      render();
      r.tr.querySelector('[data-action="delete"]')?.focus();
    };
    const yes = async () => {
      try {
        await call(`assets/${a.id}/`, { method: 'DELETE', query: files.checked ? { delete_binary: 'true' } : undefined });
        assets = assets.filter((x) => x.id !== a.id);
        render();
        say(`Recording #${a.id} deleted.`);
        summary.setAttribute('tabindex', '-1');
        summary.focus();
      } catch (e) {
        showError(e, yes);
      }
    };
    cell.replaceChildren(
      el('p', { class: 'rw-small', role: 'alert' }, `Delete recording #${a.id} “${a.description || 'no description'}”? This cannot be undone.`),
      el('p', { class: 'rw-small' }, el('label', { for: files.id }, files, ' also delete its audio file')),
      el('div', { class: 'rw-row' }, el('button', { type: 'button', class: 'rw-danger rw-small-btn', 'data-action': 'confirm-delete', onclick: yes }, 'Yes, delete'), el('button', { type: 'button', class: 'rw-secondary rw-small-btn', onclick: cancel }, 'Keep it')),
    );
    cell.querySelector('[data-action="confirm-delete"]').focus();
  }

  const poller = new Poller('assets', refresh, POLL_MS);
  return {
    activate: () => poller.start(),
    deactivate: () => poller.stop(),
    projectChanged() {
      loadedFor = null;
      if (poller.running) poller.now();
    },
  };
}
