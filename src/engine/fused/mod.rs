//! Fused CPU layers, each one candle custom op with its own backward pass: convolution + bias +
//! activation (per-sample im2col and GEMM, padding folded into the unfolding), dense + bias +
//! activation, one-pass activations, and softmax cross-entropy. Their backward passes compute no
//! gradient for an input that needs none (the image), and read the saved output instead of
//! re-running comparison chains.
//!
//! On other devices, or for dtypes other than f32, the same functions fall back to candle's own
//! ops, so results agree everywhere; only the speed differs.

use candle_core::{CpuStorage, DType, Layout, Result, Storage, Tensor};
use rayon::prelude::*;

use crate::model::Activation;
use crate::simd::vectorized;

/// Elements above which element-wise kernels split the work over threads.
const PARALLEL_ELEMENTS: usize = 1 << 15;

/// The tensor's data as a contiguous f32 slice on the CPU, handed to `f` (no copy when it is
/// already contiguous).
pub(crate) fn with_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(CpuStorage::F32(data)) = &*storage else {
        candle_core::bail!("fused kernels need f32 tensors on the CPU");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("fused kernels need contiguous tensors");
    };
    f(&data[start..end])
}

fn cpu_slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("fused kernels need contiguous tensors"),
    }
}

/// `c = a·b` (or `c += a·b` when `accumulate`) for row-major matrices: `a` is m×k (stored k×m
/// when `a_t`), `b` is k×n (stored n×k when `b_t`), `c` is m×n. `parallel` uses every rayon
/// thread; otherwise it runs on the calling thread (inside per-sample parallel loops).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    c: &mut [f32],
    accumulate: bool,
    parallel: bool,
) -> Result<()> {
    sgemm_strided((m, n, k), a, a_t, b, b_t, (c, n), accumulate, parallel)
}

