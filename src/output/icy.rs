//! ICY (SHOUTcast/Icecast) in-band metadata, sent only to listeners that asked with
//! `Icy-MetaData: 1`: after every [`METAINT`] audio bytes one length byte `L`, then `L × 16`
//! bytes of `StreamTitle='…';` padded with zeros; `L = 0` (a single zero byte) means "no
//! change". The first block always carries the current title.
//!
//! Owns: the block format and the title escaping. May not touch: feeds, sockets.

use bytes::Bytes;

/// Audio bytes between two metadata blocks (Icecast 2.4's fixed value; announced in the
/// `icy-metaint` header).
pub(crate) const METAINT: usize = 16_000;

/// The largest block: the length byte can count 255 × 16 bytes.
const MAX_TEXT: usize = 255 * 16;

/// The block that says "title unchanged".
pub(crate) fn unchanged_block() -> Bytes {
    Bytes::from_static(&[0])
}

/// The block announcing `title`: length byte, `StreamTitle='…';`, zero padding.
///
/// The title is made safe for the `'…';` framing: `'` becomes `%27` (Roundware titles are URL
/// query strings, so clients decode it back to `'`), control characters are dropped, and the
/// text is cut at a character boundary so the block fits the 255 × 16 byte limit.
pub(crate) fn title_block(title: &str) -> Bytes {
    const PREFIX: &str = "StreamTitle='";
    const SUFFIX: &str = "';";
    let room = MAX_TEXT - PREFIX.len() - SUFFIX.len();
    let mut text = String::with_capacity(PREFIX.len() + title.len() + SUFFIX.len());
    text.push_str(PREFIX);
    for c in title.chars() {
        let piece_len = if c == '\'' { 3 } else { c.len_utf8() };
        if text.len() - PREFIX.len() + piece_len > room {
            break;
        }
        match c {
            '\'' => text.push_str("%27"),
            c if c.is_control() => {}
            c => text.push(c),
        }
    }
    text.push_str(SUFFIX);
    let blocks = text.len().div_ceil(16);
    let mut out = Vec::with_capacity(1 + blocks * 16);
    // blocks ≤ 255 by construction of `room`.
    out.push(u8::try_from(blocks).unwrap_or(u8::MAX));
    out.extend_from_slice(text.as_bytes());
    out.resize(1 + blocks * 16, 0);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_block_is_zero_padded_to_sixteen_bytes_with_its_length_first() {
        let b = title_block("Roundware - audiotrack=1&remaining=3&asset=5&tags=1%2C2");
        assert_eq!((b.len() - 1) % 16, 0);
        assert_eq!(usize::from(b[0]) * 16, b.len() - 1);
        let text = std::str::from_utf8(&b[1..]).unwrap().trim_end_matches('\0');
        assert_eq!(
            text,
            "StreamTitle='Roundware - audiotrack=1&remaining=3&asset=5&tags=1%2C2';"
        );
    }

    #[test]
    fn quotes_are_escaped_and_long_titles_cut_to_the_limit() {
        let b = title_block("it's';\nx");
        let text = std::str::from_utf8(&b[1..]).unwrap().trim_end_matches('\0');
        assert_eq!(text, "StreamTitle='it%27s%27;x';");
        let long = "é".repeat(5000);
        let b = title_block(&long);
        assert_eq!(b[0], 255);
        assert_eq!(b.len(), 1 + 255 * 16);
        let text = std::str::from_utf8(&b[1..]).unwrap().trim_end_matches('\0');
        assert!(text.ends_with("é';"));
        assert_eq!(title_block("").len(), 17);
        assert_eq!(&unchanged_block()[..], &[0]);
    }
}
