//! Add: element-wise sum of inputs of the same shape (skip connections).

use serde::{Deserialize, Serialize};

use super::first;
use super::shared::stateless;
use super::{BuildCx, Forward, InferCx, LayerKind, PaletteEntries};
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{shape_label, GraphError, Shape};

/// Element-wise sum of inputs of the same shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Add {}

impl PaletteEntries for Add {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {}]
    }
}

impl LayerKind for Add {
    fn label(&self) -> &'static str {
        "Add"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        let inputs = cx.inputs;
        let mut sum = cx.input()?;
        for other in inputs.iter().skip(1) {
            sum = cx.node("Add", &[&sum, other], vec![]);
        }
        Ok(sum)
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        TorchCx::function(cx.inputs.join(" + "))
    }

    fn help(&self) -> &'static str {
        "Adds its inputs together; used for skip connections that let information bypass layers."
    }

    fn arity(&self) -> (usize, usize) {
        (2, usize::MAX)
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        let (from0, s0) = cx.first()?;
        for (from, s) in &cx.inputs[1..] {
            if s != s0 {
                return Err(cx.fail(format!(
                    "Add '{}' needs inputs of the same shape, but '{from0}' gives {} and '{from}' gives {}.",
                    cx.name,
                    shape_label(s0),
                    shape_label(s)
                )));
            }
        }
        Ok(s0.clone())
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        Ok(stateless(|inputs, _| {
            let mut acc = first(inputs)?.clone();
            for t in &inputs[1..] {
                acc = acc.add(t)?;
            }
            Ok(acc)
        }))
    }
}
