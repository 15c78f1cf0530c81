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
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
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
