// The live wall at /wall/ in headless Chromium against a real roundwared with the demo
// project, fed only by the box's event stream (Server-Sent Events with a kiosk token): a kiosk
// made by staff opens the wall (project, zones, recordings; the token leaves the address bar;
// no polling), an upload appears as a new card whose play button plays its file, a vote
// raises its count, a listener walking into a zone is counted, and — the browser's own
// EventSource reconnect — a change made while another connection had taken the stream over
// shows exactly once after the browser resumes with Last-Event-ID. Then the console's Kiosks
// section makes a kiosk whose wall link opens a live wall, and revokes it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, launchBrowser, apiCall, staffToken, waitFor, screenshot, uploadRecording, makeKiosk } from './lib.mjs';

let daemon;
let browser;
let staff;
let kiosk;
let page;
let upload;
const errors = [];
/** Every request the wall page made: {url, headers, at}. */
const requests = [];

before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
  staff = await staffToken(daemon);
});
after(async () => {
  await browser?.close();
  await daemon?.stop();
});

/** An App.net call with a Bearer token: {status, body}. */
async function adn(path, token, { method = 'GET', body } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${daemon.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/**
 * Opens the stream's endpoint from node as Server-Sent Events and keeps reading:
 * {status, frames: [{id, event, data}], ended, close()}.
 */
async function openFromNode(endpoint, token) {
  const ctrl = new AbortController();
  const resp = await fetch(`${endpoint}?access_token=${encodeURIComponent(token)}`, { headers: { Accept: 'text/event-stream' }, signal: ctrl.signal });
  const out = { status: resp.status, frames: [], ended: false, close: () => ctrl.abort() };
  (async () => {
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const raw = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f = { id: null, event: 'message', data: null };
          for (const line of raw.split('\n')) {
            if (line.startsWith('id: ')) f.id = line.slice(4);
            else if (line.startsWith('event: ')) f.event = line.slice(7);
            else if (line.startsWith('data: ')) f.data = JSON.parse(line.slice(6));
          }
          if (f.data) out.frames.push(f);
        }
      }
    } catch {
      /* aborted */
    }
    out.ended = true;
  })();
  return out;
}

const wallState = (p = page) =>
  p.evaluate(() => {
    const w = window.__wall;
    return { state: w.state, lastId: w.follower?.lastId ?? 0, stats: { ...(w.follower?.stats || {}) }, log: w.log.slice(), arrived: w.arrived.slice() };
  });

const card = (id) => page.locator(`#cards li[data-asset-id="${id}"]`);

test('a kiosk made by staff opens the wall: project, zones and recordings, live, token out of sight, no polling', async () => {
  kiosk = await makeKiosk(daemon.url, staff, 'lobby-wall');
  assert.ok(kiosk.id > 0 && typeof kiosk.token === 'string' && kiosk.token.length >= 20, JSON.stringify(kiosk));
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', async (r) => {
    const entry = { url: r.url(), headers: {}, at: Date.now() };
    requests.push(entry);
    entry.headers = await r.allHeaders().catch(() => r.headers());
  });
  await page.goto(`${daemon.url}/wall/?project=1&access_token=${kiosk.token}`);
  await waitFor(async () => (await wallState()).state === 'live', { what: 'the wall live' });
  assert.equal(await page.textContent('#title'), 'Roundware demo');
  assert.equal(await page.title(), 'Roundware demo — live wall');

  // Every active zone of the project by its speaker code, nobody listening yet.
  const speakers = await apiCall(daemon.url, 'speakers/?project_id=1', { token: staff });
  const zones = await page.locator('#zones li[data-zone]').evaluateAll((lis) => lis.map((li) => ({ id: Number(li.dataset.zone), text: li.textContent, count: li.dataset.count })));
  const active = speakers.filter((s) => s.activeyn);
  assert.equal(zones.length, active.length, JSON.stringify(zones));
  for (const s of active) {
    const z = zones.find((x) => x.id === s.id);
    assert.ok(z && z.text.includes(s.code || `Zone ${s.id}`), `zone ${s.id} labelled ${s.code}: ${JSON.stringify(zones)}`);
    assert.equal(z.count, '0');
  }
  assert.equal(await page.textContent('#total'), '0');

  // The demo's six recordings, each with its like count read once.
  await waitFor(async () => (await page.locator('#cards li .wall-vote[data-vote="like"]').count()) === 6, { what: 'six cards with their likes' });
  assert.ok((await page.locator('#cards li h3').allTextContents()).includes('Bells by the gate'));

  // The token is out of the address bar and never on screen.
  assert.equal(new URL(page.url()).searchParams.get('access_token'), null, page.url());
  assert.ok(!(await page.evaluate(() => document.documentElement.outerHTML)).includes(kiosk.token), 'token not in the page');

  // Nothing polls: no api/2 request for 3 s once the wall is up.
  const since = Date.now();
  await page.waitForTimeout(3000);
  const polled = requests.filter((r) => r.at >= since && r.url.includes('/api/2/'));
  assert.deepEqual(polled.map((r) => r.url), [], 'no api/2 request after the first load');
  await screenshot(page, 'wall-1080p');
});

