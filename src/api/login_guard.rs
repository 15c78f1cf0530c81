//! The failed-login back-off: per client address and per username, the first
//! `[limits] login_failures_before_lock` failures cost nothing; each further failure locks that
//! address or username for `login_lock_s`, doubling per failure up to `login_lock_max_s`.
//! A locked login is answered 429 with `Retry-After` *before* the password is looked at, so
//! not even the right password gets in while the lock holds. A success clears both records;
//! a record without failures for [`FORGET_AFTER`] is dropped.
//!
//! A username lock can be set off by anyone who knows the name (that is the price of slowing
//! guesses spread over many addresses); the cap keeps such a lock to minutes, and the records
//! live in memory only, so a restart of the daemon clears them all.
//!
//! Owns: the failure records. May not touch: passwords, the store.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::client::LogThrottle;
use super::error::ApiError;
use crate::config::AbuseLimits;

/// A record with no failure for this long is forgotten.
pub(crate) const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Most records kept per map; when full, unlocked records are dropped first.
const MAX_RECORDS: usize = 20_000;
/// Usernames are keyed by at most this many bytes (names are at most 150 characters).
const MAX_NAME_BYTES: usize = 600;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

/// Failure records per address and per username.
#[derive(Debug)]
pub(crate) struct LoginGuard {
    by_ip: Mutex<HashMap<IpAddr, Record>>,
    by_name: Mutex<HashMap<String, Record>>,
    free_failures: u32,
    lock: Duration,
    lock_max: Duration,
    log: LogThrottle,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn name_key(username: &str) -> String {
    let mut end = username.len().min(MAX_NAME_BYTES);
    while !username.is_char_boundary(end) {
        end -= 1;
    }
    username[..end].to_string()
}

impl LoginGuard {
    /// The back-off of `[limits]`.
    pub(crate) fn new(limits: &AbuseLimits) -> Self {
        Self {
            by_ip: Mutex::default(),
            by_name: Mutex::default(),
            free_failures: limits.login_failures_before_lock,
            lock: Duration::from_secs(limits.login_lock_s),
            lock_max: Duration::from_secs(limits.login_lock_max_s),
            log: LogThrottle::default(),
        }
    }

    /// Refuses an attempt while the address or the username is locked.
    ///
    /// # Errors
    /// [`ApiError::Retry`] (429) saying which lock holds and for how long.
    pub(crate) fn check(&self, ip: IpAddr, username: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let locked = |r: Option<&Record>| {
            r.and_then(|r| r.locked_until)
                .and_then(|t| t.checked_duration_since(now))
                .filter(|d| !d.is_zero())
        };
        let by_ip = locked(lock(&self.by_ip).get(&ip));
        let by_name = locked(lock(&self.by_name).get(&name_key(username)));
        let (wait, whom) = match (by_ip, by_name) {
            (None, None) => return Ok(()),
            (Some(a), Some(b)) if b > a => (b, "for this username"),
            (Some(a), _) => (a, "from your address"),
            (None, Some(b)) => (b, "for this username"),
        };
        let retry_after_s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Err(ApiError::Retry {
            status: axum::http::StatusCode::TOO_MANY_REQUESTS,
            detail: format!(
                "Too many failed logins {whom}; logins are locked for {retry_after_s} s more \
                 ([limits] login_failures_before_lock, login_lock_s)."
            ),
            retry_after_s,
        })
    }

    /// Records a failed attempt; returns the lock it set on the address or username, if any.
    pub(crate) fn failed(&self, ip: IpAddr, username: &str) -> Option<Duration> {
        let now = Instant::now();
        let a = self.bump(&mut lock(&self.by_ip), ip, now);
        let b = self.bump(&mut lock(&self.by_name), name_key(username), now);
        if let Some(length) = a.max(b) {
            // The username is not logged: people type passwords into that field.
            let whom = if a.is_some() {
                "its address"
            } else {
                "its username"
            };
            self.log.warn(|held| {
                format!(
                    "login: a failed login from {ip} locked {whom} for {} s \
                     ([limits] login_failures_before_lock); {held} more locks since the last such line",
                    length.as_secs()
                )
            });
        }
        a.max(b)
    }

    /// Clears the records of a successful login.
    pub(crate) fn succeeded(&self, ip: IpAddr, username: &str) {
        lock(&self.by_ip).remove(&ip);
        lock(&self.by_name).remove(&name_key(username));
    }

    fn bump<K: Eq + Hash>(
        &self,
        map: &mut HashMap<K, Record>,
        key: K,
        now: Instant,
    ) -> Option<Duration> {
        if map.len() >= MAX_RECORDS && !map.contains_key(&key) {
            map.retain(|_, r| now.duration_since(r.last_failure) < FORGET_AFTER);
            if map.len() >= MAX_RECORDS {
                map.retain(|_, r| r.locked_until.is_some_and(|t| t > now));
            }
            if map.len() >= MAX_RECORDS {
                return None;
            }
        }
        let r = map.entry(key).or_insert(Record {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.duration_since(r.last_failure) >= FORGET_AFTER {
            r.failures = 0;
        }
        r.failures = r.failures.saturating_add(1);
        r.last_failure = now;
        let over = r.failures.checked_sub(self.free_failures)?.checked_sub(1);
        let length = match over {
            None => return None,
            Some(n) => self
                .lock
                .checked_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
                .unwrap_or(self.lock_max)
                .min(self.lock_max),
        };
        r.locked_until = Some(now + length);
        Some(length)
    }

    /// Forgets records without a failure for [`FORGET_AFTER`].
    pub(crate) fn prune(&self) {
        let now = Instant::now();
        lock(&self.by_ip).retain(|_, r| now.duration_since(r.last_failure) < FORGET_AFTER);
        lock(&self.by_name).retain(|_, r| now.duration_since(r.last_failure) < FORGET_AFTER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(free: u32, lock_s: u64, max_s: u64) -> LoginGuard {
        let mut limits = crate::config::Config::defaults().limits.abuse;
        limits.login_failures_before_lock = free;
        limits.login_lock_s = lock_s;
        limits.login_lock_max_s = max_s;
        LoginGuard::new(&limits)
    }

    #[test]
    fn failures_beyond_the_free_ones_lock_for_doubling_times_up_to_the_cap() {
        let g = guard(3, 2, 10);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let locks: Vec<Option<u64>> = (0..7)
            .map(|_| g.failed(ip, "admin").map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            locks,
            [None, None, None, Some(2), Some(4), Some(8), Some(10)]
        );
    }

    #[test]
    fn a_locked_username_is_refused_from_any_address_and_a_success_clears_it() {
        let g = guard(1, 600, 600);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let elsewhere: IpAddr = "192.0.2.10".parse().unwrap();
        g.failed(ip, "admin");
        g.check(ip, "admin").unwrap();
        g.failed(ip, "admin");
        let Err(ApiError::Retry { detail, .. }) = g.check(elsewhere, "admin") else {
            panic!("a locked username was let through");
        };
        assert!(detail.contains("username"), "{detail}");
        assert!(g.check(ip, "curator").is_err(), "the address is locked too");
        g.check(elsewhere, "curator").unwrap();
        g.succeeded(ip, "admin");
        g.check(ip, "admin").unwrap();
    }
}
