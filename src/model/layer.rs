//! Layer kinds and their parameters: the vocabulary of the model graph.

use serde::{Deserialize, Serialize};

use crate::pretrained::Backbone;

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

/// One layer of the graph with its settings. Weights are not stored here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Layer {
    /// Where samples enter: per-sample shape, e.g. `[1, 28, 28]` for a grayscale image (C×H×W).
    Input {
        /// Per-sample shape without the batch axis.
        shape: Vec<usize>,
    },
    /// Fully connected layer on a flat input.
    Dense {
        /// Number of outputs.
        units: usize,
        /// Activation applied to the outputs.
        activation: Activation,
    },
    /// 2-D convolution over a C×H×W input.
    Conv2d {
        /// Number of output channels.
        filters: usize,
        /// Kernel height and width.
        kernel: usize,
        /// Step between windows.
        stride: usize,
        /// Border handling.
        padding: Padding,
        /// Activation applied to the outputs.
        activation: Activation,
    },
    /// Maximum over each window.
    MaxPool2d {
        /// Window height and width.
        kernel: usize,
        /// Step between windows.
        stride: usize,
    },
    /// Mean over each window.
    AvgPool2d {
        /// Window height and width.
        kernel: usize,
        /// Step between windows.
        stride: usize,
    },
    /// Mean over all positions of each channel: C×H×W (or C×L) → C.
    GlobalAvgPool,
    /// Maximum over all positions of each channel: C×L (or C×H×W) → C.
    GlobalMaxPool,
    /// Turns token ids (a sequence of L whole numbers) into learned vectors: L → D×L.
    Embedding {
        /// Number of different tokens (ids 0 … vocab − 1).
        vocab: usize,
        /// Length of each token's vector.
        dim: usize,
    },
    /// 1-D convolution along a sequence: C×L → filters×L'.
    Conv1d {
        /// Number of output channels.
        filters: usize,
        /// Window length.
        kernel: usize,
        /// Step between windows.
        stride: usize,
        /// Border handling.
        padding: Padding,
        /// Activation applied to the outputs.
        activation: Activation,
    },
    /// Maximum over non-overlapping windows along a sequence: C×L → C×(L / kernel).
    MaxPool1d {
        /// Window length (also the step).
        kernel: usize,
    },
    /// Mean over non-overlapping windows along a sequence: C×L → C×(L / kernel).
    AvgPool1d {
        /// Window length (also the step).
        kernel: usize,
    },
    /// Long short-term memory: reads a sequence step by step, C×L → units (its state after the
    /// last step) or units×L (every step, to stack another recurrent layer on it).
    Lstm {
        /// Size of the memory (outputs per direction).
        units: usize,
        /// Give the output of every step instead of only the last.
        return_sequences: bool,
        /// Also read the sequence backwards and join both directions' outputs.
        bidirectional: bool,
    },
    /// Gated recurrent unit: a lighter LSTM with the same inputs and outputs.
    Gru {
        /// Size of the memory (outputs per direction).
        units: usize,
        /// Give the output of every step instead of only the last.
        return_sequences: bool,
        /// Also read the sequence backwards and join both directions' outputs.
        bidirectional: bool,
    },
    /// Any shape → one long vector.
    Flatten,
    /// Randomly zeroes a fraction of values while training.
    Dropout {
        /// Fraction dropped, in [0, 1).
        rate: f32,
    },
    /// Normalises each channel with batch statistics while training and running averages after.
    BatchNorm {
        /// Weight of the newest batch in the running averages.
        momentum: f32,
        /// Added to the variance for numerical stability.
        epsilon: f32,
    },
    /// A stand-alone activation.
    Activation {
        /// Which function.
        function: Activation,
    },
    /// Element-wise sum of inputs of the same shape (skip connections).
    Add,
    /// Joins inputs along the channel (first) axis.
    Concat,
    /// A network trained by others on a large data set, loaded from a weights file: images or
    /// token ids → one feature vector per sample.
    Pretrained {
        /// Which architecture.
        backbone: Backbone,
        /// The weights file (`.pth` or `.safetensors`); empty until chosen.
        #[serde(default)]
        weights: String,
        /// How many of its last blocks train: 0 keeps it frozen, its block count trains all.
        #[serde(default)]
        train_blocks: usize,
    },
    /// The first layers of a model trained in an earlier run (of this or another project), up to
    /// a chosen node, with what they learned.
    TrainedModel {
        /// The run folder (`<project>.runs/<run-id>`); its best checkpoint is read.
        run: String,
        /// The node whose output this part gives.
        cut: String,
        /// The run's layers up to `cut` (kept here so shapes are known without reading files).
        #[serde(default)]
        part: crate::model::Graph,
        /// How many of its last layers with weights train: 0 keeps it frozen.
        #[serde(default)]
        train_blocks: usize,
    },
}

