// The project map, drawn by the page itself in SVG (no tiles, works offline): speaker zones,
// assets and the listener, in metres east/south of the project centre (an equirectangular
// projection, exact enough over a few kilometres). The listener can be dragged, placed by a
// click, or moved with the arrow keys (Shift: 5× the step) when the map has focus.
//
// new ProjectMap(svg, {onMoveListener(lat, lon, {final}), onSelectAsset(asset), stepM})
//   .setBounds({latitude, longitude, radius_m} | {south, west, north, east})
//   .setSpeakers([{id, shape (GeoJSON MultiPolygon), attenuation_border (GeoJSON LineString)}])
//   .setAssets([{id, latitude, longitude, label?}])  .highlightAsset(id|null)
//   .setListener(lat, lon)  .listener → {lat, lon}|null
// Projection helpers (for editors on top): projectPoint, unprojectPoint, map.toSvg,
// map.fromSvg, map.clientToSvg, and the layer groups map.layers.{speakers, assets, overlay,
// listener}.

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Mean Earth radius in metres. */
export const EARTH_RADIUS_M = 6371008.8;
const RAD = Math.PI / 180;

/** [x, y] in metres (x east, y south: SVG's axes) of (lat, lon) around centre [lat0, lon0]. */
export function projectPoint(lat, lon, centre) {
  const [lat0, lon0] = centre;
  return [(lon - lon0) * RAD * EARTH_RADIUS_M * Math.cos(lat0 * RAD), -(lat - lat0) * RAD * EARTH_RADIUS_M];
}

/** [lat, lon] of SVG point (x, y) in metres around centre [lat0, lon0]. */
export function unprojectPoint(x, y, centre) {
  const [lat0, lon0] = centre;
  return [lat0 - y / (RAD * EARTH_RADIUS_M), lon0 + x / (RAD * EARTH_RADIUS_M * Math.cos(lat0 * RAD))];
}

