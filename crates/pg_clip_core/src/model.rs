//! Locating, verifying and loading the CLIP ONNX towers into optimised tract plans, once per backend.
//!
//! Both common export signatures are accepted: open_clip's (`image`/`text` -> `embedding`) and Hugging
//! Face's `CLIP{Vision,Text}ModelWithProjection` (`pixel_values`/`input_ids` -> `image_embeds`/`text_embeds`
//! plus `last_hidden_state`, which is pruned so it is never computed). Shapes are checked at load, so a
//! wrong file fails with one clear error instead of a shape panic deep in inference.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::clip::{CONTEXT_LENGTH, IMAGE_SIZE};

pub use crate::clip::EMBED_DIM;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tower {
    Image,
    Text,
}

impl Tower {
    pub fn guc(self) -> &'static str {
        match self {
            Tower::Image => "clip.image_model",
            Tower::Text => "clip.text_model",
        }
    }
    pub(crate) fn output_names(self) -> &'static [&'static str] {
        match self {
            Tower::Image => &["embedding", "image_embeds", "image_features"],
            Tower::Text => &["embedding", "text_embeds", "text_features"],
        }
    }
}

impl fmt::Display for Tower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tower::Image => "image",
            Tower::Text => "text",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    NotFound { tower: Tower, path: PathBuf },
    Unreadable { tower: Tower, path: PathBuf, reason: String },
    Invalid { tower: Tower, path: PathBuf, reason: String },
    /// clip.engine names a runtime this backend cannot start (ONNX Runtime's library missing or refused).
    Engine { tower: Tower, engine: &'static str, reason: String },
    /// The model is fine but this backend ran out of memory or threads building it (ONNX Runtime reports
    /// both as exceptions it caught): a retry with more room can succeed, unlike Invalid.
    Resources { tower: Tower, reason: String },
}

impl ModelError {
    pub fn hint(&self) -> String {
        let tower = match self {
            ModelError::NotFound { tower, .. }
            | ModelError::Unreadable { tower, .. }
            | ModelError::Invalid { tower, .. } => *tower,
            ModelError::Resources { .. } => {
                return "The backend's memory (or its address-space limit) or thread limit is exhausted: run fewer \
                        embedding sessions at once, raise the limit, or lower clip.threads."
                    .into()
            }
            ModelError::Engine { .. } => {
                return "Point clip.onnxruntime_library at libonnxruntime.so (scripts/onnxruntime-setup.sh installs \
                        the one from the onnxruntime wheel), or set clip.engine = tract."
                    .into()
            }
        };
        format!(
            "Export CLIP ViT-B/32 with `python3 models/export_clip.py --mode pretrained --out DIR`, install it with \
             `models/install.sh DIR`, or point {} at an ONNX file the server can read.",
            tower.guc()
        )
    }

    pub fn detail(&self) -> Option<String> {
        match self {
            ModelError::Invalid { reason, .. }
            | ModelError::Unreadable { reason, .. }
            | ModelError::Engine { reason, .. }
            | ModelError::Resources { reason, .. } => Some(reason.clone()),
            ModelError::NotFound { .. } => None,
        }
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::NotFound { tower, path } => {
                write!(f, "CLIP {tower} model \"{}\" does not exist ({})", path.display(), tower.guc())
            }
            ModelError::Unreadable { tower, path, .. } => {
                write!(f, "could not read CLIP {tower} model \"{}\"", path.display())
            }
            ModelError::Invalid { tower, path, .. } => {
                write!(f, "\"{}\" is not a usable CLIP ViT-B/32 {tower} model", path.display())
            }
            ModelError::Engine { tower, engine, .. } => {
                write!(f, "clip.engine = {engine} cannot run the CLIP {tower} model in this backend")
            }
            ModelError::Resources { tower, .. } => {
                write!(f, "not enough memory or threads to load the CLIP {tower} model")
            }
        }
    }
}

impl std::error::Error for ModelError {}

/// What a row's metadata records about the model that produced its embedding.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelIdentity {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    /// From the manifest `models/export_clip.py` writes beside the ONNX file, when present.
    pub name: Option<String>,
    pub pretrained: Option<String>,
    pub flavor: Option<String>,
}

