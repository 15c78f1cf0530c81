// The project map of the visitor page and the console, on Leaflet 1.9.4 (vendored under
// /web/vendor/; nothing comes from the internet). The pages preload Leaflet (<link
// rel="modulepreload">) and this module loads it in parallel with their first API calls:
// await `leafletReady` (or use ProjectMap.create) before using `L`. Web Mercator (EPSG:3857,
// Leaflet's default) zoomable to 22 for indoor floor plans. Drawn bottom to top: the base
// layer (the box's offline tiles when it has them, else a plain grid with a metric scale),
// the floor plan, speaker zones with their dashed attenuation borders, recordings, the live
// layer, the listener, editor handles. The listener is dragged, placed by a click, or moved
// with the arrow keys (Shift: 5× the step) when the map itself has focus; + and − zoom.
// Dragging elsewhere pans.
//
// await ProjectMap.create(el, {onMoveListener(lat, lon, {final, via: 'drag'|'click'|'key'}), onSelectAsset(asset), stepM})
//   .setBounds({latitude, longitude, radius_m} | {south, west, north, east})  .fit(marginM)
//   .setSpeakers([{id, shape (GeoJSON MultiPolygon), attenuation_border (GeoJSON LineString)}])
//   .setAssets([{id, latitude, longitude, label?}])  .highlightAsset(id|null)
//   .setListener(lat, lon)  .listener → {lat, lon}|null
//   .setTiles(tilejson|null)  .setFloorplan({url, south, west, north, east, opacity}|null)
// For editors on top: map.leaflet (the L.Map), map.panes (pane names), map.layers (layer
// groups), map.floorplan (the L.ImageOverlay or null); helpers projectPoint,
// unprojectPoint, offsetM, distanceM, geoRings; fetchTiles / fetchFloorplan read what the box
// has (null when it has none).

/** Leaflet (window.L), set once `leafletReady` resolves (a live binding for importers). */
export let L = globalThis.L;

/** Resolves to Leaflet once loaded (its UMD build sets window.L when run as a module too). */
export const leafletReady = (L ? Promise.resolve() : import('/web/vendor/leaflet-1.9.4/leaflet.js')).then(() => {
  L = globalThis.L;
  if (!L) throw new Error('Leaflet did not load from /web/vendor/leaflet-1.9.4/leaflet.js');
  return L;
});

/** Mean Earth radius in metres. */
export const EARTH_RADIUS_M = 6371008.8;
const RAD = Math.PI / 180;

/** [x, y] in metres (x east, y south) of (lat, lon) around centre [lat0, lon0] (equirectangular). */
export function projectPoint(lat, lon, centre) {
  const [lat0, lon0] = centre;
  return [(lon - lon0) * RAD * EARTH_RADIUS_M * Math.cos(lat0 * RAD), -(lat - lat0) * RAD * EARTH_RADIUS_M];
}

/** [lat, lon] of point (x, y) in metres (x east, y south) around centre [lat0, lon0]. */
export function unprojectPoint(x, y, centre) {
  const [lat0, lon0] = centre;
  return [lat0 - y / (RAD * EARTH_RADIUS_M), lon0 + x / (RAD * EARTH_RADIUS_M * Math.cos(lat0 * RAD))];
}

/** {lat, lon} of the point `east` metres east and `north` metres north of (lat, lon). */
export function offsetM(lat, lon, east, north) {
  const [la, lo] = unprojectPoint(east, -north, [lat, lon]);
  return { lat: la, lon: lo };
}

