//! Checkpoints: everything a minibatch run needs to continue exactly where it stopped.
//!
//! A checkpoint is a safetensors file holding
//! - every parameter (under the model's own tensor names, so the file also loads as a
//!   model: `aegpu eval --model run.ckpt.safetensors` works),
//! - every optimiser state entry of every parameter group and the epoch's terms
//!   accumulator (`<name>.optim<k>` or `<name>.<group>.optim<k>`, `train.terms`),
//! - with early stopping, the best epoch's weights (`best/<name>`),
//!
//! and in its metadata (`aegpu.checkpoint`, JSON) the position in the run (the next
//! epoch and batch, the global step), the training settings, every phase's
//! learning-rate schedule and early stopping's bookkeeping, the epoch reports so far and a
//! fingerprint of the training data.
//!
//! No random generator state needs saving: the epoch shuffles are replayed from the
//! seed (one shuffle per finished epoch, milliseconds), and every noise or dropout
//! draw is Philox keyed by (seed, step), so the step counter *is* the generator state.
//! Resuming therefore reproduces the uninterrupted run bit for bit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::graph::{EntryId, EntryKind, ParamStore, Shape};
use crate::io::{load_safetensors, save_safetensors, IoError, NamedTensor};
use crate::models::file::find_parameters;
use crate::models::ModelError;
use crate::train::schedule::{EarlyStopping, LearningRate};
use crate::train::{EpochReport, TrainError};

/// Bumped when the layout of a checkpoint changes (2: phases, named terms).
pub(crate) const FORMAT: u32 = 2;
const STATE_KEY: &str = "aegpu.checkpoint";
/// Prefix of the tensors holding the best epoch's weights (early stopping).
const BEST_PREFIX: &str = "best/";

/// Where a run continues: a checkpoint taken after `next_batch` batches of
/// `next_epoch` (0: before that epoch started).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// 1-based epoch the run continues in.
    pub next_epoch: usize,
    /// Batches of that epoch already done (0: the epoch has not started).
    pub next_batch: usize,
    /// Steps (batches) done over the whole run.
    pub step: u64,
}

/// Which data a run trained on: enough to refuse resuming on different data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFingerprint {
    pub rows: usize,
    pub cols: usize,
    /// FNV-1a over the bits of every value.
    pub hash: u64,
}

impl DataFingerprint {
    pub fn of(data: &Dataset) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for v in &data.values {
            hash ^= u64::from(v.to_bits());
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        DataFingerprint {
            rows: data.rows,
            cols: data.cols,
            hash,
        }
    }
}

/// The bookkeeping half of a checkpoint (the tensors are the other half).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub format: u32,
    pub position: Position,
    /// The run's settings ([`crate::train::Task::settings`]).
    pub config: serde_json::Value,
    pub data: DataFingerprint,
    /// Every phase's learning rate, in phase order.
    pub schedules: Vec<LearningRate>,
    pub stopping: Option<EarlyStopping>,
    /// The reports of the epochs finished so far.
    pub epochs: Vec<EpochReport>,
    /// Full-batch runs: L-BFGS's scalars (its vectors are tensors of the checkpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lbfgs: Option<crate::train::lbfgs::LbfgsState>,
}

impl RunState {
    /// The fields agree with each other, as the trainer writes them: the position
    /// follows the epochs reported (one report per finished epoch, numbered from 1, their
    /// steps increasing), the step count adds up, and the batch lies inside an epoch. A file
    /// edited by hand (say a position far past its epochs, which would make the resumed
    /// run replay billions of shuffles) is refused here, before anything runs.
    pub fn check_consistent(&self) -> Result<(), String> {
        let p = self.position;
        if p.next_epoch == 0 {
            return Err("its position says epoch 0; epochs count from 1".into());
        }
        if self.epochs.len() != p.next_epoch - 1 {
            return Err(format!(
                "its position (epoch {}) does not follow its {} epoch reports",
                p.next_epoch,
                self.epochs.len()
            ));
        }
        let mut last_step = 0;
        for (i, e) in self.epochs.iter().enumerate() {
            if e.epoch != i + 1 || e.step < last_step {
                return Err(format!(
                    "epoch report {} says epoch {} at step {} (after step {last_step})",
                    i + 1,
                    e.epoch,
                    e.step
                ));
            }
            last_step = e.step;
        }
        let expected = last_step.checked_add(p.next_batch as u64);
        if expected != Some(p.step) {
            return Err(format!(
                "its step {} is not the {last_step} steps of its finished epochs plus the \
                 {} batches of epoch {}",
                p.step, p.next_batch, p.next_epoch
            ));
        }
        let steps_per_epoch = match self.epochs.first() {
            Some(first) => first.step as usize,
            None => usize::MAX,
        };
        if p.next_batch >= steps_per_epoch.max(1) {
            return Err(format!(
                "its position (batch {}) is past the {steps_per_epoch} batches of an epoch",
                p.next_batch
            ));
        }
        if self.data.rows == 0 || self.data.cols == 0 {
            return Err("its data fingerprint has no rows or no columns".into());
        }
        Ok(())
    }
}

