//! The layering of `src/` (the crate documentation's *Layout*), checked on the sources: each
//! rule names a folder or file and what it may not import, and SQL lives in the store. A new
//! arrow from a lower layer to a higher one fails here, naming the file and the line.

use std::path::{Path, PathBuf};

/// (module path under `src/`, crate modules it may not name).
const RULES: &[(&str, &[&str])] = &[
    // Broadcast channels are a service below HTTP: handlers call it, it never calls them,
    // and it meets the engine only through the audio side's seam (`audio::LocalStreams`).
    (
        "broadcast",
        &[
            "api",
            "app",
            "web",
            "conductor",
            "local_listener",
            "service",
        ],
    ),
    // Imports from another server's api/2 write through the store; they serve nothing.
    (
        "bridge",
        &[
            "api",
            "app",
            "web",
            "conductor",
            "local_listener",
            "audio",
            "output",
        ],
    ),
    // The HTTP layer is handed its components; it does not wire the box.
    ("api", &["app", "local_listener", "service", "web"]),
    ("web", &["api", "app", "store", "conductor"]),
    ("local_listener", &["api", "app", "web"]),
    // The engine's side never reaches up to HTTP or to the daemon's wiring.
    (
        "conductor",
        &["api", "app", "web", "local_listener", "service"],
    ),
    (
        "output",
        &["api", "app", "conductor", "local_listener", "web"],
    ),
    (
        "audio",
        &[
            "api",
            "app",
            "conductor",
            "output",
            "playlist",
            "local_listener",
        ],
    ),
    // The outgoing HTTP client hands bytes to its callers and knows none of them.
    (
        "net",
        &[
            "api",
            "app",
            "conductor",
            "output",
            "store",
            "web",
            "local_listener",
            "audio",
        ],
    ),
    // Fleet mode talks to NATS and the store; HTTP reads its view, it never reaches up.
    (
        "fleet",
        &[
            "api",
            "app",
            "web",
            "conductor",
            "local_listener",
            "service",
            "output",
            "audio",
        ],
    ),
    // Pure rules: no I/O layer at all.
    (
        "playlist",
        &["api", "app", "conductor", "output", "audio", "media"],
    ),
    (
        "spatial.rs",
        &["api", "app", "conductor", "output", "audio", "media"],
    ),
    (
        "geometry.rs",
        &[
            "api",
            "app",
            "store",
            "conductor",
            "playlist",
            "output",
            "audio",
        ],
    ),
    (
        "position",
        &["api", "app", "conductor", "store", "local_listener"],
    ),
    // The upload service works over the store and media; it tells the engine through a hook.
    (
        "ingest",
        &[
            "api",
            "app",
            "conductor",
            "web",
            "local_listener",
            "service",
            "output",
            "audio",
            "playlist",
        ],
    ),
    (
        "media",
        &[
            "api",
            "app",
            "ingest",
            "conductor",
            "web",
            "local_listener",
            "service",
            "output",
            "playlist",
        ],
    ),
    (
        "store",
        &[
            "api",
            "app",
            "conductor",
            "playlist",
            "spatial",
            "output",
            "audio",
            "web",
        ],
    ),
];

/// Where SQL may be written: the store, the two tools that copy or seed whole databases, and
/// the reader of MBTiles files (another SQLite file, opened read-only, never the box's own).
const SQL_ALLOWED: &[&str] = &["store", "backup.rs", "demo", "tiles.rs"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `path` (or `path` itself), with its text up to its unit tests.
fn sources(path: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    if !path.exists() {
        // A module that is one file (`src/local_listener.rs`).
        return sources(&path.with_extension("rs"));
    }
    if path.is_file() {
        let text = std::fs::read_to_string(path).expect("read source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        out.push((path.to_path_buf(), code.to_string()));
        return out;
    }
    for entry in std::fs::read_dir(path).expect("read dir").flatten() {
        let p = entry.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let source = name.ends_with(".rs") && !name.ends_with("tests.rs");
        let folder = p.is_dir() && name != "assets" && name != "migrations";
        if source || folder {
            out.extend(sources(&p));
        }
    }
    out
}

/// Lines of `code` that are not comments.
fn code_lines(code: &str) -> impl Iterator<Item = (usize, &str)> {
    code.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start()))
        .filter(|(_, l)| !l.starts_with("//"))
}

/// Whether `line` names crate module `m` (`crate::m::…`, `crate::m;`, or inside a
/// `use crate::{…}` group).
fn names(line: &str, m: &str) -> bool {
    if line.contains(&format!("crate::{m}::")) || line.contains(&format!("crate::{m};")) {
        return true;
    }
    let Some(group) = line.strip_prefix("use crate::{") else {
        return false;
    };
    group
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|word| word == m)
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let mut broken = Vec::new();
    for (module, forbidden) in RULES {
        let files = sources(&src().join(module));
        assert!(!files.is_empty(), "no sources for {module}");
        for (path, code) in files {
            for (n, line) in code_lines(&code) {
                for f in *forbidden {
                    if names(line, f) {
                        broken.push(format!("{}:{n}: {module} names {f}", path.display()));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the layering:\n{}",
        broken.join("\n")
    );
}

#[test]
fn sql_is_written_only_in_the_store() {
    let mut broken = Vec::new();
    for (path, code) in sources(&src()) {
        let rel = path.strip_prefix(src()).unwrap_or(&path);
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        if SQL_ALLOWED.contains(&first.as_str()) {
            continue;
        }
        for (n, line) in code_lines(&code) {
            let sql = [
                "\"SELECT ",
                "\"INSERT ",
                "\"UPDATE ",
                "\"DELETE ",
                "rusqlite::",
            ]
            .iter()
            .any(|k| line.contains(k));
            if sql {
                broken.push(format!("{}:{n}: {line}", rel.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "SQL outside src/store/:\n{}",
        broken.join("\n")
    );
}
