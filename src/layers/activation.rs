//! A stand-alone activation function as a layer.

use serde::{Deserialize, Serialize};

use super::{
    BuildCx, Forward, ForwardCx, InferCx, LayerKind, PaletteEntries, Setting, SettingValue,
};
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{Activation, GraphError, Shape};

/// A stand-alone activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivationLayer {
    /// Which function.
    pub function: Activation,
}

impl PaletteEntries for ActivationLayer {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        // Every function but the identity, which a stand-alone layer has no use for.
        Activation::ALL
            .into_iter()
            .filter(|&function| function != Activation::Linear)
            .map(|function| Self { function })
            .collect()
    }
}

impl LayerKind for ActivationLayer {
    fn label(&self) -> &'static str {
        self.function.label()
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        let x = cx.input()?;
        Ok(cx.activation(&x, self.function))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        let x = cx.input()?.to_owned();
        TorchCx::function(cx.activation(&x, self.function))
    }

    fn help(&self) -> &'static str {
        match self.function {
            Activation::Linear => "Passes values through unchanged.",
            Activation::Relu => "ReLU keeps positive values and turns negative ones into zero. Simple, fast, the usual choice between layers.",
            Activation::LeakyRelu => "Like ReLU, but lets a small fraction of negative values through so units never go completely silent.",
            Activation::Sigmoid => "Squashes any value into the range 0 to 1; useful for yes/no outputs.",
            Activation::Tanh => "Squashes any value into the range −1 to 1.",
            Activation::Softmax => "Turns the scores of the last layer into probabilities that add up to 1, one per class.",
            Activation::Gelu => "A smooth version of ReLU used by modern transformer models.",
        }
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        Ok(cx.first()?.1.clone())
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        Ok(Box::new(Apply(self.function)))
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![Setting::new(
            "Function",
            "",
            SettingValue::Activation(&mut self.function),
        )]
    }
}

struct Apply(Activation);

impl Forward for Apply {
    fn forward(
        &self,
        inputs: &[&candle_core::Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(candle_core::Tensor, Activation), NetworkError> {
        cx.finish(super::first(inputs)?.clone(), self.0)
    }
}
