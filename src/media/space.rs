//! The disk reserve: free space on the data partition that uploads may not use
//! (`[storage] min_free_mb`), so the database, logs and the system always have room on an SD
//! card. Owns measuring free space and the check made before and while media is written.
//! May not touch: HTTP, the store.

use std::path::{Path, PathBuf};

use super::MediaError;

/// Bytes written between two measurements of free space while a file grows.
pub(crate) const CHECK_EVERY_BYTES: u64 = 1024 * 1024;

/// Bytes available to unprivileged users on the filesystem holding `dir`.
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Measures free space; a function so tests can stand in for a filling disk.
pub(crate) type FreeSpace = fn(&Path) -> Option<u64>;

/// The reserve of one media folder, checked as files grow.
#[derive(Debug, Clone)]
pub(crate) struct Reserve {
    dir: PathBuf,
    min_free_bytes: u64,
    free: FreeSpace,
    unchecked_bytes: u64,
}

/// Why a write would cross the reserve: free space now and the reserve, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BelowReserve {
    /// Free bytes on the partition now (minus what the caller is about to write).
    pub free_bytes: u64,
    /// The reserve.
    pub min_free_bytes: u64,
}

impl BelowReserve {
    /// The client's message: the reserve and the free space, in MiB.
    pub fn message(&self) -> String {
        format!(
            "The box's disk is nearly full: {} MiB free, and uploads must leave {} MiB \
             ([storage] min_free_mb) for the database. The upload was not stored; try again \
             after old recordings have been removed.",
            self.free_bytes / (1024 * 1024),
            self.min_free_bytes / (1024 * 1024)
        )
    }
}

impl From<BelowReserve> for MediaError {
    fn from(b: BelowReserve) -> Self {
        Self::NoSpace(b.message())
    }
}

impl Reserve {
    /// The reserve of `dir`'s partition: `min_free_bytes` must stay free.
    pub(crate) fn new(dir: &Path, min_free_bytes: u64) -> Self {
        Self::with_free_space(dir, min_free_bytes, free_bytes)
    }

    /// Like [`Reserve::new`] with another way of measuring free space.
    pub(crate) fn with_free_space(dir: &Path, min_free_bytes: u64, free: FreeSpace) -> Self {
        Self {
            dir: dir.to_path_buf(),
            min_free_bytes,
            free,
            unchecked_bytes: 0,
        }
    }

    /// Checks that writing `more` bytes now would leave the reserve free. Free space that
    /// cannot be measured counts as enough (the write itself then reports a full disk).
    ///
    /// # Errors
    /// [`BelowReserve`] with the figures.
    pub(crate) fn check(&self, more: u64) -> Result<(), BelowReserve> {
        if self.min_free_bytes == 0 {
            return Ok(());
        }
        match (self.free)(&self.dir) {
            Some(free) if free.saturating_sub(more) < self.min_free_bytes => Err(BelowReserve {
                free_bytes: free.saturating_sub(more),
                min_free_bytes: self.min_free_bytes,
            }),
            _ => Ok(()),
        }
    }

    /// Records `n` bytes written; every [`CHECK_EVERY_BYTES`] the free space is measured again
    /// (other uploads and the database fill the same disk).
    ///
    /// # Errors
    /// [`BelowReserve`] once the reserve is crossed.
    pub(crate) fn wrote(&mut self, n: u64) -> Result<(), BelowReserve> {
        self.unchecked_bytes += n;
        if self.unchecked_bytes < CHECK_EVERY_BYTES {
            return Ok(());
        }
        self.unchecked_bytes = 0;
        self.check(0)
    }
}

/// True for the I/O errors of a full disk or an exhausted quota.
pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || matches!(e.raw_os_error(), Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error()
            || code == rustix::io::Errno::DQUOT.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_with_room_passes_and_one_below_the_reserve_is_refused_with_figures() {
        let dir = std::env::temp_dir();
        let reserve = Reserve::with_free_space(&dir, 200 << 20, |_| Some(300 << 20));
        assert!(reserve.check(50 << 20).is_ok());
        let err = reserve.check(150 << 20).unwrap_err();
        assert_eq!(err.free_bytes, 150 << 20);
        let msg = err.message();
        assert!(
            msg.contains("150 MiB free") && msg.contains("200 MiB"),
            "{msg}"
        );
        assert!(
            Reserve::with_free_space(&dir, 0, |_| Some(0))
                .check(1)
                .is_ok()
        );
    }

    #[test]
    fn a_growing_file_is_measured_again_every_mebibyte() {
        let dir = std::env::temp_dir();
        let mut reserve = Reserve::with_free_space(&dir, 10, |_| Some(5));
        assert!(
            reserve.wrote(CHECK_EVERY_BYTES - 1).is_ok(),
            "not yet measured"
        );
        assert!(reserve.wrote(1).is_err(), "measured at the mebibyte");
    }

    #[test]
    fn enospc_and_edquot_count_as_a_full_disk() {
        for code in [rustix::io::Errno::NOSPC, rustix::io::Errno::DQUOT] {
            assert!(is_disk_full(&std::io::Error::from_raw_os_error(
                code.raw_os_error()
            )));
        }
        assert!(!is_disk_full(&std::io::Error::from(
            std::io::ErrorKind::PermissionDenied
        )));
    }
}
