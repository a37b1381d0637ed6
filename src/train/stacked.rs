//! Stacked autoencoders: greedy layer-wise pretraining, unrolling, fine-tuning
//! (Bengio et al. 2007; Hinton & Salakhutdinov 2006; Vincent et al. 2010 with
//! denoising stages).
//!
//! For a deep network `widths[0] → … → widths[L]`, stage k trains a shallow tied
//! autoencoder `widths[k] → widths[k+1] → widths[k]` on the codes of stage k − 1 (stage
//! 0 on the data), with the stage settings (any regulariser: each stage may be
//! denoising or sparse). The deep autoencoder is then unrolled: encoder layer k is
//! stage k's encoder, and decoder layer `L−1−k` multiplies by the transpose of that
//! weight — shared when the deep network is tied, copied and then trained freely when
//! it is not — with stage k's decoder bias. Finally the whole network is fine-tuned
//! end to end with the fine-tuning settings.
//!
//! Each stage's activations are the deep network's own: stage k's encoder uses the
//! activation of encoder layer k and its decoder that of the decoder layer it becomes,
//! so the unrolled network computes what the stages learned.

use serde::Serialize;

use crate::backend::Backend;
use crate::data::Dataset;
use crate::models::{DenseAutoencoder, DenseConfig};
use crate::ops::Loss;
use crate::train::{fit, run_rows, Progress, RowOutput, TrainConfig, TrainError, TrainReport};

/// Which part of the schedule a progress event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackedStage {
    /// Pretraining stage `index` (0-based) of `of`.
    Stage {
        index: usize,
        of: usize,
    },
    FineTune,
}

#[derive(Clone, Debug, Serialize)]
pub struct StackedReport {
    pub stages: Vec<TrainReport>,
    /// None when fine-tuning was skipped (0 epochs).
    pub fine_tune: Option<TrainReport>,
}

/// Pretrains `config` layer by layer with `stage` settings, unrolls it and fine-tunes
/// it with `fine_tune` settings (skipped when `fine_tune.epochs` is 0). Stages after
/// the first always use MSE (they reconstruct codes, not data in [0, 1]).
#[allow(clippy::too_many_arguments)]
pub fn fit_stacked(
    config: &DenseConfig,
    seed: u64,
    backend: &mut dyn Backend,
    train: &Dataset,
    validation: Option<&Dataset>,
    stage: &TrainConfig,
    fine_tune: &TrainConfig,
    on_progress: &mut dyn FnMut(StackedStage, Progress),
) -> Result<(DenseAutoencoder, StackedReport), TrainError> {
    config
        .validate()
        .map_err(|e| TrainError::Config(e.to_string()))?;
    let depth = config.depth();
    let mut stages = vec![];
    let mut reports = vec![];
    // Stage k's training (and validation) data: the data, then each stage's codes.
    let mut stage_train = train.clone();
    let mut stage_validation = validation.cloned();
    for k in 0..depth {
        let shallow_config = DenseConfig {
            widths: vec![config.widths[k], config.widths[k + 1]],
            activations: vec![config.activations[k], config.activations[2 * depth - 1 - k]],
            tied: true,
            init: config.init,
        };
        let mut shallow = DenseAutoencoder::new(shallow_config, seed.wrapping_add(k as u64))
            .map_err(|e| TrainError::Config(e.to_string()))?;
        let mut cfg = stage.clone();
        cfg.seed = stage.seed.wrapping_add(k as u64);
        if k > 0 {
            cfg.loss = Loss::Mse;
        }
        let phase = StackedStage::Stage {
            index: k,
            of: depth,
        };
        let report = fit(
            &mut shallow,
            backend,
            &stage_train,
            stage_validation.as_ref(),
            &cfg,
            &mut |p| on_progress(phase, p),
        )?;
        reports.push(report);
        if k + 1 < depth {
            stage_train = codes(&shallow, backend, &stage_train)?;
            stage_validation = match &stage_validation {
                Some(v) => Some(codes(&shallow, backend, v)?),
                None => None,
            };
        }
        stages.push(shallow);
    }

    let mut deep = DenseAutoencoder::new(config.clone(), seed)
        .map_err(|e| TrainError::Config(e.to_string()))?;
    for (k, shallow) in stages.iter().enumerate() {
        let (w, b) = shallow.encoder_layer(0);
        let (_, shallow_decoder_bias) = shallow.decoder_layer(0);
        let (deep_w, deep_b) = deep.encoder_layer(k);
        let weight = shallow.store.values(w).to_vec();
        deep.store.set_values(deep_w, weight.clone());
        deep.store
            .set_values(deep_b, shallow.store.values(b).to_vec());
        let (deep_dw, deep_db) = deep.decoder_layer(depth - 1 - k);
        if let Some(deep_dw) = deep_dw {
            let (rows, cols) = (config.widths[k], config.widths[k + 1]);
            deep.store
                .set_values(deep_dw, transpose(&weight, rows, cols));
        }
        deep.store
            .set_values(deep_db, shallow.store.values(shallow_decoder_bias).to_vec());
    }
    let fine_tune_report = if fine_tune.epochs > 0 {
        Some(fit(
            &mut deep,
            backend,
            train,
            validation,
            fine_tune,
            &mut |p| on_progress(StackedStage::FineTune, p),
        )?)
    } else {
        // The unrolled weights are not on the backend yet; callers evaluate next.
        backend.upload_store(&deep.store)?;
        None
    };
    Ok((
        deep,
        StackedReport {
            stages: reports,
            fine_tune: fine_tune_report,
        },
    ))
}

/// The codes of every row of `data` under `model` (whose weights [`fit`] left on the
/// backend), as a dataset for the next stage.
fn codes(
    model: &DenseAutoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
) -> Result<Dataset, TrainError> {
    let values = run_rows(model, backend, data, RowOutput::Code)?;
    Dataset::new(data.rows, model.config.code_width(), values)
        .map_err(|e| TrainError::Config(e.to_string()))
}

/// `[rows, cols]` row-major → `[cols, rows]`.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; x.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = x[i * cols + j];
        }
    }
    t
}
