// The console's Channels section in headless Chromium against a real daemon: a push channel
// made in the page, its ffmpeg command line taken from the page and run (a tone instead of
// talk.wav), the channel Live in the list with a player that plays, suspended (the box drops
// the source, so ffmpeg ends) and deleted after the in-page confirmation; a pull channel whose
// source does not answer shows the box's issue; a refused create shows the box's errors[0].
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startDaemon, launchBrowser, screenshot, staffToken, waitFor, freePort, violations } from './lib.mjs';

let daemon;
let browser;
let page;
let staff;
let ffmpeg = null;
const errors = [];

before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => errors.push(e.message));
  staff = await staffToken(daemon);
});
after(async () => {
  if (ffmpeg && ffmpeg.exitCode === null) ffmpeg.kill('SIGKILL');
  await browser?.close();
  await daemon?.stop();
});

/** The channels as the Livepeer API lists them. */
async function channels() {
  const r = await fetch(`${daemon.url}/livepeer/api/stream`, { headers: { Authorization: `Bearer ${staff}` } });
  assert.equal(r.status, 200);
  return r.json();
}

const stateOf = (li) => li.locator('[data-role="state"] strong').textContent();

test('the console logs in to the Channels section, which says there is none yet', async () => {
  await page.goto(`${daemon.url}/console/#channels`);
  await page.fill('#login-user', daemon.staff.username);
  await page.fill('#login-pass', daemon.staff.password);
  await page.click('#login-submit');
  await page.waitForSelector('#tab-channels:not([hidden])');
  await waitFor(async () => /No channel yet/.test(await page.textContent('#channels-summary')), { what: 'the empty summary' });
  assert.match(await page.textContent('#tab-channels'), /Recordings, clips and pushing on to other servers come later/);
  assert.equal(await page.isHidden('#channel-pull'), true, 'no pull fields for a push channel');
});

test('a push channel made in the console goes live from its ffmpeg line, is suspended and deleted', async () => {
  await page.fill('#channel-name', 'Guide talk');
  await page.click('#channel-create');
  const made = await waitFor(async () => (await channels()).find((c) => c.name === 'Guide talk'), { what: 'the channel in the API' });
  const li = page.locator(`#channel-list li[data-id="${made.id}"]`);
  await li.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.closest('li')?.dataset.id), made.id, 'focus on the new channel');
  assert.match(await li.locator('h3').textContent(), /Guide talk.*\(push\)/);
  assert.equal(await stateOf(li), 'Idle');
  assert.match(await li.textContent(), /last audio never · 0 s of audio received/);
  assert.equal(await li.locator('[data-role="key"]').inputValue(), made.streamKey);
  assert.equal(await li.locator('[data-role="ingest"]').inputValue(), made.ingestUrl);
  const line = await li.locator('[data-role="ffmpeg"]').inputValue();
  const target = `icecast://source:${made.streamKey}@127.0.0.1:${daemon.port}/live/${made.streamKey}`;
  assert.equal(line, `ffmpeg -re -i talk.wav -c:a libmp3lame -b:a 128k -content_type audio/mpeg -f mp3 ${target}`);
  assert.equal(await li.locator('audio').count(), 0, 'no player while idle');
  // Copy: the clipboard or, where it is refused, the selection; either way the page says so.
  await li.getByRole('button', { name: 'Copy the stream key of channel Guide talk' }).click();
  await waitFor(async () => /stream key of channel Guide talk/.test(await page.textContent('#status')), { what: 'the copy message' });

  // The page's command, with a 30 s tone in place of talk.wav (it outlives the test's steps, so
  // its end shows that the box dropped it).
  const args = line.replace('-i talk.wav', '-f lavfi -i sine=frequency=440:duration=30').split(' ').slice(1);
  ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((ok) => ffmpeg.once('exit', (code, sig) => ok(code ?? sig)));
  const started = Date.now();
  await waitFor(async () => (await stateOf(li)) === 'Live', { what: 'the channel Live in the list', timeoutMs: 20000 });
  const audio = li.locator('audio');
  await audio.waitFor();
  assert.equal(await audio.getAttribute('src'), made.playbackUrl);
  await audio.evaluate((a) => a.play());
  await waitFor(() => audio.evaluate((a) => a.currentTime > 0.5), { what: 'the channel playing in the page', timeoutMs: 20000 });
  await waitFor(async () => /last audio (now|\d s ago) · [1-9]\d* s of audio received/.test(await li.textContent()), { what: 'audio received counted' });
  assert.deepEqual(await violations(page), [], 'the section with a live channel');
  await screenshot(page, 'console-channels');

  await li.locator('button[data-action="suspend"]').click();
  await waitFor(async () => (await stateOf(li)) === 'Suspended', { what: 'the channel Suspended' });
  assert.match(await li.locator('button[data-action="suspend"]').textContent(), /^Unsuspend/);
  assert.equal(await li.locator('audio').count(), 0, 'no player once suspended');
  await exited;
  assert.ok(Date.now() - started < 25000, 'ffmpeg ended because the box dropped it, not at the end of its tone');
  assert.equal((await channels()).find((c) => c.id === made.id).suspended, true);

  // Delete asks first; Keep it keeps it, Yes deletes it.
  await li.locator('button[data-action="delete"]').click();
  assert.match(await li.textContent(), /Delete channel Guide talk\?/);
  await li.locator('button:has-text("Keep it")').click();
  assert.equal(await page.evaluate(() => document.activeElement.dataset.action), 'delete', 'focus back on Delete');
  assert.ok((await channels()).some((c) => c.id === made.id), 'kept');
  await li.locator('button[data-action="delete"]').click();
  await li.locator('button[data-action="confirm-delete"]').click();
  await li.waitFor({ state: 'detached' });
  assert.ok(!(await channels()).some((c) => c.id === made.id), 'deleted');
  assert.match(await page.textContent('#status'), /Channel Guide talk deleted/);
});

