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

/// The orientation tag's value as Pillow's `Image.getexif()` reads it from an EXIF block (`Exif.load`:
/// any number of "Exif\0\0" prefixes, then a TIFF header and IFD0 read by
/// `ImageFileDirectory_v2.load`). Pillow keeps the tags read before a corrupt part: a short entry, or
/// data past the end of the block, ends the walk; an unknown type, or out-of-line data adding up to
/// more than the whole block, skips the tag; the first copy of a tag wins. This does the same.
/// `Some(v)` means the tag is present, whatever `v` is: then XMP is not consulted.
pub(super) fn exif_orientation_value(exif: &[u8]) -> Option<i64> {
    let mut t = exif;
    while let Some(rest) = t.strip_prefix(b"Exif\0\0") {
        t = rest;
    }
    let big = match t.get(0..2)? {
        b"II" => false,
        b"MM" => true,
        _ => return None,
    };
    let u16_at = |o: usize| t.get(o..o + 2).map(|b| if big { u16::from_be_bytes([b[0], b[1]]) } else { u16::from_le_bytes([b[0], b[1]]) });
    let u32_at = |o: usize| {
        t.get(o..o + 4)
            .map(|b| if big { u32::from_be_bytes([b[0], b[1], b[2], b[3]]) } else { u32::from_le_bytes([b[0], b[1], b[2], b[3]]) })
    };
    // BigTIFF-style EXIF (43) is read by Pillow but unseen in images: no orientation.
    if u16_at(2)? == 43 {
        return None;
    }
    let ifd = u32_at(4)? as usize;
    let count = u16_at(ifd)?;
    let mut found = None;
    let mut out_of_line = 0u64;
    for i in 0..usize::from(count) {
        let at = ifd + 2 + 12 * i;
        if t.len() < at + 12 {
            break; // "Corrupt EXIF data": the tags read so far stay
        }
        let (Some(tag), Some(typ), Some(n)) = (u16_at(at), u16_at(at + 2), u32_at(at + 4)) else { break };
        if tag == 0x0112 && found.is_some() {
            continue;
        }
        // Pillow's _load_dispatch unit sizes; other types are skipped.
        let unit: u64 = match typ {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 | 13 => 4,
            5 | 10 | 12 | 16 => 8,
            _ => continue,
        };
        let size = u64::from(n) * unit;
        let data = if size > 4 {
            out_of_line += size;
            if out_of_line > t.len() as u64 {
                continue; // "Tag data larger than file. Skipping tag"
            }
            let off = u32_at(at + 8)? as usize;
            match t.get(off..off + size as usize) {
                Some(d) => d,
                None => break, // _safe_read: "Truncated File Read" ends the walk
            }
        } else {
            &t[at + 8..at + 8 + size as usize]
        };
        if data.is_empty() || tag != 0x0112 {
            continue;
        }
        let r16 = |d: &[u8]| if big { u16::from_be_bytes([d[0], d[1]]) } else { u16::from_le_bytes([d[0], d[1]]) };
        let r32 = |d: &[u8]| {
            if big { u32::from_be_bytes([d[0], d[1], d[2], d[3]]) } else { u32::from_le_bytes([d[0], d[1], d[2], d[3]]) }
        };
        // A tag Pillow knows as one SHORT keeps the first of several values.
        found = Some(match typ {
            1 => i64::from(data[0]),
            6 => i64::from(data[0] as i8),
            3 => i64::from(r16(data)),
            8 => i64::from(r16(data) as i16),
            4 | 13 => i64::from(r32(data)),
            9 => i64::from(r32(data) as i32),
            // Rationals and floats: Pillow's value (an IFDRational or a float) equals, and hashes as, the
            // integer it is equal to, so 6/1 or 6.0 rotates; anything else (6/4, x/0) does nothing.
            5 | 10 | 11 | 12 => {
                let v = match typ {
                    5 => f64::from(r32(data)) / f64::from(r32(&data[4..])),
                    10 => f64::from(r32(data) as i32) / f64::from(r32(&data[4..]) as i32),
                    11 => f64::from(f32::from_bits(r32(data))),
                    _ => {
                        let (a, b) = (u64::from(r32(data)), u64::from(r32(&data[4..])));
                        f64::from_bits(if big { a << 32 | b } else { b << 32 | a })
                    }
                };
                if v.fract() == 0.0 && (0.0..=9.0).contains(&v) { v as i64 } else { 0 }
            }
            // ASCII, UNDEFINED: present, but no value exif_transpose acts on.
            _ => 0,
        });
    }
    found
}

/// Pillow's XMP fallback (`getexif`, used only when EXIF has no orientation tag): the first match of
/// `tiff:Orientation(="|>)([0-9])`, one digit.
pub(super) fn xmp_orientation_value(xmp: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"tiff:Orientation";
    let mut from = 0;
    while let Some(p) = xmp.get(from..)?.windows(KEY.len()).position(|w| w == KEY) {
        let after = from + p + KEY.len();
        let digit = match xmp.get(after..after + 2) {
            Some([b'=', b'"']) => xmp.get(after + 2),
            Some([b'>', d]) => Some(d),
            _ => None,
        };
        if let Some(d) = digit.filter(|d| d.is_ascii_digit()) {
            return Some(i64::from(d - b'0'));
        }
        from = after;
    }
    None
}

