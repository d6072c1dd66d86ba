//! The optional second engine: ONNX Runtime, loaded at run time from a `libonnxruntime.so` the DBA names
//! (`clip.onnxruntime_library`; the onnxruntime PyPI wheel ships one). Nothing is downloaded or linked at
//! build time, and a server whose DBA never selects this engine never maps the library.
//!
//! It keeps tract's guarantees:
//! - cancel: the pass runs on a helper thread while the backend's thread keeps servicing interrupts and
//!   the per-call deadline; a stop sets the run's terminate flag, which ONNX Runtime checks between
//!   operators, and the call returns only once the helper has left the pass;
//! - threads: ONNX Runtime's intra-op workers and the helper are created through [`crate::threads`] with
//!   every signal blocked, so Postgres' handlers keep running on the backend's own thread; no worker
//!   spins while the backend is idle;
//! - errors: a refused model is a [`ModelError::Invalid`], a failed pass an [`InferenceError::Failed`], as
//!   with tract; the caller cannot tell the engines apart except by speed and clip_model_info().

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use ort::environment::{Environment, ThreadManager};
pub use ort::logging::LogLevel;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};
use ort::value::{Tensor, TensorElementType, ValueType};

use crate::clip::{CONTEXT_LENGTH, EMBED_DIM, IMAGE_SIZE};
use crate::inference::{Checkpoint, InferenceError};
use crate::model::Tower;

/// The library is mapped once per process: ONNX Runtime cannot be unloaded, and a second copy of it in
/// the same process would have its own global state. The first path that loads wins; another path is
/// refused until the backend restarts.
static RUNTIME: OnceLock<Result<(PathBuf, Environment), String>> = OnceLock::new();

/// Loads (once) and checks the runtime; its errors are about the library, not about a model.
pub fn runtime(library: &Path) -> Result<(), String> {
    environment(library).map(|_| ())
}

fn environment(library: &Path) -> Result<&'static Environment, String> {
    let loaded = RUNTIME.get_or_init(|| {
        if library.as_os_str().is_empty() {
            return Err("clip.onnxruntime_library is not set".into());
        }
        if !library.is_absolute() {
            return Err(format!("clip.onnxruntime_library must be an absolute path, not \"{}\"", library.display()));
        }
        if !library.is_file() {
            return Err(format!("ONNX Runtime library \"{}\" does not exist", library.display()));
        }
        // Its own logger would write coloured lines to the server's stderr behind elog's back, from any
        // thread; ours queues them for the backend's thread to log (take_log).
        ort::init_from(library)
            .map_err(|e| format!("could not load ONNX Runtime from \"{}\": {e}", library.display()))?
            .with_name("pg_clip")
            .with_telemetry(false)
            .with_logger(std::sync::Arc::new(queue_log))
            .build()
            .map(|env| {
                // A custom logger starts the environment at VERBOSE; only warnings and errors are wanted.
                env.set_log_level(LogLevel::Warning);
                (library.to_path_buf(), env)
            })
            .map_err(|e| format!("could not start ONNX Runtime: {e}"))
    });
    match loaded {
        Ok((path, env)) if path == library => Ok(env),
        Ok((path, _)) => Err(format!(
            "this backend already loaded ONNX Runtime from \"{}\"; a changed clip.onnxruntime_library takes \
             effect in new sessions",
            path.display()
        )),
        Err(e) => Err(e.clone()),
    }
}

/// Messages ONNX Runtime logged since the backend last asked, oldest first, at most LOG_CAPACITY (the
/// rest are counted in the last entry). Errors among them also come back to the caller as the failed
/// call's status; warnings (a graph it could not fully optimise, say) only arrive this way.
pub fn take_log() -> Vec<(LogLevel, String)> {
    let mut q = LOG.lock().unwrap_or_else(|p| p.into_inner());
    let mut out: Vec<(LogLevel, String)> = q.messages.drain(..).collect();
    if q.dropped > 0 {
        out.push((LogLevel::Warning, format!("{} more ONNX Runtime messages were dropped", q.dropped)));
        q.dropped = 0;
    }
    out
}

const LOG_CAPACITY: usize = 32;
const LOG_MESSAGE_BYTES: usize = 1024;

struct LogQueue {
    messages: Vec<(LogLevel, String)>,
    dropped: usize,
}

