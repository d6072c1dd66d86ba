//! Every `clip.*` GUC, registered in `_PG_init`. Other modules read settings only through the accessors
//! here, so the README's GUC table and this file are the complete list.

use std::ffi::{CStr, CString};

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Default model locations are relative to the server's share directory
/// (`pg_config --sharedir`), where `models/install.sh` puts them, so a default install needs no path.
pub const DEFAULT_IMAGE_MODEL: &CStr = c"pg_clip/clip-vit-b-32-openai-image.onnx";
pub const DEFAULT_TEXT_MODEL: &CStr = c"pg_clip/clip-vit-b-32-openai-text.onnx";

static IMAGE_MODEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(DEFAULT_IMAGE_MODEL));
static TEXT_MODEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(DEFAULT_TEXT_MODEL));
static PRELOAD: GucSetting<bool> = GucSetting::<bool>::new(false);
static TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(0);
static MAX_IMAGE_BYTES: GucSetting<i32> = GucSetting::<i32>::new(20 * 1024 * 1024);
static MAX_IMAGE_PIXELS: GucSetting<i32> = GucSetting::<i32>::new(40_000_000);
static MAX_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(32);
static THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);
static MAX_TEXT_BYTES: GucSetting<i32> = GucSetting::<i32>::new(64 * 1024);
static HTTP_CONNECT_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(5_000);
static HTTP_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(30_000);
static HTTP_MAX_BYTES: GucSetting<i32> = GucSetting::<i32>::new(20 * 1024 * 1024);
static HTTP_MAX_REDIRECTS: GucSetting<i32> = GucSetting::<i32>::new(3);
static HTTP_ALLOW_HOSTS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
static BACKFILL_MAX_ATTEMPTS: GucSetting<i32> = GucSetting::<i32>::new(5);
static BACKFILL_RETRY_BASE_S: GucSetting<i32> = GucSetting::<i32>::new(60);

