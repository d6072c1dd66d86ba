//! Tests across the whole pipeline: decoding, errors, the golden parity set and hostile files.

use super::*;
use std::path::{Path, PathBuf};

const LIMITS: Limits = Limits {
    max_bytes: 64 << 20,
    max_pixels: 100_000_000,
};

/// 17x9 baseline 4:2:0 JPEG (Pillow, quality 90): odd size, chroma edges.
fn tiny_jpeg() -> Vec<u8> {
    let hex: String = [
    "ffd8ffe000104a46494600010100000100010000ffdb0043000302020302020303030304030304050805050404050a07",
    "0706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f171816141812141514ffdb0043010304",
    "0405040509050509140d0b0d141414141414141414141414141414141414141414141414141414141414141414141414",
    "1414141414141414141414141414ffc00011080009001103012200021101031101ffc4001f0000010501010101010100",
    "000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d010203000411051221",
    "31410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a",
    "434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a9293949596979899",
    "9aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1",
    "f2f3f4f5f6f7f8f9faffc4001f0100030101010101010101010000000000000102030405060708090a0bffc400b51100",
    "020102040403040705040400010277000102031104052131061241510761711322328108144291a1b1c109233352f015",
    "6272d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a63646566676869",
    "6a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4",
    "c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c03010002110311003f00f9",
    "e3c17fb2f79fe5ff00a27fe3b5ee9e14fd93e28e24926b658d3d597afb0f53ed5ec1f0f7fe597e15ed3a77fc84ed7feb",
    "8aff00e84d5f98433974327fed1af495495e3149bd2f2eafbdbb697ee8f8ff000ff8fb387521053b7ccf9b3fe19774ef",
    "f9e5ff00905bfc28afb368af3bfd62afff0040d47ff009ff00f2c3fa8ffd7dcdbf9dfdff00f00fffd9",
    ]
    .concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn png(w: u32, h: u32, color: image::ExtendedColorType, data: &[u8]) -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(data, w, h, color)
        .unwrap();
    out
}

fn rgb_png(w: u32, h: u32) -> Vec<u8> {
    let data: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
    png(w, h, image::ExtendedColorType::Rgb8, &data)
}

fn root() -> PathBuf {
    crate::repo_root()
}

// ----- geometry --------------------------------------------------------

#[test]
fn crop_offset_uses_bankers_rounding() {
    // int(round((len - 224) / 2.0)) with Python's round-half-to-even
    for (len, want) in [
        (224, 0),
        (225, 0), // 0.5 -> 0
        (226, 1),
        (227, 2), // 1.5 -> 2
        (229, 2), // 2.5 -> 2
        (231, 4), // 3.5 -> 4
        (298, 37),
        (335, 56), // 55.5 -> 56
        (337, 56), // 56.5 -> 56
        (2240, 1008),
        (22_400_000, 11_199_888),
    ] {
        assert_eq!(crop_offset(len), want, "len {len}");
    }
}

#[test]
fn resized_size_matches_torchvision() {
    // values from torchvision _compute_resized_output_size(..., [224])
    for ((w, h), want) in [
        ((640, 480), (298, 224)),
        ((480, 640), (224, 298)),
        ((224, 224), (224, 224)), // exactly 224: no resize
        ((225, 224), (225, 224)), // short side already 224
        ((1000, 100), (2240, 224)),
        ((100_000, 1), (22_400_000, 224)), // very wide
        ((1, 100_000), (224, 22_400_000)), // very tall
        ((1, 1), (224, 224)),              // very small
        ((7, 3), (522, 224)),
        ((300, 200), (336, 224)),
        ((449, 300), (335, 224)),
        ((333, 1000), (224, 672)),
    ] {
        assert_eq!(resized_size(w, h), want, "{w}x{h}");
    }
}

