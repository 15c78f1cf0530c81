// The curator console at /console/ in headless Chromium against a real daemon with the demo
// project: login refusals (wrong password, a non-staff account, a token that stopped
// working), the demo recordings listed, an unsubmit that takes the recording out of every
// playlist (checked through the API's own view: streams/status queues and assets?submitted),
// a speaker vertex dragged and saved (GET speakers/{id}/ has it), an upload appearing in the
// list, stream controls, and the local listener page (disabled, and enabled with its meter).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startDaemon, launchBrowser, screenshot, apiCall, staffToken, waitFor, BINARY } from './lib.mjs';

let daemon;
let browser;
let page;
let staff;
let uploaded;
const errors = [];

before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => errors.push(e.message));
  staff = await staffToken(daemon);
});
after(async () => {
  await browser?.close();
  await daemon?.stop();
});

/** A visitor's stream on the demo project, without location (its playlist holds everything). */
async function visitorStream(device) {
  const user = await apiCall(daemon.url, 'users/', { method: 'POST', body: { device_id: device, client_type: 'web' } });
  const session = await apiCall(daemon.url, 'sessions/', {
    method: 'POST',
    token: user.token,
    body: { project_id: 1, geo_listen_enabled: false, client_type: 'web' },
  });
  const s = await apiCall(daemon.url, 'streams/', { method: 'POST', token: user.token, body: { session_id: session.id } });
  return { token: user.token, id: s.stream_id };
}

async function streamStatus(id) {
  const st = await apiCall(daemon.url, 'streams/status/', { token: staff });
  return st.streams.find((s) => s.stream_id === id);
}

const playingOrQueued = (st) => new Set([...st.queue, ...st.playing.filter((x) => x != null)]);

/** A 16-bit mono WAV of a 440 Hz tone. */
function wav(seconds = 1.5, rate = 22050) {
  const n = Math.round(seconds * rate);
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 12000), 44 + i * 2);
  return buf;
}

async function openTab(name) {
  await page.click(`#tabs button[data-tab="${name}"]`);
  await page.waitForSelector(`#tab-${name}:not([hidden])`);
}

async function login(username, password) {
  await page.fill('#login-user', username);
  await page.fill('#login-pass', password);
  await page.click('#login-submit');
}

test('a wrong password and a non-staff account are refused with a clear message', async () => {
  await page.goto(`${daemon.url}/console/`);
  await login('curator', 'not-the-password');
  await waitFor(async () => /Wrong user name or password/.test(await page.textContent('#login-message')), { what: 'wrong-password message' });
  assert.equal(await page.isHidden('#tabs'), true);
  await screenshot(page, 'console-login');

  execFileSync(BINARY, ['user', 'add', '--username', 'guide', '--password', 'guide-pass-1', '--config', daemon.configPath]);
  await login('guide', 'guide-pass-1');
  await waitFor(async () => /not a staff account/.test(await page.textContent('#login-message')), { what: 'non-staff message' });
  assert.equal(await page.isHidden('#tabs'), true);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('rw-console-token')), null, 'no token kept');
});

