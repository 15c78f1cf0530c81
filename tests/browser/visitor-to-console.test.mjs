// The whole loop in two browser pages against one real roundwared: a visitor records
// with Chromium's fake microphone on the visitor page, and a curator who has the console open
// sees the recording arrive, without reloading.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, launchBrowser, waitFor, visitorReady } from './lib.mjs';

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

test('a recording made on the visitor page appears in the open console', async () => {
  // The curator's console, logged in, on the recordings.
  const curator = await browser.newContext();
  const consolePage = await curator.newPage();
  await consolePage.goto(`${daemon.url}/console/`);
  await consolePage.fill('#login-user', daemon.staff.username);
  await consolePage.fill('#login-pass', daemon.staff.password);
  await consolePage.click('#login-submit');
  await consolePage.click('#tabs button[data-tab="assets"]');
  await consolePage.waitForSelector('#tab-assets:not([hidden])');
  await consolePage.locator('#assets-table tbody tr').first().waitFor();

  // The visitor records 2.5 s and the page uploads it.
  const visitor = await browser.newContext();
  const page = await visitor.newPage();
  await page.goto(`${daemon.url}/`);
  await visitorReady(page);
  await page.click('#record-btn');
  await page.waitForTimeout(2500);
  await page.click('#record-btn');
  const asset = await waitFor(() => page.evaluate(() => window.__rw.uploads[0]), { timeoutMs: 20000, what: 'the upload' });
  assert.ok(asset.id > 0);

  const row = consolePage.locator(`#assets-table tbody tr[data-id="${asset.id}"]`);
  await row.waitFor({ timeout: 15000 });
  assert.match(await consolePage.textContent('#status'), new RegExp(`New recording arrived: #${asset.id}`));
  await visitor.close();
  await curator.close();
});
