//! Reshape: a flat vector → an image-shaped block (channels × height × width), as a generator
//! needs after its first Dense layer.

use serde::{Deserialize, Serialize};

use super::first;
use super::shared::stateless;
use super::{BuildCx, Forward, InferCx, LayerKind, PaletteEntries, Setting};
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{shape_label, GraphError, Shape};

/// A flat vector laid out as channels × height × width.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reshape {
    /// Channels of the result.
    pub channels: usize,
    /// Height of the result.
    pub height: usize,
    /// Width of the result.
    pub width: usize,
}

impl PaletteEntries for Reshape {
    fn palette_entries(input_shape: &[usize]) -> Vec<Self> {
        // The input's own picture size when the model reads pictures, else a small square.
        let (h, w) = match input_shape {
            [_, h, w] => (h.div_ceil(4).max(1), w.div_ceil(4).max(1)),
            _ => (7, 7),
        };
        vec![Self {
            channels: 64,
            height: h,
            width: w,
        }]
    }
}

impl LayerKind for Reshape {
    fn label(&self) -> &'static str {
        "Reshape"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        let x = cx.input()?;
        let shape = cx.constant_i64(
            "shape",
            &[
                -1,
                self.channels as i64,
                self.height as i64,
                self.width as i64,
            ],
        );
        Ok(cx.node("Reshape", &[&x, &shape], vec![]))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        TorchCx::function(format!(
            "{}.reshape(-1, {}, {}, {})",
            cx.input()?,
            self.channels,
            self.height,
            self.width
        ))
    }

    fn help(&self) -> &'static str {
        "Lays a flat list of numbers out as a small image (channels × height × width), so convolutions can work on it — how an image generator turns its random input into pictures."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        let (from, s) = cx.first()?;
        let want = self.channels * self.height * self.width;
        if want == 0 {
            return Err(cx.fail(format!(
                "Reshape '{}' needs channels, height and width of at least 1.",
                cx.name
            )));
        }
        let have: usize = s.iter().product();
        if have != want {
            return Err(cx.fail(format!(
                "Reshape '{}' makes {}×{}×{} = {want} values, but '{from}' gives {} ({have} values); make them equal (e.g. set the Dense layer before it to {want} units).",
                cx.name,
                self.channels,
                self.height,
                self.width,
                shape_label(s)
            )));
        }
        Ok(vec![self.channels, self.height, self.width])
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let (c, h, w) = (self.channels, self.height, self.width);
        Ok(stateless(move |inputs, _| {
            let x = first(inputs)?;
            let n = x.dim(0)?;
            x.reshape((n, c, h, w))
        }))
    }

    fn settings_line(&self) -> String {
        format!("to {}×{}×{}", self.channels, self.height, self.width)
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![
            Setting::count(
                "Channels",
                "Channels of the result.",
                &mut self.channels,
                1..=4096,
            ),
            Setting::count(
                "Height",
                "Height of the result.",
                &mut self.height,
                1..=4096,
            ),
            Setting::count("Width", "Width of the result.", &mut self.width, 1..=4096),
        ]
    }
}
