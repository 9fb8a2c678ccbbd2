//! A pretrained network (EfficientNet-Lite0, ResNet, MiniLM) as one layer: its weights read from
//! a file, frozen or its last blocks training, its features cached while frozen.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::shared::{cached_features, feature_cache, frozen_part_forward};
use super::{
    freeze_words, BuildCx, Forward, ForwardCx, InferCx, LayerKind, LayerMemory, MemoryCx,
    PaletteEntries, Setting, SettingValue, FREEZE_HINT,
};
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::model::{Activation, GraphError, Shape};
use crate::pretrained::cache::FeatureCache;
use crate::pretrained::{self as pre, Backbone, ParamKind};

/// A network trained by others on a large data set, loaded from a weights file: images or token
/// ids → one feature vector per sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pretrained {
    /// Which architecture.
    pub backbone: Backbone,
    /// The weights file (`.pth` or `.safetensors`); empty until chosen.
    #[serde(default)]
    pub weights: String,
    /// How many of its last blocks train: 0 keeps it frozen, its block count trains all.
    #[serde(default)]
    pub train_blocks: usize,
}

impl PaletteEntries for Pretrained {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        Backbone::ALL
            .into_iter()
            .map(|backbone| Self {
                backbone,
                // Looked up when the layer is added (`when_added`), not every frame.
                weights: String::new(),
                train_blocks: 0,
            })
            .collect()
    }
}

impl LayerKind for Pretrained {
    fn label(&self) -> &'static str {
        "Pretrained"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        self.backbone.onnx(cx)
    }

    fn help(&self) -> &'static str {
        self.backbone.help()
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        if self.weights.trim().is_empty() {
            let how = match pre::catalogue::entry(self.backbone) {
                Some(e) => format!(
                    "download it in the inspector (or `strata weights download {}`) or choose a file",
                    e.name
                ),
                None => "choose one in the inspector".to_owned(),
            };
            return Err(cx.fail(format!(
                "'{}' ({}) needs its weights file: {how}.",
                cx.name,
                self.backbone.label(),
            )));
        }
        let (_, s) = cx.first()?;
        self.backbone
            .output_shape(s)
            .map_err(|e| cx.fail(format!("'{}': {e}.", cx.name)))
    }

    fn param_count(&self, _input: &[usize]) -> usize {
        self.backbone.parameter_count()
    }

    fn has_weights(&self) -> bool {
        true
    }

    fn frozen_param_count(&self, _input: &[usize]) -> usize {
        self.backbone.frozen_parameter_count(self.train_blocks)
    }

    fn memory(&self, cx: &MemoryCx<'_>) -> LayerMemory {
        let units = self.backbone.unit_values(cx.input);
        let training = &units[units.len().saturating_sub(self.train_blocks)..];
        let features = cx.output.iter().product::<usize>() as u64;
        LayerMemory {
            // The features, their gradient and its accumulation; for the blocks that train, every
            // value they compute and its gradient: 2.5 times their values (MiniLM's last layer
            // training on 128-token texts measured 2.3 times).
            floats_per_sample: 3 * features + 5 * training.iter().sum::<u64>() / 2,
            scratch_floats_per_thread: 0,
            // The frozen blocks, run a chunk of samples at a time.
            frozen_floats_per_sample: self.backbone.frozen_values(cx.input),
        }
    }

    fn build(&self, cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let backbone = self.backbone;
        let mut loaded = if cx.read_files {
            Some(read_backbone(cx.name, backbone, &self.weights)?)
        } else {
            None
        };
        let mut tensors = HashMap::new();
        for spec in backbone.params() {
            let trains = spec.kind != ParamKind::Statistic
                && pre::unit_trains(spec.unit, backbone.units(), self.train_blocks);
            let tensor = match loaded.as_mut().and_then(|l| l.remove(&spec.name)) {
                Some(t) => t.to_device(cx.device)?,
                None => Tensor::zeros(spec.shape.clone(), DType::F32, cx.device)?,
            };
            let var = Var::from_tensor(&tensor)?;
            // Frozen tensors take no part in the backward pass.
            let used = if trains {
                var.as_tensor().clone()
            } else {
                var.as_tensor().detach()
            };
            cx.register(
                &spec.name,
                var,
                trains,
                trains && spec.kind == ParamKind::Weight,
            );
            tensors.insert(spec.name, used);
        }
        let cache = (self.train_blocks == 0)
            .then(|| feature_cache(backbone.id(), &PathBuf::from(&self.weights)));
        // With its last blocks training, the frozen blocks before them give the same values
        // every epoch: kept per sample (on disk only: they are far larger than the features).
        let frozen_units = backbone.units().saturating_sub(self.train_blocks);
        let prefix = (self.train_blocks > 0
            && backbone.prefix_shape(cx.input, frozen_units).is_some())
        .then(|| {
            let name = format!("{}-first-{frozen_units}", backbone.id());
            (
                feature_cache(&name, &PathBuf::from(&self.weights)).without_memory(),
                frozen_units,
            )
        });
        Ok(Box::new(PretrainedForward {
            backbone,
            tensors,
            cache,
            prefix,
            features: cx.output.iter().product(),
        }))
    }

    fn settings_line(&self) -> String {
        format!(
            "{}, {}",
            self.backbone.label(),
            freeze_words(
                self.backbone.units(),
                self.backbone.unit_word(),
                self.train_blocks
            )
        )
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        let backbone = self.backbone;
        vec![
            Setting::new("Network", "", SettingValue::Fact(backbone.label().to_owned())),
            Setting::new("Reads", "", SettingValue::Fact(backbone.normalization().to_owned())),
            Setting::new(
                "Gives",
                "",
                SettingValue::Fact(format!("{} features per sample", backbone.features())),
            ),
            Setting::new(
                "Weights file",
                "The pretrained weights (.pth or .safetensors). Strata reads the numbers only; nothing in the file is run.",
                SettingValue::WeightsFile {
                    path: &mut self.weights,
                    backbone,
                },
            ),
            Setting::new(
                "Train",
                FREEZE_HINT,
                SettingValue::TrainBlocks {
                    value: &mut self.train_blocks,
                    units: backbone.units(),
                    word: backbone.unit_word(),
                },
            ),
        ]
    }

    fn train_blocks(&self) -> Option<usize> {
        Some(self.train_blocks)
    }

    fn set_train_blocks(&mut self, blocks: usize) {
        self.train_blocks = blocks;
    }

    fn set_weights_file(&mut self, file: &str) {
        self.weights = file.to_owned();
    }

    fn when_added(&mut self) {
        if self.weights.is_empty() {
            self.weights = pre::find_weights(self.backbone)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
        }
    }

    fn palette_label(&self) -> String {
        self.backbone.label().to_owned()
    }
}