/** Distance in metres between two (lat, lon) points (haversine). */
export function distanceM(lat1, lon1, lat2, lon2) {
  const a =
    Math.sin(((lat2 - lat1) * RAD) / 2) ** 2 +
    Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * Math.sin(((lon2 - lon1) * RAD) / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Creates an SVG element with attributes. */
export function svgEl(name, attrs = {}) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  return el;
}

/** The rings ([[lon, lat], …]) of a GeoJSON Polygon/MultiPolygon/LineString/MultiLineString. */
export function geoRings(geom) {
  if (!geom || !geom.coordinates) return [];
  switch (geom.type) {
    case 'MultiPolygon':
      return geom.coordinates.flat(1);
    case 'Polygon':
    case 'MultiLineString':
      return geom.coordinates;
    case 'LineString':
      return [geom.coordinates];
    default:
      return [];
  }
}

export class ProjectMap {
  constructor(svg, { onMoveListener, onSelectAsset, stepM = 5 } = {}) {
    this.svg = svg;
    this.onMoveListener = onMoveListener || (() => {});
    this.onSelectAsset = onSelectAsset || null;
    this.stepM = stepM;
    this.centre = null;
    this.radiusM = 100;
    this.speakers = [];
    this.assets = [];
    this.listener = null;
    this.highlighted = null;
    svg.setAttribute('tabindex', svg.getAttribute('tabindex') ?? '0');
    svg.setAttribute('role', 'application');
    svg.setAttribute('aria-roledescription', 'map');
    svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
    svg.classList.add('rw-map');
    svg.replaceChildren();
    this.background = svgEl('rect', { class: 'rw-map-bg' });
    this.layers = {
      grid: svgEl('g', { class: 'rw-grid', 'aria-hidden': 'true' }),
      speakers: svgEl('g', { class: 'rw-speakers' }),
      assets: svgEl('g', { class: 'rw-assets' }),
      overlay: svgEl('g', { class: 'rw-overlay' }),
      listener: svgEl('g', { class: 'rw-listener' }),
    };
    svg.append(this.background, ...Object.values(this.layers));
    this._bindInput();
  }

  /** SVG coordinates {x, y} of (lat, lon). */
  toSvg(lat, lon) {
    const [x, y] = projectPoint(lat, lon, this.centre || [lat, lon]);
    return { x, y };
  }

  /** {lat, lon} of SVG coordinates. */
  fromSvg(x, y) {
    const [lat, lon] = unprojectPoint(x, y, this.centre || [0, 0]);
    return { lat, lon };
  }

  /** SVG coordinates {x, y} of a pointer position on screen. */
  clientToSvg(clientX, clientY) {
    const m = this.svg.getScreenCTM();
    if (!m) return { x: 0, y: 0 };
    const p = new DOMPoint(clientX, clientY).matrixTransform(m.inverse());
    return { x: p.x, y: p.y };
  }

  /** A size in SVG units that looks the same at any zoom (fraction of the view). */
  unit(fraction = 1 / 80) {
    return this.radiusM * 2 * fraction;
  }

  /**
   * The area shown: {latitude, longitude, radius_m} (centre and half-width), or a box
   * {south, west, north, east}.
   */
  setBounds(b) {
    if ('south' in b) {
      this.centre = [(b.south + b.north) / 2, (b.west + b.east) / 2];
      const [x, y] = projectPoint(b.north, b.east, this.centre);
      this.radiusM = Math.max(Math.abs(x), Math.abs(y), 10) * 1.1;
    } else {
      this.centre = [b.latitude, b.longitude];
      this.radiusM = Math.max(10, b.radius_m || 100);
    }
    const r = this.radiusM;
    this.svg.setAttribute('viewBox', `${-r} ${-r} ${2 * r} ${2 * r}`);
    for (const [k, v] of Object.entries({ x: -r, y: -r, width: 2 * r, height: 2 * r })) this.background.setAttribute(k, v);
    this._drawGrid();
    this.redraw();
    return this;
  }

  /** Fits the view to the speakers, assets and listener (plus a margin). */
  fit(marginM = 20) {
    const pts = [];
    for (const s of this.speakers) for (const ring of geoRings(s.shape)) for (const [lon, lat] of ring) pts.push([lat, lon]);
    for (const a of this.assets) if (a.latitude != null) pts.push([a.latitude, a.longitude]);
    if (this.listener) pts.push([this.listener.lat, this.listener.lon]);
    if (!pts.length) return this;
    const lats = pts.map((p) => p[0]);
    const lons = pts.map((p) => p[1]);
    const c = [(Math.min(...lats) + Math.max(...lats)) / 2, (Math.min(...lons) + Math.max(...lons)) / 2];
    const [x, y] = projectPoint(Math.max(...lats), Math.max(...lons), c);
    return this.setBounds({ latitude: c[0], longitude: c[1], radius_m: Math.max(Math.abs(x), Math.abs(y)) + marginM });
  }

  /** Speaker zones: outer shape filled, attenuation border dashed. */
  setSpeakers(speakers) {
    this.speakers = speakers || [];
    this._drawSpeakers();
    return this;
  }

  /** Asset points. */
  setAssets(assets) {
    this.assets = (assets || []).filter((a) => a.latitude != null && a.longitude != null);
    this._drawAssets();
    return this;
  }

  /** Marks one asset (e.g. the one playing). */
  highlightAsset(id) {
    this.highlighted = id;
    for (const el of this.layers.assets.children) el.classList.toggle('rw-playing', el.dataset.id === String(id));
    return this;
  }

  /** Places the listener without telling onMoveListener; the view grows to keep it in sight. */
  setListener(lat, lon) {
    this.listener = { lat, lon };
    if (this.centre) {
      const p = this.toSvg(lat, lon);
      if (Math.max(Math.abs(p.x), Math.abs(p.y)) > this.radiusM * 0.95) return this.fit(25);
    }
    this._drawListener();
    return this;
  }

  /** Redraws everything (after setBounds). */
  redraw() {
    this._drawSpeakers();
    this._drawAssets();
    this._drawListener();
  }

  _path(rings) {
    return rings
      .map(
        (ring) =>
          'M' +
          ring
            .map(([lon, lat]) => {
              const p = this.toSvg(lat, lon);
              return `${p.x.toFixed(2)},${p.y.toFixed(2)}`;
            })
            .join('L') +
          'Z',
      )
      .join('');
  }

  _drawGrid() {
    const g = this.layers.grid;
    g.replaceChildren();
    const r = this.radiusM;
    const step = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000].find((s) => (2 * r) / s <= 10) || 10000;
    for (let v = Math.ceil(-r / step) * step; v <= r; v += step) {
      g.append(svgEl('line', { x1: v, y1: -r, x2: v, y2: r }), svgEl('line', { x1: -r, y1: v, x2: r, y2: v }));
    }
    const label = svgEl('text', { x: -r + this.unit(1 / 50), y: r - this.unit(1 / 50), class: 'rw-scale', 'font-size': this.unit(1 / 30) });
    label.textContent = `grid ${step} m`;
    g.append(label);
  }

  _drawSpeakers() {
    const g = this.layers.speakers;
    g.replaceChildren();
    if (!this.centre) return;
    for (const s of this.speakers) {
      const grp = svgEl('g', { class: 'rw-speaker', 'data-id': s.id });
      const title = svgEl('title');
      title.textContent = `Speaker ${s.id}`;
      grp.append(title, svgEl('path', { d: this._path(geoRings(s.shape)), class: 'rw-zone', 'fill-rule': 'evenodd' }));
      const border = geoRings(s.attenuation_border);
      if (border.length) grp.append(svgEl('path', { d: this._path(border), class: 'rw-border' }));
      g.append(grp);
    }
  }

  _drawAssets() {
    const g = this.layers.assets;
    g.replaceChildren();
    if (!this.centre) return;
    const r = this.unit(1 / 90);
    for (const a of this.assets) {
      const p = this.toSvg(a.latitude, a.longitude);
      const c = svgEl('circle', { cx: p.x, cy: p.y, r, class: 'rw-asset', 'data-id': a.id });
      if (a.id === this.highlighted) c.classList.add('rw-playing');
      const title = svgEl('title');
      title.textContent = a.label || `Recording ${a.id}`;
      c.append(title);
      g.append(c);
    }
  }

  _drawListener() {
    const g = this.layers.listener;
    g.replaceChildren();
    if (!this.centre || !this.listener) return;
    const p = this.toSvg(this.listener.lat, this.listener.lon);
    const r = this.unit(1 / 45);
    const title = svgEl('title');
    title.textContent = `Listener at ${this.listener.lat.toFixed(6)}, ${this.listener.lon.toFixed(6)}`;
    const dot = svgEl('circle', { cx: p.x, cy: p.y, r, class: 'rw-listener-dot' });
    const halo = svgEl('circle', { cx: p.x, cy: p.y, r: r * 2.2, class: 'rw-listener-halo' });
    g.append(title, halo, dot);
  }

  _move(lat, lon, final) {
    this.setListener(lat, lon);
    this.onMoveListener(lat, lon, { final });
  }

  _bindInput() {
    let dragging = false;
    const at = (e) => {
      const p = this.clientToSvg(e.clientX, e.clientY);
      return this.fromSvg(p.x, p.y);
    };
    this.svg.addEventListener('pointerdown', (e) => {
      if (!this.centre || e.button !== 0) return;
      // Editors draw handles into the overlay layer; leave their pointer events alone.
      if (this.layers.overlay.contains(e.target)) return;
      dragging = true;
      this.svg.setPointerCapture?.(e.pointerId);
      const { lat, lon } = at(e);
      this._move(lat, lon, false);
      e.preventDefault();
    });
    this.svg.addEventListener('pointermove', (e) => {
      if (!dragging) return;
      const { lat, lon } = at(e);
      this._move(lat, lon, false);
    });
    const end = (e) => {
      if (!dragging) return;
      dragging = false;
      const { lat, lon } = at(e);
      this._move(lat, lon, true);
    };
    this.svg.addEventListener('pointerup', end);
    this.svg.addEventListener('pointercancel', () => (dragging = false));
    this.svg.addEventListener('click', (e) => {
      if (!this.onSelectAsset) return;
      const id = e.target?.dataset?.id;
      if (id && e.target.classList.contains('rw-asset')) {
        const a = this.assets.find((x) => String(x.id) === id);
        if (a) this.onSelectAsset(a);
      }
    });
    this.svg.addEventListener('keydown', (e) => {
      const dirs = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
      const d = dirs[e.key];
      if (!d || !this.centre) return;
      e.preventDefault();
      const start = this.listener || { lat: this.centre[0], lon: this.centre[1] };
      const p = this.toSvg(start.lat, start.lon);
      const step = this.stepM * (e.shiftKey ? 5 : 1);
      const { lat, lon } = this.fromSvg(p.x + d[0] * step, p.y + d[1] * step);
      this._move(lat, lon, true);
    });
  }
}