test('the curator sees the demo recordings and an unsubmitted one leaves every playlist', async () => {
  await login(daemon.staff.username, daemon.staff.password);
  await page.waitForSelector('#assets-table tbody tr');
  await waitFor(async () => (await page.locator('#assets-table tbody tr').count()) === 6, { what: 'six demo rows' });
  const descriptions = await page.locator('#assets-table tbody tr strong').allTextContents();
  assert.ok(descriptions.includes('Bells by the gate'), descriptions.join(', '));
  assert.equal(await page.locator('#assets-table tbody audio').count(), 6, 'a player per recording');

  const before = await visitorStream('console-test-before');
  const st = await streamStatus(before.id);
  assert.equal(playingOrQueued(st).size, 6, JSON.stringify(st));
  const gone = st.queue[0];
  assert.ok(gone, `something queued: ${JSON.stringify(st)}`);

  const row = page.locator(`#assets-table tbody tr[data-id="${gone}"]`);
  await row.locator('button[data-action="toggle-submitted"]').click();
  await waitFor(async () => /Not submitted/.test(await row.textContent()), { what: 'row shows not submitted' });
  await screenshot(page, 'console-assets');
  // Not published: its file is a 404 without the staff token, and the console loads it with it.
  const hidden = (await apiCall(daemon.url, `assets/${gone}/`, { token: staff })).file.replace(/\.[^./]+$/, '.mp3');
  assert.equal((await fetch(hidden)).status, 404, 'an unsubmitted recording is not served to anyone');
  await row.getByRole('button', { name: `Load recording ${gone} to play it` }).click();
  const player = row.locator('audio');
  await player.waitFor();
  assert.match(await player.getAttribute('src'), /^blob:/);
  await waitFor(async () => (await player.evaluate((a) => a.duration)) > 0, { what: 'the loaded recording has a duration' });

  const submitted = await apiCall(daemon.url, 'assets/?project_id=1&submitted=true', { token: staff });
  assert.equal(submitted.length, 5);
  assert.ok(!submitted.some((a) => a.id === gone));
  // The running stream drops it from its queue; a stream opened now never has it.
  await waitFor(async () => !(await streamStatus(before.id)).queue.includes(gone), { what: `asset ${gone} out of the running stream's queue` });
  const after = await visitorStream('console-test-after');
  const fresh = playingOrQueued(await streamStatus(after.id));
  assert.equal(fresh.size, 5, [...fresh].join(','));
  assert.ok(!fresh.has(gone), `asset ${gone} is not in a new stream`);

  // And back: Submit puts it in the next stream's playlist again.
  await row.locator('button[data-action="toggle-submitted"]').click();
  await waitFor(async () => /Submitted/.test(await row.locator('td').nth(4).textContent()) && !/Not/.test(await row.locator('td').nth(4).textContent()), { what: 'row submitted again' });
  const again = await visitorStream('console-test-again');
  assert.ok(playingOrQueued(await streamStatus(again.id)).has(gone));
});

test('an upload appears in the console without a reload', async () => {
  const user = await apiCall(daemon.url, 'users/', { method: 'POST', body: { device_id: 'console-uploader', client_type: 'web' } });
  const session = await apiCall(daemon.url, 'sessions/', { method: 'POST', token: user.token, body: { project_id: 1, client_type: 'web' } });
  const env = await apiCall(daemon.url, 'envelopes/', { method: 'POST', token: user.token, body: { session_id: session.id } });
  const form = new FormData();
  form.append('session_id', String(session.id));
  form.append('file', new Blob([wav()], { type: 'audio/wav' }), 'blob');
  form.append('latitude', '42.3552');
  form.append('longitude', '-71.0657');
  form.append('tag_ids', '1,3');
  const r = await fetch(`${daemon.url}/api/2/envelopes/${env.id}/`, { method: 'PATCH', headers: { Authorization: `token ${user.token}` }, body: form });
  const asset = await r.json();
  assert.equal(r.status, 200, JSON.stringify(asset));
  const row = page.locator(`#assets-table tbody tr[data-id="${asset.id}"]`);
  await row.waitFor({ timeout: 15000 });
  assert.match(await row.textContent(), /Calm/);
  assert.match(await page.textContent('#status'), new RegExp(`New recording arrived: #${asset.id}`));
  uploaded = asset.id;
});

