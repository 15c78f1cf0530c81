// The visitor page end to end in headless Chromium against a real roundwared with the demo
// project: listen and walk (the measured level follows the speaker zones), record with the
// fake microphone (the upload plays next in the visitor's stream), and recover from a bad
// token, a refused microphone and the box restarting under the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, launchBrowser, screenshot, apiCall, waitFor, staffToken, visitorReady } from './lib.mjs';

let daemon;
let browser;
before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await daemon?.stop();
});

const rw = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__rw)));

/** Mean of the page's level meter over `ms` (sampled every 100 ms). */
async function meanLevel(page, ms = 2500) {
  const samples = [];
  for (let t = 0; t < ms; t += 100) {
    samples.push(await page.evaluate(() => window.__rw.level));
    await page.waitForTimeout(100);
  }
  return samples.reduce((a, b) => a + b, 0) / samples.length;
}

/** Waits (up to 40 s) until the mean level over 1.5 s satisfies pred; returns it. */
async function levelBecomes(page, pred, what) {
  const seen = [];
  const until = Date.now() + 40000;
  while (Date.now() < until) {
    const l = await meanLevel(page, 1500);
    seen.push(l.toFixed(4));
    if (pred(l)) return l;
  }
  throw new Error(`timed out waiting for ${what}; mean levels seen: ${seen.join(', ')}`);
}

async function openVisitor(context, { width = 1200, height = 900 } = {}) {
  const page = await context.newPage();
  await page.setViewportSize({ width, height });
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${daemon.url}/`);
  await visitorReady(page);
  return { page, problems };
}

/** The screen centre of an element of the map. */
async function centreOf(page, selector) {
  const box = await page.locator(selector).boundingBox();
  assert.ok(box, `${selector} is on screen`);
  return [box.x + box.width / 2, box.y + box.height / 2];
}

/** Drags the listener's dot with the mouse onto the drawn dot of recording `assetId`. */
async function dragListenerOnto(page, assetId) {
  const from = await centreOf(page, '#map .rw-listener-dot');
  const to = await centreOf(page, `#map .rw-asset[data-id="${assetId}"]`);
  await page.mouse.move(from[0], from[1]);
  await page.mouse.down();
  for (let i = 1; i <= 8; i++) await page.mouse.move(from[0] + ((to[0] - from[0]) * i) / 8, from[1] + ((to[1] - from[1]) * i) / 8);
  await page.mouse.up();
}

