//! Outputs of the mixer: MP3 stream feeds and the local sound card.
//!
//! * [`mp3`]: the LAME encoder a render thread feeds with interleaved stereo `f32`; it hands
//!   back whole MP3 frames only.
//! * [`feed`]: one encoded stream fanned out to any number of HTTP listeners ([`feed::Feed`])
//!   and the registry of live feeds by stream id ([`feed::Feeds`]).
//! * [`clips`]: a feed's last minutes as timestamped MP3 frames, cut into clips by window.
//! * [`listener`]: one HTTP listener's view of a feed: the burst on connect, the lag policy
//!   and the ICY metadata interleaving ([`icy`]).
//! * [`fanout`]: Icecast's loop: one writer task per feed offering each publish to every
//!   listener handed to it, with non-blocking writes.
//! * [`render`]: the per-stream thread that paces a mixer in real time, encodes it and
//!   publishes to its feed.
//! * `soundcard` (feature `soundcard`, on by default): the local listener's sound card through
//!   cpal/ALSA, fed from a ring by a render thread, drift-compensated, reopened when it vanishes.
//! * [`card`]: the card as the rest of the daemon sees it (status, health probe, opening it),
//!   in every build.
//! * [`volume`]: the box's volume and output choice, applied on a thread of its own to the
//!   card's hardware mixer or to the software gain of [`gain`] (the volume law and its ramp).
//! * `asound` (feature `soundcard`): what is asked of alsa-lib directly: the outputs it knows
//!   (`roundwared devices`), the hardware mixer, its error messages kept out of stderr.
//! * [`sched`]: `SCHED_FIFO` for the threads that feed the sound card.
//! * [`titles`]: ICY titles keyed to the mixer clock, queued lock-free to a render thread.
//! * [`tone`]: a paced, LAME-encoded sine published into a feed, for tests and tools that
//!   need a live stream without the engine.
//!
//! Owns: encoding, chunk queues, per-listener byte streams. May not touch: HTTP routing and
//! headers (that is `api::stream`), what a mixer plays (render threads only pace it), SQL.
//! Nothing here blocks the producer: a render thread calls [`feed::Feed::publish`] and
//! returns at once whatever the listeners do.

#[cfg(feature = "soundcard")]
pub(crate) mod asound;
pub(crate) mod card;
pub(crate) mod clips;
pub(crate) mod fanout;
pub mod feed;
pub(crate) mod gain;
pub(crate) mod icy;
pub(crate) mod listener;
pub mod mp3;
pub(crate) mod render;
pub mod sched;
#[cfg(feature = "soundcard")]
pub(crate) mod soundcard;
pub mod titles;
pub mod tone;
pub(crate) mod volume;
