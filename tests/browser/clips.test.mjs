// "Keep the last minute" on the visitor page, in headless Chromium against a real roundwared
// with the demo project: the button waits for the stream to play, cuts what was heard of the
// visitor's personal stream (POST /livepeer/api/clip with the visitor's token and the
// stream's playback_id) and offers it as a download link; the MP3 behind the link is checked
// with ffprobe. Pressed too soon after the audio starts, the page says so instead of asking.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, launchBrowser, waitFor, visitorReady, violations, screenshot, REPO } from './lib.mjs';

const { STRINGS } = await import(join(REPO, 'src', 'web', 'assets', 'visitor', 'strings.js'));

let daemon;
let browser;
const dir = mkdtempSync(join(tmpdir(), 'rw-clips-'));
before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The duration in seconds and the codec of an audio file, by ffprobe. */
function probe(path) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration,format_name:stream=codec_name', '-of', 'json', path], { encoding: 'utf8' });
  const j = JSON.parse(out);
  return { duration: Number(j.format.duration), format: j.format.format_name, codec: j.streams[0]?.codec_name };
}

const state = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__rw)));

test('Keep the last minute gives the visitor an MP3 of what the stream played', async (t) => {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  const clipPosts = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/livepeer/api/clip') clipPosts.push({ body: r.postDataJSON(), auth: r.headers().authorization });
  });
  await page.goto(`${daemon.url}/`);
  await visitorReady(page);
  const button = page.getByRole('button', { name: STRINGS.en['clip.keep'] });
  assert.equal(await button.isDisabled(), true, 'disabled before listening');

  await page.click('#listen-btn');
  await waitFor(async () => (await state(page)).audioState === 'playing', { timeoutMs: 20000, what: 'the stream playing' });
  const s = await state(page);
  assert.match(s.playbackId, /^rw-/, 'the playback id from the POST streams/ answer');
  // Pressed at once: too little is heard yet, and the page says so without asking the box.
  await button.click();
  await page.locator('#error').waitFor({ state: 'visible' });
  assert.equal(await page.textContent('#error-text'), STRINGS.en['clip.tooSoon']);
  assert.equal(clipPosts.length, 0);
  await page.click('#error-close');

  const heardFrom = Date.now();
  await page.waitForTimeout(5000);
  assert.equal(await button.isDisabled(), false, 'enabled while playing');
  await button.click();
  const link = page.locator('#clip-link');
  await link.waitFor({ state: 'visible', timeout: 15000 });
  const pressed = Date.now();
  assert.match(await link.textContent(), /^Your clip \(0:0[2-6]\) — download$/);
  assert.equal(await link.getAttribute('download'), '');
  assert.equal(await page.locator('#clip-result').getAttribute('aria-live'), 'polite');
  assert.equal(await page.isHidden('#error'), true, 'no error');
  // The Share button shows exactly when the browser can share.
  assert.equal(await page.isVisible('#clip-share'), await page.evaluate(() => Boolean(navigator.share)));

  // What the page asked: the visitor's token, its stream, a window inside what it heard.
  assert.equal(clipPosts.length, 1);
  const { body, auth } = clipPosts[0];
  assert.equal(auth, `token ${s.token}`);
  assert.equal(body.playbackId, s.playbackId);
  assert.ok(body.endTime <= pressed && body.endTime - body.startTime > 2000 && body.endTime - body.startTime < 60000, JSON.stringify(body));
  assert.ok(body.startTime >= heardFrom - 3000, 'starts after the audio started playing');

  // The file behind the link: an MP3 of about the window asked for.
  const href = await link.evaluate((a) => a.href);
  assert.match(href, /\/rwmedia\/clips\/[^/]+\.mp3$/);
  const r = await fetch(href);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'audio/mpeg');
  const file = join(dir, 'visitor-clip.mp3');
  writeFileSync(file, Buffer.from(await r.arrayBuffer()));
  const p = probe(file);
  assert.equal(p.codec, 'mp3');
  assert.ok(p.duration > 1.5 && p.duration < 60, `clip of ${p.duration} s`);
  assert.ok(Math.abs(p.duration - (body.endTime - body.startTime) / 1000) < 0.5, `clip of ${p.duration} s for a window of ${body.endTime - body.startTime} ms`);
  t.diagnostic(`clip ${p.duration} s for a window of ${body.endTime - body.startTime} ms`);
  const { clips } = await state(page);
  assert.equal(clips.length, 1);
  assert.equal(new URL(clips[0].downloadUrl).pathname, new URL(href).pathname);
  assert.deepEqual(await violations(page), [], 'the page with its clip link');
  await screenshot(page, 'visitor-clip');

  // Stopped: the button is disabled again, the link stays.
  await page.click('#listen-btn');
  assert.equal(await button.isDisabled(), true);
  assert.equal(await link.isVisible(), true);
  assert.deepEqual(problems, []);
  await context.close();
});
