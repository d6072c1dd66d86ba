//! Geometry (torchvision Resize(224) + CenterCrop(224) on a PIL image) and Pillow-exact resampling.

use super::*;


/// torchvision `_compute_resized_output_size` for an int size: the short
/// side becomes 224, the long side `int(224 * long / short)`.
/// (Integer division equals Python's float division + truncation here: the
/// quotient can only round up to an integer in f64 for sides > 4e13.)
pub(super) fn resized_size(width: u64, height: u64) -> (u64, u64) {
    if width <= height {
        (SIZE, SIZE * height / width.max(1))
    } else {
        (SIZE * width / height.max(1), SIZE)
    }
}

/// torchvision center_crop offset: `int(round((len - 224) / 2.0))`, where
/// Python's round() is round-half-to-even.
pub(super) fn crop_offset(len: u64) -> u64 {
    let d = len.saturating_sub(SIZE);
    let q = d / 2;
    if d % 2 == 1 && q % 2 == 1 {
        q + 1
    } else {
        q
    }
}

// ---------------------------------------------------------------------------
// Resize + crop
// ---------------------------------------------------------------------------

/// Returns the 224x224 crop (same channel layout as the input) and whether
/// it holds premultiplied alpha.
pub(super) fn resize_and_crop(mut r: Raster, mode: PilMode, stop: StopProbe) -> Result<(Vec<u8>, bool)> {
    let (w, h) = (u64::from(r.width), u64::from(r.height));
    let (rw, rh) = resized_size(w, h);
    let (left, top) = (crop_offset(rw), crop_offset(rh));
    if mode == PilMode::I16 {
        return Ok((resize_i16(&r, rw, rh, left, top, stop)?, false));
    }
    if (rw, rh) == (w, h) {
        // PIL's resize() returns a copy when the size already matches (and
        // does not premultiply): just crop.
        return Ok((crop(&r, left, top)?, false));
    }
    match mode {
        PilMode::P | PilMode::One => Ok((resize_nearest(&r, rw, rh, left, top)?, false)),
        PilMode::La | PilMode::Rgba => Ok((resize_bicubic(&mut r, rw, rh, left, top, true, stop)?, true)),
        PilMode::L | PilMode::Rgb | PilMode::Cmyk | PilMode::I16 => {
            Ok((resize_bicubic(&mut r, rw, rh, left, top, false, stop)?, false))
        }
    }
}

pub(super) fn crop(r: &Raster, left: u64, top: u64) -> Result<Vec<u8>> {
    let ch = r.channels;
    let row_bytes = r.width as usize * ch;
    let mut out = reserve_bytes(PLANE * ch)?;
    for y in 0..IMAGE_SIZE {
        let start = (top as usize + y) * row_bytes + left as usize * ch;
        match r.data.get(start..start + IMAGE_SIZE * ch) {
            Some(row) => out.extend_from_slice(row),
            None => out.resize(out.len() + IMAGE_SIZE * ch, 0), // unreachable by construction
        }
    }
    Ok(out)
}

/// Pillow's RGBA -> RGBa (and LA -> La): c = MULDIV255(c, a), alpha last.
pub(super) fn premultiply(data: &mut [u8], channels: usize) {
    if channels < 2 {
        return;
    }
    for px in data.chunks_exact_mut(channels) {
        let a = u32::from(px[channels - 1]);
        for v in &mut px[..channels - 1] {
            let t = u32::from(*v) * a + 128;
            *v = (((t >> 8) + t) >> 8) as u8;
        }
    }
}

// ----- Pillow-exact bicubic (Resample.c, 8 bpc) -----------------------------

