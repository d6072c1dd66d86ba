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
    /// Pools by size; in practice one or two sizes per backend (auto picks 1..=cores).
    static POOLS: RefCell<Vec<(usize, Arc<ThreadPool>)>> = const { RefCell::new(Vec::new()) };
}

/// A pool of `threads` workers owned by this backend, or None if the OS refused to create threads
/// (the caller then runs on its own thread).
pub fn pool(threads: usize) -> Option<Arc<ThreadPool>> {
    POOLS.with(|pools| {
        let mut pools = pools.borrow_mut();
        if let Some((_, p)) = pools.iter().find(|(n, _)| *n == threads) {
            return Some(p.clone());
        }
        let p = Arc::new(build(threads)?);
        pools.push((threads, p.clone()));
        Some(p)
    })
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
            // The new thread inherits the mask in force when it is created.
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

/// `clip.threads = 0`: the cores nobody else is using right now, at least 1. Decided at the start of
/// every forward pass from the kernel's count of runnable tasks, so two backends that embed at the same
/// time fall back to one thread each instead of fighting over the same cores.
pub fn auto() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(AUTO_MAX);
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
    fn pools_are_reused_and_threads_have_signals_blocked() {
        let p = pool(2).unwrap();
        assert!(Arc::ptr_eq(&p, &pool(2).unwrap()));
        let blocked = p.install(|| unsafe {
            let mut mask: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
            libc::sigismember(&mask, libc::SIGINT) == 1 && libc::sigismember(&mask, libc::SIGUSR1) == 1
        });
        assert!(blocked);
    }
}