/// A checkpoint read from disk.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub path: PathBuf,
    pub kind: String,
    pub model_config: serde_json::Value,
    pub state: RunState,
    pub tensors: Vec<NamedTensor>,
}

impl Checkpoint {
    /// Reads a checkpoint written by [`save`]; any other safetensors file (a model
    /// saved by `train`, say) is refused with a message that says so.
    pub fn load(path: &Path) -> Result<Checkpoint, TrainError> {
        let (tensors, meta) = load_safetensors(path)?;
        let bad = |detail: String| TrainError::Checkpoint {
            path: path.to_path_buf(),
            detail,
        };
        let state: RunState = match meta.get(STATE_KEY) {
            Some(s) => {
                serde_json::from_str(s).map_err(|e| bad(format!("unreadable run state: {e}")))?
            }
            None => {
                return Err(bad(
                    "not a checkpoint (no run state in its metadata; a model file \
                     cannot be resumed)"
                        .into(),
                ))
            }
        };
        if state.format != FORMAT {
            return Err(bad(format!(
                "checkpoint format {} is not the {FORMAT} this build reads",
                state.format
            )));
        }
        state.check_consistent().map_err(bad)?;
        let model_config = meta
            .get("aegpu.config")
            .and_then(|c| serde_json::from_str(c).ok())
            .ok_or_else(|| bad("no readable `aegpu.config` in its metadata".into()))?;
        Ok(Checkpoint {
            path: path.to_path_buf(),
            kind: meta.get("aegpu.kind").cloned().unwrap_or_default(),
            model_config,
            state,
            tensors,
        })
    }

    /// Refuses to resume a run of another model, other settings or other data; the
    /// error names what differs. Only the number of epochs may change (to extend a
    /// run; with a cosine schedule the rate then follows the new length).
    pub fn check_compatible(
        &self,
        kind: &str,
        model_config: &serde_json::Value,
        settings: &serde_json::Value,
        epochs: usize,
        data: &Dataset,
    ) -> Result<(), TrainError> {
        let bad = |detail: String| TrainError::Checkpoint {
            path: self.path.clone(),
            detail,
        };
        let as_saved = |v: &serde_json::Value| -> serde_json::Value {
            serde_json::from_str(&v.to_string()).unwrap_or(serde_json::Value::Null)
        };
        if self.kind != kind || self.model_config != as_saved(model_config) {
            return Err(bad(format!(
                "it holds another model ({} {}), not this run's {kind} {model_config}",
                self.kind, self.model_config,
            )));
        }
        // Only the length of the run and how often its loss is read may change. Both
        // sides go through JSON text, as the saved one did (an f32 read back as f64).
        let comparable = |v: &serde_json::Value| {
            let mut v = as_saved(v);
            if let Some(o) = v.as_object_mut() {
                o.remove("epochs");
                o.remove("loss_every");
            }
            v
        };
        let (ours, theirs) = (comparable(settings), comparable(&self.state.config));
        if let (Some(a), Some(b)) = (ours.as_object(), theirs.as_object()) {
            let keys = b.keys().chain(a.keys().filter(|k| !b.contains_key(*k)));
            let mut differing = keys.filter(|k| a.get(*k) != b.get(*k));
            if let Some(key) = differing.next() {
                let null = serde_json::Value::Null;
                let value = b.get(key).unwrap_or(&null);
                return Err(bad(format!(
                    "it was trained with {key} = {value}, this run asks for {}",
                    a.get(key).unwrap_or(&serde_json::Value::Null)
                )));
            }
        }
        let fingerprint = DataFingerprint::of(data);
        if fingerprint != self.state.data {
            let (a, b) = (self.state.data, fingerprint);
            return Err(bad(if (a.rows, a.cols) == (b.rows, b.cols) {
                format!(
                    "it was trained on other data of the same size ({} rows × {} columns)",
                    a.rows, a.cols
                )
            } else {
                format!(
                    "it was trained on {} rows × {} columns, this run has {} × {}",
                    a.rows, a.cols, b.rows, b.cols
                )
            }));
        }
        // A run that finished every epoch (killed before its model was saved) resumes
        // into no more epochs and ends as it would have: with its model saved.
        if self.state.position.next_epoch > epochs + 1 {
            return Err(bad(format!(
                "it already finished {} epochs, more than this run asks for",
                self.state.position.next_epoch - 1
            )));
        }
        Ok(())
    }