pub fn register() {
    // Model paths are SUSET: pointing the loader at a file is reading a server file, which ordinary
    // roles may not do (pg_read_server_files is superuser-grade).
    GucRegistry::define_string_guc(
        c"clip.image_model",
        c"Path of the CLIP image-tower ONNX model.",
        c"Absolute, or relative to the server's share directory. Input [N,3,224,224] float32, output [N,512].",
        &IMAGE_MODEL,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"clip.text_model",
        c"Path of the CLIP text-tower ONNX model.",
        c"Absolute, or relative to the server's share directory. Input [N,77] int64 token ids, output [N,512].",
        &TEXT_MODEL,
        GucContext::Suset,
        GucFlags::default(),
    );
    // A postmaster-context GUC can only be defined while shared_preload_libraries is processed; when
    // pg_clip is loaded later (CREATE EXTENSION, first call) clip.preload stays a placeholder and off.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        GucRegistry::define_bool_guc(
            c"clip.preload",
            c"Load the models in the postmaster (needs shared_preload_libraries = 'pg_clip').",
            c"Backends then share the weights copy-on-write and pay no load latency on their first call.",
            &PRELOAD,
            GucContext::Postmaster,
            GucFlags::default(),
        );
    }
    GucRegistry::define_int_guc(
        c"clip.timeout_ms",
        c"Longest time one clip_* call may spend decoding and inferring; 0 disables.",
        c"Independent of statement_timeout, which is honoured as well.",
        &TIMEOUT_MS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"clip.max_image_bytes",
        c"Largest encoded image accepted.",
        c"Checked before decoding.",
        &MAX_IMAGE_BYTES,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"clip.max_image_pixels",
        c"Largest width*height accepted (decompression-bomb guard).",
        c"Read from the image header before the pixels are decoded.",
        &MAX_IMAGE_PIXELS,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"clip.max_batch_size",
        c"Most images or texts sent through the model in one forward pass.",
        c"Longer arrays are processed in several passes; bounds the activation memory of one call.",
        &MAX_BATCH_SIZE,
        1,
        1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"clip.threads",
        c"Threads one backend uses for a call's forward passes (0 = the cores idle when the pass starts).",
        c"A batch spreads its rows over the threads, a single row its matrix products. 0 decides per pass \
          from the machine's runnable tasks, so concurrent sessions fall back to one thread each.",
        &THREADS,
        0,
        64,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"clip.max_text_bytes",
        c"Longest text accepted by clip_embed_text(s) and clip_tokenize.",
        c"Only 77 tokens are used; the cap bounds the cost of cleaning a huge text.",
        &MAX_TEXT_BYTES,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"clip.http_connect_timeout_ms",
        c"Connect timeout for fetching URL image sources.",
        c"",
        &HTTP_CONNECT_TIMEOUT_MS,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"clip.http_timeout_ms",
        c"Total time allowed for fetching one URL image source, redirects included.",
        c"",
        &HTTP_TIMEOUT_MS,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"clip.http_max_bytes",
        c"Largest body accepted when fetching a URL image source.",
        c"Enforced while streaming, whatever Content-Length says.",
        &HTTP_MAX_BYTES,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_BYTE,
    );
    GucRegistry::define_int_guc(
        c"clip.http_max_redirects",
        c"Most redirects followed when fetching a URL image source.",
        c"Every redirect target is checked against the address rules again.",
        &HTTP_MAX_REDIRECTS,
        0,
        20,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SUSET: letting any role allowlist hosts would let it aim the server at internal services.
    GucRegistry::define_string_guc(
        c"clip.http_allow_hosts",
        c"Comma-separated hosts exempt from the private/loopback/link-local address refusal.",
        c"Matched against the URL's host as written (name or IP literal), case-insensitively.",
        &HTTP_ALLOW_HOSTS,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"clip.backfill_max_attempts",
        c"Attempts clip_backfill makes on a failing row before leaving it alone.",
        c"",
        &BACKFILL_MAX_ATTEMPTS,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"clip.backfill_retry_base_s",
        c"First retry delay for a failed row; doubles with every further attempt.",
        c"",
        &BACKFILL_RETRY_BASE_S,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
}

fn string_setting(setting: &GucSetting<Option<CString>>) -> String {
    setting.get().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn image_model_path() -> String {
    string_setting(&IMAGE_MODEL)
}

pub fn text_model_path() -> String {
    string_setting(&TEXT_MODEL)
}

/// `None` when no per-call limit is set.
pub fn timeout() -> Option<std::time::Duration> {
    match TIMEOUT_MS.get() {
        ms if ms > 0 => Some(std::time::Duration::from_millis(ms as u64)),
        _ => None,
    }
}

pub fn image_limits() -> crate::preprocess::Limits {
    crate::preprocess::Limits {
        max_bytes: MAX_IMAGE_BYTES.get().max(1) as usize,
        max_pixels: MAX_IMAGE_PIXELS.get().max(1) as u64,
    }
}

pub fn max_batch_size() -> usize {
    MAX_BATCH_SIZE.get().max(1) as usize
}

pub fn max_text_bytes() -> usize {
    MAX_TEXT_BYTES.get().max(1) as usize
}

pub fn fetch_policy() -> crate::fetch::FetchPolicy {
    let ms = |s: &GucSetting<i32>| std::time::Duration::from_millis(s.get().max(1) as u64);
    crate::fetch::FetchPolicy {
        connect_timeout: ms(&HTTP_CONNECT_TIMEOUT_MS),
        total_timeout: ms(&HTTP_TIMEOUT_MS),
        max_bytes: HTTP_MAX_BYTES.get().max(1) as usize,
        max_redirects: HTTP_MAX_REDIRECTS.get().max(0) as usize,
        allow_hosts: string_setting(&HTTP_ALLOW_HOSTS)
            .split(',')
            .map(|h| h.trim().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
    }
}

pub fn preload() -> bool {
    PRELOAD.get()
}

/// Resolved for one forward pass: `clip.threads`, or the idle cores right now when it is 0.
pub fn threads() -> usize {
    match THREADS.get() {
        n if n >= 1 => n as usize,
        _ => crate::threads::auto(),
    }
}
