//! Frozen parts of pretrained networks on the CPU, for inference only: the convolutional
//! networks' blocks with their batch normalizations folded in ([`conv`]) and the text encoders'
//! layers ([`encoder`]), each step one pass spread over the threads instead of a chain of candle
//! operations. No gradient: a part runs here only when neither its weights nor its input need
//! one ([`runs_here`]); everything else goes through the candle operations of
//! [`super::ops`], which give the same numbers up to rounding.

use std::sync::OnceLock;

use candle_core::{DType, Tensor};

pub mod conv;
pub mod encoder;

pub use conv::{Folded, Maps, Post};

/// Whether `x` and `weights` can go through these kernels: f32 on the CPU, nothing to
/// differentiate. `STRATA_FROZEN_KERNELS=off` sends everything through the candle operations
/// (to measure the difference).
pub fn runs_here(x: &Tensor, weights: &[Tensor]) -> bool {
    static OFF: OnceLock<bool> = OnceLock::new();
    let off = OFF.get_or_init(|| std::env::var("STRATA_FROZEN_KERNELS").is_ok_and(|v| v == "off"));
    if *off {
        return false;
    }
    let ok = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32 && !t.track_op();
    ok(x) && weights.iter().all(ok)
}

/// Inputs and comparisons the kernels' tests share.
#[cfg(test)]
mod test_support {
    use candle_core::{Device, Tensor};

    /// Seeded values in [−1.2, 1.2] of `shape`.
    pub fn ramp(shape: &[usize], seed: usize) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| (((i + seed) * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// Same shape and every value within 10⁻⁴.
    pub fn close(a: &Tensor, b: &Tensor) {
        assert_eq!(a.dims(), b.dims());
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-4, "{diff}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn only_untracked_cpu_tensors_run_here() {
        let x = Tensor::ones((1, 2, 3, 3), DType::F32, &Device::Cpu).unwrap();
        let w = Tensor::ones((2, 2, 1, 1), DType::F32, &Device::Cpu).unwrap();
        assert!(runs_here(&x, std::slice::from_ref(&w)));
        let var = candle_core::Var::from_tensor(&w).unwrap();
        assert!(!runs_here(&x, &[var.as_tensor().clone()]));
        assert!(runs_here(&x, &[var.as_tensor().detach()]));
        let y = (var.as_tensor() * 2.0).unwrap();
        assert!(!runs_here(&y, &[w]));
        let x64 = x.to_dtype(DType::F64).unwrap();
        assert!(!runs_here(&x64, &[]));
    }
}
