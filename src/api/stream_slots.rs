//! Personal streams per token and per client address (`[limits] streams_per_user`,
//! `streams_per_ip`), so one visitor cannot take every `[stream] max_streams` slot.
//!
//! `POST streams/` reserves a slot for the stream it is about to start, under the caller's user
//! id and address, and keeps it only if a stream really started; asking again for a stream that
//! already runs (reuse) needs no new slot. Slots are not released by the engine: a slot whose
//! stream no longer runs (killed, torn down after the heartbeat timeout) is dropped the next
//! time anyone reserves, so the count is always of running streams.
//!
//! Owns: the slot table. May not touch: the engine's streams (it only asks whether one runs).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use super::error::ApiError;
use crate::config::AbuseLimits;

#[derive(Debug, Clone, Copy)]
struct Holder {
    user_id: i64,
    ip: IpAddr,
    /// False while the stream is being started (its slot is held, the engine may not know it).
    started: bool,
}

/// The running (or starting) personal streams by stream id, with who started them.
#[derive(Debug)]
pub(crate) struct StreamSlots {
    holders: Mutex<HashMap<i64, Holder>>,
    per_user: usize,
    per_ip: usize,
    /// A slot frees at the latest when an abandoned stream times out.
    retry_after_s: u64,
}

/// A slot held while a stream starts; dropped without [`Reservation::keep`], it is released.
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    slots: &'a StreamSlots,
    /// `None`: nothing was reserved (the stream already runs).
    stream_id: Option<i64>,
}

impl Reservation<'_> {
    /// The stream started: the slot stays taken until the stream ends.
    pub(crate) fn keep(mut self) {
        if let Some(id) = self.stream_id.take()
            && let Some(h) = self.slots.holders().get_mut(&id)
        {
            h.started = true;
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.stream_id {
            self.slots.holders().remove(&id);
        }
    }
}

impl StreamSlots {
    /// The caps of `[limits]`; `heartbeat_timeout_s` becomes the `Retry-After` of a refusal.
    pub(crate) fn new(limits: &AbuseLimits, heartbeat_timeout_s: u64) -> Self {
        Self {
            holders: Mutex::default(),
            per_user: limits.streams_per_user as usize,
            per_ip: limits.streams_per_ip as usize,
            retry_after_s: heartbeat_timeout_s,
        }
    }

    fn holders(&self) -> MutexGuard<'_, HashMap<i64, Holder>> {
        self.holders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for starting stream `stream_id` for `user_id` at `ip`; `running` tells
    /// whether the engine runs a stream.
    ///
    /// # Errors
    /// [`ApiError::Retry`] (429) when the user or the address already has its maximum.
    pub(crate) fn reserve(
        &self,
        stream_id: i64,
        user_id: i64,
        ip: IpAddr,
        running: impl Fn(i64) -> bool,
    ) -> Result<Reservation<'_>, ApiError> {
        let mut holders = self.holders();
        holders.retain(|id, h| !h.started || running(*id));
        if holders.contains_key(&stream_id) || running(stream_id) {
            return Ok(Reservation {
                slots: self,
                stream_id: None,
            });
        }
        let of_user = holders.values().filter(|h| h.user_id == user_id).count();
        let of_ip = holders.values().filter(|h| h.ip == ip).count();
        let (count, whom, key) = if of_user >= self.per_user {
            (of_user, "your token has", "streams_per_user")
        } else if of_ip >= self.per_ip {
            (of_ip, "your address has", "streams_per_ip")
        } else {
            holders.insert(
                stream_id,
                Holder {
                    user_id,
                    ip,
                    started: false,
                },
            );
            return Ok(Reservation {
                slots: self,
                stream_id: Some(stream_id),
            });
        };
        Err(ApiError::Retry {
            status: axum::http::StatusCode::TOO_MANY_REQUESTS,
            detail: format!(
                "{whom} {count} personal streams running, the most allowed ([limits] {key}); \
                 end one with POST streams/<id>/kill/, or wait until an unused one times out."
            ),
            retry_after_s: self.retry_after_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(per_user: u32, per_ip: u32) -> StreamSlots {
        let mut limits = crate::config::Config::defaults().limits.abuse;
        limits.streams_per_user = per_user;
        limits.streams_per_ip = per_ip;
        StreamSlots::new(&limits, 200)
    }

    #[test]
    fn a_user_at_the_cap_is_refused_until_one_of_its_streams_ends() {
        let s = slots(2, 10);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let running = std::cell::RefCell::new(Vec::new());
        let is_running = |id| running.borrow().contains(&id);
        let start = |id, user| {
            s.reserve(id, user, ip, is_running).unwrap().keep();
            running.borrow_mut().push(id);
        };
        start(1, 7);
        start(2, 7);
        assert!(s.reserve(3, 7, ip, is_running).is_err(), "a third stream");
        s.reserve(1, 7, ip, is_running)
            .expect("reusing a running stream");
        start(4, 8);
        running.borrow_mut().retain(|id| *id != 2);
        s.reserve(3, 7, ip, is_running)
            .expect("stream 2 ended, so its slot is free")
            .keep();
    }

    #[test]
    fn an_address_at_the_cap_is_refused_for_every_user_and_a_failed_start_frees_its_slot() {
        let s = slots(5, 1);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        drop(s.reserve(1, 7, ip, |_| false).unwrap());
        s.reserve(2, 7, ip, |_| false).unwrap().keep();
        let Err(ApiError::Retry { detail, .. }) = s.reserve(3, 8, ip, |id| id == 2) else {
            panic!("the address cap did not hold");
        };
        assert!(detail.contains("streams_per_ip"), "{detail}");
        s.reserve(3, 8, other, |id| id == 2).unwrap().keep();
    }
}
