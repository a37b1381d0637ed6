//! Images inside the 2-D engine. A batch of images is a value `[N, C·H·W]`: one row per
//! image, each row the image's channels one after another, each channel row-major
//! (PyTorch's NCHW, flattened per sample). So flattening between a convolutional and a
//! dense part is no op at all, and channel concatenation is column concatenation.
//! Spatial ops carry the [`ImageShape`] of their operand; the shape rule checks that it
//! matches the operand's columns.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Channels × height × width of one image in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        ImageShape {
            channels,
            height,
            width,
        }
    }

    /// Pixels of one channel, H·W.
    pub fn plane(self) -> usize {
        self.height * self.width
    }

    /// Values of one image, C·H·W (the row width).
    pub fn len(self) -> usize {
        self.channels * self.plane()
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Checks that a row of `cols` values holds exactly one such image.
    pub fn check_cols(self, cols: usize, what: &str) -> Result<(), String> {
        if self.is_empty() {
            return Err(format!("{what} image {self} is empty"));
        }
        if cols != self.len() {
            return Err(format!(
                "{what} image {self} needs rows of {} values, got {cols}",
                self.len()
            ));
        }
        Ok(())
    }
}

impl fmt::Display for ImageShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{}×{}", self.channels, self.height, self.width)
    }
}