/// Reads a pretrained node's weights file and takes its architecture's tensors out of it.
fn read_backbone(
    node: &str,
    backbone: Backbone,
    weights: &str,
) -> Result<HashMap<String, Tensor>, NetworkError> {
    if weights.trim().is_empty() {
        return Err(NetworkError::Weights(format!(
            "'{node}' ({}) has no weights file yet; choose one on the Model screen ({})",
            backbone.label(),
            backbone.how_to_get()
        )));
    }
    let (_, tensors) = pre::weights::read(Path::new(weights)).map_err(|e| {
        let hint = if Path::new(weights).exists() {
            String::new()
        } else {
            format!("; {}", backbone.how_to_get())
        };
        NetworkError::Weights(format!("'{node}': {e}{hint}"))
    })?;
    backbone.select(tensors).map_err(|e| {
        NetworkError::Weights(format!(
            "'{node}': '{weights}' does not fit {}: {e}",
            backbone.label()
        ))
    })
}

struct PretrainedForward {
    backbone: Backbone,
    /// Every tensor by its PyTorch name (frozen ones detached), resolved when built.
    tensors: HashMap<String, Tensor>,
    /// Features of the frozen network, per sample.
    cache: Option<FeatureCache>,
    /// With the last blocks training: the values after the frozen units before them, per
    /// sample, and how many units that is.
    prefix: Option<(FeatureCache, usize)>,
    features: usize,
}

impl Forward for PretrainedForward {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        let get = |what: &str| -> candle_core::Result<Tensor> {
            self.tensors
                .get(what)
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("weight '{what}' is missing")))
        };
        // Text encoders read their own tokenizer's ids, where padding is 0 ([PAD]).
        if let Some((cache, units)) = &self.prefix {
            let x = super::first(inputs)?;
            if !cx.input_gradients {
                let backbone = self.backbone;
                let shape = backbone
                    .prefix_shape(&x.dims()[1..], *units)
                    .ok_or_else(|| {
                        NetworkError::Weights(format!(
                            "{} is not split into parts",
                            backbone.label()
                        ))
                    })?;
                let per_sample = shape.iter().product();
                let compute =
                    |x: &Tensor| backbone.forward_prefix(x, 0, &get, *units)?.flatten_from(1);
                let cache = cx.use_caches.then_some(cache);
                let flat = cached_features(cache, per_sample, x, &compute)?;
                let mut dims = vec![x.dim(0)?];
                dims.extend(shape);
                let y = backbone.forward_rest(x, &flat.reshape(dims)?, 0, &get, *units)?;
                return cx.finish(y, Activation::Linear);
            }
        }
        let compute = |x: &Tensor| self.backbone.forward(x, 0, &get);
        frozen_part_forward(self.cache.as_ref(), self.features, inputs, cx, &compute)
    }

    fn has_feature_cache(&self) -> bool {
        self.cache.is_some() || self.prefix.is_some()
    }
}
