//! Forward passes through a loaded tower. Execution goes node by node through tract so the caller's
//! `checkpoint` runs between operators: that is how a long batch honours query cancel, statement_timeout
//! and clip.timeout_ms within milliseconds instead of after the whole pass.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;

use crate::model::{EMBED_DIM, Encoder};
use crate::preprocess::IMAGE_SIZE;
use crate::threads;
use crate::tokenizer::CONTEXT_LENGTH;

#[derive(Debug, Clone, PartialEq)]
pub enum InferenceError {
    /// The checkpoint asked to stop (per-call timeout).
    Stopped,
    Failed(String),
    /// An allocation the pass needed was refused (the backend's memory or address-space limit).
    OutOfMemory(String),
    /// A thread the pass needed could not be created.
    NoThread(String),
    /// The model produced an all-zero or non-finite row, which has no direction to normalise.
    Degenerate { row: usize },
}

impl std::fmt::Display for InferenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InferenceError::Stopped => f.write_str("stopped"),
            InferenceError::Failed(m) | InferenceError::OutOfMemory(m) | InferenceError::NoThread(m) => f.write_str(m),
            InferenceError::Degenerate { row } => {
                write!(f, "the model produced a zero or non-finite embedding for row {}", row + 1)
            }
        }
    }
}

/// Returned by a checkpoint to abort the pass.
pub struct Stop;

pub type Checkpoint<'a> = &'a mut dyn FnMut() -> Result<(), Stop>;

/// One row's model input: a preprocessed image (`TENSOR_LEN` floats, CHW) or `CONTEXT_LENGTH` token ids.
pub enum Input {
    Pixels(Vec<f32>),
    Tokens(Vec<i64>),
}

impl Input {
    fn into_tensor(self) -> Result<Tensor, InferenceError> {
        let t = match self {
            Input::Pixels(p) => tract_ndarray::Array4::from_shape_vec((1, 3, IMAGE_SIZE, IMAGE_SIZE), p).map(|a| a.into_tensor()),
            Input::Tokens(t) => tract_ndarray::Array2::from_shape_vec((1, CONTEXT_LENGTH), t).map(|a| a.into_tensor()),
        };
        t.map_err(|e| InferenceError::Failed(format!("input row: {e}")))
    }
}

/// What became of one row of `embed_rows`.
#[derive(Debug)]
pub enum Row<E> {
    Embedded(Vec<f32>),
    /// `prepare` refused the row's input.
    Rejected(E),
    /// Not attempted: an earlier rejection ended a fail-fast call.
    Skipped,
}

/// Embeds `n` rows: `prepare(i)` builds row i's input tensor (decoding, preprocessing), then a forward
/// pass embeds it. With `threads > 1` the rows are spread over that many threads, each row prepared and
/// embedded on one thread, so decoding overlaps inference and both scale with the threads; a single row
/// spreads its matrix products instead. `prepare` runs on worker threads and must not touch PostgreSQL.
///
/// A rejected row is returned as such; with `fail_fast` it also ends the call (later rows are Skipped),
/// and every row before it has been attempted, so the first rejection by index is deterministic.
/// Inference failures and stops end the call with an error.
pub fn embed_rows<E: Send>(
    encoder: &Encoder,
    n: usize,
    threads: usize,
    fail_fast: bool,
    checkpoint: Checkpoint,
    prepare: &(dyn Fn(usize) -> Result<Input, E> + Sync),
) -> Result<Vec<Row<E>>, InferenceError> {
    let reserve = match &encoder.plan {
        #[cfg(feature = "onnxruntime")]
        crate::model::Plan::Onnxruntime(_) => {
            crate::headroom::for_onnxruntime_pass(n.min(ORT_MAX_ROWS), encoder.identity.bytes)
        }
        _ => crate::headroom::for_passes(threads.min(n.max(1)), encoder.identity.bytes),
    };
    crate::headroom::ensure(reserve).map_err(|bytes| {
        InferenceError::OutOfMemory(format!("cannot reserve {} MiB of address space for the forward passes", bytes >> 20))
    })?;
    #[cfg(feature = "onnxruntime")]
    if let crate::model::Plan::Onnxruntime(model) = &encoder.plan {
        return embed_rows_onnxruntime(model, n, threads, fail_fast, checkpoint, prepare);
    }
    if threads > 1 && n > 1 {
        if let Some(pool) = threads::pool(threads.min(n)) {
            return embed_rows_in_parallel(encoder, n, fail_fast, &pool, checkpoint, prepare);
        }
    }
    let executor = match threads {
        0 | 1 => Executor::SingleThread,
        _ => threads::pool(threads).map(Executor::MultiThread).unwrap_or(Executor::SingleThread),
    };
    multithread_tract_scope(executor, || {
        let mut state = spawn(encoder)?;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            checkpoint().map_err(|_| InferenceError::Stopped)?;
            match prepare(i) {
                Ok(input) => rows.push(Row::Embedded(forward(&mut state, input.into_tensor()?, i, checkpoint)?)),
                Err(e) => {
                    rows.push(Row::Rejected(e));
                    if fail_fast {
                        rows.extend((i + 1..n).map(|_| Row::Skipped));
                        break;
                    }
                }
            }
        }
        Ok(rows)
    })
}