#[test]
fn nearest_indices_replay_pillow_accumulation() {
    // Pillow: Image.fromarray(arange(n_in), 'I').resize((n_out, 1), NEAREST)
    let got = nearest_indices(384, 224, 0);
    let want = [
        0, 2, 4, 6, 7, 9, 11, 12, 14, 16, 18, 19, 21, 23, 24, 26, 28, 30, 31, 33,
    ];
    assert_eq!(&got[..want.len()], &want); // [3] = 6 and [10] = 18 sit exactly on .0
    let got = nearest_indices(1000, 2240, 1008);
    assert_eq!(
        &got[..12],
        &[450, 450, 451, 451, 452, 452, 452, 453, 453, 454, 454, 455]
    );
    let got = nearest_indices(300, 336, 56);
    assert_eq!(
        &got[..12],
        &[50, 51, 52, 53, 54, 54, 55, 56, 57, 58, 59, 60]
    );
    assert!(nearest_indices(7, 522, 149).iter().all(|&i| i < 7));
}

#[test]
fn exif_orientations_match_pillow_exif_transpose() {
    // 3x2 gray raster [[0,40,80],[120,160,200]]; expected = Pillow's
    // ImageOps.exif_transpose for orientation 1..=8.
    let want: [&[&[u8]]; 8] = [
        &[&[0, 40, 80], &[120, 160, 200]],
        &[&[80, 40, 0], &[200, 160, 120]],
        &[&[200, 160, 120], &[80, 40, 0]],
        &[&[120, 160, 200], &[0, 40, 80]],
        &[&[0, 120], &[40, 160], &[80, 200]],
        &[&[120, 0], &[160, 40], &[200, 80]],
        &[&[200, 80], &[160, 40], &[120, 0]],
        &[&[80, 200], &[40, 160], &[0, 120]],
    ];
    for (o, want) in (1u8..=8).zip(want) {
        let r = Raster {
            width: 3,
            height: 2,
            channels: 1,
            data: vec![0, 40, 80, 120, 160, 200],
        };
        let out = apply_orientation(r, Orientation::from_exif(o).unwrap()).unwrap();
        let rows: Vec<&[u8]> = out.data.chunks(out.width as usize).collect();
        assert_eq!(rows, want, "orientation {o}");
    }
}

#[test]
fn normalisation_constants() {
    let mut out = vec![0f32; TENSOR_LEN];
    // 224x224 white L PNG: no resize, every value (1 - mean) / std
    let png = png(224, 224, image::ExtendedColorType::L8, &vec![255u8; PLANE]);
    preprocess_into(&png, &LIMITS, &mut out).unwrap();
    for c in 0..3 {
        let want = (1.0f32 - MEAN[c] as f32) / STD[c] as f32;
        assert!(out[c * PLANE..(c + 1) * PLANE].iter().all(|&v| v == want));
    }
    assert!((out[0] - 1.9303361).abs() < 1e-6);
}

#[test]
fn pillow_fixed_point_helpers() {
    // MULDIV255 premultiply and truncating un-premultiply
    let mut px = [200u8, 100, 7, 128];
    premultiply(&mut px, 4);
    assert_eq!(px, [100, 50, 4, 128]);
    assert_eq!(unpremultiply(100, 128), 199);
    assert_eq!(unpremultiply(3, 0), 3);
    assert_eq!(unpremultiply(90, 255), 90);
    assert_eq!(unpremultiply(200, 100), 255); // CLIP8
                                              // cmyk2rgb on Pillow (Adobe-inverted) CMYK
    assert_eq!(cmyk_to_rgb(0, 0), 255);
    assert_eq!(cmyk_to_rgb(255, 0), 0);
    assert_eq!(cmyk_to_rgb(0, 255), 0);
    assert_eq!(cmyk_to_rgb(128, 64), 95);
}

