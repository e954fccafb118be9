//! A global allocator wrapper that counts live heap bytes (jemalloc's size classes, as Redis's
//! zmalloc_size counts them). This is `used_memory` in INFO and
//! what `maxmemory` is compared against: exact, cheap (one relaxed atomic per call) and free
//! of per-type size estimates that drift from reality. Underneath is jemalloc, as in Redis:
//! its small size classes fit the keyspace's one-allocation-per-key nodes (see Cargo.toml).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use tikv_jemallocator::Jemalloc as System;

/// jemalloc plus a live-bytes counter.
pub struct CountingAlloc;

/// jemalloc's options, read once at start-up (the `_rjem_` prefix is tikv-jemalloc-sys's).
/// `cache_oblivious:false`: by default every allocation of 16 KiB or more starts at a random
/// cache line of an extra page, so a 16 KiB value takes 20 KiB and five page faults; without
/// it the value takes what it asks for (measured on a slot import of 1 GB of 16 KiB values:
/// 268k faults instead of 333k, RSS 1.07 GB instead of 1.33 GB, a quarter less CPU).
/// Redis's own jemalloc keeps the default; we trade its protection against cache-set
/// aliasing of page-aligned objects (a micro-effect) for the memory.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 22] = b"cache_oblivious:false\0";

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The bytes an allocation of `layout` really takes: jemalloc's size class for it. Counting
/// the class, not the request, is what Redis's used_memory does (zmalloc_size), so the two
/// figures compare, and a 19-byte buffer shows as the 32 bytes it occupies. jemalloc has
/// 16-byte steps up to 128 bytes (8 for the smallest), four classes per doubling up to
/// 16 KiB and whole pages above; stricter alignments than 16, which the keyspace never asks
/// for, ask jemalloc itself. A unit test checks this against jemalloc's `nallocx`.
#[inline]
fn class_size(layout: Layout) -> usize {
    if layout.align() > 16 {
        return aligned_class_size(layout);
    }
    let size = layout.size().max(layout.align());
    if size <= 8 {
        8
    } else if size <= 128 {
        (size + 15) & !15
    } else if size > 16 * 1024 {
        // Large allocations: whole pages (this jemalloc has no large size classes).
        (size + 4095) & !4095
    } else {
        let lg = usize::BITS - 1 - (size - 1).leading_zeros();
        let step = 1usize << (lg - 2);
        (size + step - 1) & !(step - 1)
    }
}

#[cold]
fn aligned_class_size(layout: Layout) -> usize {
    let flags = tikv_jemalloc_sys::MALLOCX_ALIGN(layout.align());
    // SAFETY: nallocx only computes a size; a size it cannot serve returns 0.
    let n = unsafe { tikv_jemalloc_sys::nallocx(layout.size(), flags) };
    n.max(layout.size())
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE_BYTES.fetch_add(class_size(layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE_BYTES.fetch_sub(class_size(layout), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE_BYTES.fetch_add(class_size(layout), Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            // SAFETY (of the layout): realloc's contract makes (new_size, align) valid.
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            LIVE_BYTES.fetch_add(class_size(new_layout), Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(class_size(layout), Ordering::Relaxed);
        }
        p
    }
}

/// Live heap bytes allocated through the counting allocator (0 if it is not installed).
pub fn used_memory() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Resident set size of the process in bytes, from /proc (0 where unavailable).
pub fn rss_bytes() -> usize {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(0) as usize
}

/// (user, system) CPU seconds used by the process, for INFO cpu and the autoscaler.
pub fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage writes into the struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

/// jemalloc's own statistics report (MEMORY MALLOC-STATS), as Redis shows it.
pub fn malloc_stats() -> String {
    unsafe extern "C" fn write(opaque: *mut libc::c_void, text: *const libc::c_char) {
        // SAFETY: opaque is the String passed below; jemalloc hands a NUL-terminated text.
        let out = &mut *(opaque as *mut String);
        out.push_str(&std::ffi::CStr::from_ptr(text).to_string_lossy());
    }
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(write),
            &mut out as *mut String as *mut libc::c_void,
            std::ptr::null(),
        );
    }
    out
}

/// Returns dirty pages of every arena to the system (MEMORY PURGE).
pub fn purge() {
    // 4096 is MALLCTL_ARENAS_ALL: every arena.
    let name = b"arena.4096.purge\0";
    // SAFETY: a void control with no old or new value.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr() as *const libc::c_char,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// jemalloc's (allocated, active, resident) bytes, refreshed first (MEMORY STATS allocator.*).
pub fn allocator_bytes() -> (usize, usize, usize) {
    let mut epoch: u64 = 1;
    let mut len = std::mem::size_of::<u64>();
    // SAFETY: "epoch" reads and writes a u64; the stats.* controls read a size_t.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"epoch".as_ptr(),
            &mut epoch as *mut u64 as *mut libc::c_void,
            &mut len,
            &mut epoch as *mut u64 as *mut libc::c_void,
            len,
        );
    }
    let read = |name: &[u8]| -> usize {
        let mut value: usize = 0;
        let mut len = std::mem::size_of::<usize>();
        // SAFETY: as above; name is NUL-terminated.
        let rc = unsafe {
            tikv_jemalloc_sys::mallctl(
                name.as_ptr() as *const libc::c_char,
                &mut value as *mut usize as *mut libc::c_void,
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc == 0 {
            value
        } else {
            0
        }
    };
    (
        read(b"stats.allocated\0"),
        read(b"stats.active\0"),
        read(b"stats.resident\0"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arithmetic matches jemalloc's own answer for every size a key or value takes
    /// and for the alignments Rust asks for.
    #[test]
    fn class_size_matches_jemalloc() {
        for align in [1usize, 2, 4, 8, 16, 32, 64] {
            let flags = tikv_jemalloc_sys::MALLOCX_ALIGN(align);
            let mut size = 1usize;
            while size <= 1 << 24 {
                // SAFETY: nallocx only computes.
                let want = unsafe { tikv_jemalloc_sys::nallocx(size, flags) };
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    panic!("layout {size}/{align}");
                };
                assert_eq!(class_size(layout), want, "size {size} align {align}");
                size += if size < 70_000 { 1 } else { size / 1000 + 7 };
            }
        }
    }
}
