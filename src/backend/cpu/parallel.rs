//! Spreading a launch over the cores. The op references stay plain sequential loops;
//! this only cuts their operands into per-thread ranges (whole rows for matmuls).

/// Below this many elements a launch runs on one thread: spawning costs more than it
/// saves.
const MIN_PARALLEL_LEN: usize = 16 * 1024;

/// One thread's share: where its range starts, and its ranges of the written and of
/// the read operands.
type Share<'a, T> = (usize, Vec<&'a mut [T]>, Vec<&'a [T]>);

/// Runs `f` over matching ranges of every slice in `muts` and `ins` (all of length
/// `len`), one range per thread, cut at multiples of `align` (e.g. a row length).
/// `f` also gets the index its range starts at.
pub fn for_ranges<T: Send + Sync>(
    threads: usize,
    len: usize,
    align: usize,
    mut muts: Vec<&mut [T]>,
    ins: Vec<&[T]>,
    f: impl Fn(&mut [&mut [T]], &[&[T]], usize) + Sync,
) {
    let align = align.max(1);
    let units = len / align;
    let threads = threads.min(units).max(1);
    if threads == 1 || len < MIN_PARALLEL_LEN {
        f(&mut muts, &ins, 0);
        return;
    }
    // Range k is [starts[k], starts[k + 1]); the last one takes the remainder.
    let per = units.div_ceil(threads) * align;
    let starts: Vec<usize> = (0..threads)
        .map(|k| (k * per).min(len))
        .chain([len])
        .collect();
    let mut parts: Vec<Share<T>> = starts[..threads]
        .iter()
        .map(|&a| (a, vec![], vec![]))
        .collect();
    for m in muts {
        let mut rest = &mut m[..len];
        for (k, part) in parts.iter_mut().enumerate() {
            let (head, tail) = rest.split_at_mut(starts[k + 1] - starts[k]);
            part.1.push(head);
            rest = tail;
        }
    }
    for i in ins {
        let mut rest = &i[..len];
        for (k, part) in parts.iter_mut().enumerate() {
            let (head, tail) = rest.split_at(starts[k + 1] - starts[k]);
            part.2.push(head);
            rest = tail;
        }
    }
    rayon::scope(|s| {
        let f = &f;
        let mut parts = parts.into_iter();
        let first = parts.next();
        for (start, mut m, i) in parts {
            s.spawn(move |_| f(&mut m, &i, start));
        }
        if let Some((start, mut m, i)) = first {
            f(&mut m, &i, start);
        }
    });
}

/// Runs `f` over ranges of whole rows of `out` (`cols` wide), one range per thread,
/// giving it the same rows of each operand (a slice and its row width): for ops whose
/// rows (images) are independent but whose operands are not as wide as their output.
pub fn for_rows<T: Send + Sync>(
    threads: usize,
    out: &mut [T],
    cols: usize,
    operands: &[(&[T], usize)],
    f: impl Fn(&[&[T]], &mut [T]) + Sync,
) {
    for_ranges(
        threads,
        out.len(),
        cols,
        vec![out],
        vec![],
        |o, _, start| {
            let rows = start / cols..(start + o[0].len()) / cols;
            let ins: Vec<&[T]> = operands
                .iter()
                .map(|&(x, c)| &x[rows.start * c..rows.end * c])
                .collect();
            f(&ins, o[0])
        },
    )
}
