//! Image decoding + CLIP ViT-B/32 preprocessing (pure Rust, no pgrx).
//!
//! The reference is open_clip's eval transform for ViT-B-32 as run on a PIL
//! image, preceded by `ImageOps.exif_transpose`:
//!
//! ```text
//! Resize(224, BICUBIC)      # torchvision -> PIL img.resize((w', h'), BICUBIC)
//! CenterCrop(224)           # top/left = int(round((len - 224) / 2.0)), banker's rounding
//! convert('RGB')            # AFTER resize/crop, in the image's native PIL mode
//! ToTensor()                # /255 in f32
//! Normalize(mean, std)      # (x - mean) / std in f32
//! ```
//!
//! What is reproduced from Pillow 13 (see `PilMode`); for PNG, GIF, BMP and
//! WebP (lossless and lossy) the output is bit-identical to the reference:
//! * every source is mapped to the PIL mode Pillow opens it in ('L', 'LA',
//!   'RGB', 'RGBA', 'CMYK', 'P', '1') and resized in that mode;
//! * 'P' and '1' are resized with NEAREST (Pillow forces it), replaying
//!   Pillow's ImagingScaleAffine index accumulation in doubles;
//! * 'RGBA'/'LA' are resized premultiplied (RGBa/La via MULDIV255) and
//!   un-premultiplied with Pillow's truncating division; alpha is then dropped;
//! * bicubic is Pillow's Resample.c 8 bpc path re-implemented exactly: a = -0.5,
//!   support scaled by the downscale factor, coefficients computed with the
//!   same double operations and quantised to 22-bit fixed point, horizontal
//!   pass then vertical pass with a clipped 8-bit intermediate. (fast_image_resize
//!   was evaluated and rejected: i16 coefficients with dynamic precision and a
//!   vertical-first pass order for u8 give +-1-2 level differences on ~0.3-5%
//!   of values, amplified up to 250 levels by un-premultiplying near-zero alpha.)
//! * CMYK JPEGs are inverted (Pillow's "CMYK;I"), resized as 4 channels, then
//!   converted with Pillow's cmyk2rgb;
//! * only the 224x224 centre crop of the resized image is computed (same
//!   values: every output pixel only depends on its own coefficients).
//!
//! Known deviations are marked `DEVIATION` next to the code they concern:
//! JPEG pixels come from zune-jpeg, not libjpeg-turbo (IDCT, chroma
//! upsampling and colour conversion rounding differ by a few levels); YCCK
//! JPEGs are converted to RGB before the resize. 16-bit gray PNGs follow Pillow's
//! 'I;16' path (16-bit resize, then every sample clipped to 255). The orientation is read as Pillow's `getexif` reads it (EXIF in
//! JPEG APP1, PNG eXIf / text chunks / ImageMagick raw profile, WebP EXIF; else XMP's tiff:Orientation).

use std::fmt;

use image::metadata::Orientation;
use image::ImageDecoder;

mod bmp;
mod gif;
mod jpeg;
mod orientation;
mod png;
mod raster;
mod resample;
mod sniff;
mod tensor;
mod webp;
#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;

use self::bmp::*;
use self::gif::*;
use self::jpeg::*;
use self::orientation::*;
use self::png::*;
use self::raster::*;
use self::resample::*;
use self::sniff::*;
use self::tensor::*;
use self::webp::*;

pub use crate::clip::{IMAGE_SIZE, PREPROCESS_VERSION, TENSOR_LEN};
use crate::clip::{MEAN, STD};

const SIZE: u64 = IMAGE_SIZE as u64;
const PLANE: usize = IMAGE_SIZE * IMAGE_SIZE;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_pixels: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PreprocessError {
    Empty,
    TooManyBytes {
        bytes: usize,
        limit: usize,
    },
    TooManyPixels {
        width: u32,
        height: u32,
        limit: u64,
    },
    /// magic bytes not an image we know
    UnrecognizedFormat,
    /// recognised but not supported (e.g. "TIFF")
    UnsupportedFormat(String),
    /// truncated/invalid data, with the decoder's message
    Corrupt(String),
    /// The caller's stop probe said so (a query cancel, a termination, a deadline): not the image's fault.
    Stopped,
    /// Decoding needs more memory than the decoder budget allows, or than the system would give: refused
    /// before the allocation, so a hostile header is an error, never an aborted backend.
    OutOfMemory(String),
}

const SUPPORTED: &str = "JPEG, PNG, WebP, GIF, BMP";

