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

    let mut dec =
        image::codecs::png::PngDecoder::with_limits(StopReader::new(bytes, stop), decoder_limits(limits))
            .map_err(image_err("PNG"))?;
    let orientation = dec.orientation().unwrap_or(Orientation::NoTransforms);
    let (w, h) = dec.dimensions();
    check_pixels(w, h, limits)?;
    let ct = dec.color_type();
    let mut data = alloc_bytes(dec.total_bytes())?;
    dec.read_image(&mut data).map_err(image_err("PNG"))?;
    let have = usize::from(ct.channel_count());
    if ct.bytes_per_pixel() == 2 * ct.channel_count() {
        u16_to_high_byte(&mut data);
    }
    // Pillow's PngImagePlugin._MODES. A tRNS chunk does not change the mode
    // for gray/RGB/palette images (only info["transparency"]), so the alpha
    // channel the png crate synthesises from tRNS is dropped.
    let mode = match (color_type, bit_depth) {
        (0, 1) => PilMode::One,
        // DEVIATION (deliberate): Pillow opens 16-bit gray as 'I;16' and its
        // convert('RGB') clips every value > 255 to white, wrecking the image.
        // We take the high byte instead, like Pillow does for 16-bit RGB(A).
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
