// The visitor page in the visitor's language, in headless Chromium against a real roundwared: a
// project with English and Spanish strings (seeded through api/2 as a curator would) opens in
// Spanish for a Spanish browser (project texts from the box, page words from the page's
// catalogue, the session opened in Spanish), switches to English from the picker without a
// reload (the session and the stream re-opened in English), remembers the choice, and labels
// a tag without localized text with its value. The catalogue itself is checked for
// completeness.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, launchBrowser, apiCall, staffToken, waitFor, violations, REPO, visitorReady } from './lib.mjs';

const VISITOR = join(REPO, 'src', 'web', 'assets', 'visitor');
const { STRINGS } = await import(join(VISITOR, 'strings.js'));

let daemon;
let browser;
let staff;
let seeded;
before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
  staff = await staffToken(daemon);
  seeded = await seedBilingualProject();
});
after(async () => {
  await browser?.close();
  await daemon?.stop();
});

const TEXTS = {
  description: { en: 'A walk along the river, told by its neighbours.', es: 'Un paseo por el río, contado por sus vecinos.' },
  legal: { en: 'Your recording may be heard by other visitors.', es: 'Tu grabación podrá ser escuchada por otros visitantes.' },
  listenHeader: { en: 'What do you want to hear?', es: '¿Qué quieres escuchar?' },
  speakHeader: { en: 'What is your story about?', es: '¿De qué trata tu historia?' },
  birds: { en: 'Birds', es: 'Pájaros' },
  voices: { en: 'Voices', es: 'Voces' },
};
/** The value of the tag that has no localized text. */
const BARE_TAG = 'wind-chimes';

/** Creates, as the curator, a project in English and Spanish with its texts, tags and UI. */
async function seedBilingualProject() {
  const post = (path, body) => apiCall(daemon.url, path, { method: 'POST', token: staff, body });
  const languages = await apiCall(daemon.url, 'languages/', { token: staff });
  const lang = (code) => languages.find((l) => l.language_code === code).id;
  const strings = async (key) => [(await post('localizedstrings/', { text: TEXTS[key].en, language: 'en' })).id, (await post('localizedstrings/', { text: TEXTS[key].es, language: 'es' })).id];
  const project = await post('projects/', {
    name: 'Río',
    latitude: 40.4168,
    longitude: -3.7038,
    pub_date: '2026-01-01T00:00:00',
    audio_format: 'mp3',
    max_recording_length: 30,
    sharing_url: '',
    out_of_range_url: '',
    listen_enabled: true,
    speak_enabled: true,
    geo_listen_enabled: true,
    language_ids: [lang('en'), lang('es')],
    description_loc_ids: await strings('description'),
    legal_agreement_loc_ids: await strings('legal'),
  });
  // A sound zone around the project's centre (the demo's sound), so that streams open there.
  const [demoSpeaker] = await apiCall(daemon.url, 'speakers/?project_id=1', { token: staff });
  const d = 0.001;
  const square = [[[-3.7038 - d, 40.4168 - d], [-3.7038 + d, 40.4168 - d], [-3.7038 + d, 40.4168 + d], [-3.7038 - d, 40.4168 + d], [-3.7038 - d, 40.4168 - d]]];
  await post('speakers/', { project_id: project.id, maxvolume: 1, minvolume: 0, uri: demoSpeaker.uri, shape: { type: 'MultiPolygon', coordinates: [square] }, attenuation_distance: 50, activeyn: true });
  const category = await post('tagcategories/', { name: 'theme' });
  const tag = async (value, key) => post('tags/', { value, project_id: project.id, tag_category_id: category.id, msg_loc_ids: key ? await strings(key) : [] });
  const tags = [await tag('birds', 'birds'), await tag('voices', 'voices'), await tag(BARE_TAG, null)];
  for (const [mode, header, index] of [
    ['listen', 'listenHeader', 1],
    ['speak', 'speakHeader', 2],
  ]) {
    const group = await post('uigroups/', {
      name: mode,
      ui_mode: mode,
      select: mode === 'listen' ? 'multi' : 'single',
      index,
      active: true,
      tag_category_id: category.id,
      project_id: project.id,
      header_text_loc_ids: await strings(header),
    });
    for (const [i, t] of tags.entries()) await post('uiitems/', { ui_group_id: group.id, tag_id: t.id, index: i, default: true, active: true });
  }
  return { projectId: project.id, en: lang('en'), es: lang('es') };
}

