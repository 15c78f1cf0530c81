// The visitor page's "Use my location" switch in headless Chromium: with the permission the
// listener follows the browser's position (the box's stream moves with it); refused, the page
// says so and the switch turns off.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, launchBrowser, apiCall, waitFor, staffToken, visitorReady } from './lib.mjs';

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

const CENTRE = { latitude: 42.3551, longitude: -71.0656 };

async function listen(context) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${daemon.url}/`);
  await visitorReady(page);
  await page.click('#listen-btn');
  await waitFor(() => page.evaluate(() => window.__rw.streamId), { timeoutMs: 20000, what: 'a stream' });
  return { page, problems };
}

/** The box's view of a stream's position, from the staff status route. */
async function boxPosition(streamId) {
  const status = await apiCall(daemon.url, 'streams/status/', { token: await staffToken(daemon) });
  return status.streams.find((s) => s.stream_id === streamId)?.position;
}

test('with the permission the listener and its stream follow the browser position', async () => {
  const context = await browser.newContext({ permissions: ['geolocation'], geolocation: CENTRE });
  const { page, problems } = await listen(context);
  assert.equal(await page.isEnabled('#geo-switch'), true, 'the switch is usable on a secure origin');
  await page.check('#geo-switch');
  // The visitor walks 60 m north-east; the page and the box follow.
  const there = { latitude: 42.35564, longitude: -71.06508 };
  await context.setGeolocation(there);
  const streamId = await page.evaluate(() => window.__rw.streamId);
  const pos = await waitFor(
    async () => {
      const p = await boxPosition(streamId);
      return p && Math.abs(p[0] - there.latitude) < 1e-5 && Math.abs(p[1] - there.longitude) < 1e-5 ? p : null;
    },
    { what: 'the stream at the browser position' },
  );
  const listener = await page.evaluate(() => window.__rw.listener);
  assert.ok(Math.abs(listener.lat - there.latitude) < 1e-5, JSON.stringify(listener));
  assert.ok(/42\.3556/.test(await page.textContent('#listener-pos')), 'the text alternative shows the position');
  assert.match(await page.textContent('#geo-status'), /following your location/i);
  // Switched off, a further change of the browser position is not followed.
  await page.uncheck('#geo-switch');
  await context.setGeolocation(CENTRE);
  await page.waitForTimeout(1500);
  assert.deepEqual(await boxPosition(streamId), pos);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a refused location turns the switch off with a message and the map still works', async () => {
  const context = await browser.newContext();
  await context.clearPermissions();
  const { page, problems } = await listen(context);
  // The refusal comes at once: click, then look (check() would see the switch off again).
  await page.click('#geo-switch');
  await page.locator('#error').waitFor({ state: 'visible', timeout: 15000 });
  assert.match(await page.textContent('#error-text'), /not allowed to share/i);
  assert.equal(await page.isChecked('#geo-switch'), false);
  // Walking on the map still moves the stream.
  const streamId = await page.evaluate(() => window.__rw.streamId);
  await page.focus('#map');
  await page.keyboard.press('Shift+ArrowUp');
  await waitFor(
    async () => {
      const p = await boxPosition(streamId);
      return p && p[0] > CENTRE.latitude + 1e-4 ? p : null;
    },
    { what: 'the stream moved north by the keyboard' },
  );
  assert.deepEqual(problems, []);
  await context.close();
});
