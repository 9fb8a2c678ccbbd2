//! Layer kinds, one file each: a kind's settings, shape inference, parameters and their
//! initialisation, forward pass, memory estimate, data fit and the words and settings the editor
//! shows. The rest of Strata asks the layer through [`LayerKind`]; the [`register_layers!`] list at
//! the bottom of this file is the only place that names every kind.
//!
//! Adding a kind: write `src/layers/<kind>.rs` with a settings struct implementing [`LayerKind`],
//! then add one line to the registration at the bottom of this file (see ARCHITECTURE.md).

mod recurrent;
mod shared;

use candle_core::{Device, Tensor, Var};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::engine::network::{NamedVar, NetworkError};
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{shape_label, Activation, DataFit, Fix, Graph, GraphError, Padding, Shape};
use crate::pretrained::Backbone;

/// What every layer kind answers. Object safe: the graph, the engine and the editor hold
/// `&dyn LayerKind` (from [`Layer::kind`]).
pub trait LayerKind {
    /// Short type name shown in summaries and messages ("Dense", "Conv2d").
    fn label(&self) -> &'static str;

    /// One or two sentences explaining the layer to someone who does not write code.
    fn help(&self) -> &'static str;

    /// How many inputs the layer takes: `(min, max)`.
    fn arity(&self) -> (usize, usize) {
        (1, 1)
    }

    /// The output shape for the inputs in `cx`, or what is wrong in plain words.
    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError>;

    /// The tensors the layer owns for an input of `input` (its first input's shape), in the
    /// order they are created; empty for layers without weights.
    fn params(&self, _input: &[usize]) -> Vec<Param> {
        Vec::new()
    }

    /// Number of parameters for an input of `input` (the sum of [`LayerKind::params`]).
    fn param_count(&self, input: &[usize]) -> usize {
        self.params(input).iter().map(Param::numel).sum()
    }

    /// Whether the layer has weights (a "block" when a trained model is reused).
    fn has_weights(&self) -> bool {
        false
    }

    /// Creates the layer's tensors through `cx` and returns the layer ready to run, its tensors
    /// resolved once.
    fn build(&self, cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError>;

    /// What the layer keeps in memory while training, per sample.
    fn memory(&self, cx: &MemoryCx<'_>) -> LayerMemory {
        LayerMemory {
            // The output, its gradient, and the gradient's accumulation buffer.
            floats_per_sample: 3 * cx.output.iter().product::<usize>() as u64,
            scratch_floats_per_thread: 0,
            frozen_floats_per_sample: 0,
        }
    }

    /// The settings in a few words for the node and the summary ("32 filters 3×3, ReLU").
    fn settings_line(&self) -> String {
        String::new()
    }

    /// The settings the inspector edits, described as data (the GUI draws them).
    fn settings(&mut self) -> Vec<Setting<'_>> {
        Vec::new()
    }

    /// When the layer named `name` does not fit the data (an Input of another shape, an
    /// Embedding that knows too few tokens, an output layer with the wrong number of values): the
    /// problem and the settings that fix it.
    fn fit_to_data(&self, _name: &str, _data: &DataFit, _is_output: bool) -> Option<Fix> {
        None
    }

    /// For pretrained and reused parts: how many of the last blocks train (0 = frozen).
    fn train_blocks(&self) -> Option<usize> {
        None
    }

    /// Sets how many of the last blocks train, where the layer has blocks.
    fn set_train_blocks(&mut self, _blocks: usize) {}

    /// Of [`Self::param_count`], the parameters that do not train (the frozen blocks of a
    /// pretrained or reused part): they take no gradient and no optimizer state.
    fn frozen_param_count(&self, _input: &[usize]) -> usize {
        0
    }

    /// Points a pretrained layer at a weights file (other layers ignore it).
    fn set_weights_file(&mut self, _file: &str) {}

    /// A convolution that can compute the max-pool after it in the same pass.
    fn fuses_max_pool(&self) -> bool {
        false
    }

