//! A client as the limits count it: its address key ([`client_key`]: an IPv6 /64 is one
//! client), and warnings about clients rate-limited so that an attack cannot flood the
//! journal ([`LogThrottle`]). Shared by the connection caps, the request limits and the login
//! back-off.
//!
//! Owns: these two small rules. May not touch: requests, the store.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The address a client is counted under: IPv4 as is (IPv4-mapped IPv6 too), IPv6 cut to
/// its /64 prefix.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Rate-limited warnings: at most one line per kind per minute, saying how many were held back.
#[derive(Debug, Default)]
pub(crate) struct LogThrottle {
    last: Mutex<Option<(Instant, u64)>>,
}

impl LogThrottle {
    /// Logs `line()` unless a line went out within the last minute (then only counts it).
    pub(crate) fn warn(&self, line: impl FnOnce(u64) -> String) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *last {
            Some((at, held)) if at.elapsed() < Duration::from_secs(60) => *held += 1,
            slot => {
                let held = slot.map_or(0, |(_, h)| h);
                *slot = Some((Instant::now(), 0));
                drop(last);
                log::warn!("{}", line(held));
            }
        }
    }
}
