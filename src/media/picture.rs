//! Site images (floor plans): an uploaded file is accepted only if it decodes as a PNG, JPEG
//! or WebP image (recognised by its bytes, never its name), within [`MAX_INPUT_PIXELS`] and
//! [`MAX_INPUT_SIDE_PX`] (checked from the header before anything is decoded). An image
//! larger than [`MAX_SIDE_PX`] on its longer side is downscaled to it, and a JPEG that a phone
//! stored turned (EXIF orientation) is turned upright; both are re-encoded (JPEG stays JPEG,
//! the rest become PNG). Anything else is kept byte for byte.
//!
//! Decoding is pure Rust (the `image` crate), bounded by the limits above and by an
//! allocation cap, and blocking: run it on a blocking thread, one at a time.
//!
//! Owns: checking and shrinking site images. May not touch: the database, file names.

use std::io::Cursor;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// Longer side of a stored site image, in pixels: larger uploads are downscaled to this.
pub(crate) const MAX_SIDE_PX: u32 = 4096;
/// Largest upload accepted, in pixels (width × height), e.g. 8000 × 4500.
pub(crate) const MAX_INPUT_PIXELS: u64 = 36_000_000;
/// Longest side of an upload accepted, in pixels.
pub(crate) const MAX_INPUT_SIDE_PX: u32 = 12_000;
/// Memory the decoder may allocate.
const MAX_DECODE_BYTES: u64 = 320 * 1024 * 1024;
/// Quality of re-encoded JPEGs.
const JPEG_QUALITY: u8 = 85;

/// Why a file is not accepted as a site image.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PictureError {
    /// Not a PNG, JPEG or WebP file.
    #[error("The file is not a PNG, JPEG or WebP image.")]
    NotAnImage,
    /// Too many pixels.
    #[error(
        "The image is {width_px} × {height_px} pixels; the limit is {} megapixels and {MAX_INPUT_SIDE_PX} pixels on a side (larger plans are best exported at a lower resolution).",
        MAX_INPUT_PIXELS / 1_000_000
    )]
    TooLarge {
        /// Its width.
        width_px: u32,
        /// Its height.
        height_px: u32,
    },
    /// Recognised but undecodable (truncated, corrupt).
    #[error("The image cannot be read: {0}.")]
    Damaged(String),
    /// The file could not be read or the result written.
    #[error("reading the image failed: {0}")]
    Io(#[from] std::io::Error),
}

/// An accepted site image.
#[derive(Debug)]
pub(crate) struct Picture {
    /// The bytes to store, when re-encoded; `None`: store the upload as it is.
    pub reencoded: Option<Vec<u8>>,
    /// File extension of what is stored (`png`, `jpg`, `webp`).
    pub ext: &'static str,
    /// Stored width in pixels.
    pub width_px: u32,
    /// Stored height in pixels.
    pub height_px: u32,
}

