// Shared harness of the browser tests: a real roundwared (the binary `cargo test` builds) on
// a free loopback port with its own temp data dir, and Debian's headless Chromium driven by
// playwright-core. No mocks: the pages talk to the real daemon over real HTTP.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { deflateSync, crc32 } from 'node:zlib';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** The repository root. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The daemon binary: $ROUNDWARED_BIN, else $CARGO_TARGET_DIR/debug/roundwared, else target/debug. */
export const BINARY =
  process.env.ROUNDWARED_BIN ||
  join(process.env.CARGO_TARGET_DIR ? resolve(REPO, process.env.CARGO_TARGET_DIR) : join(REPO, 'target'), 'debug', 'roundwared');

/** The staff login startDaemon creates. */
export const STAFF = { username: 'curator', password: 'curator-pass-1' };

/** A free TCP port on 127.0.0.1 (bound and released; the daemon binds it right after). */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts roundwared with the demo project (default) and a staff user (default).
 * Returns {url, port, dataDir, configPath, logPath, staff, stop(), restart(), kill()}:
 * stop() ends it with SIGTERM (and removes the temp dir unless {keep: true});
 * restart() starts it again on the same data dir and port (after stop({keep: true})).
 * extraToml is appended to the config (e.g. "[local]\nenabled = true\noutput = \"none\"").
 */
export async function startDaemon({ demo = true, staff = true, extraToml = '' } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'rw-browser-'));
  const port = await freePort();
  const configPath = join(dataDir, 'roundwared.toml');
  const logPath = join(dataDir, 'daemon.log');
  mkdirSync(join(dataDir, 'data'), { recursive: true });
  writeFileSync(
    configPath,
    `[http]\nlisten = "127.0.0.1:${port}"\n[storage]\ndata_dir = "${join(dataDir, 'data')}"\n` +
      `[log]\nlevel = "info"\n` +
      (/\[local\]/.test(extraToml) ? '' : `[local]\nenabled = false\n`) +
      // Every page and visitor of a test comes from 127.0.0.1, where on a venue each phone has
      // its own address: the per-address limits are raised (tests/it/abuse_limits.rs tests them).
      (/\[limits\]/.test(extraToml)
        ? ''
        : `[limits]\nstreams_per_ip = 1000\nregistrations_per_ip_per_min = 1000\n` +
          `stream_starts_per_ip_per_min = 1000\nuploads_per_ip_per_min = 1000\nlogins_per_ip_per_min = 1000\n`) +
      extraToml +
      '\n',
  );
  const url = `http://127.0.0.1:${port}`;
  let child = null;

  async function launch() {
    const log = openSync(logPath, 'a');
    const args = ['serve', '--config', configPath];
    if (demo) args.push('--demo');
    const env = { ...process.env };
    delete env.NOTIFY_SOCKET;
    child = spawn(BINARY, args, { stdio: ['ignore', log, log], env });
    closeSync(log);
    const me = child;
    let exited = null;
    me.once('exit', (code, sig) => (exited = `exit ${code ?? sig}`));
    for (let i = 0; i < 300; i++) {
      if (exited) throw new Error(`roundwared ${exited}; log:\n${readFileSync(logPath, 'utf8')}`);
      try {
        const r = await fetch(`${url}/healthz`);
        if (r.status < 500 || r.status === 503) {
          // Demo seeding finishes before the port answers; one more check that the API is up.
          const p = await fetch(`${url}/api/2/`);
          if (p.ok) return;
        }
      } catch {
        /* not yet */
      }
      await sleep(50);
    }
    throw new Error(`roundwared did not answer on ${url} within 15 s; log:\n${readFileSync(logPath, 'utf8')}`);
  }

  function waitExit(c) {
    return new Promise((ok) => {
      if (c.exitCode !== null || c.signalCode !== null) return ok();
      c.once('exit', () => ok());
    });
  }

  await launch();
  if (staff) {
    execFileSync(BINARY, ['user', 'add', '--username', STAFF.username, '--password', STAFF.password, '--staff', '--config', configPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }
  return {
    url,
    port,
    dataDir,
    configPath,
    logPath,
    staff: staff ? { ...STAFF } : null,
    /** SIGTERM and wait; removes the temp dir unless keep. */
    async stop({ keep = false } = {}) {
      if (child) {
        const c = child;
        child = null;
        c.kill('SIGTERM');
        await waitExit(c);
      }
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
    },
    /** Starts the daemon again on the same data dir and port. */
    async restart() {
      if (child) throw new Error('daemon still running');
      await launch();
    },
    /** Whether the daemon process is running. */
    get running() {
      return child !== null;
    },
  };
}

/** The flags every test browser gets (fake microphone, autoplay allowed, no network chatter). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

/** The system Chromium: $CHROMIUM, else /usr/bin/chromium. */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/**
 * Debian's Chromium, headless, with a fresh profile (playwright gives every launch its own
 * temporary --user-data-dir and removes it on close). Returns the playwright Browser: use
 * browser.newPage() / newContext(). extraArgs are appended to CHROMIUM_ARGS; withoutFakeUi
 * leaves out --use-fake-ui-for-media-stream, so microphone requests are refused.
 */
export async function launchBrowser({ extraArgs = [], withoutFakeUi = false } = {}) {
  const base = withoutFakeUi ? CHROMIUM_ARGS.filter((a) => a !== '--use-fake-ui-for-media-stream') : CHROMIUM_ARGS;
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...base, ...extraArgs],
  });
}

