//! End-to-end parity with the reference pipeline (open_clip preprocessing with Pillow, onnxruntime on
//! the same ONNX files): pg_clip's own decode -> preprocess -> tract -> normalise must give cosine
//! >= 0.9999 against the golden embeddings for every image and text, in both export flavours. The golden
//! data is committed (tests/golden, made by make_golden.py), so this needs no Python.

use std::path::{Path, PathBuf};

use crate::inference::{embed_images, embed_tokens, Stop};
use crate::model::{load, Encoder, Tower};
use crate::preprocess::{preprocess, Limits};
use crate::tokenizer;

const MIN_COSINE: f64 = 0.9999;

fn root() -> PathBuf {
    crate::repo_root()
}

fn golden(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("tests/golden").join(name)).expect("golden file");
    serde_json::from_str(&text).expect("golden json")
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn model(file: &str, tower: Tower) -> Encoder {
    load(tower, &root().join("models/tiny").join(file)).expect("tiny model loads")
}

fn never_stop() -> impl FnMut() -> Result<(), Stop> {
    || Ok(())
}

#[test]
fn image_embeddings_match_onnxruntime_for_every_golden_image() {
    let g = golden("images.json");
    let images = g["images"].as_array().expect("images");
    assert!(images.len() >= 12);
    let limits = Limits { max_bytes: 64 << 20, max_pixels: 100_000_000 };
    for (file, key) in [("clip-tiny-image.onnx", "emb_tiny_open_clip"), ("clip-tiny-hf-image.onnx", "emb_tiny_hf")] {
        let enc = model(file, Tower::Image);
        let mut pixels = Vec::new();
        for img in images {
            let path = root().join(img["file"].as_str().expect("file"));
            pixels.extend(preprocess(&std::fs::read(&path).expect("image"), &limits).expect("preprocess"));
        }
        // One call over all images with rows spread over 2 threads: order and values must survive.
        let rows = embed_images(&enc, &pixels, 2, &mut never_stop()).expect("inference");
        assert_eq!(rows.len(), images.len());
        println!("{file}: 1 - cos per image");
        let mut worst = 1.0f64;
        for (img, row) in images.iter().zip(&rows) {
            let c = cosine(row, &floats(&img[key]));
            println!("  {:<40} {:.3e}", img["file"].as_str().unwrap_or(""), 1.0 - c);
            worst = worst.min(c);
        }
        assert!(worst >= MIN_COSINE, "{file}: worst cosine {worst}");
    }
}

#[test]
fn text_embeddings_and_tokens_match_open_clip() {
    let g = golden("text_embeddings.json");
    let texts = g["texts"].as_array().expect("texts");
    let tok = tokenizer::global();
    let mut ids = Vec::new();
    for t in texts {
        let want: Vec<i64> = t["tokens"].as_array().expect("tokens").iter().map(|x| x.as_i64().unwrap_or(-1)).collect();
        let got = tok.tokenize(t["text"].as_str().expect("text"));
        assert_eq!(got.to_vec(), want, "tokens of {:?}", t["text"]);
        ids.extend_from_slice(&got);
    }
    for (file, key) in [("clip-tiny-text.onnx", "emb_tiny_open_clip"), ("clip-tiny-hf-text.onnx", "emb_tiny_hf")] {
        let enc = model(file, Tower::Text);
        let rows = embed_tokens(&enc, &ids, 2, &mut never_stop()).expect("inference");
        assert_eq!(rows.len(), texts.len());
        let worst = texts.iter().zip(&rows).map(|(t, r)| cosine(r, &floats(&t[key]))).fold(1.0, f64::min);
        println!("{file}: worst 1 - cos over {} texts: {:.3e}", texts.len(), 1.0 - worst);
        assert!(worst >= MIN_COSINE, "{file}: worst cosine {worst}");
    }
}

#[test]
fn checkpoint_stops_inference_between_operators() {
    let enc = model("clip-tiny-image.onnx", Tower::Image);
    let mut calls = 0;
    let mut stop_after_3 = || {
        calls += 1;
        if calls > 3 { Err(Stop) } else { Ok(()) }
    };
    let r = embed_images(&enc, &[0.0; crate::preprocess::TENSOR_LEN], 1, &mut stop_after_3);
    assert_eq!(r.err(), Some(crate::inference::InferenceError::Stopped));
    assert_eq!(calls, 4, "the pass must stop at the first refused checkpoint");
}

