//! Memory faulted in ahead of a slot import, on a thread of its own.
//!
//! A slot import receives its values into fresh memory, and the target spends most of its
//! CPU on the page faults of it (a GB of 16 KiB values: 268k faults, three fifths of the
//! target's CPU, measured with perf). Those faults do not have to happen on the thread
//! that applies the import. An import link's requests allocate from a jemalloc arena of
//! their own (whichever worker thread runs them), and while the link streams, a helper
//! thread bound to that arena allocates chunks there, faults them in (MADV_POPULATE_WRITE:
//! one call per chunk instead of a trap per page) and frees them. jemalloc keeps freed
//! memory as dirty extents of the arena (for `dirty_decay_ms`, 10 s) and carves the
//! arena's next allocations out of them: the values land in memory already faulted in,
//! and the faulting runs in parallel with the receiving and applying.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::OnceLock;

/// One chunk. jemalloc reuses a dirty extent for an allocation at most 64 times smaller
/// (`lg_extent_max_active_fit`), so a chunk this size serves values from 8 KiB up.
const CHUNK: usize = 512 * 1024;
/// Memory faulted in per round of the helper.
const ROUND: usize = 8 * 1024 * 1024;
/// How far the helper keeps ahead of what import links received.
const LEAD: usize = 32 * 1024 * 1024;
/// The helper is woken each time import links have received this much more.
const STEP: usize = 4 * 1024 * 1024;

/// Bytes received by import links, all of them, ever.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);

/// The helper's queue (None where the thread could not be started).
static HELPER: OnceLock<Option<SyncSender<()>>> = OnceLock::new();

/// The import arena (None where jemalloc could not create it).
static ARENA: OnceLock<Option<u32>> = OnceLock::new();

fn import_arena() -> Option<u32> {
    *ARENA.get_or_init(|| {
        let mut arena: u32 = 0;
        let mut len = std::mem::size_of::<u32>();
        // SAFETY: "arenas.create" returns the new arena's index as an unsigned int.
        let rc = unsafe {
            tikv_jemalloc_sys::mallctl(
                c"arenas.create".as_ptr(),
                &mut arena as *mut u32 as *mut libc::c_void,
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        (rc == 0).then_some(arena)
    })
}

/// Reads the calling thread's arena and, with `new`, moves the thread to that arena.
fn swap_arena(new: Option<u32>) -> Option<u32> {
    let mut old: u32 = 0;
    let mut len = std::mem::size_of::<u32>();
    let mut new_value = new.unwrap_or(0);
    let (new_ptr, new_len) = match new {
        Some(_) => (
            &mut new_value as *mut u32 as *mut libc::c_void,
            std::mem::size_of::<u32>(),
        ),
        None => (std::ptr::null_mut(), 0),
    };
    // SAFETY: "thread.arena" reads and writes an unsigned int; both buffers are ours.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.arena".as_ptr(),
            &mut old as *mut u32 as *mut libc::c_void,
            &mut len,
            new_ptr,
            new_len,
        )
    };
    (rc == 0).then_some(old)
}

/// While alive, the thread allocates from the import arena (see the module comment);
/// dropped on the same thread, before any await.
pub(crate) struct InImportArena(Option<u32>);

/// Moves the calling thread to the import arena until the guard drops.
pub(crate) fn enter() -> InImportArena {
    InImportArena(import_arena().and_then(|a| swap_arena(Some(a))))
}

impl Drop for InImportArena {
    fn drop(&mut self) {
        if let Some(previous) = self.0 {
            swap_arena(Some(previous));
        }
    }
}

/// An import link received `n` bytes (on the thread that will store them): wakes the
/// helper every STEP bytes. Never waits: a wake-up that finds the helper busy is dropped.
pub(crate) fn received(n: usize) {
    let before = RECEIVED.fetch_add(n, Ordering::Relaxed);
    if before / STEP == (before + n) / STEP {
        return;
    }
    let Some(arena) = import_arena() else {
        return;
    };
    let helper = HELPER.get_or_init(|| {
        let (tx, rx) = sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("rubra-prefault".into())
            .spawn(move || helper(arena, rx))
            .ok()
            .map(|_| tx)
    });
    if let Some(tx) = helper {
        let _ = tx.try_send(());
    }
}

/// The helper thread: keeps the import arena LEAD bytes ahead of what the links received.
fn helper(arena: u32, rx: std::sync::mpsc::Receiver<()>) {
    if swap_arena(Some(arena)).is_none() {
        return;
    }
    // How far (in received bytes) the memory faulted in so far reaches.
    let mut reach = 0;
    while rx.recv().is_ok() {
        // What the links received beyond `reach` they faulted in themselves.
        reach = reach.max(RECEIVED.load(Ordering::Relaxed));
        while reach < RECEIVED.load(Ordering::Relaxed) + LEAD {
            fault_in();
            reach += ROUND;
        }
    }
}

/// On the helper: allocates ROUND bytes in chunks, faults them in and frees them again.
fn fault_in() {
    let Ok(layout) = std::alloc::Layout::from_size_align(CHUNK, 4096) else {
        return;
    };
    let mut chunks = Vec::with_capacity(ROUND / CHUNK);
    for _ in 0..ROUND / CHUNK {
        // SAFETY: a non-zero-sized layout; the chunk is freed below with the same layout.
        let p = unsafe { std::alloc::alloc(layout) };
        if p.is_null() {
            break;
        }
        populate(p, CHUNK);
        chunks.push(p);
    }
    for p in chunks {
        // SAFETY: allocated above with `layout` and not used since.
        unsafe { std::alloc::dealloc(p, layout) };
    }
}

/// Faults in `len` bytes at `p` (ours, unused): one madvise, or a write per page where
/// the kernel lacks MADV_POPULATE_WRITE (before 5.14).
fn populate(p: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: the range is one allocation of ours; populating it changes no content.
        let rc = unsafe { libc::madvise(p as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) };
        if rc == 0 {
            return;
        }
    }
    for off in (0..len).step_by(4096) {
        // SAFETY: inside the allocation; nothing reads these bytes before they are freed.
        unsafe { p.add(off).write_volatile(0) };
    }
}