#[test]
fn simd_and_scalar_kernels_agree() {
    let (w, h) = (301usize, 97usize);
    for ch in 1..=4usize {
        let src: Vec<u8> = (0..w * h * ch).map(|i| (i * 131 % 256) as u8).collect();
        let hc = pil_coeffs(w as u64, 224 * w as u64 / 97, 40, IMAGE_SIZE).unwrap();
        let vc = pil_coeffs(h as u64, 224, 0, IMAGE_SIZE).unwrap();
        let rows = 90 - 3;
        let (mut a, mut b) = (vec![0u8; IMAGE_SIZE * ch * rows], vec![0u8; IMAGE_SIZE * ch * rows]);
        match ch {
            1 => {
                resample_horizontal::<1, 8>(&src, w, 3, 90, &hc, &mut a).unwrap();
                resample_horizontal_impl::<1, 8>(&src, w, 3, 90, &hc, &mut b).unwrap();
            }
            2 => {
                resample_horizontal::<2, 16>(&src, w, 3, 90, &hc, &mut a).unwrap();
                resample_horizontal_impl::<2, 16>(&src, w, 3, 90, &hc, &mut b).unwrap();
            }
            3 => {
                resample_horizontal::<3, 24>(&src, w, 3, 90, &hc, &mut a).unwrap();
                resample_horizontal_impl::<3, 24>(&src, w, 3, 90, &hc, &mut b).unwrap();
            }
            _ => {
                resample_horizontal::<4, 32>(&src, w, 3, 90, &hc, &mut a).unwrap();
                resample_horizontal_impl::<4, 32>(&src, w, 3, 90, &hc, &mut b).unwrap();
            }
        }
        assert_eq!(a, b, "horizontal, {ch} channels");
        let a = resample_vertical(&src, w * ch, 0, &vc).unwrap();
        let b = resample_vertical_impl(&src, w * ch, 0, &vc).unwrap();
        assert_eq!(a, b, "vertical, {ch} channels");
    }
}

// ----- decoding + errors ---------------------------------------------

#[test]
fn decodes_small_jpeg_and_png() {
    let t = preprocess(&tiny_jpeg(), &LIMITS).unwrap();
    assert_eq!(t.len(), TENSOR_LEN);
    assert!(t.iter().all(|v| v.is_finite() && v.abs() < 3.0));
    // Pillow/open_clip: mean -0.10726, pixel [:,100,100] = (-0.157, -0.236, -0.371)
    let mean = t.iter().map(|&v| f64::from(v)).sum::<f64>() / TENSOR_LEN as f64;
    assert!((mean + 0.10726).abs() < 0.01, "mean {mean}");
    let png = rgb_png(300, 200);
    assert!(preprocess(&png, &LIMITS).is_ok());
    // exactly 224x224 (no resize) and a 1x1 image (extreme upscale)
    assert!(preprocess(&rgb_png(224, 224), &LIMITS).is_ok());
    assert!(preprocess(&rgb_png(1, 1), &LIMITS).is_ok());
    assert!(preprocess(&rgb_png(2000, 3), &LIMITS).is_ok());
}

#[test]
fn sixteen_bit_gray_png_clips_like_pillow() {
    // Pillow opens 16-bit gray as 'I;16', and convert('RGB') clips every sample to 255: 0x1234 is
    // white, 0x0012 stays 18 (the parity corpus checks the resized case against Pillow).
    // PngEncoder takes native-endian u16 samples
    for (sample, level) in [(0x1234u16, 255u8), (0x0012, 0x12)] {
        let data: Vec<u8> = sample.to_ne_bytes().repeat(224 * 224);
        let png = png(224, 224, image::ExtendedColorType::L16, &data);
        let t = preprocess(&png, &LIMITS).unwrap();
        let want = (f32::from(level) / 255.0 - MEAN[0] as f32) / STD[0] as f32;
        assert_eq!(t[0], want, "{sample:#x}");
    }
}

#[test]
fn error_empty_and_too_many_bytes() {
    assert_eq!(preprocess(&[], &LIMITS), Err(PreprocessError::Empty));
    let png = rgb_png(16, 16);
    let small = Limits {
        max_bytes: 10,
        max_pixels: 1000,
    };
    assert_eq!(
        preprocess(&png, &small),
        Err(PreprocessError::TooManyBytes {
            bytes: png.len(),
            limit: 10
        })
    );
}

