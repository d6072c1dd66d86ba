//! BMP, read the way Pillow's BmpImagePlugin reads it (our own reader, not the image crate's).
//!
//! The image crate's decoder refuses files Pillow reads (OS/2 v2 headers, "planes" != 1, top-down RLE)
//! and widens 5-bit channels differently, so this follows BmpImagePlugin step by step: the header
//! sizes it accepts, the palette read right after the header, the pixel data at the file header's
//! offset (moved past the palette when it points right after the header), the same raw modes and the
//! same RLE decoder, including what it does with deltas, short rows and odd lengths.

use super::*;

/// Which bytes of a 32-bit pixel hold R, G, B (and A): Pillow's MASK_MODES.
#[derive(Clone, Copy)]
enum Layout {
    /// 1, 4 or 8-bit indices, MSB first.
    Indexed,
    /// 16 bits, little-endian: (red shift, green shift, green bits); blue is the low 5 bits.
    Packed16 { red: u32, green_bits: u32 },
    /// `bytes` bytes per pixel, R/G/B(/A) at these byte positions.
    Bytes { bytes: usize, rgb: [usize; 3], alpha: Option<usize> },
}

pub(super) fn decode_bmp(b: &[u8], limits: &Limits, stop: StopProbe) -> Result<Decoded> {
    let bad = |m: &str| PreprocessError::Corrupt(format!("BMP: {m}"));
    let unsupported = |m: String| PreprocessError::UnsupportedFormat(format!("BMP {m}"));
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |o: usize| b.get(o..o + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    let truncated = || bad("truncated header");
    let mut offset = u32_at(10).ok_or_else(truncated)? as usize;
    let header_size = u32_at(14).ok_or_else(truncated)? as usize;
    if b.len() < 14 + header_size.max(4) {
        return Err(truncated());
    }
    // (width, height, top-down, bits, compression, colours, palette entry size)
    let (width, height, top_down, bits, compression, colors, entry) = match header_size {
        12 => {
            let (w, h, bits) = (u16_at(18).ok_or_else(truncated)?, u16_at(20).ok_or_else(truncated)?, u16_at(24).ok_or_else(truncated)?);
            (u32::from(w), u32::from(h), false, bits, 0u32, 0u32, 3usize)
        }
        40 | 52 | 56 | 64 | 108 | 124 => {
            // Pillow: the height's top byte 0xFF means top-down, height 2^32 - value.
            let raw_h = u32_at(22).ok_or_else(truncated)?;
            let top_down = b[25] == 0xFF;
            let h = if top_down { 0u32.wrapping_sub(raw_h) } else { raw_h };
            (u32_at(18).ok_or_else(truncated)?, h, top_down, u16_at(28).ok_or_else(truncated)?, u32_at(30).ok_or_else(truncated)?, u32_at(46).ok_or_else(truncated)?, 4)
        }
        other => return Err(unsupported(format!("header of {other} bytes"))),
    };
    // Heights like 2^31 (a "negative" one without the 0xFF top byte) are huge, which the pixel limit
    // refuses before anything is allocated.
    check_pixels(width, height, limits)?;
    let mut pos = 14 + header_size; // where Pillow's file pointer is: palette or masks come next
    let masks: Option<[u32; 4]> = if compression == 3 && header_size != 12 {
        if header_size >= 52 {
            let a = if header_size >= 56 { u32_at(66).ok_or_else(truncated)? } else { 0 };
            Some([u32_at(54).ok_or_else(truncated)?, u32_at(58).ok_or_else(truncated)?, u32_at(62).ok_or_else(truncated)?, a])
        } else {
            let m = [u32_at(pos).ok_or_else(truncated)?, u32_at(pos + 4).ok_or_else(truncated)?, u32_at(pos + 8).ok_or_else(truncated)?, 0];
            pos += 12;
            Some(m)
        }
    } else {
        None
    };
    let colors = if colors == 0 { 1u64 << bits.min(63) } else { u64::from(colors) };
    if offset == 14 + header_size && bits <= 8 {
        offset = offset.saturating_add((entry as u64).saturating_mul(colors).min(usize::MAX as u64 / 2) as usize);
    }
    let mut mode = match bits {
        1 | 4 | 8 => PilMode::P,
        16 | 24 | 32 => PilMode::Rgb,
        other => return Err(unsupported(format!("pixel depth of {other} bits"))),
    };
    let rle = match compression {
        0 => false,
        1 | 2 => true,
        3 => false,
        4 => return Err(unsupported("with JPEG compression".into())),
        5 => return Err(unsupported("with PNG compression".into())),
        other => return Err(unsupported(format!("compression {other}"))),
    };
    let layout = match (bits, masks) {
        (1 | 4 | 8, None) => Layout::Indexed,
        (16, None) | (16, Some([0x7C00, 0x3E0, 0x1F, _])) => Layout::Packed16 { red: 10, green_bits: 5 },
        (16, Some([0xF800, 0x7E0, 0x1F, _])) => Layout::Packed16 { red: 11, green_bits: 6 },
        (24, None) | (24, Some([0xFF_0000, 0xFF00, 0xFF, _])) => Layout::Bytes { bytes: 3, rgb: [2, 1, 0], alpha: None },
        (32, None) => Layout::Bytes { bytes: 4, rgb: [2, 1, 0], alpha: None },
        (32, Some([0, 0, 0, 0])) => Layout::Bytes { bytes: 4, rgb: [2, 1, 0], alpha: Some(3) },
        (32, Some(m)) => {
            const SUPPORTED: [[u32; 4]; 7] = [
                [0xFF_0000, 0xFF00, 0xFF, 0],
                [0xFF00_0000, 0xFF_0000, 0xFF00, 0],
                [0xFF00_0000, 0xFF00, 0xFF, 0],
                [0xFF00_0000, 0xFF_0000, 0xFF00, 0xFF],
                [0xFF, 0xFF00, 0xFF_0000, 0xFF00_0000],
                [0xFF_0000, 0xFF00, 0xFF, 0xFF00_0000],
                [0xFF00_0000, 0xFF00, 0xFF, 0xFF_0000],
            ];
            if !SUPPORTED.contains(&m) {
                return Err(unsupported("bitfields layout".into()));
            }
            let byte = |mask: u32| (mask.trailing_zeros() / 8) as usize;
            let alpha = (m[3] != 0).then(|| byte(m[3]));
            Layout::Bytes { bytes: 4, rgb: [byte(m[0]), byte(m[1]), byte(m[2])], alpha }
        }
        _ => return Err(unsupported("bitfields layout".into())),
    };
    if let Layout::Bytes { alpha: Some(_), .. } = layout {
        mode = PilMode::Rgba;
    }
    if rle && mode != PilMode::P {
        return Err(unsupported(format!("RLE with {bits}-bit pixels")));
    }

    // The palette, read where the header ends; a gray ramp (or black/white) drops it: 'L' / '1'.
    let mut after_palette = pos;
    let mut lut = [[0u8; 3]; 256];
    for (i, e) in lut.iter_mut().enumerate() {
        *e = [i as u8; 3]; // ImagingPaletteNew's ramp for the entries a file does not define
    }
    if mode == PilMode::P {
        // Pillow's gray check computes o8(index) for every entry and fails past 255.
        if colors > 256 {
            return Err(unsupported(format!("palette of {colors} colours")));
        }
        let palette = b.get(pos..).unwrap_or(&[]);
        let palette = &palette[..palette.len().min(entry * colors as usize)];
        after_palette = pos + palette.len();
        let gray = (0..colors as usize).all(|i| {
            let v = if colors == 2 { [0u8, 255][i] } else { i as u8 };
            palette.get(i * entry..i * entry + 3) == Some(&[v; 3][..])
        });
        if gray {
            mode = if colors <= 2 { PilMode::One } else { PilMode::L };
            // Pillow then reads the pixels as 1-bit ('1') or 8-bit ('L') whatever their depth: only
            // the matching depths give the picture, the others are Pillow misreading the file.
            let pillow_bits = if mode == PilMode::One { 1 } else { 8 };
            if !rle && bits != pillow_bits {
                return Err(unsupported(format!(
                    "{bits}-bit pixels with a {colors}-entry gray palette (Pillow reads them as {pillow_bits}-bit)"
                )));
            }
        } else {
            for (e, c) in lut.iter_mut().zip(palette.chunks_exact(entry)) {
                *e = [c[2], c[1], c[0]];
            }
        }
    }

    let (w, h) = (width as usize, height as usize);
    // Pillow's tile offset is `offset or fp.tell()`: a zero offset means "right here".
    if offset == 0 {
        offset = after_palette;
    }
    let data = b.get(offset..).unwrap_or(&[]);
    let mut indices = Vec::new();
    let stride = (w * usize::from(bits)).div_ceil(32) * 4;
    if rle {
        indices = rle_decode(b, offset, w, h, compression == 2, stop)?;
    } else {
        // Pillow's raw decoder needs every row, the last one without its padding.
        let line = (w * usize::from(bits)).div_ceil(8);
        if data.len() < (h - 1) * stride + line {
            return Err(bad("truncated pixel data"));
        }
    }
    let channels = mode.channels();
    let mut out = alloc_bytes(w as u64 * h as u64 * channels as u64)?;
    for y in 0..h {
        if y % 64 == 0 {
            check_stop(stop)?;
        }
        // Bottom-up unless the height was negative.
        let src_row = if top_down { y } else { h - 1 - y };
        let dst = &mut out[y * w * channels..(y + 1) * w * channels];
        if rle {
            let row = &indices[src_row * w..(src_row + 1) * w];
            for (d, &i) in dst.chunks_exact_mut(channels).zip(row) {
                match mode {
                    PilMode::One => d[0] = if i != 0 { 255 } else { 0 },
                    PilMode::L => d[0] = i,
                    _ => d.copy_from_slice(&lut[usize::from(i)]),
                }
            }
            continue;
        }
        let row = &data[src_row * stride..];
        match layout {
            Layout::Indexed => {
                let per = 8 / usize::from(bits);
                let mask = ((1u16 << bits) - 1) as u8;
                for (x, d) in dst.chunks_exact_mut(channels).enumerate() {
                    let byte = row[x / per];
                    let i = (byte >> (8 - usize::from(bits) * (x % per + 1))) & mask;
                    match mode {
                        PilMode::One => d[0] = if i != 0 { 255 } else { 0 },
                        PilMode::L => d[0] = i,
                        _ => d.copy_from_slice(&lut[usize::from(i)]),
                    }
                }
            }
            Layout::Packed16 { red, green_bits } => {
                // Pillow's unpackers: value * 255 / max, truncated.
                let gmax = (1u32 << green_bits) - 1;
                for (x, d) in dst.chunks_exact_mut(3).enumerate() {
                    let p = u32::from(u16::from_le_bytes([row[2 * x], row[2 * x + 1]]));
                    d[0] = ((p >> red & 31) * 255 / 31) as u8;
                    d[1] = ((p >> 5 & gmax) * 255 / gmax) as u8;
                    d[2] = ((p & 31) * 255 / 31) as u8;
                }
            }
            Layout::Bytes { bytes, rgb, alpha } => {
                for (x, d) in dst.chunks_exact_mut(channels).enumerate() {
                    let p = &row[x * bytes..x * bytes + bytes];
                    d[0] = p[rgb[0]];
                    d[1] = p[rgb[1]];
                    d[2] = p[rgb[2]];
                    if let Some(a) = alpha {
                        d[3] = p[a];
                    }
                }
            }
        }
    }
    // BMP has no EXIF; Pillow's exif_transpose is a no-op.
    finish(out, width, height, channels, mode, Orientation::NoTransforms)
}

/// Pillow's BmpRleDecoder, byte for byte: indices in file row order (bottom row first unless top-down;
/// the caller flips). Reads from `offset` to the end of the file; word alignment after an absolute run
/// is relative to the start of the file, as Pillow's `fd.tell()` is. Fewer pixels than the image has
/// is Pillow's "not enough image data".
fn rle_decode(b: &[u8], offset: usize, w: usize, h: usize, rle4: bool, stop: StopProbe) -> Result<Vec<u8>> {
    let dest = w * h;
    let mut data = reserve_bytes(dest)?;
    let mut pos = offset;
    let mut x = 0usize;
    let mut steps = 0u32;
    while data.len() < dest {
        steps = steps.wrapping_add(1);
        if steps % 4096 == 0 {
            check_stop(stop)?;
        }
        let (Some(&n), Some(&byte)) = (b.get(pos), b.get(pos + 1)) else { break };
        pos += 2;
        if n != 0 {
            let n = if x + usize::from(n) > w { w.saturating_sub(x) } else { usize::from(n) };
            if rle4 {
                let (hi, lo) = (byte >> 4, byte & 0x0F);
                data.extend((0..n).map(|i| if i % 2 == 0 { hi } else { lo }));
            } else {
                data.extend(std::iter::repeat_n(byte, n));
            }
            x += n;
        } else {
            match byte {
                0 => {
                    // end of line: pad the row
                    while data.len() % w != 0 {
                        data.push(0);
                    }
                    x = 0;
                }
                1 => break,
                2 => {
                    let (Some(&right), Some(&up)) = (b.get(pos), b.get(pos + 1)) else { break };
                    pos += 2;
                    let skip = (usize::from(right) + usize::from(up) * w).min(dest - data.len());
                    data.extend(std::iter::repeat_n(0, skip));
                    x = data.len() % w;
                }
                count => {
                    let count_u = usize::from(count);
                    let want = (dest - data.len()).min(count_u);
                    let byte_count = if rle4 { want.div_ceil(2) } else { want };
                    let avail = b.get(pos..).unwrap_or(&[]);
                    let read = &avail[..avail.len().min(byte_count)];
                    pos += read.len();
                    if rle4 {
                        for (i, &v) in read.iter().enumerate() {
                            data.push(v >> 4);
                            if i * 2 + 1 < want {
                                data.push(v & 0x0F);
                            }
                        }
                    } else {
                        data.extend_from_slice(read);
                    }
                    if read.len() < byte_count || data.len() == dest {
                        break;
                    }
                    x += count_u;
                    if pos % 2 != 0 {
                        pos += 1;
                    }
                }
            }
        }
    }
    // The loops above never outgrow `dest` but for a last absolute run of an odd RLE4 count.
    data.truncate(dest);
    if data.len() < dest {
        return Err(PreprocessError::Corrupt("BMP: not enough image data in the RLE stream".into()));
    }
    Ok(data)
}
