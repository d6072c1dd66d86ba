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
    let meta = jpeg_metadata(bytes)?;
    // libjpeg only reads an Adobe APP14 of at least 12 bytes (the transform flag); a shorter one is
    // ignored, and Pillow reads it when it has the 7 bytes of its version field. zune-jpeg refuses any
    // APP14 "Adobe" under 12 bytes, so such segments are renamed to APP15 (never read) in a copy.
    let patched;
    let bytes = if meta.short_adobe.is_empty() {
        bytes
    } else {
        let mut copy = reserve_bytes(bytes.len())?;
        copy.extend_from_slice(bytes);
        for &at in &meta.short_adobe {
            copy[at] = 0xEF;
        }
        patched = copy;
        &patched[..]
    };
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
    let orientation = pillow_orientation(meta.exif.as_deref(), meta.xmp);

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

/// What Pillow's JpegImagePlugin takes from the segments before the first scan.
pub(super) struct JpegMeta<'a> {
    /// Every APP1 "Exif\0\0" payload: the first whole, later ones appended without their prefix.
    pub(super) exif: Option<Vec<u8>>,
    /// The last APP1 XMP packet.
    pub(super) xmp: Option<&'a [u8]>,
    /// Positions of the marker byte of APP14 "Adobe" segments too short for zune-jpeg.
    pub(super) short_adobe: Vec<usize>,
}

pub(super) fn jpeg_metadata(b: &[u8]) -> Result<JpegMeta<'_>> {
    const XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
    let mut meta = JpegMeta { exif: None, xmp: None, short_adobe: Vec::new() };
    let mut pos = 2usize;
    loop {
        while pos < b.len() && b[pos] != 0xFF {
            pos += 1;
        }
        while pos < b.len() && b[pos] == 0xFF {
            pos += 1;
        }
        let Some(&marker) = b.get(pos) else { break };
        pos += 1;
        match marker {
            0xDA | 0xD9 => break,
            0xD0..=0xD8 | 0x01 | 0x00 => continue,
            _ => {
                let (Some(&hi), Some(&lo)) = (b.get(pos), b.get(pos + 1)) else { break };
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                // A segment running past the end is the decoder's to refuse.
                let Some(payload) = b.get(pos + 2..pos + len.max(2)) else { break };
                match marker {
                    0xE1 if payload.starts_with(b"Exif\0\0") => match &mut meta.exif {
                        None => {
                            let mut v = reserve_bytes(payload.len())?;
                            v.extend_from_slice(payload);
                            meta.exif = Some(v);
                        }
                        Some(v) => {
                            // Bounded by the file's size, which the byte limit already bounds.
                            v.try_reserve(payload.len() - 6).map_err(|_| {
                                PreprocessError::OutOfMemory(format!("cannot allocate {} bytes", payload.len()))
                            })?;
                            v.extend_from_slice(&payload[6..]);
                        }
                    },
                    0xE1 if payload.starts_with(XMP) => meta.xmp = Some(&payload[XMP.len()..]),
                    // Pillow reads the 16-bit version after "Adobe" and fails on fewer than 7 bytes,
                    // as zune-jpeg does: those stay and are refused.
                    0xEE if payload.starts_with(b"Adobe") && (7..12).contains(&payload.len()) => {
                        // One entry per 9+ input bytes: bounded by the input, but still asked for.
                        meta.short_adobe.try_reserve(1).map_err(|_| {
                            PreprocessError::OutOfMemory("cannot record another Adobe segment".into())
                        })?;
                        meta.short_adobe.push(pos - 1)
                    }
                    _ => {}
                }
                pos += len;
            }
        }
    }
    Ok(meta)
}
