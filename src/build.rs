//! Embeds the web pages: every file under `src/web/assets/` becomes an entry of a generated
//! table (`$OUT_DIR/web_assets.rs`) with its bytes (`include_bytes!`) and a strong ETag
//! computed here, so adding a page file needs no Rust change. Text files (HTML, CSS,
//! JavaScript, SVG, JSON, Markdown) also get a gzip copy made here (`$OUT_DIR/web_gz/`, with
//! its own ETag) when it saves at least a tenth: the box sends it to browsers that accept
//! gzip, so phones on the venue Wi-Fi load Leaflet's 147 KB as about 43 KB.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Extensions of the files worth compressing (images and audio are compressed already).
const TEXT: &[&str] = &[
    "html", "htm", "js", "mjs", "css", "svg", "json", "md", "txt",
];

fn main() {
    let root = Path::new("src/web/assets");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR set by cargo"));
    let gz_dir = out_dir.join("web_gz");
    std::fs::create_dir_all(&gz_dir).expect("make the gzip directory");
    let mut out = String::from("&[\n");
    for (i, path) in files.iter().enumerate() {
        let rel = path
            .strip_prefix(root)
            .expect("under the assets root")
            .to_str()
            .expect("asset paths are UTF-8")
            .replace('\\', "/");
        let bytes = std::fs::read(path).expect("asset readable");
        let abs = std::fs::canonicalize(path).expect("asset path");
        println!("cargo:rerun-if-changed={}", path.display());
        let hash = fnv1a(&bytes);
        let gz = match gzip_if_smaller(&rel, &bytes) {
            Some(gz) => {
                let gz_path = gz_dir.join(format!("{i}.gz"));
                std::fs::write(&gz_path, &gz).expect("write a gzip copy");
                // The compressed bytes are another representation: another strong ETag.
                format!(
                    "Some((\"\\\"{hash:016x}-{:x}-gz\\\"\", include_bytes!({:?})))",
                    bytes.len(),
                    gz_path.display().to_string()
                )
            }
            None => "None".to_string(),
        };
        let _ = writeln!(
            out,
            "    ({rel:?}, \"\\\"{hash:016x}-{:x}\\\"\", include_bytes!({:?}), {gz}),",
            bytes.len(),
            abs.display().to_string()
        );
    }
    out.push(']');
    std::fs::write(out_dir.join("web_assets.rs"), out).expect("write the asset table");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        // Editor droppings and hidden files are not served.
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, files);
        } else if path.is_file() {
            files.push(path);
        }
    }
}

/// The gzip copy of a text file when it is at least a tenth smaller (deterministic: no name,
/// no time in the header).
fn gzip_if_smaller(rel: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let ext = rel.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    if !TEXT.contains(&ext.as_str()) {
        return None;
    }
    let mut enc = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip in memory");
    let gz = enc.finish().expect("gzip in memory");
    (gz.len() * 10 <= bytes.len() * 9).then_some(gz)
}

/// 64-bit FNV-1a: enough to tell two versions of a page file apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