/// Which runtime executes a tower (`clip.engine`). Both run the same ONNX file to within 1e-5, so the
/// engine is not part of a row's model identity: switching engines makes no row stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    /// tract, compiled in: the default.
    Tract,
    /// ONNX Runtime from the shared library at `library`, with `threads` intra-op threads per pass.
    Onnxruntime { library: PathBuf, threads: usize },
}

impl Engine {
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Tract => "tract",
            Engine::Onnxruntime { .. } => "onnxruntime",
        }
    }
}

pub enum Plan {
    Tract(Arc<TypedRunnableModel>),
    #[cfg(feature = "onnxruntime")]
    Onnxruntime(crate::onnxruntime::OrtModel),
}

pub struct Encoder {
    pub tower: Tower,
    pub plan: Plan,
    pub engine: Engine,
    pub identity: ModelIdentity,
    pub load_ms: f64,
}

/// Absolute paths are used as they are; relative ones are taken from the server's share directory.
pub fn resolve_path(setting: &str, share_dir: &Path) -> PathBuf {
    let p = Path::new(setting);
    if p.is_absolute() { p.to_path_buf() } else { share_dir.join(p) }
}

pub fn load(tower: Tower, path: &Path) -> Result<Encoder, ModelError> {
    load_with(tower, path, &Engine::Tract)
}

