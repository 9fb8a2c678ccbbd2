//! 1-D convolution along a sequence (phrases of a few words, short sounds).

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::shared::conv1d;
use super::{
    stride_and_padding, BuildCx, Forward, ForwardCx, InferCx, Init, LayerKind, PaletteEntries,
    Param, Setting, SettingValue,
};
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{window_out, Activation, GraphError, Padding, Shape};

/// 1-D convolution along a sequence: C×L → filters×L'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv1d {
    /// Number of output channels.
    pub filters: usize,
    /// Window length.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Border handling.
    pub padding: Padding,
    /// Activation applied to the outputs.
    pub activation: Activation,
}

impl PaletteEntries for Conv1d {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            filters: 64,
            kernel: 5,
            stride: 1,
            padding: Padding::Same,
            activation: Activation::Relu,
        }]
    }
}

impl LayerKind for Conv1d {
    fn label(&self) -> &'static str {
        "Conv1d"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        let y = super::shared::onnx_conv(cx, self.kernel, self.stride)?;
        Ok(cx.activation(&y, self.activation))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        super::shared::torch_conv(cx, self.filters, self.kernel, self.stride, self.activation)
    }

    fn help(&self) -> &'static str {
        "Slides learned filters along a sequence to detect short patterns, such as a phrase of a few words, wherever they appear."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        let (filters, kernel, stride) = (self.filters, self.kernel, self.stride);
        if filters == 0 || kernel == 0 || stride == 0 {
            return Err(cx.fail(format!(
                "Conv1d '{}' needs filters, kernel size and stride of at least 1.",
                cx.name
            )));
        }
        let (_, l) = cx.sequence_input()?;
        let Some(out) = window_out(l, kernel, stride, self.padding) else {
            return Err(cx.fail(format!(
                "Conv1d '{}' has a window of {kernel} but its input is only {l} long; use a smaller window, 'same' padding, or less pooling before it.",
                cx.name
            )));
        };
        Ok(vec![filters, out])
    }

    fn params(&self, input: &[usize]) -> Vec<Param> {
        let c = input.first().copied().unwrap_or(1);
        vec![
            Param::weight(
                "weight",
                vec![self.filters, c, self.kernel],
                Init::Glorot {
                    fan_in: c * self.kernel,
                    fan_out: self.filters * self.kernel,
                },
            ),
            Param::bias("bias", vec![self.filters], Init::Constant(0.0)),
        ]
    }

    fn has_weights(&self) -> bool {
        true
    }

    fn build(&self, cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let [weight, bias] = cx.create_tensors(&self.params(cx.input))?;
        Ok(Box::new(Conv1dForward {
            layer: self.clone(),
            weight,
            bias,
        }))
    }

    fn settings_line(&self) -> String {
        format!(
            "{} filters of {}{}, {}",
            self.filters,
            self.kernel,
            stride_and_padding(self.stride, self.padding),
            self.activation.label()
        )
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![
            Setting::count(
                "Filters",
                "How many different patterns the layer looks for.",
                &mut self.filters,
                1..=4096,
            ),
            Setting::count(
                "Window",
                "How many neighbouring positions (e.g. words) each filter sees.",
                &mut self.kernel,
                1..=31,
            ),
            Setting::count("Stride", "", &mut self.stride, 1..=8),
            Setting::new(
                "Padding",
                "Valid: no border, the sequence shrinks. Same: zero border, the length stays.",
                SettingValue::Padding(&mut self.padding),
            ),
            Setting::activation(&mut self.activation),
        ]
    }
}

struct Conv1dForward {
    layer: Conv1d,
    weight: Tensor,
    bias: Tensor,
}

impl Forward for Conv1dForward {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        let y = conv1d(
            super::first(inputs)?,
            &self.weight,
            &self.bias,
            self.layer.kernel,
            self.layer.stride,
            self.layer.padding,
        )?;
        cx.finish(y, self.layer.activation)
    }
}
