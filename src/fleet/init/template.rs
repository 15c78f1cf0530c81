//! What `fleet init` writes, as text: this box's `nats.conf` from fleet.md §3.7's template and
//! the systemd drop-in; and the checks on what goes into them (the leaf password, the hub's
//! address, the JetStream store folder), so that nothing a user gives can break the file's
//! quoting or the leaf URL.
//!
//! Owns: the templates and their inputs' checks. May not touch: files or processes (`init`'s).

use std::fmt::Write as _;
use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The port the hub takes leaf connections on unless told otherwise.
pub(crate) const LEAF_PORT: u16 = 7422;

/// The drop-in `roundwared.service.d/fleet.conf`: roundwared wants, and starts after, this
/// box's nats-server.
pub(crate) const DROPIN: &str = include_str!("../../../systemd/roundwared.service.d-fleet.conf");

/// The user the boxes' leaf connections sign in as at the hub.
const LEAF_USER: &str = "leaf";

/// Characters left as they are in a URL's password (RFC 3986's unreserved); the rest are
/// percent-encoded.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The venue's leaf password, checked: printable ASCII without `"` or `\` (it is written
/// between double quotes in the hub's `nats.conf`, and percent-encoded in a box's URL).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct LeafPassword(String);

impl std::fmt::Debug for LeafPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeafPassword(..)")
    }
}

impl LeafPassword {
    /// The password in a password file's text (surrounding white space and the newline
    /// trimmed).
    ///
    /// # Errors
    /// Why it cannot be used, for a message naming the file.
    pub(crate) fn from_file_text(text: &str) -> Result<Self, String> {
        let password = text.trim();
        if password.is_empty() {
            return Err(
                "is empty: write the venue's leaf password into it (the same on every \
                        box and the hub)"
                    .into(),
            );
        }
        if let Some(c) = password
            .chars()
            .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\\'))
        {
            return Err(format!(
                "holds {}: use letters, digits and ASCII punctuation other than \" and \\ \
                 (no spaces)",
                match c {
                    '"' | '\\' => format!("{c:?}"),
                    c if c.is_whitespace() => "a space".into(),
                    c => format!("the character {c:?}"),
                }
            ));
        }
        Ok(Self(password.to_owned()))
    }
}

/// The hub's leaf address, from `--hub nats-leaf://HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HubAddress {
    host: String,
    port: u16,
}

impl std::str::FromStr for HubAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{s:?} {why} (such as nats-leaf://hub.local:{LEAF_PORT})");
        let rest = s
            .strip_prefix("nats-leaf://")
            .ok_or_else(|| bad("is not a nats-leaf:// URL"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("has an IPv6 address without its closing ]"))?;
            if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                return Err(bad("has no IPv6 address between [ and ]"));
            }
            (format!("[{addr}]"), after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (rest.to_owned(), None),
            }
        };
        let plain_host = host.starts_with('[')
            || (!host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
        if !plain_host {
            return Err(bad(
                "names no host (letters, digits, . and -; the password comes from \
                 --leaf-password-file, not the URL)",
            ));
        }
        let port = match port {
            None => LEAF_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("has no port number after the host's :"))?,
        };
        Ok(Self { host, port })
    }
}

impl std::fmt::Display for HubAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "nats-leaf://{}:{}", self.host, self.port)
    }
}

/// This box's part in the venue, for its `nats.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// The hub: takes the boxes' leaf connections on `leaf_port`.
    Hub {
        /// Its leaf port.
        leaf_port: u16,
    },
    /// Box `number`: a leaf of the hub at `hub`.
    Box {
        /// `[fleet] box`.
        number: u32,
        /// The hub's leaf address.
        hub: HubAddress,
    },
}

/// Everything the `nats.conf` template takes.
#[derive(Debug)]
pub(crate) struct NatsConf<'a> {
    /// Hub or box.
    pub(crate) part: &'a Part,
    /// `[fleet] hub_domain` (the hub's JetStream domain).
    pub(crate) hub_domain: &'a str,
    /// The client port on 127.0.0.1 (`[fleet] nats_url`'s).
    pub(crate) port: u16,
    /// JetStream's folder, checked by [`store_dir`].
    pub(crate) store_dir: &'a str,
    /// The venue's leaf password.
    pub(crate) password: &'a LeafPassword,
}

