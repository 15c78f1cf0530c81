// The console's Channels section in headless Chromium against a real daemon: a push channel
// made in the page, its ffmpeg command line taken from the page and run (a tone instead of
// talk.wav), the channel Live in the list with a player that plays, suspended (the box drops
// the source, so ffmpeg ends) and deleted after the in-page confirmation; a pull channel whose
// source does not answer shows the box's issue; a refused create shows the box's errors[0];
// push-on targets with Debian's icecast2 as the other server: one added in the page is fed
// while the channel is live (icecast lists the mount), one with a wrong password shows the
// box's 401, Off and Remove work, and the password never appears in the page; recordings and
// clips: Record ticked (refused while live, with the box's reason), Keep the last minute while
// live lists a clip, and the session's recording is listed ready once the source ends (both
// MP3s checked with ffprobe).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, launchBrowser, screenshot, staffToken, waitFor, freePort, violations } from './lib.mjs';

let daemon;
let browser;
let page;
let staff;
let ffmpeg = null;
let icecast = null;
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
  await icecast?.stop();
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
  assert.match(await page.textContent('#tab-channels'), /pushed on to other Icecast servers.*kept as a clip; with Record/s);
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

/**
 * Debian's icecast2 on a free loopback port, source password `hackme` (as tests/it/broadcast.rs
 * starts it: as root it drops to nobody, who must write its log dir). Returns {port, stop()}.
 */
