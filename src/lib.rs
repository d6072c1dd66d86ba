//! pg_clip: CLIP ViT-B/32 embeddings computed inside PostgreSQL. This file only wires modules together;
//! see each module for its concern.

::pgrx::pg_module_magic!(name, version);

// The engine (no pgrx) lives in the core crate; its modules keep their paths here so that the glue
// reads as before: crate::preprocess, crate::model, ...
pub use pg_clip_core::{clip, fetch, hugepages, inference, model, preprocess, threads, tokenizer};

mod api;
mod error;
mod sandbox;
mod settings;
mod vector;
#[cfg(any(test, feature = "pg_test"))]
mod tests;

#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
    api::init_backend_thread();
    tokenizer::set_checkpoint(api::text_checkpoint);
    // Only in the postmaster, before any backend forks. Loading starts no threads (pools are created
    // per backend on first use), so nothing here is lost or duplicated by fork().
    if settings::preload() && unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        api::preload_models();
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![
            "clip.image_model = 'pg_clip/clip-tiny-image.onnx'",
            "clip.text_model = 'pg_clip/clip-tiny-text.onnx'",
        ]
    }
}
