//! 1-D max pooling: the largest value of each window along a sequence.

use serde::{Deserialize, Serialize};

use super::first;
use super::shared::{pool1d, pool1d_shape, stateless};
use super::{BuildCx, Forward, InferCx, LayerKind, PaletteEntries, Setting};
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{GraphError, Shape};

/// Maximum over non-overlapping windows along a sequence: C×L → C×(L / kernel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaxPool1d {
    /// Window length (also the step).
    pub kernel: usize,
}

impl PaletteEntries for MaxPool1d {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self { kernel: 2 }]
    }
}

impl LayerKind for MaxPool1d {
    fn label(&self) -> &'static str {
        "MaxPool1d"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        super::shared::onnx_pool(cx, "MaxPool", self.kernel, self.kernel)
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        super::shared::torch_pool(cx, "max", self.kernel, self.kernel)
    }

    fn help(&self) -> &'static str {
        "Keeps the largest value in each window along the sequence, shortening it."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        pool1d_shape(cx, self.kernel)
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let kernel = self.kernel;
        Ok(stateless(move |inputs, _| {
            pool1d(first(inputs)?, kernel, true)
        }))
    }

    fn settings_line(&self) -> String {
        format!("window {}", self.kernel)
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![Setting::count("Window", "", &mut self.kernel, 1..=16)]
    }
}