#[test]
fn wrong_models_are_refused_at_load_with_reasons() {
    let text_as_image = load(Tower::Image, &root().join("models/tiny/clip-tiny-text.onnx")).err().expect("refused");
    assert!(text_as_image.to_string().contains("is not a usable CLIP ViT-B/32 image model"), "{text_as_image}");
    let not_onnx = load(Tower::Image, &root().join("tests/images/cat.bmp")).err().expect("refused");
    assert!(not_onnx.detail().unwrap_or_default().contains("ONNX"), "{not_onnx:?}");
    let missing = load(Tower::Image, Path::new("/nonexistent/model.onnx")).err().expect("refused");
    assert!(matches!(missing, crate::model::ModelError::NotFound { .. }));
}

#[test]
fn manifest_gives_model_identity() {
    let enc = model("clip-tiny-image.onnx", Tower::Image);
    assert_eq!(enc.identity.name.as_deref(), Some("clip-tiny"));
    assert_eq!(enc.identity.sha256.len(), 64);
    let manifest = golden_manifest();
    assert_eq!(manifest["image"]["sha256"].as_str(), Some(enc.identity.sha256.as_str()));
}

fn golden_manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("models/tiny/clip-tiny.json")).expect("manifest");
    serde_json::from_str(&text).expect("json")
}

fn golden_pixels(files: &[&str]) -> Vec<f32> {
    let limits = Limits { max_bytes: 64 << 20, max_pixels: 100_000_000 };
    files
        .iter()
        .flat_map(|f| preprocess(&std::fs::read(root().join("tests/images").join(f)).expect("image"), &limits).expect("preprocess"))
        .collect()
}

#[test]
fn thread_count_changes_neither_values_nor_order() {
    let enc = model("clip-tiny-image.onnx", Tower::Image);
    let files = ["astronaut-baseline.jpg", "cat-tiny-20x14.png", "astronaut-baseline.jpg", "cat-tiny-20x14.png", "astronaut-baseline.jpg"];
    let pixels = golden_pixels(&files);
    let one = embed_images(&enc, &pixels, 1, &mut never_stop()).expect("1 thread");
    assert_eq!(one.len(), files.len());
    assert!(cosine(&one[0], &one[1]) < 0.999, "the two images must differ for the order check to mean anything");
    for threads in [2, 3, 8] {
        let many = embed_images(&enc, &pixels, threads, &mut never_stop()).expect("threads");
        for (a, b) in one.iter().zip(&many) {
            assert!(cosine(a, b) > 0.999_999, "{threads} threads");
        }
    }
    // A single row with threads spreads its matmuls instead.
    let single = embed_images(&enc, &pixels[..crate::preprocess::TENSOR_LEN], 2, &mut never_stop()).expect("intra-op");
    assert!(cosine(&single[0], &one[0]) > 0.999_999);
}

#[test]
fn a_stop_on_the_calling_thread_stops_every_worker() {
    let enc = model("clip-tiny-image.onnx", Tower::Image);
    let pixels: Vec<f32> = golden_pixels(&["astronaut-baseline.jpg"]).repeat(256);
    // Warm first (pool threads, plan state), so the comparison is between two warm calls.
    let started = std::time::Instant::now();
    embed_images(&enc, &pixels, 2, &mut never_stop()).expect("full run");
    let whole = started.elapsed();
    let mut calls = 0;
    let mut stop_soon = || {
        calls += 1;
        if calls > 20 { Err(Stop) } else { Ok(()) }
    };
    let started = std::time::Instant::now();
    let r = embed_images(&enc, &pixels, 2, &mut stop_soon);
    let stopped_after = started.elapsed();
    assert_eq!(r.err(), Some(crate::inference::InferenceError::Stopped));
    assert!(stopped_after * 4 < whole, "stopped after {stopped_after:?}, a whole batch takes {whole:?}");
}

#[test]
fn rejected_rows_are_reported_by_position_with_and_without_fail_fast() {
    use crate::inference::{embed_rows, Input, Row};
    let enc = model("clip-tiny-image.onnx", Tower::Image);
    let pixels = golden_pixels(&["astronaut-baseline.jpg"]);
    let bad = [3usize, 7];
    let prepare = |i: usize| if bad.contains(&i) { Err(i) } else { Ok(Input::Pixels(pixels.clone())) };
    for threads in [1, 2, 4] {
        let rows = embed_rows(&enc, 10, threads, false, &mut never_stop(), &prepare).expect("rows");
        for (i, r) in rows.iter().enumerate() {
            match r {
                Row::Rejected(e) => assert!(bad.contains(&i) && *e == i, "{threads} threads, row {i}"),
                Row::Embedded(v) => assert!(!bad.contains(&i) && v.len() == 512),
                Row::Skipped => panic!("nothing is skipped without fail_fast"),
            }
        }
        let rows = embed_rows(&enc, 10, threads, true, &mut never_stop(), &prepare).expect("rows");
        let first = rows.iter().position(|r| matches!(r, Row::Rejected(_)));
        assert_eq!(first, Some(3), "{threads} threads: the first bad row by position is always found");
    }
}
