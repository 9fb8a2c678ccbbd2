//! 2-D convolution: small learned filters slid over an image (fused with bias, activation and,
//! when a max-pool is its only consumer, that pool).

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::{
    stride_and_padding, BuildCx, Forward, ForwardCx, InferCx, Init, LayerKind, LayerMemory,
    MemoryCx, PaletteEntries, Param, Setting, SettingValue,
};
use crate::engine::fused;
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{window_out, Activation, GraphError, Padding, Shape};

/// 2-D convolution over a C×H×W input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Number of output channels.
    pub filters: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Border handling.
    pub padding: Padding,
    /// Activation applied to the outputs.
    pub activation: Activation,
}

impl PaletteEntries for Conv2d {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            filters: 32,
            kernel: 3,
            stride: 1,
            padding: Padding::Valid,
            activation: Activation::Relu,
        }]
    }
}

impl LayerKind for Conv2d {
    fn label(&self) -> &'static str {
        "Conv2d"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        let y = super::shared::onnx_conv(cx, self.kernel, self.stride)?;
        Ok(cx.activation(&y, self.activation))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        super::shared::torch_conv(cx, self.filters, self.kernel, self.stride, self.activation)
    }

    fn help(&self) -> &'static str {
        "Slides small learned filters over the image to detect local patterns such as edges and textures, wherever they appear."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        let (filters, kernel, stride) = (self.filters, self.kernel, self.stride);
        if filters == 0 || kernel == 0 || stride == 0 {
            return Err(cx.fail(format!(
                "Conv2d '{}' needs filters, kernel size and stride of at least 1.",
                cx.name
            )));
        }
        let (_, h, w) = cx.image_input()?;
        let (Some(oh), Some(ow)) = (
            window_out(h, kernel, stride, self.padding),
            window_out(w, kernel, stride, self.padding),
        ) else {
            return Err(cx.fail(format!(
                "Conv2d '{}' has a {kernel}×{kernel} kernel but its input is only {h}×{w}; use a smaller kernel, 'same' padding, or less pooling before it.",
                cx.name
            )));
        };
        Ok(vec![filters, oh, ow])
    }

    fn params(&self, input: &[usize]) -> Vec<Param> {
        let c = input.first().copied().unwrap_or(1);
        let kk = self.kernel * self.kernel;
        vec![
            Param::weight(
                "weight",
                vec![self.filters, c, self.kernel, self.kernel],
                Init::Glorot {
                    fan_in: c * kk,
                    fan_out: self.filters * kk,
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
        Ok(Box::new(Conv2dForward {
            layer: self.clone(),
            weight,
            bias,
            then_max_pool: cx.then_max_pool,
        }))
    }

    fn memory(&self, cx: &MemoryCx<'_>) -> LayerMemory {
        let in_channels = cx.input.first().copied().unwrap_or(1) as u64;
        let positions = cx.output.get(1..).unwrap_or(&[]).iter().product::<usize>() as u64;
        LayerMemory {
            // Computed together with its max-pool: never stored.
            floats_per_sample: if cx.fused_with_pool {
                0
            } else {
                3 * cx.output.iter().product::<usize>() as u64
            },
            // Unfolded windows and their gradient, one pair per worker thread.
            scratch_floats_per_thread: 2
                * in_channels
                * (self.kernel * self.kernel) as u64
                * positions,
            frozen_floats_per_sample: 0,
        }
    }

    fn settings_line(&self) -> String {
        format!(
            "{} filters {k}×{k}{}, {}",
            self.filters,
            stride_and_padding(self.stride, self.padding),
            self.activation.label(),
            k = self.kernel
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
                "Kernel size",
                "Width and height of each filter in pixels.",
                &mut self.kernel,
                1..=15,
            ),
            Setting::count(
                "Stride",
                "Step between filter positions; 2 halves the image size.",
                &mut self.stride,
                1..=8,
            ),
            Setting::new(
                "Padding",
                "Valid: no border, the image shrinks. Same: zero border, the size stays.",
                SettingValue::Padding(&mut self.padding),
            ),
            Setting::activation(&mut self.activation),
        ]
    }

    fn spatial_window(&self) -> Option<super::SpatialWindow> {
        Some(super::SpatialWindow {
            kernel: self.kernel,
            stride: self.stride,
            same_padding: self.padding == crate::model::Padding::Same,
        })
    }

    fn fuses_max_pool(&self) -> bool {
        true
    }
}

struct Conv2dForward {
    layer: Conv2d,
    weight: Tensor,
    bias: Tensor,
    then_max_pool: Option<(usize, usize)>,
}

impl Conv2dForward {
    /// Padding before the image (top, left) and the output size for an `h`×`w` input: `Valid`
    /// uses only the rows/columns the windows reach; `Same` pads with zeros (the extra
    /// row/column, if any, at the bottom/right) so the output is ⌈n / stride⌉.
    fn layout(&self, h: usize, w: usize) -> candle_core::Result<((usize, usize), (usize, usize))> {
        let (k, s, padding) = (self.layer.kernel, self.layer.stride, self.layer.padding);
        let out = |n: usize| {
            window_out(n, k, s, padding).ok_or_else(|| {
                candle_core::Error::Msg(format!(
                    "a {k}×{k} convolution does not fit a {h}×{w} input"
                ))
            })
        };
        let (oh, ow) = (out(h)?, out(w)?);
        let before = |n: usize, o: usize| match padding {
            Padding::Valid => 0,
            Padding::Same => ((o - 1) * s + k).saturating_sub(n) / 2,
        };
        Ok(((before(h, oh), before(w, ow)), (oh, ow)))
    }
}

impl Forward for Conv2dForward {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        let x = super::first(inputs)?;
        let (_, _, h, wd) = x.dims4()?;
        let (pads, out) = self.layout(h, wd)?;
        let stride = self.layer.stride;
        if let Some(pool) = self.then_max_pool {
            // The pool's value is computed here; the convolution keeps none. (A fused
            // convolution is never the output, so its activation is applied inside.)
            let y = fused::conv2d_max_pool(
                x,
                &self.weight,
                &self.bias,
                stride,
                pads,
                out,
                self.layer.activation,
                pool,
            )?;
            return Ok((y, Activation::Linear));
        }
        let (inner, left) = cx.split_activation(self.layer.activation);
        let y = fused::conv2d(x, &self.weight, &self.bias, stride, pads, out, inner)?;
        Ok((y, left))
    }
}
