//! Flag groups several kinds share (each kind's own flags live in its file). A kind
//! flattens a group into its flags; `aegpu train` adds each flag once (see
//! [`crate::models::registry::with_kind_args`]).

use clap::Args;

use crate::nn::init::Init;
use crate::ops::{Activation, ImageShape};

/// Activations and initialisation.
#[derive(Args, Debug, Clone)]
pub struct ActivationArgs {
    /// Activation of the hidden layers.
    #[arg(long, default_value = "relu")]
    pub activation: Activation,
    /// Activation of the output layer (default sigmoid, for data in [0, 1]; linear for
    /// a `--residual` conv model, an LSTM and a `--words` hashing model).
    #[arg(long)]
    pub output_activation: Option<Activation>,
    /// Weight initialisation: glorot, he, auto (he for relu layers). Default glorot for
    /// dense models, auto for convolutional ones.
    #[arg(long)]
    pub init: Option<Init>,
}

/// The images of a convolutional kind and its encoder's channels.
#[derive(Args, Debug, Clone)]
pub struct ImageArgs {
    /// Conv kinds: the image in each row, CxHxW (default 1x28x28 for MNIST, else 1×s×s
    /// when the columns are a square s²).
    #[arg(long)]
    pub image: Option<String>,
    /// Conv kinds: output channels of each encoder convolution.
    #[arg(long, value_delimiter = ',', default_value = "16,32")]
    pub channels: Vec<usize>,
    /// Conv kinds: kernel size (odd; padding k/2).
    #[arg(long, default_value_t = 3)]
    pub kernel: usize,
}

impl ImageArgs {
    /// The image of each row of data `data_spec` with `cols` columns.
    pub fn input(&self, data_spec: &str, cols: usize) -> Result<ImageShape, String> {
        let input = match &self.image {
            Some(s) => parse_image_shape(s)?,
            None if matches!(data_spec, "mnist" | "mnist:train" | "mnist:test") => {
                ImageShape::new(1, 28, 28)
            }
            None => {
                let side = (cols as f64).sqrt().round() as usize;
                if side * side != cols || cols == 0 {
                    return Err(format!(
                        "the data has {cols} columns, not a square grey image: give --image CxHxW"
                    ));
                }
                ImageShape::new(1, side, side)
            }
        };
        if input.len() != cols {
            return Err(format!(
                "--image {input} needs {} columns, the data has {cols}",
                input.len()
            ));
        }
        Ok(input)
    }
}

/// Parses `CxHxW` (`x` or `×` between the numbers).
pub fn parse_image_shape(s: &str) -> Result<ImageShape, String> {
    let parts: Vec<&str> = s.split(['x', 'X', '×']).map(str::trim).collect();
    let bad = || format!("--image {s}: expected CxHxW, e.g. 1x28x28 or 3x64x64");
    if parts.len() != 3 {
        return Err(bad());
    }
    let n: Vec<usize> = parts
        .iter()
        .map(|p| p.parse::<usize>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if n.contains(&0) {
        return Err(bad());
    }
    Ok(ImageShape::new(n[0], n[1], n[2]))
}