pub(super) const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's bicubic_filter (a = -0.5).
#[inline]
pub(super) fn bicubic_filter(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Fixed-point coefficients for output positions [start, start + count) of an
/// `in_size -> out_size` resize: Pillow's precompute_coeffs followed by
/// normalize_coeffs_8bpc, evaluated with the same double operations.
pub(super) struct Coeffs {
    /// (first input index, number of taps) per output position
    bounds: Vec<(usize, usize)>,
    /// `ksize` fixed-point taps per output position
    k: Vec<i32>,
    ksize: usize,
}

/// Pillow's precompute_coeffs for output positions [start, start + count): per position the first
/// input index and the normalised double weights (`ksize` slots, the first `n` used).
pub(super) fn pil_weights(in_size: u64, out_size: u64, start: u64, count: usize) -> Result<(Vec<(usize, usize)>, Vec<f64>, usize)> {
    // precompute_coeffs(inSize, in0 = 0.f, in1 = (float)inSize, outSize, BICUBIC)
    let scale = f64::from(in_size as f32 - 0.0f32) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let ss = 1.0 / filterscale;
    let in_size_i = i64::try_from(in_size).unwrap_or(i64::MAX);
    // ksize grows with the downscale factor: ~145 taps per output position for an 8000 px side.
    let mut bounds = reserved(count)?;
    let mut k = filled(count.saturating_mul(ksize), 0f64)?;
    for (i, w) in k.chunks_exact_mut(ksize).enumerate() {
        let xx = start + i as u64;
        let center = 0.0 + (xx as f64 + 0.5) * scale;
        let xmin = ((center - support + 0.5) as i64).max(0); // C (int) truncation
        let xmax = ((center + support + 0.5) as i64).min(in_size_i) - xmin;
        let n = (xmax.max(0) as usize).min(ksize);
        let mut ww = 0.0;
        for (x, wx) in w[..n].iter_mut().enumerate() {
            *wx = bicubic_filter(((x as i64 + xmin) as f64 - center + 0.5) * ss);
            ww += *wx;
        }
        if ww != 0.0 {
            for wx in &mut w[..n] {
                *wx /= ww;
            }
        }
        bounds.push((xmin as usize, n));
    }
    Ok((bounds, k, ksize))
}

pub(super) fn pil_coeffs(in_size: u64, out_size: u64, start: u64, count: usize) -> Result<Coeffs> {
    let (bounds, w, ksize) = pil_weights(in_size, out_size, start, count)?;
    // normalize_coeffs_8bpc: round half away from zero via (int) cast
    let mut k = filled(w.len(), 0i32)?;
    for (kx, &wx) in k.iter_mut().zip(&w) {
        let scaled = wx * f64::from(1u32 << PRECISION_BITS);
        *kx = if wx < 0.0 { (-0.5 + scaled) as i32 } else { (0.5 + scaled) as i32 };
    }
    Ok(Coeffs { bounds, k, ksize })
}

/// Pillow's resize of an 'I;16' image, then convert('RGB'): each pass sums in doubles with the
/// unquantised weights and stores ROUND_UP(sum) clamped to 0..65535 (what Resample.c's 16 bpc path
/// gives; checked against Pillow 13 on random full-range images), and the conversion clips every
/// sample to 255. Only the crop is computed. Returns 1-byte gray pixels ('L').
pub(super) fn resize_i16(r: &Raster, rw: u64, rh: u64, left: u64, top: u64, stop: StopProbe) -> Result<Vec<u8>> {
    let (w, h) = (u64::from(r.width), u64::from(r.height));
    let wi = r.width as usize;
    let px = |x: usize, y: usize| f64::from(u16::from_le_bytes([r.data[2 * (y * wi + x)], r.data[2 * (y * wi + x) + 1]]));
    let round = |ss: f64| -> u16 {
        let v = if ss >= 0.0 { ss + 0.5 } else { ss - 0.5 } as i64;
        v.clamp(0, 65535) as u16
    };
    let vert = (rh != h).then(|| pil_weights(h, rh, top, IMAGE_SIZE)).transpose()?;
    let (y0, y1) = match &vert {
        Some((b, ..)) => {
            let first = b.first().map_or(0, |b| b.0);
            let last = b.iter().map(|b| b.0 + b.1).max().unwrap_or(first);
            (first, last.max(first))
        }
        None => (top as usize, top as usize + IMAGE_SIZE),
    };
    // Horizontal pass over the rows the vertical pass reads (or the column crop).
    let mut tmp: Vec<u16> = Vec::new();
    tmp.try_reserve_exact((y1 - y0) * IMAGE_SIZE)
        .map_err(|_| PreprocessError::OutOfMemory(format!("cannot allocate {} samples", (y1 - y0) * IMAGE_SIZE)))?;
    let horiz = (rw != w).then(|| pil_weights(w, rw, left, IMAGE_SIZE)).transpose()?;
    let rows_per_check = (STOP_CHECK_PIXELS / wi.max(1)).max(1);
    for y in y0..y1 {
        if (y - y0) % rows_per_check == 0 {
            check_stop(stop)?;
        }
        for xx in 0..IMAGE_SIZE {
            tmp.push(match &horiz {
                Some((b, k, ksize)) => {
                    let (xmin, n) = b[xx];
                    let kk = &k[xx * ksize..xx * ksize + n];
                    round(kk.iter().enumerate().fold(0.0, |ss, (i, &c)| ss + px(xmin + i, y) * c))
                }
                None => px(left as usize + xx, y) as u16,
            });
        }
    }
    check_stop(stop)?;
    let mut out = reserve_bytes(PLANE)?;
    for yy in 0..IMAGE_SIZE {
        for xx in 0..IMAGE_SIZE {
            let v = match &vert {
                Some((b, k, ksize)) => {
                    let (ymin, n) = b[yy];
                    let kk = &k[yy * ksize..yy * ksize + n];
                    round(kk.iter().enumerate().fold(0.0, |ss, (i, &c)| {
                        ss + f64::from(tmp[(ymin + i - y0) * IMAGE_SIZE + xx]) * c
                    }))
                }
                None => tmp[yy * IMAGE_SIZE + xx],
            };
            out.push(v.min(255) as u8);
        }
    }
    Ok(out)
}

#[inline]
pub(super) fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Rows the horizontal pass processes together.
pub(super) const H_ROWS: usize = 8;
/// Source pixels resampled between two stop checks (a few milliseconds of work).
pub(super) const STOP_CHECK_PIXELS: usize = 1 << 20;

/// ImagingResampleHorizontal_8bpc on rows [y0, y1) of `src`.
///
/// Same arithmetic as Pillow, but `H_ROWS` rows are processed together: their
/// pixels are first interleaved column by column (`N = H_ROWS * CH` bytes per
/// source column) so that every tap is one multiply-add over `N` contiguous
/// lanes, which vectorises.
#[inline(always)]
pub(super) fn resample_horizontal_impl<const CH: usize, const N: usize>(
    src: &[u8],
    src_width: usize,
    y0: usize,
    y1: usize,
    c: &Coeffs,
    out: &mut [u8],
) -> Result<()> {
    debug_assert_eq!(N, H_ROWS * CH);
    let out_w = c.bounds.len();
    let out_row = out_w * CH;
    debug_assert_eq!(out.len(), out_row * (y1 - y0));
    let row_len = src_width * CH;
    // Only the source columns the coefficients touch.
    let x_lo = c.bounds.iter().map(|b| b.0).min().unwrap_or(0);
    let x_hi = c
        .bounds
        .iter()
        .map(|b| b.0 + b.1)
        .max()
        .unwrap_or(0)
        .clamp(x_lo, src_width);
    let mut block = filled(x_hi - x_lo, [0u8; N])?;
    for (b, dst_rows) in out.chunks_mut(out_row * H_ROWS).enumerate() {
        let yb = y0 + b * H_ROWS;
        let rows = dst_rows.len() / out_row.max(1);
        // block[x - x_lo][r * CH + ch] = src[yb + r][x][ch]
        for r in 0..rows {
            let line = &src[(yb + r) * row_len + x_lo * CH..(yb + r) * row_len + x_hi * CH];
            for (dst, p) in block.iter_mut().zip(line.as_chunks::<CH>().0) {
                dst[r * CH..(r + 1) * CH].copy_from_slice(p);
            }
        }
        for (xx, (&(xmin, n), k)) in c.bounds.iter().zip(c.k.chunks_exact(c.ksize)).enumerate() {
            let mut acc = [1i32 << (PRECISION_BITS - 1); N];
            for (&kx, px) in k[..n].iter().zip(&block[xmin - x_lo..]) {
                for (a, &p) in acc.iter_mut().zip(px) {
                    *a = a.wrapping_add(i32::from(p).wrapping_mul(kx));
                }
            }
            for r in 0..rows {
                let dst = &mut dst_rows[r * out_row + xx * CH..r * out_row + (xx + 1) * CH];
                for (d, &a) in dst.iter_mut().zip(&acc[r * CH..(r + 1) * CH]) {
                    *d = clip8(a);
                }
            }
        }
    }
    Ok(())
}

/// ImagingResampleVertical_8bpc; `src` rows start at source row `y_offset`.
#[inline(always)]
pub(super) fn resample_vertical_impl(src: &[u8], row_len: usize, y_offset: usize, c: &Coeffs) -> Result<Vec<u8>> {
    let mut out = filled(row_len * c.bounds.len(), 0u8)?;
    let mut acc = filled(row_len, 0i32)?;
    for (dst, (&(ymin, n), k)) in out
        .chunks_exact_mut(row_len)
        .zip(c.bounds.iter().zip(c.k.chunks_exact(c.ksize)))
    {
        acc.fill(1i32 << (PRECISION_BITS - 1));
        let first = ymin - y_offset;
        for (&ky, row) in k[..n]
            .iter()
            .zip(src[first * row_len..].chunks_exact(row_len))
        {
            for (a, &p) in acc.iter_mut().zip(row) {
                *a = a.wrapping_add(i32::from(p).wrapping_mul(ky));
            }
        }
        for (d, &a) in dst.iter_mut().zip(&acc) {
            *d = clip8(a);
        }
    }
    Ok(out)
}

// The kernels are plain integer code; on x86-64 they are additionally compiled
// with AVX2 enabled and picked at run time (same arithmetic, so bit-identical
// results; ~3x faster because the i32 multiplies vectorise).

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn resample_horizontal_avx2<const CH: usize, const N: usize>(
    src: &[u8],
    src_width: usize,
    y0: usize,
    y1: usize,
    c: &Coeffs,
    out: &mut [u8],
) -> Result<()> {
    resample_horizontal_impl::<CH, N>(src, src_width, y0, y1, c, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn resample_vertical_avx2(src: &[u8], row_len: usize, y_offset: usize, c: &Coeffs) -> Result<Vec<u8>> {
    resample_vertical_impl(src, row_len, y_offset, c)
}

pub(super) fn resample_horizontal<const CH: usize, const N: usize>(
    src: &[u8],
    src_width: usize,
    y0: usize,
    y1: usize,
    c: &Coeffs,
    out: &mut [u8],
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { resample_horizontal_avx2::<CH, N>(src, src_width, y0, y1, c, out) };
    }
    resample_horizontal_impl::<CH, N>(src, src_width, y0, y1, c, out)
}

pub(super) fn resample_vertical(src: &[u8], row_len: usize, y_offset: usize, c: &Coeffs) -> Result<Vec<u8>> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { resample_vertical_avx2(src, row_len, y_offset, c) };
    }
    resample_vertical_impl(src, row_len, y_offset, c)
}