/** Distance in metres between two (lat, lon) points (haversine). */
export function distanceM(lat1, lon1, lat2, lon2) {
  const a =
    Math.sin(((lat2 - lat1) * RAD) / 2) ** 2 +
    Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * Math.sin(((lon2 - lon1) * RAD) / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
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

/** Leaflet [lat, lng] rings of GeoJSON [lon, lat] rings. */
export const latLngRings = (rings) => rings.map((ring) => ring.map(([lon, lat]) => [lat, lon]));

/** A GeoJSON (Multi)Polygon as Leaflet polygon coordinates ([[outer, holes…], …]). */
function polygonLatLngs(geom) {
  if (!geom || !geom.coordinates) return [];
  const polys = geom.type === 'Polygon' ? [geom.coordinates] : geom.type === 'MultiPolygon' ? geom.coordinates : [];
  return polys.map(latLngRings);
}

/** Reads a JSON resource of the box, or null when it answers 404 (it has none). */
async function orNone(promise) {
  try {
    return await promise;
  } catch (e) {
    if (e && e.status === 404) return null;
    throw e;
  }
}

/** The box's offline tiles (TileJSON from /tiles/tile.json) or null; get(path) is an api()-like call. */
export const fetchTiles = (get) => orNone(get('/tiles/tile.json'));

/** The project's floor plan ({url, south, west, north, east, opacity, …}) or null. */
export const fetchFloorplan = (get, projectId) => orNone(get(`projects/${projectId}/floorplan/`));

/** Plain text of an attribution that may hold HTML (tile sets carry links), escaped for Leaflet. */
function attributionText(html) {
  const text = new DOMParser().parseFromString(String(html || ''), 'text/html').body.textContent || '';
  const div = document.createElement('div');
  div.textContent = text.trim();
  return div.innerHTML;
}

/** The plain grid drawn when the box has no tiles: one square per grid tile, CSS borders. */
function gridLayer() {
  const Grid = L.GridLayer.extend({
    createTile() {
      const d = document.createElement('div');
      d.className = 'rw-grid-tile';
      return d;
    },
  });
  return new Grid({ tileSize: 128, className: 'rw-grid', maxZoom: 22 });
}

const ARROWS = { ArrowUp: [0, 1], ArrowDown: [0, -1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };

/** The Leaflet panes of the map, bottom to top (z-index). */
const PANES = { floorplan: 250, zones: 410, assets: 420, live: 430, listener: 620, editShapes: 630, handles: 640 };

export class ProjectMap {
  /** A ProjectMap on `container` once Leaflet is loaded. */
  static async create(container, options) {
    await leafletReady;
    return new ProjectMap(container, options);
  }

  /** Needs Leaflet loaded (await leafletReady), else use ProjectMap.create. */
  constructor(container, { onMoveListener, onSelectAsset, stepM = 5 } = {}) {
    if (!L) throw new Error('ProjectMap before Leaflet loaded: await leafletReady or use ProjectMap.create');
    this.container = container;
    this.onMoveListener = onMoveListener || (() => {});
    this.onSelectAsset = onSelectAsset || null;
    this.stepM = stepM;
    this.centre = null;
    this.speakers = [];
    this.assets = [];
    this.listener = null;
    this.highlighted = null;
    this.floorplan = null;
    this.tiles = null;
    this._wanted = null;
    this._painted = false;
    this._dragging = false;
    this._queued = false;
    container.classList.add('rw-map');
    container.tabIndex = 0;
    container.setAttribute('role', 'application');
    container.setAttribute('aria-roledescription', 'map');
    const map = L.map(container, {
      maxZoom: 22,
      minZoom: 2,
      zoomSnap: 0.25,
      // The arrow keys walk the listener (below), so Leaflet's own keyboard panning is off.
      keyboard: false,
      boxZoom: false,
      worldCopyJump: false,
    });
    this.leaflet = map;
    map.attributionControl.setPrefix('<a href="/web/vendor/leaflet-1.9.4/README.md">Leaflet</a>');
    L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(map);
    map.setView([0, 0], 2);
    this.panes = {};
    for (const [name, z] of Object.entries(PANES)) {
      this.panes[name] = `rw-${name}`;
      map.createPane(this.panes[name]).style.zIndex = String(z);
    }
    // Added with the first real view (not for the placeholder view above).
    this.grid = gridLayer();
    this.layers = {
      speakers: L.layerGroup().addTo(map),
      assets: L.layerGroup().addTo(map),
      live: L.layerGroup().addTo(map),
      listener: L.layerGroup().addTo(map),
      overlay: L.layerGroup().addTo(map),
    };
    this._bindInput();
    // Hidden when made (a console tab) or resized: Leaflet needs to measure again.
    new ResizeObserver(() => {
      map.invalidateSize({ pan: false });
      if (this._wanted && this._sized()) this._applyView();
    }).observe(container);
  }

  _sized() {
    return this.container.clientWidth > 0 && this.container.clientHeight > 0;
  }

  /**
   * Shows `bounds` (an L.LatLngBounds) at the end of the current task (several calls in a row,
   * like setBounds then fit, cost one view change), or once the container has a size.
   */
  _show(bounds) {
    this._wanted = bounds;
    if (!this._queued) {
      this._queued = true;
      queueMicrotask(() => {
        this._queued = false;
        if (this._wanted && this._sized()) this._applyView();
      });
    }
    return this;
  }

  _applyView() {
    const b = this._wanted;
    this._wanted = null;
    this.leaflet.fitBounds(b, { animate: false, padding: [8, 8] });
    if (!this.tiles && !this.leaflet.hasLayer(this.grid)) this.grid.addTo(this.leaflet);
    if (!this._painted) {
      this._painted = true;
      // After the frame that draws the first view: the first map paint (first-paint.test.mjs).
      requestAnimationFrame(() => setTimeout(() => performance.mark('rw-map-painted'), 0));
    }
  }

  /**
   * The area shown: {latitude, longitude, radius_m} (centre and half-width), or a box
   * {south, west, north, east}.
   */
  setBounds(b) {
    let bounds;
    if ('south' in b) {
      bounds = L.latLngBounds([b.south, b.west], [b.north, b.east]);
    } else {
      const r = Math.max(10, b.radius_m || 100);
      const sw = offsetM(b.latitude, b.longitude, -r, -r);
      const ne = offsetM(b.latitude, b.longitude, r, r);
      bounds = L.latLngBounds([sw.lat, sw.lon], [ne.lat, ne.lon]);
    }
    const c = bounds.getCenter();
    this.centre = [c.lat, c.lng];
    return this._show(bounds);
  }

  /** Fits the view to the speakers, assets and listener (plus a margin in metres). */
  fit(marginM = 20) {
    const pts = [];
    for (const s of this.speakers) for (const ring of geoRings(s.shape)) for (const [lon, lat] of ring) pts.push([lat, lon]);
    for (const a of this.assets) pts.push([a.latitude, a.longitude]);
    if (this.listener) pts.push([this.listener.lat, this.listener.lon]);
    if (!pts.length) return this;
    const b = L.latLngBounds(pts);
    const sw = offsetM(b.getSouth(), b.getWest(), -marginM, -marginM);
    const ne = offsetM(b.getNorth(), b.getEast(), marginM, marginM);
    return this.setBounds({ south: sw.lat, west: sw.lon, north: ne.lat, east: ne.lon });
  }

  /** Speaker zones: outer shape filled, attenuation border dashed. */
  setSpeakers(speakers) {
    this.speakers = speakers || [];
    const g = this.layers.speakers;
    g.clearLayers();
    for (const s of this.speakers) {
      const zone = L.polygon(polygonLatLngs(s.shape), { pane: this.panes.zones, className: 'rw-zone', interactive: false });
      g.addLayer(zone);
      label(zone, { id: s.id }, `Speaker ${s.id}`);
      const border = geoRings(s.attenuation_border);
      if (border.length) {
        const line = L.polyline(latLngRings(border), { pane: this.panes.zones, className: 'rw-border', interactive: false });
        g.addLayer(line);
        label(line, { id: s.id }, null);
      }
    }
    return this;
  }

  /** Recording points. */
  setAssets(assets) {
    this.assets = (assets || []).filter((a) => a.latitude != null && a.longitude != null);
    const g = this.layers.assets;
    g.clearLayers();
    for (const a of this.assets) {
      const dot = L.circleMarker([a.latitude, a.longitude], {
        pane: this.panes.assets,
        radius: 6,
        className: 'rw-asset',
        interactive: !!this.onSelectAsset,
        bubblingMouseEvents: false,
      });
      if (this.onSelectAsset) dot.on('click', () => this.onSelectAsset(a));
      g.addLayer(dot);
      label(dot, { id: a.id }, a.label || `Recording ${a.id}`);
    }
    return this.highlightAsset(this.highlighted);
  }

  /** Marks one recording (e.g. the one playing). */
  highlightAsset(id) {
    this.highlighted = id;
    this.layers.assets.eachLayer((dot) => {
      const on = dot.getElement()?.dataset.id === String(id);
      dot.getElement()?.classList.toggle('rw-playing', on);
      if (on) dot.bringToFront();
    });
    return this;
  }

  /** Places the listener without telling onMoveListener; the view grows to keep it in sight. */
  setListener(lat, lon) {
    this.listener = { lat, lon };
    if (!this.marker) {
      this.marker = L.marker([lat, lon], {
        pane: this.panes.listener,
        draggable: true,
        keyboard: false,
        icon: L.divIcon({ className: 'rw-listener', html: '<span class="rw-listener-halo"></span><span class="rw-listener-dot"></span>', iconSize: [44, 44] }),
      });
      this.marker.on('dragstart', () => (this._dragging = true));
      this.marker.on('drag', () => this._dragged(false));
      this.marker.on('dragend', () => {
        this._dragging = false;
        this._dragged(true);
      });
      this.layers.listener.addLayer(this.marker);
    } else {
      this.marker.setLatLng([lat, lon]);
    }
    this.marker.getElement()?.setAttribute('title', `Listener at ${lat.toFixed(6)}, ${lon.toFixed(6)}`);
    // Out of sight (walked off with the keys, or a far GPS fix): show it with the project.
    if (!this._dragging && !this._wanted && this._sized() && !this.leaflet.getBounds().pad(-0.05).contains([lat, lon])) return this.fit(25);
    return this;
  }

  /** The box's offline tiles (TileJSON) as the base layer, or null for the plain grid. */
  setTiles(tj) {
    if (this.tiles) this.tiles.remove();
    this.tiles = null;
    if (tj && Array.isArray(tj.tiles) && tj.tiles.length) {
      const [w, s, e, n] = Array.isArray(tj.bounds) && tj.bounds.length === 4 ? tj.bounds : [-180, -85.0511, 180, 85.0511];
      const maxNative = Number.isFinite(tj.maxzoom) ? tj.maxzoom : 18;
      this.tiles = L.tileLayer(tj.tiles[0], {
        className: 'rw-tiles',
        minZoom: 0,
        maxZoom: 22,
        minNativeZoom: Number.isFinite(tj.minzoom) ? tj.minzoom : 0,
        // Deeper zooms than the tile set has upscale its deepest tiles.
        maxNativeZoom: maxNative,
        bounds: L.latLngBounds([s, w], [n, e]),
        attribution: attributionText(tj.attribution),
      }).addTo(this.leaflet);
      this.grid.remove();
    } else if (this._painted && !this.leaflet.hasLayer(this.grid)) {
      this.grid.addTo(this.leaflet);
    }
    return this;
  }

  /** The floor plan image under the zones, or null for none. */
  setFloorplan(fp) {
    if (this.floorplan) this.floorplan.remove();
    this.floorplan = null;
    if (fp && fp.url) {
      this.floorplan = L.imageOverlay(fp.url, [[fp.south, fp.west], [fp.north, fp.east]], {
        pane: this.panes.floorplan,
        opacity: fp.opacity ?? 1,
        className: 'rw-floorplan',
        alt: 'Floor plan of the venue',
        interactive: false,
      }).addTo(this.leaflet);
    }
    return this;
  }

  _dragged(final) {
    const p = this.marker.getLatLng();
    this.listener = { lat: p.lat, lon: p.lng };
    this.onMoveListener(p.lat, p.lng, { final, via: 'drag' });
  }

  _move(lat, lon, via) {
    this.setListener(lat, lon);
    this.onMoveListener(lat, lon, { final: true, via });
  }

  _bindInput() {
    const map = this.leaflet;
    map.on('click', (e) => this.centre && this._move(e.latlng.lat, e.latlng.lng, 'click'));
    this.container.addEventListener('keydown', (e) => {
      // Only the map itself: a focused handle or control inside it does its own keys.
      if (e.target !== this.container || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === '+' || e.key === '=' || e.key === '-' || e.key === '_') {
        e.preventDefault();
        if (e.key === '+' || e.key === '=') map.zoomIn();
        else map.zoomOut();
        return;
      }
      const d = ARROWS[e.key];
      if (!d || !this.centre) return;
      e.preventDefault();
      const start = this.listener || { lat: this.centre[0], lon: this.centre[1] };
      const step = this.stepM * (e.shiftKey ? 5 : 1);
      const p = offsetM(start.lat, start.lon, d[0] * step, d[1] * step);
      this._move(p.lat, p.lon, 'key');
    });
  }
}

/** Tags a vector layer's SVG element: data attributes and a <title> (tooltip, name). */
function label(layer, data, title) {
  const el = layer.getElement();
  if (!el) return;
  for (const [k, v] of Object.entries(data)) el.dataset[k] = String(v);
  if (title) {
    const t = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    t.textContent = title;
    el.append(t);
  }
}
