// The Map section: the project's speakers and recordings on the shared Leaflet map, with a
// list of both as the text alternative. A speaker's shape is edited with ShapeEditor and saved
// with PATCH speakers/{id}/ (the server derives the borders again). The listeners of the
// project's live streams are drawn too (streams/status/, every 3 s). The floor plan has its
// own editor (floorplan.js); the box's offline tiles, when it has them, are the base layer.
import { L, ProjectMap, fetchTiles } from '/web/shared/map.js';
import { state, call, say, el, coords, act, showError, LoggedOut, Poller } from './core.js';
import { ShapeEditor } from './shape-edit.js';
import { FloorplanEditor } from './floorplan.js';
const $ = (id) => document.getElementById(id);

/** The Map section. */
export function mapSection() {
  let map = null;
  let editor = null;
  let plan = null;
  let speakers = [];
  let assets = [];
  let editing = null;
  let loadedFor = null;
  let dirty = false;

  let made = null;
  /** Makes the map and its editors once (Leaflet loads in the meantime). */
  function ensureMap() {
    made ??= (async () => {
      map = await ProjectMap.create($('map'), {
        onMoveListener: (lat, lon, { final, via }) => {
          if (final) $('map-point').textContent = `Point on the map: ${coords(lat, lon)}`;
          if (final && via === 'click') plan.picked(lat, lon);
        },
      });
      plan = new FloorplanEditor(map);
      editor = new ShapeEditor(map, {
        onChange: (geometry) => {
          dirty = true;
          drawSpeakers(geometry);
          listVertices();
        },
      });
      $('shape-save').addEventListener('click', save);
      $('shape-revert').addEventListener('click', () => editor && editing && startEdit(editing.id));
      $('shape-close').addEventListener('click', stopEdit);
    })();
    return made;
  }

  function drawSpeakers(editedGeometry) {
    map.setSpeakers(
      speakers.map((s) => (editing && s.id === editing.id && editedGeometry ? { ...s, shape: editedGeometry, attenuation_border: null } : s)),
    );
  }

  async function load() {
    await ensureMap();
    const pid = state.projectId;
    const [sp, as] = await Promise.all([call('speakers/', { query: { project_id: pid } }), call('assets/', { query: { project_id: pid } })]);
    speakers = sp;
    assets = as;
    const p = state.project;
    if (loadedFor !== pid) {
      map.setBounds({ latitude: p.latitude, longitude: p.longitude, radius_m: 150 });
      map.setSpeakers(speakers).setAssets(assets.map((a) => ({ ...a, label: `#${a.id} ${a.description || ''}` })));
      map.fit(25);
      loadedFor = pid;
      await Promise.all([plan.load(pid), fetchTiles(call).then((t) => map.setTiles(t))]);
    } else {
      map.setAssets(assets.map((a) => ({ ...a, label: `#${a.id} ${a.description || ''}` })));
      drawSpeakers(editing ? editor.geometry() : null);
    }
    renderLists();
  }

  function renderLists() {
    $('speaker-list').replaceChildren(
      ...speakers.map((s) =>
        el(
          'li',
          { class: 'rw-row' },
          el('span', {}, `Speaker ${s.id}${s.code ? ` “${s.code}”` : ''} · ${s.activeyn ? 'active' : 'inactive'} · volume ${s.minvolume}–${s.maxvolume} · fades over ${s.attenuation_distance} m`),
          el('button', { type: 'button', class: 'rw-secondary rw-small-btn', 'data-speaker': s.id, onclick: () => startEdit(s.id) }, 'Edit shape', el('span', { class: 'visually-hidden' }, ` of speaker ${s.id}`)),
        ),
      ),
    );
    $('map-assets').replaceChildren(
      ...assets.map((a) => el('li', {}, `#${a.id} ${a.description || '(no description)'}: ${a.latitude != null ? coords(a.latitude, a.longitude) : 'no location'}${a.submitted ? '' : ' (not submitted)'}`)),
    );
  }

  function startEdit(id) {
    const s = speakers.find((x) => x.id === id);
    if (!s) return;
    editor.stop();
    editing = s;
    dirty = false;
    editor.edit(s);
    drawSpeakers(null);
    $('shape-id').textContent = String(id);
    $('shape-panel').hidden = false;
    listVertices();
    say(`Editing the shape of speaker ${id}: drag a handle, or focus one and use the arrow keys.`);
    $('map').querySelector('.rw-vertex-handle')?.focus();
  }

  function stopEdit() {
    if (dirty) say(`Unsaved changes to speaker ${editing?.id} were dropped.`);
    editor.stop();
    editing = null;
    dirty = false;
    $('shape-panel').hidden = true;
    drawSpeakers(null);
  }

  function listVertices() {
    $('vertex-list').replaceChildren(...editor.vertices().map((v) => el('li', {}, coords(v.lat, v.lon))));
  }

  async function save() {
    if (!editing) return;
    const id = editing.id;
    const shape = editor.geometry();
    await act('shape', async () => {
      const updated = await call(`speakers/${id}/`, { method: 'PATCH', body: { shape } });
      speakers = speakers.map((s) => (s.id === id ? updated : s));
      editing = updated;
      dirty = false;
      editor.stop();
      editor.edit(updated);
      drawSpeakers(null);
      listVertices();
      say(`Shape of speaker ${id} saved.`);
      $('shape-saved-flag')?.remove();
      $('shape-panel').append(el('p', { id: 'shape-saved-flag', class: 'rw-ok rw-small' }, `Saved at ${new Date().toLocaleTimeString()}.`));
    });
  }

  let listenerLayer = null;

  /** The project's live listeners as small squares (their own pane under the editor's). */
  async function drawListeners() {
    if (!map) return;
    const status = await call('streams/status/');
    const here = (status.streams || []).filter((st) => st.project_id === state.projectId && st.position);
    listenerLayer ??= L.layerGroup().addTo(map.layers.live);
    listenerLayer.clearLayers();
    for (const st of here) {
      const square = L.marker(st.position, {
        pane: map.panes.live,
        interactive: false,
        keyboard: false,
        title: `Listener of stream ${st.stream_id}`,
        icon: L.divIcon({ className: 'rw-live-listener', iconSize: [14, 14] }),
      });
      listenerLayer.addLayer(square);
      square.getElement().dataset.stream = String(st.stream_id);
    }
    $('map-listeners').replaceChildren(
      ...(here.length ? here.map((st) => el('li', {}, `Stream ${st.stream_id}: ${coords(st.position[0], st.position[1])}`)) : [el('li', {}, 'No listener with a position right now.')]),
    );
  }
  const listenersPoller = new Poller('map-listeners', drawListeners, 3000);

  return {
    async activate() {
      try {
        await load();
        listenersPoller.start();
      } catch (e) {
        if (!(e instanceof LoggedOut)) showError(e, () => this.activate());
      }
    },
    deactivate: () => listenersPoller.stop(),
    projectChanged() {
      if (editing) stopEdit();
      plan?.reset();
      loadedFor = null;
    },
  };
}
