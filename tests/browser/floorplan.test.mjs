// Floor plans end to end against a real roundwared with the demo project: a curator uploads
// a PNG the test makes in the console's Map section, moves its north-west corner with the
// keyboard, sets the opacity and saves (PATCH), pins it by two reference points with clicks
// (checked on screen: the two image points land on the two map points) and saves again; the
// visitor page then draws it where the box says, under the speaker zones (checked by pane
// order and by the colours on screen); Remove deletes it (404 afterwards, gone from the map).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, launchBrowser, screenshot, apiCall, staffToken, waitFor, png, pixelAt, violations, visitorReady } from './lib.mjs';

let daemon;
let browser;
let staff;
before(async () => {
  daemon = await startDaemon();
  browser = await launchBrowser();
  staff = await staffToken(daemon);
});
after(async () => {
  await browser?.close();
  await daemon?.stop();
});

const RED = [200, 30, 30];
const BLACK = [0, 0, 0];
/** 200 × 100 px: red, with a black block in its north-west (top-left) fifth, to see it is not flipped. */
const PLAN = png(200, 100, (x, y) => (x < 40 && y < 20 ? BLACK : RED));

const near = (a, b, tol = 12) => a.slice(0, 3).every((v, i) => Math.abs(v - b[i]) <= tol);
const floorplan = () => apiCall(daemon.url, 'projects/1/floorplan/', { token: staff });
const rect = (page, selector) => page.locator(selector).first().evaluate((e) => e.getBoundingClientRect().toJSON());
/** The rectangle of a map element relative to the map (the page may scroll between looks). */
const onMap = (page, selector) =>
  page.locator(selector).first().evaluate((e) => {
    const r = e.getBoundingClientRect();
    const m = document.getElementById('map').getBoundingClientRect();
    return { x: r.x - m.x, y: r.y - m.y, width: r.width, height: r.height };
  });
/** Clicks the map at (x, y) relative to it. */
async function clickMap(page, x, y) {
  const m = await rect(page, '#map');
  await page.mouse.click(m.x + x, m.y + y);
}
/** A metre north in degrees of latitude. */
const M_LAT = 1 / 111195;

async function consoleMap() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${daemon.url}/console/#map`);
  await page.fill('#login-user', daemon.staff.username);
  await page.fill('#login-pass', daemon.staff.password);
  await page.click('#login-submit');
  await page.locator('#tab-map:not([hidden])').waitFor();
  await page.locator('#map .rw-zone').first().waitFor();
  await page.locator('#fp-state').filter({ hasText: /\w/ }).waitFor();
  return { page, errors };
}

const imageLoaded = (page) =>
  waitFor(() => page.locator('#map img.rw-floorplan').evaluate((i) => i.complete && i.naturalWidth === 200), { what: 'the floor plan image drawn' });

test('a floor plan is uploaded, pinned by a corner and by two points, and saved from the console', async () => {
  // The demo comes with its park's site plan; the curator starts from a project without one.
  assert.equal((await floorplan()).width_px, 1040, "the demo's site plan");
  await apiCall(daemon.url, 'projects/1/floorplan/', { method: 'DELETE', token: staff });
  await assert.rejects(floorplan(), /404/, 'the demo project has no floor plan now');
  const { page, errors } = await consoleMap();
  assert.match(await page.textContent('#fp-state'), /No floor plan yet/);
  assert.equal(await page.locator('#map img.rw-floorplan').count(), 0);

  // Upload: the box places it on the project centre, keeping its 2:1 shape.
  await page.setInputFiles('#fp-file', { name: 'plan.png', mimeType: 'image/png', buffer: PLAN });
  await page.click('#fp-upload');
  await imageLoaded(page);
  const placed = await floorplan();
  assert.match(await page.textContent('#fp-state'), /200 × 100 px image/);
  const wide = (placed.east - placed.west) * Math.cos((42.3551 * Math.PI) / 180);
  assert.ok(Math.abs(wide / (placed.north - placed.south) - 2) < 0.05, `2:1 on the ground: ${JSON.stringify(placed)}`);
  assert.ok(placed.south < 42.3551 && placed.north > 42.3551 && placed.west < -71.0656 && placed.east > -71.0656, 'around the centre');
  assert.deepEqual(await violations(page), [], 'the Map section with a floor plan');

  // The north-west corner, 10 m north with the keyboard; opacity to 100 % with the slider's End key.
  await page.click('#fp-corners');
  const nw = page.locator('#map .rw-corner-handle[data-corner="nw"]');
  await nw.focus();
  await page.keyboard.press('Shift+ArrowUp');
  await page.keyboard.press('Shift+ArrowUp');
  assert.match(await nw.getAttribute('aria-label'), /North-west corner of the floor plan at/);
  await page.focus('#fp-opacity');
  await page.keyboard.press('End');
  assert.match(await page.textContent('#fp-state'), /opacity 100 % — not saved yet/);
  await page.click('#fp-save');
  await page.locator('#fp-saved-flag').waitFor();
  const cornered = await floorplan();
  assert.ok(Math.abs(cornered.north - placed.north - 10 * M_LAT) < 0.05 * M_LAT, `north moved 10 m: ${placed.north} → ${cornered.north}`);
  for (const k of ['south', 'west', 'east']) assert.ok(Math.abs(cornered[k] - placed[k]) < 1e-9, `${k} stays`);
  assert.equal(cornered.opacity, 1);
  await page.click('#fp-corners');

  // Two points: a tenth in from the image's north-west corner goes 20 px west of speaker 1's
  // zone; nine tenths in goes to the middle of that zone (the plan stays in the project's view).
  await page.click('#fp-two-points');
  assert.match(await page.textContent('#fp-pin-step'), /Step 1 of 4/);
  const img = await onMap(page, '#map img.rw-floorplan');
  const zone = await onMap(page, '#map .rw-zone[data-id="1"]');
  const picks = [
    [img.x + img.width * 0.1, img.y + img.height * 0.1],
    [zone.x - 20, zone.y + zone.height * 0.3],
    [img.x + img.width * 0.9, img.y + img.height * 0.9],
    [zone.x + zone.width * 0.5, zone.y + zone.height * 0.7],
  ];
  for (const [i, [x, y]] of picks.entries()) {
    await clickMap(page, x, y);
    if (i < 3) await waitFor(async () => (await page.textContent('#fp-pin-step')).includes(`Step ${i + 2} of 4`), { what: `step ${i + 2}` });
  }
  await waitFor(() => page.isHidden('#fp-pin'), { what: 'pinning done' });
  assert.match(await page.textContent('#status'), /pinned by two points/);
  const pinned = await onMap(page, '#map img.rw-floorplan');
  const at = (fx, fy) => [pinned.x + pinned.width * fx, pinned.y + pinned.height * fy];
  for (const [[fx, fy], target] of [
    [[0.1, 0.1], picks[1]],
    [[0.9, 0.9], picks[3]],
  ]) {
    const [x, y] = at(fx, fy);
    assert.ok(Math.abs(x - target[0]) < 2 && Math.abs(y - target[1]) < 2, `image point ${fx},${fy} at ${x},${y}, wanted ${target}`);
  }
  await page.click('#fp-save');
  await page.locator('#fp-saved-flag').waitFor();
  const saved = await floorplan();
  assert.ok(saved.west < cornered.west && saved.north !== cornered.north, `new bounds saved: ${JSON.stringify(saved)}`);
  await screenshot(page, 'console-floorplan');

  // A reload shows the saved placement.
  await page.reload();
  await page.locator('#tab-map:not([hidden])').waitFor();
  await imageLoaded(page);
  const again = await onMap(page, '#map img.rw-floorplan');
  const zoneAgain = await onMap(page, '#map .rw-zone[data-id="1"]');
  // Same place relative to the zone (the view itself may differ).
  const rel = (r, z) => [(r.x - z.x) / z.width, (r.y - z.y) / z.height, r.width / z.width, r.height / z.height];
  rel(again, zoneAgain).forEach((v, i) => assert.ok(Math.abs(v - rel(pinned, zone)[i]) < 0.02, `after a reload: ${rel(again, zoneAgain)} vs ${rel(pinned, zone)}`));
  assert.deepEqual(errors, []);
  await page.close();
});