/** Opens the visitor page of the seeded project in a browser with `locale`; records the session POSTs. */
async function openVisitor(locale) {
  const context = await browser.newContext({ locale, viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  const sessionPosts = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/2/sessions/') sessionPosts.push(r.postDataJSON());
  });
  await page.goto(`${daemon.url}/?project=${seeded.projectId}`);
  await visitorReady(page);
  return { context, page, problems, sessionPosts };
}

/** What the visitor reads of the project: group headers, item labels, description, legal text. */
const projectTexts = (page) =>
  page.evaluate(() => ({
    listenHeader: document.querySelector('#listen-tags legend')?.textContent,
    listenItems: [...document.querySelectorAll('#listen-tags label')].map((l) => l.textContent.trim()),
    speakHeader: document.querySelector('#speak-tags legend')?.textContent,
    description: document.getElementById('description').textContent,
    legal: document.getElementById('legal').textContent,
  }));

const expected = (lang) => ({
  listenHeader: TEXTS.listenHeader[lang],
  listenItems: [TEXTS.birds[lang], TEXTS.voices[lang], BARE_TAG],
  speakHeader: TEXTS.speakHeader[lang],
  description: TEXTS.description[lang],
  legal: TEXTS.legal[lang],
});

/** The page's own words and labels, as a visitor or a screen reader meets them. */
const pageWords = (page) =>
  page.evaluate(() => ({
    lang: document.documentElement.lang,
    listenButton: document.getElementById('listen-btn').textContent,
    recordButton: document.getElementById('record-btn').textContent,
    clipButton: document.getElementById('clip-btn').textContent,
    listenHeading: document.getElementById('listen-h').textContent,
    pickerLabel: document.querySelector('label[for="lang-select"]').textContent,
    meter: document.getElementById('level-meter').getAttribute('aria-label'),
    title: document.title,
  }));

const session = (id) => apiCall(daemon.url, `sessions/${id}/`, { token: staff });