test('a new recording appears as a card whose play button plays its file', async () => {
  upload = await uploadRecording(daemon.url, { device: 'wall-test-uploader', description: 'A voice from the lobby', seconds: 6 });
  const a = upload.asset;
  assert.equal(a.submitted, true, JSON.stringify(a));
  const c = card(a.id);
  await c.waitFor({ timeout: 15000 });
  assert.equal(await c.locator('h3').textContent(), 'A voice from the lobby');
  assert.equal(await page.locator('#cards li').first().getAttribute('data-asset-id'), String(a.id), 'newest first');
  assert.equal(await c.locator('audio').getAttribute('src'), a.file);
  // Announced politely (the live region is emptied, then filled a moment later).
  await waitFor(async () => /New recording: A voice from the lobby/.test(await page.textContent('#arrivals')), { what: 'the arrival announced' });
  assert.equal(await c.locator('.wall-vote[data-vote="like"]').getAttribute('data-total'), '0');

  const play = c.getByRole('button', { name: /Play A voice from the lobby/ });
  await play.click();
  await waitFor(() => c.locator('audio').evaluate((el) => !el.paused && el.currentTime > 0.2), { what: 'the recording plays' });
  await waitFor(async () => /Pause/.test(await c.locator('button').textContent()), { what: 'the button offers Pause' });
  // Keyboard: the focused button pauses with Enter.
  await c.locator('button').focus();
  await page.keyboard.press('Enter');
  await waitFor(() => c.locator('audio').evaluate((el) => el.paused && !el.ended), { what: 'paused' });
  await waitFor(async () => /Play/.test(await c.locator('button').textContent()), { what: 'the button offers Play again' });
});

test('a vote raises the recording’s count', async () => {
  const a = upload.asset;
  const vote = await apiCall(daemon.url, `assets/${a.id}/votes/`, { method: 'POST', token: upload.token, body: { session_id: upload.sessionId, vote_type: 'like' } });
  assert.equal(vote.asset_id, a.id, JSON.stringify(vote));
  const like = card(a.id).locator('.wall-vote[data-vote="like"]');
  await waitFor(async () => (await like.getAttribute('data-total')) === '1', { what: 'one like shown' });
  assert.match(await like.textContent(), /1 like$/);
  // A second visitor's like.
  const other = await uploadRecording(daemon.url, { device: 'wall-test-voter' });
  await apiCall(daemon.url, `assets/${a.id}/votes/`, { method: 'POST', token: other.token, body: { session_id: other.sessionId, vote_type: 'like' } });
  await waitFor(async () => (await like.getAttribute('data-total')) === '2', { what: 'two likes shown' });
  assert.match(await like.textContent(), /2 likes$/);
});

test('a listener in a zone is counted there, and not after the stream ends', async () => {
  const user = await apiCall(daemon.url, 'users/', { method: 'POST', body: { device_id: 'wall-test-listener', client_type: 'web' } });
  const session = await apiCall(daemon.url, 'sessions/', { method: 'POST', token: user.token, body: { project_id: 1, client_type: 'web' } });
  const s = await apiCall(daemon.url, 'streams/', { method: 'POST', token: user.token, body: { session_id: session.id, latitude: 42.3551, longitude: -71.0656 } });
  await waitFor(async () => (await page.textContent('#total')) === '1', { what: 'one listener' });
  const counted = await page.locator('#zones li[data-count="1"]').evaluateAll((lis) => lis.map((li) => Number(li.dataset.zone)));
  const streamMsg = (await wallState()).log.filter((m) => m.type === 'stream' && m.object === s.stream_id).at(-1);
  assert.ok(streamMsg, 'a stream message');
  assert.ok(counted.length >= 1, `a zone counts the listener: ${counted}`);
  assert.match(await page.textContent('#total-label'), /^person listening$/);
  await apiCall(daemon.url, `streams/${s.stream_id}/kill/`, { method: 'POST', token: user.token, body: {} });
  await waitFor(async () => (await page.textContent('#total')) === '0', { what: 'nobody listening' });
  assert.equal(await page.locator('#zones li[data-count="1"]').count(), 0);
});