test('the visitor page draws the floor plan where the box says, under the speaker zones', async () => {
  const fp = await floorplan();
  const speaker = await apiCall(daemon.url, 'speakers/1/', { token: staff });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(`${daemon.url}/`);
  await visitorReady(page);
  await imageLoaded(page);
  const img = await rect(page, '#map img.rw-floorplan');
  const zone = await rect(page, '#map .rw-zone[data-id="1"]');

  // Where: speaker 1's zone (a rectangle in the demo) maps lat/lon to screen; the image's
  // corners must land where its bounds say (a few metres' scale: linear is exact enough).
  const ring = speaker.shape.coordinates[0][0];
  const lons = ring.map((p) => p[0]);
  const lats = ring.map((p) => p[1]);
  const [w, e, s, n] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const sx = (lon) => zone.x + ((lon - w) / (e - w)) * zone.width;
  const sy = (lat) => zone.y + ((n - lat) / (n - s)) * zone.height;
  for (const [got, want] of [
    [img.x, sx(fp.west)],
    [img.x + img.width, sx(fp.east)],
    [img.y, sy(fp.north)],
    [img.y + img.height, sy(fp.south)],
  ]) {
    assert.ok(Math.abs(got - want) < 3, `image edge at ${got}, the bounds put it at ${want}`);
  }

  // Under the zones: its pane is below theirs...
  const z = await page.evaluate(() => {
    const pane = (sel) => document.querySelector(sel).closest('.leaflet-pane');
    const a = pane('#map img.rw-floorplan');
    const b = pane('#map .rw-zone');
    return { plan: Number(getComputedStyle(a).zIndex), zones: Number(getComputedStyle(b).zIndex), siblings: a.parentNode === b.parentNode };
  });
  assert.ok(z.siblings && z.plan < z.zones, JSON.stringify(z));
  // ...and on screen: bare red west of the zone, red tinted by the zone's blue inside it,
  // black in its north-west corner (not flipped).
  const midY = img.y + img.height * 0.6;
  const outside = await pixelAt(page, (img.x + zone.x) / 2, midY);
  assert.ok(near(outside, RED), `outside the zones the plan shows red: ${outside}`);
  const inside = await pixelAt(page, Math.min(zone.x + 20, img.x + img.width - 5), midY);
  assert.ok(!near(inside, RED, 6) && inside[0] > 120 && inside[2] > RED[2] + 8, `inside the zone the plan is tinted by it: ${inside}`);
  const corner = await pixelAt(page, img.x + 4, img.y + 4);
  assert.ok(near(corner, BLACK, 20), `north-west corner black: ${corner}`);
  await screenshot(page, 'visitor-floorplan');
  await page.close();
});

test('Remove deletes the floor plan after a confirmation', async () => {
  const { page, errors } = await consoleMap();
  await imageLoaded(page);
  await page.click('#fp-remove');
  assert.match(await page.textContent('#fp-remove'), /Confirm/);
  await floorplan();
  await page.click('#fp-remove');
  await page.locator('#map img.rw-floorplan').waitFor({ state: 'detached' });
  await assert.rejects(floorplan(), /404/);
  assert.match(await page.textContent('#fp-state'), /No floor plan yet/);
  assert.deepEqual(errors, []);
  await page.close();
});
