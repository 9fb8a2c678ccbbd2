//! Global average pooling: each channel's mean over all positions.

use candle_core::D;
use serde::{Deserialize, Serialize};

use super::first;
use super::shared::{global_pool_shape, stateless};
use super::{BuildCx, Forward, InferCx, LayerKind, PaletteEntries};
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{GraphError, Shape};

/// Mean over all positions of each channel: C×H×W (or C×L) → C.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalAvgPool {}

impl PaletteEntries for GlobalAvgPool {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {}]
    }
}

impl LayerKind for GlobalAvgPool {
    fn label(&self) -> &'static str {
        "GlobalAvgPool"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        super::shared::onnx_global_pool(cx, "GlobalAveragePool")
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        super::shared::torch_global_pool(cx, "mean")
    }

    fn help(&self) -> &'static str {
        "Averages each channel over the whole image (or sequence), leaving one number per channel."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        global_pool_shape(cx)
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        Ok(stateless(|inputs, _| {
            first(inputs)?.flatten_from(2)?.mean(D::Minus1)
        }))
    }
}
