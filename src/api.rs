//! The SQL surface: every `#[pg_extern]` of pg_clip lives here. Each function is the straight line
//! limits -> decode/preprocess -> infer -> normalise -> vector datum; failures leave through
//! `error::ClipError`, so every one carries a SQLSTATE.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use pgrx::prelude::*;
use pgrx::JsonB;

use crate::error::{ClipError, OrReport};
use crate::inference::{self, InferenceError, Input, Row, Stop};
use crate::model::{self, Encoder, Tower};
use crate::preprocess::{self, PreprocessError};
use crate::settings;
use crate::tokenizer::{self, CONTEXT_LENGTH};
use crate::vector::Vector;

/// Embeds one encoded image (JPEG, PNG, WebP, GIF, BMP) into a unit-length CLIP vector.
#[pg_extern(stable, strict, parallel_safe, cost = 1000000)]
fn clip_embed_image(image: &[u8]) -> Vector {
    let mut out = embed_images(&[Some(image)], false).or_report();
    Vector(out.pop().flatten().unwrap_or_default())
}

/// Embeds many images in batched forward passes; order is preserved and a NULL element gives NULL.
#[pg_extern(stable, strict, parallel_safe, cost = 1000000)]
fn clip_embed_images(images: Array<&[u8]>) -> Vec<Option<Vector>> {
    let items: Vec<Option<&[u8]>> = images.iter().collect();
    embed_images(&items, true).or_report().into_iter().map(|v| v.map(Vector)).collect()
}

/// Like clip_embed_images, but a bad element comes back as a row with its error instead of failing the
/// call: what a backfill needs so one bad thumbnail cannot sink its batch. A missing or broken model
/// still raises, so a misconfiguration fails fast instead of marking every row failed.
#[pg_extern(stable, strict, parallel_safe, cost = 1000000)]
fn clip_try_embed_images(
    images: Array<&[u8]>,
) -> TableIterator<
    'static,
    (
        name!(ord, i32),
        name!(embedding, Option<Vector>),
        name!(error_sqlstate, Option<String>),
        name!(error_message, Option<String>),
    ),
> {
    let items: Vec<Option<&[u8]>> = images.iter().collect();
    let rows = try_embed_images(&items).or_report();
    TableIterator::new(rows.into_iter().enumerate().map(|(i, r)| match r {
        Ok(v) => ((i + 1) as i32, v.map(Vector), None, None),
        Err(e) => ((i + 1) as i32, None, Some(crate::error::sqlstate_text(e.sqlstate())), Some(e.message())),
    }))
}

/// One embedding for a multi-frame scene: all frames in one batch, then the L2-normalised mean of
/// their unit embeddings (mean pooling; NULL frames are skipped, all-NULL gives NULL).
#[pg_extern(stable, strict, parallel_safe, cost = 1000000)]
fn clip_embed_frames(frames: Array<&[u8]>) -> Option<Vector> {
    let items: Vec<Option<&[u8]>> = frames.iter().collect();
    let rows: Vec<Vec<f32>> = embed_images(&items, true).or_report().into_iter().flatten().collect();
    if rows.is_empty() {
        return None;
    }
    match inference::mean_pool(&rows) {
        Some(v) => Some(Vector(v)),
        None => ClipError::Inference("the frames' embeddings cancel out; no mean direction".into()).report(),
    }
}

/// Loads the configured image model (raising if it is missing) and returns what rows record about it.
#[pg_extern(stable, parallel_safe)]
fn clip_image_model_identity() -> JsonB {
    let enc = encoder(Tower::Image).or_report();
    let id = &enc.identity;
    JsonB(serde_json::json!({
        "name": id.name,
        "pretrained": id.pretrained,
        "flavor": id.flavor,
        "sha256": id.sha256,
        "path": id.path,
        "preprocess_version": preprocess::PREPROCESS_VERSION,
    }))
}