    /// For a layer sliding a window over a picture (2-D convolution, pool): its window, step
    /// and whether it pads, so a position of its output can be traced back to the pixels it
    /// looks at (Grad-CAM's heat map is laid over the picture this way).
    fn spatial_window(&self) -> Option<SpatialWindow> {
        None
    }

    /// A max-pool's window and step, for the convolution before it to fuse.
    fn max_pool_window(&self) -> Option<(usize, usize)> {
        None
    }

    /// Called when the layer is added from the palette: looks up what it needs on disk (a
    /// pretrained network's weights file in the usual folders). Never while drawing.
    fn when_added(&mut self) {}

    /// The palette's name for the entry (the kind, or which pretrained network).
    fn palette_label(&self) -> String {
        self.label().to_owned()
    }

    /// Writes the layer as ONNX nodes through `cx` (its activation applied, as when predicting)
    /// and returns the name of the value it gives; kinds without an ONNX form say so.
    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        Err(cx.unsupported(self.label()))
    }

    /// Writes the layer as PyTorch code through `cx`: the module `__init__` makes (for layers
    /// with weights or state) and the expression `forward` computes, under the layer's name so
    /// the tensors keep their names; kinds without a PyTorch form say so.
    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        Err(cx.unsupported(self.label()))
    }
}

/// A layer ready to run: its tensors resolved when the network was built.
pub trait Forward: Send + Sync {
    /// The layer's output for its inputs, and the activation left to apply (only the output
    /// node leaves one, to the loss: see [`ForwardCx::finish`]).
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError>;

    /// Whether the layer keeps computed features between batches (frozen pretrained parts).
    fn has_feature_cache(&self) -> bool {
        false
    }

    /// Whether the layer has fixed values counted on the training samples (a bag of words'
    /// word weights), through [`Forward::fit_to_inputs`].
    fn fits_to_inputs(&self) -> bool {
        false
    }

    /// Counts the layer's fixed values on the training samples' inputs (for a layer right after
    /// the Input); called once before a new run trains.
    fn fit_to_inputs(&self, _rows: &mut dyn Iterator<Item = &[f32]>) -> Result<(), NetworkError> {
        Ok(())
    }
}

/// What shape inference knows about a node: its name and its inputs' names and shapes.
pub struct InferCx<'a> {
    /// The node's name.
    pub name: &'a str,
    /// The kind's label, for messages.
    pub kind: &'static str,
    /// Each input's node name and output shape, in order.
    pub inputs: &'a [(&'a str, Shape)],
}

impl InferCx<'_> {
    /// A problem at this node.
    pub fn fail(&self, message: impl Into<String>) -> GraphError {
        GraphError {
            node: self.name.to_owned(),
            message: message.into(),
        }
    }

    /// The first input, or "has no input".
    pub fn first(&self) -> Result<(&str, &Shape), GraphError> {
        self.inputs
            .first()
            .map(|(from, s)| (*from, s))
            .ok_or_else(|| self.fail(format!("{} '{}' has no input.", self.kind, self.name)))
    }

    /// Channels, height and width of an image-shaped first input.
    pub fn image_input(&self) -> Result<(usize, usize, usize), GraphError> {
        match self.first()? {
            (_, s) if s.len() == 3 => Ok((s[0], s[1], s[2])),
            (from, s) => Err(self.fail(format!(
                "{} '{}' needs an image-shaped input (channels×height×width), but '{from}' gives {}.",
                self.kind,
                self.name,
                shape_label(s)
            ))),
        }
    }

    /// Channels and length of a sequence-shaped first input (C×L).
    pub fn sequence_input(&self) -> Result<(usize, usize), GraphError> {
        match self.first()? {
            (_, s) if s.len() == 2 => Ok((s[0], s[1])),
            (from, s) => Err(self.fail(format!(
                "{} '{}' needs a sequence (channels×length, e.g. after an Embedding), but '{from}' gives {}.",
                self.kind,
                self.name,
                shape_label(s)
            ))),
        }
    }
}

