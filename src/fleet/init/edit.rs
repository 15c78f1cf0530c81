//! `fleet init`'s edit of the roundwared config: `[fleet]` `enabled`, `role`, `box` (and
//! `nats_url` when this box's nats-server listens elsewhere) set with `toml_edit`, so that the
//! file's comments, its other tables and the other keys of `[fleet]` stay as they were, and a
//! second run with the same choices changes nothing.
//!
//! Owns: the TOML text edit. May not touch: files (`init`'s), validation (the config loader's).

use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use crate::config::{FleetConfig, FleetRole};

/// The keys `fleet init` sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FleetKeys {
    /// `role`.
    pub(crate) role: FleetRole,
    /// `box`.
    pub(crate) number: u32,
    /// `nats_url`: written only when it differs from the file's (or the default).
    pub(crate) nats_url: String,
}

/// Why the config could not be edited.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EditError {
    /// The file is not TOML (the parser's message).
    Parse(String),
    /// `fleet` is a value, not a table.
    NotATable,
    /// `[fleet] box` is already another number and `--force` was not given.
    BoxChanged {
        /// The number in the file.
        old: i64,
    },
}

/// `text` with the fleet keys set.
///
/// # Errors
/// [`EditError`].
pub(crate) fn set_fleet(text: &str, keys: &FleetKeys, force: bool) -> Result<String, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse(e.to_string().trim_end().to_owned()))?;
    if !doc.contains_key("fleet") {
        doc.insert("fleet", Item::Table(Table::new()));
    }
    let item = doc.get_mut("fleet").ok_or(EditError::NotATable)?;
    if let Some(table) = item.as_table_mut() {
        // `[fleet.central]` alone leaves `[fleet]` implicit: its keys need the header.
        table.set_implicit(false);
    }
    let fleet = item.as_table_like_mut().ok_or(EditError::NotATable)?;
    let old = fleet.get("box").and_then(Item::as_integer);
    if let Some(old) = old
        && old != 0
        && old != i64::from(keys.number)
        && !force
    {
        return Err(EditError::BoxChanged { old });
    }
    let role = match keys.role {
        FleetRole::Hub => "hub",
        FleetRole::Box => "box",
    };
    set(fleet, "enabled", Value::from(true));
    set(fleet, "role", Value::from(role));
    set(fleet, "box", Value::from(i64::from(keys.number)));
    let nats_url = fleet
        .get("nats_url")
        .and_then(Item::as_str)
        .map_or_else(|| FleetConfig::default().nats_url, str::to_owned);
    if nats_url != keys.nats_url {
        set(fleet, "nats_url", Value::from(keys.nats_url.as_str()));
    }
    Ok(doc.to_string())
}

