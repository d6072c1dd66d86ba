//! BMP.

use super::*;


pub(super) struct BmpInfo {
    width: u32,
    height: u32,
    bits: u16,
    colors: u32,
}

pub(super) fn bmp_info(b: &[u8]) -> Option<BmpInfo> {
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let header_size = u32_at(14)?;
    if header_size == 12 {
        // OS/2 BITMAPCOREHEADER
        Some(BmpInfo {
            width: u32::from(u16_at(18)?),
            height: u32::from(u16_at(20)?),
            bits: u16_at(24)?,
            colors: 0,
        })
    } else {
        // width/height are signed (negative height = top-down rows)
        Some(BmpInfo {
            width: (u32_at(18)? as i32).unsigned_abs(),
            height: (u32_at(22)? as i32).unsigned_abs(),
            bits: u16_at(28)?,
            colors: if header_size >= 40 { u32_at(46)? } else { 0 },
        })
    }
}

pub(super) fn decode_bmp(bytes: &[u8], limits: &Limits, stop: StopProbe) -> Result<Decoded> {
    let info =
        bmp_info(bytes).ok_or_else(|| PreprocessError::Corrupt("BMP: truncated header".into()))?;
    check_pixels(info.width, info.height, limits)?;
    let mut dec =
        image::codecs::bmp::BmpDecoder::new(StopReader::new(bytes, stop)).map_err(image_err("BMP"))?;
    let (w, h) = dec.dimensions();
    check_pixels(w, h, limits)?;
    dec.set_limits(decoder_limits(limits))
        .map_err(image_err("BMP"))?;
    let ct = dec.color_type();
    let have = usize::from(ct.channel_count());

    let mode = if info.bits <= 8 {
        // BmpImagePlugin: palette images are 'P', unless the palette is the
        // gray ramp (then '1' for <= 2 colours, else 'L').
        let colors = if info.colors == 0 {
            1u32 << info.bits.min(8)
        } else {
            info.colors
        };
        let gray = match dec.get_palette() {
            Some(pal) if colors <= 256 => {
                let want = |i: usize| -> u8 {
                    if colors == 2 {
                        [0u8, 255][i]
                    } else {
                        i as u8
                    }
                };
                (0..colors as usize).all(|i| pal.get(i) == Some(&[want(i); 3]))
            }
            _ => false,
        };
        match (gray, colors <= 2) {
            (true, true) => PilMode::One,
            (true, false) => PilMode::L,
            (false, _) => PilMode::P,
        }
    } else if ct.has_alpha() {
        PilMode::Rgba
    } else {
        PilMode::Rgb
    };
    let mut data = alloc_bytes(dec.total_bytes())?;
    dec.read_image(&mut data).map_err(image_err("BMP"))?;
    // BMP has no EXIF; Pillow's exif_transpose is a no-op.
    finish(data, w, h, have, mode, Orientation::NoTransforms)
}