/// What `ImageOps.exif_transpose` does with the EXIF tag (if present) else the XMP value: 2..8
/// transpose, anything else leaves the image as it is.
pub(super) fn pillow_orientation(exif: Option<&[u8]>, xmp: Option<&[u8]>) -> Orientation {
    let v = exif.and_then(exif_orientation_value).or_else(|| xmp.and_then(xmp_orientation_value));
    v.and_then(|v| u8::try_from(v).ok())
        .and_then(Orientation::from_exif)
        .unwrap_or(Orientation::NoTransforms)
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

    /// IFD0 with the given 12-byte entries, little-endian.
    fn tiff(entries: &[[u8; 12]]) -> Vec<u8> {
        let mut t = b"II*\0\x08\0\0\0".to_vec();
        t.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for e in entries {
            t.extend_from_slice(e);
        }
        t.extend_from_slice(&[0; 4]);
        t
    }

    fn entry(tag: u16, typ: u16, count: u32, value: u32) -> [u8; 12] {
        let mut e = [0u8; 12];
        e[0..2].copy_from_slice(&tag.to_le_bytes());
        e[2..4].copy_from_slice(&typ.to_le_bytes());
        e[4..8].copy_from_slice(&count.to_le_bytes());
        e[8..12].copy_from_slice(&value.to_le_bytes());
        e
    }

    /// The cases where Pillow's reading differs from a strict EXIF reader (values checked with Pillow 13).
    #[test]
    fn exif_orientation_reads_like_pillow() {
        let short6 = entry(0x0112, 3, 1, 6);
        assert_eq!(exif_orientation_value(&tiff(&[short6])), Some(6));
        // Any number of "Exif\0\0" prefixes.
        assert_eq!(exif_orientation_value(&[b"Exif\0\0Exif\0\0".as_slice(), &tiff(&[short6])].concat()), Some(6));
        assert_eq!(exif_orientation_value(&tiff(&[entry(0x0112, 4, 1, 8)])), Some(8), "LONG");
        assert_eq!(exif_orientation_value(&tiff(&[entry(0x0112, 3, 2, 0x0003_0005)])), Some(5), "first of 2");
        // A tag whose data lies out of bounds ends the walk: a later orientation is never read.
        let make = entry(0x010F, 2, 20, 0x7FFF_0000);
        assert_eq!(exif_orientation_value(&tiff(&[make, short6])), None);
        // ... unless that data adds up to more than the block: then only that tag is skipped.
        let make_long = entry(0x010F, 2, 40, 0x7FFF_0000);
        assert_eq!(exif_orientation_value(&tiff(&[make_long, short6])), Some(6));
        // An unknown type is skipped, the walk goes on; the first copy of the tag wins.
        assert_eq!(exif_orientation_value(&tiff(&[entry(0x0100, 99, 1, 0), entry(0x0112, 3, 1, 3), short6])), Some(3));
        // Entries counted but missing: the ones read stay.
        let mut t = tiff(&[short6]);
        t[8] = 9;
        assert_eq!(exif_orientation_value(&t), Some(6));
        // RATIONAL 6/1 (data out of line at offset 26) and FLOAT 6.0 rotate; 6/4 does not.
        let rational = |n: u32, d: u32| [tiff(&[entry(0x0112, 5, 1, 26)]), [n.to_le_bytes(), d.to_le_bytes()].concat()].concat();
        assert_eq!(exif_orientation_value(&rational(6, 1)), Some(6));
        assert_eq!(exif_orientation_value(&rational(6, 4)), Some(0));
        assert_eq!(exif_orientation_value(&rational(6, 0)), Some(0));
        assert_eq!(exif_orientation_value(&tiff(&[entry(0x0112, 11, 1, 6.0f32.to_bits())])), Some(6));
        assert_eq!(exif_orientation_value(b"Exif\0\0garbage"), None);
        assert_eq!(exif_orientation_value(b""), None);
    }

    #[test]
    fn xmp_and_exif_precedence_like_pillow() {
        assert_eq!(xmp_orientation_value(br#"<d tiff:Orientation="6"/>"#), Some(6));
        assert_eq!(xmp_orientation_value(b"<tiff:Orientation>8</tiff:Orientation>"), Some(8));
        assert_eq!(xmp_orientation_value(br#"tiff:Orientation='6' tiff:Orientation="3""#), Some(3));
        assert_eq!(xmp_orientation_value(b"nothing"), None);
        let exif1 = tiff(&[entry(0x0112, 3, 1, 1)]);
        let xmp6 = br#"tiff:Orientation="6""#.as_slice();
        // An EXIF tag, even 1 or out of range, hides the XMP value.
        assert_eq!(pillow_orientation(Some(&exif1), Some(xmp6)), Orientation::NoTransforms);
        assert_eq!(pillow_orientation(Some(&tiff(&[entry(0x0112, 3, 1, 9)])), Some(xmp6)), Orientation::NoTransforms);
        assert_eq!(pillow_orientation(Some(&tiff(&[])), Some(xmp6)), Orientation::Rotate90);
        assert_eq!(pillow_orientation(None, Some(xmp6)), Orientation::Rotate90);
    }
}
