//! Holding out a validation set; drawing a class-balanced labelled subset.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::{DataError, Dataset};

/// Splits `data` into `(train, validation)` at random: `round(rows * validation_fraction)`
/// rows go to validation, the rest to training, each part in shuffled order. The same
/// seed always gives the same split.
///
/// `validation_fraction` must be in `[0, 1)`; with 0 the training part is all the data
/// (shuffled) and the validation part is empty. With a positive fraction, both parts
/// must get at least one row.
pub fn train_validation_split(
    data: &Dataset,
    validation_fraction: f32,
    seed: u64,
) -> Result<(Dataset, Dataset), DataError> {
    if !(0.0..1.0).contains(&validation_fraction) {
        return Err(DataError::InvalidFraction {
            fraction: validation_fraction,
        });
    }
    let validation = (data.rows as f64 * f64::from(validation_fraction)).round() as usize;
    let train = data.rows - validation.min(data.rows);
    if validation_fraction > 0.0 && (validation == 0 || train == 0) {
        return Err(DataError::SplitTooSmall {
            rows: data.rows,
            fraction: validation_fraction,
            validation,
            train,
        });
    }
    let mut order: Vec<usize> = (0..data.rows).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let (validation_rows, train_rows) = order.split_at(validation);
    Ok((data.subset(train_rows), data.subset(validation_rows)))
}

/// `n` rows drawn without replacement so that every class gets ⌊n/K⌋ or ⌈n/K⌉ of them
/// (K the classes present; the extra rows go to the smallest labels first), fewer for a
/// class only when it runs out — the few-label setting of semi-supervised learning.
/// The same seed gives the same rows, in shuffled order.
pub fn balanced_subset(data: &Dataset, n: usize, seed: u64) -> Result<Dataset, DataError> {
    let labels = data.labels.as_ref().ok_or(DataError::NoLabels {
        hint: String::new(),
    })?;
    if n > data.rows {
        return Err(DataError::TooFewLabelled {
            asked: n,
            rows: data.rows,
        });
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    let mut by_class: Vec<Vec<usize>> = vec![vec![]; classes];
    for (i, &y) in labels.iter().enumerate() {
        by_class[y as usize].push(i);
    }
    for rows in &mut by_class {
        rows.shuffle(&mut rng);
    }
    // Round robin over the classes that still have rows.
    let mut picked = Vec::with_capacity(n);
    let mut depth = 0;
    while picked.len() < n {
        for rows in &by_class {
            if picked.len() < n && depth < rows.len() {
                picked.push(rows[depth]);
            }
        }
        depth += 1;
    }
    picked.shuffle(&mut rng);
    Ok(data.subset(&picked))
}