#[test]
fn error_too_many_pixels_from_headers() {
    let tight = Limits {
        max_bytes: 1 << 20,
        max_pixels: 200,
    };
    assert_eq!(
        preprocess(&rgb_png(16, 16), &tight),
        Err(PreprocessError::TooManyPixels {
            width: 16,
            height: 16,
            limit: 200
        })
    );
    // PNG bomb: IHDR says 60000x60000, no data; rejected before decoding
    // (the IHDR CRC is not even valid, so the decoder never ran).
    let mut bomb = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bomb.extend_from_slice(&60000u32.to_be_bytes());
    bomb.extend_from_slice(&60000u32.to_be_bytes());
    bomb.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let t = std::time::Instant::now();
    assert!(matches!(
        preprocess(&bomb, &LIMITS),
        Err(PreprocessError::TooManyPixels {
            width: 60000,
            height: 60000,
            ..
        })
    ));
    // JPEG whose SOF0 claims 30000x30000
    let mut j = tiny_jpeg();
    let sof = j.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    j[sof + 5..sof + 9].copy_from_slice(&[0x75, 0x30, 0x75, 0x30]);
    assert!(matches!(
        preprocess(&j, &LIMITS),
        Err(PreprocessError::TooManyPixels {
            width: 30000,
            height: 30000,
            ..
        })
    ));
    // BMP header claiming 100000 x 100000
    let mut bmp = vec![0u8; 54];
    bmp[0..2].copy_from_slice(b"BM");
    bmp[2..6].copy_from_slice(&54u32.to_le_bytes());
    bmp[10..14].copy_from_slice(&54u32.to_le_bytes());
    bmp[14..18].copy_from_slice(&40u32.to_le_bytes());
    bmp[18..22].copy_from_slice(&100_000i32.to_le_bytes());
    bmp[22..26].copy_from_slice(&100_000i32.to_le_bytes());
    bmp[26..28].copy_from_slice(&1u16.to_le_bytes());
    bmp[28..30].copy_from_slice(&24u16.to_le_bytes());
    assert!(matches!(
        preprocess(&bmp, &LIMITS),
        Err(PreprocessError::TooManyPixels { .. })
    ));
    // GIF logical screen 65535x65535
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4C, 0x01, 0, 0x3B]);
    assert!(matches!(
        preprocess(&gif, &LIMITS),
        Err(PreprocessError::TooManyPixels {
            width: 65535,
            height: 65535,
            ..
        })
    ));
    assert!(t.elapsed().as_secs() < 2, "limit checks must not decode");
}