test('tags are edited and a recording is deleted after a confirmation', async () => {
  const row = page.locator(`#assets-table tbody tr[data-id="${uploaded}"]`);
  await row.locator('.rw-tags button').click();
  await row.locator('.rw-tags label:has-text("Calm") input').uncheck();
  await row.locator('.rw-tags label:has-text("Lively") input').check();
  await row.locator('.rw-tags button:has-text("Save tags")').click();
  await waitFor(async () => /Lively, Tones/.test(await row.locator('.rw-tags').textContent()), { what: 'new tags shown' });
  const a = await apiCall(daemon.url, `assets/${uploaded}/`, { token: staff });
  assert.deepEqual([...a.tag_ids].sort(), [2, 3]);

  await row.locator('button[data-action="delete"]').click();
  assert.match(await row.textContent(), /cannot be undone/);
  await row.locator('button:has-text("Keep it")').click();
  await apiCall(daemon.url, `assets/${uploaded}/`, { token: staff });
  await row.locator('button[data-action="delete"]').click();
  await row.locator('button[data-action="confirm-delete"]').click();
  await row.waitFor({ state: 'detached' });
  await assert.rejects(apiCall(daemon.url, `assets/${uploaded}/`, { token: staff }), /404/);
});

test('a speaker vertex dragged on the map is saved', async () => {
  await openTab('map');
  await page.click('button[data-speaker="1"]');
  const handle = page.locator('#map .rw-vertex-handle').first();
  await handle.waitFor();
  const before = (await apiCall(daemon.url, 'speakers/1/', { token: staff })).shape.coordinates[0][0];
  const box = await handle.boundingBox();
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + 25, y - 20, { steps: 5 });
  await page.mouse.move(x + 50, y - 40, { steps: 5 });
  await page.mouse.up();
  await page.click('#shape-save');
  await page.waitForSelector('#shape-saved-flag');
  await screenshot(page, 'console-map');
  const ring = (await apiCall(daemon.url, 'speakers/1/', { token: staff })).shape.coordinates[0][0];
  assert.equal(ring.length, before.length, 'same number of vertices');
  const [lon0, lat0] = before[0];
  const [lon1, lat1] = ring[0];
  assert.ok(lon1 > lon0 + 1e-5, `moved east: ${lon0} → ${lon1}`);
  assert.ok(lat1 > lat0 + 1e-5, `moved north: ${lat0} → ${lat1}`);
  assert.deepEqual(ring[ring.length - 1], ring[0], 'the ring stays closed');
  assert.deepEqual(ring.slice(1, -1), before.slice(1, -1), 'the other vertices stay');
  // The page shows what the server has.
  const shown = await page.locator('#vertex-list li').first().textContent();
  assert.equal(shown, `${lat1.toFixed(6)}, ${lon1.toFixed(6)}`);
  // Keyboard: a focused handle moves 5 m east with Shift+ArrowRight (not saved).
  const second = await page.locator('#vertex-list li').nth(1).textContent();
  await page.locator('#map .rw-vertex-handle').nth(1).focus();
  await page.keyboard.press('Shift+ArrowRight');
  const moved = await page.locator('#vertex-list li').nth(1).textContent();
  const dLon = Number(moved.split(', ')[1]) - Number(second.split(', ')[1]);
  assert.ok(Math.abs(dLon * 111320 * Math.cos((42.3551 * Math.PI) / 180) - 5) < 0.2, `5 m east: ${second} → ${moved}`);
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('data-index')), '1', 'the handle keeps focus');
  await page.click('#shape-close');
});

