//! Puts the postmaster's preloaded model memory on 2 MiB pages before backends fork.
//!
//! fork() copies one page-table entry per 4 KiB page and marks them "old", so with ~170k pages of weights
//! every new backend paid ~20 ms at connect and ~30 ms more on its first forward pass (a cold page walk
//! and an accessed-bit update per page). With 2 MiB pages there are 512 times fewer entries: measured
//! in docs/benchmarks.md. MADV_COLLAPSE (Linux 6.1+) does this synchronously whatever the system's THP
//! mode, short of "never"; where it is refused, the pages simply stay small.

/// Not in the libc crate yet; value from include/uapi/asm-generic/mman-common.h.
const MADV_COLLAPSE: libc::c_int = 25;
const HUGE: usize = 2 << 20;

#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    /// Bytes of private anonymous memory eligible (whole 2 MiB-aligned stretches).
    pub eligible: usize,
    /// Of those, bytes now backed by huge pages.
    pub collapsed: usize,
    /// The first refusal's errno, if any stretch was refused.
    pub error: Option<i32>,
}

/// Collapses every private anonymous read-write mapping of this process into huge pages. Meant for the
/// postmaster right after the models are loaded, when those mappings are essentially the weights.
pub fn collapse_anonymous_memory() -> Outcome {
    let mut out = Outcome::default();
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return out };
    for (start, end) in maps.lines().filter_map(private_anonymous_rw).filter_map(|(s, e)| huge_aligned(s, e)) {
        out.eligible += end - start;
        // MADV_HUGEPAGE keeps the range eligible (and khugepaged-managed) in "madvise" THP mode.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        // One huge page per call: the kernel may refuse single pages (it does, now and then, on parts of
        // the malloc heap), and a range call would then report the whole range as failed.
        for page in (start..end).step_by(HUGE) {
            if unsafe { libc::madvise(page as *mut libc::c_void, HUGE, MADV_COLLAPSE) } == 0 {
                out.collapsed += HUGE;
            } else if out.error.is_none() {
                out.error = std::io::Error::last_os_error().raw_os_error();
            }
        }
    }
    out
}

/// `start-end rw-p 00000000 00:00 0 [heap]` -> (start, end) for private anonymous read-write mappings.
fn private_anonymous_rw(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let _dev = fields.next()?;
    let inode = fields.next()?;
    let path = fields.next().unwrap_or("");
    if perms != "rw-p" || inode != "0" || !(path.is_empty() || path == "[heap]") {
        return None;
    }
    let (s, e) = range.split_once('-')?;
    Some((usize::from_str_radix(s, 16).ok()?, usize::from_str_radix(e, 16).ok()?))
}

/// The whole huge pages inside [start, end).
fn huge_aligned(start: usize, end: usize) -> Option<(usize, usize)> {
    let s = start.checked_add(HUGE - 1)? & !(HUGE - 1);
    let e = end & !(HUGE - 1);
    (e > s).then_some((s, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_private_anonymous_rw_mappings_qualify() {
        assert_eq!(private_anonymous_rw("7f0000000000-7f0000400000 rw-p 00000000 00:00 0 "), Some((0x7f0000000000, 0x7f0000400000)));
        assert_eq!(private_anonymous_rw("5555000-5556000 rw-p 00000000 00:00 0    [heap]"), Some((0x5555000, 0x5556000)));
        assert_eq!(private_anonymous_rw("7f00-7f10 rw-s 00000000 00:01 12 /dev/zero (deleted)"), None);
        assert_eq!(private_anonymous_rw("7f00-7f10 r-xp 00000000 08:01 99 /usr/lib/libc.so.6"), None);
        assert_eq!(private_anonymous_rw("7f00-7f10 rw-p 00000000 00:00 0 [stack]"), None);
        assert_eq!(private_anonymous_rw("garbage"), None);
    }

    #[test]
    fn alignment_keeps_only_whole_huge_pages() {
        assert_eq!(huge_aligned(0x1000, 0x600000), Some((0x200000, 0x600000)));
        assert_eq!(huge_aligned(0x200000, 0x400000), Some((0x200000, 0x400000)));
        assert_eq!(huge_aligned(0x1000, 0x3ff000), None);
    }

    #[test]
    fn collapsing_keeps_memory_contents() {
        let v: Vec<u32> = (0..(8 << 20) as u32).collect();
        let out = collapse_anonymous_memory();
        println!("{out:?}");
        assert!(out.eligible >= 16 << 20, "{out:?}");
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
    }
}
