// First paint of the visitor page as a phone on the venue Wi-Fi would see it: a 360 px
// viewport, the CPU slowed 4× (a mid-range phone) and the network shaped to 20 Mbit/s with
// 20 ms of latency, against a real roundwared. The figure is printed (never asserted: the
// machine is shared; the goal for the first map paint is ≤ 1 s); the test checks that the page
// painted its project and its map from the box alone.
// The live wall's weight (its HTML, CSS and scripts, and what it reads at the start) is
// checked against its budget of 300 KB.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, launchBrowser, staffToken, makeKiosk, waitFor } from './lib.mjs';

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

test('the visitor page paints on a throttled phone and reports its first paint', async (t) => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 20,
    downloadThroughput: (20e6 / 8) | 0,
    uploadThroughput: (10e6 / 8) | 0,
  });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const figures = [];
  for (let run = 0; run < 3; run++) {
    // A first visit each time: nothing cached.
    await cdp.send('Network.clearBrowserCache');
    await page.goto(`${daemon.url}/`, { waitUntil: 'load' });
    await page.locator('#project').waitFor({ state: 'visible' });
    // The map marks the frame that drew its first view of the project (shared/map.js).
    await page.waitForFunction(() => performance.getEntriesByName('rw-map-painted').length > 0);
    const m = await page.evaluate(() => {
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      const nav = performance.getEntriesByType('navigation')[0];
      const map = performance.getEntriesByName('rw-map-painted')[0];
      return {
        fcp: fcp ? Math.round(fcp.startTime) : null,
        map: Math.round(map.startTime),
        zones: document.querySelectorAll('#map .rw-zone').length,
        load: Math.round(nav.loadEventEnd),
        bytes: performance.getEntriesByType('resource').reduce((a, r) => a + (r.transferSize || 0), nav.transferSize || 0),
      };
    });
    assert.ok(m.fcp > 0, `a first contentful paint was recorded: ${JSON.stringify(m)}`);
    assert.ok(m.zones > 0, `the first map paint has the zones: ${JSON.stringify(m)}`);
    figures.push(m);
  }
  assert.ok(requests.every((u) => u.startsWith(daemon.url)), 'everything came from the box');
  const line = figures.map((m) => `first contentful paint ${m.fcp} ms, first map paint ${m.map} ms, load ${m.load} ms, ${(m.bytes / 1024).toFixed(1)} KB transferred`).join('; ');
  t.diagnostic(line);
  console.log(`FIGURE phone (4× CPU slowdown, 20 Mbit/s, 20 ms): ${line}`);
  await context.close();
});

/** The page's own files (HTML, CSS, scripts) and everything it fetched, in bytes (decoded). */
const weigh = (page) =>
  page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const resources = performance.getEntriesByType('resource');
    const size = (e) => e.decodedBodySize || e.transferSize || 0;
    const files = resources.filter((r) => new URL(r.name).pathname.startsWith('/web/'));
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return {
      files: size(nav) + files.reduce((a, r) => a + size(r), 0),
      total: size(nav) + resources.reduce((a, r) => a + size(r), 0),
      transferred: (nav.transferSize || 0) + resources.reduce((a, r) => a + (r.transferSize || 0), 0),
      requests: resources.length + 1,
      fcp: fcp ? Math.round(fcp.startTime) : null,
      outside: resources.map((r) => r.name).filter((u) => !u.startsWith(location.origin)),
    };
  });

const WALL_BUDGET = 300 * 1024;

test('the live wall stays within its 300 KB page weight and loads from the box alone', async (t) => {
  const kiosk = await makeKiosk(daemon.url, await staffToken(daemon), 'weight-wall');
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.clearBrowserCache');
  await page.goto(`${daemon.url}/wall/?project=1&access_token=${kiosk.token}`, { waitUntil: 'load' });
  await waitFor(() => page.evaluate(() => window.__wall.state === 'live'), { what: 'the wall live' });
  await waitFor(async () => (await page.locator('#cards li .wall-vote').count()) === (await page.locator('#cards li').count()), { what: 'every card with its votes' });
  const m = await weigh(page);
  assert.deepEqual(m.outside, [], 'everything came from the box');
  assert.ok(m.files <= WALL_BUDGET, `the wall's files weigh ${m.files} bytes, over ${WALL_BUDGET}`);
  assert.ok(m.total <= WALL_BUDGET, `the wall with its first reads weighs ${m.total} bytes, over ${WALL_BUDGET}`);
  const line = `files ${(m.files / 1024).toFixed(1)} KB, with the first reads ${(m.total / 1024).toFixed(1)} KB (${m.requests} requests, ${(m.transferred / 1024).toFixed(1)} KB transferred), first contentful paint ${m.fcp} ms`;
  t.diagnostic(line);
  console.log(`FIGURE wall page weight (1080p, demo project): ${line}`);
  await context.close();
});