/// Sets `key` to `value`, keeping the key's line (its comments above) and the value's
/// trailing comment when it is there already.
fn set(table: &mut dyn TableLike, key: &str, mut value: Value) {
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        Some(other) => *other = Item::Value(value),
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(role: FleetRole, number: u32) -> FleetKeys {
        FleetKeys {
            role,
            number,
            nats_url: "nats://127.0.0.1:4222".into(),
        }
    }

    const PACKAGED: &str = include_str!("../../../config/roundwared.packaged.toml");

    #[test]
    fn the_packaged_config_gains_the_fleet_keys_and_keeps_every_comment_and_other_table() {
        let edited = set_fleet(PACKAGED, &keys(FleetRole::Box, 2), false).unwrap();
        // Every line of the original is still there, in order, and only the three keys are new.
        let mut original = PACKAGED.lines().peekable();
        let mut added = Vec::new();
        for line in edited.lines() {
            if original.peek() == Some(&line) {
                original.next();
            } else {
                added.push(line);
            }
        }
        assert_eq!(original.next(), None, "a line of the original was lost");
        assert_eq!(added, ["enabled = true", "role = \"box\"", "box = 2"]);
        let config = crate::config::Config::from_toml_str(&edited, "t.toml".as_ref()).unwrap();
        assert!(config.fleet.enabled);
        assert_eq!(config.fleet.box_number, 2);
        assert_eq!(config.fleet.role, FleetRole::Box);
        assert_eq!(
            config.storage.data_dir,
            std::path::Path::new("/var/lib/roundwared")
        );
    }

    #[test]
    fn running_the_edit_twice_changes_nothing_the_second_time() {
        for text in [PACKAGED, "", "[http]\nlisten = \"0.0.0.0:80\"\n"] {
            let once = set_fleet(text, &keys(FleetRole::Hub, 1), false).unwrap();
            let twice = set_fleet(&once, &keys(FleetRole::Hub, 1), false).unwrap();
            assert_eq!(once, twice);
        }
    }

    #[test]
    fn existing_keys_keep_their_place_and_trailing_comments_and_other_fleet_keys_stay() {
        let text = "# venue config\n[fleet]\n# on or off\nenabled = false   # standalone\n\
                    audit_s = 60 # often\nrole = \"box\"\n\n[fleet.central]\nurl = \"https://x/api/2/\"\n\n\
                    [http]\nlisten = \"0.0.0.0:80\" # port 80\n";
        let edited = set_fleet(text, &keys(FleetRole::Hub, 1), false).unwrap();
        assert_eq!(
            edited,
            "# venue config\n[fleet]\n# on or off\nenabled = true   # standalone\n\
             audit_s = 60 # often\nrole = \"hub\"\nbox = 1\n\n[fleet.central]\nurl = \"https://x/api/2/\"\n\n\
             [http]\nlisten = \"0.0.0.0:80\" # port 80\n"
        );
    }

    #[test]
    fn a_config_without_fleet_gets_the_table_and_one_with_only_central_gets_its_header() {
        let edited = set_fleet(
            "[http]\nlisten = \"0.0.0.0:80\"\n",
            &keys(FleetRole::Box, 3),
            false,
        )
        .unwrap();
        assert_eq!(
            edited,
            "[http]\nlisten = \"0.0.0.0:80\"\n\n[fleet]\nenabled = true\nrole = \"box\"\nbox = 3\n"
        );
        let edited = set_fleet(
            "[fleet.central]\nurl = \"https://x/\"\n",
            &keys(FleetRole::Hub, 1),
            false,
        )
        .unwrap();
        let parsed: toml::Table = toml::from_str(&edited).unwrap();
        assert_eq!(parsed["fleet"]["box"].as_integer(), Some(1));
        assert_eq!(
            parsed["fleet"]["central"]["url"].as_str(),
            Some("https://x/")
        );
    }

    #[test]
    fn another_box_number_in_the_file_needs_force() {
        let text = "[fleet]\nenabled = true\nbox = 3\n";
        assert_eq!(
            set_fleet(text, &keys(FleetRole::Box, 4), false),
            Err(EditError::BoxChanged { old: 3 })
        );
        let forced = set_fleet(text, &keys(FleetRole::Box, 4), true).unwrap();
        assert!(forced.contains("box = 4\n"), "{forced}");
        // The same number, or the default 0, is no change.
        assert!(set_fleet(text, &keys(FleetRole::Box, 3), false).is_ok());
        assert!(set_fleet("[fleet]\nbox = 0\n", &keys(FleetRole::Box, 4), false).is_ok());
    }

    #[test]
    fn nats_url_is_written_only_when_the_server_listens_elsewhere() {
        let other = FleetKeys {
            nats_url: "nats://127.0.0.1:4300".into(),
            ..keys(FleetRole::Box, 2)
        };
        let edited = set_fleet("", &other, false).unwrap();
        assert!(
            edited.contains("nats_url = \"nats://127.0.0.1:4300\"\n"),
            "{edited}"
        );
        let back = set_fleet(&edited, &keys(FleetRole::Box, 2), false).unwrap();
        assert!(
            back.contains("nats_url = \"nats://127.0.0.1:4222\"\n"),
            "{back}"
        );
        assert!(
            !set_fleet("", &keys(FleetRole::Box, 2), false)
                .unwrap()
                .contains("nats_url")
        );
    }

    #[test]
    fn a_file_that_is_not_toml_or_whose_fleet_is_a_value_is_refused() {
        assert!(matches!(
            set_fleet("[fleet\n", &keys(FleetRole::Box, 2), false),
            Err(EditError::Parse(_))
        ));
        assert_eq!(
            set_fleet("fleet = 3\n", &keys(FleetRole::Box, 2), false),
            Err(EditError::NotATable)
        );
    }
}
