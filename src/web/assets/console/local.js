// The local listener (staff GET streams/local/, polled 4×/s): the box's position source and
// fix, its sound card (state, device, xruns) and a level meter of what it plays, with the
// stream's controls. A 404 means the box has no local listener: the page says so and looks
// again every 5 s.
import { state, call, el, coords, Poller, ApiError, act, say, tagNames } from './core.js';
import { AssetNames, playingText, controls } from './streams.js';

const FAST_MS = 250;
const SLOW_MS = 5000;

/** dBFS text of a 0..1 peak. */
function dbfs(peak) {
  return peak > 0 ? `${(20 * Math.log10(peak)).toFixed(1)} dBFS` : 'silence';
}

/** The Local listener section. */
export function localSection() {
  const body = document.getElementById('tab-local').querySelector('#local-body');
  const names = new AssetNames();
  let view = null;
  let last = null;
  window.__rw = window.__rw || {};
  window.__rw.local = { peak: 0, source: null, enabled: null };

  function build(id) {
    const field = (label) => {
      const dd = el('dd');
      return [el('dt', {}, label), dd];
    };
    const f = {};
    const dl = el('dl', { class: 'rw-facts' });
    for (const [k, label] of [
      ['stream', 'Stream'],
      ['source', 'Position source'],
      ['fix', 'Position'],
      ['age', 'Fix age'],
      ['card', 'Sound card'],
      ['device', 'Device'],
      ['counts', 'Card counters'],
      ['playing', 'Playing'],
    ]) {
      const [dt, dd] = field(label);
      f[k] = dd;
      dl.append(dt, dd);
    }
    const bar = el('span');
    const meter = el('div', { class: 'rw-meter rw-meter-big', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 1, 'aria-valuenow': 0, 'aria-labelledby': 'local-level-label' }, bar);
    const levelText = el('span', { id: 'local-level-text' });
    const ctl = controls(id, () => last?.stream?.paused, { kill: false });
    const tagBox = el('div', { id: 'local-tags' });
    view = {
      id,
      f,
      bar,
      meter,
      levelText,
      ctl,
      node: el(
        'div',
        {},
        el('p', { id: 'local-level-label' }, el('strong', {}, 'Output level '), el('span', { id: 'local-level-source', class: 'rw-muted rw-small' }), ' ', levelText),
        meter,
        dl,
        ctl.node,
        tagBox,
      ),
      tagBox,
      tagsFor: null,
    };
    body.replaceChildren(view.node);
  }

  async function refresh() {
    let s;
    try {
      s = await call('streams/local/');
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        poller.intervalMs = SLOW_MS;
        view = null;
        window.__rw.local = { peak: 0, source: null, enabled: false };
        body.replaceChildren(
          el('p', { class: 'rw-warn', id: 'local-disabled' }, 'This box has no local listener: it is disabled in its configuration.'),
          el('p', { class: 'rw-small rw-muted' }, `To let the box play its own mix, set [local] enabled = true (with project_id and output) in roundwared.toml and restart it. The box answered: ${e.message}`),
        );
        return;
      }
      throw e;
    }
    poller.intervalMs = FAST_MS;
    last = s;
    if (!view || view.id !== s.stream_id) build(s.stream_id);
    const { f } = view;
    const p = s.position || {};
    const card = s.soundcard;
    const st = s.stream;
    f.stream.textContent = `${s.stream_id} (${s.stream_url})${st ? ` · ${st.listeners} HTTP listeners` : ''}`;
    f.source.textContent = `${p.source || 'none'} · ${p.status || 'unknown'}`;
    f.fix.textContent = coords(p.latitude, p.longitude);
    f.age.textContent = p.age_s == null ? 'no fix yet' : `${Number(p.age_s).toFixed(1)} s`;
    if (card) {
      f.card.textContent = `${card.state} — ${card.summary}${card.last_error ? ` (last error: ${card.last_error})` : ''}`;
      f.device.textContent = `${card.device}${card.device_rate_hz ? ` at ${card.device_rate_hz} Hz ${card.sample_format}` : ''}, buffer ${Number(card.buffer_fill_ms).toFixed(0)}/${card.target_fill_ms} ms`;
      f.counts.textContent = `${card.xruns} xruns, ${card.underruns} underruns, ${card.reopens} reopens, ${card.dropped_frames} dropped frames`;
    } else {
      f.card.textContent = 'none: output = "none" (the mix is only served over HTTP)';
      f.device.textContent = '—';
      f.counts.textContent = '—';
    }
    if (st) renderTags(s.stream_id, st);
    if (st) {
      await names.ensure((st.playing || []).filter((x) => x != null));
      f.playing.textContent = `${st.paused ? 'Paused. ' : ''}${playingText(st, names)}`;
      view.ctl.setPaused(st.paused);
    } else {
      f.playing.textContent = 'the stream is not running';
    }
    const peak = Math.max(0, Math.min(1, Number(card ? card.peak : st ? st.peak : 0) || 0));
    const source = card ? 'sound card' : 'mix (no sound card)';
    document.getElementById('local-level-source').textContent = `(${source})`;
    // The bar shows -60..0 dBFS, as level meters do.
    const db = peak > 0 ? 20 * Math.log10(peak) : -60;
    view.bar.style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100)).toFixed(1)}%`;
    view.meter.setAttribute('aria-valuenow', peak.toFixed(2));
    view.meter.setAttribute('aria-valuetext', dbfs(peak));
    view.levelText.textContent = dbfs(peak);
    window.__rw.local = { peak, source, enabled: true };
  }

  /** The tag chooser of the local stream (built once per project; PATCH streams/{id}/ tag_ids). */
  function renderTags(id, st) {
    if (st.project_id !== state.projectId) {
      if (view.tagsFor !== -1) view.tagBox.replaceChildren(el('p', { class: 'rw-small rw-muted' }, `Its tags: ${st.tag_ids == null ? 'project defaults' : st.tag_ids.join(', ')} (choose project ${st.project_id} above to change them).`));
      view.tagsFor = -1;
      return;
    }
    const now = `What the box plays (now: ${st.tag_ids == null ? 'project defaults' : tagNames(st.tag_ids) || 'no tags'})`;
    if (view.tagsFor === state.projectId) {
      if (view.tagLegend.textContent !== now) view.tagLegend.textContent = now;
      return;
    }
    view.tagsFor = state.projectId;
    view.tagLegend = el('legend', {}, now);
    const boxes = state.tags.map((t) => el('label', {}, el('input', { type: 'checkbox', value: t.id, checked: (st.tag_ids || []).includes(t.id) }), ` ${t.msg_loc || t.value}`));
    const apply = () =>
      act('local tags', async () => {
        const ids = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => Number(i.value));
        await call(`streams/${id}/`, { method: 'PATCH', body: { tag_ids: ids.join(',') } });
        say(`The local listener now hears: ${tagNames(ids) || 'no tags'}.`);
      });
    view.tagBox.replaceChildren(
      el('fieldset', {}, view.tagLegend, el('div', { class: 'rw-checks' }, boxes)),
      el('button', { type: 'button', id: 'local-tags-apply', onclick: apply }, 'Apply tags'),
    );
  }

  const poller = new Poller('local', refresh, FAST_MS);
  return {
    activate: () => poller.start(),
    deactivate: () => poller.stop(),
    projectChanged() {},
  };
}
