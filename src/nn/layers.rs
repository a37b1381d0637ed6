//! The layers without running state: dense, convolution (and its transpose), pooling,
//! upsampling, a lone activation, and a sequence of layers.

use std::sync::Arc;

use rand::Rng;

use crate::graph::{EntryId, GraphError, ParamStore, Shape, ValueId};
use crate::nn::init::Init;
use crate::nn::{dense, Forward, Module, NnError, Scope};
use crate::ops::{self, Activation, ConvGeometry, Direction, ImageShape, Op, PoolKind};

/// `act(x · W + b)` with W `[inputs, outputs]` (PyTorch's `nn.Linear` holds `Wᵀ`).
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: EntryId,
    pub bias: EntryId,
    /// Multiplies by `weightᵀ`: a tied layer reusing another layer's weight.
    pub transpose: bool,
    pub act: Activation,
    pub inputs: usize,
    pub outputs: usize,
}

impl Linear {
    /// Registers `scope.weight` (drawn by `init`) and `scope.bias` (zeros).
    pub fn new(
        store: &mut ParamStore,
        scope: &Scope,
        (inputs, outputs): (usize, usize),
        act: Activation,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self, NnError> {
        scope.check_room(store, Shape::new(inputs, outputs))?;
        let values = init.sample(rng, inputs, outputs, act);
        let weight = scope.register(store, "weight", Shape::new(inputs, outputs), values)?;
        let bias = scope.register(store, "bias", Shape::new(1, outputs), vec![0.0; outputs])?;
        Ok(Linear {
            weight,
            bias,
            transpose: false,
            act,
            inputs,
            outputs,
        })
    }

    /// The mirror of `encoder` sharing its weight (`x · Wᵀ`, no copy): registers only
    /// `scope.bias`.
    pub fn tied(
        store: &mut ParamStore,
        scope: &Scope,
        encoder: &Linear,
        act: Activation,
    ) -> Result<Self, NnError> {
        let outputs = encoder.inputs;
        let bias = scope.register(store, "bias", Shape::new(1, outputs), vec![0.0; outputs])?;
        Ok(Linear {
            weight: encoder.weight,
            bias,
            transpose: !encoder.transpose,
            act,
            inputs: encoder.outputs,
            outputs,
        })
    }

    /// The same layer with another activation (e.g. linear, for the logits).
    pub fn with_activation(&self, act: Activation) -> Self {
        Linear {
            act,
            ..self.clone()
        }
    }
}

impl Module for Linear {
    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        dense(
            cx.g,
            cx.store,
            x,
            self.weight,
            self.bias,
            self.transpose,
            self.act,
        )
    }
    /// The weight only when the layer owns it (a tied layer lists its bias alone).
    fn parameters(&self) -> Vec<EntryId> {
        if self.transpose {
            vec![self.bias]
        } else {
            vec![self.weight, self.bias]
        }
    }
    fn output_width(&self) -> usize {
        self.outputs
    }
}

/// `act(conv(x, W) + b)` on images `[N, C·H·W]`, with W `[OC, C·KH·KW]` (PyTorch's
/// `nn.Conv2d` weight flattened), or, built by [`Conv2d::transposed`], its transpose
/// (`nn.ConvTranspose2d`, W `[C_in, C_out·KH·KW]`). The bias and activation are the
/// convolution's epilogue.
#[derive(Clone, Debug)]
pub struct Conv2d {
    pub conv: ops::Conv,
    pub weight: EntryId,
    pub bias: EntryId,
}