pub fn load_with(tower: Tower, path: &Path, engine: &Engine) -> Result<Encoder, ModelError> {
    let started = Instant::now();
    if let Ok(meta) = std::fs::metadata(path) {
        // ONNX Runtime also starts its intra-op threads (and pg_clip a helper per pass) for the session.
        let threads = match engine {
            Engine::Tract => 0,
            Engine::Onnxruntime { threads, .. } => threads + 1,
        };
        let reserve = crate::headroom::for_load(meta.len())
            .saturating_add(threads.saturating_mul(crate::headroom::THREAD_SPACE));
        crate::headroom::ensure(reserve).map_err(|bytes| ModelError::Resources {
            tower,
            reason: format!("cannot reserve {} MiB of address space to load \"{}\"", bytes >> 20, path.display()),
        })?;
    }
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::NotFound { tower, path: path.to_path_buf() },
        // fs::read reserves the file's size fallibly: a refusal is the backend's memory, not the file.
        std::io::ErrorKind::OutOfMemory => {
            ModelError::Resources { tower, reason: format!("reading \"{}\": {e}", path.display()) }
        }
        _ => ModelError::Unreadable { tower, path: path.to_path_buf(), reason: e.to_string() },
    })?;
    let invalid = |reason: String| ModelError::Invalid { tower, path: path.to_path_buf(), reason };
    let sha256 = hex(&Sha256::digest(&bytes));
    let plan = match engine {
        Engine::Tract => {
            let model = tract_onnx::onnx()
                .model_for_read(&mut &bytes[..])
                .map_err(|e| invalid(format!("ONNX parse failed: {e:#}")))?;
            drop(bytes);
            Plan::Tract(build_plan(tower, model).map_err(invalid)?)
        }
        #[cfg(feature = "onnxruntime")]
        Engine::Onnxruntime { library, threads } => {
            crate::onnxruntime::runtime(library)
                .map_err(|reason| ModelError::Engine { tower, engine: engine.name(), reason })?;
            Plan::Onnxruntime(crate::onnxruntime::load(tower, &bytes, library, *threads).map_err(|reason| {
                if crate::onnxruntime::out_of_resources(&reason) {
                    ModelError::Resources { tower, reason }
                } else {
                    invalid(reason)
                }
            })?)
        }
        #[cfg(not(feature = "onnxruntime"))]
        Engine::Onnxruntime { .. } => {
            return Err(ModelError::Engine {
                tower,
                engine: engine.name(),
                reason: "this pg_clip was built without the onnxruntime engine (cargo feature onnxruntime)".into(),
            });
        }
    };
    let (name, pretrained, flavor) = read_manifest(path);
    Ok(Encoder {
        tower,
        plan,
        engine: engine.clone(),
        identity: ModelIdentity {
            path: path.display().to_string(),
            sha256,
            bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            name,
            pretrained,
            flavor,
        },
        load_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

fn build_plan(tower: Tower, mut model: InferenceModel) -> Result<Arc<TypedRunnableModel>, String> {
    let inputs = model.input_outlets().map_err(|e| e.to_string())?.len();
    if inputs != 1 {
        return Err(format!("expected 1 input, the model has {inputs}"));
    }
    // Typed with a symbolic batch axis N, which every export's shape annotations agree with, then
    // specialised to N = 1 before optimisation. With N symbolic, tract 0.23 leaves the broadcasting
    // element-wise ops (layer-norm scale/shift, QuickGELU, residual adds) generic, ~15 ms per image at
    // ~1 GFLOP/s, and its matmuls lose efficiency as N grows. Concrete larger batches gain at most ~10%
    // per image on one thread and nothing on two, while every plan packs its own copy of the weights
    // (~335 MiB), so batches run as single-row passes instead (docs/benchmarks.md).
    let batch = model.symbols.sym("N");
    let fact = match tower {
        Tower::Image => {
            check_declared_input(&model, &[3, IMAGE_SIZE, IMAGE_SIZE])?;
            f32::fact([TDim::from(batch.clone()), 3.into(), IMAGE_SIZE.into(), IMAGE_SIZE.into()]).into()
        }
        Tower::Text => {
            check_declared_input(&model, &[CONTEXT_LENGTH])?;
            i64::fact([TDim::from(batch.clone()), CONTEXT_LENGTH.into()]).into()
        }
    };
    model.set_input_fact(0, fact).map_err(|e| e.to_string())?;
    let output = choose_output(tower, &model)?;
    model.select_output_outlets(&[output]).map_err(|e| e.to_string())?;
    let typed = model.into_typed().map_err(|e| format!("type analysis failed: {e:#}"))?;
    let out_fact = typed.output_fact(0).map_err(|e| e.to_string())?;
    let dims: Vec<TDim> = out_fact.shape.iter().cloned().collect();
    if dims.len() != 2 || dims[1] != TDim::from(EMBED_DIM as i64) || out_fact.datum_type != f32::datum_type() {
        return Err(format!("output must be float32 [N,{EMBED_DIM}], the model produces {out_fact:?}"));
    }
    let one_row = std::collections::HashMap::from([(batch, TDim::Val(1))]);
    typed
        .set_symbols(&one_row)
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| format!("optimisation failed: {e:#}"))
}

/// The declared input must be `[N, rest...]` where every concrete dimension matches.
fn check_declared_input(model: &InferenceModel, rest: &[usize]) -> Result<(), String> {
    let fact = model.input_fact(0).map_err(|e| e.to_string())?;
    let Some(shape) = fact.shape.concretize() else { return Ok(()) };
    let ok = shape.len() == rest.len() + 1
        && shape[1..].iter().zip(rest).all(|(d, want)| match d.to_i64() {
            Ok(v) => v == *want as i64,
            Err(_) => true,
        });
    if ok { Ok(()) } else { Err(format!("input must be [N,{rest:?}], the model declares {shape:?}")) }
}

fn choose_output(tower: Tower, model: &InferenceModel) -> Result<OutletId, String> {
    let outlets = model.output_outlets().map_err(|e| e.to_string())?.to_vec();
    if outlets.len() == 1 {
        return Ok(outlets[0]);
    }
    let label = |o: &OutletId| {
        model.outlet_label(*o).map(str::to_owned).unwrap_or_else(|| model.node(o.node).name.clone())
    };
    for want in tower.output_names() {
        if let Some(o) = outlets.iter().find(|o| label(o) == *want) {
            return Ok(*o);
        }
    }
    let names: Vec<String> = outlets.iter().map(label).collect();
    Err(format!("no embedding output among {names:?} (expected one of {:?})", tower.output_names()))
}

/// Name and pretrained tag come from the JSON manifest `export_clip.py` writes next to the model.
fn read_manifest(model_path: &Path) -> (Option<String>, Option<String>, Option<String>) {
    let (Some(dir), Some(file)) = (model_path.parent(), model_path.file_name()) else { return (None, None, None) };
    let Ok(entries) = std::fs::read_dir(dir) else { return (None, None, None) };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else { continue };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let names_this_file = ["image", "text"].iter().any(|t| {
            json.get(t).and_then(|t| t.get("file")).and_then(|f| f.as_str()).map(|f| {
                Path::new(f).file_name() == Some(file)
            }) == Some(true)
        });
        if names_this_file {
            let s = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            return (s("name"), s("pretrained"), s("flavor"));
        }
    }
    (None, None, None)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A loaded model is reused while its file is unchanged; a failed load is not cached, so fixing the
/// file or the setting takes effect on the next call.
#[derive(Clone, PartialEq)]
struct CacheKey {
    engine: Engine,
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

/// Models loaded in the postmaster (`clip.preload`); forked backends share these pages copy-on-write.
static PRELOADED: std::sync::Mutex<Vec<(Tower, CacheKey, Arc<Encoder>)>> = std::sync::Mutex::new(Vec::new());

thread_local! {
    static CACHE: RefCell<Vec<(Tower, CacheKey, Arc<Encoder>)>> = const { RefCell::new(Vec::new()) };
}

fn cache_key(tower: Tower, path: &Path, engine: &Engine) -> Result<CacheKey, ModelError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::NotFound { tower, path: path.to_path_buf() },
        _ => ModelError::Unreadable { tower, path: path.to_path_buf(), reason: e.to_string() },
    })?;
    Ok(CacheKey { engine: engine.clone(), path: path.to_path_buf(), len: meta.len(), modified: meta.modified().ok() })
}