impl Layer {
    /// Short type name shown in summaries and messages.
    pub fn kind_label(&self) -> &'static str {
        match self {
            Self::Input { .. } => "Input",
            Self::Dense { .. } => "Dense",
            Self::Conv2d { .. } => "Conv2d",
            Self::MaxPool2d { .. } => "MaxPool2d",
            Self::AvgPool2d { .. } => "AvgPool2d",
            Self::GlobalAvgPool => "GlobalAvgPool",
            Self::GlobalMaxPool => "GlobalMaxPool",
            Self::Embedding { .. } => "Embedding",
            Self::Conv1d { .. } => "Conv1d",
            Self::MaxPool1d { .. } => "MaxPool1d",
            Self::AvgPool1d { .. } => "AvgPool1d",
            Self::Lstm { .. } => "LSTM",
            Self::Gru { .. } => "GRU",
            Self::Flatten => "Flatten",
            Self::Dropout { .. } => "Dropout",
            Self::BatchNorm { .. } => "BatchNorm",
            Self::Activation { function } => function.label(),
            Self::Add => "Add",
            Self::Concat => "Concat",
            Self::Pretrained { .. } => "Pretrained",
            Self::TrainedModel { .. } => "Trained model",
        }
    }

    /// How many inputs the layer takes: `(min, max)`.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Self::Input { .. } => (0, 0),
            Self::Add | Self::Concat => (2, usize::MAX),
            _ => (1, 1),
        }
    }

    /// One or two sentences explaining the layer to someone who does not write code.
    pub fn help(&self) -> &'static str {
        match self {
            Self::Input { .. } => "Where your data enters the network. Its shape is set by the import settings (channels × height × width for images).",
            Self::Dense { .. } => "Connects every input value to every output with a learned weight. The workhorse of classic neural networks; the last Dense layer gives one score per class.",
            Self::Conv2d { .. } => "Slides small learned filters over the image to detect local patterns such as edges and textures, wherever they appear.",
            Self::MaxPool2d { .. } => "Keeps the largest value in each small window, shrinking the image while keeping the strongest signals.",
            Self::AvgPool2d { .. } => "Averages each small window, shrinking the image smoothly.",
            Self::GlobalAvgPool => "Averages each channel over the whole image (or sequence), leaving one number per channel.",
            Self::GlobalMaxPool => "Keeps the largest value of each channel over the whole sequence (or image): did this pattern appear anywhere?",
            Self::Embedding { .. } => "Gives every word (or character) a learned list of numbers, so words used alike end up with similar numbers. The first layer of a text model.",
            Self::Conv1d { .. } => "Slides learned filters along a sequence to detect short patterns, such as a phrase of a few words, wherever they appear.",
            Self::MaxPool1d { .. } => "Keeps the largest value in each window along the sequence, shortening it.",
            Self::AvgPool1d { .. } => "Averages each window along the sequence, shortening it smoothly.",
            Self::Lstm { .. } => "A recurrent layer: reads the sequence one step at a time and keeps a memory, with learned gates deciding what to remember and what to forget. Good at word order and long-range context.",
            Self::Gru { .. } => "A recurrent layer like the LSTM with fewer gates: a little faster, often as good.",
            Self::Flatten => "Unrolls an image-shaped input into one long list of numbers so Dense layers can use it.",
            Self::Dropout { .. } => "While training, randomly switches off a fraction of values so the network cannot rely on any single one. Fights overfitting; does nothing when predicting.",
            Self::BatchNorm { .. } => "Rescales values to a steady range during training, which often makes training faster and more stable.",
            Self::Activation { function } => match function {
                Activation::Linear => "Passes values through unchanged.",
                Activation::Relu => "ReLU keeps positive values and turns negative ones into zero. Simple, fast, the usual choice between layers.",
                Activation::LeakyRelu => "Like ReLU, but lets a small fraction of negative values through so units never go completely silent.",
                Activation::Sigmoid => "Squashes any value into the range 0 to 1; useful for yes/no outputs.",
                Activation::Tanh => "Squashes any value into the range −1 to 1.",
                Activation::Softmax => "Turns the scores of the last layer into probabilities that add up to 1, one per class.",
                Activation::Gelu => "A smooth version of ReLU used by modern transformer models.",
            },
            Self::Add => "Adds its inputs together; used for skip connections that let information bypass layers.",
            Self::Concat => "Stacks its inputs along the channel axis so the next layer sees all of them.",
            Self::Pretrained { backbone, .. } => backbone.help(),
            Self::TrainedModel { .. } => "The first layers of a model you trained earlier, with what they learned: for example a model of spoken words reused to learn new words from a few examples. Choose the run and the layer to cut at.",
        }
    }
}