/** Where screenshots go: $SCREENSHOT_DIR, else a temp dir made once per run. */
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || mkdtempSync(join(tmpdir(), 'rw-screenshots-'));

/**
 * Writes `<name>.png` of the page into SCREENSHOT_DIR and, with UPDATE_SCREENSHOTS=1, into
 * the committed tests/screenshots/. Returns the path written in SCREENSHOT_DIR.
 */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  const png = await page.screenshot({ path, fullPage: true });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    const dir = join(REPO, 'tests', 'screenshots');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.png`), png);
  }
  return path;
}

/** Calls the daemon's api/2 from node (test set-up and checks): JSON in, JSON out. */
/** Waits until the visitor page has opened its project: session, texts and tags (its map may
 *  show earlier). */
export async function visitorReady(page) {
  await page.waitForFunction(() => window.__rw && window.__rw.ready === true, null, { timeout: 30000 });
}

export async function apiCall(base, path, { method = 'GET', body, token } = {}) {
  const headers = {};
  if (token) headers.Authorization = `token ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${base}/api/2/${path.replace(/^\//, '')}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return json;
}

/** The staff token of a daemon started with staff: true. */
export async function staffToken(daemon) {
  const r = await apiCall(daemon.url, 'login/', { method: 'POST', body: daemon.staff });
  return r.token;
}

/** Polls fn() until it returns a truthy value (or throws after timeoutMs); returns that value. */
export async function waitFor(fn, { timeoutMs = 15000, intervalMs = 100, what = 'condition' } = {}) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** A 16-bit mono WAV of a 440 Hz tone (a recording to upload). */
export function wav(seconds = 1.5, rate = 22050) {
  const n = Math.round(seconds * rate);
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 12000), 44 + i * 2);
  return buf;
}

/**
 * A visitor (device `device`) with a session in `projectId` uploads a recording through an
 * envelope, as the visitor page does, from inside the demo's zones (so the project's
 * auto_submit submits it). Returns {token, sessionId, asset} (the api/2 asset).
 */
export async function uploadRecording(base, { device, projectId = 1, description, seconds = 1.5, fields = { latitude: 42.3552, longitude: -71.0657 } }) {
  const user = await apiCall(base, 'users/', { method: 'POST', body: { device_id: device, client_type: 'web' } });
  const session = await apiCall(base, 'sessions/', { method: 'POST', token: user.token, body: { project_id: projectId, client_type: 'web' } });
  const env = await apiCall(base, 'envelopes/', { method: 'POST', token: user.token, body: { session_id: session.id } });
  const form = new FormData();
  form.append('session_id', String(session.id));
  form.append('file', new Blob([wav(seconds)], { type: 'audio/wav' }), 'blob');
  if (description !== undefined) form.append('description', description);
  for (const [k, v] of Object.entries(fields)) form.append(k, String(v));
  const r = await fetch(`${base}/api/2/envelopes/${env.id}/`, { method: 'PATCH', headers: { Authorization: `token ${user.token}` }, body: form });
  const text = await r.text();
  if (!r.ok) throw new Error(`PATCH envelopes/${env.id}/: ${r.status} ${text}`);
  return { token: user.token, sessionId: session.id, asset: JSON.parse(text) };
}

/** A kiosk made by staff through api/2: {id, username, token, created}. */
export async function makeKiosk(base, staffTok, name) {
  return apiCall(base, 'kiosks/', { method: 'POST', token: staffTok, body: { name } });
}

/**
 * A PNG image (RGBA, 8 bits) of width × height whose pixel (x, y) has colour(x, y) →
 * [r, g, b, a?]: floor plans and map tiles the tests make themselves.
 */
export function png(width, height, colour) {
  const raw = Buffer.alloc((1 + width * 4) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b, a = 255] = colour(x, y);
      raw.set([r, g, b, a], y * (1 + width * 4) + 1 + x * 4);
    }
  }
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(8 + body.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 4 + body.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bits per channel
  ihdr[9] = 6; // RGBA
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** The colour [r, g, b, a] the page shows at viewport point (x, y) (from a screenshot). */
export async function pixelAt(page, x, y) {
  const shot = await page.screenshot({ clip: { x: Math.round(x), y: Math.round(y), width: 1, height: 1 } });
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = 1;
    c.height = 1;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return [...ctx.getImageData(0, 0, 1, 1).data];
  }, shot.toString('base64'));
}

/**
 * Writes an MBTiles file (SQLite: metadata(name, value), tiles(zoom_level, tile_column,
 * tile_row, tile_data) with TMS rows) at `path` with python3's sqlite3 (make-mbtiles.py).
 * tiles: [{z, x, y (XYZ row, flipped here), data (Buffer)}].
 */
export function writeMbtiles(path, { metadata, tiles }) {
  const input = JSON.stringify({ metadata, tiles: tiles.map((t) => ({ z: t.z, x: t.x, y: t.y, data: t.data.toString('base64') })) });
  execFileSync('python3', [join(dirname(fileURLToPath(import.meta.url)), 'make-mbtiles.py'), path], { input, stdio: ['pipe', 'ignore', 'pipe'] });
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** Serious and critical WCAG 2 A/AA violations (axe-core) on the page as it is now, as readable lines. */
export async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.join(', ')}`);
}
