//! Data parallelism for rendering: maps a pure function over a slice on the machine's cores,
//! keeping input order. Owns no rendering logic and does no IO.

use std::num::NonZeroUsize;
use std::sync::OnceLock;
use std::thread;

/// The number of cores restack may use (`std::thread::available_parallelism`, at least 1), asked
/// once per process: on Linux each ask reads the cgroup's CPU quota from `/proc` and `/sys`.
pub(crate) fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| thread::available_parallelism().map_or(1, NonZeroUsize::get))
}

/// Below this many items a second thread costs more than it saves.
const MIN_PER_THREAD: usize = 16;

/// `items.iter().map(job).collect()`, spread over the available cores; the result is in input
/// order, as if run on one thread. Items are dealt round-robin (thread `t` takes items `t`,
/// `t + threads`, …), so runs of expensive items of one kind are shared out. A panic in `job` is
/// propagated.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = cores();
    let threads = cores.min(items.len() / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return items.iter().map(job).collect();
    }
    let job = &job;
    let hand = move |first: usize| {
        items
            .iter()
            .skip(first)
            .step_by(threads)
            .map(job)
            .collect::<Vec<R>>()
    };
    let mut parts: Vec<std::vec::IntoIter<R>> = thread::scope(|scope| {
        // The calling thread takes the first hand itself: besides saving a thread, its
        // allocations reuse the memory the caller already freed (a new thread allocates in a new
        // malloc arena, which adds to the peak).
        let handles: Vec<_> = (1..threads)
            .map(|first| scope.spawn(move || hand(first)))
            .collect();
        let mut parts = vec![hand(0).into_iter()];
        for handle in handles {
            match handle.join() {
                Ok(part) => parts.push(part.into_iter()),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    let mut all = Vec::with_capacity(items.len());
    for idx in 0..items.len() {
        if let Some(item) = parts[idx % threads].next() {
            all.push(item);
        }
    }
    debug_assert_eq!(all.len(), items.len(), "every item is mapped once");
    all
}

/// [`map`] for owned items: `job` takes each item by value, so what it does not return is freed
/// as soon as the item is done (rendering drops each output's context once the file is rendered,
/// instead of holding every context until the last file is done).
pub(crate) fn map_owned<T: Send, R: Send>(items: Vec<T>, job: impl Fn(T) -> R + Sync) -> Vec<R> {
    let cores = cores();
    let n_items = items.len();
    let threads = cores.min(n_items / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return items.into_iter().map(job).collect();
    }
    let mut hands: Vec<Vec<T>> = (0..threads)
        .map(|_| Vec::with_capacity(n_items.div_ceil(threads)))
        .collect();
    for (idx, item) in items.into_iter().enumerate() {
        hands[idx % threads].push(item);
    }
    let job = &job;
    let mut hands = hands.into_iter();
    let own = hands.next().unwrap_or_default();
    let mut parts: Vec<std::vec::IntoIter<R>> = thread::scope(|scope| {
        // As in `map`, the calling thread takes the first hand.
        let handles: Vec<_> = hands
            .map(|hand| scope.spawn(move || hand.into_iter().map(job).collect::<Vec<R>>()))
            .collect();
        let mut parts = vec![own.into_iter().map(job).collect::<Vec<R>>().into_iter()];
        for handle in handles {
            match handle.join() {
                Ok(part) => parts.push(part.into_iter()),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    let mut all = Vec::with_capacity(n_items);
    for idx in 0..n_items {
        if let Some(item) = parts[idx % threads].next() {
            all.push(item);
        }
    }
    debug_assert_eq!(all.len(), n_items, "every item is mapped once");
    all
}

/// [`map_owned`] for items made by an iterator as they are taken: each of the machine's cores
/// (the calling thread one of them) takes the next item when it is done with the last, so only
/// the items being worked on exist at once (rendering builds each output's context only when a
/// thread is free to render it). The result is in input order. A panic in `job` or in the
/// iterator is propagated.
pub(crate) fn map_lazy<T: Send, R: Send>(
    items: impl Iterator<Item = T> + Send,
    job: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let cores = cores();
    if cores == 1 {
        return items.map(job).collect();
    }
    let items = std::sync::Mutex::new(items.enumerate());
    let hand = || {
        let mut done = Vec::new();
        loop {
            // The lock is held only to take the item, not to work on it.
            let next = items
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .next();
            let Some((idx, item)) = next else {
                return done;
            };
            done.push((idx, job(item)));
        }
    };
    let parts: Vec<Vec<(usize, R)>> = thread::scope(|scope| {
        let handles: Vec<_> = (1..cores).map(|_| scope.spawn(hand)).collect();
        // As in `map`, the calling thread takes a hand.
        let mut parts = vec![hand()];
        for handle in handles {
            match handle.join() {
                Ok(part) => parts.push(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    let mut all: Vec<(usize, R)> = parts.into_iter().flatten().collect();
    all.sort_unstable_by_key(|(idx, _)| *idx);
    debug_assert!(
        all.iter().enumerate().all(|(at, (idx, _))| at == *idx),
        "every item is mapped once"
    );
    all.into_iter().map(|(_, it)| it).collect()
}

#[cfg(test)]
mod tests {
    use super::{map, map_lazy, map_owned};

    #[test]
    fn keeps_order_whatever_the_size() {
        for n in [0, 1, 15, 16, 33, 1000] {
            let items: Vec<usize> = (0..n).collect();
            let doubled = map(&items, |it| it * 2);
            assert_eq!(doubled, items.iter().map(|it| it * 2).collect::<Vec<_>>());
            let owned = map_owned(items.clone(), |it| it * 2);
            assert_eq!(owned, doubled);
            let lazy = map_lazy(items.clone().into_iter(), |it| it * 2);
            assert_eq!(lazy, doubled);
        }
    }
}

/// A counting semaphore: at most `n` holders of a [`Slot`] at once.
#[derive(Debug)]
pub(crate) struct Slots {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

/// One of the [`Slots`], given back when dropped.
pub(crate) struct Slot<'a>(&'a Slots);

impl Slots {
    /// As many slots as the machine has cores.
    pub(crate) fn per_core() -> Slots {
        Slots {
            free: std::sync::Mutex::new(cores()),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Waits for a free slot and takes it.
    pub(crate) fn take(&self) -> Slot<'_> {
        // A poisoned lock only means a holder panicked; the count is still right.
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut free = self
            .0
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *free += 1;
        self.0.freed.notify_one();
    }
}