test('a visitor listens and the level follows the listener into and out of a speaker zone', async (t) => {
  const context = await browser.newContext();
  const { page, problems } = await openVisitor(context);
  await page.click('#listen-btn');
  const first = await waitFor(() => page.evaluate(() => window.__rw.firstAudioMs), { timeoutMs: 20000, what: 'first non-silent audio' });
  const s = await rw(page);
  // Chromium takes MP3 through Media Source Extensions: the page's own fetch feeds the player.
  assert.equal(s.player, 'mse');
  const figure = `Listen click → stream created ${s.streamOpenMs} ms, → audio element playing ${s.playingMs} ms, → first non-silent audio ${first} ms`;
  t.diagnostic(figure);
  console.log(`FIGURE ${figure}`);
  await waitFor(async () => /\w/.test(await page.textContent('#now-playing-text')), { what: 'a now-playing line' });

  // At the centre: inside the drone speaker's zone, with recordings around.
  const inside = await levelBecomes(page, (l) => l > 0.01, 'sound at the project centre');
  await screenshot(page, 'visitor');

  // Walk west with the keyboard (Shift+Left = 25 m) far out of every zone and recording.
  await page.focus('#map');
  for (let i = 0; i < 9; i++) await page.keyboard.press('Shift+ArrowLeft');
  const outPos = (await rw(page)).listener;
  assert.ok(outPos.lon < -71.068, `listener moved west: ${JSON.stringify(outPos)}`);
  const outside = await levelBecomes(page, (l) => l < inside / 4, 'silence outside the zones');
  t.diagnostic(`mean level inside ${inside.toFixed(4)}, outside ${outside.toFixed(4)}`);

  // The box has the new position: the staff status route shows the stream there.
  const staff = await staffToken(daemon);
  const status = await apiCall(daemon.url, 'streams/status/', { token: staff });
  assert.ok(JSON.stringify(status).includes(String(s.streamId)), `stream ${s.streamId} in ${JSON.stringify(status).slice(0, 300)}`);

  // The view grew to keep the listener in sight with the project: its dot is west of the zones.
  const zones = await page.locator('#map .rw-zone').first().boundingBox();
  const dot = await centreOf(page, '#map .rw-listener-dot');
  assert.ok(dot[0] < zones.x, `the dot (${dot}) is drawn west of the zones (${JSON.stringify(zones)})`);

  // Drag the dot back into the rain speaker's zone, onto the drawn "Birdsong scale" recording
  // there: the listener lands on that recording's position and the level rises again.
  const assets = await apiCall(daemon.url, 'assets/?project_id=1', { token: s.token });
  const birdsong = assets.find((a) => a.description === 'Birdsong scale');
  await dragListenerOnto(page, birdsong.id);
  const back = (await rw(page)).listener;
  // Within ~1 m (a few pixels at this zoom) of the recording.
  assert.ok(
    Math.abs(back.lon - birdsong.longitude) < 0.00002 && Math.abs(back.lat - birdsong.latitude) < 0.00002,
    `dragged to ${JSON.stringify(back)}, the recording is at ${birdsong.latitude}, ${birdsong.longitude}`,
  );
  // A recording that was already playing may still sound outside (recordings play to their end),
  // so "outside" can be a quarter of "inside" rather than silence: a rise to twice it, or back
  // to half the level first heard inside, is the signal. (2.5× failed a CI run whose level back
  // inside held at 2.3× while the recording first heard there had ended; staying outside keeps
  // the level at or below "outside".)
  const again = await levelBecomes(
    page,
    (l) => (l > outside * 2 || l > inside / 2) && l > 0.005,
    'sound back inside the rain zone',
  );
  t.diagnostic(`mean level back inside ${again.toFixed(4)}`);
  assert.ok((await rw(page)).patches >= 2, 'positions went to the box as PATCH streams/');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a recording from the fake microphone is uploaded and plays next in the visitor stream', async () => {
  const context = await browser.newContext();
  const { page, problems } = await openVisitor(context);
  await page.click('#listen-btn');
  await waitFor(() => page.evaluate(() => window.__rw.audioState === 'playing'), { what: 'playing' });
  await page.check('#speak-tags input[type=radio] >> nth=1');
  await page.click('#record-btn');
  await page.waitForTimeout(2500);
  await page.click('#record-btn');
  const asset = await waitFor(() => page.evaluate(() => window.__rw.uploads[0]), { timeoutMs: 20000, what: 'upload' });
  assert.ok(asset.id > 0);
  const s = await rw(page);
  // The box has it, from this session, with the chosen speak tag.
  const mine = await apiCall(daemon.url, `assets/?session_id=${s.sessionId}`, { token: s.token });
  const row = mine.find((a) => a.id === asset.id);
  assert.ok(row, `asset ${asset.id} listed for session ${s.sessionId}`);
  assert.ok(row.tag_ids.includes(2), `tags ${row.tag_ids}`);
  assert.ok(row.audio_length_in_seconds > 1.5, `length ${row.audio_length_in_seconds}`);
  assert.match(await page.textContent('#record-status'), /uploaded/);
  // And it plays next in this visitor's own stream: a listen event for it on this session.
  await waitFor(
    async () => {
      const ev = await apiCall(daemon.url, `listenevents/?session_id=${s.sessionId}&asset_id=${asset.id}`, { token: s.token });
      return ev.length > 0;
    },
    { timeoutMs: 30000, what: 'a listen event for the new recording' },
  );
  await waitFor(() => page.evaluate((id) => window.__rw.nowPlaying.includes(id), asset.id), { timeoutMs: 10000, what: 'now playing shows it' });
  await screenshot(page, 'visitor-recording');
  assert.deepEqual(problems, []);
  await context.close();
});

