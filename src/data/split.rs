//! Holding out a validation set.

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
