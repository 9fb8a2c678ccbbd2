//! 2-D max pooling: the largest value in each window.

use serde::{Deserialize, Serialize};

use super::first;
use super::shared::{pool2d_shape, stateless};
use super::{BuildCx, Forward, InferCx, LayerKind, PaletteEntries, Setting};
use crate::engine::network::NetworkError;
use crate::engine::ops::{pool2d, PoolKind};
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{GraphError, Shape};

/// Maximum over each window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaxPool2d {
    /// Window height and width.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
}

impl PaletteEntries for MaxPool2d {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            kernel: 2,
            stride: 2,
        }]
    }
}

impl LayerKind for MaxPool2d {
    fn spatial_window(&self) -> Option<super::SpatialWindow> {
        Some(super::SpatialWindow {
            kernel: self.kernel,
            stride: self.stride,
            same_padding: false,
        })
    }

    fn label(&self) -> &'static str {
        "MaxPool2d"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        super::shared::onnx_pool(cx, "MaxPool", self.kernel, self.stride)
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        super::shared::torch_pool(cx, "max", self.kernel, self.stride)
    }

    fn help(&self) -> &'static str {
        "Keeps the largest value in each small window, shrinking the image while keeping the strongest signals."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        pool2d_shape(cx, self.kernel, self.stride)
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let (kernel, stride) = (self.kernel, self.stride);
        Ok(stateless(move |inputs, _| {
            pool2d(first(inputs)?, PoolKind::Max, kernel, stride)
        }))
    }

    fn settings_line(&self) -> String {
        format!("window {k}×{k}, step {}", self.stride, k = self.kernel)
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        window_settings(&mut self.kernel, &mut self.stride)
    }

    fn max_pool_window(&self) -> Option<(usize, usize)> {
        Some((self.kernel, self.stride))
    }
}

/// Window and step of a 2-D pool.
pub(super) fn window_settings<'a>(
    kernel: &'a mut usize,
    stride: &'a mut usize,
) -> Vec<Setting<'a>> {
    vec![
        Setting::count("Window", "", kernel, 1..=8),
        Setting::count("Step", "", stride, 1..=8),
    ]
}