static LOG: Mutex<LogQueue> = Mutex::new(LogQueue { messages: Vec::new(), dropped: 0 });

/// ONNX Runtime's logging callback: any thread, possibly while memory is short (it logs a failed
/// allocation before returning it as a status), so it never calls into Postgres, never panics, and
/// allocates only fallibly: a message that cannot be stored is counted instead.
fn queue_log(level: LogLevel, _category: &str, _id: &str, location: &str, message: &str) {
    let Ok(mut q) = LOG.try_lock() else { return };
    let text = message.get(..message.floor_char_boundary(LOG_MESSAGE_BYTES)).unwrap_or("");
    let mut s = String::new();
    let stored = q.messages.len() < LOG_CAPACITY
        && q.messages.try_reserve(1).is_ok()
        && s.try_reserve(text.len() + location.len().min(200) + 3).is_ok();
    if !stored {
        q.dropped = q.dropped.saturating_add(1);
        return;
    }
    s.push_str(text);
    s.push_str(" (");
    s.push_str(location.get(..location.floor_char_boundary(200)).unwrap_or(""));
    s.push(')');
    q.messages.push((level, s));
}

/// ONNX Runtime's intra-op workers, created the way the rest of pg_clip creates threads.
struct SignalBlockedThreads;

impl ThreadManager for SignalBlockedThreads {
    type Thread = std::thread::JoinHandle<()>;

    fn create(&self, work: impl FnOnce() + Send + 'static) -> ort::Result<Self::Thread> {
        crate::threads::spawn_joinable_signal_blocked("pg_clip-ort", work)
            .map_err(|e| ort::Error::new(format!("could not create an ONNX Runtime thread: {e}")))
    }

    fn join(thread: Self::Thread) -> ort::Result<()> {
        thread.join().map_err(|_| ort::Error::new("an ONNX Runtime thread panicked"))
    }
}

/// One tower's session. `run` needs exclusive access; a backend runs one pass at a time anyway.
pub struct OrtModel {
    session: Mutex<Session>,
    output: String,
    pub threads: usize,
    pub library: PathBuf,
}

/// Builds a session from the model's bytes, with `threads` intra-op threads (the backend's thread that
/// runs a pass is one of them), and checks the towers' signature as tract's loader does.
pub fn load(tower: Tower, bytes: &[u8], library: &Path, threads: usize) -> Result<OrtModel, String> {
    let env = environment(library)?;
    let threads = threads.max(1);
    let fail = |e: ort::Error<_>| e.to_string();
    let session = Session::builder(env)
        .map_err(|e| e.to_string())?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(fail)?
        .with_independent_thread_pool()
        .map_err(fail)?
        .with_intra_threads(threads)
        .map_err(fail)?
        .with_inter_threads(1)
        .map_err(fail)?
        .with_thread_manager(SignalBlockedThreads)
        .map_err(fail)?
        // Workers that spin after a pass would burn a core the server needs for other queries.
        .with_config_entry("session.intra_op.allow_spinning", "0")
        .map_err(fail)?
        .with_config_entry("session.inter_op.allow_spinning", "0")
        .map_err(fail)?
        .commit_from_memory(bytes)
        .map_err(|e| format!("ONNX Runtime refused the model: {e}"))?;

    if session.inputs().len() != 1 {
        return Err(format!("expected 1 input, the model has {}", session.inputs().len()));
    }
    let (want_ty, rest): (TensorElementType, &[usize]) = match tower {
        Tower::Image => (TensorElementType::Float32, &[3, IMAGE_SIZE, IMAGE_SIZE]),
        Tower::Text => (TensorElementType::Int64, &[CONTEXT_LENGTH]),
    };
    check_outlet("input", session.inputs()[0].dtype(), want_ty, rest)?;
    let names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let output = if names.len() == 1 {
        names[0]
    } else {
        *tower
            .output_names()
            .iter()
            .find(|want| names.contains(want))
            .ok_or_else(|| format!("no embedding output among {names:?} (expected one of {:?})", tower.output_names()))?
    }
    .to_owned();
    let out = session.outputs().iter().find(|o| o.name() == output).map(|o| o.dtype().clone());
    check_outlet("output", &out.ok_or("output vanished")?, TensorElementType::Float32, &[EMBED_DIM])?;
    Ok(OrtModel { session: Mutex::new(session), output, threads, library: library.to_path_buf() })
}

