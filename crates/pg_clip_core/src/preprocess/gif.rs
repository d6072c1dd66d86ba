//! GIF (gif crate directly: indices + palettes, like Pillow).

use super::*;


pub(super) fn decode_gif(bytes: &[u8], limits: &Limits, stop: StopProbe) -> Result<Decoded> {
    // Without any colour table Pillow opens the frame as 'L' (the indices are the gray levels); the gif
    // crate refuses such a frame. Given the identity gray ramp as a global table, which Pillow's
    // _is_palette_needed drops, the path below opens it as 'L' too. Frames with a local table keep it.
    let with_ramp;
    let bytes = match bytes.get(10) {
        Some(&packed) if packed & 0x80 == 0 => {
            let mut copy = reserve_bytes(bytes.len() + 768)?;
            copy.extend_from_slice(&bytes[..10]);
            copy.push(packed | 0x87);
            copy.extend_from_slice(bytes.get(11..13).unwrap_or(&[]));
            copy.extend((0..=255u8).flat_map(|v| [v; 3]));
            copy.extend_from_slice(bytes.get(13..).unwrap_or(&[]));
            with_ramp = copy;
            &with_ramp[..]
        }
        _ => bytes,
    };
    let mut opts = ::gif::DecodeOptions::new();
    opts.set_color_output(::gif::ColorOutput::Indexed);
    if let Some(budget) = std::num::NonZeroU64::new(alloc_budget(limits)) {
        opts.set_memory_limit(::gif::MemoryLimit::Bytes(budget));
    }
    let mut dec = opts
        .read_info(StopReader::new(bytes, stop))
        .map_err(|e| corrupt("GIF", e))?;
    let (screen_w, screen_h) = (u32::from(dec.width()), u32::from(dec.height()));
    let global = dec.global_palette().map(<[u8]>::to_vec);

    let frame = dec
        .next_frame_info()
        .map_err(|e| corrupt("GIF", e))?
        .ok_or_else(|| PreprocessError::Corrupt("GIF: no image frame".into()))?;
    let (fl, ft) = (u32::from(frame.left), u32::from(frame.top));
    let (fw, fh) = (u32::from(frame.width), u32::from(frame.height));
    let transparent = frame.transparent;
    let local = frame.palette.clone();

    // Pillow enlarges the image when the first frame extends past the screen.
    let width = screen_w.max(fl + fw);
    let height = screen_h.max(ft + fh);
    check_pixels(width, height, limits)?;

    let mut indices = alloc_bytes(u64::from(fw) * u64::from(fh))?;
    if !indices.is_empty() {
        dec.read_into_buffer(&mut indices)
            .map_err(|e| corrupt("GIF", e))?;
    }
    // Frame 0 canvas: filled with the transparency index (or 0), then the
    // whole frame rectangle (transparent pixels included) is written.
    let canvas = if (fl, ft, fw, fh) == (0, 0, width, height) {
        indices
    } else {
        let mut canvas = alloc_bytes(u64::from(width) * u64::from(height))?;
        canvas.fill(transparent.unwrap_or(0));
        let (w, fl, fw) = (width as usize, fl as usize, fw as usize);
        for (y, row) in indices.chunks_exact(fw.max(1)).enumerate() {
            let start = (ft as usize + y) * w + fl;
            if let Some(dst) = canvas.get_mut(start..start + fw) {
                dst.copy_from_slice(row);
            }
        }
        canvas
    };

    // GifImagePlugin: a palette that is exactly the identity gray ramp is
    // dropped ("not needed") and the frame opens as 'L' (bicubic resize!);
    // otherwise it is 'P' (nearest).
    let needed = |p: &Vec<u8>| gif_palette_needed(p);
    let frame_palette = match &local {
        Some(p) => Some(p).filter(|p| needed(p)),
        None => global.as_ref().filter(|p| needed(p)),
    };
    match frame_palette {
        None => finish(
            canvas,
            width,
            height,
            1,
            PilMode::L,
            Orientation::NoTransforms,
        ),
        Some(p) => {
            // Pillow palettes hold 256 entries; the ones a file does not define
            // keep ImagingPaletteNew's gray ramp.
            let mut lut = [[0u8; 3]; 256];
            for (i, e) in lut.iter_mut().enumerate() {
                *e = [i as u8; 3];
            }
            for (e, c) in lut.iter_mut().zip(p.chunks_exact(3)) {
                *e = [c[0], c[1], c[2]];
            }
            let mut rgb = alloc_bytes(canvas.len() as u64 * 3)?;
            for (dst, &i) in rgb.chunks_exact_mut(3).zip(canvas.iter()) {
                dst.copy_from_slice(&lut[usize::from(i)]);
            }
            finish(rgb, width, height, 3, PilMode::P, Orientation::NoTransforms)
        }
    }
}

/// Pillow's GifImageFile._is_palette_needed.
pub(super) fn gif_palette_needed(p: &[u8]) -> bool {
    p.chunks(3)
        .enumerate()
        .any(|(i, c)| c.len() != 3 || !c.iter().all(|&v| usize::from(v) == i))
}
