//! Run-time settings that survive restarts (the `settings` table): what the console chose for
//! a key that the configuration file also sets, with the file's value it replaced.
//!
//! Precedence, decided here once ([`Setting::effective`]): the configuration file's value is
//! the default; a console choice overrides it across restarts; editing the file to a new value
//! makes the file win again (the saved choice was made against the old value and is dropped).
//!
//! Owns: the `settings` table. May not touch: what a setting means (callers parse `value`).

use rusqlite::OptionalExtension;

use super::{Store, StoreResult};

/// The local listener's volume (0–100, as text).
pub(crate) const LOCAL_VOLUME: &str = "local.volume";
/// The local listener's output (an ALSA PCM name).
pub(crate) const LOCAL_OUTPUT: &str = "local.output";

/// A saved console choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    /// What the console chose.
    pub value: String,
    /// The configuration file's value at the time.
    pub config_value: String,
}

impl Setting {
    /// The value in effect given the file's `config_value` now: the saved choice while the file
    /// still says what it said when the choice was made, else the file's.
    pub(crate) fn effective<'a>(saved: Option<&'a Setting>, config_value: &'a str) -> &'a str {
        match saved {
            Some(s) if s.config_value == config_value => &s.value,
            _ => config_value,
        }
    }
}

impl Store {
    /// The saved choice for `key`, if any.
    ///
    /// # Errors
    /// [`super::StoreError`] if the database cannot be read.
    pub(crate) async fn setting(&self, key: &'static str) -> StoreResult<Option<Setting>> {
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT value, config_value FROM settings WHERE key = ?1",
                    [key],
                    |r| {
                        Ok(Setting {
                            value: r.get(0)?,
                            config_value: r.get(1)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    /// Saves the console's choice for `key` (made while the file said `setting.config_value`).
    /// Not a catalog change: streams are not told.
    ///
    /// # Errors
    /// [`super::StoreError`] if the database cannot be written.
    pub(crate) async fn save_setting(
        &self,
        key: &'static str,
        setting: Setting,
    ) -> StoreResult<()> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        self.write_quiet(move |tx| {
            tx.execute(
                "INSERT INTO settings (key, value, config_value, changed_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                   config_value = excluded.config_value, changed_ms = excluded.changed_ms",
                rusqlite::params![key, setting.value, setting.config_value, now_ms],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(value: &str, config_value: &str) -> Setting {
        Setting {
            value: value.into(),
            config_value: config_value.into(),
        }
    }

    #[test]
    fn the_file_value_holds_until_the_console_chooses() {
        assert_eq!(Setting::effective(None, "100"), "100");
    }

    #[test]
    fn a_console_choice_outlives_restarts_while_the_file_is_unchanged() {
        assert_eq!(Setting::effective(Some(&saved("40", "100")), "100"), "40");
    }

    #[test]
    fn editing_the_file_afterwards_makes_the_file_win_again() {
        assert_eq!(Setting::effective(Some(&saved("40", "100")), "80"), "80");
    }

    #[tokio::test]
    async fn a_saved_setting_reads_back_and_is_replaced_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
        assert_eq!(store.setting(LOCAL_VOLUME).await.unwrap(), None);
        store
            .save_setting(LOCAL_VOLUME, saved("40", "100"))
            .await
            .unwrap();
        store
            .save_setting(LOCAL_VOLUME, saved("55", "100"))
            .await
            .unwrap();
        assert_eq!(
            store.setting(LOCAL_VOLUME).await.unwrap(),
            Some(saved("55", "100"))
        );
    }
}
