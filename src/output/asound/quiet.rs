//! alsa-lib's own messages (`ALSA lib confmisc.c:855:(parse_card) cannot find card '1'`, one
//! per probe and retry) kept out of stderr and the journal: [`Quiet::install`] points alsa-lib's
//! error handler of the calling thread at a memory buffer (the `alsa` crate's
//! `Output::local_error_handler`, i.e. `snd_lib_error_set_local`: no `unsafe` here), and
//! [`Quiet::flush`] turns what gathered into our own log lines at debug level.
//!
//! The handler is per thread, so every thread of ours that calls into alsa-lib (the card's
//! supervisor, the volume thread, `roundwared devices`) installs one first. cpal's stream
//! thread does not: it only prepares and writes the PCM, which alsa-lib does silently.

use std::cell::RefCell;
use std::rc::Rc;

/// alsa-lib's messages on this thread, gathered until flushed.
pub(crate) struct Quiet {
    buffer: Option<Rc<RefCell<alsa::Output>>>,
}

impl Quiet {
    /// Routes alsa-lib's messages on the calling thread into a buffer.
    pub(crate) fn install() -> Self {
        Self {
            buffer: alsa::Output::local_error_handler().ok(),
        }
    }

    /// Logs what alsa-lib said since the last flush (debug level, tagged with `context`) and
    /// starts an empty buffer.
    pub(crate) fn flush(&mut self, context: &str) {
        let Some(buffer) = self.buffer.take() else {
            return;
        };
        let text = buffer.borrow().to_string();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            log::debug!("alsa-lib ({context}): {line}");
        }
        // A fresh buffer replaces the thread's handler target; the old one is freed here.
        self.buffer = alsa::Output::local_error_handler().ok();
    }
}