/// The JetStream store folder as it goes between double quotes in `nats.conf`.
///
/// # Errors
/// Why it cannot: not absolute, or holding `"`, `\` or a control character.
pub(crate) fn store_dir(path: &Path) -> Result<&str, String> {
    let text = path
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
    if !path.is_absolute() {
        return Err(format!("{text:?} is not an absolute path"));
    }
    if text
        .chars()
        .any(|c| c.is_control() || matches!(c, '"' | '\\'))
    {
        return Err(format!(
            "{text:?} holds a quote, a backslash or a control character"
        ));
    }
    Ok(text)
}

/// A JetStream domain as a `nats.conf` value: bare when it starts with a letter (the README's
/// form), quoted otherwise (a bare value starting with a digit would be read as a number).
fn domain_value(domain: &str) -> String {
    if domain.starts_with(|c: char| c.is_ascii_alphabetic()) {
        domain.to_owned()
    } else {
        format!("\"{domain}\"")
    }
}

/// This box's `nats.conf` (fleet.md §3.7): clients only on 127.0.0.1, a dead Wi-Fi link found
/// in about 10 s, JetStream in the box's own domain (`b<N>`, the hub's `hub_domain`), and the
/// leaf link: the hub listens for the boxes, a box connects to the hub.
pub(crate) fn nats_conf(c: &NatsConf<'_>) -> String {
    let (name, domain) = match c.part {
        Part::Hub { .. } => (c.hub_domain.to_owned(), domain_value(c.hub_domain)),
        Part::Box { number, .. } => (format!("b{number}"), format!("b{number}")),
    };
    let mut out = String::from(
        "# Written by `roundwared fleet init` (README \"Fleet\"); running it again rewrites this file.\n",
    );
    let _ = writeln!(out, "server_name: {name}");
    let _ = writeln!(out, "host: 127.0.0.1");
    let _ = writeln!(out, "port: {}", c.port);
    out.push_str("ping_interval: \"5s\"\nping_max: 2\n");
    let _ = writeln!(
        out,
        "jetstream {{ store_dir: \"{}\", domain: {domain}, max_memory_store: 8MB, \
         max_file_store: 8GB }}",
        c.store_dir
    );
    let password = &c.password.0;
    match c.part {
        Part::Hub { leaf_port } => {
            let _ = writeln!(
                out,
                "leafnodes {{ port: {leaf_port}, authorization {{ user: {LEAF_USER}, \
                 password: \"{password}\" }} }}"
            );
        }
        Part::Box { hub, .. } => {
            let _ = writeln!(
                out,
                "leafnodes {{ remotes [ {{ url: \"nats-leaf://{LEAF_USER}:{}@{}:{}\" }} ] }}",
                utf8_percent_encode(password, USERINFO),
                hub.host,
                hub.port
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(s: &str) -> LeafPassword {
        LeafPassword::from_file_text(s).unwrap()
    }

    fn hub(s: &str) -> HubAddress {
        s.parse().unwrap()
    }

    /// The code blocks of the README's "Fleet" section that are a `nats.conf`.
    fn readme_confs() -> Vec<String> {
        let readme = include_str!("../../../README.md");
        readme
            .split("```")
            .skip(1)
            .step_by(2)
            .filter(|block| block.contains("server_name:"))
            .map(|block| block.trim_start_matches('\n').to_owned())
            .collect()
    }

    #[test]
    fn the_template_writes_the_readmes_nats_conf_for_the_hub_and_for_a_box() {
        let secret = password("venue-secret");
        let store = "/var/lib/roundwared-nats";
        let hub_conf = nats_conf(&NatsConf {
            part: &Part::Hub {
                leaf_port: LEAF_PORT,
            },
            hub_domain: "hub",
            port: 4222,
            store_dir: store,
            password: &secret,
        });
        let box_conf = nats_conf(&NatsConf {
            part: &Part::Box {
                number: 2,
                hub: hub("nats-leaf://hub.local:7422"),
            },
            hub_domain: "hub",
            port: 4222,
            store_dir: store,
            password: &secret,
        });
        let shown = |conf: String| conf.replace("venue-secret", "<venue secret>");
        assert_eq!(readme_confs(), vec![shown(hub_conf), shown(box_conf)]);
    }

    #[test]
    fn a_password_with_url_characters_is_percent_encoded_in_the_url_and_kept_in_the_hubs_quotes() {
        let secret = password("  p@ss:w/rd%#$&!?'{}[]=+,;\n");
        let part = Part::Box {
            number: 7,
            hub: hub("nats-leaf://10.0.0.1:7500/"),
        };
        let conf = nats_conf(&NatsConf {
            part: &part,
            hub_domain: "hub",
            port: 4300,
            store_dir: "/tmp/js",
            password: &secret,
        });
        assert!(
            conf.contains(
                "url: \"nats-leaf://leaf:p%40ss%3Aw%2Frd%25%23%24%26%21%3F%27%7B%7D%5B%5D%3D%2B%2C%3B@10.0.0.1:7500\""
            ),
            "{conf}"
        );
        assert!(conf.contains("server_name: b7\n") && conf.contains("domain: b7,"));
        assert!(conf.contains("port: 4300\n"));
        let hub_conf = nats_conf(&NatsConf {
            part: &Part::Hub { leaf_port: 7500 },
            hub_domain: "venue-1",
            port: 4222,
            store_dir: "/tmp/js",
            password: &secret,
        });
        assert!(
            hub_conf.contains("password: \"p@ss:w/rd%#$&!?'{}[]=+,;\" } }"),
            "{hub_conf}"
        );
        assert!(
            hub_conf.contains("server_name: venue-1\n") && hub_conf.contains("domain: venue-1,")
        );
        let numeric = nats_conf(&NatsConf {
            part: &Part::Hub { leaf_port: 7500 },
            hub_domain: "9th",
            port: 4222,
            store_dir: "/tmp/js",
            password: &secret,
        });
        assert!(numeric.contains("domain: \"9th\","), "{numeric}");
    }

    #[test]
    fn a_password_that_is_empty_or_would_break_the_quoting_is_refused_saying_why() {
        assert!(
            LeafPassword::from_file_text(" \n")
                .unwrap_err()
                .contains("is empty")
        );
        assert!(
            LeafPassword::from_file_text("a\"b")
                .unwrap_err()
                .contains("'\"'")
        );
        assert!(
            LeafPassword::from_file_text("a\\b")
                .unwrap_err()
                .contains("'\\\\'")
        );
        assert!(
            LeafPassword::from_file_text("two words")
                .unwrap_err()
                .contains("a space")
        );
        assert!(LeafPassword::from_file_text("café").is_err());
        assert_eq!(format!("{:?}", password("secret")), "LeafPassword(..)");
    }

    #[test]
    fn the_hub_address_takes_a_host_and_an_optional_port_and_nothing_else() {
        assert_eq!(
            hub("nats-leaf://hub.local").to_string(),
            "nats-leaf://hub.local:7422"
        );
        assert_eq!(
            hub("nats-leaf://[fd00::1]:7000").to_string(),
            "nats-leaf://[fd00::1]:7000"
        );
        for bad in [
            "hub.local:7422",
            "nats://hub.local:7422",
            "nats-leaf://leaf:pw@hub.local:7422",
            "nats-leaf://hub.local:port",
            "nats-leaf://hub.local:0",
            "nats-leaf://",
            "nats-leaf://hub local",
            "nats-leaf://[::1",
        ] {
            assert!(bad.parse::<HubAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_store_folder_must_be_absolute_and_quotable() {
        assert_eq!(
            store_dir(Path::new("/var/lib/roundwared-nats")).unwrap(),
            "/var/lib/roundwared-nats"
        );
        assert!(store_dir(Path::new("relative/js")).is_err());
        assert!(store_dir(Path::new("/tmp/a\"b")).is_err());
        assert!(store_dir(Path::new("/tmp/a\nb")).is_err());
    }

    #[test]
    fn the_dropin_orders_roundwared_after_its_nats_server() {
        assert!(
            DROPIN
                .contains("[Unit]\nWants=roundwared-nats.service\nAfter=roundwared-nats.service\n")
        );
    }
}
