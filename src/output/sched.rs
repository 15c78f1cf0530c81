//! Real-time scheduling for the threads that keep the local sound card fed: the cpal
//! callback thread and the local listener's render thread ask for `SCHED_FIFO` at a
//! configured priority (`[local] realtime_priority`). Unprivileged, this needs
//! `RLIMIT_RTPRIO` (the packaged unit sets `LimitRTPRIO=`) or `CAP_SYS_NICE`; when the kernel
//! refuses, the thread keeps normal scheduling and the refusal is reported, never fatal.
//!
//! Owns: the promotion call and how its outcome is recorded in one atomic (readable from a
//! real-time thread without locking) and described to people. May not touch: which threads
//! are promoted (their owners decide), logging (the non-real-time side logs the outcome).

use std::sync::atomic::{AtomicI32, Ordering::Relaxed};

use thread_priority::{
    RealtimeThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
};

/// Outcome of a promotion, kept in an [`AtomicI32`]: 0 not tried, `> 0` the priority held,
/// `NOT_REQUESTED`, or `-errno` (or `OTHER_FAILURE`) when refused.
#[derive(Debug, Default)]
pub struct Promotion(AtomicI32);

/// Priority 0 was configured: the thread was left alone.
const NOT_REQUESTED: i32 = i32::MIN;
/// A failure without an errno (a priority out of the policy's range).
const OTHER_FAILURE: i32 = i32::MIN + 1;
/// `EPERM`: no `RLIMIT_RTPRIO` headroom and no `CAP_SYS_NICE`.
const EPERM: i32 = 1;

impl Promotion {
    /// Asks for `SCHED_FIFO` at `priority` (1–99; 0 leaves the thread alone) for the calling
    /// thread and records the outcome. Makes two or three system calls and never allocates,
    /// so a real-time callback may call it once, on its first run.
    pub fn promote_current_thread(&self, priority: u8) {
        if priority == 0 {
            self.0.store(NOT_REQUESTED, Relaxed);
            return;
        }
        let outcome = ThreadPriorityValue::try_from(priority)
            .map_err(|_| thread_priority::Error::Priority("out of range"))
            .and_then(|value| {
                thread_priority::set_thread_priority_and_policy(
                    thread_priority::thread_native_id(),
                    ThreadPriority::Crossplatform(value),
                    ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
                )
            });
        let code = match outcome {
            Ok(()) => i32::from(priority),
            Err(thread_priority::Error::OS(errno)) if errno > 0 => -errno,
            Err(_) => OTHER_FAILURE,
        };
        self.0.store(code, Relaxed);
    }

    /// The priority the thread runs at, once promoted.
    pub fn priority(&self) -> Option<u8> {
        u8::try_from(self.0.load(Relaxed)).ok().filter(|p| *p > 0)
    }

    /// Whether a requested promotion was refused by the kernel.
    pub fn refused(&self) -> bool {
        let code = self.0.load(Relaxed);
        code < 0 && code != NOT_REQUESTED
    }

    /// Whether the promotion has been attempted (or deliberately skipped).
    pub fn settled(&self) -> bool {
        self.0.load(Relaxed) != 0
    }

    /// For people: `"SCHED_FIFO priority 20"`, `"normal (real-time priority refused: …)"`,
    /// `"normal (real-time priority off)"`, or `""` before the thread ran.
    pub fn describe(&self) -> String {
        match self.0.load(Relaxed) {
            0 => String::new(),
            NOT_REQUESTED => "normal (real-time priority off)".into(),
            OTHER_FAILURE => "normal (real-time priority refused: priority out of range)".into(),
            p if p > 0 => format!("SCHED_FIFO priority {p}"),
            e if -e == EPERM => "normal (real-time priority refused: not permitted; give the \
                 service LimitRTPRIO= or CAP_SYS_NICE)"
                .into(),
            e => format!(
                "normal (real-time priority refused: {})",
                std::io::Error::from_raw_os_error(-e)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This thread's scheduling policy from `/proc` (field 41 of `stat`: 0 normal, 1 FIFO).
    fn policy_of_this_thread() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("read stat");
        let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
        // Fields from 3 on; the policy is field 41.
        after_name
            .split(' ')
            .nth(41 - 3)
            .and_then(|f| f.parse().ok())
            .expect("policy field")
    }

    fn rtprio_limit() -> u64 {
        let limits = std::fs::read_to_string("/proc/self/limits").expect("read limits");
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max realtime priority"))
            .expect("rtprio line");
        line.split_whitespace()
            .nth(3)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// CAP_SYS_NICE (bit 23) in this process's effective capabilities.
    fn has_cap_sys_nice() -> bool {
        let status = std::fs::read_to_string("/proc/self/status").expect("read status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|caps| caps & (1 << 23) != 0)
    }

    #[test]
    fn a_promotion_either_runs_the_thread_fifo_or_reports_why_not() {
        let handle = std::thread::spawn(|| {
            let p = Promotion::default();
            assert_eq!(p.describe(), "");
            p.promote_current_thread(5);
            (
                p.priority(),
                p.describe(),
                policy_of_this_thread(),
                p.refused(),
            )
        });
        let (priority, text, policy, refused) = handle.join().expect("thread");
        let privileged = has_cap_sys_nice() || rtprio_limit() >= 5;
        if privileged {
            assert_eq!(priority, Some(5), "{text}");
            assert_eq!(policy, 1, "the kernel does not show SCHED_FIFO");
            assert_eq!(text, "SCHED_FIFO priority 5");
            assert!(!refused);
        } else {
            assert!(refused, "{text}");
            assert_eq!(priority, None);
            assert_eq!(policy, 0);
            assert!(
                text.starts_with("normal (real-time priority refused"),
                "{text}"
            );
        }
    }

    #[test]
    fn priority_zero_leaves_the_thread_alone_and_says_so() {
        let handle = std::thread::spawn(|| {
            let p = Promotion::default();
            p.promote_current_thread(0);
            (
                p.settled(),
                p.refused(),
                p.priority(),
                p.describe(),
                policy_of_this_thread(),
            )
        });
        let (settled, refused, priority, text, policy) = handle.join().expect("thread");
        assert!(settled);
        assert!(!refused);
        assert_eq!(priority, None);
        assert_eq!(policy, 0);
        assert_eq!(text, "normal (real-time priority off)");
    }
}
