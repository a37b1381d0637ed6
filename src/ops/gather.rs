//! Row gather: `out[i, :] = data[idx[i], :]`. Batches are cut from a dataset that stays
//! resident on the device; the host only sends the batch's row indices. Data stored as
//! bytes (`k/255`, four per word) is expanded to f32 here.
//! Not differentiable: the data is not trained.
//! WGSL: `shaders/gather.wgsl`, entry `gather`, override constant `PACKED_U8`.

use crate::graph::{DType, Shape};
use crate::ops::Real;

pub fn shape(s: &[Shape], d: &[DType]) -> Result<Shape, String> {
    let (data, idx) = (s[0], s[1]);
    if d[1] != DType::U32 || idx.cols != 1 {
        return Err(format!(
            "indices must be a u32 column [n, 1], got {idx} of {:?}",
            d[1]
        ));
    }
    if data.is_empty() {
        return Err("cannot gather from empty data".into());
    }
    Ok(Shape::new(idx.rows, data.cols))
}

/// Gathers f32 rows; indices are held in `T` by [`Real::from_index`]. An index past the end
/// is an error, not a silent read.
pub fn cpu_f32<T: Real>(data: &[T], cols: usize, idx: &[T], out: &mut [T]) -> Result<(), String> {
    let rows = data.len() / cols;
    for (o, &i) in out.chunks_mut(cols).zip(idx) {
        let i = i.to_index();
        if i >= rows {
            return Err(format!("row index {i} is past the end of {rows} rows"));
        }
        o.copy_from_slice(&data[i * cols..(i + 1) * cols]);
    }
    Ok(())
}

pub fn cpu_u8<T: Real>(data: &[u8], cols: usize, idx: &[T], out: &mut [T]) -> Result<(), String> {
    let rows = data.len() / cols;
    for (o, &i) in out.chunks_mut(cols).zip(idx) {
        let i = i.to_index();
        if i >= rows {
            return Err(format!("row index {i} is past the end of {rows} rows"));
        }
        for (o, &b) in o.iter_mut().zip(&data[i * cols..(i + 1) * cols]) {
            // Division, not multiplication by 1/255: bit-identical to the loaders and WGSL.
            *o = T::from_f32(b as f32 / 255.0);
        }
    }
    Ok(())
}