/// Embeds preprocessed images laid out back to back (`TENSOR_LEN` floats, CHW, each). The SQL surface
/// decodes inside `embed_rows` instead; this form serves the parity tests, which start from golden tensors.
#[cfg(test)]
pub fn embed_images(
    encoder: &Encoder,
    pixels: &[f32],
    threads: usize,
    checkpoint: Checkpoint,
) -> Result<Vec<Vec<f32>>, InferenceError> {
    let rows: Vec<&[f32]> = pixels.chunks_exact(crate::preprocess::TENSOR_LEN).collect();
    let prepare = |i: usize| Ok::<_, String>(Input::Pixels(rows[i].to_vec()));
    embedded(embed_rows(encoder, rows.len(), threads, true, checkpoint, &prepare)?)
}

/// Embeds token rows (`CONTEXT_LENGTH` ids each, back to back).
pub fn embed_tokens(
    encoder: &Encoder,
    tokens: &[i64],
    threads: usize,
    checkpoint: Checkpoint,
) -> Result<Vec<Vec<f32>>, InferenceError> {
    let rows: Vec<&[i64]> = tokens.chunks_exact(CONTEXT_LENGTH).collect();
    let prepare = |i: usize| Ok::<_, String>(Input::Tokens(rows[i].to_vec()));
    embedded(embed_rows(encoder, rows.len(), threads, true, checkpoint, &prepare)?)
}

fn embedded(rows: Vec<Row<String>>) -> Result<Vec<Vec<f32>>, InferenceError> {
    rows.into_iter()
        .map(|r| match r {
            Row::Embedded(v) => Ok(v),
            Row::Rejected(e) => Err(InferenceError::Failed(e)),
            Row::Skipped => Err(InferenceError::Stopped),
        })
        .collect()
}

/// The backend's own thread takes rows like the workers do, and between operators and rows it services
/// interrupts; workers only watch `stop`. Whatever ends the call early (cancel raising an ERROR on the
/// backend thread, a timeout, a failed row) sets `stop`, and every worker leaves at its next operator,
/// so nothing keeps computing after the call has returned.
fn embed_rows_in_parallel<E: Send>(
    encoder: &Encoder,
    n: usize,
    fail_fast: bool,
    pool: &rayon::ThreadPool,
    checkpoint: Checkpoint,
    prepare: &(dyn Fn(usize) -> Result<Input, E> + Sync),
) -> Result<Vec<Row<E>>, InferenceError> {
    let results: Vec<Mutex<Option<Row<E>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // Why the call ended early, when it was not an interrupt on the backend thread.
    let failure: Mutex<Option<InferenceError>> = Mutex::new(None);
    let fail = |e: InferenceError| {
        stop.store(true, Ordering::SeqCst);
        lock(&failure).get_or_insert(e);
    };

    let take_rows = |check: Checkpoint| -> Result<(), InferenceError> {
        let mut state = spawn(encoder)?;
        loop {
            // Checked before taking a row, so that with fail_fast every row below a rejection is taken.
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let i = next.fetch_add(1, Ordering::SeqCst);
            if i >= n {
                return Ok(());
            }
            let row = match prepare(i) {
                Ok(input) => Row::Embedded(forward(&mut state, input.into_tensor()?, i, check)?),
                Err(e) => {
                    if fail_fast {
                        stop.store(true, Ordering::SeqCst);
                    }
                    Row::Rejected(e)
                }
            };
            *lock(&results[i]) = Some(row);
            finished.fetch_add(1, Ordering::SeqCst);
        }
    };
    // A worker's panic becomes this call's error. On the backend thread a panic may be a Postgres ERROR
    // (cancel) in flight, which must keep unwinding, so that thread is not wrapped.
    let worker = || {
        let mut watch_stop = || if stop.load(Ordering::SeqCst) { Err(Stop) } else { Ok(()) };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| take_rows(&mut watch_stop))) {
            Ok(Ok(())) => {}
            Ok(Err(InferenceError::Stopped)) => {}
            Ok(Err(e)) => fail(e),
            Err(panic) => fail(InferenceError::Failed(format!("inference panicked: {}", panic_message(&panic)))),
        }
    };

    let mut interrupted = false;
    pool.in_place_scope(|scope| {
        // Dropped first when the backend thread unwinds out of a cancel ERROR; rayon then waits for the
        // workers, which must therefore already be on their way out.
        let _stop_on_unwind = SetOnDrop(&stop);
        for _ in 1..pool.current_num_threads() {
            scope.spawn(|_| worker());
        }
        let mut interruptible = || {
            if stop.load(Ordering::SeqCst) {
                return Err(Stop);
            }
            let r = checkpoint();
            if r.is_err() {
                interrupted = true;
                stop.store(true, Ordering::SeqCst);
            }
            r
        };
        match take_rows(&mut interruptible) {
            Ok(()) | Err(InferenceError::Stopped) => {}
            Err(e) => fail(e),
        }
        while finished.load(Ordering::SeqCst) < n && !stop.load(Ordering::SeqCst) {
            if interruptible().is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });

    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    if interrupted {
        return Err(InferenceError::Stopped);
    }
    // Only a fail-fast rejection stops the workers without a failure: rows after it may be missing.
    Ok(results.into_iter().map(|r| r.into_inner().unwrap_or_else(|p| p.into_inner()).unwrap_or(Row::Skipped)).collect())
}

struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

fn spawn(encoder: &Encoder) -> Result<TypedSimpleState, InferenceError> {
    match &encoder.plan {
        crate::model::Plan::Tract(plan) => plan.spawn().map_err(|e| InferenceError::Failed(format!("{e:#}"))),
        #[cfg(feature = "onnxruntime")]
        crate::model::Plan::Onnxruntime(_) => Err(InferenceError::Failed("not a tract plan".into())),
    }
}

/// Most rows in one ONNX Runtime pass: its per-image cost stops falling well before this, and the
/// activations of a pass grow with its rows, whatever clip.max_batch_size allows.
#[cfg(feature = "onnxruntime")]
pub const ORT_MAX_ROWS: usize = 32;

/// ONNX Runtime runs a batch as one tensor and spreads each pass over its own intra-op threads; rows are
/// prepared first (over this backend's pool when `threads > 1`), then embedded `ORT_MAX_ROWS` at a time.
#[cfg(feature = "onnxruntime")]
fn embed_rows_onnxruntime<E: Send>(
    model: &crate::onnxruntime::OrtModel,
    n: usize,
    threads: usize,
    fail_fast: bool,
    checkpoint: Checkpoint,
    prepare: &(dyn Fn(usize) -> Result<Input, E> + Sync),
) -> Result<Vec<Row<E>>, InferenceError> {
    use rayon::prelude::*;
    let mut rows: Vec<Row<E>> = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + ORT_MAX_ROWS).min(n);
        checkpoint().map_err(|_| InferenceError::Stopped)?;
        let pool = if threads > 1 && end - start > 1 { threads::pool(threads.min(end - start)) } else { None };
        let prepared: Vec<Result<Input, E>> = match pool {
            Some(pool) => pool.install(|| (start..end).into_par_iter().map(prepare).collect()),
            None => (start..end).map(prepare).collect(),
        };
        // With fail_fast, the first rejection by index ends the call: rows after it are not embedded.
        let cut = if fail_fast { prepared.iter().position(|r| r.is_err()) } else { None };
        let mut pixels: Vec<f32> = Vec::new();
        let mut tokens: Vec<i64> = Vec::new();
        let mut members = Vec::new();
        for (k, r) in prepared.iter().enumerate().take(cut.map_or(usize::MAX, |c| c + 1)) {
            match r {
                Ok(Input::Pixels(p)) => {
                    pixels.try_reserve(p.len()).map_err(|_| {
                        InferenceError::OutOfMemory(format!(
                            "cannot allocate {} bytes for a batch of {} images",
                            (pixels.len() + p.len()) * size_of::<f32>(),
                            end - start
                        ))
                    })?;
                    pixels.extend_from_slice(p);
                    members.push(k);
                }
                Ok(Input::Tokens(t)) => {
                    tokens.extend_from_slice(t);
                    members.push(k);
                }
                Err(_) => {}
            }
        }
        let mut embedded: Vec<Option<Vec<f32>>> = vec![None; prepared.len()];
        if !members.is_empty() {
            let batch = if tokens.is_empty() {
                crate::onnxruntime::Batch::Pixels(pixels)
            } else {
                crate::onnxruntime::Batch::Tokens(tokens)
            };
            let out = crate::onnxruntime::run(model, batch, members.len(), checkpoint)?;
            for (&k, raw) in members.iter().zip(out.chunks_exact(EMBED_DIM)) {
                let mut v = raw.to_vec();
                if !l2_normalize(&mut v) {
                    return Err(InferenceError::Degenerate { row: start + k });
                }
                embedded[k] = Some(v);
            }
        }
        for (k, r) in prepared.into_iter().enumerate() {
            rows.push(match (r, embedded[k].take()) {
                (Err(e), _) if cut.is_none_or(|c| k <= c) => Row::Rejected(e),
                (_, Some(v)) => Row::Embedded(v),
                _ => Row::Skipped,
            });
        }
        if cut.is_some() {
            rows.extend((end..n).map(|_| Row::Skipped));
            break;
        }
        start = end;
    }
    Ok(rows)
}