test('every language of the catalogue has every message, with the same placeholders', () => {
  const keys = Object.keys(STRINGS.en);
  const holes = (s) => (s.match(/\{\w+\}/g) || []).sort().join(',');
  assert.deepEqual(Object.keys(STRINGS).sort(), ['de', 'en', 'es', 'fr']);
  for (const [lang, messages] of Object.entries(STRINGS)) {
    assert.deepEqual(Object.keys(messages).sort(), [...keys].sort(), `${lang} has exactly the messages of en`);
    for (const k of keys) {
      assert.ok(messages[k].trim(), `${lang} ${k} is not empty`);
      assert.equal(holes(messages[k]), holes(STRINGS.en[k]), `${lang} ${k} has the placeholders of en`);
    }
  }
  // Every message the page names exists (a typo would show the key to the visitor).
  const source = ['app.js', 'player.js', 'recorder.js', 'index.html'].map((f) => readFileSync(join(VISITOR, f), 'utf8')).join('\n');
  const named = [...source.matchAll(/(?:data-i18n(?:-[a-z-]+)?="|\b(?:say|t|listenStatus|recordStatus|status|sayGeo|PageError)\(\s*(?:\$\('[\w-]+'\),\s*)?'|key: ')([a-z]+\.[A-Za-z]+)/g)].map((m) => m[1]);
  assert.ok(named.length > 50, `found the page's messages: ${named.length}`);
  for (const k of new Set(named)) assert.ok(k in STRINGS.en, `the page names ${k}, which the catalogue lacks`);
});

test('a Spanish browser gets the project and the page in Spanish and a Spanish session', async () => {
  const { context, page, problems, sessionPosts } = await openVisitor('es-ES');
  assert.deepEqual(await projectTexts(page), expected('es'));
  assert.deepEqual(await pageWords(page), {
    lang: 'es',
    listenButton: STRINGS.es['listen.start'],
    recordButton: STRINGS.es['record.start'],
    clipButton: STRINGS.es['clip.keep'],
    listenHeading: STRINGS.es['listen.heading'],
    pickerLabel: STRINGS.es['lang.label'],
    meter: STRINGS.es['listen.level'],
    title: 'Río — Escuchar',
  });
  // The project's texts are marked as Spanish for screen readers.
  assert.equal(await page.getAttribute('#listen-tags', 'lang'), 'es');
  // No English word of the page is left on it (text or accessible labels).
  const shown = await page.evaluate(() => [document.body.innerText, ...[...document.querySelectorAll('[aria-label],[title]')].map((e) => e.getAttribute('aria-label') || e.title)].join('\n'));
  for (const [k, en] of Object.entries(STRINGS.en)) {
    const escaped = en.replace(/[.*+?^$(){}|[\]\\]/g, '\\$&');
    const word = new RegExp(`(?<!\\p{L})${escaped}(?!\\p{L})`, 'u');
    if (en !== STRINGS.es[k] && !/\{/.test(en)) assert.ok(!word.test(shown), `English "${en}" (${k}) still on the Spanish page`);
  }
  // The picker: labelled, the project's languages by their own names, Spanish chosen.
  const picker = page.getByLabel(STRINGS.es['lang.label']);
  assert.ok(await picker.isVisible());
  const options = await picker.evaluate((s) => [...s.options].map((o) => [o.value, o.textContent, o.lang]));
  assert.deepEqual(options, [
    ['en', 'English', 'en'],
    ['es', 'Español', 'es'],
  ]);
  assert.equal(await picker.inputValue(), 'es');
  // The session was opened in Spanish, and the box has it so.
  assert.equal(sessionPosts.length, 1);
  assert.equal(sessionPosts[0].language, 'es');
  const { sessionId } = await page.evaluate(() => window.__rw);
  assert.equal((await session(sessionId)).language_id, seeded.es);
  assert.deepEqual(await violations(page), [], 'the Spanish page with its language picker');
  assert.deepEqual(problems, []);
  await context.close();
});

test('switching to English re-renders the page and re-opens the session and stream in English, without a reload', async () => {
  const { context, page, problems, sessionPosts } = await openVisitor('es-ES');
  await page.evaluate(() => (window.__sameDocument = true));
  // A choice the visitor made survives the switch.
  await page.locator('#listen-tags').getByLabel(TEXTS.voices.es).uncheck();
  await page.click('#listen-btn');
  const before = await waitFor(async () => {
    const s = await page.evaluate(() => window.__rw);
    return s.streamId && s;
  }, { timeoutMs: 20000, what: 'a stream' });
  assert.equal(before.streamId, before.sessionId);

  await page.getByLabel(STRINGS.es['lang.label']).selectOption('en');
  await waitFor(async () => (await projectTexts(page)).listenHeader === TEXTS.listenHeader.en, { what: 'English headers' });
  assert.deepEqual(await projectTexts(page), expected('en'));
  const words = await pageWords(page);
  assert.equal(words.lang, 'en');
  assert.equal(words.listenButton, STRINGS.en['listen.stop'], 'still listening, in English');
  assert.equal(words.recordButton, STRINGS.en['record.start']);
  assert.equal(words.pickerLabel, STRINGS.en['lang.label']);
  assert.equal(words.title, 'Río — Listen');
  assert.equal(await page.locator('#listen-tags').getByLabel(TEXTS.voices.en).isChecked(), false, 'the unchecked tag stays unchecked');
  assert.equal(await page.locator('#listen-tags').getByLabel(TEXTS.birds.en).isChecked(), true);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');

  // A new session in English, and the stream re-opened in it; the Spanish one ended.
  assert.deepEqual(
    sessionPosts.map((p) => p.language),
    ['es', 'en'],
  );
  const after = await waitFor(async () => {
    const s = await page.evaluate(() => window.__rw);
    return s.streamId && s.streamId !== before.streamId && s;
  }, { timeoutMs: 20000, what: 'the stream re-opened' });
  assert.equal(after.streamId, after.sessionId);
  assert.equal(after.language, 'en');
  assert.equal((await session(after.sessionId)).language_id, seeded.en);
  await waitFor(async () => (await apiCall(daemon.url, `streams/${before.streamId}/isactive/`, { token: staff })).active === false, { what: 'the Spanish stream ended' });
  assert.equal((await apiCall(daemon.url, `streams/${after.streamId}/isactive/`, { token: staff })).active, true);

  // The choice is remembered: the Spanish browser comes back to English.
  await page.click('#listen-btn');
  await page.reload();
  await visitorReady(page);
  assert.deepEqual(await projectTexts(page), expected('en'));
  assert.equal(sessionPosts.at(-1).language, 'en');
  assert.equal(await page.getByLabel(STRINGS.en['lang.label']).inputValue(), 'en');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a German browser reads the page in German and the project in English, which it offers', async () => {
  const { context, page, problems, sessionPosts } = await openVisitor('de-DE');
  assert.deepEqual(await projectTexts(page), expected('en'));
  const words = await pageWords(page);
  assert.equal(words.lang, 'de');
  assert.equal(words.listenButton, STRINGS.de['listen.start']);
  assert.equal(words.clipButton, STRINGS.de['clip.keep']);
  // The English texts are marked as English inside the German page.
  assert.equal(await page.getAttribute('#description', 'lang'), 'en');
  assert.equal(sessionPosts[0].language, 'en');
  assert.deepEqual(problems, []);
  await context.close();
});
