//! Memory is checked before it is needed, not discovered missing halfway: a Rust allocation that fails
//! aborts the backend (and PostgreSQL then restarts every session), and tract's plan allocates its
//! activations infallibly. So before a model load or a round of forward passes, the backend reserves the
//! address space the work may take -- an inaccessible mapping, never touched, unmapped at once -- and
//! refuses the work with an out-of-memory error when the kernel says no. Under an address-space limit
//! (`ulimit -v` / RLIMIT_AS, the usual way to cap a PostgreSQL server's memory per process) that answer is
//! exact; under plain overcommit nothing is refused here and the kernel's OOM policy applies as for any
//! other backend.

/// Slack for the small allocations of any call (pgrx, the SQL layer, ONNX Runtime's bookkeeping). Not
/// more: under an address-space cap glibc's per-thread malloc arenas and thread stacks already hold much
/// of the space as reservations, and an over-large probe would refuse work that fits (measured: 64 MiB
/// plus 32 MiB per thread refused a tiny-model batch that runs at a third of the cap it was refused at).
pub const BASE: usize = 16 << 20;

/// What one thread's forward pass may allocate beyond the model, from the model file's size: a full-size
/// ViT-B/32 image tower (335 MiB of f32 weights) holds ~25 MiB of activations per row in tract (README,
/// clip.max_batch_size), about a twelfth; at least 1 MiB.
pub fn per_thread(model_bytes: u64) -> usize {
    model_share(model_bytes, 12)
}

/// `model_bytes / divisor`, at least 1 MiB.
fn model_share(model_bytes: u64, divisor: u64) -> usize {
    usize::try_from(model_bytes / divisor).unwrap_or(usize::MAX / 64).max(1 << 20)
}

/// `Ok` when `bytes` of address space can be had right now, else `Err` with the amount.
pub fn ensure(bytes: usize) -> Result<(), usize> {
    // SAFETY: a fresh anonymous mapping nothing else refers to, unmapped before returning; PROT_NONE and
    // MAP_NORESERVE, so it costs no memory or swap, only the address-space accounting being asked about.
    let len = bytes.max(1);
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(bytes);
        }
        libc::munmap(p, len);
    }
    Ok(())
}

/// The reserve for a round of passes on `threads` threads with a model file of `model_bytes`.
pub fn for_passes(threads: usize, model_bytes: u64) -> usize {
    BASE.saturating_add(per_thread(model_bytes).saturating_mul(threads.max(1)))
}

/// An ONNX Runtime pass is one tensor of up to 32 rows, not a row per thread: the reserve grows with the
/// rows (its arena holds every row's activations at once; ~7 MiB a row for the full-size image tower, a
/// 48th of the file), and a `std::bad_alloc` inside its thread pool is not always caught (measured: a
/// `terminate called after throwing ... bad_alloc` abort under a 356 MiB cap with an 18 MiB reserve).
pub fn for_onnxruntime_pass(rows: usize, model_bytes: u64) -> usize {
    BASE.saturating_add(model_share(model_bytes, 48).saturating_mul(rows.max(1)))
}

/// Address space a new thread takes under RLIMIT_AS: its stack (8 MiB) and a share of its malloc arena.
/// (A fresh glibc arena reserves 64 MiB, but the arenas are shared once there are 8 per core; counting
/// all of it refused loads that fit at half the cap.)
pub const THREAD_SPACE: usize = 16 << 20;

/// The reserve for loading a model file of `file_bytes`: the bytes, the parsed graph and the packed plan
/// are alive together for a moment.
pub fn for_load(file_bytes: u64) -> usize {
    BASE.saturating_add(usize::try_from(file_bytes).unwrap_or(usize::MAX / 4).saturating_mul(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_reserve_is_granted_and_an_impossible_one_refused() {
        assert_eq!(ensure(for_passes(2, 335 << 20)), Ok(()));
        assert_eq!(for_passes(2, 335 << 20), (16 << 20) + 2 * ((335 << 20) / 12));
        assert_eq!(for_passes(1, 1000), (16 << 20) + (1 << 20));
        // More than any x86-64 / aarch64 user address space (47-48 bits).
        assert_eq!(ensure(1 << 50), Err(1 << 50));
    }
}
