//! Process metrics from `/proc/self` (Linux): CPU time, resident memory, threads, open file
//! descriptors and start time, under the names Prometheus' own clients use.
//!
//! Owns: reading `/proc/self`. May not touch: anything else. Off Linux the lines are omitted.

use std::fmt::Write as _;

/// Kernel clock ticks per second for `/proc/<pid>/stat` times. `USER_HZ` is 100 on every
/// Linux architecture roundwared targets (x86_64, aarch64); reading `sysconf` would need
/// `unsafe`.
const USER_HZ: f64 = 100.0;

/// Appends `process_*` metrics.
pub(crate) fn write_metrics(out: &mut String) {
    let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok() else {
        return;
    };
    // Fields after the parenthesised command name (which may hold spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): utime = field 14, stime 15, num_threads 20, starttime 22,
    // rss 24 (pages).
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
             # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {:.2}",
            (utime + stime) / USER_HZ
        );
    }
    if let Some(threads) = field(20) {
        let _ = writeln!(
            out,
            "# HELP process_threads Number of OS threads.\n# TYPE process_threads gauge\nprocess_threads {threads}"
        );
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time_s()) {
        let _ = writeln!(
            out,
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n\
             # TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {:.2}",
            boot + start / USER_HZ
        );
    }
    if let Some(rss_kb) = status_kb("VmRSS:") {
        let _ = writeln!(
            out,
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}",
            rss_kb * 1024
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let _ = writeln!(
            out,
            "# HELP process_open_fds Number of open file descriptors.\n\
             # TYPE process_open_fds gauge\nprocess_open_fds {}",
            fds.count()
        );
    }
}

fn status_kb(key: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn boot_time_s() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_metrics_name_cpu_memory_and_descriptors() {
        let mut out = String::new();
        write_metrics(&mut out);
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_threads ",
            "process_start_time_seconds ",
        ] {
            assert!(out.contains(name), "{name} missing in {out}");
        }
    }
}
