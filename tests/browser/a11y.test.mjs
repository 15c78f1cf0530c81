// Accessibility and small screens: axe-core (WCAG 2 A and AA rules: labels, names, contrast,
// landmarks, ARIA) on the visitor page, on every console section and on the live wall, in
// Debian's headless Chromium against a real roundwared; and no sideways scrolling on a 360 px
// phone (the wall also on a tablet and a 1080p screen).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, launchBrowser, waitFor, apiCall, staffToken, makeKiosk, uploadRecording, violations, visitorReady } from './lib.mjs';

let daemon;
let browser;
before(async () => {
  daemon = await startDaemon({ extraToml: '[local]\nenabled = true\noutput = "none"\n[position]\nsource = "fixed"\nfixed = [42.3551, -71.0656]\n' });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await daemon?.stop();
});

/** Whether the page scrolls sideways. */
const overflows = (page) => page.evaluate(() => document.scrollingElement.scrollWidth > window.innerWidth + 1);

test('the visitor page has no serious accessibility violations and fits a 360 px phone', async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${daemon.url}/`);
  await visitorReady(page);
  assert.deepEqual(await violations(page), [], 'before listening');
  assert.equal(await overflows(page), false, 'no sideways scrolling');
  // Keyboard: Tab from the top reaches the Listen button before the map, and the map itself.
  const order = [];
  for (let i = 0; i < 40 && !order.includes('map'); i++) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName));
  }
  assert.ok(order.includes('listen-btn') && order.includes('map'), `focus order: ${order.join(' → ')}`);
  assert.ok(order.indexOf('listen-btn') < order.indexOf('map'), `focus order: ${order.join(' → ')}`);
  await page.click('#listen-btn');
  await waitFor(() => page.evaluate(() => window.__rw.streamId), { timeoutMs: 20000, what: 'a stream' });
  assert.deepEqual(await violations(page), [], 'while listening');
  assert.equal(await overflows(page), false, 'no sideways scrolling while listening');
  await context.close();
});

test('every console section has no serious accessibility violations and fits a 360 px phone', async () => {
  // The Kiosks section with a kiosk listed (its wall link, copy and revoke controls), the
  // Channels section with a push channel (its URL, key and ffmpeg line to copy, a push-on
  // target with its state, On and Remove) and a pull one.
  const staff = await staffToken(daemon);
  await makeKiosk(daemon.url, staff, 'a11y-console');
  const target = { profile: 'source', spec: { url: 'icecast://source:pw@127.0.0.1:9/a11y.mp3', name: 'a11y-target' } };
  for (const body of [{ name: 'a11y-push', multistream: { targets: [target] } }, { name: 'a11y-pull', pull: { source: 'http://127.0.0.1:9/radio.mp3' } }]) {
    const r = await fetch(`${daemon.url}/livepeer/api/stream`, { method: 'POST', headers: { Authorization: `Bearer ${staff}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 201, await r.text());
  }
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${daemon.url}/console/`);
  await page.locator('#login-user').waitFor({ state: 'visible' });
  assert.deepEqual(await violations(page), [], 'login form');
  await page.fill('#login-user', daemon.staff.username);
  await page.fill('#login-pass', daemon.staff.password);
  await page.click('#login-submit');
  await page.locator('#tabs').waitFor({ state: 'visible' });
  const tabs = await page.$$eval('#tabs button[data-tab]', (b) => b.map((x) => x.dataset.tab));
  assert.ok(tabs.length >= 5, `tabs: ${tabs}`);
  for (const tab of tabs) {
    await page.click(`#tabs button[data-tab="${tab}"]`);
    await page.waitForSelector(`#tab-${tab}:not([hidden])`);
    if (tab === 'channels') {
      // The target row shown and every "Add a target" form open.
      await page.locator('[data-role="targets"] li').waitFor();
      await page.$$eval('#tab-channels details', (all) => all.forEach((d) => (d.open = true)));
    }
    await page.waitForTimeout(500);
    assert.deepEqual(await violations(page), [], `section ${tab}`);
    assert.equal(await overflows(page), false, `no sideways scrolling in section ${tab}`);
  }
  await context.close();
});

test('the live wall has no serious accessibility violations on a 1080p screen, a tablet and a phone', async () => {
  const kiosk = await makeKiosk(daemon.url, await staffToken(daemon), 'a11y-wall');
  const screens = [
    { name: '1080p screen', viewport: { width: 1920, height: 1080 } },
    { name: 'tablet', viewport: { width: 768, height: 1024 }, isMobile: true, hasTouch: true },
    { name: 'phone', viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true },
  ];
  for (const [i, screen] of screens.entries()) {
    const { name, ...options } = screen;
    const context = await browser.newContext(options);
    const page = await context.newPage();
    await page.goto(`${daemon.url}/wall/?project=1&access_token=${kiosk.token}`);
    await waitFor(() => page.evaluate(() => window.__wall.state === 'live'), { what: `the wall live on the ${name}` });
    await page.locator('#cards li .wall-vote').first().waitFor();
    if (i === 0) {
      // Also a new arrival (highlighted) and a listener in a zone (a bar).
      const up = await uploadRecording(daemon.url, { device: 'a11y-wall-uploader', description: 'A new arrival', seconds: 6 });
      await page.locator(`#cards li[data-asset-id="${up.asset.id}"].wall-new`).waitFor();
      const s = await apiCall(daemon.url, 'streams/', { method: 'POST', token: up.token, body: { session_id: up.sessionId, latitude: 42.3551, longitude: -71.0656 } });
      await waitFor(async () => Number(await page.textContent('#total')) >= 1, { what: 'a listener counted' });
      assert.ok(s.stream_id > 0);
    }
    assert.deepEqual(await violations(page), [], `the wall on a ${name}`);
    assert.equal(await overflows(page), false, `no sideways scrolling on a ${name}`);
    if (i === 0) {
      // Keyboard: Tab reaches a Play button, Enter plays, Enter again pauses.
      let focused = null;
      for (let n = 0; n < 10 && !focused; n++) {
        await page.keyboard.press('Tab');
        focused = await page.evaluate(() => (document.activeElement?.classList.contains('wall-play') ? document.activeElement.closest('li').dataset.assetId : null));
      }
      assert.ok(focused, 'Tab reaches a Play button');
      const audio = page.locator(`#cards li[data-asset-id="${focused}"] audio`);
      await page.keyboard.press('Enter');
      await waitFor(() => audio.evaluate((a) => !a.paused), { what: 'Enter plays' });
      assert.deepEqual(await violations(page), [], 'the wall while a recording plays');
      await page.keyboard.press('Enter');
      await waitFor(() => audio.evaluate((a) => a.paused), { what: 'Enter pauses' });
    }
    await context.close();
  }
});
