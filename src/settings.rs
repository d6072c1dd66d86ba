//! Every `clip.*` GUC, registered in `_PG_init`. Other modules read settings only through the accessors
//! here, so the README's GUC table and this file are the complete list.

use std::ffi::{CStr, CString};

use std::sync::atomic::{AtomicI32, Ordering};

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::{pg_guard, pg_sys};

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
static ENGINE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"tract"));
static ONNXRUNTIME_LIBRARY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
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
    define_limit(
        c"clip.max_image_bytes",
        c"Largest encoded image accepted.",
        c"Checked before decoding.",
        &MAX_IMAGE_BYTES,
        1,
        i32::MAX,
        GucFlags::UNIT_BYTE,
        max_image_bytes_hook,
    );
    define_limit(
        c"clip.max_image_pixels",
        c"Largest width*height accepted (decompression-bomb guard).",
        c"Read from the image header before the pixels are decoded.",
        &MAX_IMAGE_PIXELS,
        1,
        i32::MAX,
        GucFlags::default(),
        max_image_pixels_hook,
    );
    define_limit(
        c"clip.max_batch_size",
        c"Most images or texts sent through the model in one forward pass.",
        c"Longer arrays are processed in several passes; bounds the activation memory of one call.",
        &MAX_BATCH_SIZE,
        1,
        1024,
        GucFlags::default(),
        max_batch_size_hook,
    );
    define_limit(
        c"clip.threads",
        c"Threads one backend uses for a call's forward passes (0 = the cores idle when the pass starts).",
        c"A batch spreads its rows over the threads, a single row its matrix products. 0 decides per pass \
          from the machine's runnable tasks, so concurrent sessions fall back to one thread each.",
        &THREADS,
        0,
        64,
        GucFlags::default(),
        threads_hook,
    );
    define_limit(
        c"clip.max_text_bytes",
        c"Longest text accepted by clip_embed_text(s) and clip_tokenize.",
        c"Only 77 tokens are used; the cap bounds the cost of cleaning a huge text.",
        &MAX_TEXT_BYTES,
        1,
        i32::MAX,
        GucFlags::UNIT_BYTE,
        max_text_bytes_hook,
    );
    define_limit(
        c"clip.http_connect_timeout_ms",
        c"Connect timeout for fetching URL image sources.",
        c"",
        &HTTP_CONNECT_TIMEOUT_MS,
        1,
        i32::MAX,
        GucFlags::UNIT_MS,
        http_connect_timeout_ms_hook,
    );
    define_limit(
        c"clip.http_timeout_ms",
        c"Total time allowed for fetching one URL image source, redirects included.",
        c"",
        &HTTP_TIMEOUT_MS,
        1,
        i32::MAX,
        GucFlags::UNIT_MS,
        http_timeout_ms_hook,
    );
    define_limit(
        c"clip.http_max_bytes",
        c"Largest body accepted when fetching a URL image source.",
        c"Enforced while streaming, whatever Content-Length says.",
        &HTTP_MAX_BYTES,
        1,
        i32::MAX,
        GucFlags::UNIT_BYTE,
        http_max_bytes_hook,
    );
    define_limit(
        c"clip.http_max_redirects",
        c"Most redirects followed when fetching a URL image source.",
        c"Every redirect target is checked against the address rules again.",
        &HTTP_MAX_REDIRECTS,
        0,
        20,
        GucFlags::default(),
        http_max_redirects_hook,
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
    // SUSET, both: the engine decides how much memory and how many threads every backend's model takes,
    // and the library path is code the backend maps and runs, as dynamic_library_path is.
    // The check hook refuses a misspelt engine at SET / ALTER SYSTEM time (22023), not at the first call.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"clip.engine",
            c"Runtime that executes the CLIP towers: tract (built in) or onnxruntime.",
            c"onnxruntime loads clip.onnxruntime_library in the backend on first use; both give the same \
              embeddings to within 1e-5, so switching engines leaves no row stale.",
            &ENGINE,
            GucContext::Suset,
            GucFlags::default(),
            Some(engine_check_hook),
            None,
            None,
        );
    }
    GucRegistry::define_string_guc(
        c"clip.onnxruntime_library",
        c"Absolute path of libonnxruntime.so for clip.engine = onnxruntime.",
        c"Loaded once per backend; a changed path takes effect in new sessions.",
        &ONNXRUNTIME_LIBRARY,
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

// ---------------------------------------------------------------------------------------------------------
// Resource limits are ceilings a superuser sets.
//
// Every role may SET them lower for its own session (a tenant that wants smaller thumbnails only), but the
// value the server was started or reloaded with (postgresql.conf, ALTER SYSTEM, the command line) is the
// most a non-superuser can get. The check hook learns that server value whenever a setting arrives from
// one of those sources, and refuses anything above it from a database, role, client, SET or function
// SET clause unless the current user is a superuser. PostgreSQL 15 cannot tell an ALTER ROLE ... SET made
// by a superuser from one a role made for itself (both are applied as the role's own setting at login),
// so per-role and per-database settings can only lower a limit too.

/// One limit's check hook: the server-wide value it has learnt, and what 0 means for it (clip.threads:
/// auto, i.e. up to the core cap; the other limits have a minimum of 1 and never see 0).
struct Limit {
    name: &'static str,
    server: AtomicI32,
    zero_means: fn() -> i32,
}

impl Limit {
    const fn new(name: &'static str, zero_means: fn() -> i32) -> Limit {
        Limit { name, server: AtomicI32::new(i32::MAX), zero_means }
    }

    fn effective(&self, v: i32) -> i32 {
        if v == 0 { (self.zero_means)() } else { v }
    }

    /// The check: server-wide sources set the ceiling, every other source must stay under it.
    unsafe fn check(&self, newval: i32, source: pg_sys::GucSource::Type) -> bool {
        use pg_sys::GucSource::*;
        if matches!(source, PGC_S_DEFAULT | PGC_S_DYNAMIC_DEFAULT | PGC_S_ENV_VAR | PGC_S_FILE | PGC_S_ARGV | PGC_S_GLOBAL) {
            self.server.store(newval, Ordering::Relaxed);
            return true;
        }
        // A parallel worker restores its leader's settings, which the leader's own check already passed.
        if unsafe { pg_sys::ParallelWorkerNumber } >= 0 {
            return true;
        }
        let ceiling = self.server.load(Ordering::Relaxed);
        if self.effective(newval) <= self.effective(ceiling) || unsafe { pg_sys::superuser() } {
            return true;
        }
        unsafe {
            pg_sys::GUC_check_errcode(pgrx::PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE as i32);
            let detail = CString::new(format!(
                "{} is a resource limit: a non-superuser may lower it below the server's setting ({ceiling}), \
                 not raise it.",
                self.name
            ))
            .unwrap_or_default();
            pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(detail.as_ptr());
        }
        false
    }
}

fn no_zero() -> i32 {
    1
}

fn auto_threads() -> i32 {
    crate::threads::max_threads() as i32
}

macro_rules! limit_hook {
    ($hook:ident, $limit:ident, $name:literal, $zero:expr) => {
        static $limit: Limit = Limit::new($name, $zero);
        #[pg_guard]
        unsafe extern "C-unwind" fn $hook(
            newval: *mut i32,
            _extra: *mut *mut std::ffi::c_void,
            source: pg_sys::GucSource::Type,
        ) -> bool {
            unsafe { $limit.check(*newval, source) }
        }
    };
}

limit_hook!(max_image_bytes_hook, MAX_IMAGE_BYTES_LIMIT, "clip.max_image_bytes", no_zero);
limit_hook!(max_image_pixels_hook, MAX_IMAGE_PIXELS_LIMIT, "clip.max_image_pixels", no_zero);
limit_hook!(max_batch_size_hook, MAX_BATCH_SIZE_LIMIT, "clip.max_batch_size", no_zero);
limit_hook!(threads_hook, THREADS_LIMIT, "clip.threads", auto_threads);
limit_hook!(max_text_bytes_hook, MAX_TEXT_BYTES_LIMIT, "clip.max_text_bytes", no_zero);
limit_hook!(http_connect_timeout_ms_hook, HTTP_CONNECT_TIMEOUT_MS_LIMIT, "clip.http_connect_timeout_ms", no_zero);
limit_hook!(http_timeout_ms_hook, HTTP_TIMEOUT_MS_LIMIT, "clip.http_timeout_ms", no_zero);
limit_hook!(http_max_bytes_hook, HTTP_MAX_BYTES_LIMIT, "clip.http_max_bytes", no_zero);
limit_hook!(http_max_redirects_hook, HTTP_MAX_REDIRECTS_LIMIT, "clip.http_max_redirects", no_zero);

type CheckHook = unsafe extern "C-unwind" fn(*mut i32, *mut *mut std::ffi::c_void, pg_sys::GucSource::Type) -> bool;

/// A USERSET integer GUC whose check hook makes it a ceiling (see above).
#[allow(clippy::too_many_arguments)]
fn define_limit(
    name: &'static CStr,
    short: &'static CStr,
    long: &'static CStr,
    setting: &'static GucSetting<i32>,
    min: i32,
    max: i32,
    flags: GucFlags,
    hook: CheckHook,
) {
    unsafe {
        GucRegistry::define_int_guc_with_hooks(
            name, short, long, setting, min, max, GucContext::Userset, flags, Some(hook), None, None,
        );
    }
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
            // Parsed by fetch: a bare host is case-insensitive, a URL prefix's path is not.
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect(),
    }
}

