//! Batch normalisation: each channel rescaled with batch statistics while training and running
//! averages after.

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use super::{
    BuildCx, Forward, ForwardCx, InferCx, Init, LayerKind, PaletteEntries, Param, Setting,
    SettingValue,
};
use crate::engine::network::NetworkError;
use crate::export::onnx::{Attr, OnnxCx, OnnxError};
use crate::export::pytorch::{python_float, TorchCx, TorchError, TorchLayer};
use crate::model::{shape_label, Activation, GraphError, Shape};

/// Normalises each channel with batch statistics while training and running averages after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm {
    /// Weight of the newest batch in the running averages.
    pub momentum: f32,
    /// Added to the variance for numerical stability.
    pub epsilon: f32,
}

impl PaletteEntries for BatchNorm {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            momentum: 0.1,
            epsilon: 1e-5,
        }]
    }
}

impl LayerKind for BatchNorm {
    fn label(&self) -> &'static str {
        "BatchNorm"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        // The running statistics, as when predicting.
        let x = cx.input()?;
        let gamma = cx.weight("weight")?;
        let beta = cx.weight("bias")?;
        let mean = cx.weight("running_mean")?;
        let var = cx.weight("running_var")?;
        Ok(cx.node(
            "BatchNormalization",
            &[&x, &gamma, &beta, &mean, &var],
            vec![Attr::Float("epsilon", self.epsilon)],
        ))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        // Running statistics after training, batch statistics while training, as Strata.
        let c = cx.input_shape().first().copied().unwrap_or(1);
        let dims = if cx.input_shape().len() == 3 { 2 } else { 1 };
        cx.module_call(
            format!(
                "nn.BatchNorm{dims}d({c}, eps={}, momentum={})",
                python_float(self.epsilon),
                python_float(self.momentum)
            ),
            Activation::Linear,
        )
    }

    fn help(&self) -> &'static str {
        "Rescales values to a steady range during training, which often makes training faster and more stable."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        if !(0.0..=1.0).contains(&self.momentum) || self.epsilon <= 0.0 {
            return Err(cx.fail(format!(
                "BatchNorm '{}' needs a momentum between 0 and 1 and a positive epsilon.",
                cx.name
            )));
        }
        let (_, s) = cx.first()?;
        if s.len() != 1 && s.len() != 3 {
            return Err(cx.fail(format!(
                "BatchNorm '{}' works on flat or image-shaped inputs, not {}.",
                cx.name,
                shape_label(s)
            )));
        }
        Ok(s.clone())
    }

    fn params(&self, input: &[usize]) -> Vec<Param> {
        let c = input.first().copied().unwrap_or(1);
        vec![
            Param::bias("weight", vec![c], Init::Constant(1.0)),
            Param::bias("bias", vec![c], Init::Constant(0.0)),
            Param::statistic("running_mean", vec![c], 0.0),
            Param::statistic("running_var", vec![c], 1.0),
        ]
    }

    fn param_count(&self, input: &[usize]) -> usize {
        // Keras counts the running statistics too; Strata counts what trains.
        2 * input.first().copied().unwrap_or(1)
    }

    fn has_weights(&self) -> bool {
        true
    }

    fn build(&self, cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let [gamma, beta, mean, var] = <[_; 4]>::try_from(cx.create(&self.params(cx.input))?)
            .map_err(|_| NetworkError::Weights(format!("'{}' lost a tensor", cx.name)))?;
        Ok(Box::new(BatchNormForward {
            gamma: gamma.as_tensor().clone(),
            beta: beta.as_tensor().clone(),
            running_mean: mean,
            running_var: var,
            momentum: f64::from(self.momentum),
            epsilon: f64::from(self.epsilon),
        }))
    }

    fn settings_line(&self) -> String {
        format!("momentum {}", self.momentum)
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![
            Setting::new(
                "Momentum",
                "",
                SettingValue::Number {
                    value: &mut self.momentum,
                    min: 0.001,
                    max: 1.0,
                    speed: 0.01,
                },
            ),
            Setting::new(
                "Epsilon",
                "",
                SettingValue::Number {
                    value: &mut self.epsilon,
                    min: 1e-8,
                    max: 0.1,
                    speed: 1e-5,
                },
            ),
        ]
    }
}

struct BatchNormForward {
    gamma: Tensor,
    beta: Tensor,
    running_mean: Var,
    running_var: Var,
    momentum: f64,
    epsilon: f64,
}

impl Forward for BatchNormForward {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        let x = super::first(inputs)?;
        let c = self.gamma.elem_count();
        let image = x.rank() == 4;
        let view = |t: &Tensor| -> candle_core::Result<Tensor> {
            if image {
                t.reshape((1, c, 1, 1))
            } else {
                t.reshape((1, c))
            }
        };
        let (mean, var) = if cx.train {
            // Per-channel statistics over batch (and positions).
            let xs = if image {
                x.transpose(0, 1)?.flatten_from(1)?
            } else {
                x.t()?
            };
            let mean = xs.mean(1)?;
            let centered = xs.broadcast_sub(&mean.unsqueeze(1)?)?;
            let var = centered.sqr()?.mean(1)?;
            let n = xs.dim(1)? as f64;
            let unbiased = if n > 1.0 {
                (var.detach() * (n / (n - 1.0)))?
            } else {
                var.detach()
            };
            let m = self.momentum;
            for (running, batch) in [
                (&self.running_mean, mean.detach()),
                (&self.running_var, unbiased),
            ] {
                let updated = ((running.as_tensor() * (1.0 - m))? + (batch * m)?)?;
                running.set(&updated)?;
            }
            (mean, var)
        } else {
            (
                self.running_mean.as_tensor().clone(),
                self.running_var.as_tensor().clone(),
            )
        };
        let inv = (var + self.epsilon)?.sqrt()?.recip()?;
        let y = x
            .broadcast_sub(&view(&mean)?)?
            .broadcast_mul(&view(&(inv.mul(&self.gamma)?))?)?
            .broadcast_add(&view(&self.beta)?)?;
        cx.finish(y, Activation::Linear)
    }
}