/// How a new tensor starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Glorot (Xavier) uniform for the given fan-in and fan-out.
    Glorot {
        /// Inputs per output.
        fan_in: usize,
        /// Outputs per input.
        fan_out: usize,
    },
    /// Uniform in ±limit.
    Uniform(f32),
    /// Every value the same.
    Constant(f32),
}

/// One tensor a layer owns.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Name after the node's, e.g. `weight` (stored as `<node>.weight`).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// How it starts.
    pub init: Init,
    /// Whether the optimizer updates it (false for running statistics).
    pub trainable: bool,
    /// Whether weight penalties (L1/L2) apply: weights yes, biases and norms no.
    pub penalized: bool,
}

impl Param {
    /// A trainable weight that L1/L2 penalise.
    pub fn weight(name: impl Into<String>, shape: Vec<usize>, init: Init) -> Self {
        Self {
            name: name.into(),
            shape,
            init,
            trainable: true,
            penalized: true,
        }
    }

    /// A trainable tensor without penalty (biases, norm scales).
    pub fn bias(name: impl Into<String>, shape: Vec<usize>, init: Init) -> Self {
        Self {
            penalized: false,
            ..Self::weight(name, shape, init)
        }
    }

    /// A running statistic: kept and saved, never trained.
    pub fn statistic(name: impl Into<String>, shape: Vec<usize>, value: f32) -> Self {
        Self {
            trainable: false,
            penalized: false,
            ..Self::weight(name, shape, Init::Constant(value))
        }
    }

    /// Number of values.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// What a layer needs to create its tensors.
pub struct BuildCx<'a> {
    /// The node's name (the prefix of its tensors).
    pub name: &'a str,
    /// The first input's shape, per sample (empty for the Input node).
    pub input: &'a [usize],
    /// The node's output shape, per sample.
    pub output: &'a [usize],
    /// Where the tensors live.
    pub device: &'a Device,
    /// Drives fresh weights.
    pub rng: &'a mut dyn RngCore,
    /// Whether pretrained and reused parts read their files (false when a run's own checkpoint
    /// will be loaded over them).
    pub read_files: bool,
    /// Every tensor of the network so far; the layer's are added here.
    pub vars: &'a mut Vec<NamedVar>,
    /// For a convolution whose only consumer is a max-pool: that pool's window and step; the
    /// convolution then gives the pool's output.
    pub then_max_pool: Option<(usize, usize)>,
}

impl BuildCx<'_> {
    /// Creates the tensors `params` describes, in order, registers them as `<node>.<name>` and
    /// returns them.
    pub fn create(&mut self, params: &[Param]) -> Result<Vec<Var>, NetworkError> {
        let mut out = Vec::with_capacity(params.len());
        for p in params {
            let n = p.numel();
            let values: Vec<f32> = match p.init {
                Init::Glorot { fan_in, fan_out } => {
                    let limit = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
                    (0..n)
                        .map(|_| self.rng.random_range(-limit..=limit))
                        .collect()
                }
                Init::Uniform(limit) => (0..n)
                    .map(|_| self.rng.random_range(-limit..=limit))
                    .collect(),
                Init::Constant(v) => vec![v; n],
            };
            let var = Var::from_tensor(&Tensor::from_vec(values, p.shape.clone(), self.device)?)?;
            self.register(&p.name, var.clone(), p.trainable, p.penalized);
            out.push(var);
        }
        Ok(out)
    }

    /// Creates the `N` tensors `params` describes (see [`BuildCx::create`]) and returns them as
    /// tensors, for layers that only read their weights.
    pub fn create_tensors<const N: usize>(
        &mut self,
        params: &[Param],
    ) -> Result<[Tensor; N], NetworkError> {
        let tensors: Vec<Tensor> = self
            .create(params)?
            .iter()
            .map(|v| v.as_tensor().clone())
            .collect();
        <[Tensor; N]>::try_from(tensors).map_err(|t| {
            NetworkError::Weights(format!(
                "'{}' made {} tensors where {N} were expected",
                self.name,
                t.len()
            ))
        })
    }

    /// Registers a tensor made by the layer itself (loaded or shared) as `<node>.<what>`.
    pub fn register(&mut self, what: &str, var: Var, trainable: bool, penalized: bool) {
        self.vars.push(NamedVar {
            name: format!("{}.{what}", self.name),
            var,
            trainable,
            penalized,
        });
    }
}

