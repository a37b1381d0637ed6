//! Batch normalisation as a layer over the `batchnorm` ops: in training, the batch's
//! statistics plus the in-place update of the running ones (a side effect the planner
//! runs after the step's reads); in evaluation, the running statistics.

use crate::graph::{EntryId, GraphError, ParamStore, Shape, ValueId};
use crate::nn::{Forward, Mode, Module, NnError, Scope};
use crate::ops::batchnorm::{DEFAULT_EPS, DEFAULT_MOMENTUM};
use crate::ops::{self, ImageShape, Op};

/// `nn.BatchNorm2d` over images (or `nn.BatchNorm1d` over dense features, images
/// C×1×1): parameters `weight` (γ, ones) and `bias` (β, zeros), buffers
/// `running_mean` (zeros) and `running_var` (ones), PyTorch's names and defaults.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub bn: ops::BatchNorm,
    pub momentum: f32,
    pub weight: EntryId,
    pub bias: EntryId,
    pub running_mean: EntryId,
    pub running_var: EntryId,
}

impl BatchNorm {
    /// PyTorch's defaults: ε = 1e-5, momentum 0.1.
    pub fn new(store: &mut ParamStore, scope: &Scope, image: ImageShape) -> Result<Self, NnError> {
        let c = image.channels;
        if image.is_empty() {
            return Err(scope.error(format!("batch norm over an empty image {image}")));
        }
        let row = Shape::new(1, c);
        Ok(BatchNorm {
            bn: ops::BatchNorm::new(image, DEFAULT_EPS),
            momentum: DEFAULT_MOMENTUM,
            weight: scope.register(store, "weight", row, vec![1.0; c])?,
            bias: scope.register(store, "bias", row, vec![0.0; c])?,
            running_mean: scope.register(store, "running_mean", row, vec![0.0; c])?,
            running_var: scope.register(store, "running_var", row, vec![1.0; c])?,
        })
    }
}

impl Module for BatchNorm {
    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        let (gamma, beta) = (cx.entry(self.weight), cx.entry(self.bias));
        let (mean, var) = (cx.entry(self.running_mean), cx.entry(self.running_var));
        match cx.mode {
            Mode::Train => {
                let y = cx.g.push(Op::BatchNormTrain(self.bn), &[x, gamma, beta])?;
                cx.g.push(
                    Op::BatchNormRunning {
                        bn: self.bn,
                        momentum: self.momentum,
                    },
                    &[mean, var, x],
                )?;
                Ok(y)
            }
            Mode::Eval => {
                cx.g.push(Op::BatchNormEval(self.bn), &[x, gamma, beta, mean, var])
            }
        }
    }
    fn parameters(&self) -> Vec<EntryId> {
        vec![self.weight, self.bias]
    }
    fn buffers(&self) -> Vec<EntryId> {
        vec![self.running_mean, self.running_var]
    }
    fn output_width(&self) -> usize {
        self.bn.image.len()
    }
}