/// Fetches an image from an http(s) URL under the clip.http_* limits; internal addresses are refused
/// unless allowlisted. Cancel and statement_timeout interrupt a slow download.
#[pg_extern(volatile, strict, parallel_safe)]
fn clip_fetch_url(url: &str) -> Vec<u8> {
    fetch_or_report(url).body
}

/// clip_fetch_url with the response's ETag and Last-Modified (NULL when absent, repeated, not visible
/// ASCII or longer than 256 bytes): what a URL backfill records beside the body's sha256. One row.
/// Executable by PUBLIC, but refuses (42501) a caller who may not execute clip_fetch_url(text): one
/// GRANT governs both, so the DBA's decision of who may make the server fetch URLs is made once.
#[pg_extern(volatile, strict, parallel_safe)]
fn clip_fetch_url_with_validators(
    url: &str,
) -> TableIterator<'static, (name!(body, Vec<u8>), name!(etag, Option<String>), name!(last_modified, Option<String>))> {
    // The extension's own clip_fetch_url, wherever the extension's schema is and whatever search_path says.
    let allowed = Spi::get_one::<bool>(
        "SELECT pg_catalog.has_function_privilege(p.oid, 'EXECUTE')
           FROM pg_catalog.pg_proc p
           JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
                                      AND d.deptype = 'e'
           JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_clip'
          WHERE p.proname = 'clip_fetch_url' AND p.proargtypes = '25'::pg_catalog.oidvector",
    );
    if !matches!(allowed, Ok(Some(true))) {
        ClipError::NotPermitted(
            "permission denied for function clip_fetch_url_with_validators: the current role may not execute clip_fetch_url(text)"
                .into(),
        )
        .report();
    }
    let f = fetch_or_report(url);
    TableIterator::once((f.body, f.etag, f.last_modified))
}

fn fetch_or_report(url: &str) -> crate::fetch::Fetched {
    let policy = settings::fetch_policy();
    match crate::fetch::fetch_with_validators(url, &policy, &stop_requested) {
        Ok(fetched) => fetched,
        Err(crate::fetch::FetchError::Interrupted) => {
            pgrx::check_for_interrupts!();
            ClipError::Fetch(crate::fetch::FetchError::Interrupted).report()
        }
        Err(e) => {
            if let crate::fetch::FetchError::Refused { host, addr } = &e {
                debug1!("pg_clip: {host} refused: it resolved to {addr}");
            }
            ClipError::Fetch(e).report()
        }
    }
}

/// The tokenizer's checkpoint: services interrupts (raising on cancel) when called on the backend's own
/// thread, the only one that may touch Postgres; tokenizing never runs elsewhere today, and if it ever
/// did it would simply not be interruptible there.
pub(crate) fn text_checkpoint() {
    if is_backend_thread() {
        pgrx::check_for_interrupts!();
    }
}

fn is_backend_thread() -> bool {
    // The process's main thread: the one _PG_init ran on (in the postmaster, inherited by fork).
    static MAIN: std::sync::OnceLock<std::thread::ThreadId> = std::sync::OnceLock::new();
    *MAIN.get_or_init(|| std::thread::current().id()) == std::thread::current().id()
}

pub(crate) fn init_backend_thread() {
    is_backend_thread();
    // Idle workers are released: the pool lives for one transaction at most (see threads::release).
    unsafe { pg_sys::RegisterXactCallback(Some(at_transaction_end), std::ptr::null_mut()) };
}

#[pg_guard]
unsafe extern "C-unwind" fn at_transaction_end(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    // Every inference call has returned by now (a forward pass runs inside its statement), so no job
    // is on the workers when they are dropped.
    if matches!(
        event,
        pg_sys::XactEvent::XACT_EVENT_COMMIT
            | pg_sys::XactEvent::XACT_EVENT_ABORT
            | pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT
            | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
            | pg_sys::XactEvent::XACT_EVENT_PREPARE
    ) {
        crate::threads::release();
    }
}

