// Recording on the visitor page: MediaRecorder from the microphone, up to the project's
// max_recording_length, then the take as a file the box decodes. Chromium and Firefox record
// WebM/Opus, which the box does not accept, so the take is decoded in the page
// (decodeAudioData) and re-encoded as 16-bit mono WAV; where MediaRecorder gives audio/mp4
// (Safari) and decoding fails, that file is sent as it is.
import { PageError } from '/web/visitor/i18n.js';

/** The visitor's message (a PageError) for a getUserMedia / MediaRecorder failure. */
export function describeMicError(e) {
  const name = e && e.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return new PageError('mic.refused');
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return new PageError('mic.missing');
  if (name === 'NotReadableError') return new PageError('mic.busy');
  if (!navigator.mediaDevices || !window.MediaRecorder) return new PageError('mic.unsupported');
  return new PageError('mic.failed', { message: (e && e.message) || String(e) });
}

/** Encodes mono float samples as a 16-bit PCM WAV blob. */
export function encodeWav(samples, sampleRate) {
  const buf = new ArrayBuffer(44 + samples.length * 2);
  const v = new DataView(buf);
  const str = (o, s) => [...s].forEach((c, i) => v.setUint8(o + i, c.charCodeAt(0)));
  str(0, 'RIFF');
  v.setUint32(4, 36 + samples.length * 2, true);
  str(8, 'WAVE');
  str(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * 2, true);
  v.setUint16(32, 2, true);
  v.setUint16(34, 16, true);
  str(36, 'data');
  v.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([buf], { type: 'audio/wav' });
}

/** Mixes an AudioBuffer down to one channel. */
function mono(audio) {
  const out = new Float32Array(audio.length);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    const ch = audio.getChannelData(c);
    for (let i = 0; i < out.length; i++) out[i] += ch[i] / audio.numberOfChannels;
  }
  return out;
}

export class TakeRecorder {
  constructor({ onTick, onStop }) {
    this.onTick = onTick;
    this.onStop = onStop;
    this.recording = false;
  }

  /** Starts recording (asks for the microphone); stops by itself after maxSeconds. */
  async start(maxSeconds) {
    if (!navigator.mediaDevices?.getUserMedia || !window.MediaRecorder) throw new Error('no MediaRecorder');
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false } });
    const mime = ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/mp4'].find((t) => MediaRecorder.isTypeSupported(t));
    const rec = new MediaRecorder(stream, mime ? { mimeType: mime } : {});
    const chunks = [];
    rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    const started = performance.now();
    this.maxSeconds = maxSeconds;
    this.onTick(0, maxSeconds);
    this.timer = setInterval(() => {
      const s = (performance.now() - started) / 1000;
      this.onTick(Math.min(s, maxSeconds), maxSeconds);
      if (s >= maxSeconds) this.stop();
    }, 250);
    rec.onstop = async () => {
      clearInterval(this.timer);
      stream.getTracks().forEach((t) => t.stop());
      const seconds = (performance.now() - started) / 1000;
      const recorded = new Blob(chunks, { type: rec.mimeType || mime || 'audio/webm' });
      this.onStop(await this._prepare(recorded, seconds));
    };
    rec.start(250);
    this.rec = rec;
    this.recording = true;
  }

  /** Stops the recording; onStop receives the take. */
  stop() {
    if (!this.recording) return;
    this.recording = false;
    clearInterval(this.timer);
    if (this.rec.state !== 'inactive') this.rec.stop();
  }

  async _prepare(recorded, seconds) {
    const take = { recorded, seconds, blob: null, filename: 'recording.wav', envelopeId: null, uploaded: false, error: null };
    try {
      const ctx = new OfflineAudioContext(1, 1, 44100);
      const audio = await ctx.decodeAudioData(await recorded.arrayBuffer());
      take.blob = encodeWav(mono(audio), audio.sampleRate);
      take.seconds = audio.duration;
    } catch (e) {
      if (/mp4|aac/.test(recorded.type)) {
        take.blob = recorded;
        take.filename = 'recording.m4a';
      } else {
        take.error = { key: 'record.convertFailed', args: { message: e.message || String(e) } };
        take.blob = recorded;
        take.filename = 'recording.webm';
      }
    }
    return take;
  }
}
