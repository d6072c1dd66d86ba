//! convert('RGB') + ToTensor + Normalize.

use super::*;


/// Pillow's RGBa -> RGBA: truncating division, alpha 0 and 255 untouched.
#[inline]
pub(super) fn unpremultiply(v: u8, a: u8) -> u8 {
    if a == 0 || a == 255 {
        v
    } else {
        ((255 * u32::from(v)) / u32::from(a)).min(255) as u8
    }
}

/// Pillow's cmyk2rgb: nk = 255 - k; out = CLIP8(nk - MULDIV255(c, nk)).
#[inline]
pub(super) fn cmyk_to_rgb(c: u8, k: u8) -> u8 {
    let nk = 255 - i32::from(k);
    let t = i32::from(c) * nk + 128;
    let m = ((t >> 8) + t) >> 8;
    (nk - m).clamp(0, 255) as u8
}

pub(super) fn write_tensor(px: &[u8], mode: PilMode, premultiplied: bool, out: &mut [f32]) {
    // ToTensor: v / 255 in f32; Normalize: (x - mean) / std in f32, with the
    // Python float constants rounded to f32 as torch.as_tensor does.
    let mut lut = [[0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        let (m, s) = (MEAN[c] as f32, STD[c] as f32);
        for (v, e) in table.iter_mut().enumerate() {
            *e = (v as f32 / 255.0 - m) / s;
        }
    }
    let (r, rest) = out.split_at_mut(PLANE);
    let (g, b) = rest.split_at_mut(PLANE);
    let mut put = |i: usize, rv: u8, gv: u8, bv: u8| {
        r[i] = lut[0][usize::from(rv)];
        g[i] = lut[1][usize::from(gv)];
        b[i] = lut[2][usize::from(bv)];
    };
    let ch = mode.channels();
    for (i, p) in px.chunks_exact(ch).enumerate().take(PLANE) {
        match mode {
            // I16 only reaches here as L (resize_i16 converts); a 2-byte sample would not fit a level.
            PilMode::L | PilMode::One | PilMode::I16 => put(i, p[0], p[0], p[0]),
            PilMode::La => {
                let l = if premultiplied {
                    unpremultiply(p[0], p[1])
                } else {
                    p[0]
                };
                put(i, l, l, l)
            }
            PilMode::Rgb | PilMode::P => put(i, p[0], p[1], p[2]),
            PilMode::Rgba => {
                if premultiplied {
                    put(
                        i,
                        unpremultiply(p[0], p[3]),
                        unpremultiply(p[1], p[3]),
                        unpremultiply(p[2], p[3]),
                    )
                } else {
                    put(i, p[0], p[1], p[2])
                }
            }
            PilMode::Cmyk => put(
                i,
                cmyk_to_rgb(p[0], p[3]),
                cmyk_to_rgb(p[1], p[3]),
                cmyk_to_rgb(p[2], p[3]),
            ),
        }
    }
}