/// `[N, rest...]` with the element type wanted; unknown (-1) dimensions pass.
fn check_outlet(what: &str, ty: &ValueType, want: TensorElementType, rest: &[usize]) -> Result<(), String> {
    let ValueType::Tensor { ty, shape, .. } = ty else { return Err(format!("{what} is not a tensor: {ty:?}")) };
    let dims_ok = shape.len() == rest.len() + 1 && shape[1..].iter().zip(rest).all(|(&d, &r)| d < 0 || d == r as i64);
    if *ty != want || !dims_ok {
        return Err(format!("{what} must be {want:?} [N,{rest:?}], the model declares {ty:?} {:?}", &shape[..]));
    }
    Ok(())
}

/// The rows of one pass, already in the model's layout.
pub enum Batch {
    Pixels(Vec<f32>),
    Tokens(Vec<i64>),
}

/// One forward pass over `rows` rows; returns the raw (unnormalised) embeddings, `EMBED_DIM` each.
///
/// The backend's thread stays in `checkpoint` (about every millisecond) while a helper thread runs the
/// pass. When the checkpoint stops the call, or raises a Postgres ERROR that unwinds through here, the
/// run is terminated and the helper joined before this returns or the unwind goes on.
pub fn run(model: &OrtModel, batch: Batch, rows: usize, checkpoint: Checkpoint) -> Result<Vec<f32>, InferenceError> {
    let failed = |e: ort::Error| {
        let m = format!("ONNX Runtime: {e}");
        if out_of_resources(&m) { InferenceError::OutOfMemory(m) } else { InferenceError::Failed(m) }
    };
    let input = match batch {
        Batch::Pixels(p) => Tensor::from_array((vec![rows as i64, 3, IMAGE_SIZE as i64, IMAGE_SIZE as i64], p))
            .map(|t| t.upcast()),
        Batch::Tokens(t) => Tensor::from_array((vec![rows as i64, CONTEXT_LENGTH as i64], t)).map(|t| t.upcast()),
    }
    .map_err(failed)?;
    let options = RunOptions::new().map_err(failed)?;
    let done = AtomicBool::new(false);
    let mut stopped = false;

    let waiter = std::thread::current();
    let result = std::thread::scope(|scope| {
        let pass = || {
            let mut session = model.session.lock().unwrap_or_else(|p| p.into_inner());
            let r = session.run_with_options(ort::inputs![input], &options).and_then(|outputs| {
                let (shape, data) = outputs[model.output.as_str()].try_extract_tensor::<f32>()?;
                Ok((shape.to_vec(), data.to_vec()))
            });
            done.store(true, Ordering::SeqCst);
            waiter.unpark();
            r
        };
        let helper = crate::threads::spawn_scoped_signal_blocked(scope, "pg_clip-ort-run", pass)
            .map_err(|e| InferenceError::NoThread(format!("could not create a thread for ONNX Runtime: {e}")))?;
        // Set first on every way out of this closure, a Postgres ERROR's unwind included: the scope then
        // joins a helper that is already leaving the pass.
        let _terminate = TerminateOnDrop(&options);
        while !done.load(Ordering::SeqCst) {
            if checkpoint().is_err() {
                stopped = true;
                break;
            }
            std::thread::park_timeout(std::time::Duration::from_millis(1));
        }
        drop(_terminate);
        helper.join().map_err(|_| InferenceError::Failed("the ONNX Runtime pass panicked".into()))
    })?;
    if stopped {
        return Err(InferenceError::Stopped);
    }
    let (shape, data) = result.map_err(failed)?;
    if shape != [rows as i64, EMBED_DIM as i64] {
        return Err(InferenceError::Failed(format!("output shape {shape:?}, expected [{rows}, {EMBED_DIM}]")));
    }
    Ok(data)
}

