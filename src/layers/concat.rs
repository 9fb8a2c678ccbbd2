//! Concat: joins inputs along the channel (first) axis.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::shared::stateless;
use super::{BuildCx, Forward, InferCx, LayerKind, PaletteEntries};
use crate::engine::network::NetworkError;
use crate::export::onnx::{Attr, OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{shape_label, GraphError, Shape};

/// Joins inputs along the channel (first) axis.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Concat {}

impl PaletteEntries for Concat {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {}]
    }
}

impl LayerKind for Concat {
    fn label(&self) -> &'static str {
        "Concat"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        let inputs = cx.inputs;
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(cx.node("Concat", &refs, vec![Attr::Int("axis", 1)]))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        TorchCx::function(format!("torch.cat([{}], dim=1)", cx.inputs.join(", ")))
    }

    fn help(&self) -> &'static str {
        "Stacks its inputs along the channel axis so the next layer sees all of them."
    }

    fn arity(&self) -> (usize, usize) {
        (2, usize::MAX)
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        let (from0, s0) = cx.first()?;
        let mut channels = s0.first().copied().unwrap_or(0);
        for (from, s) in &cx.inputs[1..] {
            if s.len() != s0.len() || s.get(1..) != s0.get(1..) {
                return Err(cx.fail(format!(
                    "Concat '{}' joins along the first axis, so the other sizes must match, but '{from0}' gives {} and '{from}' gives {}.",
                    cx.name,
                    shape_label(s0),
                    shape_label(s)
                )));
            }
            channels += s.first().copied().unwrap_or(0);
        }
        let mut out = s0.clone();
        if let Some(c) = out.first_mut() {
            *c = channels;
        }
        Ok(out)
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        Ok(stateless(|inputs, _| Tensor::cat(inputs, 1)))
    }
}
