// The curator console kept open in headless Chromium for a soak benchmark
// (tests/benches/soak.rs starts it): log in as staff, then show each section in turn for a
// minute (assets, map, streams, health, local), so its pollers run against the box as a
// curator's tab would all day. Not a test file (run.sh runs *.test.mjs only).
//
//   node tests/browser/console-soak.mjs URL USER PASSWORD SECONDS
//
// Prints one JSON line at the end: {"switches": n, "page_errors": n, "failed_requests": n};
// exits 1 if the page could not log in.
import { launchBrowser } from './lib.mjs';

const [url, user, password, secondsText] = process.argv.slice(2);
const seconds = Number(secondsText || 60);
const SECTIONS = ['assets', 'map', 'streams', 'health', 'local'];

const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
let pageErrors = 0;
let failedRequests = 0;
page.on('pageerror', () => pageErrors++);
page.on('requestfailed', () => failedRequests++);
await page.goto(`${url}/console/`);
await page.fill('#login-user', user);
await page.fill('#login-pass', password);
await page.click('#login-submit');
try {
  await page.waitForSelector('#tabs:not([hidden])', { timeout: 20_000 });
} catch {
  console.error('console-soak: the console did not log in');
  await browser.close();
  process.exit(1);
}
const end = Date.now() + seconds * 1000;
let switches = 0;
while (Date.now() < end) {
  const section = SECTIONS[switches % SECTIONS.length];
  await page.goto(`${url}/console/#${section}`);
  switches++;
  await page.waitForTimeout(Math.min(60_000, Math.max(0, end - Date.now())));
}
await browser.close();
console.log(JSON.stringify({ switches, page_errors: pageErrors, failed_requests: failedRequests }));