impl fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreprocessError::Empty => write!(f, "image data is empty"),
            PreprocessError::TooManyBytes { bytes, limit } => write!(
                f,
                "image data is {bytes} bytes, which exceeds the limit of {limit} bytes"
            ),
            PreprocessError::TooManyPixels {
                width,
                height,
                limit,
            } => write!(
                f,
                "image is {width}x{height} = {} pixels, which exceeds the limit of {limit} pixels",
                u64::from(*width) * u64::from(*height)
            ),
            PreprocessError::UnrecognizedFormat => write!(
                f,
                "data is not a recognized image format (supported: {SUPPORTED})"
            ),
            PreprocessError::UnsupportedFormat(what) => write!(
                f,
                "unsupported image format: {what} (supported: {SUPPORTED})"
            ),
            PreprocessError::Corrupt(msg) => write!(f, "invalid or corrupt image: {msg}"),
            PreprocessError::OutOfMemory(msg) => write!(f, "image needs too much memory to decode: {msg}"),
            PreprocessError::Stopped => write!(f, "preprocessing was stopped (cancel or timeout)"),
        }
    }
}

impl std::error::Error for PreprocessError {}

type Result<T, E = PreprocessError> = std::result::Result<T, E>;

/// Decode `bytes`, preprocess like open_clip ViT-B-32 + Pillow, and write one
/// CHW f32 tensor (len `TENSOR_LEN`) into `out`.
///
/// # Panics
/// If `out.len() != TENSOR_LEN` (a caller bug, independent of the image data).
/// No input bytes make this function panic.
pub fn preprocess_into(bytes: &[u8], limits: &Limits, out: &mut [f32]) -> Result<()> {
    preprocess_into_stoppable(bytes, limits, out, &|| false)
}

/// Asked between the stages and between blocks of the work of one image, from whatever thread runs it:
/// true ends the image with [`PreprocessError::Stopped`]. Must be cheap and callable from any thread.
pub type StopProbe<'a> = &'a (dyn Fn() -> bool + Sync);

/// [`preprocess_into`] that a cancel can stop: the probe is checked before decoding, inside the
/// decoders that read through [`raster::StopReader`] (PNG, GIF, WebP, BMP: between reads of the
/// input), between stages, and between bands of the resize. JPEG decoding (zune-jpeg, one call over
/// the whole slice) is not interruptible inside.
pub fn preprocess_into_stoppable(bytes: &[u8], limits: &Limits, out: &mut [f32], stop: StopProbe) -> Result<()> {
    assert_eq!(
        out.len(),
        TENSOR_LEN,
        "preprocess_into: output slice must hold exactly TENSOR_LEN floats"
    );
    if bytes.is_empty() {
        return Err(PreprocessError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(PreprocessError::TooManyBytes {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let format = sniff(bytes)?;
    check_stop(stop)?;
    // The decoders are third-party code fed hostile bytes: a panic in one (an unchecked slice index, say)
    // is that image's error, not a failure of the whole call. (AssertUnwindSafe: after a panic nothing the
    // closure touched is used again; the probe only reads flags.)
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match format {
        Format::Jpeg => decode_jpeg(bytes, limits),
        Format::Png => decode_png(bytes, limits, stop),
        Format::Gif => decode_gif(bytes, limits, stop),
        Format::WebP => decode_webp(bytes, limits, stop),
        Format::Bmp => decode_bmp(bytes, limits, stop),
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(PreprocessError::Corrupt(format!("the {format:?} decoder gave up on this file ({what})")))
    });
    // A decoder that failed because its reader was stopped reports a read error: the stop is the cause.
    let decoded = decoded.map_err(|e| if stop() { PreprocessError::Stopped } else { e });
    let Decoded {
        raster,
        mode,
        orientation,
    } = decoded?;
    check_stop(stop)?;
    let raster = apply_orientation(raster, orientation)?;
    let (pixels, premultiplied) = resize_and_crop(raster, mode, stop)?;
    // 16-bit gray leaves the resize already converted (clipped) to 8-bit gray.
    let mode = if mode == PilMode::I16 { PilMode::L } else { mode };
    write_tensor(&pixels, mode, premultiplied, out);
    Ok(())
}

/// Convenience wrapper around [`preprocess_into`].
pub fn preprocess(bytes: &[u8], limits: &Limits) -> Result<Vec<f32>> {
    preprocess_stoppable(bytes, limits, &|| false)
}

/// Convenience wrapper around [`preprocess_into_stoppable`].
pub fn preprocess_stoppable(bytes: &[u8], limits: &Limits, stop: StopProbe) -> Result<Vec<f32>> {
    let mut out = raster::filled(TENSOR_LEN, 0f32)?;
    preprocess_into_stoppable(bytes, limits, &mut out, stop)?;
    Ok(out)
}
