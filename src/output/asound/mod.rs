//! What roundwared asks alsa-lib directly (through the `alsa` crate, the version cpal uses),
//! beside the PCM stream that cpal plays (`output::soundcard`): the outputs it knows
//! ([`devices`]), the card's hardware volume ([`mixer`]), and its error messages kept out of
//! stderr ([`quiet`]). Feature `soundcard` only.
//!
//! Owns: the mixer and hint handles, each for the length of one call. May not touch: the
//! audio threads (nothing here is real-time), the store, HTTP.

pub(crate) mod devices;
pub(crate) mod mixer;
pub(crate) mod quiet;

pub(crate) use quiet::Quiet;