/// [`sgemm`] into columns of a wider matrix: `c`'s rows are `ldc` values apart (`ldc ≥ n`), so
/// the product fills columns `0..n` of each (start `c` at a later column for another block).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm_strided(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    (c, ldc): (&mut [f32], usize),
    accumulate: bool,
    parallel: bool,
) -> Result<()> {
    let c_needs = if m == 0 { 0 } else { (m - 1) * ldc + n };
    if a.len() < m * k || b.len() < k * n || c.len() < c_needs || ldc < n {
        candle_core::bail!(
            "matrix product {m}×{k}·{k}×{n}: buffers of {}, {}, {} values are too small",
            a.len(),
            b.len(),
            c.len()
        );
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc).take(m).for_each(|row| row[..n].fill(0.0));
        }
        return Ok(());
    }
    let (a_rs, a_cs) = if a_t {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (b_rs, b_cs) = if b_t {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    let parallelism = if parallel && m * n * k >= 1 << 18 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the lengths checked above cover every element the strides below reach: a reaches
    // (m−1)·a_rs + (k−1)·a_cs < m·k, b likewise < k·n, c reaches (m−1)·ldc + (n−1), below the
    // length checked. The slices are borrowed for the whole call and `c` is exclusively borrowed.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

/// An activation whose derivative can be read from its output, so it can be fused into the layer
/// before it (the backward pass keeps only the output).
#[derive(Clone, Copy, Debug, PartialEq)]
enum OutAct {
    Linear,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
}

impl OutAct {
    fn from_activation(act: Activation) -> Option<Self> {
        match act {
            Activation::Linear => Some(Self::Linear),
            Activation::Relu => Some(Self::Relu),
            Activation::LeakyRelu => Some(Self::LeakyRelu),
            Activation::Sigmoid => Some(Self::Sigmoid),
            Activation::Tanh => Some(Self::Tanh),
            Activation::Softmax | Activation::Gelu => None,
        }
    }

    #[inline(always)]
    fn apply(self, v: f32) -> f32 {
        match self {
            Self::Linear => v,
            Self::Relu => v.max(0.0),
            Self::LeakyRelu => {
                if v > 0.0 {
                    v
                } else {
                    LEAKY_SLOPE * v
                }
            }
            Self::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            Self::Tanh => v.tanh(),
        }
    }

    /// d act / d pre-activation, from the activation's output `y`.
    #[inline(always)]
    fn derivative(self, y: f32) -> f32 {
        match self {
            Self::Linear => 1.0,
            Self::Relu => f32::from(u8::from(y > 0.0)),
            Self::LeakyRelu => {
                if y > 0.0 {
                    1.0
                } else {
                    LEAKY_SLOPE
                }
            }
            Self::Sigmoid => y * (1.0 - y),
            Self::Tanh => 1.0 - y * y,
        }
    }

    fn apply_all(self, values: &mut [f32]) {
        if self != Self::Linear {
            apply_in_place(self, values);
        }
    }

    /// The gradient before the activation: `grad · act'(y)`.
    fn backprop(self, y: &[f32], grad: &[f32]) -> Vec<f32> {
        if self == Self::Linear {
            return grad.to_vec();
        }
        let mut out = vec![0f32; y.len().min(grad.len())];
        if y.len() >= PARALLEL_ELEMENTS {
            const CHUNK: usize = 1 << 13;
            out.par_chunks_mut(CHUNK)
                .zip(y.par_chunks(CHUNK))
                .zip(grad.par_chunks(CHUNK))
                .for_each(|((o, y), g)| backprop_into(self, y, g, o));
        } else {
            backprop_into(self, y, grad, &mut out);
        }
        out
    }
}

vectorized! {
    /// `values ← act(values)` in the CPU's widest vectors.
    fn apply_in_place(act: OutAct, values: &mut [f32]) = apply_in_place_kernel;
}

vectorized! {
    /// `out ← grad · act'(y)` in the CPU's widest vectors.
    fn backprop_into(act: OutAct, y: &[f32], grad: &[f32], out: &mut [f32]) = backprop_kernel;
}

/// One loop per activation, the activation a constant inside it, so each compiles to straight
/// vector code (exp and tanh stay library calls).
#[inline(always)]
fn apply_in_place_kernel<const FMA: bool>(act: OutAct, values: &mut [f32]) {
    #[inline(always)]
    fn each(values: &mut [f32], f: impl Fn(f32) -> f32) {
        for v in values {
            *v = f(*v);
        }
    }
    match act {
        OutAct::Linear => {}
        OutAct::Relu => each(values, |v| OutAct::Relu.apply(v)),
        OutAct::LeakyRelu => each(values, |v| OutAct::LeakyRelu.apply(v)),
        OutAct::Sigmoid => each(values, |v| OutAct::Sigmoid.apply(v)),
        OutAct::Tanh => each(values, |v| OutAct::Tanh.apply(v)),
    }
}

#[inline(always)]
fn backprop_kernel<const FMA: bool>(act: OutAct, y: &[f32], grad: &[f32], out: &mut [f32]) {
    #[inline(always)]
    fn each(y: &[f32], grad: &[f32], out: &mut [f32], d: impl Fn(f32) -> f32) {
        for ((o, &y), &g) in out.iter_mut().zip(y).zip(grad) {
            *o = g * d(y);
        }
    }
    match act {
        OutAct::Linear => each(y, grad, out, |_| 1.0),
        OutAct::Relu => each(y, grad, out, |y| OutAct::Relu.derivative(y)),
        OutAct::LeakyRelu => each(y, grad, out, |y| OutAct::LeakyRelu.derivative(y)),
        OutAct::Sigmoid => each(y, grad, out, |y| OutAct::Sigmoid.derivative(y)),
        OutAct::Tanh => each(y, grad, out, |y| OutAct::Tanh.derivative(y)),
    }
}

/// Slope of LeakyReLU below zero (the same as `activate`).
pub(crate) const LEAKY_SLOPE: f32 = 0.01;
/// GELU's tanh form: 0.5·x·(1 + tanh(GELU_C·(x + GELU_A·x³))), GELU_C = √(2/π).
pub(crate) const GELU_C: f32 = 0.797_884_6;
/// See [`GELU_C`].
pub(crate) const GELU_A: f32 = 0.044_715;

/// Whether the fused CPU kernels apply to these tensors.
fn fusable(tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

mod activation;
mod conv;
mod dense;
mod loss;
#[cfg(test)]
mod tests;

pub use activation::activation;
pub use conv::{conv2d, conv2d_max_pool};
pub use dense::dense;
pub use loss::softmax_cross_entropy;
