// Vertex editing of one speaker's shape on top of the shared ProjectMap: round handles in the
// map's overlay layer, dragged with a pointer or moved with the arrow keys (1 m, Shift 5 m).
// It edits a copy of the GeoJSON MultiPolygon; the caller saves `geometry()` (PATCH
// speakers/{id}/ shape). Closed rings stay closed: moving the first vertex moves the last.
import { svgEl } from '/web/shared/map.js';

const same = (a, b) => a && b && a[0] === b[0] && a[1] === b[1];

export class ShapeEditor {
  /** map: a ProjectMap; onChange(geometry) after every move. */
  constructor(map, { onChange } = {}) {
    this.map = map;
    this.onChange = onChange || (() => {});
    this.group = svgEl('g', { class: 'rw-shape-edit' });
    this.coords = null;
    this.speakerId = null;
  }

  /** Starts editing a speaker ({id, shape}). */
  edit(speaker) {
    this.speakerId = speaker.id;
    const shape = speaker.shape || { type: 'MultiPolygon', coordinates: [] };
    const polys = shape.type === 'Polygon' ? [shape.coordinates] : shape.coordinates;
    this.coords = JSON.parse(JSON.stringify(polys));
    this.map.layers.overlay.append(this.group);
    this.draw();
  }

  /** Stops editing and removes the handles. */
  stop() {
    this.group.remove();
    this.group.replaceChildren();
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

  /** Moves vertex (p, r, v) to (lat, lon). */
  moveVertex(p, r, v, lat, lon) {
    const ring = this.coords[p][r];
    const closed = same(ring[0], ring[ring.length - 1]);
    ring[v] = [lon, lat];
    if (closed && v === 0) ring[ring.length - 1] = [lon, lat];
    this.draw(`${p}-${r}-${v}`);
    this.onChange(this.geometry());
  }

  draw(keepFocus) {
    const outline = svgEl('path', { d: this.outlinePath(), class: 'rw-edit-outline', 'fill-rule': 'evenodd', 'aria-hidden': 'true' });
    const handles = this.vertices().map((h, i) => this.handle(h, i));
    this.group.replaceChildren(outline, ...handles);
    if (keepFocus) this.group.querySelector(`[data-key="${keepFocus}"]`)?.focus();
  }

  handle(h, i) {
    const map = this.map;
    const q = map.toSvg(h.lat, h.lon);
    const key = `${h.p}-${h.r}-${h.v}`;
    // A visible dot inside a larger transparent target (fingers on a phone need ~44 px).
    const r = map.unit(1 / 55);
    const dot = svgEl('circle', { cx: q.x, cy: q.y, r, class: 'rw-vertex' });
    const hit = svgEl('circle', { cx: q.x, cy: q.y, r: r * 2.5, class: 'rw-vertex-hit' });
    const c = svgEl('g', {
      class: 'rw-vertex-handle',
      tabindex: 0,
      role: 'button',
      'data-key': key,
      'data-index': i,
      'aria-label': `Vertex ${i + 1} of speaker ${this.speakerId} at ${h.lat.toFixed(6)}, ${h.lon.toFixed(6)}; arrow keys move it`,
    });
    c.append(hit, dot);
    let dragging = false;
    c.addEventListener('pointerdown', (e) => {
      dragging = true;
      c.setPointerCapture?.(e.pointerId);
      e.preventDefault();
      e.stopPropagation();
    });
    const follow = (e) => {
      const s = map.clientToSvg(e.clientX, e.clientY);
      const { lat, lon } = map.fromSvg(s.x, s.y);
      const ring = this.coords[h.p][h.r];
      const closed = same(ring[0], ring[ring.length - 1]);
      ring[h.v] = [lon, lat];
      if (closed && h.v === 0) ring[ring.length - 1] = [lon, lat];
      for (const k of [dot, hit]) {
        k.setAttribute('cx', s.x);
        k.setAttribute('cy', s.y);
      }
      this.group.firstChild?.setAttribute('d', this.outlinePath());
    };
    c.addEventListener('pointermove', (e) => {
      if (dragging) follow(e);
    });
    const end = (e) => {
      if (!dragging) return;
      dragging = false;
      follow(e);
      this.draw(key);
      this.onChange(this.geometry());
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', () => (dragging = false));
    c.addEventListener('keydown', (e) => {
      const dirs = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
      const dir = dirs[e.key];
      if (!dir) return;
      e.preventDefault();
      e.stopPropagation();
      const step = e.shiftKey ? 5 : 1;
      const p = map.toSvg(h.lat, h.lon);
      const { lat, lon } = map.fromSvg(p.x + dir[0] * step, p.y + dir[1] * step);
      this.moveVertex(h.p, h.r, h.v, lat, lon);
    });
    return c;
  }

  outlinePath() {
    return this.coords
      .flat(1)
      .map((ring) => 'M' + ring.map(([lon, lat]) => { const q = this.map.toSvg(lat, lon); return `${q.x.toFixed(2)},${q.y.toFixed(2)}`; }).join('L') + 'Z')
      .join('');
  }
}
