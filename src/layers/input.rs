//! The Input layer: where samples enter, with the per-sample shape the data gives.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::{
    BuildCx, Forward, ForwardCx, InferCx, Layer, LayerKind, LayerMemory, MemoryCx, PaletteEntries,
    Setting, SettingValue,
};
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{shape_label, Activation, DataFit, Fix, GraphError, Shape};

/// Where samples enter the network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Per-sample shape without the batch axis, e.g. `[1, 28, 28]` for a grayscale image (C×H×W).
    pub shape: Vec<usize>,
}

impl PaletteEntries for Input {
    fn palette_entries(input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            shape: input_shape.to_vec(),
        }]
    }
}

impl LayerKind for Input {
    fn label(&self) -> &'static str {
        "Input"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        cx.input()
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        TorchCx::function(cx.input()?.to_owned())
    }

    fn help(&self) -> &'static str {
        "Where your data enters the network. Its shape is set by the import settings (channels × height × width for images)."
    }

    fn arity(&self) -> (usize, usize) {
        (0, 0)
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        if self.shape.is_empty() || self.shape.contains(&0) {
            return Err(cx.fail(format!(
                "Input '{}' has shape {}; every size must be at least 1.",
                cx.name,
                shape_label(&self.shape)
            )));
        }
        Ok(self.shape.clone())
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        Ok(Box::new(PassThrough))
    }

    fn memory(&self, cx: &MemoryCx<'_>) -> LayerMemory {
        // The batch itself; no gradient.
        LayerMemory {
            floats_per_sample: cx.output.iter().product::<usize>() as u64,
            scratch_floats_per_thread: 0,
            frozen_floats_per_sample: 0,
        }
    }

    fn settings_line(&self) -> String {
        format!("shape {}", shape_label(&self.shape))
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![Setting::new(
            "Shape",
            "",
            SettingValue::Shape(&mut self.shape),
        )]
    }

    fn fit_to_data(&self, name: &str, data: &DataFit, _is_output: bool) -> Option<Fix> {
        if self.shape == data.shape {
            return None;
        }
        let (have, want) = (shape_label(&self.shape), shape_label(&data.shape));
        Some(Fix {
            node: name.to_owned(),
            problem: format!("the Input layer expects {have} but the data gives {want}"),
            advice: format!(
                "the model's Input expects {have} but the data gives {want}; set the Input shape to {want} or change the import settings"
            ),
            replacement: Some(Layer::Input(Self {
                shape: data.shape.clone(),
            })),
        })
    }
}

/// The batch as it comes.
struct PassThrough;

impl Forward for PassThrough {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        cx.finish(super::first(inputs)?.clone(), Activation::Linear)
    }
}
