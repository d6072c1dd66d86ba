//! JPEG (zune-jpeg directly: zero-copy input, raw CMYK output).

use super::*;


pub(super) fn decode_jpeg(bytes: &[u8], limits: &Limits) -> Result<Decoded> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;

    let max_dim = max_dimension(limits) as usize;
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(max_dim)
        .set_max_height(max_dim);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    dec.decode_headers().map_err(jpeg_err)?;
    let (w, h) = dec
        .dimensions()
        .ok_or_else(|| PreprocessError::Corrupt("JPEG: no frame header".into()))?;
    let (width, height) = (w as u32, h as u32); // JPEG dimensions are u16
    check_pixels(width, height, limits)?;

    let input = dec
        .input_colorspace()
        .ok_or_else(|| PreprocessError::Corrupt("JPEG: no frame header".into()))?;
    // What libjpeg + Pillow produce: 1 component -> 'L'; YCbCr/RGB -> 'RGB';
    // CMYK/YCCK -> 'CMYK' (Adobe-inverted).
    let (out_space, mode) = match input {
        ColorSpace::Luma => (ColorSpace::Luma, PilMode::L),
        ColorSpace::YCbCr | ColorSpace::RGB => (ColorSpace::RGB, PilMode::Rgb),
        ColorSpace::CMYK => (ColorSpace::CMYK, PilMode::Cmyk),
        // DEVIATION: zune-jpeg cannot output raw YCCK->CMYK, so YCCK (Photoshop
        // CMYK JPEGs) is converted to RGB before the resize instead of after.
        ColorSpace::YCCK => (ColorSpace::RGB, PilMode::Rgb),
        other => {
            return Err(PreprocessError::UnsupportedFormat(format!(
                "JPEG with {other:?} colour space"
            )))
        }
    };
    dec.set_options(options.jpeg_set_out_colorspace(out_space));
    let orientation = dec
        .exif()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);

    // zune-jpeg (non-strict) silently grey-fills missing scan data; Pillow
    // refuses truncated files ("image file is truncated"). So do we.
    if !jpeg_has_eoi_after_scan(bytes) {
        return Err(PreprocessError::Corrupt(
            "JPEG: truncated (no end-of-image marker after the scan data)".into(),
        ));
    }

    let len = dec
        .output_buffer_size()
        .ok_or_else(|| PreprocessError::Corrupt("JPEG: image too large".into()))?;
    let mut data = alloc_bytes(len as u64)?;
    dec.decode_into(&mut data).map_err(jpeg_err)?;
    let have = out_space.num_components();
    if mode == PilMode::Cmyk {
        // Pillow opens every CMYK JPEG with rawmode "CMYK;I" (Adobe polarity).
        for v in data.iter_mut() {
            *v = 255 - *v;
        }
    }
    finish(data, width, height, have, mode, orientation)
}

pub(super) fn jpeg_err(e: zune_jpeg::errors::DecodeErrors) -> PreprocessError {
    use zune_jpeg::errors::DecodeErrors;
    match e {
        DecodeErrors::Unsupported(u) => {
            PreprocessError::UnsupportedFormat(format!("JPEG variant ({u:?})"))
        }
        other => corrupt("JPEG", other),
    }
}

/// Walk the marker segments up to the first SOS, then require an EOI marker
/// (FF D9) somewhere after it. Entropy-coded data cannot contain FF D9 (FF is
/// byte-stuffed), and EXIF thumbnails live before the first SOS, so this
/// detects truncated files while accepting trailing data after EOI (e.g.
/// motion photos). If the marker walk itself fails, the decoder decides.
pub(super) fn jpeg_has_eoi_after_scan(b: &[u8]) -> bool {
    let mut pos = 2usize; // after SOI
    let sos = loop {
        // skip fill bytes up to the next marker
        while pos < b.len() && b[pos] != 0xFF {
            pos += 1;
        }
        while pos < b.len() && b[pos] == 0xFF {
            pos += 1;
        }
        let Some(&marker) = b.get(pos) else {
            return true;
        };
        pos += 1;
        match marker {
            0xDA => break pos,
            0xD0..=0xD8 | 0x01 => continue,
            0xD9 => return true, // EOI before any scan: let the decoder complain
            _ => {
                let (Some(&hi), Some(&lo)) = (b.get(pos), b.get(pos + 1)) else {
                    return true;
                };
                pos += usize::from(u16::from_be_bytes([hi, lo]));
            }
        }
    };
    b.get(sos..)
        .map(|rest| rest.windows(2).any(|w| w == [0xFF, 0xD9]))
        .unwrap_or(false)
}