/// A query cancel (statement_timeout included) or a termination is pending: the only interrupts that
/// stop pg_clip's work. Safe on any thread: plain loads of sig_atomic_t flags that only the backend's
/// signal handlers write, no call into PostgreSQL.
fn cancel_or_termination_pending() -> bool {
    // SAFETY: see above; volatile so that a loop re-reads what a signal handler wrote.
    unsafe {
        std::ptr::read_volatile(&raw const pg_sys::QueryCancelPending) != 0
            || std::ptr::read_volatile(&raw const pg_sys::ProcDiePending) != 0
    }
}

/// The interrupt probe of work that cannot raise in the middle (a fetch inside its runtime): true only
/// for a query cancel (statement_timeout included) or a termination, which end the work. Any other
/// pending interrupt (a memory-context dump request, a barrier from DROP DATABASE elsewhere, a
/// config reload) is processed right here, with cancel held off so that it cannot raise, and the work
/// goes on, as it would around CHECK_FOR_INTERRUPTS().
pub(crate) fn stop_requested() -> bool {
    unsafe {
        if cancel_or_termination_pending() {
            return true;
        }
        if pg_sys::InterruptPending != 0 {
            pg_sys::QueryCancelHoldoffCount += 1;
            pgrx::check_for_interrupts!();
            pg_sys::QueryCancelHoldoffCount -= 1;
            return cancel_or_termination_pending();
        }
        false
    }
}

/// Embeds one text with the CLIP text tower.
#[pg_extern(stable, strict, parallel_safe, cost = 500000)]
fn clip_embed_text(text: &str) -> Vector {
    let mut out = embed_texts(&[Some(text)]).or_report();
    Vector(out.pop().flatten().unwrap_or_default())
}

/// Embeds many texts in batched forward passes; order is preserved and a NULL element gives NULL.
#[pg_extern(stable, strict, parallel_safe, cost = 500000)]
fn clip_embed_texts(texts: Array<&str>) -> Vec<Option<Vector>> {
    let items: Vec<Option<&str>> = texts.iter().collect();
    embed_texts(&items).or_report().into_iter().map(|v| v.map(Vector)).collect()
}

/// CLIP token ids for a text, exactly as open_clip's tokenizer produces them (77 ids, zero padded).
#[pg_extern(immutable, strict, parallel_safe)]
fn clip_tokenize(text: &str) -> Vec<i64> {
    check_text(text).or_report();
    tokenizer::global().tokenize(text).to_vec()
}

fn check_text(text: &str) -> Result<(), ClipError> {
    let limit = settings::max_text_bytes();
    if text.len() > limit { Err(ClipError::TextTooLong { bytes: text.len(), limit }) } else { Ok(()) }
}

/// The configured model paths and, for towers this backend has loaded, their identity.
#[pg_extern(stable, parallel_safe)]
fn clip_model_info() -> JsonB {
    let loaded = model::loaded();
    let tower_info = |tower: Tower, setting: String| {
        let path = model::resolve_path(&setting, &share_dir());
        let held = loaded.iter().find(|l| l.tower == tower && l.identity.path == path.display().to_string());
        serde_json::json!({
            "setting": setting,
            "path": path.display().to_string(),
            "exists": path.is_file(),
            "loaded": held.is_some(),
            "preloaded": held.map(|l| l.preloaded),
            "load_ms": held.map(|l| l.load_ms),
            "identity": held.map(|l| &l.identity),
            "engine": held.map(|l| l.engine.name()),
            "engine_threads": held.and_then(|l| match &l.engine {
                model::Engine::Onnxruntime { threads, .. } => Some(*threads),
                model::Engine::Tract => None,
            }),
        })
    };
    JsonB(serde_json::json!({
        "image": tower_info(Tower::Image, settings::image_model_path()),
        "text": tower_info(Tower::Text, settings::text_model_path()),
        "preprocess_version": preprocess::PREPROCESS_VERSION,
        "embedding_dim": model::EMBED_DIM,
        "engine": settings::engine().map(|e| e.name()).unwrap_or("invalid"),
        "onnxruntime_built_in": cfg!(feature = "onnxruntime"),
    }))
}

