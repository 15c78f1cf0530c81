// Fleet: GET fleet/ every 5 s while shown and visible.
import { call, el, Poller } from './core.js';

const n = (x) => Number(x || 0).toLocaleString('en');
const of = (x, one) => `${n(x)} ${one}${Number(x) === 1 ? '' : 's'}`;
const ago = (s) => (s == null ? 'never' : s < 2 ? 'just now' : s < 120 ? `${Math.round(s)} s ago` : `${Math.round(s / 60)} min ago`);
const tone = (ok, text) => el('span', { class: ok ? 'rw-ok' : 'rw-warn' }, text);

/** One sentence on how the box is doing. */
export function summaryText(v) {
  if (!v.enabled) return 'Standalone box: fleet mode is off, so it shares nothing with other boxes.';
  const p = v.position;
  const a = v.audit || {};
  const issues = [
    v.link === 'down' && 'the hub does not answer (recordings wait here)',
    !v.registered && 'not registered with the hub yet',
    p.outbox_depth > 0 && `${of(p.outbox_depth, 'change')} waiting to be sent`,
    p.behind_venue > 0 && `${of(p.behind_venue, 'venue change')} still to take in`,
    v.waiting_for_media && "waiting for a recording's files",
    (a.error || a.missing > a.repaired) && 'the media check found a problem',
  ].filter(Boolean);
  return `Box ${v.box}${v.role === 'hub' ? ', the hub of the venue' : ' of the venue'}: ${issues.join('; ') || 'in step with the venue'}.`;
}

function facts(v) {
  const p = v.position;
  const a = v.audit;
  const hub = v.role === 'hub';
  const pos = `Position ${n(p.applied_seq)}${p.venue_seq == null ? '' : ` of ${n(p.venue_seq)}`}`;
  const rows = [
    !hub && ['Link to the hub', tone(v.link === 'up', v.link === 'up' ? 'Connected' : 'Not connected')],
    ['Registered with the hub', tone(v.registered, v.registered ? 'Yes' : v.registration_error || 'Not yet')],
    ['Changes waiting to be sent', tone(!p.outbox_depth, p.outbox_depth ? n(p.outbox_depth) : 'None: all sent')],
    ['Venue changes taken in', tone(p.behind_venue === 0, p.behind_venue ? `${pos}: ${of(p.behind_venue, 'change')} to go` : pos)],
    v.skipped > 0 && ['Changes skipped', tone(false, `${n(v.skipped)} (see the log)`)],
    v.publish_error && ['Sending changes', tone(false, v.publish_error)],
    v.apply_error && ['Taking in changes', tone(false, v.apply_error)],
    v.central && ['Central', tone(!v.central.pull_error, v.central.pull_error || 'Pulled')],
    v.central?.push && sent(v.central.push),
    ['Last media check', hub ? 'Not needed on the hub' : !a ? 'Not yet' : a.error ? tone(false, `${ago(a.age_s)}, could not run: ${a.error}`) : tone(a.missing <= a.repaired, `${ago(a.age_s)}: ${of(a.checked, 'file')} checked, ${n(a.missing)} missing, ${n(a.repaired)} put back`)],
  ];
  return el('dl', { class: 'rw-facts', id: 'fleet-facts' }, rows.filter(Boolean).flatMap(([t, d]) => [el('dt', {}, t), el('dd', {}, d)]));
}

/** The push to central; a refusal (dead letter) stays until someone looks into it. */
function sent(p) {
  const d = p.dead_letters[0];
  return ['Sent to central', tone(!p.error && !p.dead, [p.error, `${n(p.pushed)} sent, ${n(p.waiting)} waiting, ${n(p.dead)} refused`, d && `last refused: ${d.kind} ${d.id} (${d.why})`].filter(Boolean).join('; '))];
}

const taken = (u) =>
  !u ? tone(false, 'Not taken in yet') : tone(u.in_touch && !u.behind, `${u.in_touch ? 'In touch' : 'Out of touch'}: ${u.behind ? `${of(u.behind, 'item')} behind` : 'up to date'}, heard from ${ago(u.last_contact_s)}`);

function boxes(venue) {
  if (venue.error) return el('p', {}, tone(false, `Boxes unknown: ${venue.error}`));
  const th = (t) => el('th', { scope: 'col' }, t);
  const row = (b) =>
    el('tr', { dataset: { box: b.box } }, el('th', { scope: 'row' }, `Box ${b.box}${b.hub ? ' (the hub)' : ''}${b.this_box ? ' (this box)' : ''}`), b.hub ? el('td', { colspan: 2 }, 'The venue’s own') : [el('td', {}, taken(b.changes)), el('td', {}, taken(b.media))]);
  return el(
    'div',
    { class: 'rw-scroll' },
    el('table', { id: 'fleet-boxes' }, el('caption', {}, `Boxes (${venue.boxes.length}) as the hub sees them`), el('thead', {}, el('tr', {}, th('Box'), th('Changes (recordings, votes, edits)'), th("Recordings' files"))), el('tbody', {}, venue.boxes.map(row))),
  );
}

/** The Fleet section. */
export function fleetSection() {
  const summary = document.getElementById('fleet-summary');
  const body = document.getElementById('fleet-body');
  async function refresh() {
    if (document.hidden) return;
    const v = await call('fleet/');
    const text = summaryText(v);
    if (summary.textContent !== text) summary.textContent = text; // a live region: only changes
    body.replaceChildren(...(v.enabled ? [facts(v), boxes(v.venue)] : [el('p', { class: 'rw-small' }, 'To turn it on: [fleet] in roundwared.toml (README, “Fleet”).')]));
  }
  const poller = new Poller('fleet', refresh, 5000);
  return { activate: () => poller.start(), deactivate: () => poller.stop(), projectChanged() {} };
}
