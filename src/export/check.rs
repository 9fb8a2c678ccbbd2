//! Checking an exported ONNX file: `tract` (a second, independent engine, pure Rust) runs the
//! file on the same inputs as Strata's own network, and both answers are compared.

use std::collections::hash_map::{Entry, HashMap};

use candle_core::Tensor;
use rand::SeedableRng;
use tract_onnx::prelude::{DatumExt, Framework, InferenceModelExt, IntoRunnable, IntoTValue, TVec};

use super::onnx::OnnxError;
use crate::engine::network::{activate, Network};

/// Samples per batch for both engines.
const BATCH: usize = 32;

/// How an exported file compared with Strata's own network.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    /// Samples both engines ran.
    pub samples: usize,
    /// What they were ("test samples", "random inputs").
    pub source: String,
    /// Samples where both gave the same class (classification; equal to `samples` otherwise).
    pub same_class: usize,
    /// Whether the outputs are class probabilities.
    pub classify: bool,
    /// The largest absolute difference between any two corresponding outputs.
    pub max_abs_diff: f32,
    /// The largest difference allowed.
    pub tolerance: f32,
}

impl CheckReport {
    /// Whether the file agrees with Strata: the same class everywhere and differences within the
    /// tolerance.
    pub fn passed(&self) -> bool {
        self.samples > 0
            && self.same_class == self.samples
            && self.max_abs_diff.is_finite()
            && self.max_abs_diff <= self.tolerance
    }

    /// "checked on 64 test samples: same class on 64/64, largest difference 2.4e-7".
    pub fn line(&self) -> String {
        let class = if self.classify {
            format!("same class on {}/{}, ", self.same_class, self.samples)
        } else {
            String::new()
        };
        format!(
            "checked on {} {}: {class}largest difference {:.1e}",
            self.samples, self.source, self.max_abs_diff
        )
    }
}

/// Index of the largest value.
fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 {
                (i, v)
            } else {
                best
            }
        })
        .0
}

fn engine_error(e: impl std::fmt::Display) -> OnnxError {
    OnnxError::Engine(format!("{e:#}"))
}

/// Runs the ONNX file `bytes` in tract and `network` in Strata on `inputs` (`[N, …]`, on the
/// network's device) and compares their outputs. `source` says what the inputs are.
pub fn check(
    bytes: &[u8],
    network: &Network,
    inputs: &Tensor,
    source: &str,
    classify: bool,
    tolerance: f32,
) -> Result<CheckReport, OnnxError> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(engine_error)?;
    let n = inputs.dim(0)?;
    let sample_dims = inputs.dims()[1..].to_vec();
    let mut plans = HashMap::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut report = CheckReport {
        samples: n,
        source: source.to_owned(),
        same_class: 0,
        classify,
        max_abs_diff: 0.0,
        tolerance,
    };
    for start in (0..n).step_by(BATCH) {
        let b = BATCH.min(n - start);
        let x = inputs.narrow(0, start, b)?;
        let out = network.forward(&x, false, &mut rng)?;
        let ours = activate(&out.pre_activation, out.activation)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let shape: Vec<usize> = std::iter::once(b).chain(sample_dims.clone()).collect();
        let plan = match plans.entry(b) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(
                model
                    .clone()
                    .with_input_fact(0, f32::fact(shape.clone()).into())
                    .and_then(|m| m.into_optimized())
                    .and_then(|m| m.into_runnable())
                    .map_err(engine_error)?,
            ),
        };
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let input =
            tract_onnx::prelude::Tensor::from_shape(&shape, &values).map_err(engine_error)?;
        let outputs = plan
            .run(TVec::from_elem(input.into_tvalue(), 1))
            .map_err(engine_error)?;
        let theirs: Vec<f32> = outputs
            .first()
            .ok_or_else(|| OnnxError::Engine("the file gave no output".to_owned()))?
            .to_plain_array_view::<f32>()
            .map_err(engine_error)?
            .iter()
            .copied()
            .collect();
        if theirs.len() != ours.len() {
            return Err(OnnxError::Engine(format!(
                "the file gives {} values for {b} samples where Strata gives {}",
                theirs.len(),
                ours.len()
            )));
        }
        let width = ours.len() / b.max(1);
        for (a, t) in ours.chunks(width.max(1)).zip(theirs.chunks(width.max(1))) {
            for (p, q) in a.iter().zip(t) {
                let d = (p - q).abs();
                report.max_abs_diff = if d.is_nan() || report.max_abs_diff.is_nan() {
                    f32::NAN
                } else {
                    report.max_abs_diff.max(d)
                };
            }
            if !classify || argmax(a) == argmax(t) {
                report.same_class += 1;
            }
        }
    }
    Ok(report)
}