pub(crate) fn share_dir() -> PathBuf {
    let mut buf = [0 as std::ffi::c_char; pg_sys::MAXPGPATH as usize];
    unsafe {
        pg_sys::get_share_path(std::ptr::addr_of!(pg_sys::my_exec_path) as *const _, buf.as_mut_ptr());
        PathBuf::from(std::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
    }
}

/// Called from _PG_init in the postmaster when clip.preload is on. A failure is logged, never fatal:
/// the server must start even when a model file is missing, and backends then load lazily.
pub fn preload_models() {
    for (tower, setting) in [(Tower::Image, settings::image_model_path()), (Tower::Text, settings::text_model_path())] {
        let path = model::resolve_path(&setting, &share_dir());
        match model::preload(tower, &path) {
            Ok(ms) => {
                pgrx::log!("pg_clip: preloaded {tower} model {} in {ms:.0} ms", path.display());
                warm_up(tower, &path);
            }
            Err(e) => pgrx::warning!("pg_clip: could not preload {tower} model: {e}"),
        }
    }
    let pages = crate::hugepages::collapse_anonymous_memory();
    let mib = |b: usize| b >> 20;
    match pages.error {
        None => pgrx::log!("pg_clip: {} MiB of preloaded memory on 2 MiB pages", mib(pages.collapsed)),
        Some(errno) => pgrx::log!(
            "pg_clip: {} of {} MiB of preloaded memory on 2 MiB pages (the kernel refused the rest: {})",
            mib(pages.collapsed),
            mib(pages.eligible),
            std::io::Error::from_raw_os_error(errno)
        ),
    }
}

/// One forward pass in the postmaster, single-threaded (no thread may exist across fork), so that the
/// lazy one-time set-up of the first pass (kernel selection, the plan's first allocations) is done
/// before backends fork rather than in every new backend's first call.
fn warm_up(tower: Tower, path: &std::path::Path) {
    let Ok(encoder) = model::cached(tower, path, &model::Engine::Tract) else { return };
    let started = Instant::now();
    let prepare = |_| {
        Ok::<_, ()>(match tower {
            Tower::Image => Input::Pixels(vec![0.0; preprocess::TENSOR_LEN]),
            Tower::Text => Input::Tokens(tokenizer::global().tokenize("").to_vec()),
        })
    };
    match inference::embed_rows(&encoder, 1, 1, true, &mut || Ok(()), &prepare) {
        Ok(_) => pgrx::log!("pg_clip: warmed up the {tower} model in {:.0} ms", started.elapsed().as_secs_f64() * 1e3),
        Err(e) => pgrx::warning!("pg_clip: warm-up pass of the {tower} model failed: {e}"),
    }
}

pub fn encoder(tower: Tower) -> Result<Arc<Encoder>, ClipError> {
    let setting = match tower {
        Tower::Image => settings::image_model_path(),
        Tower::Text => settings::text_model_path(),
    };
    let loaded = model::cached(tower, &model::resolve_path(&setting, &share_dir()), &settings::engine()?);
    log_onnxruntime();
    Ok(loaded?)
}

/// What ONNX Runtime logged (from any of its threads) since the last call, written to the server log from
/// the backend's own thread at DEBUG1: its errors also come back as the status pg_clip raises as the
/// ERROR, and its warnings are chatter every backend would repeat on its first use (device discovery).
fn log_onnxruntime() {
    #[cfg(feature = "onnxruntime")]
    for (level, message) in pg_clip_core::onnxruntime::take_log() {
        pgrx::debug1!("pg_clip: ONNX Runtime ({level:?}): {message}");
    }
}

/// Per-call deadline from clip.timeout_ms; statement_timeout and cancel arrive as interrupts.
struct Deadline {
    started: Instant,
    limit: Option<std::time::Duration>,
}

impl Deadline {
    fn start() -> Self {
        Deadline { started: Instant::now(), limit: settings::timeout() }
    }

    /// Services pending interrupts (raising query_canceled on cancel or statement_timeout) and checks
    /// the per-call limit.
    fn check(&self) -> Result<(), ClipError> {
        pgrx::check_for_interrupts!();
        match self.limit {
            Some(limit) if self.started.elapsed() > limit => Err(ClipError::Timeout { limit_ms: limit.as_millis() }),
            _ => Ok(()),
        }
    }

    /// What the decoders ask between blocks of work, on whatever thread they run: a query cancel
    /// (statement_timeout included) or a termination is pending, or clip.timeout_ms has passed. It only
    /// reads flags the backend's signal handlers set, never calls into PostgreSQL, and ignores every
    /// other interrupt, so only a real cancel stops an image.
    fn stop_probe(&self) -> impl Fn() -> bool + Sync {
        let (started, limit) = (self.started, self.limit);
        move || cancel_or_termination_pending() || limit.is_some_and(|l| started.elapsed() > l)
    }

    fn checkpoint(&self) -> impl FnMut() -> Result<(), Stop> + '_ {
        move || self.check().map_err(|_| Stop)
    }

    fn inference_error(&self, e: InferenceError) -> ClipError {
        match e {
            InferenceError::Stopped => {
                ClipError::Timeout { limit_ms: self.limit.map(|l| l.as_millis()).unwrap_or_default() }
            }
            InferenceError::OutOfMemory(m) => ClipError::OutOfMemory(m),
            InferenceError::NoThread(m) => ClipError::NoThread(m),
            other => ClipError::Inference(other.to_string()),
        }
    }
}

