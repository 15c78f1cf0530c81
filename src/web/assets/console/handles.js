// The console's map handles: a round, focusable, draggable marker on a ProjectMap (shape
// vertices, floor plan corners). Drag it with a pointer, or focus it (Tab) and move it with
// the arrow keys: 1 m a press, Shift 5 m. The owner hears every move through onMove.
import { L, offsetM } from '/web/shared/map.js';

const ARROWS = { ArrowUp: [0, 1], ArrowDown: [0, -1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };

/**
 * Adds a handle to `group` (an L.LayerGroup on map.leaflet) at (lat, lon). label(lat, lon)
 * names it for screen readers (kept up to date); onMove(lat, lon, {final}) is called while it
 * is dragged (final at the end) and after each key press (final). `data` goes on the element
 * as data-* attributes. Returns the L.Marker.
 */
export function addHandle(map, group, lat, lon, { label, onMove, className = '', data = {} }) {
  const marker = L.marker([lat, lon], {
    pane: map.panes.handles,
    draggable: true,
    keyboard: true,
    icon: L.divIcon({ className: `rw-handle ${className}`, html: '<span class="rw-handle-dot"></span>', iconSize: [36, 36] }),
  });
  group.addLayer(marker);
  const el = marker.getElement();
  for (const [k, v] of Object.entries(data)) el.dataset[k] = String(v);
  const named = () => {
    const p = marker.getLatLng();
    el.setAttribute('aria-label', label(p.lat, p.lng));
  };
  named();
  const moved = (final) => {
    const p = marker.getLatLng();
    named();
    onMove(p.lat, p.lng, { final });
  };
  marker.on('drag', () => moved(false));
  marker.on('dragend', () => moved(true));
  el.addEventListener('keydown', (e) => {
    const d = ARROWS[e.key];
    if (!d) return;
    e.preventDefault();
    e.stopPropagation();
    const step = e.shiftKey ? 5 : 1;
    const p = marker.getLatLng();
    const q = offsetM(p.lat, p.lng, d[0] * step, d[1] * step);
    marker.setLatLng([q.lat, q.lon]);
    moved(true);
  });
  return marker;
}
