// The web infrastructure: the visitor page and its shared modules load from the box itself
// (no request leaves the daemon's origin) without script errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, launchBrowser, screenshot } from './lib.mjs';

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

test('the visitor page loads from the box alone without script errors', async () => {
  const page = await browser.newPage();
  const errors = [];
  const foreign = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The box answers 404 when it has no offline tiles or the project no floor plan (the
  // demo has neither): Chromium logs those as console errors; they are the contract, not faults.
  const absent = /\/tiles\/tile\.json$|\/api\/2\/projects\/\d+\/floorplan\/$/;
  page.on('console', (m) => m.type() === 'error' && !(/status of 404/.test(m.text()) && absent.test(m.location().url)) && errors.push(`${m.text()} (${m.location().url})`));
  page.on('request', (r) => {
    if (!r.url().startsWith(daemon.url) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) foreign.push(r.url());
  });
  const resp = await page.goto(`${daemon.url}/`);
  assert.equal(resp.status(), 200);
  assert.match(resp.headers()['content-type'], /text\/html/);
  await page.waitForLoadState('networkidle');
  assert.deepEqual(errors, []);
  assert.deepEqual(foreign, [], 'every request goes to the box');
  // The shared modules are importable in the page.
  const exported = await page.evaluate(async () => {
    const a = await import('/web/shared/api.js');
    const m = await import('/web/shared/map.js');
    return [typeof a.api, typeof a.ApiError, typeof m.ProjectMap, typeof m.projectPoint];
  });
  assert.deepEqual(exported, ['function', 'function', 'function', 'function']);
  await page.close();
});
