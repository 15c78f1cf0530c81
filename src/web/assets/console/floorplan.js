// The floor plan of the Map section: upload an image (PUT projects/{id}/floorplan/,
// multipart), shown under the zones; pin it by dragging its north-west and south-east
// corners (handles.js: pointer or arrow keys) or by two reference points (a point on the
// image, then where it really is on the map, twice: the axis-aligned bounds follow); set its
// opacity with a slider. Save sends PATCH (bounds and opacity), Remove sends DELETE.
// The server answers 404 for a project without a floor plan.
import { L, fetchFloorplan } from '/web/shared/map.js';
import { call, say, coords, act, el } from './core.js';
import { addHandle } from './handles.js';

const $ = (id) => document.getElementById(id);
/** Web Mercator, in which Leaflet stretches an image overlay linearly. */
const mercator = () => L.CRS.EPSG3857;

/** Where (lat, lon) falls on an image drawn over `b` ({south, west, north, east}): {u, v}, 0..1 west→east, north→south. */
export function imageFraction(lat, lon, b) {
  const p = mercator().project(L.latLng(lat, lon));
  const nw = mercator().project(L.latLng(b.north, b.west));
  const se = mercator().project(L.latLng(b.south, b.east));
  return { u: (p.x - nw.x) / (se.x - nw.x), v: (nw.y - p.y) / (nw.y - se.y) };
}

/**
 * The bounds {south, west, north, east} that put two image points ({u, v}) on two map points
 * ({lat, lon}): pairs = [{u, v, lat, lon}, {u, v, lat, lon}]. Linear in Web Mercator, as
 * Leaflet draws an image overlay. Throws an Error saying what is wrong with the points.
 */
export function boundsFromTwoPoints(pairs) {
  const [a, b] = pairs.map((p) => ({ ...p, m: mercator().project(L.latLng(p.lat, p.lon)) }));
  if (Math.abs(a.u - b.u) < 0.05 || Math.abs(a.v - b.v) < 0.05) {
    throw new Error('The two points on the image must be apart both across and down it: pick two points diagonally apart.');
  }
  const width = (a.m.x - b.m.x) / (a.u - b.u);
  const height = (b.m.y - a.m.y) / (a.v - b.v);
  if (!(width > 0 && height > 0)) {
    throw new Error('On the map the two points are the other way round than on the image (the plan would be mirrored): pick them again.');
  }
  const west = a.m.x - a.u * width;
  const north = a.m.y + a.v * height;
  const sw = mercator().unproject(L.point(west, north - height));
  const ne = mercator().unproject(L.point(west + width, north));
  return { south: sw.lat, west: sw.lng, north: ne.lat, east: ne.lng };
}

const PIN_STEPS = [
  'Step 1 of 4: click a point you can recognise on the floor plan image',
  'Step 2 of 4: click where that point really is on the map',
  'Step 3 of 4: click a second point on the image, diagonally away from the first',
  'Step 4 of 4: click where that second point really is on the map',
];

export class FloorplanEditor {
  /** map: the section's ProjectMap. */
  constructor(map) {
    this.map = map;
    this.pid = null;
    this.saved = null;
    this.draft = null;
    this.corners = L.layerGroup();
    this.pinMarks = L.layerGroup();
    this.pin = null;
    this.confirmRemove = false;
    $('fp-upload').addEventListener('click', () => this.upload());
    $('fp-opacity').addEventListener('input', () => this.setOpacity(Number($('fp-opacity').value)));
    $('fp-corners').addEventListener('click', () => this.toggleCorners());
    $('fp-two-points').addEventListener('click', () => this.startPin());
    $('fp-pin-use').addEventListener('click', () => this.useMarkedPoint());
    $('fp-pin-cancel').addEventListener('click', () => this.stopPin('Pinning by two points cancelled.'));
    $('fp-save').addEventListener('click', () => this.save());
    $('fp-revert').addEventListener('click', () => this.show(this.saved));
    $('fp-remove').addEventListener('click', () => this.remove());
  }

