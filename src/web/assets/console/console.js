// The curator console's entry: login (staff only), the project chooser, the section tabs
// (#project, #assets, #map, #streams, #local, #kiosks, #channels, #fleet, #health in the address) and
// which section's poller runs. Everything goes through api/2, the staff status routes and (for
// channels) the Livepeer stream API at /livepeer/api.
import { api, ApiError } from '/web/shared/api.js';
import { state, saveLogin, call, say, showError, clearError, initErrorBanner, LoggedOut } from './core.js';
import { projectSection } from './project.js';
import { assetsSection } from './assets.js';
import { mapSection } from './mapview.js';
import { streamsSection } from './streams.js';
import { localSection } from './local.js';
import { kiosksSection } from './kiosks.js';
import { channelsSection } from './channels.js';
import { fleetSection } from './fleet.js';
import { healthSection } from './health.js';

const PROJECT_KEY = 'rw-console-project';
const $ = (id) => document.getElementById(id);

const sections = {
  project: projectSection(),
  assets: assetsSection(),
  map: mapSection(),
  streams: streamsSection(),
  local: localSection(),
  kiosks: kiosksSection(),
  channels: channelsSection(),
  fleet: fleetSection(),
  health: healthSection(),
};
let current = null;

/** For tests and the curious: the console's live state. */
window.__rw = Object.assign(window.__rw || {}, { console: { state, sections } });

function showLogin(message) {
  for (const s of Object.values(sections)) s.deactivate();
  current = null;
  for (const id of Object.keys(sections)) $(`tab-${id}`).hidden = true;
  $('tabs').hidden = true;
  $('who').hidden = true;
  $('login').hidden = false;
  clearError();
  $('login-message').textContent = message || '';
  $('login-pass').value = '';
  (message ? $('login-pass') : $('login-user')).focus();
}

state.onLoggedOut = (message) => {
  say('');
  showLogin(message);
};

async function login(ev) {
  ev.preventDefault();
  const username = $('login-user').value.trim();
  const password = $('login-pass').value;
  const msg = $('login-message');
  if (!username || !password) {
    msg.textContent = 'Enter a user name and a password.';
    return;
  }
  $('login-submit').disabled = true;
  msg.textContent = 'Logging in…';
  try {
    const { token } = await api('login/', { body: { username, password } });
    try {
      await api('streams/status/', { token });
    } catch (e) {
      if (e instanceof ApiError && e.status === 403) {
        msg.textContent =
          `The account “${username}” is not a staff account: it cannot change settings, so the ` +
          'console stays closed. Log in with a staff account (roundwared user add --staff).';
        return;
      }
      throw e;
    }
    saveLogin(token, username);
    msg.textContent = '';
    await enter(true);
  } catch (e) {
    if (e instanceof ApiError && e.status === 400) {
      msg.textContent = 'Wrong user name or password. Check both and try again.';
      $('login-pass').focus();
    } else {
      msg.textContent = e instanceof Error ? e.message : String(e);
    }
  } finally {
    $('login-submit').disabled = false;
  }
}

/** After a login (or a reload with a kept token): projects, then the section in the address. */
async function enter(focus = false) {
  $('login').hidden = true;
  $('who').hidden = false;
  $('tabs').hidden = false;
  $('user-name').textContent = state.user ? `Logged in as ${state.user}` : '';
  try {
    const projects = await call('projects/');
    const select = $('project-select');
    select.replaceChildren(...projects.map((p) => new Option(`${p.name} (#${p.id})`, String(p.id))));
    if (!projects.length) {
      say('There is no project on this box yet.');
      return;
    }
    const kept = Number(sessionStorage.getItem(PROJECT_KEY));
    const id = projects.some((p) => p.id === kept) ? kept : projects[0].id;
    select.value = String(id);
    await chooseProject(id, focus);
    clearError('enter');
  } catch (e) {
    if (e instanceof LoggedOut) return;
    showError(e, () => enter(focus), 'enter');
  }
}

async function chooseProject(id, focus = false) {
  const [project, tags] = await Promise.all([call(`projects/${id}/`), call('tags/', { query: { project_id: id } })]);
  state.projectId = id;
  state.project = project;
  state.tags = tags;
  sessionStorage.setItem(PROJECT_KEY, String(id));
  for (const s of Object.values(sections)) s.projectChanged?.();
  openTab(tabFromHash(), focus);
}

function tabFromHash() {
  const h = location.hash.replace('#', '');
  return h in sections ? h : 'assets';
}

function openTab(name, focus = true) {
  if (!state.token || !state.projectId) return;
  if (current && current !== name) sections[current].deactivate();
  for (const id of Object.keys(sections)) $(`tab-${id}`).hidden = id !== name;
  for (const b of $('tabs').querySelectorAll('button')) {
    if (b.dataset.tab === name) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  current = name;
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  sections[name].activate();
  if (focus) $(`tab-${name}`).querySelector('h2')?.setAttribute('tabindex', '-1');
  if (focus) $(`tab-${name}`).querySelector('h2')?.focus();
}

function boot() {
  initErrorBanner();
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => {
    saveLogin(null);
    showLogin('Logged out.');
  });
  $('tabs').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-tab]');
    if (b) openTab(b.dataset.tab);
  });
  window.addEventListener('hashchange', () => openTab(tabFromHash(), false));
  $('project-select').addEventListener('change', async (e) => {
    try {
      await chooseProject(Number(e.target.value));
    } catch (err) {
      showError(err, () => chooseProject(Number(e.target.value)));
    }
  });
  if (state.token) enter();
  else showLogin('');
}

boot();