/// One single-row pass, node by node so `checkpoint` runs between operators; the result is unit length.
fn forward(
    state: &mut TypedSimpleState,
    input: Tensor,
    row: usize,
    checkpoint: Checkpoint,
) -> Result<Vec<f32>, InferenceError> {
    let mut stopped = false;
    let result = state.run_plan_with_eval(tvec!(input.into_tvalue()), |ctx, op_state, node, inputs| {
        if checkpoint().is_err() {
            stopped = true;
            anyhow::bail!("stopped at {}", node.name);
        }
        tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs)
    });
    let outputs = match result {
        Ok(o) => o,
        Err(_) if stopped => return Err(InferenceError::Stopped),
        Err(e) => return Err(InferenceError::Failed(format!("{e:#}"))),
    };
    let view = outputs[0].to_plain_array_view::<f32>().map_err(|e| InferenceError::Failed(format!("{e:#}")))?;
    if view.shape() != [1, EMBED_DIM] {
        return Err(InferenceError::Failed(format!("output shape {:?}, expected [1, {EMBED_DIM}]", view.shape())));
    }
    let mut v: Vec<f32> = view.iter().copied().collect();
    if l2_normalize(&mut v) { Ok(v) } else { Err(InferenceError::Degenerate { row }) }
}

/// CLIP compares embeddings by cosine; unit length makes pgvector's `<#>` and `<=>` agree with it.
/// Accumulates in f64 so 512 squares lose nothing. False when the vector has no direction.
pub fn l2_normalize(v: &mut [f32]) -> bool {
    let norm = v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return false;
    }
    v.iter_mut().for_each(|x| *x = (*x as f64 / norm) as f32);
    true
}

/// The mean of unit vectors, renormalised: how a multi-frame scene is pooled into one embedding.
pub fn mean_pool(rows: &[Vec<f32>]) -> Option<Vec<f32>> {
    let first = rows.first()?;
    let mut acc = vec![0f64; first.len()];
    for r in rows {
        acc.iter_mut().zip(r).for_each(|(a, &x)| *a += x as f64);
    }
    let mut v: Vec<f32> = acc.iter().map(|&a| (a / rows.len() as f64) as f32).collect();
    l2_normalize(&mut v).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_gives_unit_length() {
        let mut v = vec![3.0, 4.0];
        assert!(l2_normalize(&mut v));
        assert_eq!(v, vec![0.6, 0.8]);
    }

    #[test]
    fn zero_and_nan_vectors_are_rejected() {
        assert!(!l2_normalize(&mut vec![0.0; 4]));
        assert!(!l2_normalize(&mut vec![f32::NAN, 1.0]));
    }

    #[test]
    fn mean_pool_of_identical_rows_is_that_row() {
        let mut r = vec![1.0, 2.0, 2.0];
        l2_normalize(&mut r);
        let pooled = mean_pool(&[r.clone(), r.clone()]).unwrap();
        for (a, b) in pooled.iter().zip(&r) {
            assert!((a - b).abs() < 1e-7);
        }
    }

    #[test]
    fn mean_pool_of_opposite_rows_has_no_direction() {
        assert!(mean_pool(&[vec![1.0, 0.0], vec![-1.0, 0.0]]).is_none());
        assert!(mean_pool(&[]).is_none());
    }
}