/// Pillow's two-pass bicubic resize (horizontal, then vertical, 8-bit
/// intermediate), computed only for the 224x224 centre crop.
pub(super) fn resize_bicubic(
    r: &mut Raster,
    rw: u64,
    rh: u64,
    left: u64,
    top: u64,
    premultiply_alpha: bool,
    stop: StopProbe,
) -> Result<Vec<u8>> {
    let (w, h) = (u64::from(r.width), u64::from(r.height));
    let ch = r.channels;
    // Vertical coefficients first: they tell which source rows are needed.
    let vert = (rh != h).then(|| pil_coeffs(h, rh, top, IMAGE_SIZE)).transpose()?;
    let (y0, y1) = match &vert {
        Some(c) => {
            let first = c.bounds.first().map_or(0, |b| b.0);
            let last = c.bounds.iter().map(|b| b.0 + b.1).max().unwrap_or(first);
            (first, last.max(first))
        }
        None => (top as usize, top as usize + IMAGE_SIZE),
    };
    let row_len = r.width as usize * ch;
    if premultiply_alpha {
        // Pillow converts the whole image to RGBa/La; only these rows are read.
        premultiply(&mut r.data[y0 * row_len..y1 * row_len], ch);
    }
    // Horizontal pass (or the integer column crop when the width is kept).
    let (tmp, tmp_w) = if rw != w {
        let c = pil_coeffs(w, rw, left, IMAGE_SIZE)?;
        let src = &r.data;
        let wi = r.width as usize;
        // In bands of rows, with a stop check between them: on the largest allowed image this pass is
        // hundreds of milliseconds, and a cancel must not wait for it. Rows are independent, so the bands
        // give the same bytes as one pass.
        let band = (STOP_CHECK_PIXELS / wi.max(1)).max(H_ROWS) / H_ROWS * H_ROWS;
        // Each band is written straight into its rows of `t` (no per-band buffer to allocate and copy).
        let mut t = filled((y1 - y0) * IMAGE_SIZE * ch, 0u8)?;
        let out_row = IMAGE_SIZE * ch;
        let mut ya = y0;
        while ya < y1 {
            check_stop(stop)?;
            let yb = (ya + band).min(y1);
            let out = &mut t[(ya - y0) * out_row..(yb - y0) * out_row];
            match ch {
                1 => resample_horizontal::<1, { H_ROWS }>(src, wi, ya, yb, &c, out),
                2 => resample_horizontal::<2, { 2 * H_ROWS }>(src, wi, ya, yb, &c, out),
                3 => resample_horizontal::<3, { 3 * H_ROWS }>(src, wi, ya, yb, &c, out),
                _ => resample_horizontal::<4, { 4 * H_ROWS }>(src, wi, ya, yb, &c, out),
            }?;
            ya = yb;
        }
        (t, IMAGE_SIZE)
    } else {
        let mut t = reserve_bytes((y1 - y0) * IMAGE_SIZE * ch)?;
        for row in r.data[y0 * row_len..y1 * row_len].chunks_exact(row_len) {
            t.extend_from_slice(&row[left as usize * ch..(left as usize + IMAGE_SIZE) * ch]);
        }
        (t, IMAGE_SIZE)
    };
    check_stop(stop)?;
    match &vert {
        Some(c) => resample_vertical(&tmp, tmp_w * ch, y0, c),
        None => Ok(tmp),
    }
}