async function startIcecast() {
  const dir = mkdtempSync(join(tmpdir(), 'rw-icecast-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  const owner = process.getuid() === 0 ? '<changeowner><user>nobody</user><group>nogroup</group></changeowner>' : '';
  const config = join(dir, 'icecast.xml');
  writeFileSync(
    config,
    `<icecast><limits><sources>4</sources><clients>100</clients></limits>` +
      `<authentication><source-password>hackme</source-password><admin-user>admin</admin-user><admin-password>adminpw</admin-password></authentication>` +
      `<hostname>127.0.0.1</hostname><listen-socket><port>${port}</port><bind-address>127.0.0.1</bind-address></listen-socket>` +
      `<paths><basedir>/usr/share/icecast2</basedir><logdir>${dir}</logdir><webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>` +
      `<logging><errorlog>error.log</errorlog><accesslog>access.log</accesslog><loglevel>2</loglevel></logging>` +
      `<security><chroot>0</chroot>${owner}</security></icecast>`,
  );
  chmodSync(config, 0o644);
  const child = spawn('icecast2', ['-c', config], { stdio: 'ignore' });
  const exited = new Promise((ok) => child.once('exit', ok));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/status-json.xsl`)).ok, { what: 'icecast2 answering' });
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, stop };
}

/** The sources icecast serves, from its status-json.xsl (one source is an object, not a list). */
async function icecastSources(port) {
  const r = await fetch(`http://127.0.0.1:${port}/status-json.xsl`);
  assert.equal(r.status, 200);
  const src = (await r.json()).icestats.source;
  return src ? [src].flat() : [];
}

test('push-on targets: one fed to a real Icecast while live, a wrong password shows 401, Off and Remove', async () => {
  execFileSync('icecast2', ['-v']); // present (bash tests/install-deps.sh test installs it)
  icecast = await startIcecast();
  const { port } = icecast;
  const r = await fetch(`${daemon.url}/livepeer/api/stream`, { method: 'POST', headers: { Authorization: `Bearer ${staff}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'Relay' }) });
  assert.equal(r.status, 201);
  const made = await r.json();
  const li = page.locator(`#channel-list li[data-id="${made.id}"]`);
  await li.waitFor();
  assert.match(await li.textContent(), /Pushed on to\s*Not pushed on to another server/);
  const form = li.locator('form[data-role="add-target"]');
  const nameInput = li.getByLabel('Target name');
  const urlInput = li.getByLabel('Icecast URL with its password');
  const targetLi = (name) => li.locator('[data-role="targets"] li', { has: page.locator(`strong:text-is("${name}")`) });
  const tstate = (name) => targetLi(name).locator('[data-role="tstate"]').textContent();
  await li.locator('summary', { hasText: 'Add a target' }).click();
  await form.waitFor({ state: 'visible' });
  assert.match(await urlInput.getAttribute('placeholder'), /^icecast:\/\/source:password@host:8000\/mount$/);

  // A URL without a mount: the box's 422 is shown at the field, naming what is wrong.
  await urlInput.fill(`icecast://127.0.0.1:${port}/`);
  await form.locator('button[type="submit"]').click();
  await waitFor(async () => /spec\.url: .*mount/.test(await form.locator('[role="alert"]').textContent()), { what: 'the bad URL refused' });
  assert.equal(await urlInput.getAttribute('aria-invalid'), 'true');

  await nameInput.fill('public radio');
  await urlInput.fill(`icecast://source:hackme@127.0.0.1:${port}/box.mp3`);
  await form.locator('button[type="submit"]').click();
  await targetLi('public radio').waitFor();
  assert.equal(await urlInput.inputValue(), '', 'the URL input is cleared once added');
  assert.equal(await nameInput.inputValue(), '');
  assert.equal(await form.locator('[role="alert"]').textContent(), '');
  await waitFor(async () => (await tstate('public radio')) === 'Waits for the channel to go live', { what: 'the target waiting' });
  assert.equal(await targetLi('public radio').getByRole('checkbox', { name: 'On target public radio of channel Relay' }).isChecked(), true);

  // Live from the page's ffmpeg line: the box pushes on, icecast lists the mount with a source.
  const line = await li.locator('[data-role="ffmpeg"]').inputValue();
  const args = line.replace('-i talk.wav', '-f lavfi -i sine=frequency=440:duration=60').split(' ').slice(1);
  ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitFor(async () => (await stateOf(li)) === 'Live', { what: 'the channel Live', timeoutMs: 20000 });
  await waitFor(async () => /^Pushing · \d+(\.\d)? [KM]B$/.test(await tstate('public radio')), { what: 'Pushing shown', timeoutMs: 20000 });
  assert.match(await targetLi('public radio').locator('[data-role="tstate"]').getAttribute('class'), /rw-ok/);
  const mount = await waitFor(async () => (await icecastSources(port)).find((s) => new URL(s.listenurl).pathname === '/box.mp3'), { what: 'icecast serving /box.mp3' });
  assert.equal(mount.server_name, 'Relay', 'the source is the channel (its ice-name)');
  await waitFor(async () => /^Pushing · ([1-9]\d* KB|\d+\.\d MB)$/.test(await tstate('public radio')), { what: 'bytes pushed counted' });

  // A second target with a wrong password: icecast refuses it and the page shows the box's error.
  await nameInput.fill('partner');
  await urlInput.fill(`icecast://source:wrong-pass@127.0.0.1:${port}/partner.mp3`);
  await form.locator('button[type="submit"]').click();
  await targetLi('partner').waitFor();
  await waitFor(async () => /401/.test(await tstate('partner')), { what: 'the 401 shown', timeoutMs: 20000 });
  assert.match(await targetLi('partner').locator('[data-role="tstate"]').getAttribute('class'), /rw-warn/);
  assert.match(await tstate('public radio'), /^Pushing/, 'the first target still pushing');
  assert.deepEqual(await violations(page), [], 'the section with targets and the add form open');
  await screenshot(page, 'console-channel-targets');

  // The passwords are nowhere in the page, its inputs or the box's answers.
  const page_ = await page.content();
  const values = await page.$$eval('input, textarea', (els) => els.map((e) => e.value).join(' '));
  for (const secret of ['hackme', 'wrong-pass']) {
    assert.ok(!page_.includes(secret) && !values.includes(secret), `${secret} not in the page`);
  }
  const answers = JSON.stringify(await channels()) + (await (await fetch(`${daemon.url}/livepeer/api/multistream/target`, { headers: { Authorization: `Bearer ${staff}` } })).text());
  assert.ok(!/hackme|wrong-pass/.test(answers), 'no password in the API answers');

  // Off: the target is disabled (PATCH) and shows Off; On again resumes it.
  const partner = await waitFor(async () => (await channels()).find((c) => c.id === made.id).multistream.targets[1], { what: 'the second target in the Stream' });
  await targetLi('partner').getByRole('checkbox').uncheck();
  await waitFor(async () => (await tstate('partner')) === 'Off', { what: 'the target Off' });
  const listed = await (await fetch(`${daemon.url}/livepeer/api/multistream/target/${partner.id}`, { headers: { Authorization: `Bearer ${staff}` } })).json();
  assert.equal(listed.disabled, true);

  // Remove: gone from the page and the Stream; focus goes to "Add a target".
  await targetLi('partner').getByRole('button', { name: 'Remove target partner of channel Relay' }).click();
  await targetLi('partner').waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'SUMMARY');
  assert.match(await page.textContent('#status'), /Target partner removed from channel Relay/);
  await page.waitForTimeout(3500); // a refresh later it stays gone
  assert.equal(await targetLi('partner').count(), 0);
  assert.deepEqual((await channels()).find((c) => c.id === made.id).multistream.targets.map((t) => t.id).includes(partner.id), false);

  // The source hangs up: the channel idles and its target waits again.
  ffmpeg.kill('SIGKILL');
  await waitFor(async () => (await tstate('public radio')) === 'Waits for the channel to go live', { what: 'the target waiting again', timeoutMs: 20000 });
  await icecast.stop();
  icecast = null;
  assert.deepEqual(errors, [], 'no page errors');
});

/** The duration (s) and codec of the MP3 at `url`, fetched from node and read by ffprobe. */
async function probeUrl(url) {
  const r = await fetch(url);
  assert.equal(r.status, 200, url);
  const dir = mkdtempSync(join(tmpdir(), 'rw-probe-'));
  try {
    const file = join(dir, 'a.mp3');
    writeFileSync(file, Buffer.from(await r.arrayBuffer()));
    const j = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_name', '-of', 'json', file], { encoding: 'utf8' }));
    return { duration: Number(j.format.duration), codec: j.streams[0]?.codec_name };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('recordings and clips: Record, Keep the last minute while live, the recording ready after', async (t) => {
  const r = await fetch(`${daemon.url}/livepeer/api/stream`, { method: 'POST', headers: { Authorization: `Bearer ${staff}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'Concert' }) });
  assert.equal(r.status, 201);
  const made = await r.json();
  const li = page.locator(`#channel-list li[data-id="${made.id}"]`);
  await li.waitFor();
  const record = li.getByRole('checkbox', { name: 'Record channel Concert' });
  assert.equal(await record.isChecked(), false);
  await record.check();
  await waitFor(async () => (await channels()).find((c) => c.id === made.id).record === true, { what: 'record set in the box' });
  await waitFor(async () => /Channel Concert records each live session/.test(await page.textContent('#status')), { what: 'the record message' });

  // The list opens on demand, empty.
  const recordings = li.locator('[data-role="recordings"]');
  const clips = li.locator('[data-role="clips"]');
  await li.locator('summary', { hasText: 'Recordings and clips' }).click();
  await waitFor(async () => (await recordings.textContent()) === 'No recording yet.' && (await clips.textContent()) === 'No clip yet.', { what: 'the empty lists' });
  const keep = li.getByRole('button', { name: 'Keep the last minute channel Concert' });
  assert.equal(await keep.isHidden(), true, 'no Keep the last minute while idle');

  // Live for 10 s from the page's ffmpeg line.
  const PUSHED_S = 10;
  const line = await li.locator('[data-role="ffmpeg"]').inputValue();
  const args = line.replace('-i talk.wav', `-f lavfi -i sine=frequency=440:duration=${PUSHED_S}`).split(' ').slice(1);
  ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((ok) => ffmpeg.once('exit', (code, sig) => ok(code ?? sig)));
  await waitFor(async () => (await stateOf(li)) === 'Live', { what: 'the channel Live', timeoutMs: 20000 });
  await waitFor(async () => /recording…/.test(await recordings.textContent()), { what: 'the recording listed while live' });

  // Record cannot change while live: the box's reason is shown and the box stays unchanged.
  await record.click();
  await waitFor(async () => /\(400\): record cannot be changed while the stream is active/.test(await page.textContent('#error-text')), { what: 'the 400 shown' });
  assert.equal(await record.isChecked(), true, 'ticked again');
  assert.equal((await channels()).find((c) => c.id === made.id).record, true);
  await page.click('#error-dismiss');

  // Keep the last minute once 4 s were received: a clip of the live session is listed.
  await waitFor(async () => /of audio received/.test(await li.textContent()) && Number(/(\d+) s of audio received/.exec(await li.textContent())?.[1]) >= 4, { what: '4 s received', timeoutMs: 10000 });
  await keep.click();
  const clipLink = clips.locator('a[download]');
  await clipLink.waitFor({ timeout: 15000 });
  assert.match(await clips.textContent(), /^Concert .* · [1-9]\d? s/);
  assert.match(await page.textContent('#status'), /Clip Concert .* kept \(\d+ s\)\./);
  assert.equal(await clips.locator('audio').getAttribute('preload'), 'none');
  const clip = await probeUrl(await clipLink.evaluate((a) => a.href));
  assert.equal(clip.codec, 'mp3');
  assert.ok(clip.duration > 1, `a clip of ${clip.duration} s`);
  const listed = await (await fetch(`${daemon.url}/livepeer/api/stream/${made.id}/clips`, { headers: { Authorization: `Bearer ${staff}` } })).json();
  assert.equal(listed.length, 1);
  assert.equal(await clips.locator('audio').getAttribute('src'), listed[0].downloadUrl);

  // The source ends: the recording is listed ready, an MP3 of what was pushed.
  await exited;
  await waitFor(async () => (await stateOf(li)) === 'Idle', { what: 'the channel idle', timeoutMs: 20000 });
  assert.equal(await keep.isHidden(), true);
  const recLink = recordings.locator('a[download]');
  await recLink.waitFor({ timeout: 20000 });
  assert.match(await recordings.textContent(), / · \d+ s · ready/);
  const recording = await probeUrl(await recLink.evaluate((a) => a.href));
  assert.equal(recording.codec, 'mp3');
  assert.ok(Math.abs(recording.duration - PUSHED_S) <= 0.5, `a recording of ${recording.duration} s for ${PUSHED_S} s pushed`);
  t.diagnostic(`clip ${clip.duration} s, recording ${recording.duration} s of ${PUSHED_S} s pushed`);
  assert.deepEqual(await violations(page), [], 'the section with recordings and clips listed');
  await screenshot(page, 'console-channel-media');
  assert.deepEqual(errors, [], 'no page errors');
});