impl Conv2d {
    /// A convolution from `geometry.image` to `geometry.features`.
    pub fn new(
        store: &mut ParamStore,
        scope: &Scope,
        geometry: ConvGeometry,
        act: Activation,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self, NnError> {
        Self::build(store, scope, geometry, Direction::Forward, act, init, rng)
    }

    /// A transposed convolution from `geometry.features` back to `geometry.image`.
    pub fn transposed(
        store: &mut ParamStore,
        scope: &Scope,
        geometry: ConvGeometry,
        act: Activation,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self, NnError> {
        Self::build(
            store,
            scope,
            geometry,
            Direction::Transposed,
            act,
            init,
            rng,
        )
    }

    fn build(
        store: &mut ParamStore,
        scope: &Scope,
        geometry: ConvGeometry,
        direction: Direction,
        act: Activation,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self, NnError> {
        geometry.validate().map_err(|e| scope.error(e))?;
        let conv = ops::Conv {
            geometry,
            direction,
            bias: true,
            act,
        };
        // Fan-in and fan-out count every tap of the window.
        let taps = geometry.kernel[0] * geometry.kernel[1];
        let (input, output) = conv.sides();
        let bound = init.bound(input.channels * taps, output.channels * taps, act);
        let shape = geometry.weight_shape();
        scope.check_room(store, shape)?;
        let values = (0..shape.len())
            .map(|_| rng.random_range(-bound..=bound))
            .collect();
        let weight = scope.register(store, "weight", shape, values)?;
        let bias = scope.register(
            store,
            "bias",
            Shape::new(1, output.channels),
            vec![0.0; output.channels],
        )?;
        Ok(Conv2d { conv, weight, bias })
    }

    /// The shape of each output image.
    pub fn output(&self) -> ImageShape {
        self.conv.sides().1
    }

    /// The same layer with another activation (e.g. linear, for the logits).
    pub fn with_activation(&self, act: Activation) -> Self {
        let mut layer = self.clone();
        layer.conv.act = act;
        layer
    }
}

impl Module for Conv2d {
    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        let (w, b) = (cx.entry(self.weight), cx.entry(self.bias));
        cx.g.push(Op::Conv(self.conv), &[x, w, b])
    }
    fn parameters(&self) -> Vec<EntryId> {
        vec![self.weight, self.bias]
    }
    fn output_width(&self) -> usize {
        self.output().len()
    }
}

/// Max or average pooling of square windows, no padding (`nn.MaxPool2d(size, stride)`).
#[derive(Clone, Copy, Debug)]
pub struct Pool2d {
    pub pool: ops::Pool,
}

impl Pool2d {
    pub fn new(
        kind: PoolKind,
        input: ImageShape,
        size: usize,
        stride: usize,
    ) -> Result<Self, String> {
        let pool = ops::Pool {
            kind,
            input,
            size,
            stride,
        };
        if size == 0 || stride == 0 || pool.output().is_empty() {
            return Err(format!(
                "a {size}×{size} pooling window with stride {stride} does not fit {input}"
            ));
        }
        Ok(Pool2d { pool })
    }

    pub fn output(&self) -> ImageShape {
        self.pool.output()
    }
}

impl Module for Pool2d {
    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        cx.g.push(Op::Pool(self.pool), &[x])
    }
    fn parameters(&self) -> Vec<EntryId> {
        vec![]
    }
    fn output_width(&self) -> usize {
        self.output().len()
    }
}

/// Nearest or bilinear upsampling by an integer factor (`nn.Upsample`).
#[derive(Clone, Copy, Debug)]
pub struct Upsample {
    pub up: ops::Upsample,
}

impl Upsample {
    pub fn new(mode: ops::UpsampleMode, input: ImageShape, factor: usize) -> Self {
        Upsample {
            up: ops::Upsample {
                mode,
                input,
                factor,
            },
        }
    }

    pub fn output(&self) -> ImageShape {
        self.up.output()
    }
}

impl Module for Upsample {
    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        cx.g.push(Op::Upsample(self.up), &[x])
    }
    fn parameters(&self) -> Vec<EntryId> {
        vec![]
    }
    fn output_width(&self) -> usize {
        self.output().len()
    }
}

/// An activation on its own (after a batch norm, where no matmul or convolution
/// epilogue can take it).
#[derive(Clone, Copy, Debug)]
pub struct Act {
    pub act: Activation,
    pub width: usize,
}

impl Module for Act {
    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        if self.act == Activation::Linear {
            return Ok(x);
        }
        cx.g.push(Op::Activate(self.act), &[x])
    }
    fn parameters(&self) -> Vec<EntryId> {
        vec![]
    }
    fn output_width(&self) -> usize {
        self.width
    }
}

/// Layers applied one after the other; child `i` lives at scope `parent.i`, as in
/// `nn.Sequential`.
#[derive(Clone, Debug, Default)]
pub struct Sequential {
    pub layers: Vec<Arc<dyn Module>>,
}

impl Sequential {
    pub fn new() -> Self {
        Sequential::default()
    }

    pub fn push(&mut self, layer: impl Module + 'static) {
        self.layers.push(Arc::new(layer));
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Layers `range` applied to `x`.
    pub fn forward_range(
        &self,
        cx: &mut Forward,
        x: ValueId,
        range: std::ops::Range<usize>,
    ) -> Result<ValueId, GraphError> {
        let mut h = x;
        for layer in &self.layers[range] {
            h = layer.forward(cx, h)?;
        }
        Ok(h)
    }
}

impl Module for Sequential {
    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        self.forward_range(cx, x, 0..self.layers.len())
    }
    fn parameters(&self) -> Vec<EntryId> {
        self.layers.iter().flat_map(|l| l.parameters()).collect()
    }
    fn buffers(&self) -> Vec<EntryId> {
        self.layers.iter().flat_map(|l| l.buffers()).collect()
    }
    fn output_width(&self) -> usize {
        self.layers.last().map_or(0, |l| l.output_width())
    }
}
