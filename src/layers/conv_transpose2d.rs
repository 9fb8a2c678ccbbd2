//! Transposed 2-D convolution: each input position spreads a learned filter over the output, so
//! with stride 2 the picture grows to twice its size — how an image generator paints.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::{
    BuildCx, Forward, ForwardCx, InferCx, Init, LayerKind, LayerMemory, MemoryCx, PaletteEntries,
    Param, Setting,
};
use crate::engine::network::NetworkError;
use crate::export::onnx::{Attr, OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{Activation, GraphError, Shape};

/// Transposed convolution over a C×H×W input: output size (n − 1)·stride − 2·crop + kernel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvTranspose2d {
    /// Number of output channels.
    pub filters: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Step between the input positions' filters on the output (2 doubles the size).
    pub stride: usize,
    /// Rows and columns cut from each border of the result (PyTorch's `padding`).
    pub crop: usize,
    /// Activation applied to the outputs.
    pub activation: Activation,
}

impl PaletteEntries for ConvTranspose2d {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        // 4×4 filters at stride 2 cropped by 1: exactly twice the size (DCGAN's choice).
        vec![Self {
            filters: 32,
            kernel: 4,
            stride: 2,
            crop: 1,
            activation: Activation::Relu,
        }]
    }
}

impl ConvTranspose2d {
    fn out(&self, n: usize) -> Option<usize> {
        ((n.max(1) - 1) * self.stride + self.kernel).checked_sub(2 * self.crop)
    }
}

impl LayerKind for ConvTranspose2d {
    fn label(&self) -> &'static str {
        "ConvTranspose2d"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        let x = cx.input()?;
        let (w, b) = (cx.weight("weight")?, cx.weight("bias")?);
        let (k, s, p) = (self.kernel as i64, self.stride as i64, self.crop as i64);
        let y = cx.node(
            "ConvTranspose",
            &[&x, &w, &b],
            vec![
                Attr::Ints("kernel_shape", vec![k, k]),
                Attr::Ints("strides", vec![s, s]),
                Attr::Ints("pads", vec![p, p, p, p]),
            ],
        );
        Ok(cx.activation(&y, self.activation))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        let c = cx.input_shape().first().copied().unwrap_or(1);
        cx.module_call(
            format!(
                "nn.ConvTranspose2d({c}, {}, {}, stride={}, padding={})",
                self.filters, self.kernel, self.stride, self.crop
            ),
            self.activation,
        )
    }

    fn help(&self) -> &'static str {
        "The reverse of a convolution: every input pixel spreads a learned pattern over a larger output. With stride 2 the picture doubles in size; image generators (GANs) use it to paint pictures from a small block of numbers."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        if self.filters == 0 || self.kernel == 0 || self.stride == 0 {
            return Err(cx.fail(format!(
                "ConvTranspose2d '{}' needs filters, kernel size and stride of at least 1.",
                cx.name
            )));
        }
        let (_, h, w) = cx.image_input()?;
        match (self.out(h), self.out(w)) {
            (Some(oh), Some(ow)) if oh > 0 && ow > 0 => Ok(vec![self.filters, oh, ow]),
            _ => Err(cx.fail(format!(
                "ConvTranspose2d '{}' crops {} from each border of a {}-pixel result; crop less or use a larger kernel.",
                cx.name,
                self.crop,
                (h.max(1) - 1) * self.stride + self.kernel
            ))),
        }
    }

    fn params(&self, input: &[usize]) -> Vec<Param> {
        let c = input.first().copied().unwrap_or(1);
        let kk = self.kernel * self.kernel;
        vec![
            // PyTorch's layout: input channels first.
            Param::weight(
                "weight",
                vec![c, self.filters, self.kernel, self.kernel],
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
        Ok(Box::new(ConvTranspose2dForward {
            layer: self.clone(),
            weight,
            bias,
        }))
    }

    fn memory(&self, cx: &MemoryCx<'_>) -> LayerMemory {
        LayerMemory {
            floats_per_sample: 3 * cx.output.iter().product::<usize>() as u64,
            scratch_floats_per_thread: 0,
            frozen_floats_per_sample: 0,
        }
    }

    fn settings_line(&self) -> String {
        format!(
            "{} filters {k}×{k} stride {}{}, {}",
            self.filters,
            self.stride,
            if self.crop > 0 {
                format!(" crop {}", self.crop)
            } else {
                String::new()
            },
            self.activation.label(),
            k = self.kernel
        )
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![
            Setting::count(
                "Filters",
                "How many channels the layer paints.",
                &mut self.filters,
                1..=4096,
            ),
            Setting::count(
                "Kernel size",
                "Width and height of each painted pattern in pixels.",
                &mut self.kernel,
                1..=15,
            ),
            Setting::count(
                "Stride",
                "Step between the patterns on the output; 2 doubles the picture size.",
                &mut self.stride,
                1..=8,
            ),
            Setting::count(
                "Crop",
                "Rows and columns cut from each border of the result (PyTorch's padding); kernel 4, stride 2, crop 1 doubles the size exactly.",
                &mut self.crop,
                0..=8,
            ),
            Setting::activation(&mut self.activation),
        ]
    }
}

struct ConvTranspose2dForward {
    layer: ConvTranspose2d,
    weight: Tensor,
    bias: Tensor,
}

impl Forward for ConvTranspose2dForward {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        let x = super::first(inputs)?;
        let l = &self.layer;
        let y = x.conv_transpose2d(&self.weight, l.crop, 0, l.stride, 1)?;
        let y = y.broadcast_add(&self.bias.reshape((1, l.filters, 1, 1))?)?;
        cx.finish(y, l.activation)
    }
}
