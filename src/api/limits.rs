//! Per-address request limits (`[limits]`): who the client is on the network ([`ClientIp`]),
//! GCRA token buckets keyed by that address (the `governor` crate) for registrations,
//! logins, uploads and stream starts, and the [`Allow`] extractor that answers 429 with
//! `Retry-After` before a limited handler reads its body. The login back-off
//! ([`super::login_guard`]) and the per-user stream caps ([`super::stream_slots`]) live beside
//! it and are reached through [`Limits`].
//!
//! A phone on the venue Wi-Fi talks to the box directly, so its address is its identity here;
//! an IPv6 /64 counts as one client (a phone picks new addresses within its prefix at will).
//! Staff tokens are exempt: the curator's bulk work is not abuse.
//!
//! Owns: the limiters, their keys and their answers. May not touch: the store, the engine.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;

use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use super::auth::Caller;
use super::client::{LogThrottle, client_key};
use super::conn::ConnTuning;
use super::error::ApiError;
use super::login_guard::LoginGuard;
use super::stream_slots::StreamSlots;
use crate::config::Config;

/// How often idle buckets are dropped from the limiters' maps.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The calling client's address as counted by the limits ([`client_key`]). Without
/// connection info (a router driven in-process) it is `0.0.0.0`, one shared client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<ConnTuning>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
                    client_key(c.0.remote.ip())
                }),
        ))
    }
}

/// The request kinds limited per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    /// `POST users/`.
    Registrations,
    /// `POST login/`.
    Logins,
    /// `PATCH envelopes/:id/`, `POST assets/`.
    Uploads,
    /// `POST streams/`.
    StreamStarts,
}

impl Limited {
    /// What the client sees in the 429 and the log.
    fn describe(self) -> (&'static str, &'static str) {
        match self {
            Self::Registrations => ("device registrations", "registrations_per_ip_per_min"),
            Self::Logins => ("login attempts", "logins_per_ip_per_min"),
            Self::Uploads => ("uploads", "uploads_per_ip_per_min"),
            Self::StreamStarts => ("stream starts", "stream_starts_per_ip_per_min"),
        }
    }
}

/// Marker types naming a [`Limited`] kind at the type level, for [`Allow`].
pub(crate) mod kind {
    /// A kind of limited request.
    pub(crate) trait Kind: Send + Sync + 'static {
        /// Which one.
        const KIND: super::Limited;
    }
    macro_rules! kinds {
        ($($name:ident),*) => {$(
            #[doc = concat!("[`super::Limited::", stringify!($name), "`]")]
            #[derive(Debug)]
            pub(crate) struct $name;
            impl Kind for $name {
                const KIND: super::Limited = super::Limited::$name;
            }
        )*};
    }
    kinds!(Registrations, Logins, Uploads, StreamStarts);
}

/// Every per-address and per-user limit of the API; one per daemon, in [`AppState`].
pub(crate) struct Limits {
    registrations: DefaultKeyedRateLimiter<IpAddr>,
    logins: DefaultKeyedRateLimiter<IpAddr>,
    uploads: DefaultKeyedRateLimiter<IpAddr>,
    stream_starts: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    refusals: [LogThrottle; 4],
    /// Failed-login back-off per address and per username.
    pub logins_failed: LoginGuard,
    /// Running personal streams per user and per address.
    pub streams: StreamSlots,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Limits {
    /// The limits of `config` (`[limits]`, `[stream] heartbeat_timeout_s`).
    pub(crate) fn new(config: &Config) -> Self {
        let a = &config.limits.abuse;
        Self {
            registrations: RateLimiter::keyed(per_minute(a.registrations_per_ip_per_min)),
            logins: RateLimiter::keyed(per_minute(a.logins_per_ip_per_min)),
            uploads: RateLimiter::keyed(per_minute(a.uploads_per_ip_per_min)),
            stream_starts: RateLimiter::keyed(per_minute(a.stream_starts_per_ip_per_min)),
            clock: DefaultClock::default(),
            refusals: Default::default(),
            logins_failed: LoginGuard::new(a),
            streams: StreamSlots::new(a, config.stream.heartbeat_timeout_s),
        }
    }

    fn limiter(&self, kind: Limited) -> (&DefaultKeyedRateLimiter<IpAddr>, &LogThrottle) {
        match kind {
            Limited::Registrations => (&self.registrations, &self.refusals[0]),
            Limited::Logins => (&self.logins, &self.refusals[1]),
            Limited::Uploads => (&self.uploads, &self.refusals[2]),
            Limited::StreamStarts => (&self.stream_starts, &self.refusals[3]),
        }
    }

    /// Counts one request of `kind` from `ip`.
    ///
    /// # Errors
    /// [`ApiError::Retry`] (429) naming the limit, when the address has used it up.
    pub(crate) fn check(&self, kind: Limited, ip: IpAddr) -> Result<(), ApiError> {
        let (limiter, throttle) = self.limiter(kind);
        let Err(not_until) = limiter.check_key(&ip) else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(self.clock.now());
        let retry_after_s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let (what, key) = kind.describe();
        let per_min = not_until.quota().burst_size();
        throttle.warn(|held| {
            format!(
                "limit: {ip} made more than {per_min} {what} in a minute ([limits] {key}); \
                 refused with 429 ({held} more refusals of {what} since the last such line)"
            )
        });
        Err(ApiError::Retry {
            status: axum::http::StatusCode::TOO_MANY_REQUESTS,
            detail: format!(
                "Too many {what} from your address: at most {per_min} a minute \
                 ([limits] {key}). Try again in {} s.",
                retry_after_s.max(1)
            ),
            retry_after_s,
        })
    }

    /// Drops buckets that are full again and back-off records that have expired.
    pub(crate) fn prune(&self) {
        for l in [
            &self.registrations,
            &self.logins,
            &self.uploads,
            &self.stream_starts,
        ] {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.logins_failed.prune();
    }

    /// Prunes every `PRUNE_EVERY` until the daemon stops.
    pub(crate) fn spawn_pruner(
        limits: std::sync::Arc<Self>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => limits.prune(),
                    () = stop.cancelled() => return,
                }
            }
        });
    }
}

/// Extractor that counts the request against the `K` limit of the client's address and
/// refuses it with 429 before the handler (or its body extractor) runs. Staff are not counted.
#[derive(Debug)]
pub(crate) struct Allow<K>(std::marker::PhantomData<K>);

impl<K: kind::Kind> FromRequestParts<AppState> for Allow<K> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let staff = parts
            .extensions
            .get::<Caller>()
            .is_some_and(Caller::is_staff);
        if !staff {
            let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
            state.limits.check(K::KIND, ip)?;
        }
        Ok(Self(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_prefix_and_a_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::7".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_request_after_the_burst_is_refused_with_a_retry_after_naming_the_key() {
        let mut config = Config::defaults();
        config.limits.abuse.registrations_per_ip_per_min = 3;
        let limits = Limits::new(&config);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            limits.check(Limited::Registrations, ip).unwrap();
        }
        let Err(ApiError::Retry {
            detail,
            retry_after_s,
            ..
        }) = limits.check(Limited::Registrations, ip)
        else {
            panic!("the fourth registration passed");
        };
        assert!(detail.contains("registrations_per_ip_per_min"), "{detail}");
        assert!((1..=20).contains(&retry_after_s), "{retry_after_s}");
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        limits.check(Limited::Registrations, other).unwrap();
        limits.check(Limited::Uploads, ip).unwrap();
    }
}