test('a pull channel whose source does not answer shows the issue; a refused create shows why', async () => {
  await page.selectOption('#channel-kind', 'pull');
  assert.equal(await page.isHidden('#channel-pull'), false);
  // The box refuses a header name with a space: its errors[0] is shown at the form.
  await page.fill('#channel-name', 'Museum radio');
  await page.fill('#channel-source', 'http://127.0.0.1:9/radio.mp3');
  await page.fill('#channel-hname', 'bad name');
  await page.fill('#channel-hvalue', 'x');
  await page.click('#channel-create');
  await waitFor(async () => /^pull\.headers\.bad name:/.test(await page.textContent('#channel-err')), { what: 'the box refusal shown' });
  assert.equal(await page.getAttribute('#channel-hname', 'aria-invalid'), 'true');

  const port = await freePort();
  const source = `http://127.0.0.1:${port}/radio.mp3`;
  await page.fill('#channel-source', source);
  await page.fill('#channel-hname', 'Authorization');
  await page.fill('#channel-hvalue', 'Basic eDp5');
  await page.click('#channel-create');
  const made = await waitFor(async () => (await channels()).find((c) => c.name === 'Museum radio'), { what: 'the pull channel in the API' });
  assert.deepEqual(made.pull.headers, { Authorization: 'Basic eDp5' });
  assert.equal(await page.textContent('#channel-err'), '');
  const li = page.locator(`#channel-list li[data-id="${made.id}"]`);
  await li.waitFor();
  assert.match(await li.locator('h3').textContent(), /Museum radio.*\(pull\)/);
  assert.equal(await li.locator('[data-role="key"]').count(), 0, 'no stream key for a pull channel');
  const issue = li.locator('[data-role="issue"]');
  await issue.waitFor({ state: 'visible', timeout: 20000 });
  assert.match(await issue.textContent(), new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.equal(await stateOf(li), 'Idle');

  // Terminate stops it; Start pull starts it again (the page says so each time).
  await li.locator('button[data-action="terminate"]').click();
  await waitFor(async () => /current session is ended/.test(await page.textContent('#status')), { what: 'terminated' });
  await li.locator('button[data-action="start-pull"]').click();
  await waitFor(async () => /pulling started/.test(await page.textContent('#status')), { what: 'pull started' });
  assert.deepEqual(errors, [], 'no page errors');
});
