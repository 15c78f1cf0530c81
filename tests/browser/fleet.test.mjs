// The console's Fleet section in headless Chromium against real daemons: a standalone box
// (the demo project) says fleet mode is off; a hub box on its own real nats-server (the one
// tests/fleet/servers.sh prepares, named by $RW_NATS_NEW; skipped without it) shows itself as
// box 1, the hub, registered, with the venue's boxes listed (axe finds no serious violation),
// pulling from a central server (a demo daemon) and saying what it has sent there, and
// refreshes by itself (a change made at the hub moves the position shown).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, launchBrowser, screenshot, apiCall, staffToken, waitFor, freePort, violations } from './lib.mjs';

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function openFleet(daemon) {
  const browser = await launchBrowser();
  cleanups.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${daemon.url}/console/#fleet`);
  await page.fill('#login-user', daemon.staff.username);
  await page.fill('#login-pass', daemon.staff.password);
  await page.click('#login-submit');
  await page.waitForSelector('#tab-fleet:not([hidden])');
  return { page, errors };
}

test('a standalone box says in the Fleet section that fleet mode is off', async () => {
  const daemon = await startDaemon();
  cleanups.push(() => daemon.stop());
  const { page, errors } = await openFleet(daemon);
  await waitFor(async () => /^Standalone box: fleet mode is off/.test(await page.textContent('#fleet-summary')), { what: 'the standalone summary' });
  assert.match(await page.textContent('#fleet-body'), /\[fleet\] in roundwared\.toml/);
  assert.equal(await page.locator('#fleet-boxes').count(), 0, 'no boxes to list');
  assert.equal(await page.getAttribute('#tabs button[data-tab="fleet"]', 'aria-current'), 'page');
  await screenshot(page, 'console-fleet-standalone');
  assert.deepEqual(errors, []);
});

/** A JetStream nats-server with the hub's domain on a free port; its port and a stop(). */
async function hubNats(binary) {
  const dir = mkdtempSync(join(tmpdir(), 'rw-nats-'));
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, `server_name: hub\nhost: 127.0.0.1\nport: ${port}\njetstream { store_dir: "${join(dir, 'js')}", domain: hub }\n`);
  const child = spawn(binary, ['-c', conf], { stdio: 'ignore' });
  await waitFor(
    () =>
      new Promise((ok) => {
        const s = connect(port, '127.0.0.1', () => {
          s.end();
          ok(true);
        });
        s.on('error', () => ok(false));
      }),
    { what: `nats-server listening on ${port}` },
  );
  return {
    port,
    async stop() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const nats = process.env.RW_NATS_NEW;
test('a hub box shows itself registered, with the venue boxes, in the Fleet section', { skip: nats && existsSync(nats) ? false : 'RW_NATS_NEW names no nats-server (bash tests/fleet/servers.sh)' }, async () => {
  const server = await hubNats(nats);
  cleanups.push(() => server.stop());
  const central = await startDaemon();
  cleanups.push(() => central.stop());
  // No demo: a database with rows of its own would have to join the fleet first.
  const daemon = await startDaemon({
    demo: false,
    extraToml: `[fleet]\nenabled = true\nrole = "hub"\nbox = 1\nnats_url = "nats://127.0.0.1:${server.port}"\n` + `[fleet.central]\nurl = "${central.url}/api/2/"\nprojects = [1]\npoll_s = 5\n`,
  });
  cleanups.push(() => daemon.stop());
  const staff = await staffToken(daemon);
  const project = await apiCall(daemon.url, 'projects/', { method: 'POST', token: staff, body: { name: 'Venue', latitude: 42.3551, longitude: -71.0656 } });
  const { page, errors } = await openFleet(daemon);
  await waitFor(async () => /^Box 1, the hub of the venue/.test(await page.textContent('#fleet-summary')), { timeoutMs: 20000, what: 'the hub summary' });
  await waitFor(async () => /Registered with the hubYes/.test(await page.textContent('#fleet-facts')), { timeoutMs: 20000, what: 'registered' });
  await waitFor(async () => /CentralPulled/.test(await page.textContent('#fleet-facts')), { timeoutMs: 30000, what: 'the pull from central' });
  await waitFor(async () => /Sent to central0 sent, 0 waiting, 0 refused/.test(await page.textContent('#fleet-facts')), { timeoutMs: 30000, what: 'the push to central' });
  const row = page.locator('#fleet-boxes tbody tr[data-box="1"]');
  await waitFor(async () => /Box 1 \(the hub\) \(this box\)/.test(await row.textContent()), { what: 'the hub listed among the boxes' });
  // It refreshes by itself: a change made at the hub moves the catalogue's position.
  const position = async () => Number((/Position ([\d,]+)/.exec(await page.textContent('#fleet-facts')) || [])[1]?.replace(/,/g, '') ?? NaN);
  const before = await position();
  await apiCall(daemon.url, `projects/${project.id}/`, { method: 'PATCH', token: staff, body: { name: 'Venue, renamed' } });
  await waitFor(async () => (await position()) > before, { timeoutMs: 20000, what: `the position past ${before}` });
  assert.deepEqual(await violations(page), [], 'no serious accessibility violations with the boxes listed');
  await screenshot(page, 'console-fleet-hub');
  assert.deepEqual(errors, []);
});
