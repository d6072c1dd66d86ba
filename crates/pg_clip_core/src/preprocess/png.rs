//! PNG.

use super::*;


pub(super) fn decode_png(bytes: &[u8], limits: &Limits, stop: StopProbe) -> Result<Decoded> {
    // IHDR is required to be the first chunk: sig(8) len(4) "IHDR"(4) data(13)
    let ihdr = match bytes.get(8..29) {
        Some(h) if &h[4..8] == b"IHDR" => h,
        _ => return Err(PreprocessError::Corrupt("PNG: missing IHDR chunk".into())),
    };
    let width = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    let height = u32::from_be_bytes([ihdr[12], ihdr[13], ihdr[14], ihdr[15]]);
    let (bit_depth, color_type) = (ihdr[16], ihdr[17]);
    check_pixels(width, height, limits)?;
    check_png_palette(bytes)?;

    let dec =
        image::codecs::png::PngDecoder::with_limits(StopReader::new(bytes, stop), decoder_limits(limits))
            .map_err(image_err("PNG"))?;
    let orientation = png_orientation(bytes, stop)?;
    let (w, h) = dec.dimensions();
    check_pixels(w, h, limits)?;
    let ct = dec.color_type();
    let mut data = alloc_bytes(dec.total_bytes())?;
    dec.read_image(&mut data).map_err(image_err("PNG"))?;
    let have = usize::from(ct.channel_count());
    if (color_type, bit_depth) == (0, 16) {
        // Pillow opens 16-bit gray as 'I;16' (a tRNS chunk changes nothing there): keep the samples,
        // little-endian, 2 bytes a pixel; the gray+alpha the png crate makes of a tRNS loses its alpha.
        let per_px = usize::from(ct.bytes_per_pixel());
        if per_px != 2 {
            let n = data.len() / per_px.max(1);
            for i in 0..n {
                data.copy_within(i * per_px..i * per_px + 2, 2 * i);
            }
            data.truncate(2 * n);
        }
        for s in data.chunks_exact_mut(2) {
            let v = u16::from_ne_bytes([s[0], s[1]]);
            s.copy_from_slice(&v.to_le_bytes());
        }
        return finish(data, w, h, 2, PilMode::I16, orientation);
    }
    if ct.bytes_per_pixel() == 2 * ct.channel_count() {
        u16_to_high_byte(&mut data);
    }
    // Pillow's PngImagePlugin._MODES. A tRNS chunk does not change the mode
    // for gray/RGB/palette images (only info["transparency"]), so the alpha
    // channel the png crate synthesises from tRNS is dropped.
    let mode = match (color_type, bit_depth) {
        (0, 1) => PilMode::One,
        (0, _) => PilMode::L,
        (2, _) => PilMode::Rgb,
        (3, _) => PilMode::P,
        (4, 8) => PilMode::La,
        (4, _) => PilMode::Rgba, // Pillow: (16, 4) -> "RGBA" via "LA;16B"; same result as La
        (6, _) => PilMode::Rgba,
        _ => {
            return Err(PreprocessError::Corrupt(format!(
                "PNG: invalid colour type {color_type} / bit depth {bit_depth}"
            )))
        }
    };
    let mode = if mode == PilMode::Rgba && have == 2 {
        PilMode::La
    } else {
        mode
    };
    finish(data, w, h, have, mode, orientation)
}

/// A PLTE chunk must hold 1 to 256 whole RGB entries (PNG spec 11.2.3; libpng refuses others). The png
/// crate indexes a short one out of bounds and panics.
pub(super) fn check_png_palette(bytes: &[u8]) -> Result<()> {
    let mut pos = 8usize;
    while let Some(header) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        if kind == b"PLTE" && (len == 0 || len % 3 != 0 || len > 768) {
            return Err(PreprocessError::Corrupt(format!(
                "PNG: PLTE chunk of {len} bytes is not 1 to 256 RGB entries"
            )));
        }
        if kind == b"IDAT" || kind == b"IEND" {
            break; // PLTE must come before the image data
        }
        pos = match pos.checked_add(12).and_then(|p| p.checked_add(len)) {
            Some(next) => next,
            None => break,
        };
    }
    Ok(())
}

/// Pillow's MAX_TEXT_CHUNK: a zTXt/iTXt that inflates to more makes Pillow refuse the file.
const MAX_TEXT_CHUNK: usize = 1 << 20;