test('project settings are saved, and a refused value is explained next to its field', async () => {
  await openTab('project');
  await page.fill('#pf-max_recording_length', '90');
  await page.check('#pf-demo_stream_enabled');
  await page.click('#project-form button[type="submit"]');
  await waitFor(async () => /Saved: max_recording_length, demo_stream_enabled/.test(await page.textContent('#project-saved')), { what: 'saved message' });
  const p = await apiCall(daemon.url, 'projects/1/', { token: staff });
  assert.equal(p.max_recording_length, 90);
  assert.equal(p.demo_stream_enabled, true);
  assert.equal(p.name, 'Roundware demo', 'unchanged fields are not sent');
  // The visitor page's QR code, made by the box, is shown under the settings.
  await waitFor(() => page.evaluate(() => document.getElementById('qr-img').naturalWidth > 0), { what: 'the QR code drawn' });
  assert.equal(await page.textContent('#qr-link'), `${daemon.url}/?project=1`);
  assert.match(await page.getAttribute('#qr-open', 'href'), /^\/qr\.svg\?url=http/);

  await page.fill('#pf-latitude', '200');
  await page.click('#project-form button[type="submit"]');
  await waitFor(async () => /between -90 and 90/.test(await page.textContent('#pf-latitude-err')), { what: 'field error' });
  assert.match(await page.textContent('#project-saved'), /Not saved/);
  assert.equal((await apiCall(daemon.url, 'projects/1/', { token: staff })).latitude, 42.3551);
  await page.click('#project-form button:has-text("Undo changes")');
  assert.equal(await page.inputValue('#pf-latitude'), '42.3551');
  // Back as it was, for the tests after this one.
  await page.uncheck('#pf-demo_stream_enabled');
  await page.click('#project-form button[type="submit"]');
  await waitFor(async () => (await apiCall(daemon.url, 'projects/1/', { token: staff })).demo_stream_enabled === false, { what: 'demo stream off again' });
});

test('live streams are listed, paused and killed from the console, and shown on the map', async () => {
  const s = await visitorStream('console-test-controls');
  await apiCall(daemon.url, `streams/${s.id}/`, { method: 'PATCH', token: s.token, body: { tag_ids: '1,3', latitude: 42.3551, longitude: -71.0656 } });
  await openTab('streams');
  const row = page.locator(`#streams-table tbody tr[data-id="${s.id}"]`);
  await row.waitFor({ timeout: 10000 });
  await waitFor(async () => /Calm, Tones/.test(await row.textContent()) && /42\.355100, -71\.065600/.test(await row.textContent()), { what: 'tags and position in the row' });
  await row.locator('button[data-action="pause"]').click();
  await waitFor(async () => (await streamStatus(s.id)).paused === true, { what: 'stream paused' });
  await waitFor(async () => /Resume/.test(await row.locator('button[data-action="pause"]').textContent()), { what: 'Resume offered' });
  await screenshot(page, 'console-streams');
  await row.locator('button[data-action="pause"]').click();
  await waitFor(async () => (await streamStatus(s.id)).paused === false, { what: 'stream resumed' });
  // Kill asks for a second press, then ends the stream.
  const k = await visitorStream('console-test-kill');
  const krow = page.locator(`#streams-table tbody tr[data-id="${k.id}"]`);
  await krow.waitFor({ timeout: 10000 });
  await krow.locator('button[data-action="kill"]').click();
  assert.match(await krow.locator('button[data-action="kill"]').textContent(), /Confirm kill/);
  assert.equal((await apiCall(daemon.url, `streams/${k.id}/isactive/`, { token: k.token })).active, true, 'one press does not kill');
  await krow.locator('button[data-action="kill"]').click();
  await waitFor(async () => (await apiCall(daemon.url, `streams/${k.id}/isactive/`, { token: k.token })).active === false, { what: 'stream killed' });
  await krow.waitFor({ state: 'detached', timeout: 10000 });
  // The map shows where that listener is.
  await openTab('map');
  const square = page.locator(`#map .rw-live-listener[data-stream="${s.id}"]`);
  await square.waitFor({ timeout: 10000 });
  assert.equal(await square.getAttribute('title'), `Listener of stream ${s.id}`);
  assert.match(await page.textContent('#map-listeners'), new RegExp(`Stream ${s.id}: 42\\.355100, -71\\.065600`));
});

test('health shows the components and counters; the local listener says it is disabled', async () => {
  await openTab('health');
  await waitFor(async () => (await page.textContent('#health-status')) === 'ok', { what: 'health ok' });
  assert.match(await page.textContent('#metrics-table'), /roundwared_streams/);
  await openTab('local');
  await page.waitForSelector('#local-disabled');
  assert.match(await page.textContent('#local-body'), /disabled/);
});