  /** Reads the project's floor plan (none: null) and shows it. */
  async load(pid) {
    this.pid = pid;
    this.saved = await fetchFloorplan(call, pid);
    this.show(this.saved);
  }

  /** Forgets the shown project's floor plan (another project was chosen). */
  reset() {
    this.pid = null;
    this.saved = null;
    this.show(null);
  }

  /** Shows `fp` (the server's body, or null) as the draft, dropping unsaved changes. */
  show(fp) {
    this.stopPin();
    this.draft = fp ? { ...fp } : null;
    this.dirty = false;
    this.confirmRemove = false;
    this.map.setFloorplan(this.draft);
    this.placeCorners();
    this.render();
  }

  render() {
    const d = this.draft;
    $('fp-controls').hidden = !d;
    $('fp-upload').textContent = d ? 'Replace floor plan' : 'Upload floor plan';
    $('fp-remove').textContent = this.confirmRemove ? 'Confirm: remove the floor plan' : 'Remove floor plan';
    $('fp-state').textContent = d
      ? `${d.width_px ?? '?'} × ${d.height_px ?? '?'} px image from ${coords(d.south, d.west)} (south-west) to ${coords(d.north, d.east)} (north-east), opacity ${Math.round(d.opacity * 100)} %${this.dirty ? ' — not saved yet' : ''}.`
      : 'No floor plan yet: upload a PNG, JPEG or WebP image of the venue; it is placed on the project centre, then pin it.';
    if (d) {
      $('fp-opacity').value = String(d.opacity);
      $('fp-opacity-value').textContent = `${Math.round(d.opacity * 100)} %`;
    }
  }

  changed() {
    this.dirty = true;
    $('fp-saved-flag')?.remove();
    this.render();
  }

  async upload() {
    const file = $('fp-file').files[0];
    if (!file) {
      say('Choose an image file for the floor plan first.');
      $('fp-file').focus();
      return;
    }
    const pid = this.pid;
    await act('floorplan', async () => {
      const fp = await call(`projects/${pid}/floorplan/`, { method: 'PUT', form: { file: [file, file.name] } });
      if (this.pid !== pid) return;
      this.saved = fp;
      this.show(fp);
      $('fp-file').value = '';
      say('Floor plan uploaded and placed on the project centre: drag its corners or pin it by two points, then save.');
    });
  }

  setOpacity(o) {
    if (!this.draft) return;
    this.draft.opacity = o;
    this.map.floorplan?.setOpacity(o);
    this.changed();
  }

  /** New bounds for the draft (from the corners or the two points). */
  setBounds(b) {
    Object.assign(this.draft, b);
    this.map.floorplan?.setBounds(L.latLngBounds([b.south, b.west], [b.north, b.east]));
    this.placeCorners();
    this.changed();
  }

  toggleCorners() {
    const on = $('fp-corners').getAttribute('aria-pressed') !== 'true';
    $('fp-corners').setAttribute('aria-pressed', String(on));
    this.placeCorners();
    if (on) $('map').querySelector('.rw-corner-handle')?.focus();
  }

  /** The corner handles (when switched on and there is a floor plan), at the draft's corners. */
  placeCorners() {
    const on = !!this.draft && $('fp-corners').getAttribute('aria-pressed') === 'true';
    if (!on) {
      this.corners.clearLayers();
      this.corners.remove();
      return;
    }
    const d = this.draft;
    if (this.corners.getLayers().length) {
      const [nw, se] = this.corners.getLayers();
      nw.setLatLng([d.north, d.west]);
      se.setLatLng([d.south, d.east]);
      return;
    }
    this.map.layers.overlay.addLayer(this.corners);
    const corner = (name, lat, lon, move) =>
      addHandle(this.map, this.corners, lat, lon, {
        className: 'rw-corner-handle',
        data: { corner: name },
        label: (la, lo) => `${name === 'nw' ? 'North-west' : 'South-east'} corner of the floor plan at ${la.toFixed(6)}, ${lo.toFixed(6)}; arrow keys move it`,
        onMove: (la, lo, { final }) => move(la, lo, final),
      });
    corner('nw', d.north, d.west, (la, lo, final) => this.moveCorner({ north: la, west: lo }, final));
    corner('se', d.south, d.east, (la, lo, final) => this.moveCorner({ south: la, east: lo }, final));
  }