/// The orientation `exif_transpose` finds in a PNG, from every chunk (Pillow's `load()` reads those
/// after the image data too): eXIf, or a tEXt "exif", else ImageMagick's "Raw profile type exif" text
/// (tEXt, zTXt or iTXt), then the XMP packet's tiff:Orientation. The last chunk of each kind wins, as
/// each replaces the previous one in Pillow's `info`.
pub(super) fn png_orientation<'a>(bytes: &'a [u8], stop: StopProbe) -> Result<Orientation> {
    const RAW: &[u8] = b"Raw profile type exif";
    const XMP: &[u8] = b"XML:com.adobe.xmp";
    let (mut exif, mut raw, mut xmp): (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>) = (None, None, None);
    let mut pos = 8usize;
    let mut seen = 0u32;
    while let Some(header) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let Some(data) = pos.checked_add(8 + len).and_then(|end| bytes.get(pos + 8..end)) else { break };
        seen += 1;
        if seen % 256 == 0 {
            check_stop(stop)?;
        }
        let split = |d: &'a [u8]| -> (&'a [u8], &'a [u8]) {
            match d.iter().position(|&c| c == 0) {
                Some(z) => (&d[..z], &d[z + 1..]),
                None => (d, &[]),
            }
        };
        match kind {
            b"eXIf" => exif = Some(copy_of(data)?),
            b"tEXt" => {
                let (k, v) = split(data);
                match k {
                    b"exif" => exif = Some(copy_of(v)?),
                    RAW => raw = Some(copy_of(v)?),
                    XMP => xmp = Some(copy_of(v)?),
                    _ => {}
                }
            }
            b"zTXt" if data.starts_with(RAW) || data.starts_with(XMP) => {
                let (k, v) = split(data);
                // Method byte 0 is zlib; another makes Pillow refuse the file, a broken stream is "".
                if v.first().copied().unwrap_or(0) != 0 {
                    return Err(PreprocessError::Corrupt("PNG: unknown zTXt compression method".into()));
                }
                let text = inflate_text(v.get(1..).unwrap_or(&[]))?.unwrap_or_default();
                if k == RAW { raw = Some(text) } else if k == XMP { xmp = Some(text) }
            }
            b"iTXt" if data.starts_with(RAW) || data.starts_with(XMP) => {
                let (k, r) = split(data);
                if r.len() < 2 {
                    pos += 12 + len;
                    continue;
                }
                let (cf, cm, r) = (r[0], r[1], &r[2..]);
                // language tag and translated keyword, then the text
                let Some(v) = r.splitn(3, |&c| c == 0).nth(2) else {
                    pos += 12 + len;
                    continue;
                };
                let v = match (cf, cm) {
                    (0, _) => Some(copy_of(v)?),
                    (_, 0) => inflate_text(v)?,
                    _ => None,
                };
                if let Some(v) = v {
                    if k == RAW { raw = Some(v) } else if k == XMP { xmp = Some(v) }
                }
            }
            _ => {}
        }
        pos += 12 + len;
    }
    let exif = match (exif, raw) {
        (Some(e), _) => Some(e),
        (None, Some(r)) => Some(raw_profile_bytes(&r)?),
        (None, None) => None,
    };
    Ok(pillow_orientation(exif.as_deref(), xmp.as_deref()))
}

fn copy_of(d: &[u8]) -> Result<Vec<u8>> {
    let mut v = reserve_bytes(d.len())?;
    v.extend_from_slice(d);
    Ok(v)
}

/// Pillow's _safe_zlib_decompress: at most MAX_TEXT_CHUNK bytes, more is a refusal; a broken stream
/// gives None (Pillow drops the value).
fn inflate_text(z: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut out = reserve_bytes(MAX_TEXT_CHUNK + 1)?;
    let mut d = flate2::Decompress::new(true);
    match d.decompress_vec(z, &mut out, flate2::FlushDecompress::Finish) {
        Err(_) => return Ok(None),
        Ok(_) if out.len() > MAX_TEXT_CHUNK => {
            return Err(PreprocessError::Corrupt(format!(
                "PNG: a text chunk inflates to more than {MAX_TEXT_CHUNK} bytes"
            )))
        }
        Ok(_) => {}
    }
    Ok(Some(out))
}

/// ImageMagick's "\nexif\n<len>\n<hex lines>": the hex after the third newline, as Pillow's
/// `bytes.fromhex` reads it (whitespace between byte pairs allowed; anything else fails there, and
/// so Pillow refuses the file).
fn raw_profile_bytes(text: &[u8]) -> Result<Vec<u8>> {
    // Pillow joins the lines after the third, so a newline vanishes (even inside a byte pair) while
    // other whitespace may only stand between pairs. Read in place: no copy of the joined text.
    let start = text.iter().enumerate().filter(|&(_, &c)| c == b'\n').nth(2).map_or(text.len(), |(i, _)| i + 1);
    let mut hex = text[start..].iter().copied().filter(|&c| c != b'\n');
    let mut out = reserve_bytes((text.len() - start) / 2)?;
    let val = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    while let Some(c) = hex.next() {
        if c.is_ascii_whitespace() {
            continue;
        }
        match (val(c), hex.next().and_then(val)) {
            (Some(h), Some(l)) => out.push(h << 4 | l),
            _ => return Err(PreprocessError::Corrupt("PNG: the raw EXIF profile is not hexadecimal".into())),
        }
    }
    Ok(out)
}