/// Source indices Pillow's NEAREST resize (ImagingScaleAffine) reads for
/// output positions [start, start+224) of an `n_in -> n_out` resize. Pillow
/// accumulates `xo += scale` in doubles; we replay that accumulation so the
/// rounding at exact .0 boundaries matches.
pub(super) fn nearest_indices(n_in: u64, n_out: u64, start: u64) -> Vec<usize> {
    // (double)(box[2] - box[0]) / xsize with float box coordinates
    let scale = f64::from(n_in as f32) / n_out as f64;
    let coord = |v: f64| -> usize {
        let i = if v < 0.0 { 0 } else { v as u64 }; // COORD() truncation
        i.min(n_in.saturating_sub(1)) as usize
    };
    const MAX_REPLAY: u64 = 1 << 24;
    let mut out = Vec::with_capacity(IMAGE_SIZE);
    if start + SIZE <= MAX_REPLAY {
        let mut xo = scale * 0.5;
        for i in 0..start + SIZE {
            if i >= start {
                out.push(coord(xo));
            }
            xo += scale;
        }
    } else {
        // DEVIATION (absurd aspect ratios only): closed form, no replay.
        for i in start..start + SIZE {
            out.push(coord(scale * 0.5 + i as f64 * scale));
        }
    }
    out
}

pub(super) fn resize_nearest(r: &Raster, rw: u64, rh: u64, left: u64, top: u64) -> Result<Vec<u8>> {
    let ch = r.channels;
    let xs = nearest_indices(u64::from(r.width), rw, left);
    let ys = nearest_indices(u64::from(r.height), rh, top);
    let row_bytes = r.width as usize * ch;
    let mut out = filled(PLANE * ch, 0u8)?;
    for (dst_row, &y) in out.chunks_exact_mut(IMAGE_SIZE * ch).zip(&ys) {
        let src_row = &r.data[y * row_bytes..(y + 1) * row_bytes];
        for (dst, &x) in dst_row.chunks_exact_mut(ch).zip(&xs) {
            dst.copy_from_slice(&src_row[x * ch..(x + 1) * ch]);
        }
    }
    Ok(out)
}