#[test]
fn error_unsupported_and_unrecognized() {
    let cases: [(&[u8], &str); 6] = [
        (b"II*\x00\x08\x00\x00\x00rest", "TIFF"),
        (b"MM\x00*\x00\x00\x00\x08", "TIFF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "AVIF"),
        (b"\x00\x00\x01\x00\x01\x00\x10\x10", "ICO"),
        (b"%PDF-1.7\n", "PDF"),
    ];
    for (bytes, name) in cases {
        assert_eq!(
            preprocess(bytes, &LIMITS),
            Err(PreprocessError::UnsupportedFormat(name.to_string()))
        );
    }
    for bytes in [
        &b"hello world, not an image"[..],
        &[0u8; 100],
        &[0x12, 0x34],
    ] {
        assert_eq!(
            preprocess(bytes, &LIMITS),
            Err(PreprocessError::UnrecognizedFormat)
        );
    }
    let msg = PreprocessError::UnsupportedFormat("TIFF".into()).to_string();
    assert!(msg.contains("TIFF") && msg.contains("JPEG"), "{msg}");
}

#[test]
fn png_text_orientation_is_bounded_like_pillow() {
    // A PNG chunk with a freshly computed CRC, spliced in after IHDR.
    fn with_chunk(png: &[u8], kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let mut h = flate2::Crc::new();
        h.update(&c[4..]);
        c.extend_from_slice(&h.sum().to_be_bytes());
        [&png[..33], &c[..], &png[33..]].concat()
    }
    let zlib = |d: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let base = rgb_png(30, 20);
    // Pillow refuses a zTXt that inflates past its 1 MiB MAX_TEXT_CHUNK, and so does pg_clip: the bomb
    // is never inflated further than that.
    let bomb = [b"Raw profile type exif\0\0".as_slice(), &zlib(&vec![b'0'; 2 << 20])].concat();
    let got = preprocess(&with_chunk(&base, b"zTXt", &bomb), &LIMITS);
    assert!(matches!(&got, Err(PreprocessError::Corrupt(m)) if m.contains("inflates")), "{got:?}");
    // A broken zlib stream is dropped (no orientation), as Pillow drops it.
    let broken = [b"Raw profile type exif\0\0".as_slice(), b"not zlib"].concat();
    assert_eq!(preprocess(&with_chunk(&base, b"zTXt", &broken), &LIMITS), preprocess(&base, &LIMITS));
    // Non-hex text in a raw profile makes Pillow's bytes.fromhex fail inside exif_transpose: refused.
    let not_hex = b"Raw profile type exif\0\nexif\n       8\nzz00zz00\n";
    assert!(matches!(preprocess(&with_chunk(&base, b"tEXt", not_hex), &LIMITS), Err(PreprocessError::Corrupt(_))));
}

#[test]
fn error_truncated_and_corrupt() {
    let j = tiny_jpeg();
    for n in [3, 20, 200, 400, j.len() - 200, j.len() - 2, j.len() - 1] {
        assert!(
            matches!(
                preprocess(&j[..n], &LIMITS),
                Err(PreprocessError::Corrupt(_))
            ),
            "JPEG truncated to {n}"
        );
    }
    let p = rgb_png(64, 64);
    for n in [9, 30, 60, p.len() / 2, p.len() - 13] {
        assert!(
            matches!(
                preprocess(&p[..n], &LIMITS),
                Err(PreprocessError::Corrupt(_))
            ),
            "PNG truncated to {n}"
        );
    }
    // just the magic bytes of each supported format
    for magic in [
        &b"\x89PNG\r\n\x1a\n"[..],
        b"\xFF\xD8\xFF",
        b"GIF89a",
        b"RIFF\x10\0\0\0WEBPVP8 ",
        b"BM",
    ] {
        assert!(matches!(
            preprocess(magic, &LIMITS),
            Err(PreprocessError::Corrupt(_))
        ));
    }
}

/// xorshift64*: deterministic pseudo-random numbers for the fuzz tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn fuzz_corpus() -> Vec<(String, Vec<u8>)> {
    let mut corpus = vec![
        ("tiny.jpg".to_string(), tiny_jpeg()),
        ("rgb.png".to_string(), rgb_png(37, 23)),
    ];
    for dir in ["tests/images", "tests/images/malformed"] {
        if let Ok(rd) = std::fs::read_dir(root().join(dir)) {
            let mut paths: Vec<_> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            paths.sort();
            for p in paths {
                if let Ok(b) = std::fs::read(&p) {
                    corpus.push((p.file_name().unwrap().to_string_lossy().into_owned(), b));
                }
            }
        }
    }
    corpus
}

