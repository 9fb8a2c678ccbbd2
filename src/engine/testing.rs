//! Test helpers shared by the engine's kernel tests.

use candle_core::{Device, Result, Tensor, Var};

/// Checks d(sum(f(x)·w))/dx from backprop against central finite differences.
pub(crate) fn check_grad(x0: &[f32], shape: &[usize], f: impl Fn(&Tensor) -> Result<Tensor>) {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::from_slice(x0, shape, &dev).unwrap()).unwrap();
    let y = f(x.as_tensor()).unwrap();
    let n_out = y.elem_count();
    // Fixed, irregular weights so every output position matters differently.
    let wv: Vec<f32> = (0..n_out)
        .map(|i| ((i * 7 + 3) % 11) as f32 / 5.0 - 1.0)
        .collect();
    let w = Tensor::from_vec(wv, y.shape(), &dev).unwrap();
    let loss = y.mul(&w).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let g = grads
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let eps = 1e-2f32;
    for i in 0..x0.len() {
        let eval = |delta: f32| -> f32 {
            let mut v = x0.to_vec();
            v[i] += delta;
            let t = Tensor::from_slice(&v, shape, &dev).unwrap();
            f(&t)
                .unwrap()
                .mul(&w)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let numeric = (eval(eps) - eval(-eps)) / (2.0 * eps);
        assert!(
            (numeric - g[i]).abs() < 2e-2 * (1.0 + numeric.abs()),
            "element {i}: backprop {} vs finite difference {numeric}",
            g[i]
        );
    }
}

pub(crate) fn distinct_values(n: usize) -> Vec<f32> {
    // Distinct, well-separated values so max-pool has no ties within 2·eps.
    (0..n)
        .map(|i| ((i * 37 + 11) % (n + 3)) as f32 * 0.1 - 1.0)
        .collect()
}
