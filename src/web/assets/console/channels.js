// Broadcast channels through the Livepeer stream API (/livepeer/api, staff token), every 3 s:
// state, push/pull forms, push-on targets, recordings and clips (README, "Broadcast channels").
// Items are updated in place, so focus and a playing <audio> survive a refresh.
import { call, say, el, act, Poller, ApiError, LoggedOut, showError } from './core.js';
import { copyFrom } from './kiosks.js';

const POLL_MS = 3000;

/** The Livepeer stream API (`under` '' for the rest); a refusal's message is its `errors[0]`. */
async function lp(path = '', opts = {}, under = '/stream') {
  try {
    return await call(`/livepeer/api${under}${path}`, opts);
  } catch (e) {
    const m = e instanceof ApiError && e.body && Array.isArray(e.body.errors) ? e.body.errors[0] : null;
    throw m ? new ApiError(e.status, `${e.what} failed (${e.status}): ${m}`, e.body, e.what) : e;
  }
}

/** "1 h 02 min", "4 min 05 s", "12 s". */
export function duration(s) {
  s = Math.max(0, Math.round(s || 0));
  const p = (n) => String(n).padStart(2, '0');
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${p(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${p(Math.floor(s / 60) % 60)} min`;
}

/** "never", "now", "12 s ago", "3 min ago", "2 h ago", "4 days ago" of Unix ms. */
export function since(ms) {
  if (!ms) return 'never';
  const s = (Date.now() - ms) / 1000;
  if (s < 2) return 'now';
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return s < 86400 ? `${Math.floor(s / 3600)} h ago` : `${Math.floor(s / 86400)} days ago`;
}

/** "830 KB", "1.2 MB". */
export const size = (b) => (b < 1e6 ? `${Math.round(b / 1e3)} KB` : `${(b / 1e6).toFixed(1)} MB`);

/** A push-on target's state [text, class]: `t` from the Stream, `info` from the target list. */
export function targetState(t, info, live) {
  const st = t.state || {};
  if (info?.disabled) return ['Off', 'rw-muted'];
  if (!live) return ['Waits for the channel to go live', 'rw-muted'];
  if (st.connected) return [`Pushing · ${size(st.bytes)}`, 'rw-ok'];
  return st.lastError ? [st.lastError, 'rw-warn'] : ['Connecting…', ''];
}

/** The ffmpeg command that pushes talk.wav with stream key `key` to this box. */
export function ffmpegLine(key) {
  const port = location.port || (location.protocol === 'https:' ? '443' : '80');
  return `ffmpeg -re -i talk.wav -c:a libmp3lame -b:a 128k -content_type audio/mpeg -f mp3 icecast://source:${key}@${location.hostname}:${port}/live/${key}`;
}

/** The Channels section. */
export function channelsSection() {
  const $ = (id) => document.getElementById(id);
  const list = $('channel-list');
  const summary = $('channels-summary');
  const kind = $('channel-kind');
  const err = $('channel-err');
  const fields = ['channel-name', 'channel-source', 'channel-hname'].map($);
  /** id → {li, update(stream)} */
  const items = new Map();

  async function refresh() {
    const [all, targets] = await Promise.all([lp(), lp('/multistream/target', {}, '')]);
    const info = new Map(targets.map((t) => [t.id, t]));
    const ids = new Set(all.map((s) => s.id));
    for (const [id, it] of items) {
      if (!ids.has(id)) {
        it.li.remove();
        items.delete(id);
      }
    }
    for (const s of all) {
      if (!items.has(s.id)) {
        items.set(s.id, item(s));
        list.append(items.get(s.id).li);
      }
      items.get(s.id).update(s, info);
    }
    summary.textContent = all.length
      ? `${all.length} channel${all.length === 1 ? '' : 's'}, ${all.filter((s) => s.isActive).length} live. Refreshed every ${POLL_MS / 1000} s.`
      : 'No channel yet.';
  }

  /** A read-only text to copy, with its label and a Copy button. */
  function copyRow(id, label, value, what, rows = 0) {
    const input = el(rows ? 'textarea' : 'input', { id, class: 'rw-kiosk-url', readonly: true, rows: rows || null, spellcheck: 'false', 'data-role': id.split('-').pop() });
    input.value = value;
    const copy = async () => say((await copyFrom(input)) ? `Copied ${what}.` : `Select ${what} and copy it (Ctrl+C).`);
    return el('div', { class: 'rw-row rw-copy' }, el('label', { for: id }, label), input, el('button', { type: 'button', class: 'rw-secondary rw-small-btn', onclick: copy }, 'Copy', el('span', { class: 'visually-hidden' }, ` ${what}`)));
  }

  function item(s) {
    const id = s.id;
    let cur = s;
    const name = () => cur.name;
    const pull = Boolean(s.pull);
    const stateEl = el('strong');
    const facts = el('span');
    const issue = el('p', { class: 'rw-small rw-warn', 'data-role': 'issue', hidden: true });
    const listen = el('div', { 'data-role': 'listen' });
    const vh = (t) => el('span', { class: 'visually-hidden' }, ` ${t}`);
    const btn = (action, label, onclick, cls = 'rw-secondary') =>
      el('button', { type: 'button', class: `${cls} rw-small-btn`, 'data-action': action, onclick }, label, vh(`channel ${s.name}`));
    const run = (what, path, method, body, msg) =>
      act(what, async () => {
        await lp(`/${id}${path}`, { method, body });
        say(`Channel ${name()}${msg}`);
        poller.now();
      });
    const suspend = btn('suspend', 'Suspend', () => {
      const on = !cur.suspended;
      run('suspend', '', 'PATCH', { suspended: on }, on ? ' suspended: its source is dropped and new ones are refused.' : ` unsuspended${pull ? ': press Start pull to pull again' : ''}.`);
    });
    // Record (PATCH record: the box refuses it while live), Keep the last minute (POST /clip: the
    // last 60 s, from 1.5 s after the session started, to 0.5 s ago; a browser clock the box's
    // 422 proves off is corrected once from the window the box names) and the list of
    // recordings and clips, read when opened, then every third refresh and when the channel
    // goes live or idle while it is open.
    const rec = el('input', {
      type: 'checkbox',
      onchange: () => {
        const on = rec.checked;
        act('record', async () => {
          try {
            await lp(`/${id}`, { method: 'PATCH', body: { record: on } });
          } catch (e) {
            rec.checked = cur.record;
            throw e;
          }
          say(`Channel ${name()} ${on ? 'records each live session' : 'is not recorded'}.`);
          poller.now();
        });
      },
    });
    const keepClip = btn('clip', 'Keep the last minute', () =>
      act('clip', async () => {
        const now = Date.now();
        const since = (await lp(`/${id}/sessions`)).find((x) => x.isActive)?.createdAt || 0;
        const ask = (startTime, endTime) => lp('/clip', { body: { playbackId: cur.playbackId, startTime, endTime, name: `${name()} ${new Date().toLocaleTimeString()}` } }, '');
        let a;
        try {
          a = await ask(Math.max(now - 6e4, since + 1500), now - 500);
        } catch (e) {
          const m = e.status === 422 && /window is (\d+) to (\d+)/.exec(e.body?.errors?.[0]);
          if (!m) throw e;
          a = await ask(Math.max(+m[1] + 1e3, m[2] - 58e3), +m[2]);
        }
        a = a.asset;
        say(`Clip ${a.name} kept (${duration((a.endTime - a.startTime) / 1e3)}).`);
        if (media.open) await load();
        else media.open = true;
      }),
    );
    const lists = ['recordings', 'clips'].map((r) => el('ul', { class: 'rw-plain', 'data-role': r }));
    const media = el('details', { 'data-role': 'media', ontoggle: () => media.open && act('media', load) }, el('summary', {}, 'Recordings and clips', vh(`of channel ${s.name}`)), el('h4', {}, 'Recordings'), lists[0], el('h4', {}, 'Clips'), lists[1]);
    const when = (ms) => new Date(ms).toLocaleString();
    /** Fills list `i` with [key, label, url, what] rows; unchanged, it is left alone (focus, a playing <audio>). */
    const fill = (i, rows, none) => {
      const keys = rows.map((r) => r[0] + r[1]).join('\n') || none;
      if (lists[i].dataset.keys === keys) return;
      lists[i].dataset.keys = keys;
      lists[i].replaceChildren(
        ...(rows.length
          ? rows.map(([, label, url, what]) =>
              el('li', { class: 'rw-row' }, el('span', { class: 'rw-small' }, label), url && [el('a', { href: url, download: '' }, 'Download', vh(what)), el('audio', { controls: true, preload: 'none', src: url, 'aria-label': `Play ${what}` })]),
            )
          : [el('li', { class: 'rw-small rw-muted' }, none)]),
      );
    };
    async function load() {
      const [recs, clips] = await Promise.all([lp(`/${id}/sessions?record=1`), lp(`/${id}/clips`)]);
      fill(0, recs.map((r) => [r.id, `${when(r.createdAt)} · ${duration(r.sourceSegmentsDuration)} · ${r.recordingStatus === 'waiting' ? 'recording…' : r.recordingStatus}`, r.recordingStatus === 'ready' && r.recordingUrl, `the recording of ${when(r.createdAt)}`]), 'No recording yet.');
      fill(1, clips.map((c) => [c.id, `${c.name} · ${duration((c.endTime - c.startTime) / 1e3)}`, c.downloadUrl, `clip ${c.name}`]), 'No clip yet.');
    }
    let ticks = 0;
    let wasLive;
    const buttons = [
      el('label', { class: 'rw-checks' }, rec, 'Record', vh(`channel ${s.name}`)),
      keepClip,
      suspend,
      btn('terminate', 'Terminate', () => run('terminate', '/terminate', 'DELETE', undefined, ': the current session is ended.')),
      pull ? btn('start-pull', 'Start pull', () => run('start-pull', '/start-pull', 'POST', undefined, ': pulling started.')) : null,
      btn('delete', 'Delete', () => confirmDelete(), 'rw-danger'),
    ].filter(Boolean);
    const actions = el('div', { class: 'rw-row' }, buttons);
    const keep = () => {
      actions.replaceChildren(...buttons);
      actions.querySelector('[data-action="delete"]').focus();
    };
    function confirmDelete() {
      const yes = () =>
        act('delete', async () => {
          await lp(`/${id}`, { method: 'DELETE' });
          items.get(id)?.li.remove();
          items.delete(id);
          say(`Channel ${name()} deleted.`);
          summary.setAttribute('tabindex', '-1');
          summary.focus();
          poller.now();
        });
      actions.replaceChildren(
        el('p', { class: 'rw-small', role: 'alert' }, `Delete channel ${name()}? Its source is dropped; its key and listening link stop working. This cannot be undone.`),
        el('button', { type: 'button', class: 'rw-danger rw-small-btn', 'data-action': 'confirm-delete', onclick: yes }, 'Yes, delete'),
        el('button', { type: 'button', class: 'rw-secondary rw-small-btn', onclick: keep }, 'Keep it'),
      );
      actions.querySelector('[data-action="confirm-delete"]').focus();
    }
    // Push-on targets: state, On (PATCH the target: every channel using it), Remove (from this
    // channel); the add form sends a spec whose URL is cleared once it is added.
    const tItems = new Map();
    const tList = el('ul', { class: 'rw-plain', 'data-role': 'targets' });
    const tNone = el('p', { class: 'rw-small rw-muted' }, 'Not pushed on to another server.');
    const fid = (k) => `ch-${id}-t${k}`;
    function tItem(t) {
      let label = '';
      const nameEl = el('strong');
      const stEl = el('span', { 'data-role': 'tstate' });
      const tail = el('span', { class: 'visually-hidden' });
      const on = el('input', {
        type: 'checkbox',
        onchange: () =>
          act('target', async () => {
            await lp(`/multistream/target/${t}`, { method: 'PATCH', body: { disabled: !on.checked } }, '');
            say(`Target ${label} ${on.checked ? 'on' : 'off'}.`);
            poller.now();
          }),
      });
      const remove = () =>
        act('remove-target', async () => {
          await lp(`/${id}/multistream/${t}`, { method: 'DELETE' });
          tItems.get(t)?.li.remove();
          tItems.delete(t);
          say(`Target ${label} removed from channel ${name()}.`);
          tAdd.focus();
          poller.now();
        });
      const li = el(
        'li',
        { class: 'rw-row', dataset: { target: t } },
        nameEl,
        stEl,
        el('label', { class: 'rw-checks' }, on, 'On', tail.cloneNode()),
        el('button', { type: 'button', class: 'rw-secondary rw-small-btn', 'data-action': 'remove-target', onclick: remove }, 'Remove', tail),
      );
      function update(tt, inf, live) {
        label = inf?.name || 'without a name';
        nameEl.textContent = label;
        li.querySelectorAll('.visually-hidden').forEach((v) => (v.textContent = ` target ${label} of channel ${name()}`));
        const [text, cls] = targetState(tt, inf, live);
        stEl.textContent = text;
        stEl.className = `rw-small ${cls}`;
        on.checked = !inf?.disabled;
      }
      return { li, update };
    }
    const tName = el('input', { id: fid('name'), maxlength: 200, autocomplete: 'off' });
    const tUrl = el('input', { id: fid('url'), type: 'url', maxlength: 2048, autocomplete: 'off', spellcheck: 'false', placeholder: 'icecast://source:password@host:8000/mount', 'aria-describedby': `${fid('hint')} ${fid('err')}` });
    const tErr = el('p', { id: fid('err'), class: 'rw-field-error', role: 'alert' });
    const tAdd = el('summary', {}, 'Add a target');
    async function addTarget(ev) {
      ev.preventDefault();
      const url = tUrl.value.trim();
      const fail = (m) => {
        tErr.textContent = m;
        tUrl.setAttribute('aria-invalid', 'true');
        tUrl.focus();
      };
      tErr.textContent = '';
      tUrl.removeAttribute('aria-invalid');
      if (!/^(icecast|https?):\/\/./i.test(url)) return fail('Give the URL: icecast://user:password@host:port/mount, or http(s)://….');
      let label = tName.value.trim();
      try {
        const u = new URL(url);
        label ||= u.host + u.pathname;
      } catch {}
      const button = ev.target.querySelector('button');
      button.disabled = true;
      try {
        await lp(`/${id}/create-multistream-target`, { body: { profile: 'source', spec: { url, name: label } } });
        tUrl.value = tName.value = '';
        say(`Channel ${name()} is pushed on to ${label} while it is live.`);
        poller.now();
      } catch (e) {
        if (e instanceof LoggedOut) return;
        const m = e.body?.errors?.[0];
        if (m) fail(m);
        else showError(e, null, 'action');
      } finally {
        button.disabled = false;
      }
    }
    const tBox = el(
      'div',
      {},
      el('h4', {}, 'Pushed on to'),
      tNone,
      tList,
      el(
        'details',
        {},
        tAdd,
        el(
          'form',
          { novalidate: true, 'data-role': 'add-target', onsubmit: addTarget },
          el('p', { class: 'rw-field' }, el('label', { for: fid('name') }, 'Target name'), el('br'), tName),
          el('p', { class: 'rw-field' }, el('label', { for: fid('url') }, 'Icecast URL with its password'), el('br'), tUrl),
          el('p', { id: fid('hint'), class: 'rw-small rw-muted' }, 'icecast://user:password@host:port/mount (port 8000 by default) or http(s)://…; the box never shows it again. Off stops the target for every channel.'),
          tErr,
          el('button', { type: 'submit', class: 'rw-secondary rw-small-btn' }, 'Add target', el('span', { class: 'visually-hidden' }, ` to channel ${s.name}`)),
        ),
      ),
    );
    const title = el('span', {}, s.name);
    const push = pull
      ? [el('p', { class: 'rw-small' }, 'Pulls ', el('code', {}, s.pull.source))]
      : [
          copyRow(`ch-${id}-ingest`, 'Ingest URL', s.ingestUrl, `the ingest URL of channel ${s.name}`),
          copyRow(`ch-${id}-key`, 'Stream key', s.streamKey, `the stream key of channel ${s.name}`),
          copyRow(`ch-${id}-ffmpeg`, 'Push with ffmpeg', ffmpegLine(s.streamKey), `the ffmpeg command of channel ${s.name}`, 3),
        ];
    const li = el(
      'li',
      { class: 'rw-kiosk', dataset: { id } },
      el('h3', {}, title, ' ', el('span', { class: 'rw-small rw-muted' }, pull ? '(pull)' : '(push)')),
      el('p', { 'data-role': 'state' }, stateEl, facts),
      issue,
      push,
      listen,
      actions,
      media,
      tBox,
    );
    function update(st, info) {
      cur = st;
      title.textContent = st.name;
      const live = st.isActive && !st.suspended;
      stateEl.textContent = st.suspended ? 'Suspended' : live ? 'Live' : 'Idle';
      stateEl.className = live ? 'rw-ok' : st.suspended ? 'rw-warn' : '';
      facts.textContent = ` · last audio ${since(st.lastSeen)} · ${duration(st.sourceSegmentsDuration)} of audio received`;
      issue.textContent = (st.issues || []).join(' ');
      issue.hidden = !issue.textContent;
      suspend.firstChild.textContent = st.suspended ? 'Unsuspend' : 'Suspend';
      rec.checked = st.record;
      keepClip.hidden = !live;
      if (media.open && (++ticks % 3 === 0 || live !== wasLive)) act('media', load);
      wasLive = live;
      const player = listen.querySelector('audio');
      if (live && !player) {
        listen.append(el('audio', { controls: true, preload: 'none', src: st.playbackUrl, 'aria-label': `Listen to channel ${st.name}` }));
      } else if (!live && player) player.remove();
      const now = new Set();
      for (const t of st.multistream?.targets || []) {
        now.add(t.id);
        if (!tItems.has(t.id)) tList.append(tItems.set(t.id, tItem(t.id)).get(t.id).li);
        tItems.get(t.id).update(t, info.get(t.id), live);
      }
      for (const [t, it] of tItems) {
        if (!now.has(t)) it.li.remove(), tItems.delete(t);
      }
      tNone.hidden = now.size > 0;
    }
    return { li, update };
  }

  kind.addEventListener('change', () => {
    $('channel-pull').hidden = kind.value !== 'pull';
  });

  $('channel-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const [name, source, hname] = fields;
    const body = { name: name.value.trim() };
    const fail = (msg, field) => {
      err.textContent = msg;
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    };
    err.textContent = '';
    for (const f of fields) f.removeAttribute('aria-invalid');
    if (!body.name) return fail('Give the channel a name.', name);
    if (kind.value === 'pull') {
      if (!/^https?:\/\/./i.test(source.value.trim())) return fail('Give the source URL, starting with http:// or https://.', source);
      body.pull = { source: source.value.trim() };
      if (hname.value.trim()) body.pull.headers = { [hname.value.trim()]: $('channel-hvalue').value };
    }
    const button = $('channel-create');
    button.disabled = true;
    try {
      const made = await lp('', { body });
      name.value = '';
      say(`Channel ${made.name} made${made.pull ? ': the box starts pulling it' : ': connect a source with its stream key'}.`);
      await refresh();
      const h = list.querySelector(`li[data-id="${made.id}"] h3`);
      h?.setAttribute('tabindex', '-1');
      h?.focus();
    } catch (e) {
      if (e instanceof LoggedOut) return;
      const m = e.body && Array.isArray(e.body.errors) ? e.body.errors[0] : null;
      if (m) fail(m, /^pull\.source/.test(m) ? source : /^pull\.headers/.test(m) ? hname : name);
      else showError(e, null, 'action');
    } finally {
      button.disabled = false;
    }
  });

  const poller = new Poller('channels', refresh, POLL_MS);
  return {
    activate: () => poller.start(),
    deactivate: () => poller.stop(),
    projectChanged() {},
  };
}
