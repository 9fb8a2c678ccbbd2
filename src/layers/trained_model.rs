//! The first layers of a model trained in an earlier run, reused with what they learned (frozen
//! with cached features, or its last layers training).

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::shared::{feature_cache, frozen_part_forward};
use super::{
    freeze_words, BuildCx, Forward, ForwardCx, InferCx, LayerKind, PaletteEntries, Setting,
    SettingValue, FREEZE_HINT,
};
use crate::engine::network::{activate, Network, NetworkError};
use crate::engine::runs;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::model::{shape_label, Activation, Graph, GraphError, Shape};
use crate::pretrained::cache::FeatureCache;
use crate::pretrained::unit_trains;

/// The first layers of a model trained in an earlier run (of this or another project), up to a
/// chosen node, with what they learned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    /// The run folder (`<project>.runs/<run-id>`); its best checkpoint is read.
    pub run: String,
    /// The node whose output this part gives.
    pub cut: String,
    /// The run's layers up to `cut` (kept here so shapes are known without reading files).
    #[serde(default)]
    pub part: Graph,
    /// How many of its last layers with weights train: 0 keeps it frozen.
    #[serde(default)]
    pub train_blocks: usize,
}

impl PaletteEntries for TrainedModel {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            run: String::new(),
            cut: String::new(),
            part: Graph::default(),
            train_blocks: 0,
        }]
    }
}

impl TrainedModel {
    /// The run's best checkpoint.
    fn weights_file(&self) -> PathBuf {
        Path::new(&self.run)
            .join(runs::BEST_DIR)
            .join(runs::WEIGHTS_FILE)
    }
}

impl LayerKind for TrainedModel {
    fn label(&self) -> &'static str {
        "Trained model"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        // The reused part's own nodes, its tensors under this node's name.
        let x = cx.input()?;
        cx.subgraph(&self.part, &x)
    }

    fn help(&self) -> &'static str {
        "The first layers of a model you trained earlier, with what they learned: for example a model of spoken words reused to learn new words from a few examples. Choose the run and the layer to cut at."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        let name = cx.name;
        if self.run.trim().is_empty() || self.part.nodes.is_empty() {
            return Err(cx.fail(format!(
                "'{name}' needs a trained model: choose a run in the inspector."
            )));
        }
        let checked = self.part.validate().map_err(|errors| {
            cx.fail(format!(
                "'{name}': the reused model has problems: {}",
                errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
        })?;
        let wants = &checked.info[checked.input].output_shape;
        let (from, s) = cx.first()?;
        if s != wants {
            return Err(cx.fail(format!(
                "'{name}' was trained on inputs of {} but '{from}' gives {}; set the import settings to match the earlier model.",
                shape_label(wants),
                shape_label(s)
            )));
        }
        Ok(self
            .part
            .nodes
            .iter()
            .position(|n| n.name == self.cut)
            .map_or_else(
                || checked.output_shape().to_vec(),
                |i| checked.info[i].output_shape.clone(),
            ))
    }

    fn param_count(&self, _input: &[usize]) -> usize {
        self.part
            .validate()
            .map(|checked| checked.total_params())
            .unwrap_or(0)
    }

    fn has_weights(&self) -> bool {
        true
    }

    fn frozen_param_count(&self, _input: &[usize]) -> usize {
        let Ok(checked) = self.part.validate() else {
            return 0;
        };
        let units = self.part.weighted_nodes().len();
        let mut unit = 0;
        let mut frozen = 0;
        for (node, info) in self.part.nodes.iter().zip(&checked.info) {
            if node.layer.kind().has_weights() {
                if !unit_trains(unit, units, self.train_blocks) {
                    frozen += info.params;
                }
                unit += 1;
            }
        }
        frozen
    }

    fn build(&self, cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let inner = if cx.read_files {
            Network::load(&self.part, &self.weights_file(), cx.device).map_err(|e| {
                NetworkError::Weights(format!(
                    "'{}' (the model of run '{}'): {e}",
                    cx.name, self.run
                ))
            })?
        } else {
            Network::build_with(&self.part, cx.device, &mut *cx.rng, false)?
        };
        let weighted = self.part.weighted_nodes();
        for v in inner.vars() {
            let owner = v.name.split('.').next().unwrap_or_default();
            let unit = weighted.iter().position(|n| *n == owner).unwrap_or(0);
            let trains = v.trainable && unit_trains(unit, weighted.len(), self.train_blocks);
            cx.register(&v.name, v.var.clone(), trains, trains && v.penalized);
        }
        let cache = (self.train_blocks == 0)
            .then(|| feature_cache(&format!("strata-{}", self.cut), &self.weights_file()));
        Ok(Box::new(TrainedModelForward {
            inner,
            cache,
            features: cx.output.iter().product(),
        }))
    }

    fn settings_line(&self) -> String {
        if self.cut.is_empty() {
            return "no run chosen".to_owned();
        }
        format!(
            "up to '{}', {}",
            self.cut,
            freeze_words(
                self.part.weighted_nodes().len(),
                "layers",
                self.train_blocks
            )
        )
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        let units = self.part.weighted_nodes().len();
        let chosen = !self.run.is_empty();
        let mut out = vec![Setting::new(
            "Run",
            "A folder inside a project's .runs folder (one per training run); its best checkpoint is reused.",
            SettingValue::TrainedRun {
                run: &mut self.run,
                cut: &mut self.cut,
                part: &mut self.part,
            },
        )];
        if chosen {
            out.push(Setting::new(
                "Train",
                FREEZE_HINT,
                SettingValue::TrainBlocks {
                    value: &mut self.train_blocks,
                    units,
                    word: "layers",
                },
            ));
        }
        out
    }

    fn train_blocks(&self) -> Option<usize> {
        Some(self.train_blocks)
    }

    fn set_train_blocks(&mut self, blocks: usize) {
        self.train_blocks = blocks;
    }

    fn palette_label(&self) -> String {
        "Trained model (earlier run)".to_owned()
    }
}

struct TrainedModelForward {
    inner: Network,
    cache: Option<FeatureCache>,
    features: usize,
}

impl Forward for TrainedModelForward {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        // The reused part runs as it was trained to predict: no dropout, fixed batch-norm
        // statistics.
        let compute = |x: &Tensor| -> candle_core::Result<Tensor> {
            let mut quiet = rand::rngs::StdRng::seed_from_u64(0);
            let out = self
                .inner
                .forward(x, false, &mut quiet)
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
            activate(&out.pre_activation, out.activation)
        };
        frozen_part_forward(self.cache.as_ref(), self.features, inputs, cx, &compute)
    }

    fn has_feature_cache(&self) -> bool {
        self.cache.is_some()
    }
}
