//! Flatten: any shape → one long vector.

use serde::{Deserialize, Serialize};

use super::first;
use super::shared::stateless;
use super::{BuildCx, Forward, InferCx, LayerKind, PaletteEntries};
use crate::engine::network::NetworkError;
use crate::export::onnx::{Attr, OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{GraphError, Shape};

/// Any shape → one long vector.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Flatten {}

impl PaletteEntries for Flatten {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {}]
    }
}

impl LayerKind for Flatten {
    fn label(&self) -> &'static str {
        "Flatten"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        let x = cx.input()?;
        Ok(cx.node("Flatten", &[&x], vec![Attr::Int("axis", 1)]))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        TorchCx::function(format!("torch.flatten({}, 1)", cx.input()?))
    }

    fn help(&self) -> &'static str {
        "Unrolls an image-shaped input into one long list of numbers so Dense layers can use it."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        let (_, s) = cx.first()?;
        Ok(vec![s.iter().product()])
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        Ok(stateless(|inputs, _| first(inputs)?.flatten_from(1)))
    }
}