  moveCorner(part, final) {
    const b = { south: this.draft.south, west: this.draft.west, north: this.draft.north, east: this.draft.east, ...part };
    if (b.south < b.north && b.west < b.east) {
      Object.assign(this.draft, b);
      this.map.floorplan?.setBounds(L.latLngBounds([b.south, b.west], [b.north, b.east]));
      if (final) this.changed();
    } else if (final) {
      say('A corner cannot cross the other one: the north-west corner stays north-west of the south-east one.');
    }
    if (final) this.placeCorners();
  }

  startPin() {
    if (!this.draft) return;
    this.pin = { pairs: [], step: 0 };
    this.pinMarks.clearLayers();
    this.map.layers.overlay.addLayer(this.pinMarks);
    $('fp-pin').hidden = false;
    this.pinSay();
  }

  stopPin(message) {
    this.pin = null;
    this.pinMarks.clearLayers();
    this.pinMarks.remove();
    $('fp-pin').hidden = true;
    if (message) say(message);
  }

  pinSay(prefix = '') {
    const text = `${prefix}${PIN_STEPS[this.pin.step]} (or move the map's marker there with the arrow keys and press “Use the marked point”).`;
    $('fp-pin-step').textContent = text;
    say(text);
  }

  /** A click on the map while pinning (mapview.js passes every click here). */
  picked(lat, lon) {
    if (this.pin) this.pinPoint(lat, lon);
  }

  useMarkedPoint() {
    const p = this.map.listener;
    if (!p) {
      say('No point is marked yet: click the map, or focus it and move the marker with the arrow keys.');
      return;
    }
    this.pinPoint(p.lat, p.lon);
  }

  pinPoint(lat, lon) {
    const pin = this.pin;
    if (pin.step % 2 === 0) {
      const f = imageFraction(lat, lon, this.draft);
      if (!(f.u >= 0 && f.u <= 1 && f.v >= 0 && f.v <= 1)) {
        this.pinSay('That point is not on the floor plan image. ');
        return;
      }
      pin.pairs.push(f);
    } else {
      Object.assign(pin.pairs[pin.pairs.length - 1], { lat, lon });
    }
    const mark = L.circleMarker([lat, lon], { pane: this.map.panes.editShapes, radius: 7, className: pin.step % 2 ? 'rw-pin-map' : 'rw-pin-image', interactive: false });
    this.pinMarks.addLayer(mark);
    pin.step += 1;
    if (pin.step < PIN_STEPS.length) {
      this.pinSay();
      return;
    }
    try {
      const b = boundsFromTwoPoints(pin.pairs);
      this.stopPin();
      this.setBounds(b);
      say(`Floor plan pinned by two points: from ${coords(b.south, b.west)} to ${coords(b.north, b.east)}. Check it, then save.`);
    } catch (e) {
      this.startPin();
      this.pinSay(`${e.message} `);
    }
  }

  async save() {
    if (!this.draft) return;
    const pid = this.pid;
    const { south, west, north, east, opacity } = this.draft;
    await act('floorplan', async () => {
      const fp = await call(`projects/${pid}/floorplan/`, { method: 'PATCH', body: { south, west, north, east, opacity } });
      if (this.pid !== pid) return;
      this.saved = fp;
      this.show(fp);
      say('Floor plan saved.');
      $('fp-controls').append(el('p', { id: 'fp-saved-flag', class: 'rw-ok rw-small' }, `Saved at ${new Date().toLocaleTimeString()}.`));
    });
  }

  async remove() {
    if (!this.confirmRemove) {
      this.confirmRemove = true;
      this.render();
      say('Press “Confirm: remove the floor plan” to delete the image from the box.');
      return;
    }
    const pid = this.pid;
    await act('floorplan', async () => {
      await call(`projects/${pid}/floorplan/`, { method: 'DELETE' });
      if (this.pid !== pid) return;
      this.saved = null;
      this.show(null);
      say('Floor plan removed.');
    });
  }
}