test('after another connection took the stream over, the browser resumes with Last-Event-ID and shows the change once', async (t) => {
  const a = upload.asset;
  const list = await adn('/stream/0/streams?key=wall-1', kiosk.token);
  assert.equal(list.status, 200, JSON.stringify(list.body));
  const [stream] = list.body.data;
  assert.ok(stream && stream.endpoint, JSON.stringify(list.body));
  const before = await wallState();
  assert.equal(before.state, 'live');

  // Node takes the stream over (the last connection wins): the server ends the browser's.
  const taker = await openFromNode(stream.endpoint, kiosk.token);
  assert.equal(taker.status, 200);
  await waitFor(async () => (await wallState()).stats.drops > before.stats.drops, { what: 'the browser’s connection ended by the takeover' });
  const droppedAt = Date.now();

  // Meanwhile a change, which node reads (so the stream's own position moves past it).
  const text = 'Edited while the wall was away';
  await apiCall(daemon.url, `assets/${a.id}/`, { method: 'PATCH', token: staff, body: { description: text } });
  const frame = await waitFor(() => taker.frames.find((f) => f.data.meta?.type === 'asset' && f.data.data?.id === a.id && f.data.data.description === text), { what: 'the change on the node connection' });
  taker.close();

  // EventSource reconnects by itself (default retry about 3 s) and asks to resume.
  await waitFor(async () => (await card(a.id).locator('h3').textContent()) === text, { timeoutMs: 30000, what: 'the change on the wall' });
  const after = await wallState();
  assert.equal(await page.locator(`#cards li[data-asset-id="${a.id}"]`).count(), 1, 'one card');
  assert.equal(after.log.filter((m) => m.id === Number(frame.id)).length, 1, 'the message applied once');
  assert.equal(after.log.filter((m) => m.id > before.lastId && m.type === 'asset' && m.object === a.id).length, 1, 'one asset message since the takeover');
  assert.equal(after.stats.duplicates, before.stats.duplicates, 'no message came twice');
  assert.equal(after.stats.lookups, before.stats.lookups, 'the browser’s own reconnect, not a new EventSource');
  assert.ok(after.stats.opens > before.stats.opens, 'reconnected');
  const resumed = requests.filter((r) => r.url.includes(`/stream/0/streams/${stream.id}/events`) && r.headers['last-event-id']);
  assert.ok(resumed.length >= 1, `a reconnect sent Last-Event-ID: ${JSON.stringify(requests.filter((r) => r.url.includes('/events')).map((r) => r.headers))}`);
  const sent = Number(resumed.at(-1).headers['last-event-id']);
  assert.equal(sent, before.lastId, 'it resumed after the last message the page had');
  assert.ok(sent < Number(frame.id));
  assert.equal(after.state, 'live');
  assert.deepEqual(errors, [], 'no script errors');
  t.diagnostic(`taken over after message ${before.lastId}; the change was message ${frame.id}; the browser came back ${Date.now() - droppedAt} ms after the drop with Last-Event-ID: ${sent}`);
});

test('a wall opened while someone listens counts them at once, and a deleted recording leaves the wall', async () => {
  const user = await apiCall(daemon.url, 'users/', { method: 'POST', body: { device_id: 'wall-test-early', client_type: 'web' } });
  const session = await apiCall(daemon.url, 'sessions/', { method: 'POST', token: user.token, body: { project_id: 1, client_type: 'web' } });
  const s = await apiCall(daemon.url, 'streams/', { method: 'POST', token: user.token, body: { session_id: session.id, latitude: 42.3551, longitude: -71.0656 } });
  // A second screen opens now: the listener is already there (GET projects/1/listeners/).
  const other = await browser.newPage();
  await other.goto(`${daemon.url}/wall/?project=1&access_token=${encodeURIComponent(kiosk.token)}`);
  await waitFor(async () => (await other.textContent('#total')) === '1', { what: 'the listener counted on a wall opened later' });
  await other.close();
  await apiCall(daemon.url, `streams/${s.stream_id}/kill/`, { method: 'POST', token: user.token, body: {} });

  const a = upload.asset;
  assert.equal(await card(a.id).count(), 1);
  const r = await fetch(`${daemon.url}/api/2/assets/${a.id}/`, { method: 'DELETE', headers: { Authorization: `token ${staff}` } });
  assert.equal(r.status, 204);
  await waitFor(async () => (await card(a.id).count()) === 0, { what: 'the deleted recording off the wall' });
});

