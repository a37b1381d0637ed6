//! Weight initialisation (uniform variants, so no extra distribution crate):
//! - Glorot/Xavier (Glorot & Bengio 2010): U(±√(6/(fan_in+fan_out))), keeps the
//!   variance of activations and gradients for sigmoid, tanh and linear layers.
//! - He/Kaiming (He et al. 2015): U(±√(6/fan_in)), variance 2/fan_in, for relu-like
//!   layers whose half-zero outputs halve the variance.

use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::ops::Activation;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// He for relu/leaky relu layers, Glorot for the others.
    Auto,
    Glorot,
    He,
}

impl Init {
    pub fn bound(self, fan_in: usize, fan_out: usize, act: Activation) -> f32 {
        let he = match self {
            Init::Auto => matches!(act, Activation::Relu | Activation::LeakyRelu { .. }),
            Init::Glorot => false,
            Init::He => true,
        };
        if he {
            (6.0 / fan_in as f32).sqrt()
        } else {
            (6.0 / (fan_in + fan_out) as f32).sqrt()
        }
    }

    /// A `[fan_in, fan_out]` weight drawn from the uniform distribution above.
    pub fn sample(
        self,
        rng: &mut impl Rng,
        fan_in: usize,
        fan_out: usize,
        act: Activation,
    ) -> Vec<f32> {
        let a = self.bound(fan_in, fan_out, act);
        (0..fan_in * fan_out)
            .map(|_| rng.random_range(-a..=a))
            .collect()
    }
}

impl FromStr for Init {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Init::Auto),
            "glorot" | "xavier" => Ok(Init::Glorot),
            "he" | "kaiming" => Ok(Init::He),
            other => Err(format!(
                "unknown initialisation `{other}` (expected auto, glorot, he)"
            )),
        }
    }
}