/// A 2-D sliding window: kernel, stride and padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpatialWindow {
    /// Window side.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Zero padding around the input ("same"), with the extra zero at the end.
    pub same_padding: bool,
}

/// What a layer gets for one batch.
pub struct ForwardCx<'a> {
    /// Training (dropout active, batch statistics) or predicting.
    pub train: bool,
    /// Drives dropout.
    pub rng: &'a mut dyn RngCore,
    /// Whether this node is the model's output (its final activation is left to the caller, for
    /// stable losses).
    pub is_output: bool,
    /// Whether frozen parts reuse features computed before (off while inputs are augmented).
    pub use_caches: bool,
    /// Whether the gradient must reach the input through frozen parts too (explaining a
    /// prediction by its input gradient); otherwise frozen parts hand on their output detached.
    pub input_gradients: bool,
}

impl ForwardCx<'_> {
    /// Applies `act` to `pre`, except on the output node, which leaves it to the caller.
    pub fn finish(
        &self,
        pre: Tensor,
        act: Activation,
    ) -> Result<(Tensor, Activation), NetworkError> {
        if self.is_output {
            Ok((pre, act))
        } else {
            Ok((
                crate::engine::network::activate(&pre, act)?,
                Activation::Linear,
            ))
        }
    }

    /// For layers with an activation fused into their kernel: (applied inside, left over).
    pub fn split_activation(&self, act: Activation) -> (Activation, Activation) {
        if self.is_output {
            (Activation::Linear, act)
        } else {
            (act, Activation::Linear)
        }
    }
}

/// The first input of a batch (a validated graph always gives one).
pub(crate) fn first<'t>(inputs: &[&'t Tensor]) -> candle_core::Result<&'t Tensor> {
    inputs
        .first()
        .copied()
        .ok_or_else(|| candle_core::Error::Msg("a layer got no input".to_owned()))
}

/// What the memory estimate knows about a node.
pub struct MemoryCx<'a> {
    /// The first input's shape, per sample.
    pub input: &'a [usize],
    /// The output shape, per sample.
    pub output: &'a [usize],
    /// Whether this convolution computes its max-pool in the same pass (its output is never
    /// stored).
    pub fused_with_pool: bool,
}

/// A layer's memory while training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerMemory {
    /// f32 values kept per sample (outputs and gradients).
    pub floats_per_sample: u64,
    /// f32 scratch values per worker thread (unfolded windows).
    pub scratch_floats_per_thread: u64,
    /// f32 values per sample a frozen part's forward pass holds at once (its largest block's),
    /// computed [`FROZEN_CHUNK`] samples at a time.
    pub frozen_floats_per_sample: u64,
}

/// Samples a frozen pretrained or reused part computes at a time, whatever the batch: its
/// working set (EfficientNet-Lite0 at 224×224: ~8 MB a picture) stays that of a training batch
/// when validation and evaluation run 256 samples at once.
pub const FROZEN_CHUNK: usize = 32;

/// One editable setting of a layer, described for the inspector.
pub struct Setting<'a> {
    /// The row's label ("Units").
    pub label: &'static str,
    /// A hover text explaining it (may be empty).
    pub hint: &'static str,
    /// The value and how it is edited.
    pub value: SettingValue<'a>,
}

impl<'a> Setting<'a> {
    /// A setting row.
    pub fn new(label: &'static str, hint: &'static str, value: SettingValue<'a>) -> Self {
        Self { label, hint, value }
    }

    /// A whole number in `range`.
    pub fn count(
        label: &'static str,
        hint: &'static str,
        value: &'a mut usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> Self {
        let (min, max) = range.into_inner();
        Self::new(label, hint, SettingValue::Count { value, min, max })
    }