/// Truncations, bit flips, byte overwrites and random bytes: every input
/// must give Ok or Err, never a panic (no catch_unwind anywhere).
fn fuzz(truncations: usize, flips: usize, randoms: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = vec![0f32; TENSOR_LEN];
    let mut n = 0usize;
    for (name, bytes) in fuzz_corpus() {
        if bytes.is_empty() {
            continue;
        }
        for i in 0..truncations {
            let len = (bytes.len() * i) / truncations + (rng.next() % 7) as usize;
            let _ = preprocess_into(&bytes[..len.min(bytes.len())], &LIMITS, &mut out);
            n += 1;
        }
        for _ in 0..flips {
            let mut b = bytes.clone();
            // mostly in the first 1 KiB, where the headers live
            for _ in 0..1 + rng.next() % 4 {
                let span = if rng.next().is_multiple_of(2) {
                    b.len().min(1024)
                } else {
                    b.len()
                };
                let i = (rng.next() as usize) % span;
                if rng.next().is_multiple_of(3) {
                    b[i] = rng.next() as u8;
                } else {
                    b[i] ^= 1 << (rng.next() % 8);
                }
            }
            let _ = preprocess_into(&b, &LIMITS, &mut out);
            n += 1;
        }
        let _ = name;
    }
    let magics: [&[u8]; 6] = [
        b"\x89PNG\r\n\x1a\n",
        b"\xFF\xD8\xFF",
        b"GIF89a",
        b"RIFF\0\0\0\0WEBP",
        b"BM",
        b"",
    ];
    for i in 0..randoms {
        let mut b = magics[i % magics.len()].to_vec();
        let len = (rng.next() % 2048) as usize;
        b.extend((0..len).map(|_| rng.next() as u8));
        let _ = preprocess_into(&b, &LIMITS, &mut out);
        n += 1;
    }
    assert!(n > 0);
}

#[test]
fn fuzz_never_panics() {
    // kept small: `cargo test` runs unoptimised decoders
    fuzz(12, 12, 120);
}

#[test]
#[ignore = "long; run with `cargo test --release -- --ignored`"]
fn fuzz_never_panics_long() {
    fuzz(200, 400, 20_000);
}

// ----- golden parity with open_clip + Pillow -------------------------

/// JPEG decoders differ (Pillow: libjpeg-turbo islow IDCT + "fancy"
/// h2v2/h2v1 upsampling with +8/+7 biases + 16-bit YCbCr tables; image /
/// zune-jpeg: its own integer IDCT, two-stage (3a+b+2)>>2 upsampling,
/// 14-bit colour conversion). Decoded pixels differ by a few 8-bit levels
/// at edges; after the downscale that averages out. One level is
/// 1/255/0.26 ~= 0.015 normalised. Golden photos: max <= 4 levels (0.057),
/// mean <= 0.25 level (0.0036). Allowed: max 7 levels, mean 0.4 level: any
/// real regression (a 1-level bias, a wrong filter, an off-by-one crop)
/// exceeds the mean bound, a wrong channel/orientation exceeds both.
const JPEG_MAX_ABS: f32 = 0.10;
const JPEG_MEAN_ABS: f64 = 0.006;
/// Everything else (PNG, GIF, BMP, WebP incl. lossy) is bit-exact.
const EXACT_MAX_ABS: f32 = 0.0;