/// `numbered` names the 1-based array position in errors (batch calls). The first bad image (by index)
/// fails the call.
pub fn embed_images(items: &[Option<&[u8]>], numbered: bool) -> Result<Vec<Option<Vec<f32>>>, ClipError> {
    let mut rows = embed_present_images(items, true)?;
    if let Some(k) = rows.iter().position(|(_, r)| matches!(r, Row::Rejected(_))) {
        if let (i, Row::Rejected(source)) = rows.swap_remove(k) {
            return Err(ClipError::Image { index: numbered.then_some(i + 1), source });
        }
    }
    let mut out: Vec<Option<Vec<f32>>> = vec![None; items.len()];
    for (i, row) in rows {
        out[i] = Some(embedded(row)?);
    }
    Ok(out)
}

/// Per-element results: preprocessing failures are returned, inference and model failures raised.
pub fn try_embed_images(items: &[Option<&[u8]>]) -> Result<Vec<Result<Option<Vec<f32>>, ClipError>>, ClipError> {
    let mut out: Vec<Result<Option<Vec<f32>>, ClipError>> = items.iter().map(|_| Ok(None)).collect();
    for (i, row) in embed_present_images(items, false)? {
        out[i] = match row {
            Row::Rejected(source) => Err(ClipError::Image { index: Some(i + 1), source }),
            row => Ok(Some(embedded(row)?)),
        };
    }
    Ok(out)
}

