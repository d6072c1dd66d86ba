//! Forward passes through a loaded tower. Execution goes node by node through tract so the caller's
//! `checkpoint` runs between operators: that is how a long batch honours query cancel, statement_timeout
//! and clip.timeout_ms within milliseconds instead of after the whole pass.

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;

use crate::model::{EMBED_DIM, Encoder};
use crate::preprocess::{IMAGE_SIZE, TENSOR_LEN};
use crate::tokenizer::CONTEXT_LENGTH;

#[derive(Debug, Clone, PartialEq)]
pub enum InferenceError {
    /// The checkpoint asked to stop (per-call timeout).
    Stopped,
    Failed(String),
    /// The model produced an all-zero or non-finite row, which has no direction to normalise.
    Degenerate { row: usize },
}

impl std::fmt::Display for InferenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InferenceError::Stopped => f.write_str("stopped"),
            InferenceError::Failed(m) => f.write_str(m),
            InferenceError::Degenerate { row } => {
                write!(f, "the model produced a zero or non-finite embedding for row {}", row + 1)
            }
        }
    }
}

/// Returned by a checkpoint to abort the pass.
pub struct Stop;

thread_local! {
    /// This backend's intra-op pool, built on first use with more than one thread and rebuilt when
    /// clip.threads changes. Never built in the postmaster, so no thread exists across fork().
    static POOL: std::cell::RefCell<Option<(usize, Executor)>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with tract's matrix products spread over `threads` threads (1: on the calling thread only).
/// If the pool cannot be created the work runs single-threaded rather than failing.
pub fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    if threads <= 1 {
        return multithread_tract_scope(Executor::SingleThread, f);
    }
    let executor = POOL.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some((n, exec)) = slot.as_ref() {
            if *n == threads {
                return exec.clone();
            }
        }
        let exec = build_pool(threads).map(|p| Executor::MultiThread(std::sync::Arc::new(p)));
        let exec = exec.unwrap_or(Executor::SingleThread);
        *slot = Some((threads, exec.clone()));
        exec
    });
    multithread_tract_scope(executor, f)
}

/// Worker threads start with every signal blocked: Postgres' handlers (cancel, die, latch wake-ups) must
/// only ever run on the backend's own thread, which is the one that reacts to them.
fn build_pool(threads: usize) -> Option<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("pg_clip-{i}"))
        .spawn_handler(|thread| {
            let mut builder = std::thread::Builder::new();
            if let Some(name) = thread.name() {
                builder = builder.name(name.to_owned());
            }
            unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                let mut previous: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut previous);
                let spawned = builder.spawn(|| thread.run());
                libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
                spawned.map(|_| ())
            }
        })
        .build()
        .ok()
}

/// Embeds `n` preprocessed images laid out back to back (`n * TENSOR_LEN` floats, CHW each).
pub fn embed_images(
    encoder: &Encoder,
    pixels: Vec<f32>,
    n: usize,
    checkpoint: &mut dyn FnMut() -> Result<(), Stop>,
) -> Result<Vec<Vec<f32>>, InferenceError> {
    debug_assert_eq!(pixels.len(), n * TENSOR_LEN);
    let input = tract_ndarray::Array4::from_shape_vec((n, 3, IMAGE_SIZE, IMAGE_SIZE), pixels)
        .map_err(|e| InferenceError::Failed(e.to_string()))?
        .into_tensor();
    run(encoder, input, n, checkpoint)
}

/// Embeds `n` token rows (`n * CONTEXT_LENGTH` ids).
pub fn embed_tokens(
    encoder: &Encoder,
    tokens: Vec<i64>,
    n: usize,
    checkpoint: &mut dyn FnMut() -> Result<(), Stop>,
) -> Result<Vec<Vec<f32>>, InferenceError> {
    let input = tract_ndarray::Array2::from_shape_vec((n, CONTEXT_LENGTH), tokens)
        .map_err(|e| InferenceError::Failed(e.to_string()))?
        .into_tensor();
    run(encoder, input, n, checkpoint)
}

fn run(
    encoder: &Encoder,
    input: Tensor,
    n: usize,
    checkpoint: &mut dyn FnMut() -> Result<(), Stop>,
) -> Result<Vec<Vec<f32>>, InferenceError> {
    let mut stopped = false;
    let mut state = encoder.plan.spawn().map_err(|e| InferenceError::Failed(format!("{e:#}")))?;
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
    if view.shape() != [n, EMBED_DIM] {
        return Err(InferenceError::Failed(format!("output shape {:?}, expected [{n}, {EMBED_DIM}]", view.shape())));
    }
    view.outer_iter()
        .enumerate()
        .map(|(row, v)| {
            let mut v: Vec<f32> = v.iter().copied().collect();
            l2_normalize(&mut v).then_some(v).ok_or(InferenceError::Degenerate { row })
        })
        .collect()
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