test('a daemon restart under the open page shows a message and the page recovers by itself', async () => {
  await openTab('streams');
  await page.waitForSelector('#streams-summary:has-text("Refreshed"), #streams-summary:has-text("No stream")');
  await daemon.stop({ keep: true });
  await waitFor(async () => (await page.isVisible('#error')) && /did not answer/.test(await page.textContent('#error-text')), { what: 'the failure shown' });
  assert.match(await page.textContent('#error-text'), /Retrying in/);
  assert.equal(await page.isVisible('#error-retry'), true, 'a Retry button');
  await daemon.restart();
  await waitFor(async () => await page.isHidden('#error'), { timeoutMs: 30000, what: 'the banner cleared after the restart' });
  assert.equal(await page.isVisible('#tabs'), true, 'still logged in');
});

test('a token that stops working sends the curator back to the login with a message', async () => {
  await page.evaluate(() => sessionStorage.setItem('rw-console-token', 'no-such-token'));
  await page.reload();
  await waitFor(async () => /no longer valid/.test(await page.textContent('#login-message')), { what: 'expired-token message' });
  assert.equal(await page.isHidden('#tabs'), true);
  assert.deepEqual(errors, [], 'no script errors');
});

test('the local listener shows its position, sound card state and a moving level meter', async () => {
  const box = await startDaemon({
    extraToml: '[local]\nenabled = true\nproject_id = 1\noutput = "none"\n[position]\nsource = "fixed"\nfixed = [42.3551, -71.0656]\n',
  });
  const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await p.goto(`${box.url}/console/#local`);
    await p.fill('#login-user', box.staff.username);
    await p.fill('#login-pass', box.staff.password);
    await p.click('#login-submit');
    await p.waitForSelector('#local-level-text');
    await waitFor(async () => (await p.evaluate(() => window.__rw.local.peak)) > 0.01, { timeoutMs: 20000, what: 'the meter moves' });
    const text = await p.textContent('#local-body');
    assert.match(text, /fixed · ok/);
    assert.match(text, /42\.355100, -71\.065600/);
    assert.match(text, /output = "none"/);
    assert.match(await p.textContent('#local-level-text'), /dBFS/);
    // Staff choose what the box plays.
    await p.locator('#local-tags label:has-text("Calm") input').check();
    await p.locator('#local-tags label:has-text("Tones") input').check();
    await p.click('#local-tags-apply');
    const staffBox = await staffToken(box);
    await waitFor(async () => JSON.stringify((await apiCall(box.url, 'streams/local/', { token: staffBox })).stream.tag_ids) === '[1,3]', { what: 'local tags applied' });
    await waitFor(async () => /now: Calm, Tones/.test(await p.textContent('#local-tags legend')), { what: 'the page shows the new tags' });
    // The volume slider (labelled, keyboard-operable) sets the box's volume through the API.
    await waitFor(async () => (await p.inputValue('#local-volume')) === '100', { what: 'the slider shows the volume' });
    assert.match(await p.textContent('label[for="local-volume"]'), /Volume/);
    await p.focus('#local-volume');
    await p.keyboard.press('Home');
    await waitFor(async () => (await apiCall(box.url, 'local/audio/', { token: staffBox })).volume === 0, { what: 'volume 0 through the slider' });
    await p.keyboard.press('ArrowRight');
    await waitFor(async () => (await apiCall(box.url, 'local/audio/', { token: staffBox })).volume === 1, { what: 'volume 1 through the slider' });
    // The figure beside the slider follows once the box has answered (it may lag the API).
    await waitFor(async () => /^1$/.test(await p.textContent('#local-volume-value')), { what: 'the page shows volume 1' });
    // The output select offers the box's ALSA outputs and "none".
    assert.ok(await p.locator('#local-output option[value="none"]').count(), 'none offered');
    assert.equal(await p.inputValue('#local-output'), 'none');
    await screenshot(p, 'console-local');
  } finally {
    await p.close();
    await box.stop();
  }
});
