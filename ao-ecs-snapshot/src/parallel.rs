//! Runs independent jobs (chunks, columns) across cores with scoped threads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Worker threads for `threads` (0 = one per available core), never more than `jobs`.
pub(crate) fn workers(threads: usize, jobs: usize) -> usize {
    let n = if threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        threads
    };
    n.min(jobs).max(1)
}

/// `items.iter().map(f).collect()`, the calls spread over worker threads pulling the next
/// item from a shared counter. Results keep the items' order.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let n = workers(threads, items.len());
    if n <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    *slots[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).expect("every slot is filled")
        })
        .collect()
}

/// Below this many bytes a value is dropped in place: a thread costs more than freeing it.
const BACKGROUND_DROP_BYTES: usize = 1 << 20;

/// Drops `value` on a thread of its own when it holds at least a MiB (`bytes`, the caller's
/// estimate), so freeing a large structure (many allocations, pages to unmap) is off the
/// caller's critical path. Drops it here if it is small or no thread starts.
pub(crate) fn drop_in_background<T: Send + 'static>(value: T, bytes: usize) {
    if bytes < BACKGROUND_DROP_BYTES {
        drop(value);
        return;
    }
    // On failure the closure, and `value` with it, is dropped right here.
    let _ = std::thread::Builder::new().name("ao-ecs-snapshot-drop".into()).spawn(move || drop(value));
}
