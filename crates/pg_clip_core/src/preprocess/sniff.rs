//! Format detection: magic bytes, and the names of formats recognised but not decoded.

use super::*;


#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Jpeg,
    Png,
    Gif,
    WebP,
    Bmp,
}

pub(super) fn sniff(b: &[u8]) -> Result<Format> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Ok(Format::Gif);
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Ok(Format::WebP);
    }
    if b.starts_with(b"BM") {
        return Ok(Format::Bmp);
    }
    match unsupported_format_name(b) {
        Some(name) => Err(PreprocessError::UnsupportedFormat(name.to_string())),
        None => Err(PreprocessError::UnrecognizedFormat),
    }
}

/// Image formats recognised by their magic bytes but not decoded by pg_clip.
pub(super) fn unsupported_format_name(b: &[u8]) -> Option<&'static str> {
    // ISO base media file format: [size:4]["ftyp"][major brand:4]
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        return match &b[8..12] {
            b"avif" | b"avis" => Some("AVIF"),
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" => Some("HEIC"),
            b"mif1" | b"msf1" => Some("HEIF"),
            b"jxl " => Some("JPEG XL"),
            b"jp2 " | b"jpx " | b"jpm " => Some("JPEG 2000"),
            b"crx " => Some("Canon CR3 raw"),
            _ => None, // e.g. MP4/QuickTime video
        };
    }
    const TABLE: &[(&[u8], &str)] = &[
        (b"II*\0", "TIFF"),
        (b"MM\0*", "TIFF"),
        (b"II+\0", "BigTIFF"),
        (b"MM\0+", "BigTIFF"),
        (&[0, 0, 1, 0], "ICO"),
        (&[0, 0, 2, 0], "CUR"),
        (b"DDS ", "DDS"),
        (b"#?RADIANCE", "Radiance HDR"),
        (b"#?RGBE", "Radiance HDR"),
        (&[0x76, 0x2f, 0x31, 0x01], "OpenEXR"),
        (b"qoif", "QOI"),
        (b"farbfeld", "farbfeld"),
        (&[0xFF, 0x0A], "JPEG XL"),
        (
            &[
                0, 0, 0, 0x0C, b'J', b'X', b'L', b' ', 0x0D, 0x0A, 0x87, 0x0A,
            ],
            "JPEG XL",
        ),
        (
            &[
                0, 0, 0, 0x0C, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A,
            ],
            "JPEG 2000",
        ),
        (&[0xFF, 0x4F, 0xFF, 0x51], "JPEG 2000"),
        (b"8BPS", "PSD"),
        (b"%PDF-", "PDF"),
        (b"<svg", "SVG"),
        (b"gimp xcf", "XCF"),
    ];
    for (magic, name) in TABLE {
        if b.starts_with(magic) {
            return Some(name);
        }
    }
    // Netpbm: "P1".."P7" followed by whitespace.
    if b.len() >= 3 && b[0] == b'P' && (b'1'..=b'7').contains(&b[1]) && b[2].is_ascii_whitespace() {
        return Some("PNM");
    }
    // SVG with an XML prolog.
    if b.starts_with(b"<?xml") {
        let head = &b[..b.len().min(1024)];
        if head.windows(4).any(|w| w == b"<svg") {
            return Some("SVG");
        }
    }
    None
}
