//! Spreading a launch over the cores. The op references stay plain sequential loops;
//! this only cuts their operands into per-thread ranges (whole rows for matmuls).

/// Below this many elements a launch runs on one thread: spawning costs more than it
/// saves.
const MIN_PARALLEL_LEN: usize = 16 * 1024;

/// One thread's share: its ranges of the written and of the read operands.
type Share<'a, T> = (Vec<&'a mut [T]>, Vec<&'a [T]>);

/// Runs `f` over matching ranges of every slice in `muts` and `ins` (all of length
/// `len`), one range per thread, cut at multiples of `align` (e.g. a row length).
pub fn for_ranges<T: Send + Sync>(
    threads: usize,
    len: usize,
    align: usize,
    mut muts: Vec<&mut [T]>,
    ins: Vec<&[T]>,
    f: impl Fn(&mut [&mut [T]], &[&[T]]) + Sync,
) {
    let align = align.max(1);
    let units = len / align;
    let threads = threads.min(units).max(1);
    if threads == 1 || len < MIN_PARALLEL_LEN {
        f(&mut muts, &ins);
        return;
    }
    let per = units.div_ceil(threads) * align;
    let mut parts: Vec<Share<T>> = (0..threads).map(|_| (vec![], vec![])).collect();
    for m in muts {
        let mut rest = &mut m[..len];
        for (k, part) in parts.iter_mut().enumerate() {
            // The last range takes the remainder (len need not divide evenly).
            let take = if k + 1 == threads {
                rest.len()
            } else {
                per.min(rest.len())
            };
            let (head, tail) = rest.split_at_mut(take);
            part.0.push(head);
            rest = tail;
        }
    }
    for i in ins {
        let mut rest = &i[..len];
        for (k, part) in parts.iter_mut().enumerate() {
            let take = if k + 1 == threads {
                rest.len()
            } else {
                per.min(rest.len())
            };
            let (head, tail) = rest.split_at(take);
            part.1.push(head);
            rest = tail;
        }
    }
    rayon::scope(|s| {
        let f = &f;
        let mut parts = parts.into_iter();
        let first = parts.next();
        for (mut m, i) in parts {
            s.spawn(move |_| f(&mut m, &i));
        }
        if let Some((mut m, i)) = first {
            f(&mut m, &i);
        }
    });
}
