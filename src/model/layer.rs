//! The vocabulary layer settings share: activation functions and padding rules. The layer kinds
//! themselves are in `crate::layers`, one file each.

use serde::{Deserialize, Serialize};

/// An element-wise (or, for softmax, per-sample) activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Identity: no activation.
    Linear,
    /// max(0, x).
    Relu,
    /// max(slope·x, x) with a small slope (0.01).
    LeakyRelu,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Normalised exponentials over the last axis: turns scores into probabilities.
    Softmax,
    /// Gaussian error linear unit (tanh approximation).
    Gelu,
}

impl Activation {
    /// Every activation, identity first.
    pub const ALL: [Activation; 7] = [
        Self::Linear,
        Self::Relu,
        Self::LeakyRelu,
        Self::Sigmoid,
        Self::Tanh,
        Self::Softmax,
        Self::Gelu,
    ];

    /// Name shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Relu => "ReLU",
            Self::LeakyRelu => "LeakyReLU",
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
            Self::Softmax => "softmax",
            Self::Gelu => "GELU",
        }
    }
}

/// How a convolution treats the border of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding: the output shrinks by kernel − 1 (before striding).
    Valid,
    /// Zero padding so that the output size is ceil(input / stride).
    Same,
}