test('reloading the page while listening ends the old stream, so a visitor never runs out of stream places', async () => {
  const context = await browser.newContext();
  const { page, problems } = await openVisitor(context);
  const streams = [];
  // One more reload than [limits] streams_per_user (3) allows running streams.
  for (let i = 0; i < 4; i++) {
    if (i > 0) {
      await page.reload();
      await visitorReady(page);
    }
    await page.click('#listen-btn');
    await waitFor(() => page.evaluate(() => window.__rw.audioState === 'playing'), { what: `playing after reload ${i}` });
    streams.push((await rw(page)).streamId);
  }
  assert.equal(await page.isVisible('#error'), false);
  const token = (await rw(page)).token;
  for (const old of streams.slice(0, -1)) {
    await waitFor(async () => !(await apiCall(daemon.url, `streams/${old}/isactive/`, { token })).active, { what: `stream ${old} ended` });
  }
  assert.equal((await apiCall(daemon.url, `streams/${streams.at(-1)}/isactive/`, { token })).active, true);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a wrong or expired token is replaced by registering the device again', async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    if (!sessionStorage.getItem('seeded')) {
      localStorage.setItem('rw.token', 'not-a-real-token-0000');
      sessionStorage.setItem('seeded', '1');
    }
  });
  const { page, problems } = await openVisitor(context);
  const s = await rw(page);
  assert.notEqual(s.token, 'not-a-real-token-0000');
  assert.ok(s.sessionId > 0);
  // The device id is a bearer secret: 128 random bits even on plain http (no randomUUID there).
  assert.match(await page.evaluate(() => localStorage.getItem('rw.device')), /^web-[0-9a-f]{32}$/);
  assert.equal(await page.isVisible('#error'), false);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the box restarting under the page: the stream comes back and a failed upload is kept until retried', async () => {
  const context = await browser.newContext();
  const { page, problems } = await openVisitor(context, { width: 360, height: 780 });
  await page.click('#listen-btn');
  await waitFor(() => page.evaluate(() => window.__rw.audioState === 'playing'), { what: 'playing' });
  await page.click('#record-btn');
  await page.waitForTimeout(1500);
  await daemon.stop({ keep: true });
  await page.click('#record-btn');
  // The upload fails: the visitor is told the box did not answer (the failing call goes to the
  // console), the take kept with retry and download.
  await page.locator('#error').waitFor({ state: 'visible', timeout: 15000 });
  assert.match(await page.textContent('#error-text'), /The box did not answer/);
  assert.equal(await page.evaluate(() => window.__rw.take?.uploaded), false);
  assert.equal(await page.isVisible('#upload-retry'), true);
  assert.match(await page.getAttribute('#take-download', 'href'), /^blob:/);
  await waitFor(() => page.evaluate(() => window.__rw.audioState === 'reconnecting'), { what: 'stream reconnecting' });
  assert.match(await page.textContent('#listen-status'), /Reconnecting/);
  await screenshot(page, 'visitor-upload-failed');

  await daemon.restart();
  // The stream comes back by itself.
  await waitFor(() => page.evaluate(() => window.__rw.reconnects >= 1 && window.__rw.audioState === 'playing'), {
    timeoutMs: 30000,
    what: 'the stream playing again after the restart',
  });
  // Retry the upload: it goes through and the box has the recording.
  await page.click('#upload-retry');
  const asset = await waitFor(() => page.evaluate(() => window.__rw.uploads[0]), { timeoutMs: 20000, what: 'upload after retry' });
  const s = await rw(page);
  const mine = await apiCall(daemon.url, `assets/?session_id=${s.sessionId}`, { token: s.token });
  assert.ok(mine.some((a) => a.id === asset.id));
  assert.equal(await page.isVisible('#error'), false);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a microphone the browser refuses gives a message and a way to retry', async () => {
  const strict = await launchBrowser({ withoutFakeUi: true });
  try {
    const context = await strict.newContext();
    const { page } = await openVisitor(context);
    await page.click('#record-btn');
    await page.locator('#error').waitFor({ state: 'visible', timeout: 10000 });
    assert.match(await page.textContent('#error-text'), /refused the microphone|No microphone/);
    assert.equal(await page.isVisible('#error-retry'), true);
    assert.equal(await page.evaluate(() => window.__rw.take), null);
  } finally {
    await strict.close();
  }
});
