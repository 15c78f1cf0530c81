// Kiosks: read-only tokens for lobby screens (staff GET/POST kiosks/, DELETE kiosks/{id}/).
// Each kiosk is listed with the live wall link of the project chosen in the console
// (/wall/?project=ID&access_token=TOKEN) to open on that screen, the same link as text to
// copy, and Revoke (after an in-page confirmation), which ends the token at once.
import { state, call, say, el, act, ApiError, LoggedOut, showError } from './core.js';

/** The wall link of a kiosk token for the console's project. */
export function wallLink(token, projectId = state.projectId) {
  const u = new URL('/wall/', location.origin);
  u.searchParams.set('project', String(projectId));
  u.searchParams.set('access_token', token);
  return u.href;
}

/** "2026-12-06 23:23" of an api/2 time. */
const shortTime = (s) => (s || '').replace('T', ' ').slice(0, 16);

/** Copies an input's text: the clipboard API where the page may use it (https or localhost), else the selection. */
export async function copyFrom(input) {
  input.focus();
  input.select();
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(input.value);
      return true;
    }
    return document.execCommand('copy');
  } catch {
    return false;
  }
}

/** The Kiosks section. */
export function kiosksSection() {
  const list = document.getElementById('kiosk-list');
  const summary = document.getElementById('kiosks-summary');
  const form = document.getElementById('kiosk-form');
  const name = document.getElementById('kiosk-name');
  const nameErr = document.getElementById('kiosk-name-err');
  let kiosks = [];
  let loaded = false;

  async function load() {
    try {
      kiosks = await call('kiosks/');
      loaded = true;
      render();
    } catch (e) {
      if (!(e instanceof LoggedOut)) showError(e, load, 'kiosks');
    }
  }

  function render() {
    const project = state.project ? `“${state.project.name}” (#${state.projectId})` : `#${state.projectId}`;
    summary.textContent = kiosks.length
      ? `${kiosks.length} kiosk${kiosks.length === 1 ? '' : 's'}. The links open the wall of project ${project}; choose another project at the top for its links.`
      : 'No kiosk yet: make one for each screen that shows the live wall.';
    list.replaceChildren(...kiosks.map(item));
  }

  function item(k) {
    const link = wallLink(k.token);
    const inputId = `kiosk-url-${k.id}`;
    const input = el('input', { id: inputId, class: 'rw-kiosk-url', readonly: true, value: link, 'data-role': 'wall-url' });
    const copy = el('button', { type: 'button', class: 'rw-secondary rw-small-btn', 'data-action': 'copy' }, 'Copy link', el('span', { class: 'visually-hidden' }, ` of kiosk ${k.username}`));
    copy.addEventListener('click', async () => {
      say((await copyFrom(input)) ? `The wall link of kiosk ${k.username} is copied.` : `Select the wall link of kiosk ${k.username} and copy it (Ctrl+C).`);
    });
    const actions = el('div', { class: 'rw-row' });
    const li = el(
      'li',
      { class: 'rw-kiosk', dataset: { id: k.id } },
      el('h3', {}, k.username, ' ', el('span', { class: 'rw-small rw-muted' }, `(made ${shortTime(k.created)})`)),
      el('p', {}, el('a', { href: link, target: '_blank', rel: 'noopener noreferrer', 'data-role': 'wall-link' }, `Open the live wall of ${state.project ? state.project.name : `project ${state.projectId}`}`, el('span', { class: 'visually-hidden' }, ` for kiosk ${k.username}`))),
      el('div', { class: 'rw-row' }, el('label', { for: inputId, class: 'visually-hidden' }, `Wall link of kiosk ${k.username}`), input, copy),
      actions,
    );
    const revokeButton = () =>
      el('button', { type: 'button', class: 'rw-danger rw-small-btn', 'data-action': 'revoke', onclick: () => confirmRevoke(k, actions, revokeButton) }, 'Revoke', el('span', { class: 'visually-hidden' }, ` kiosk ${k.username}`));
    actions.append(revokeButton());
    return li;
  }

  function confirmRevoke(k, actions, revokeButton) {
    const keep = () => {
      actions.replaceChildren(revokeButton());
      actions.querySelector('[data-action="revoke"]').focus();
    };
    const yes = () =>
      act('revoke', async () => {
        await call(`kiosks/${k.id}/`, { method: 'DELETE' });
        kiosks = kiosks.filter((x) => x.id !== k.id);
        render();
        say(`Kiosk ${k.username} revoked: its wall link no longer works.`);
        summary.setAttribute('tabindex', '-1');
        summary.focus();
      });
    actions.replaceChildren(
      el('p', { class: 'rw-small', role: 'alert' }, `Revoke kiosk ${k.username}? Its token and wall link stop working. This cannot be undone.`),
      el('button', { type: 'button', class: 'rw-danger rw-small-btn', 'data-action': 'confirm-revoke', onclick: yes }, 'Yes, revoke'),
      el('button', { type: 'button', class: 'rw-secondary rw-small-btn', onclick: keep }, 'Keep it'),
    );
    actions.querySelector('[data-action="confirm-revoke"]').focus();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const wanted = name.value.trim();
    nameErr.textContent = '';
    name.removeAttribute('aria-invalid');
    if (!/^[A-Za-z0-9_-]{1,60}$/.test(wanted)) {
      nameErr.textContent = 'Use 1 to 60 letters, digits, - or _ (e.g. lobby-wall).';
      name.setAttribute('aria-invalid', 'true');
      name.focus();
      return;
    }
    const button = document.getElementById('kiosk-create');
    button.disabled = true;
    try {
      const made = await call('kiosks/', { body: { name: wanted } });
      kiosks = [...kiosks.filter((x) => x.id !== made.id), made];
      render();
      name.value = '';
      say(`Kiosk ${made.username} made. Open its wall link on the screen it is for.`);
      list.querySelector(`li[data-id="${made.id}"] a[data-role="wall-link"]`)?.focus();
    } catch (e) {
      if (e instanceof LoggedOut) return;
      if (e instanceof ApiError && e.status === 400 && e.body && e.body.name) {
        nameErr.textContent = [].concat(e.body.name).join(' ');
        name.setAttribute('aria-invalid', 'true');
        name.focus();
      } else {
        showError(e, null, 'action');
      }
    } finally {
      button.disabled = false;
    }
  });

  return {
    activate: () => load(),
    deactivate() {},
    projectChanged() {
      if (loaded) render();
    },
  };
}