fn read_f32(path: &Path) -> Vec<f32> {
    let b = std::fs::read(path).unwrap();
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn golden_parity_with_open_clip() {
    let index = root().join("tests/golden/images.json");
    let Ok(text) = std::fs::read_to_string(&index) else {
        println!("SKIP golden parity: {} not found", index.display());
        return;
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entries = json
        .get("images")
        .and_then(|v| v.as_array())
        .or_else(|| json.as_array())
        .expect("images.json: a list or an object with \"images\"");
    assert!(!entries.is_empty());
    println!(
        "{:<40} {:>5} {:>10} {:>10} {:>8} {:>9}",
        "image", "mode", "max_abs", "mean_abs", "max_lvl", "time_ms"
    );
    let mut failures = Vec::new();
    let mut out = vec![0f32; TENSOR_LEN];
    for e in entries {
        let file = e["file"].as_str().unwrap();
        let reference = read_f32(&root().join(e["preprocess"].as_str().unwrap()));
        assert_eq!(reference.len(), TENSOR_LEN, "{file}");
        let bytes = std::fs::read(root().join(file)).unwrap();
        let t = std::time::Instant::now();
        if let Err(err) = preprocess_into(&bytes, &LIMITS, &mut out) {
            failures.push(format!("{file}: {err}"));
            continue;
        }
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let (mut max, mut sum, mut max_lvl) = (0f32, 0f64, 0f32);
        for (i, (a, b)) in out.iter().zip(&reference).enumerate() {
            let d = (a - b).abs();
            max = max.max(d);
            sum += f64::from(d);
            max_lvl = max_lvl.max(d * STD[i / PLANE] as f32 * 255.0);
        }
        let mean = sum / TENSOR_LEN as f64;
        let mode = e.get("mode").and_then(|m| m.as_str()).unwrap_or("?");
        println!("{file:<40} {mode:>5} {max:>10.6} {mean:>10.7} {max_lvl:>8.2} {ms:>9.2}");
        let is_jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
        let (max_ok, mean_ok) = if is_jpeg {
            (JPEG_MAX_ABS, JPEG_MEAN_ABS)
        } else {
            (EXACT_MAX_ABS, 0.0)
        };
        if max > max_ok || mean > mean_ok {
            failures.push(format!(
                "{file}: max {max} (<= {max_ok}), mean {mean} (<= {mean_ok})"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden parity failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn hostile_corpus_gives_vectors_or_errors_never_panics() {
    // tests/images/hostile (tests/hostile/make_corpus.py): every input that ever crashed or misled a
    // decoder is replayed here, without a server. The integration suite runs the same files through SQL
    // under an address-space cap.
    let dir = root().join("tests/images/hostile");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("MANIFEST.json")).expect("hostile MANIFEST.json")).unwrap();
    let limits = Limits { max_bytes: 20 << 20, max_pixels: 40_000_000 };
    let files = manifest["files"].as_array().expect("files");
    assert!(files.len() > 700, "{}", files.len());
    let mut bad = Vec::new();
    for f in files {
        let name = f["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let got = std::panic::catch_unwind(|| preprocess(&bytes, &limits));
        let verdict = match (&got, f["valid"].as_bool().unwrap(), f["expect"].as_str()) {
            (Err(_), ..) => Some("panicked".to_string()),
            (Ok(Ok(_)), _, Some(code)) => Some(format!("decoded, {code} expected")),
            (Ok(Err(PreprocessError::UnsupportedFormat(_))), true, _) if name == "webp-valid-vp8l-16384x4.webp" => None,
            (Ok(Err(e)), true, _) => Some(format!("valid file refused: {e}")),
            (Ok(Err(e)), false, Some("54000")) if !matches!(e, PreprocessError::TooManyPixels { .. }) => {
                Some(format!("{e} instead of the pixel limit"))
            }
            _ => None,
        };
        if let Some(v) = verdict {
            bad.push(format!("{name}: {v}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // The 52-byte WebP whose EXIF chunk claims 4 GiB: refused from the container, before any allocation.
    let webp = std::fs::read(dir.join("webp-exif-len-fffffff0-52-bytes.webp")).unwrap();
    assert_eq!(webp.len(), 52);
    assert!(matches!(preprocess(&webp, &limits), Err(PreprocessError::Corrupt(m)) if m.contains("past the end")));
}

#[test]
fn malformed_files_fail_cleanly() {
    let dir = root().join("tests/images/malformed");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        println!("SKIP malformed: {} not found", dir.display());
        return;
    };
    let mut paths: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let t = std::time::Instant::now();
        let err = preprocess(&bytes, &LIMITS).expect_err(&name);
        println!("{name:<28} -> {err}");
        let ok = match name.as_str() {
            n if n.starts_with("empty") => err == PreprocessError::Empty,
            n if n.starts_with("bomb") || n.starts_with("huge-dims") => {
                matches!(err, PreprocessError::TooManyPixels { .. })
                    && t.elapsed().as_millis() < 500
            }
            n if n.starts_with("not-an-image") || n.starts_with("random-bytes") => {
                err == PreprocessError::UnrecognizedFormat
            }
            n if n.ends_with(".tiff") || n.ends_with(".tif") => {
                err == PreprocessError::UnsupportedFormat("TIFF".into())
            }
            n if n.starts_with("truncated")
                || n.starts_with("corrupt")
                || n.starts_with("zero-frames") =>
            {
                matches!(err, PreprocessError::Corrupt(_))
            }
            _ => true, // unknown new file: only "no panic, an error"
        };
        assert!(ok, "{name}: unexpected error {err:?}");
    }
}

// ----- stop probe --------------------------------------------------------

#[test]
fn a_stop_probe_that_says_stop_stops_every_format() {
    let dir = root().join("tests/images/hostile");
    let limits = Limits { max_bytes: 64 << 20, max_pixels: 40_000_000 };
    for f in [
        "png-valid-at-pixel-limit-8000x5000-rgba.png",
        "webp-valid-at-pixel-limit-vp8l-6324x6324.webp",
        "webp-valid-at-pixel-limit-vp8-6320x6320.webp",
        "jpeg-valid-at-pixel-limit-8000x5000-progressive-gray.jpg",
        "png-bomb-1x40000000-gray.png",
    ] {
        let bytes = std::fs::read(dir.join(f)).unwrap();
        assert_eq!(preprocess_stoppable(&bytes, &limits, &|| true).err(), Some(PreprocessError::Stopped), "{f}");
        // A probe that turns true after k calls stops the image at some later point, never corrupts it:
        // whatever k, the result is Stopped, or (k past the last check) the same tensor as without a probe.
        let full = preprocess(&bytes, &limits).unwrap();
        for k in [1usize, 2, 5, 20, 200, 5000] {
            let calls = std::sync::atomic::AtomicUsize::new(0);
            let probe = || calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= k;
            match preprocess_stoppable(&bytes, &limits, &probe) {
                Err(PreprocessError::Stopped) => {}
                Ok(t) => assert!(t == full, "{f}: k = {k} gave another tensor"),
                Err(e) => panic!("{f}: k = {k}: {e}"),
            }
        }
    }
}

#[test]
fn a_probe_that_never_stops_changes_nothing() {
    let bytes = rgb_png(1500, 700);
    let probe_calls = std::sync::atomic::AtomicUsize::new(0);
    let probe = || {
        probe_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        false
    };
    assert_eq!(preprocess_stoppable(&bytes, &LIMITS, &probe).unwrap(), preprocess(&bytes, &LIMITS).unwrap());
    assert!(probe_calls.into_inner() >= 3, "the probe was not asked between stages");
}

/// Issue 11 finding 6: an Ultra HDR JPEG is the primary image, with an MPF APP2 segment that locates the
/// secondary image, followed by the gain-map JPEG. Pillow decodes the primary; so must we, with the
/// same pixels as the primary alone.
#[test]
fn ultra_hdr_decodes_the_primary_image() {
    let primary = tiny_jpeg();
    // Any other JPEG stands in for the gain map: its pixels must not leak into the result.
    let gain_map = std::fs::read(root().join("tests/images/astronaut-baseline.jpg")).unwrap();
    assert_ne!(preprocess(&gain_map, &LIMITS).unwrap(), preprocess(&primary, &LIMITS).unwrap());
    // APP2 "MPF\0" + a big-endian TIFF header with an MP index IFD of zero entries (what matters is that
    // the segment is there, as in real files; the offsets it would hold are not read by a decoder).
    let mpf: &[u8] = b"MPF\0MM\0\x2a\0\0\0\x08\0\0\0\0\0\0";
    let mut ultra = vec![0xFF, 0xD8, 0xFF, 0xE2];
    ultra.extend_from_slice(&((mpf.len() + 2) as u16).to_be_bytes());
    ultra.extend_from_slice(mpf);
    ultra.extend_from_slice(&primary[2..]);
    ultra.extend_from_slice(&gain_map);
    let want = preprocess(&primary, &LIMITS).unwrap();
    let got = preprocess(&ultra, &LIMITS).expect("an Ultra HDR JPEG is a valid image");
    assert_eq!(got, want, "the primary image's pixels, not the gain map's");
}
