//! EXIF orientation (Pillow's ImageOps.exif_transpose).
//!
//! Our own transform rather than `DynamicImage::apply_orientation`: that one allocates the rotated copy
//! infallibly, so a large raster on a memory-capped server would abort the backend. Here the one new
//! buffer is reserved fallibly (`reserve_bytes`: a refusal is an OutOfMemory error) and the source is freed as
//! soon as the copy is made.

use super::*;

pub(super) fn apply_orientation(r: Raster, orientation: Orientation) -> Result<Raster> {
    if orientation == Orientation::NoTransforms {
        return Ok(r);
    }
    let (w, h, ch) = (r.width as usize, r.height as usize, r.channels);
    if ch == 0 || r.data.len() != w * h * ch {
        return Err(PreprocessError::Corrupt("internal error: raster size mismatch".into()));
    }
    let swaps = matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    );
    let (ow, oh) = if swaps { (h, w) } else { (w, h) };
    // Output pixel (x, y) comes from source pixel source(x, y).
    let source = |x: usize, y: usize| -> (usize, usize) {
        match orientation {
            Orientation::NoTransforms => (x, y),
            Orientation::FlipHorizontal => (w - 1 - x, y),
            Orientation::FlipVertical => (x, h - 1 - y),
            Orientation::Rotate180 => (w - 1 - x, h - 1 - y),
            // clockwise: source (sx, sy) lands on (h - 1 - sy, sx)
            Orientation::Rotate90 => (y, h - 1 - x),
            // counter-clockwise: source (sx, sy) lands on (sy, w - 1 - sx)
            Orientation::Rotate270 => (w - 1 - y, x),
            // EXIF 5, Pillow's TRANSPOSE: the main diagonal is the mirror
            Orientation::Rotate90FlipH => (y, x),
            // EXIF 7, Pillow's TRANSVERSE: the anti-diagonal is the mirror
            Orientation::Rotate270FlipH => (w - 1 - y, h - 1 - x),
        }
    };
    let mut data = reserve_bytes(r.data.len())?;
    for y in 0..oh {
        for x in 0..ow {
            let (sx, sy) = source(x, y);
            let at = (sy * w + sx) * ch;
            data.extend_from_slice(&r.data[at..at + ch]);
        }
    }
    Ok(Raster {
        width: ow as u32,
        height: oh as u32,
        channels: ch,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, ImageBuffer};

    const ALL: [Orientation; 8] = [
        Orientation::NoTransforms,
        Orientation::Rotate90,
        Orientation::Rotate180,
        Orientation::Rotate270,
        Orientation::FlipHorizontal,
        Orientation::FlipVertical,
        Orientation::Rotate90FlipH,
        Orientation::Rotate270FlipH,
    ];

    /// The image crate's (infallible) transform is the oracle: same pixels, same size, for every
    /// orientation and every channel count a raster can have.
    #[test]
    fn same_pixels_as_the_image_crate() {
        let (w, h) = (5u32, 3u32);
        for ch in 1..=4usize {
            let data: Vec<u8> = (0..w as usize * h as usize * ch).map(|i| (i * 7 % 251) as u8).collect();
            for o in ALL {
                let ours = apply_orientation(Raster { width: w, height: h, channels: ch, data: data.clone() }, o).unwrap();
                let mut img = match ch {
                    1 => DynamicImage::ImageLuma8(ImageBuffer::from_raw(w, h, data.clone()).unwrap()),
                    2 => DynamicImage::ImageLumaA8(ImageBuffer::from_raw(w, h, data.clone()).unwrap()),
                    3 => DynamicImage::ImageRgb8(ImageBuffer::from_raw(w, h, data.clone()).unwrap()),
                    _ => DynamicImage::ImageRgba8(ImageBuffer::from_raw(w, h, data.clone()).unwrap()),
                };
                img.apply_orientation(o);
                assert_eq!((ours.width, ours.height), (img.width(), img.height()), "{o:?} {ch} channels");
                assert_eq!(ours.data, img.into_bytes(), "{o:?} {ch} channels");
            }
        }
    }

    #[test]
    fn a_lying_raster_is_an_error_not_a_panic() {
        let r = Raster { width: 4, height: 4, channels: 3, data: vec![0; 10] };
        assert!(matches!(apply_orientation(r, Orientation::Rotate90), Err(PreprocessError::Corrupt(_))));
    }
}
