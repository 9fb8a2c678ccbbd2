//! Dense (fully connected) layer: every input value to every output with a learned weight.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::{
    BuildCx, Forward, ForwardCx, InferCx, Init, Layer, LayerKind, PaletteEntries, Param, Setting,
};
use crate::engine::fused;
use crate::engine::network::NetworkError;
use crate::export::onnx::{Attr, OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{shape_label, Activation, DataFit, Fix, GraphError, Shape};
use crate::project::Task;

/// Fully connected layer on a flat input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Number of outputs.
    pub units: usize,
    /// Activation applied to the outputs.
    pub activation: Activation,
}

impl PaletteEntries for Dense {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            units: 64,
            activation: Activation::Relu,
        }]
    }
}

impl LayerKind for Dense {
    fn label(&self) -> &'static str {
        "Dense"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        let x = cx.input()?;
        let (w, b) = (cx.weight("weight")?, cx.weight("bias")?);
        let y = cx.node("Gemm", &[&x, &w, &b], vec![Attr::Int("transB", 1)]);
        Ok(cx.activation(&y, self.activation))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        let fan_in = cx.input_shape().iter().product::<usize>();
        cx.module_call(
            format!("nn.Linear({fan_in}, {})", self.units),
            self.activation,
        )
    }

    fn help(&self) -> &'static str {
        "Connects every input value to every output with a learned weight. The workhorse of classic neural networks; the last Dense layer gives one score per class."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        if self.units == 0 {
            return Err(cx.fail(format!("Dense '{}' needs at least 1 unit.", cx.name)));
        }
        let (from, s) = cx.first()?;
        if s.len() != 1 {
            return Err(cx.fail(format!(
                "Dense '{}' needs a flat input; insert Flatten after '{from}' (shape {}).",
                cx.name,
                shape_label(s)
            )));
        }
        Ok(vec![self.units])
    }

    fn params(&self, input: &[usize]) -> Vec<Param> {
        let fan_in = input.iter().product::<usize>();
        vec![
            Param::weight(
                "weight",
                vec![self.units, fan_in],
                Init::Glorot {
                    fan_in,
                    fan_out: self.units,
                },
            ),
            Param::bias("bias", vec![self.units], Init::Constant(0.0)),
        ]
    }

    fn has_weights(&self) -> bool {
        true
    }

    fn build(&self, cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let [weight, bias] = cx.create_tensors(&self.params(cx.input))?;
        Ok(Box::new(DenseForward {
            weight,
            bias,
            activation: self.activation,
        }))
    }

    fn settings_line(&self) -> String {
        format!("{} units, {}", self.units, self.activation.label())
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![
            Setting::count(
                "Units",
                "How many outputs (neurons) the layer has.",
                &mut self.units,
                1..=65536,
            ),
            Setting::activation(&mut self.activation),
        ]
    }

    fn fit_to_data(&self, name: &str, data: &DataFit, is_output: bool) -> Option<Fix> {
        if !is_output || (data.task == Task::Classify && data.classes < 2) {
            return None;
        }
        let (outputs, activation) = match data.task {
            Task::Classify => (data.classes, self.activation),
            Task::Regress => (1, Activation::Linear),
        };
        if self.units == outputs && self.activation == activation {
            return None;
        }
        let units = self.units;
        let (problem, advice) = match data.task {
            Task::Classify => (
                format!("the last layer '{name}' gives {units} values but the data has {outputs} classes"),
                format!("the last layer '{name}' gives {units} values but the data has {outputs} classes; set its units to {outputs}"),
            ),
            Task::Regress => (
                format!("the last layer '{name}' should give one number with a linear activation to predict a number"),
                format!("the last layer '{name}' gives {units} values ({}) but predicting a number needs exactly 1 with a linear activation; set its units to 1 and its activation to linear", self.activation.label()),
            ),
        };
        Some(Fix {
            node: name.to_owned(),
            problem,
            advice,
            replacement: Some(Layer::Dense(Self {
                units: outputs,
                activation,
            })),
        })
    }
}

struct DenseForward {
    weight: Tensor,
    bias: Tensor,
    activation: Activation,
}

impl Forward for DenseForward {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        // Hidden layers get their activation fused in; the output's is left over.
        let (inner, left) = cx.split_activation(self.activation);
        let y = fused::dense(super::first(inputs)?, &self.weight, &self.bias, inner)?;
        Ok((y, left))
    }
}