    /// Copies the saved parameters, optimiser state and accumulator into `store`
    /// (checking every name and shape) and returns the best epoch's weights, if saved.
    pub fn restore_into(
        &self,
        store: &mut ParamStore,
    ) -> Result<Vec<(EntryId, Vec<f32>)>, TrainError> {
        let ids: Vec<EntryId> = saved_entries(store).collect();
        let shapes: Vec<(String, Shape)> = ids
            .iter()
            .map(|&id| (store.get(id).name.clone(), store.get(id).shape))
            .collect();
        let found = find_parameters(&self.path, &self.tensors, &shapes).map_err(|e| {
            TrainError::Checkpoint {
                path: self.path.clone(),
                detail: match e {
                    ModelError::Incompatible { detail, .. } => detail,
                    other => other.to_string(),
                },
            }
        })?;
        let mut best = vec![];
        for ((&id, (name, shape)), t) in ids.iter().zip(&shapes).zip(found) {
            store.set_values(id, t.values.clone());
            let best_name = format!("{BEST_PREFIX}{name}");
            let saved_best = self.tensors.iter().find(|b| b.name == best_name);
            if let Some(b) = saved_best.filter(|b| b.shape == [shape.rows, shape.cols]) {
                best.push((id, b.values.clone()));
            }
        }
        Ok(best)
    }
}

/// The entries a checkpoint holds: parameters and state (not resident data).
fn saved_entries(store: &ParamStore) -> impl Iterator<Item = EntryId> + '_ {
    store
        .ids()
        .filter(|&id| matches!(store.get(id).kind, EntryKind::Parameter | EntryKind::State))
}

/// Writes a checkpoint of `model`'s store (whose values must be current: download them
/// from the backend first) atomically to `path`.
pub fn save(
    path: &Path,
    kind: &str,
    model_config: &serde_json::Value,
    store: &ParamStore,
    state: &RunState,
    best_weights: &[(EntryId, Vec<f32>)],
) -> Result<(), TrainError> {
    let tensor = |name: String, shape: Shape, values: Vec<f32>| NamedTensor {
        name,
        shape: vec![shape.rows, shape.cols],
        values,
    };
    let mut tensors: Vec<NamedTensor> = saved_entries(store)
        .map(|id| {
            let e = store.get(id);
            tensor(e.name.clone(), e.shape, store.values(id).to_vec())
        })
        .collect();
    // The last good checkpoint is never replaced by one that holds NaN or infinity.
    if let Some(bad) = tensors
        .iter()
        .find(|t| t.values.iter().any(|v| !v.is_finite()))
    {
        return Err(TrainError::Checkpoint {
            path: path.to_path_buf(),
            detail: format!(
                "`{}` holds a non-finite value, so this checkpoint was not written \
                 (the previous one, if any, is kept): training diverged",
                bad.name
            ),
        });
    }
    for (id, values) in best_weights {
        let e = store.get(*id);
        tensors.push(tensor(
            format!("{BEST_PREFIX}{}", e.name),
            e.shape,
            values.clone(),
        ));
    }
    let json = |v: serde_json::Result<String>| {
        v.map_err(|e| TrainError::Checkpoint {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })
    };
    let mut meta = BTreeMap::new();
    meta.insert("aegpu.kind".to_string(), kind.to_string());
    meta.insert(
        "aegpu.config".to_string(),
        json(serde_json::to_string(model_config))?,
    );
    meta.insert(STATE_KEY.to_string(), json(serde_json::to_string(state))?);
    save_safetensors(path, &tensors, &meta).map_err(|e: IoError| e.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_data_apart() {
        let a = Dataset::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        let b = Dataset::new(2, 2, vec![0.0, 1.0, 2.0, 3.5]).unwrap();
        let c = Dataset::new(1, 4, vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(DataFingerprint::of(&a), DataFingerprint::of(&a.clone()));
        assert_ne!(DataFingerprint::of(&a), DataFingerprint::of(&b));
        assert_ne!(DataFingerprint::of(&a), DataFingerprint::of(&c));
    }
}
