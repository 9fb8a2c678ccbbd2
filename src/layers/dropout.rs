//! Dropout: randomly zeroes a fraction of values while training (scaled so the mean stays).

use candle_core::Tensor;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::first;
use super::shared::stateless;
use super::{BuildCx, Forward, InferCx, LayerKind, PaletteEntries, Setting, SettingValue};
use crate::engine::network::NetworkError;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{python_float, TorchCx, TorchError, TorchLayer};
use crate::model::{Activation, GraphError, Shape};

/// Randomly zeroes a fraction of values while training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dropout {
    /// Fraction dropped, in [0, 1).
    pub rate: f32,
}

impl PaletteEntries for Dropout {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self { rate: 0.25 }]
    }
}

impl LayerKind for Dropout {
    fn label(&self) -> &'static str {
        "Dropout"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        // Dropout only acts while training: the exported model passes values through.
        cx.input()
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        // Inverted dropout, as Strata's: only while training.
        cx.module_call(
            format!("nn.Dropout({})", python_float(self.rate)),
            Activation::Linear,
        )
    }

    fn help(&self) -> &'static str {
        "While training, randomly switches off a fraction of values so the network cannot rely on any single one. Fights overfitting; does nothing when predicting."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(cx.fail(format!(
                "Dropout '{}' has rate {}; it must be at least 0 and below 1 (0.5 drops half).",
                cx.name, self.rate
            )));
        }
        Ok(cx.first()?.1.clone())
    }

    fn build(&self, _cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let rate = self.rate;
        Ok(stateless(move |inputs, cx| {
            let x = first(inputs)?;
            if !cx.train || rate <= 0.0 {
                return Ok(x.clone());
            }
            let keep = 1.0 - rate;
            let mask: Vec<f32> = (0..x.elem_count())
                .map(|_| {
                    if cx.rng.random::<f32>() < keep {
                        1.0 / keep
                    } else {
                        0.0
                    }
                })
                .collect();
            x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
        }))
    }

    fn settings_line(&self) -> String {
        format!("drops {:.0}%", self.rate * 100.0)
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![Setting::new(
            "Rate",
            "Fraction of values switched off while training.",
            SettingValue::Fraction {
                value: &mut self.rate,
                min: 0.0,
                max: 0.9,
            },
        )]
    }
}
