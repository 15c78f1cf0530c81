// Plays a live MP3 stream in an <audio> element. Where Media Source Extensions take MP3
// (Chromium, Firefox, desktop Safari) the page fetches the stream itself and appends what
// arrives to a SourceBuffer, so playback starts with the first bytes (a plain <audio src>
// waits for about two seconds of a real-time stream first); elsewhere (iPhone Safari), or when
// the page may not fetch the stream itself, it falls back to <audio src>. Memory stays
// bounded: what is more than BACK_S behind the playhead is removed, and a playhead that fell
// LIVE_SLACK_S behind the newest audio (a tab that slept) jumps forward. Why a stream ended
// is told as a message of the page's catalogue (strings.js), {key, args}.

const BACK_S = 30;
const LIVE_SLACK_S = 6;
/** Chunks waiting for the SourceBuffer at most (a few KB each: about a minute of audio). */
const MAX_QUEUED_CHUNKS = 256;

export class StreamPlayer {
  /**
   * @param {HTMLAudioElement} audio
   * @param {(why: {key: string, args?: object}) => void} onEnd called once when a playing
   *   stream ends or fails, with the reason as a catalogue message
   */
  constructor(audio, onEnd) {
    this.audio = audio;
    this.onEnd = onEnd;
    this.mode = 'MediaSource' in window && MediaSource.isTypeSupported('audio/mpeg') ? 'mse' : 'src';
    this.session = null;
  }

  /** Starts `url`, replacing whatever played; resolves once playback was asked for. */
  async play(url) {
    this.stop();
    if (this.mode === 'src') {
      this.audio.src = url;
      await this.audio.play();
      return;
    }
    const session = { abort: new AbortController(), queue: [], ended: false, objectUrl: null };
    this.session = session;
    const source = new MediaSource();
    session.objectUrl = URL.createObjectURL(source);
    this.audio.src = session.objectUrl;
    // Stopped before the source opened: the wait ends too (a caller never hangs).
    await new Promise((resolve) => {
      source.addEventListener('sourceopen', resolve, { once: true });
      session.abort.signal.addEventListener('abort', resolve, { once: true });
    });
    if (this.session !== session) return;
    const buffer = source.addSourceBuffer('audio/mpeg');
    buffer.mode = 'sequence';
    let started = false;
    let resolveStarted;
    const firstAudio = new Promise((resolve) => (resolveStarted = resolve));
    const pump = () => {
      if (this.session !== session || buffer.updating || source.readyState !== 'open') return;
      if (!trim(this.audio, buffer) && session.queue.length) {
        try {
          buffer.appendBuffer(session.queue[0]);
          session.queue.shift();
        } catch (e) {
          if (e.name !== 'QuotaExceededError') this.fail(session, { key: 'why.refused' });
          // Over quota: the trim on the next update frees room.
        }
      }
    };
    buffer.addEventListener('updateend', () => {
      if (!started && buffer.buffered.length) {
        started = true;
        resolveStarted();
      }
      pump();
    });
    const read = async () => {
      const response = await fetch(url, { signal: session.abort.signal, cache: 'no-store' });
      if (!response.ok || !response.body) throw Object.assign(new Error(`the box answered ${response.status}`), { why: { key: 'why.status', args: { status: response.status } } });
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        session.queue.push(value);
        // A buffer that stopped taking audio must not make the queue grow without end.
        if (session.queue.length > MAX_QUEUED_CHUNKS) session.queue.shift();
        pump();
      }
    };
    let fellBack = false;
    read().then(
      () => this.fail(session, { key: 'why.closed' }),
      (e) => {
        if (!started && e instanceof TypeError && this.session === session) {
          // The page may not fetch the stream itself (another origin without CORS, a proxy):
          // let the element fetch it, as browsers without MSE do.
          fellBack = true;
          this.mode = 'src';
          resolveStarted();
          return;
        }
        this.fail(session, e.name === 'AbortError' ? null : e.why || { key: 'why.network' });
      },
    );
    await Promise.race([
      firstAudio,
      new Promise((resolve) => {
        setTimeout(resolve, 10000);
        session.abort.signal.addEventListener('abort', resolve, { once: true });
      }),
    ]);
    if (this.session !== session) return;
    if (fellBack) return this.play(url);
    await this.audio.play();
  }

  /** Stops and frees the current stream, if any (no onEnd). */
  stop() {
    const s = this.session;
    this.session = null;
    if (s) {
      s.abort.abort();
      if (s.objectUrl) URL.revokeObjectURL(s.objectUrl);
    }
    this.audio.pause();
    this.audio.removeAttribute('src');
    this.audio.load();
  }

  /** Ends `session` with `why` (a catalogue message; null: stopped on purpose) and tells the page once. */
  fail(session, why) {
    if (this.session !== session || session.ended) return;
    session.ended = true;
    if (why) this.onEnd(why);
  }
}

/**
 * Keeps the buffer near the playhead: removes what is far behind it and jumps a playhead that
 * fell far behind the newest audio. True when it started a removal (wait for `updateend`).
 */
function trim(audio, buffer) {
  const b = buffer.buffered;
  if (!b.length) return false;
  const now = audio.currentTime;
  const newest = b.end(b.length - 1);
  if (newest - now > LIVE_SLACK_S && !audio.paused) audio.currentTime = newest - 1;
  const oldest = b.start(0);
  if (audio.currentTime - oldest > BACK_S) {
    buffer.remove(oldest, audio.currentTime - BACK_S / 2);
    return true;
  }
  return false;
}
