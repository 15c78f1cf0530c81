// Vertex editing of one speaker's shape on top of the shared ProjectMap: a handle per vertex
// (console/handles.js: drag, or focus and arrow keys, 1 m, Shift 5 m) over a dashed outline.
// It edits a copy of the GeoJSON MultiPolygon; the caller saves `geometry()` (PATCH
// speakers/{id}/ shape). Closed rings stay closed: moving the first vertex moves the last.
import { L, latLngRings } from '/web/shared/map.js';
import { addHandle } from './handles.js';

const same = (a, b) => a && b && a[0] === b[0] && a[1] === b[1];

export class ShapeEditor {
  /** map: a ProjectMap; onChange(geometry) after every finished move (drag end, key press). */
  constructor(map, { onChange } = {}) {
    this.map = map;
    this.onChange = onChange || (() => {});
    this.group = L.layerGroup();
    this.outline = null;
    this.coords = null;
    this.speakerId = null;
  }

  /** Starts editing a speaker ({id, shape}). */
  edit(speaker) {
    this.stop();
    this.speakerId = speaker.id;
    const shape = speaker.shape || { type: 'MultiPolygon', coordinates: [] };
    const polys = shape.type === 'Polygon' ? [shape.coordinates] : shape.coordinates;
    this.coords = JSON.parse(JSON.stringify(polys));
    this.map.layers.overlay.addLayer(this.group);
    this.outline = L.polygon(this.latLngs(), { pane: this.map.panes.editShapes, className: 'rw-edit-outline', interactive: false });
    this.group.addLayer(this.outline);
    this.vertices().forEach((h, i) =>
      addHandle(this.map, this.group, h.lat, h.lon, {
        className: 'rw-vertex-handle',
        data: { key: `${h.p}-${h.r}-${h.v}`, index: i },
        label: (lat, lon) => `Vertex ${i + 1} of speaker ${this.speakerId} at ${lat.toFixed(6)}, ${lon.toFixed(6)}; arrow keys move it`,
        onMove: (lat, lon, { final }) => this.moveVertex(h.p, h.r, h.v, lat, lon, final),
      }),
    );
  }

  /** Stops editing and removes the handles. */
  stop() {
    this.group.clearLayers();
    this.group.remove();
    this.outline = null;
    this.coords = null;
    this.speakerId = null;
  }

  /** The edited shape as GeoJSON. */
  geometry() {
    return { type: 'MultiPolygon', coordinates: this.coords };
  }

  /** The editable vertices: [{p, r, v, lat, lon}] (closing duplicates left out). */
  vertices() {
    const out = [];
    (this.coords || []).forEach((poly, p) =>
      poly.forEach((ring, r) => {
        const n = same(ring[0], ring[ring.length - 1]) ? ring.length - 1 : ring.length;
        for (let v = 0; v < n; v++) out.push({ p, r, v, lon: ring[v][0], lat: ring[v][1] });
      }),
    );
    return out;
  }

  /** Moves vertex (p, r, v) to (lat, lon); `final` (not mid-drag) tells onChange. */
  moveVertex(p, r, v, lat, lon, final = true) {
    const ring = this.coords[p][r];
    const closed = same(ring[0], ring[ring.length - 1]);
    ring[v] = [lon, lat];
    if (closed && v === 0) ring[ring.length - 1] = [lon, lat];
    this.outline?.setLatLngs(this.latLngs());
    if (final) this.onChange(this.geometry());
  }

  latLngs() {
    return this.coords.map(latLngRings);
  }
}
