//! Element-wise activations as one op each, with a one-pass backward that reads the saved
//! output.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::{
    cpu_slice, fusable, with_slice, OutAct, GELU_A, GELU_C, LEAKY_SLOPE, PARALLEL_ELEMENTS,
};
use crate::model::Activation;

/// An element-wise activation as one op: forward and backward each a single pass.
#[derive(Clone, Copy, Debug)]
struct ActOp(Activation);

impl ActOp {
    fn forward(self, x: f32) -> f32 {
        match self.0 {
            Activation::Gelu => {
                let t = (GELU_C * (x + GELU_A * x * x * x)).tanh();
                0.5 * x * (1.0 + t)
            }
            other => OutAct::from_activation(other).map_or(x, |a| a.apply(x)),
        }
    }

    fn derivative(self, x: f32, y: f32) -> f32 {
        match self.0 {
            Activation::Gelu => {
                let t = (GELU_C * (x + GELU_A * x * x * x)).tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * x * x)
            }
            other => OutAct::from_activation(other).map_or(1.0, |a| a.derivative(y)),
        }
    }
}

impl CustomOp1 for ActOp {
    fn name(&self) -> &'static str {
        "strata-activation"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = cpu_slice(storage, layout)?;
        let op = *self;
        let out: Vec<f32> = if src.len() >= PARALLEL_ELEMENTS {
            src.par_iter().map(|&v| op.forward(v)).collect()
        } else {
            src.iter().map(|&v| op.forward(v)).collect()
        };
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let op = *self;
        let g = with_slice(arg, |x| {
            with_slice(res, |y| {
                with_slice(grad_res, |g| {
                    let f = |((&x, &y), &g): ((&f32, &f32), &f32)| g * op.derivative(x, y);
                    Ok(if x.len() >= PARALLEL_ELEMENTS {
                        x.par_iter()
                            .zip(y.par_iter())
                            .zip(g.par_iter())
                            .map(f)
                            .collect()
                    } else {
                        x.iter().zip(y).zip(g).map(f).collect::<Vec<f32>>()
                    })
                })
            })
        })?;
        Ok(Some(Tensor::from_vec(g, res.shape(), res.device())?))
    }
}

/// Applies an element-wise activation (not softmax) with a one-pass forward and backward on the
/// CPU; elsewhere through candle's ops.
pub fn activation(x: &Tensor, act: Activation) -> Result<Tensor> {
    match act {
        Activation::Linear => Ok(x.clone()),
        Activation::Softmax => candle_nn::ops::softmax(x, D::Minus1),
        _ if fusable(&[x]) => x.contiguous()?.apply_op1(ActOp(act)),
        Activation::Relu => x.relu(),
        Activation::LeakyRelu => x.maximum(&(x * f64::from(LEAKY_SLOPE))?),
        Activation::Sigmoid => candle_nn::ops::sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Gelu => x.gelu(),
    }
}