    /// The activation a layer ends in.
    pub fn activation(value: &'a mut Activation) -> Self {
        Self::new("Activation", "", SettingValue::Activation(value))
    }
}

/// How a setting is edited.
pub enum SettingValue<'a> {
    /// A whole number in `min..=max`.
    Count {
        /// The value.
        value: &'a mut usize,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// A fraction on a slider.
    Fraction {
        /// The value.
        value: &'a mut f32,
        /// Smallest allowed.
        min: f32,
        /// Largest allowed.
        max: f32,
    },
    /// A small positive number dragged at `speed` per pixel.
    Number {
        /// The value.
        value: &'a mut f32,
        /// Smallest allowed.
        min: f32,
        /// Largest allowed.
        max: f32,
        /// Change per pixel dragged.
        speed: f64,
    },
    /// An activation function.
    Activation(&'a mut Activation),
    /// A convolution's border rule.
    Padding(&'a mut Padding),
    /// On or off, with the words next to the box.
    Toggle {
        /// The value.
        value: &'a mut bool,
        /// Words next to the check box.
        text: &'static str,
    },
    /// The Input's shape (set by the data; the editor offers to match it).
    Shape(&'a mut Vec<usize>),
    /// A fact shown, not edited.
    Fact(String),
    /// A pretrained network's weights file.
    WeightsFile {
        /// The path (empty until chosen).
        path: &'a mut String,
        /// Which network, for the dialog's title and where to get the file.
        backbone: Backbone,
    },
    /// An earlier run whose model is reused, and where it is cut.
    TrainedRun {
        /// The run folder.
        run: &'a mut String,
        /// The node the reused part ends with.
        cut: &'a mut String,
        /// The run's layers up to `cut`.
        part: &'a mut Graph,
    },
    /// How many of the last blocks of a pretrained or reused part train.
    TrainBlocks {
        /// The value (0 = frozen).
        value: &'a mut usize,
        /// Blocks in all.
        units: usize,
        /// What a block is called ("blocks", "layers").
        word: &'static str,
    },
}

/// What freezing a pretrained or reused part means, for the inspector.
pub const FREEZE_HINT: &str = "Frozen: this part stays as it is and only the layers after it learn — fast (its features are computed once and cached) and best with little data. Training its last blocks too adapts it more to your data: slower, with more risk of overfitting.";

/// "frozen", "last 2 of 18 blocks train", "all 7 layers train".
pub fn freeze_words(units: usize, word: &str, train_blocks: usize) -> String {
    match train_blocks {
        0 => "frozen".to_owned(),
        n if n >= units => format!("all {units} {word} train"),
        n => format!("last {n} of {units} {word} train"),
    }
}

/// " stride 2 same" after a window size.
pub(crate) fn stride_and_padding(stride: usize, padding: Padding) -> String {
    let mut out = String::new();
    if stride != 1 {
        out.push_str(&format!(" stride {stride}"));
    }
    if padding == Padding::Same {
        out.push_str(" same");
    }
    out
}

/// Registers the layer kinds: the serialized [`Layer`] enum (one variant per kind, its settings
/// struct inside), dispatch to [`LayerKind`], and the editor's palette in registration order.
macro_rules! register_layers {
    ($($(#[$doc:meta])* $variant:ident($module:ident::$ty:ident) in $group:literal,)*) => {
        $(mod $module;)*
        $(pub use $module::$ty;)*

        /// One layer of the graph with its settings (weights are not stored here). Saved in the
        /// project file as `{"type": "dense", "units": 128, …}`.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum Layer {
            $($(#[$doc])* $variant($ty),)*
        }

        impl Layer {
            /// The layer's behaviour.
            pub fn kind(&self) -> &dyn LayerKind {
                match self {
                    $(Self::$variant(layer) => layer,)*
                }
            }

            /// The layer's behaviour, for editing its settings.
            pub fn kind_mut(&mut self) -> &mut dyn LayerKind {
                match self {
                    $(Self::$variant(layer) => layer,)*
                }
            }

            /// Palette groups and the layers they offer, with starting settings; the Input takes
            /// `input_shape`.
            pub fn palette(input_shape: &[usize]) -> Vec<(&'static str, Vec<Layer>)> {
                let mut groups: Vec<(&'static str, Vec<Layer>)> = Vec::new();
                $(
                    let entries = <$ty>::palette_entries(input_shape)
                        .into_iter()
                        .map(Self::$variant);
                    match groups.iter_mut().find(|(g, _)| *g == $group) {
                        Some((_, list)) => list.extend(entries),
                        None => groups.push(($group, entries.collect())),
                    }
                )*
                groups
            }
        }

        $(impl From<$ty> for Layer {
            fn from(layer: $ty) -> Self {
                Self::$variant(layer)
            }
        })*
    };
}

register_layers! {
    /// Where samples enter.
    Input(input::Input) in "Core",
    /// Fully connected.
    Dense(dense::Dense) in "Core",
    /// Any shape → one long vector.
    Flatten(flatten::Flatten) in "Core",
    /// Random zeroing while training.
    Dropout(dropout::Dropout) in "Core",
    /// 2-D convolution.
    Conv2d(conv2d::Conv2d) in "Convolution",
    /// Transposed 2-D convolution (grows pictures).
    ConvTranspose2d(conv_transpose2d::ConvTranspose2d) in "Convolution",
    /// A flat vector as channels × height × width.
    Reshape(reshape::Reshape) in "Core",
    /// Maximum over 2-D windows.
    MaxPool2d(max_pool2d::MaxPool2d) in "Pooling",
    /// Mean over 2-D windows.
    AvgPool2d(avg_pool2d::AvgPool2d) in "Pooling",
    /// Mean over all positions.
    GlobalAvgPool(global_avg_pool::GlobalAvgPool) in "Pooling",
    /// Token ids → vectors.
    Embedding(embedding::Embedding) in "Sequence",
    /// Token ids → word and word-pair counts (TF-IDF).
    BagOfWords(bag_of_words::BagOfWords) in "Sequence",
    /// 1-D convolution.
    Conv1d(conv1d::Conv1d) in "Sequence",
    /// Maximum over 1-D windows.
    MaxPool1d(max_pool1d::MaxPool1d) in "Sequence",
    /// Mean over 1-D windows.
    AvgPool1d(avg_pool1d::AvgPool1d) in "Sequence",
    /// Maximum over all positions.
    GlobalMaxPool(global_max_pool::GlobalMaxPool) in "Sequence",
    /// Long short-term memory.
    Lstm(lstm::Lstm) in "Sequence",
    /// Gated recurrent unit.
    Gru(gru::Gru) in "Sequence",
    /// Batch normalisation.
    BatchNorm(batch_norm::BatchNorm) in "Normalization",
    /// A stand-alone activation.
    Activation(activation::ActivationLayer) in "Activation",
    /// Element-wise sum.
    Add(add::Add) in "Merge",
    /// Join along channels.
    Concat(concat::Concat) in "Merge",
    /// A pretrained network.
    Pretrained(pretrained::Pretrained) in "Pretrained",
    /// Part of an earlier run's model.
    TrainedModel(trained_model::TrainedModel) in "Pretrained",
}

impl Layer {
    /// Short type name shown in summaries and messages.
    pub fn kind_label(&self) -> &'static str {
        self.kind().label()
    }

    /// How many inputs the layer takes: `(min, max)`.
    pub fn arity(&self) -> (usize, usize) {
        self.kind().arity()
    }

    /// One or two sentences explaining the layer to someone who does not write code.
    pub fn help(&self) -> &'static str {
        self.kind().help()
    }

    /// Whether this is the Input layer (the graph has exactly one).
    pub fn is_input(&self) -> bool {
        matches!(self, Self::Input(_))
    }
}

pub use bag_of_words::{pair_slot, DEFAULT_PAIR_SLOTS};

/// The palette entries of a kind: usually one with starting settings.
pub trait PaletteEntries: Sized {
    /// The entries offered, for data of `input_shape`.
    fn palette_entries(input_shape: &[usize]) -> Vec<Self>;
}