/// Decodes and embeds the non-NULL items, `clip.max_batch_size` per round, spread over clip.threads
/// threads; returns (array index, outcome) in array order. With `fail_fast` no round starts after one
/// that rejected an image.
fn embed_present_images(items: &[Option<&[u8]>], fail_fast: bool) -> Result<Vec<(usize, Row<PreprocessError>)>, ClipError> {
    let deadline = Deadline::start();
    // The model is loaded before any decoding so a missing model fails once, up front.
    let encoder = encoder(Tower::Image)?;
    let limits = settings::image_limits();
    let present: Vec<usize> = (0..items.len()).filter(|&i| items[i].is_some()).collect();
    let mut rows = Vec::with_capacity(present.len());
    let stop = deadline.stop_probe();
    for chunk in present.chunks(settings::max_batch_size()) {
        let prepare = |k: usize| preprocess_row(items[chunk[k]].unwrap_or_default(), &limits, &stop);
        let round = inference::embed_rows(&encoder, chunk.len(), settings::threads(), fail_fast, &mut deadline.checkpoint(), &prepare);
        log_onnxruntime();
        let round = round.map_err(|e| deadline.inference_error(e))?;
        // An image stopped in the middle of its decoding or resize is no rejection of that image: the
        // cancel or timeout that stopped it ends the call (check raises it), whatever the caller asked.
        if round.iter().any(|r| matches!(r, Row::Rejected(PreprocessError::Stopped))) {
            deadline.check()?;
            return Err(ClipError::Internal("preprocessing stopped without a pending cancel or timeout".into()));
        }
        let rejected = round.iter().any(|r| matches!(r, Row::Rejected(_)));
        rows.extend(chunk.iter().copied().zip(round));
        if fail_fast && rejected {
            break;
        }
    }
    Ok(rows)
}

/// Runs on worker threads: pure Rust, no PostgreSQL calls.
fn preprocess_row(bytes: &[u8], limits: &preprocess::Limits, stop: preprocess::StopProbe) -> Result<Input, PreprocessError> {
    preprocess::preprocess_stoppable(bytes, limits, stop).map(Input::Pixels)
}

fn embedded<E>(row: Row<E>) -> Result<Vec<f32>, ClipError> {
    match row {
        Row::Embedded(v) => Ok(v),
        // Only a rejection ends a call early without an error, and rejections are handled first.
        Row::Rejected(_) | Row::Skipped => Err(ClipError::Inference("a row was not embedded".into())),
    }
}

pub fn embed_texts(items: &[Option<&str>]) -> Result<Vec<Option<Vec<f32>>>, ClipError> {
    let deadline = Deadline::start();
    let encoder = encoder(Tower::Text)?;
    let tok = tokenizer::global();
    let present: Vec<usize> = (0..items.len()).filter(|&i| items[i].is_some()).collect();
    let mut out: Vec<Option<Vec<f32>>> = vec![None; items.len()];
    for chunk in present.chunks(settings::max_batch_size()) {
        let mut ids = Vec::with_capacity(chunk.len() * CONTEXT_LENGTH);
        for &i in chunk {
            deadline.check()?;
            let text = items[i].unwrap_or_default();
            check_text(text)?;
            ids.extend_from_slice(&tok.tokenize(text));
        }
        let rows = inference::embed_tokens(&encoder, &ids, settings::threads(), &mut deadline.checkpoint());
        log_onnxruntime();
        let rows = rows.map_err(|e| deadline.inference_error(e))?;
        for (&i, row) in chunk.iter().zip(rows) {
            out[i] = Some(row);
        }
    }
    Ok(out)
}

// Hand-written SQL that ships in the same versioned install script as the functions above.
pgrx::extension_sql_file!("../sql/scene_schema.sql", name = "scene_schema", requires = [clip_embed_text]);
pgrx::extension_sql_file!("../sql/search.sql", name = "scene_search", requires = ["scene_schema", clip_embed_text]);
pgrx::extension_sql_file!(
    "../sql/backfill.sql",
    name = "backfill",
    // scene_schema: clip_backfill_sources has a foreign key to its registry clip_scene_tables, the view
    // clip_backfill_source_config joins the two, and the policies call clip_owns_table / clip_registry_orphan.
    requires = ["scene_schema", clip_try_embed_images, clip_embed_frames, clip_fetch_url, clip_fetch_url_with_validators, clip_image_model_identity]
);
// After the backfill: a distributed table's batch and status go to its shards (clip_backfill_dispatch).
pgrx::extension_sql_file!("../sql/citus.sql", name = "citus", requires = ["backfill"]);
// Last, after every Rust function too: it pins search paths and comments on every object.
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);
