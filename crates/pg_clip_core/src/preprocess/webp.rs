//! WebP.

use super::*;


pub(super) fn decode_webp(bytes: &[u8], limits: &Limits, stop: StopProbe) -> Result<Decoded> {
    // libwebp (Pillow) rejects a file shorter than its RIFF header claims;
    // image-webp would decode what is there.
    let riff_len = bytes
        .get(4..8)
        .map(|s| u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])) + 8)
        .unwrap_or(u64::MAX);
    if (bytes.len() as u64) < riff_len {
        return Err(PreprocessError::Corrupt(format!(
            "WebP: truncated ({} of {riff_len} bytes)",
            bytes.len()
        )));
    }
    // Every chunk must lie inside the RIFF container before image-webp sees the file: it sizes its
    // buffers from the chunk headers (a 52-byte file whose EXIF chunk claims 4 GiB made it allocate 4 GiB
    // before reading anything), and libwebp refuses such files anyway.
    let chunks = webp_chunks(&bytes[..riff_len as usize])?;
    // Dimensions from our own reading of the headers, so that the pixel limit is checked before the
    // decoder allocates or refuses anything on its own terms.
    if let Some((w, h, lossless)) = webp_dimensions(&chunks) {
        check_pixels(w, h, limits)?;
        if lossless && (w > 16383 || h > 16383) {
            // DEVIATION: image-webp 0.2 reads a VP8L side of 16384 (the format's maximum) as 0.
            return Err(PreprocessError::UnsupportedFormat(format!(
                "lossless WebP of {w}x{h} (a side of 16384 pixels; at most 16383 is supported)"
            )));
        }
    }
    let mut dec =
        image::codecs::webp::WebPDecoder::new(StopReader::new(bytes, stop)).map_err(image_err("WebP"))?;
    let (w, h) = dec.dimensions();
    check_pixels(w, h, limits)?;
    dec.set_limits(decoder_limits(limits))
        .map_err(image_err("WebP"))?;
    // The orientation comes from our own bounded view of the chunks, never from the decoder's metadata
    // reader. Pillow's WebP plugin takes the first EXIF and XMP chunks (libwebp's demuxer).
    let chunk = |want: &[u8; 4]| chunks.iter().find(|(id, _)| id == want).map(|(_, data)| *data);
    let orientation = pillow_orientation(chunk(b"EXIF"), chunk(b"XMP "));
    let ct = dec.color_type();
    let mut data = alloc_bytes(dec.total_bytes())?;
    dec.read_image(&mut data).map_err(image_err("WebP"))?;
    let have = usize::from(ct.channel_count());
    // Pillow: "RGBA" when the file has alpha, else "RGB".
    let mode = if ct.has_alpha() {
        PilMode::Rgba
    } else {
        PilMode::Rgb
    };
    finish(data, w, h, have, mode, orientation)
}

/// (width, height, is the bitstream lossless) from the canvas of an extended file (VP8X) or the header
/// of a simple one (VP8L / VP8), as libwebp reads them.
pub(super) fn webp_dimensions(chunks: &[([u8; 4], &[u8])]) -> Option<(u32, u32, bool)> {
    let u24 = |b: &[u8]| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    let lossless = chunks.iter().any(|(id, _)| id == b"VP8L");
    for (id, d) in chunks {
        match id {
            b"VP8X" if d.len() >= 10 => return Some((1 + u24(&d[4..7]), 1 + u24(&d[7..10]), lossless)),
            b"VP8L" if d.len() >= 5 && d[0] == 0x2f => {
                let bits = u32::from_le_bytes([d[1], d[2], d[3], d[4]]);
                return Some((1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff), true));
            }
            b"VP8 " if d.len() >= 10 && d[3..6] == [0x9d, 0x01, 0x2a] => {
                let w = u32::from(u16::from_le_bytes([d[6], d[7]]) & 0x3fff);
                let h = u32::from(u16::from_le_bytes([d[8], d[9]]) & 0x3fff);
                return Some((w, h, false));
            }
            _ => {}
        }
    }
    None
}

/// The top-level chunks of a RIFF/WebP file (`riff` is exactly the container: header plus the length
/// it declares), each checked to lie inside it.
pub(super) fn webp_chunks(riff: &[u8]) -> Result<Vec<([u8; 4], &[u8])>> {
    let mut chunks = Vec::new();
    let mut pos = 12usize; // "RIFF" size "WEBP"
    while pos < riff.len() {
        let header = riff.get(pos..pos + 8).ok_or_else(|| {
            PreprocessError::Corrupt(format!("WebP: truncated chunk header at byte {pos}"))
        })?;
        let id = [header[0], header[1], header[2], header[3]];
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let start = pos + 8;
        let data = start
            .checked_add(len)
            .and_then(|end| riff.get(start..end))
            .ok_or_else(|| {
                PreprocessError::Corrupt(format!(
                    "WebP: chunk {} claims {len} bytes, past the end of the file",
                    String::from_utf8_lossy(&id).escape_debug()
                ))
            })?;
        chunks.push((id, data));
        // Chunks are padded to an even length; a missing final pad byte is tolerated, as by libwebp.
        pos = start + len + (len & 1);
    }
    Ok(chunks)
}