/// Whether an ONNX Runtime error is a refused allocation or thread rather than a bad model or input. It
/// catches `std::bad_alloc` and failed `pthread_create`s itself and reports them only as text (every
/// exception has the same status code), so the text is what there is to go on; measured under `ulimit -v`
/// (tests/integration/test_engine.py's capped cluster): "std::bad_alloc", the arena's "Failed to allocate
/// memory", and a thread constructor's "PosixThread" failure.
pub fn out_of_resources(message: &str) -> bool {
    ["bad_alloc", "Failed to allocate memory", "BFCArena::AllocateRawInternal", "PosixThread::PosixThread",
     "pthread_create"]
        .iter()
        .any(|needle| message.contains(needle))
}

struct TerminateOnDrop<'a>(&'a RunOptions);

impl Drop for TerminateOnDrop<'_> {
    fn drop(&mut self) {
        // Harmless after a finished pass: the options belong to this pass alone.
        let _ = self.0.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::{embed_rows, Input, Row, Stop};
    use crate::model::{load, load_with, Engine};
    use crate::preprocess::TENSOR_LEN;
    use std::time::{Duration, Instant};

    /// scripts/onnxruntime-setup.sh puts it here; a build with the feature is tested against it.
    pub(crate) fn library() -> PathBuf {
        std::env::var_os("PG_CLIP_ONNXRUNTIME_LIBRARY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/opt/pg_clip-onnxruntime/libonnxruntime.so.1.32.0"))
    }

    fn engine(threads: usize) -> Engine {
        Engine::Onnxruntime { library: library(), threads }
    }

    fn tiny(file: &str) -> PathBuf {
        crate::repo_root().join("models/tiny").join(file)
    }

    fn pixels(seed: usize) -> Vec<f32> {
        (0..TENSOR_LEN).map(|i| (((i * 7919 + seed * 104729) % 2001) as f32 / 1000.0) - 1.0).collect()
    }

    fn embed(encoder: &crate::model::Encoder, inputs: &[Input], threads: usize) -> Vec<Vec<f32>> {
        let prepare = |i: usize| {
            Ok::<_, String>(match &inputs[i] {
                Input::Pixels(p) => Input::Pixels(p.clone()),
                Input::Tokens(t) => Input::Tokens(t.clone()),
            })
        };
        embed_rows(encoder, inputs.len(), threads, true, &mut || Ok(()), &prepare)
            .expect("embeds")
            .into_iter()
            .map(|r| match r {
                Row::Embedded(v) => v,
                _ => panic!("row not embedded"),
            })
            .collect()
    }

    fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
        a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn matches_tract_within_1e5_on_both_towers_and_export_flavours() {
        for (image, text) in [("clip-tiny-image.onnx", "clip-tiny-text.onnx"), ("clip-tiny-hf-image.onnx", "clip-tiny-hf-text.onnx")] {
            let rows: Vec<Input> = (0..5).map(|s| Input::Pixels(pixels(s))).collect();
            let reference = embed(&load(Tower::Image, &tiny(image)).unwrap(), &rows, 1);
            for threads in [1, 2] {
                let ort = load_with(Tower::Image, &tiny(image), &engine(threads)).expect("ONNX Runtime loads the model");
                let got = embed(&ort, &rows, threads);
                assert!(max_diff(&reference, &got) <= 1e-5, "{image}: {}", max_diff(&reference, &got));
            }
            let tok = crate::tokenizer::global();
            let texts: Vec<Input> =
                ["a photo of a cat", "sunset over the ocean", ""].iter().map(|t| Input::Tokens(tok.tokenize(t).to_vec())).collect();
            let reference = embed(&load(Tower::Text, &tiny(text)).unwrap(), &texts, 1);
            let got = embed(&load_with(Tower::Text, &tiny(text), &engine(2)).unwrap(), &texts, 2);
            assert!(max_diff(&reference, &got) <= 1e-5, "{text}: {}", max_diff(&reference, &got));
        }
    }

    #[test]
    fn refuses_the_wrong_tower_and_non_models_like_tract() {
        let e = load_with(Tower::Image, &tiny("clip-tiny-text.onnx"), &engine(1)).err().expect("refused");
        assert!(matches!(e, crate::model::ModelError::Invalid { .. }), "{e:?}");
        let e = load_with(Tower::Image, &crate::repo_root().join("tests/images/cat.bmp"), &engine(1)).err().expect("refused");
        assert!(matches!(e, crate::model::ModelError::Invalid { .. }), "{e:?}");
        let e = load_with(Tower::Image, Path::new("/nonexistent.onnx"), &engine(1)).err().expect("refused");
        assert!(matches!(e, crate::model::ModelError::NotFound { .. }), "{e:?}");
    }

    #[test]
    fn a_second_library_path_is_refused_not_mixed() {
        let _ = load_with(Tower::Image, &tiny("clip-tiny-image.onnx"), &engine(1)).expect("loads");
        let other = Engine::Onnxruntime { library: PathBuf::from("/usr/lib/other/libonnxruntime.so"), threads: 1 };
        let e = load_with(Tower::Image, &tiny("clip-tiny-image.onnx"), &other).err().expect("refused");
        assert!(matches!(e, crate::model::ModelError::Engine { .. }), "{e:?}");
        assert!(e.detail().unwrap_or_default().contains("already loaded ONNX Runtime"), "{e:?}");
    }

    #[test]
    fn a_fail_fast_rejection_skips_later_rows_and_keeps_earlier_ones() {
        let enc = load_with(Tower::Image, &tiny("clip-tiny-image.onnx"), &engine(2)).unwrap();
        let prepare = |i: usize| if i == 2 { Err("bad") } else { Ok(Input::Pixels(pixels(i))) };
        let rows = embed_rows(&enc, 5, 2, true, &mut || Ok(()), &prepare).unwrap();
        let kinds: Vec<&str> = rows
            .iter()
            .map(|r| match r {
                Row::Embedded(_) => "e",
                Row::Rejected(_) => "r",
                Row::Skipped => "s",
            })
            .collect();
        assert_eq!(kinds, ["e", "e", "r", "s", "s"]);
        let rows = embed_rows(&enc, 5, 2, false, &mut || Ok(()), &prepare).unwrap();
        assert!(matches!(rows[3], Row::Embedded(_)) && matches!(rows[2], Row::Rejected(_)));
    }

    /// A pass of 1,500 rows in one tensor takes seconds; a stop in its middle must end it within 200 ms
    /// (median of 3), with the helper thread gone by the time `run` returns.
    #[test]
    fn a_stop_terminates_a_pass_in_its_middle() {
        let enc = load_with(Tower::Image, &tiny("clip-tiny-image.onnx"), &engine(2)).unwrap();
        let crate::model::Plan::Onnxruntime(model) = &enc.plan else { panic!("not ONNX Runtime") };
        let rows = 1500;
        let mut lags = Vec::new();
        for _ in 0..3 {
            let batch = Batch::Pixels((0..rows).flat_map(|s| pixels(s % 7)).collect());
            let started = Instant::now();
            let stop_at = Duration::from_millis(300);
            let mut check = || if started.elapsed() > stop_at { Err(Stop) } else { Ok(()) };
            let r = run(model, batch, rows, &mut check);
            let took = started.elapsed();
            assert_eq!(r.err(), Some(InferenceError::Stopped), "the pass finished before the stop: make it longer");
            lags.push(took.saturating_sub(stop_at));
        }
        lags.sort();
        assert!(lags[1] < Duration::from_millis(200), "stopped {lags:?} after the stop");
    }

    #[test]
    fn onnxruntime_threads_have_every_signal_blocked() {
        let enc = load_with(Tower::Image, &tiny("clip-tiny-image.onnx"), &engine(2)).unwrap();
        embed(&enc, &[Input::Pixels(pixels(1)), Input::Pixels(pixels(2))], 2);
        let mut seen = 0;
        for task in std::fs::read_dir("/proc/thread-self/..").unwrap().flatten() {
            let dir = task.path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if !comm.starts_with("pg_clip-ort") {
                continue;
            }
            let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
            let blocked = status.lines().find_map(|l| l.strip_prefix("SigBlk:")).map(|v| u64::from_str_radix(v.trim(), 16).unwrap());
            let mask = blocked.expect("SigBlk");
            // SIGINT (2), SIGTERM (15), SIGUSR1 (10), SIGALRM (14): what Postgres' handlers are for.
            for sig in [2, 10, 14, 15] {
                assert!(mask & (1 << (sig - 1)) != 0, "{comm}: signal {sig} not blocked ({mask:x})");
            }
            seen += 1;
        }
        assert!(seen >= 1, "no ONNX Runtime worker thread found");
    }
}
