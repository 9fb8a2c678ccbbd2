//! Global max pooling: each channel's largest value over all positions.

use candle_core::D;
use serde::{Deserialize, Serialize};

use super::first;
use super::shared::{global_pool_shape, stateless};
use super::{BuildCx, Forward, InferCx, LayerKind, PaletteEntries};
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{GraphError, Shape};

/// Maximum over all positions of each channel: C×L (or C×H×W) → C.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalMaxPool {}

impl PaletteEntries for GlobalMaxPool {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {}]
    }
}

impl LayerKind for GlobalMaxPool {
    fn label(&self) -> &'static str {
        "GlobalMaxPool"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        super::shared::onnx_global_pool(cx, "GlobalMaxPool")
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        super::shared::torch_global_pool(cx, "amax")
    }

    fn help(&self) -> &'static str {
        "Keeps the largest value of each channel over the whole sequence (or image): did this pattern appear anywhere?"
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        global_pool_shape(cx)
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        Ok(stateless(|inputs, _| {
            first(inputs)?.flatten_from(2)?.max(D::Minus1)
        }))
    }
}