test('without its kiosk token the wall says where to get the link', async () => {
  const p = await browser.newPage();
  await p.goto(`${daemon.url}/wall/?project=1`);
  await p.locator('#error').waitFor({ state: 'visible' });
  assert.match(await p.textContent('#error-text'), /Kiosks/);
  assert.equal(await p.isHidden('#wall'), true);
  await p.close();
});

test('the console makes a kiosk whose wall link opens a live wall, and revokes it', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const c = await context.newPage();
  c.on('pageerror', (e) => errors.push(e.message));
  await c.goto(`${daemon.url}/console/#kiosks`);
  await c.fill('#login-user', daemon.staff.username);
  await c.fill('#login-pass', daemon.staff.password);
  await c.click('#login-submit');
  await c.waitForSelector('#tab-kiosks:not([hidden])');
  assert.match(await c.textContent('#tab-kiosks'), /may only read and follow event streams/);
  await c.locator(`#kiosk-list li[data-id="${kiosk.id}"]`).waitFor();

  // A bad name is explained next to the field.
  await c.fill('#kiosk-name', 'hall screen!');
  await c.click('#kiosk-create');
  await waitFor(async () => /letters, digits/.test(await c.textContent('#kiosk-name-err')), { what: 'name error' });
  assert.equal(await c.getAttribute('#kiosk-name', 'aria-invalid'), 'true');

  // A name taken is refused by the box, and its reason shown there too.
  await c.fill('#kiosk-name', 'lobby-wall');
  await c.click('#kiosk-create');
  await waitFor(async () => /already/.test(await c.textContent('#kiosk-name-err')), { what: 'name taken' });

  await c.fill('#kiosk-name', 'hall-screen');
  await c.click('#kiosk-create');
  const made = await waitFor(async () => (await apiCall(daemon.url, 'kiosks/', { token: staff })).find((k) => k.username.includes('hall-screen')), { what: 'the kiosk in the API' });
  const li = c.locator(`#kiosk-list li[data-id="${made.id}"]`);
  await li.waitFor();
  const expected = `${daemon.url}/wall/?project=1&access_token=${made.token}`;
  assert.equal(await li.locator('a[data-role="wall-link"]').getAttribute('href'), expected);
  assert.equal(await li.locator('input[data-role="wall-url"]').inputValue(), expected);
  await screenshot(c, 'console-kiosks');

  // The link opens a live wall.
  const [wallPage] = await Promise.all([context.waitForEvent('page'), li.locator('a[data-role="wall-link"]').click()]);
  await waitFor(() => wallPage.evaluate(() => window.__wall && window.__wall.state === 'live'), { what: 'the opened wall live' });
  assert.equal(await wallPage.textContent('#title'), 'Roundware demo');

  // Revoke asks first, then the token is gone.
  await li.locator('button[data-action="revoke"]').click();
  assert.match(await li.textContent(), /Revoke kiosk .*hall-screen\?/);
  await li.locator('button:has-text("Keep it")').click();
  assert.ok((await apiCall(daemon.url, 'kiosks/', { token: staff })).some((k) => k.id === made.id), 'kept');
  await li.locator('button[data-action="revoke"]').click();
  await li.locator('button[data-action="confirm-revoke"]').click();
  await li.waitFor({ state: 'detached' });
  assert.ok(!(await apiCall(daemon.url, 'kiosks/', { token: staff })).some((k) => k.id === made.id), 'revoked');
  assert.equal((await adn('/stream/0/streams', made.token)).status, 401, 'the token no longer works');
  // The wall opened with it says so when it loads again (the token is kept for the tab).
  await wallPage.reload();
  await wallPage.locator('#error').waitFor({ state: 'visible' });
  assert.match(await wallPage.textContent('#error-text'), /no longer works/);
  assert.deepEqual(errors, [], 'no script errors');
  await context.close();
});
