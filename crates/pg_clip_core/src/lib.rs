//! pg_clip's engine, without PostgreSQL: image decoding and CLIP preprocessing, the tokenizer, model
//! loading and inference, worker threads, huge pages and URL fetching. Nothing here links pgrx, so
//! `cargo test -p pg_clip_core` and the fuzz targets run without a server; the extension crate adds
//! the SQL surface, settings, errors and interrupts on top. Where this code must stop for a cancel or
//! report progress, the caller passes a callback in.

pub mod clip;
pub mod fetch;
pub mod headroom;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_checks;
pub mod hugepages;
pub mod inference;
pub mod model;
#[cfg(feature = "onnxruntime")]
pub mod onnxruntime;
pub mod preprocess;
pub mod threads;
pub mod tokenizer;

#[cfg(test)]
mod parity;

/// The repository root, where the committed models, images and golden files live.
#[cfg(test)]
pub(crate) fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