/// Checks the image at `path` (see the module doc) and shrinks it if needed.
///
/// # Errors
/// [`PictureError`] saying what is wrong with it.
pub(crate) fn prepare(path: &Path) -> Result<Picture, PictureError> {
    // By the bytes only: `ImageReader::open` would trust the file's extension.
    let reader = || -> Result<ImageReader<_>, PictureError> {
        let file = std::io::BufReader::new(std::fs::File::open(path)?);
        Ok(ImageReader::new(file).with_guessed_format()?)
    };
    let format = reader()?.format();
    let ext = match format {
        Some(ImageFormat::Png) => "png",
        Some(ImageFormat::Jpeg) => "jpg",
        Some(ImageFormat::WebP) => "webp",
        _ => return Err(PictureError::NotAnImage),
    };
    let (width_px, height_px) = reader()?
        .into_dimensions()
        .map_err(|e| PictureError::Damaged(e.to_string()))?;
    if u64::from(width_px) * u64::from(height_px) > MAX_INPUT_PIXELS
        || width_px.max(height_px) > MAX_INPUT_SIDE_PX
    {
        return Err(PictureError::TooLarge {
            width_px,
            height_px,
        });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE_PX);
    limits.max_image_height = Some(MAX_INPUT_SIDE_PX);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = reader()?;
    reader.limits(limits);
    let damaged = |e: image::ImageError| PictureError::Damaged(e.to_string());
    let mut decoder = reader.into_decoder().map_err(damaged)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(damaged)?;
    let turned = orientation != Orientation::NoTransforms;
    image.apply_orientation(orientation);
    let too_big = image.width().max(image.height()) > MAX_SIDE_PX;
    if !too_big && !turned {
        return Ok(Picture {
            reencoded: None,
            ext,
            width_px: image.width(),
            height_px: image.height(),
        });
    }
    if too_big {
        image = image.resize(MAX_SIDE_PX, MAX_SIDE_PX, FilterType::Triangle);
    }
    let mut out = Cursor::new(Vec::new());
    let ext = if format == Some(ImageFormat::Jpeg) {
        // JPEG has no alpha; a CMYK or 16-bit source is written as 8-bit RGB.
        let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
        rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
            .map_err(damaged)?;
        "jpg"
    } else {
        image
            .write_to(&mut out, ImageFormat::Png)
            .map_err(damaged)?;
        "png"
    };
    Ok(Picture {
        reencoded: Some(out.into_inner()),
        ext,
        width_px: image.width(),
        height_px: image.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(
        dir: &Path,
        name: &str,
        image: &DynamicImage,
        format: ImageFormat,
    ) -> std::path::PathBuf {
        let path = dir.join(name);
        image.save_with_format(&path, format).unwrap();
        path
    }

    fn gradient(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        }))
    }

    /// PNG's chunk checksum (CRC-32, IEEE), so an edited header still reads as valid.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_small_png_jpeg_or_webp_is_kept_as_uploaded() {
        let dir = tempfile::tempdir().unwrap();
        for (format, ext) in [
            (ImageFormat::Png, "png"),
            (ImageFormat::Jpeg, "jpg"),
            (ImageFormat::WebP, "webp"),
        ] {
            // The name says nothing: the bytes decide.
            let path = write(dir.path(), "upload.bin", &gradient(300, 200), format);
            let p = prepare(&path).unwrap();
            assert_eq!((p.ext, p.width_px, p.height_px), (ext, 300, 200));
            assert!(p.reencoded.is_none(), "{ext}");
        }
    }

    #[test]
    fn a_large_image_is_downscaled_to_the_stored_limit_keeping_its_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "big.png",
            &gradient(5000, 2500),
            ImageFormat::Png,
        );
        let p = prepare(&path).unwrap();
        assert_eq!((p.width_px, p.height_px, p.ext), (MAX_SIDE_PX, 2048, "png"));
        let stored = image::load_from_memory(p.reencoded.as_deref().unwrap()).unwrap();
        assert_eq!((stored.width(), stored.height()), (MAX_SIDE_PX, 2048));

        let path = write(
            dir.path(),
            "big.jpg",
            &gradient(4200, 4200),
            ImageFormat::Jpeg,
        );
        let p = prepare(&path).unwrap();
        assert_eq!(
            (p.width_px, p.height_px, p.ext),
            (MAX_SIDE_PX, MAX_SIDE_PX, "jpg")
        );
        assert_eq!(
            image::guess_format(p.reencoded.as_deref().unwrap()).unwrap(),
            ImageFormat::Jpeg
        );
    }

    #[test]
    fn files_that_are_not_images_or_are_damaged_or_huge_are_refused_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("plan.png");
        std::fs::write(&text, "not an image at all").unwrap();
        assert!(matches!(prepare(&text), Err(PictureError::NotAnImage)));

        let gif = dir.path().join("plan.gif");
        std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
        assert!(matches!(prepare(&gif), Err(PictureError::NotAnImage)));

        let good = write(dir.path(), "cut.png", &gradient(400, 400), ImageFormat::Png);
        let bytes = std::fs::read(&good).unwrap();
        let cut = dir.path().join("cut-short.png");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = prepare(&cut).unwrap_err();
        assert!(matches!(err, PictureError::Damaged(_)), "{err}");

        // A PNG header claiming 20,000 × 20,000 pixels is refused before any decoding.
        let mut huge = bytes[..33].to_vec();
        huge[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let crc = crc32(&huge[12..29]);
        huge[29..33].copy_from_slice(&crc.to_be_bytes());
        // The header is read up to the first image data chunk.
        huge.extend_from_slice(&[0, 0, 0, 0]);
        huge.extend_from_slice(b"IDAT");
        huge.extend_from_slice(&crc32(b"IDAT").to_be_bytes());
        let huge_path = dir.path().join("huge.png");
        std::fs::write(&huge_path, huge).unwrap();
        let err = prepare(&huge_path).unwrap_err();
        assert!(
            matches!(
                err,
                PictureError::TooLarge {
                    width_px: 20_000,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("36 megapixels"), "{err}");
    }
}
