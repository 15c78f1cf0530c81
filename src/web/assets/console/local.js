// The local listener (staff GET streams/local/, polled 4×/s): the box's position source and
// fix, its sound card (state, device, xruns) and a level meter of what it plays, with the
// stream's controls. A 404 means the box has no local listener: the page says so and looks
// again every 5 s. Staff set the box's volume (a slider) and its sound-card output (a select
// of the ALSA outputs the box knows) through local/audio/ and local/outputs/; both are kept
// across restarts by the box.
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
    const audio = audioControls();
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
        audio.node,
        dl,
        ctl.node,
        tagBox,
      ),
      tagBox,
      tagsFor: null,
      audio,
    };
    body.replaceChildren(view.node);
    act('local audio', () => audio.load());
  }

  /** The volume slider and output select (PATCH local/audio/ on change). */
  function audioControls() {
    const slider = el('input', { type: 'range', id: 'local-volume', min: 0, max: 100, step: 1, value: 100, 'aria-describedby': 'local-volume-note' });
    const valueText = el('output', { id: 'local-volume-value', for: 'local-volume' }, '');
    const note = el('span', { id: 'local-volume-note', class: 'rw-small rw-muted' });
    const select = el('select', { id: 'local-output', 'aria-describedby': 'local-output-note' });
    const outNote = el('span', { id: 'local-output-note', class: 'rw-small rw-muted' });
    const show = (a) => {
      slider.value = a.volume;
      slider.setAttribute('aria-valuetext', `${a.volume} of 100`);
      valueText.textContent = `${a.volume}`;
      const via = a.volume_via === 'mixer' ? `the card's mixer (${a.mixer})` : a.volume_via === 'software' ? 'a software gain (the card has no hardware mixer)' : 'nothing yet (no sound card)';
      note.textContent = `Moves ${via}. The configuration's value is ${a.config.volume}; the box keeps your choice across restarts.`;
      if (![...select.options].some((o) => o.value === a.output)) select.append(el('option', { value: a.output }, a.output));
      select.value = a.output;
      outNote.textContent = a.output_applies_live ? 'A new output applies at once.' : 'A new output applies when the box restarts (it started without a sound card).';
      window.__rw.localAudio = a;
    };
    const patch = (body, what) =>
      act(what, async () => {
        const a = await call('local/audio/', { method: 'PATCH', body });
        show(a);
        say(what === 'volume' ? `Volume ${a.volume}.` : `Output ${a.output}.`);
      });
    slider.addEventListener('input', () => {
      valueText.textContent = slider.value;
    });
    slider.addEventListener('change', () => patch({ volume: Number(slider.value) }, 'volume'));
    select.addEventListener('change', () => patch({ output: select.value }, 'output'));
    return {
      node: el(
        'div',
        { class: 'rw-fields', id: 'local-audio' },
        el('p', { class: 'rw-field' }, el('label', { for: 'local-volume' }, el('strong', {}, 'Volume '), valueText), el('br'), slider, el('br'), note),
        el('p', { class: 'rw-field' }, el('label', { for: 'local-output' }, el('strong', {}, 'Sound card output')), el('br'), select, el('br'), outNote),
      ),
      async load() {
        const [a, list] = await Promise.all([call('local/audio/'), call('local/outputs/')]);
        select.replaceChildren(...list.outputs.map((o) => el('option', { value: o.name }, `${o.name} — ${o.description}${o.hardware_mixer ? ` (mixer: ${o.hardware_mixer})` : ''}`)));
        if (!list.outputs.some((o) => o.name === 'none')) select.append(el('option', { value: 'none' }, 'none — no sound card (the mix is only served over HTTP)'));
        show(a);
      },
    };
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