pub fn preload() -> bool {
    PRELOAD.get()
}

/// Resolved for one forward pass: `clip.threads`, or the idle cores right now when it is 0.
/// Never more than the cores this backend may run on (`threads::max_threads`), whoever set it.
pub fn threads() -> usize {
    match THREADS.get() {
        n if n >= 1 => (n as usize).min(crate::threads::max_threads()),
        _ => crate::threads::auto(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EngineName {
    Tract,
    Onnxruntime,
}

/// The one reading of a clip.engine value, shared by the check hook and `engine()`.
fn parse_engine(value: &str) -> Option<EngineName> {
    match value.trim().to_ascii_lowercase().as_str() {
        "tract" => Some(EngineName::Tract),
        "onnxruntime" => Some(EngineName::Onnxruntime),
        _ => None,
    }
}

const ENGINE_EXPECTED: &str = "expected tract or onnxruntime";

#[pg_guard]
unsafe extern "C-unwind" fn engine_check_hook(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // NULL is the boot value before the default is installed; the default itself is 'tract'.
    let value = unsafe { *newval };
    if value.is_null() {
        return true;
    }
    if parse_engine(&unsafe { CStr::from_ptr(value) }.to_string_lossy()).is_some() {
        return true;
    }
    unsafe {
        // GUC_check_errcode defaults to 22023 (invalid_parameter_value); the detail names the choices.
        let detail = CString::new(format!("clip.engine: {ENGINE_EXPECTED}.")).unwrap_or_default();
        pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(detail.as_ptr());
    }
    false
}

/// clip.engine, resolved for the model cache. ONNX Runtime's intra-op threads are fixed when its session
/// is built, so for it clip.threads = 0 means the core cap, not the cores idle at that instant; a changed
/// clip.threads rebuilds the session.
pub fn engine() -> Result<crate::model::Engine, crate::error::ClipError> {
    let value = string_setting(&ENGINE);
    match parse_engine(&value) {
        Some(EngineName::Tract) => Ok(crate::model::Engine::Tract),
        Some(EngineName::Onnxruntime) => Ok(crate::model::Engine::Onnxruntime {
            library: std::path::PathBuf::from(string_setting(&ONNXRUNTIME_LIBRARY)),
            threads: match THREADS.get() {
                n if n >= 1 => (n as usize).min(crate::threads::max_threads()),
                _ => crate::threads::max_threads().min(crate::threads::AUTO_MAX),
            },
        }),
        // Not reachable through SET or the configuration files (the check hook refuses such a value).
        None => Err(crate::error::ClipError::Setting(format!(
            "invalid value for clip.engine: \"{}\" ({ENGINE_EXPECTED})",
            value.trim()
        ))),
    }
}
