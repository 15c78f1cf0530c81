// Offline map tiles end to end: the test writes a small MBTiles file itself (zooms 14–18
// around the demo project, solid-colour PNG tiles: the deepest zoom in its own colour), starts
// roundwared with `[map] tiles = "…"`, and checks that the visitor page and the console take
// the box's tile.json, request /tiles/{z}/{x}/{y} and draw the tiles under the zones instead of
// the grid, that zooming deeper than the tile set upscales its deepest tiles (no request past
// its maxzoom), that the attribution is shown as text, and that nothing comes from elsewhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, launchBrowser, screenshot, waitFor, png, pixelAt, writeMbtiles, apiCall, staffToken, visitorReady } from './lib.mjs';

const CENTRE = { lat: 42.3551, lon: -71.0656 };
const GREEN = [60, 160, 60];
const TEAL = [40, 140, 140];
const MAXZOOM = 18;

/** The XYZ tile holding (lat, lon) at zoom z. */
function tileOf(lat, lon, z) {
  const n = 2 ** z;
  const r = (lat * Math.PI) / 180;
  return [Math.floor(((lon + 180) / 360) * n), Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n)];
}

let dir;
let daemon;
let browser;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rw-tiles-'));
  const green = png(256, 256, () => GREEN);
  const teal = png(256, 256, () => TEAL);
  const tiles = [];
  for (let z = 14; z <= MAXZOOM; z++) {
    const [cx, cy] = tileOf(CENTRE.lat, CENTRE.lon, z);
    for (let dx = -2; dx <= 2; dx++) for (let dy = -2; dy <= 2; dy++) tiles.push({ z, x: cx + dx, y: cy + dy, data: z === MAXZOOM ? teal : green });
  }
  const path = join(dir, 'venue.mbtiles');
  writeMbtiles(path, {
    metadata: {
      name: 'test venue',
      format: 'png',
      minzoom: 14,
      maxzoom: MAXZOOM,
      bounds: `${CENTRE.lon - 0.01},${CENTRE.lat - 0.01},${CENTRE.lon + 0.01},${CENTRE.lat + 0.01}`,
      attribution: '© Test tiles <a href="https://tiles.example/">link</a>',
    },
    tiles,
  });
  daemon = await startDaemon({ extraToml: `[map]\ntiles = "${path}"\n` });
  // The tiles alone: the demo's site plan (drawn over them) is taken away.
  await apiCall(daemon.url, 'projects/1/floorplan/', { method: 'DELETE', token: await staffToken(daemon) });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await daemon?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const near = (a, b, tol = 16) => a.slice(0, 3).every((v, i) => Math.abs(v - b[i]) <= tol);

/** Records the tile requests of a page: [{z, x, y, status, type}]. */
function watchTiles(page) {
  const seen = [];
  const foreign = [];
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.origin !== daemon.url && !u.protocol.startsWith('data')) foreign.push(r.url());
    const m = u.pathname.match(/^\/tiles\/(\d+)\/(\d+)\/(\d+)$/);
    if (m) seen.push({ z: Number(m[1]), x: Number(m[2]), y: Number(m[3]), status: r.status(), type: r.headers()['content-type'] });
  });
  return { seen, foreign };
}

const tilesDrawn = (page) =>
  waitFor(async () => (await page.locator('#map .rw-tiles img.leaflet-tile-loaded').count()) > 0, { what: 'tiles drawn on the map' });

test('the visitor page draws the box’s tiles under the zones and upscales past their deepest zoom', async () => {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  const { seen, foreign } = watchTiles(page);
  const tj = await (await fetch(`${daemon.url}/tiles/tile.json`)).json();
  assert.equal(tj.maxzoom, MAXZOOM);
  await page.goto(`${daemon.url}/`);
  await visitorReady(page);
  await tilesDrawn(page);
  const ok = seen.filter((t) => t.status === 200);
  assert.ok(ok.length > 0 && ok.every((t) => /^image\/png/.test(t.type)), `tiles answered: ${JSON.stringify(seen.slice(0, 5))}`);
  // The tile for the project centre at a zoom that was requested is among them.
  const z = ok[0].z;
  const [cx, cy] = tileOf(CENTRE.lat, CENTRE.lon, z);
  assert.ok(ok.some((t) => t.z === z && t.x === cx && t.y === cy), `the centre's tile ${z}/${cx}/${cy} in ${JSON.stringify(ok.map((t) => `${t.z}/${t.x}/${t.y}`))}`);
  assert.equal(await page.locator('#map .rw-grid').count(), 0, 'no grid under tiles');
  // Attribution as text: the tile set's HTML is not injected into the page.
  const attribution = page.locator('#map .leaflet-control-attribution');
  assert.match(await attribution.textContent(), /© Test tiles link/);
  assert.equal(await attribution.locator('a[href^="https://tiles.example"]').count(), 0);

  // The tiles are what shows (top-right corner of the map: no zone, control or marker there).
  const map = await page.locator('#map').boundingBox();
  const corner = [map.x + map.width - 20, map.y + 20];
  // (Leaflet fades a loaded tile in over 0.2 s.)
  let before;
  await waitFor(async () => {
    before = await pixelAt(page, ...corner);
    return near(before, GREEN) || near(before, TEAL);
  }, { what: "a tile's colour at the corner" });
  // Zones are drawn over the tiles: the zone's blue tints them.
  const zone = await page.locator('#map .rw-zone[data-id="1"]').boundingBox();
  const inZone = await pixelAt(page, zone.x + 12, zone.y + zone.height - 12);
  assert.ok(!near(inZone, GREEN, 4) && !near(inZone, TEAL, 4) && inZone[2] > Math.min(GREEN[2], TEAL[2]), `tinted in the zone: ${inZone}`);
  await screenshot(page, 'visitor-tiles');

  // Deeper than the tile set: zoom in 3 steps with the keyboard; no tile past maxzoom is asked
  // for, and the deepest tiles (teal) are drawn enlarged.
  const count = seen.length;
  await page.focus('#map');
  for (let i = 0; i < 3; i++) await page.keyboard.press('+');
  await waitFor(async () => near(await pixelAt(page, ...corner), TEAL), { what: 'the deepest tiles drawn enlarged' });
  assert.ok(seen.every((t) => t.z <= MAXZOOM), `no request past zoom ${MAXZOOM}: ${JSON.stringify(seen.slice(count).map((t) => t.z))}`);
  assert.deepEqual(foreign, [], 'everything from the box');
  await page.close();
});

test('the console’s map uses the tiles too', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const { seen } = watchTiles(page);
  await page.goto(`${daemon.url}/console/#map`);
  await page.fill('#login-user', daemon.staff.username);
  await page.fill('#login-pass', daemon.staff.password);
  await page.click('#login-submit');
  await page.locator('#tab-map:not([hidden])').waitFor();
  await tilesDrawn(page);
  assert.ok(seen.some((t) => t.status === 200));
  assert.equal(await page.locator('#map .rw-grid').count(), 0);
  await page.close();
});
