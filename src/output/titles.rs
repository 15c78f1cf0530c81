//! ICY titles keyed to the mixer clock, from a stream's control state to its render thread
//! through a lock-free single-producer queue ([`rtrb`]): the render thread asks for the titles
//! due at each block without taking a lock.
//!
//! Owns: the title queue and the `Roundware - ` prefix of every title. May not touch: what a
//! title says (the conductor composes it), ICY framing (that is `icy`).

use std::sync::Arc;

/// Titles a queue holds before new ones are dropped: titles are queued at most a pick's
/// look-ahead before they are due, so a full queue means a render thread that has stopped.
const CAPACITY: usize = 64;

/// A title and the mixer frame it takes effect at.
type Timed = (u64, Arc<str>);

/// The control side of a stream's titles.
pub struct TitleSender(rtrb::Producer<Timed>);

/// The render thread's side of a stream's titles.
pub struct TitleReceiver(rtrb::Consumer<Timed>);

/// A title queue for one stream.
pub fn title_queue() -> (TitleSender, TitleReceiver) {
    let (tx, rx) = rtrb::RingBuffer::new(CAPACITY);
    (TitleSender(tx), TitleReceiver(rx))
}

impl TitleSender {
    /// Queues `title` (shown as `Roundware - <title>`) to take effect when the mixer reaches
    /// `at_frame`. A title that finds the queue full is dropped (see `CAPACITY`).
    pub fn push(&mut self, at_frame: u64, title: &str) {
        let _ = self
            .0
            .push((at_frame, Arc::from(format!("Roundware - {title}"))));
    }
}

impl TitleReceiver {
    /// The newest title due at `frame`, if any became due. Takes no lock and allocates
    /// nothing; an older title passed over is released here (the render thread is soft real
    /// time: see the crate's *Real time* section).
    pub fn due(&mut self, frame: u64) -> Option<Arc<str>> {
        let mut latest = None;
        while self.0.peek().is_ok_and(|(at, _)| *at <= frame) {
            latest = self.0.pop().ok().map(|(_, t)| t);
        }
        latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_takes_effect_at_its_frame_and_the_newest_due_wins() {
        let (mut tx, mut rx) = title_queue();
        tx.push(0, "stream_started=True");
        tx.push(100, "a");
        tx.push(200, "b");
        assert_eq!(
            rx.due(0).as_deref(),
            Some("Roundware - stream_started=True")
        );
        assert_eq!(rx.due(99), None);
        assert_eq!(rx.due(250).as_deref(), Some("Roundware - b"));
        assert_eq!(rx.due(1_000), None);
    }

    #[test]
    fn a_full_queue_drops_new_titles_instead_of_blocking() {
        let (mut tx, mut rx) = title_queue();
        for i in 0..(CAPACITY as u64 + 10) {
            tx.push(i, &i.to_string());
        }
        let last = format!("Roundware - {}", CAPACITY - 1);
        assert_eq!(rx.due(u64::MAX).as_deref(), Some(last.as_str()));
    }
}
