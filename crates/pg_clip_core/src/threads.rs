//! The worker threads a backend may use for inference, and how many it uses for one forward pass.
//!
//! Threads are created lazily in the backend that needs them, never in the postmaster, so none exists
//! across fork(). They only ever run tract kernels and forward passes: nothing on them calls into
//! PostgreSQL, and every signal is blocked on them so that Postgres' handlers (cancel, die, latch
//! wake-ups) run on the backend's own thread, the one that reacts to them.

use std::cell::RefCell;
use std::sync::Arc;

use rayon::ThreadPool;

/// Upper bound for `clip.threads = 0`: one backend never claims more than this many cores by itself.
pub const AUTO_MAX: usize = 8;

thread_local! {
    /// The backend's one pool and its size. A call that wants another size replaces it (rayon ends the old
    /// pool's threads when it is dropped), so however a session cycles clip.threads, the backend holds at
    /// most `max_threads()` workers, not one pool per size ever used.
    static POOL: RefCell<Option<(usize, Arc<ThreadPool>)>> = const { RefCell::new(None) };
}

/// Most worker threads one backend may have: the cores it may run on (affinity and cgroup quota, as
/// `available_parallelism` reports them), whatever clip.threads says.
pub fn max_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// A pool of `threads` workers (at most `max_threads()`) owned by this backend, or None if the OS
/// refused to create threads (the caller then runs on its own thread).
pub fn pool(threads: usize) -> Option<Arc<ThreadPool>> {
    let threads = threads.clamp(1, max_threads());
    POOL.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some((n, p)) = slot.as_ref() {
            if *n == threads {
                return Some(p.clone());
            }
        }
        // Drop the old pool before building the new one, so that the two never coexist.
        *slot = None;
        let p = Arc::new(build(threads)?);
        *slot = Some((threads, p.clone()));
        Some(p)
    })
}

/// Ends the backend's workers (the extension calls this at the end of every transaction): a session that
/// embedded once and then sits idle, or runs other queries for hours, holds no pg_clip thread. Building a
/// pool again costs well under a millisecond against tens of milliseconds per image.
pub fn release() {
    POOL.with(|slot| slot.borrow_mut().take());
}

/// Workers of the backend's pool right now (0 when released).
pub fn pool_size() -> usize {
    POOL.with(|slot| slot.borrow().as_ref().map_or(0, |(n, _)| *n))
}

/// A detached helper thread with every signal blocked (so Postgres' handlers keep running on the
/// backend's own thread), for work that may block where the backend must not: DNS lookups.
pub fn spawn_signal_blocked(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let builder = std::thread::Builder::new().name(name.to_owned());
    with_signals_blocked(|| builder.spawn(f)).map(|_| ())
}

/// A joinable thread with every signal blocked: ONNX Runtime's intra-op workers, which its session joins.
pub fn spawn_joinable_signal_blocked(
    name: &str,
    f: impl FnOnce() + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let builder = std::thread::Builder::new().name(name.to_owned());
    with_signals_blocked(|| builder.spawn(f))
}

/// A scoped thread with every signal blocked, for a pass that borrows the caller's data.
pub fn spawn_scoped_signal_blocked<'scope, 'env, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    name: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::io::Result<std::thread::ScopedJoinHandle<'scope, T>> {
    let builder = std::thread::Builder::new().name(name.to_owned());
    with_signals_blocked(|| builder.spawn_scoped(scope, f))
}

/// Runs `spawn` with every signal blocked on the calling thread; a thread created meanwhile inherits
/// that mask, and the caller's own mask is restored afterwards.
fn with_signals_blocked<T>(spawn: impl FnOnce() -> T) -> T {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut previous);
        let spawned = spawn();
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        spawned
    }
}

fn build(threads: usize) -> Option<ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("pg_clip-{i}"))
        .spawn_handler(|thread| {
            let mut builder = std::thread::Builder::new();
            if let Some(name) = thread.name() {
                builder = builder.name(name.to_owned());
            }
            with_signals_blocked(|| builder.spawn(|| thread.run())).map(|_| ())
        })
        .build()
        .ok()
}

/// `clip.threads = 0`: the cores nobody else is using right now, at least 1. Decided at the start of
/// every forward pass from the kernel's count of runnable tasks, so two backends that embed at the same
/// time fall back to one thread each instead of fighting over the same cores.
pub fn auto() -> usize {
    let cores = max_threads().min(AUTO_MAX);
    let others = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| runnable_tasks(&s))
        // The calling backend is one of the runnable tasks.
        .map(|r| r.saturating_sub(1))
        .unwrap_or(0);
    idle_cores(cores, others)
}

fn idle_cores(cores: usize, others: usize) -> usize {
    cores.saturating_sub(others).max(1)
}

/// `procs_running` of /proc/stat: tasks on a CPU or waiting for one, machine-wide, at this instant.
fn runnable_tasks(proc_stat: &str) -> Option<usize> {
    proc_stat.lines().find_map(|l| l.strip_prefix("procs_running ")).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_procs_running() {
        let stat = "cpu  1 2 3\nintr 5\nctxt 9\nprocs_running 3\nprocs_blocked 0\n";
        assert_eq!(runnable_tasks(stat), Some(3));
        assert_eq!(runnable_tasks("cpu 1 2\n"), None);
    }

    #[test]
    fn idle_cores_never_drops_below_one() {
        assert_eq!(idle_cores(2, 0), 2);
        assert_eq!(idle_cores(2, 1), 1);
        assert_eq!(idle_cores(2, 5), 1);
        assert_eq!(idle_cores(8, 3), 5);
    }

    #[test]
    fn auto_is_within_bounds_here() {
        let n = auto();
        assert!((1..=AUTO_MAX).contains(&n), "{n}");
    }

    #[test]
    fn one_pool_at_most_max_threads_whatever_is_asked() {
        for n in [1, 2, 3, 64, 2, 1000] {
            let p = pool(n).unwrap();
            assert_eq!(p.current_num_threads(), n.min(max_threads()));
        }
        POOL.with(|slot| assert!(slot.borrow().is_some()));
        assert_eq!(pool_size(), 1000.min(max_threads()));
        release();
        assert_eq!(pool_size(), 0);
        assert_eq!(pool(1).unwrap().current_num_threads(), 1, "a released pool is rebuilt on demand");
    }

    #[test]
    fn pools_are_reused_and_threads_have_signals_blocked() {
        let p = pool(2).unwrap();
        assert!(Arc::ptr_eq(&p, &pool(2).unwrap()) || max_threads() < 2);
        let blocked = p.install(|| unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
            libc::sigismember(&mask, libc::SIGINT) == 1 && libc::sigismember(&mask, libc::SIGUSR1) == 1
        });
        assert!(blocked);
    }
}
