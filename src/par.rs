//! Data parallelism on scoped threads, for the few passes of `lint` that
//! are linear in the cluster and independent per item (route-table
//! servers, Ingresses, probed servers). No thread pool crate: each pass
//! spawns at most one thread per core (capped at 8) and joins it, which at
//! these sizes (milliseconds per chunk) costs nothing measurable, and the
//! results come back in input order, so every caller gets exactly what one
//! sequential pass would.

/// Threads to use: one per core, at most 8.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8)
}

/// `f` over contiguous chunks of `items`, in chunk order. With at least
/// `min` items the chunks run on scoped threads; otherwise `f` sees all
/// of `items` at once.
pub(crate) fn chunks<'a, T: Sync, R: Send>(
    items: &'a [T],
    min: usize,
    f: impl Fn(&'a [T]) -> R + Sync,
) -> Vec<R> {
    match size(items.len(), min) {
        None => vec![f(items)],
        Some(size) => on_threads(items.chunks(size), f),
    }
}

/// `f` over owned contiguous chunks of `items` (with the index of each
/// chunk's first item), in chunk order; as [`chunks`] for items a pass
/// consumes.
pub(crate) fn owned_chunks<T: Send, R: Send>(
    items: Vec<T>,
    min: usize,
    f: impl Fn(usize, Vec<T>) -> R + Sync,
) -> Vec<R> {
    let Some(size) = size(items.len(), min) else {
        return vec![f(0, items)];
    };
    let mut rest = items.into_iter();
    let parts = (0..).step_by(size).map_while(|at| {
        let part: Vec<T> = rest.by_ref().take(size).collect();
        (!part.is_empty()).then_some((at, part))
    });
    on_threads(parts, |(at, part)| f(at, part))
}

/// The chunk size for `len` items on the cores, or `None` to run on this
/// thread (fewer than `min` items, or one core).
fn size(len: usize, min: usize) -> Option<usize> {
    let threads = threads();
    (len >= min.max(2) && threads >= 2).then(|| len.div_ceil(threads))
}

/// `f` over each part, one scoped thread per part, results in part order.
fn on_threads<P: Send, R: Send>(
    parts: impl Iterator<Item = P>,
    f: impl Fn(P) -> R + Sync,
) -> Vec<R> {
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts.map(|p| scope.spawn(move || f(p))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Drop `value` on a thread of its own, off the caller's path: freeing a
/// large route table or report (millions of small allocations) costs tens
/// of milliseconds that a command about to print and exit need not wait
/// for. If the process exits first, the memory goes back with it.
pub(crate) fn discard<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("discard".into())
        .spawn(move || drop(value));
    // No thread to be had: the value was dropped with the closure here.
    drop(spawned);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_concatenate_to_one_pass() {
        let items: Vec<u32> = (0..1001).collect();
        let parts = chunks(&items, 2, |c| c.iter().map(|x| x * 2).collect::<Vec<_>>());
        let flat: Vec<u32> = parts.into_iter().flatten().collect();
        assert_eq!(flat, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn owned_chunks_keep_order_and_offsets() {
        let items: Vec<usize> = (0..1003).collect();
        let parts = owned_chunks(items.clone(), 2, |at, c| {
            c.into_iter()
                .enumerate()
                .map(|(k, x)| (at + k, x))
                .collect::<Vec<_>>()
        });
        let flat: Vec<(usize, usize)> = parts.into_iter().flatten().collect();
        assert_eq!(flat.len(), items.len());
        assert!(flat.iter().all(|(i, x)| i == x));
    }

    #[test]
    fn below_the_minimum_is_one_call() {
        let parts = owned_chunks(vec![1, 2, 3], 10, |at, c| (at, c.len()));
        assert_eq!(parts, vec![(0, 3)]);
    }
}