/// Loads a tower into the process-wide preload slot (called in the postmaster before backends fork).
/// Always with tract: ONNX Runtime's session owns threads, and no thread survives fork().
pub fn preload(tower: Tower, path: &Path) -> Result<f64, ModelError> {
    let key = cache_key(tower, path, &Engine::Tract)?;
    let encoder = Arc::new(load(tower, path)?);
    let ms = encoder.load_ms;
    if let Ok(mut p) = PRELOADED.lock() {
        p.retain(|(t, _, _)| *t != tower);
        p.push((tower, key, encoder));
    }
    Ok(ms)
}

pub fn cached(tower: Tower, path: &Path, engine: &Engine) -> Result<Arc<Encoder>, ModelError> {
    let key = cache_key(tower, path, engine)?;
    let preloaded = PRELOADED.lock().ok().and_then(|p| {
        p.iter().find(|(t, k, _)| *t == tower && *k == key).map(|(_, _, e)| e.clone())
    });
    if let Some(hit) = preloaded {
        return Ok(hit);
    }
    if let Some(hit) = CACHE.with(|c| {
        c.borrow().iter().find(|(t, k, _)| *t == tower && *k == key).map(|(_, _, e)| e.clone())
    }) {
        return Ok(hit);
    }
    // One model per tower: drop the old plan (and, for ONNX Runtime, its threads) before building the
    // new one, so two copies of the weights never coexist in this backend.
    CACHE.with(|c| c.borrow_mut().retain(|(t, _, _)| *t != tower));
    let encoder = Arc::new(load_with(tower, path, engine)?);
    CACHE.with(|c| c.borrow_mut().push((tower, key, encoder.clone())));
    Ok(encoder)
}

/// Models currently usable by this backend (preloaded or loaded here), for clip_model_info().
pub fn loaded() -> Vec<Loaded> {
    let describe = |t: &Tower, e: &Arc<Encoder>, preloaded| Loaded {
        tower: *t,
        identity: e.identity.clone(),
        load_ms: e.load_ms,
        preloaded,
        engine: e.engine.clone(),
    };
    let mut out: Vec<_> =
        PRELOADED.lock().map(|p| p.iter().map(|(t, _, e)| describe(t, e, true)).collect()).unwrap_or_default();
    CACHE.with(|c| out.extend(c.borrow().iter().map(|(t, _, e)| describe(t, e, false))));
    out
}

pub struct Loaded {
    pub tower: Tower,
    pub identity: ModelIdentity,
    pub load_ms: f64,
    pub preloaded: bool,
    pub engine: Engine,
}
