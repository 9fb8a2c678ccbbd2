//! 2-D average pooling: the mean of each window.

use serde::{Deserialize, Serialize};

use super::first;
use super::max_pool2d::window_settings;
use super::shared::{pool2d_shape, stateless};
use super::{BuildCx, Forward, InferCx, LayerKind, PaletteEntries, Setting};
use crate::engine::network::NetworkError;
use crate::engine::ops::{pool2d, PoolKind};
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{GraphError, Shape};

/// Mean over each window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AvgPool2d {
    /// Window height and width.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
}

impl PaletteEntries for AvgPool2d {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            kernel: 2,
            stride: 2,
        }]
    }
}

impl LayerKind for AvgPool2d {
    fn spatial_window(&self) -> Option<super::SpatialWindow> {
        Some(super::SpatialWindow {
            kernel: self.kernel,
            stride: self.stride,
            same_padding: false,
        })
    }

    fn label(&self) -> &'static str {
        "AvgPool2d"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        super::shared::onnx_pool(cx, "AveragePool", self.kernel, self.stride)
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        super::shared::torch_pool(cx, "avg", self.kernel, self.stride)
    }

    fn help(&self) -> &'static str {
        "Averages each small window, shrinking the image smoothly."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        pool2d_shape(cx, self.kernel, self.stride)
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let (kernel, stride) = (self.kernel, self.stride);
        Ok(stateless(move |inputs, _| {
            pool2d(first(inputs)?, PoolKind::Avg, kernel, stride)
        }))
    }

    fn settings_line(&self) -> String {
        format!("window {k}×{k}, step {}", self.stride, k = self.kernel)
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        window_settings(&mut self.kernel, &mut self.stride)
    }
}
