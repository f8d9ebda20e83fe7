//! The global allocator: mimalloc, wrapped to count each thread's net allocation.
//!
//! Rules are bounded in memory by watching how much their worker thread allocated
//! since the rule started (checked with the deadline, every 1,024 Rhai operations).
//! Rhai's own size limits do not cover everything: `m[k] = v` on a map is not checked
//! against `max_map_size`, so without this a loop of it could exhaust the machine.
//! The count is per thread and approximate (memory freed on another thread is not
//! subtracted here), which errs on the side of stopping a rule.

//!
//! Transparent huge pages are off for the process ([`no_huge_pages`]): mimalloc asks
//! the kernel for them on its arenas, and with them each arena that a call touched
//! stayed resident in 2 MiB steps: a server that had answered three 100 KB calls held
//! 63 MiB, 22 MiB without them, at no measured cost in speed (BENCHMARKS.md).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

pub struct Counting<A>(pub A);

thread_local! {
    static BALANCE: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    let _ = BALANCE.try_with(|b| b.set(b.get().wrapping_add(delta)));
}

/// Bytes allocated minus bytes freed on this thread so far.
pub fn thread_balance() -> isize {
    BALANCE.try_with(Cell::get).unwrap_or(0)
}

// SAFETY: every call is forwarded unchanged to the inner allocator; the counter is a
// const-initialised thread-local without a destructor, so touching it never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        self.0.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        self.0.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        self.0.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        self.0.realloc(ptr, layout, new_size)
    }
}

/// Turns transparent huge pages off for this process (`PR_SET_THP_DISABLE`), unless
/// the operator chose with mimalloc's own `MIMALLOC_ALLOW_THP`. The binary calls it
/// first thing; it applies to every page touched afterwards, on every thread.
pub fn no_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag on the calling process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn balance_follows_this_threads_allocations() {
        let before = super::thread_balance();
        let block = vec![0u8; 1 << 20];
        let during = super::thread_balance();
        drop(block);
        let after = super::thread_balance();
        assert!(during - before >= 1 << 20, "{before} {during}");
        assert!(after - before < 1 << 10, "{before} {after}");
    }
}
