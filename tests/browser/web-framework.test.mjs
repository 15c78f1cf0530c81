// The unmodified Roundware web framework (npm roundware-web-framework 0.12.8-alpha.14, the SDK
// the current web template is built on) against the box, in headless Chromium: it registers,
// connects (session, project, uiconfig, speakers, audiotracks), loads its asset pool, makes an
// envelope, uploads a recording into it and votes — with the token it sends on every call, so
// the ownership rules (envelopes and votes only in one's own session) let it through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startDaemon, launchBrowser, apiCall, staffToken } from './lib.mjs';

const require = createRequire(import.meta.url);
const SDK = require.resolve('roundware-web-framework/dist/roundware.umd.js');

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

test('the unmodified Roundware web framework connects, uploads into its envelope and votes', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${daemon.url}/`);
  await page.addScriptTag({ path: SDK });
  const out = await page.evaluate(async (base) => {
    const { Roundware, GeoListenMode } = window.RoundwareWebFramework;
    const rw = new Roundware(window, {
      serverUrl: `${base}/api/2`,
      projectId: 1,
      deviceId: 'sdk-test-device',
      clientType: 'web',
      geoListenMode: GeoListenMode.DISABLED,
      listenerLocation: { latitude: 42.3551, longitude: -71.0656 },
      speakerFilters: { activeyn: true },
      assetFilters: { submitted: true },
    });
    await rw.connect();
    await rw.loadAssetPool();
    const pool = rw.assetData.length;
    // One second of a 440 Hz tone as 16-bit PCM WAV, sent as the template's recorder does.
    const rate = 44100;
    const pcm = new Int16Array(rate);
    for (let i = 0; i < rate; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate));
    const header = new DataView(new ArrayBuffer(44));
    const text = (o, s) => [...s].forEach((c, i) => header.setUint8(o + i, c.charCodeAt(0)));
    text(0, 'RIFF');
    header.setUint32(4, 36 + pcm.byteLength, true);
    text(8, 'WAVEfmt ');
    header.setUint32(16, 16, true);
    header.setUint16(20, 1, true);
    header.setUint16(22, 1, true);
    header.setUint32(24, rate, true);
    header.setUint32(28, rate * 2, true);
    header.setUint16(32, 2, true);
    header.setUint16(34, 16, true);
    text(36, 'data');
    header.setUint32(40, pcm.byteLength, true);
    const blob = new Blob([header.buffer, pcm.buffer], { type: 'audio/wav' });
    const envelope = await rw.makeEnvelope();
    const asset = await envelope.upload(blob, 'take.mp3', {
      latitude: 42.3551,
      longitude: -71.0656,
      media_type: 'audio',
    });
    const vote = await rw.vote(1, 'like');
    return { pool, sessionId: rw._sessionId, userId: rw.user?._userId ?? null, asset, vote };
  }, daemon.url);
  assert.deepEqual(errors, []);
  assert.ok(out.pool >= 6, `the demo's recordings in the pool: ${out.pool}`);
  assert.ok(out.asset.id > 0, JSON.stringify(out.asset));
  assert.equal(out.asset.session_id, out.sessionId);
  assert.equal(out.asset.audio_length_in_seconds, 1);
  assert.equal(out.vote.type, 'like');
  assert.equal(out.vote.session_id, out.sessionId);
  // The recording and the vote belong to the SDK's device user, as the box sees it.
  const staff = await staffToken(daemon);
  const users = await apiCall(daemon.url, 'users/?device_id=sdk-test-device', { token: staff });
  const seen = await apiCall(daemon.url, `assets/${out.asset.id}/`, { token: staff });
  assert.equal(seen.user.id, users[0].id);
  assert.equal(out.vote.voter_id, users[0].id);
  await context.close();
});
