// Accessibility and small screens: axe-core (WCAG 2 A and AA rules: labels, names, contrast,
// landmarks, ARIA) on the visitor page and on every console section, in Debian's headless
// Chromium against a real roundwared; and no sideways scrolling on a 360 px phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startDaemon, launchBrowser, waitFor } from './lib.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

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

/** Serious and critical WCAG 2 A/AA violations on the page as it is now, as readable lines. */
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.join(', ')}`);
}

/** Whether the page scrolls sideways. */
const overflows = (page) => page.evaluate(() => document.scrollingElement.scrollWidth > window.innerWidth + 1);

test('the visitor page has no serious accessibility violations and fits a 360 px phone', async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${daemon.url}/`);
  await page.locator('#project').waitFor({ state: 'visible' });
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
    await page.waitForTimeout(500);
    assert.deepEqual(await violations(page), [], `section ${tab}`);
    assert.equal(await overflows(page), false, `no sideways scrolling in section ${tab}`);
  }
  await context.close();
});
