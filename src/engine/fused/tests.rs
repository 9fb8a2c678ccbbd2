//! The fused ops against candle's own ops and finite differences: outputs and every gradient.

use super::*;
use crate::engine::ops::testing::{check_grad, distinct_values, max_diff};
use candle_core::{Device, Var, D};

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        // Never exactly 0, where ReLU's two valid subgradients (candle 1, PyTorch and us 0) differ.
        .map(|i| (((i * 31 + seed * 17 + 7) % 23) as f32 - 11.0) * 0.09 + 0.013)
        .collect()
}

/// Runs `ours` and `reference` on the same variables and compares outputs and every gradient
/// of `sum(out · weights)`.
fn agree(
    shapes: &[&[usize]],
    ours: impl Fn(&[Tensor]) -> Result<Tensor>,
    reference: impl Fn(&[Tensor]) -> Result<Tensor>,
) {
    let dev = Device::Cpu;
    let vars: Vec<Var> = shapes
        .iter()
        .enumerate()
        .map(|(s, shape)| {
            let n = shape.iter().product();
            Var::from_vec(values(n, s), *shape, &dev).unwrap()
        })
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let (a, b) = (ours(&ts).unwrap(), reference(&ts).unwrap());
    assert!(
        max_diff(&a, &b) < 1e-4,
        "outputs differ by {}",
        max_diff(&a, &b)
    );
    let weights = Tensor::from_vec(values(a.elem_count(), 9), a.shape(), &dev).unwrap();
    let ga = a
        .mul(&weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gb = b
        .mul(&weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (i, t) in ts.iter().enumerate() {
        let d = max_diff(ga.get(t).unwrap(), gb.get(t).unwrap());
        assert!(d < 1e-4, "gradient of input {i} differs by {d}");
    }
}

const ACTIVATIONS: [Activation; 6] = [
    Activation::Linear,
    Activation::Relu,
    Activation::LeakyRelu,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Gelu,
];

fn reference_activation(x: &Tensor, act: Activation) -> Result<Tensor> {
    match act {
        Activation::Linear => Ok(x.clone()),
        Activation::Relu => x.relu(),
        Activation::LeakyRelu => x.maximum(&(x * f64::from(LEAKY_SLOPE))?),
        Activation::Sigmoid => candle_nn::ops::sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Gelu => x.gelu(),
        Activation::Softmax => candle_nn::ops::softmax(x, D::Minus1),
    }
}

#[test]
fn activations_match_candle_and_finite_differences() {
    for act in ACTIVATIONS {
        agree(
            &[&[3, 5]],
            |t| activation(&t[0], act),
            |t| reference_activation(&t[0], act),
        );
        // Away from ReLU's kink, so finite differences are exact enough.
        let x: Vec<f32> = (0..12).map(|i| (i as f32 - 5.6) * 0.37).collect();
        check_grad(&x, &[3, 4], |t| activation(t, act));
    }
}

#[test]
fn dense_matches_candle_for_every_activation() {
    for act in ACTIVATIONS {
        agree(
            &[&[5, 7], &[3, 7], &[3]],
            |t| dense(&t[0], &t[1], &t[2], act),
            |t| {
                let y = t[0].matmul(&t[1].t()?)?.broadcast_add(&t[2])?;
                reference_activation(&y, act)
            },
        );
    }
    let w = Tensor::from_vec(values(12, 1), (3, 4), &Device::Cpu).unwrap();
    let b = Tensor::new(&[0.1f32, -0.2, 0.05], &Device::Cpu).unwrap();
    check_grad(&distinct_values(8), &[2, 4], |x| {
        dense(x, &w, &b, Activation::Tanh)
    });
}

/// candle's own convolution with explicit zero padding, the reference.
fn reference_conv(
    t: &[Tensor],
    stride: usize,
    (pt, pb, pl, pr): (usize, usize, usize, usize),
    act: Activation,
) -> Result<Tensor> {
    let (f, _, k, _) = t[1].dims4()?;
    let x = t[0].pad_with_zeros(2, pt, pb)?.pad_with_zeros(3, pl, pr)?;
    // Only the rows/columns the windows reach: candle's conv2d backward returns a wrongly
    // sized gradient otherwise.
    let used = |n: usize| (n - k) / stride * stride + k;
    let (_, _, h, w) = x.dims4()?;
    let x = x.narrow(2, 0, used(h))?.narrow(3, 0, used(w))?;
    let y = x
        .conv2d(&t[1], 0, stride, 1, 1)?
        .broadcast_add(&t[2].reshape((1, f, 1, 1))?)?;
    reference_activation(&y, act)
}

#[test]
fn convolution_matches_candle_for_strides_padding_and_odd_sizes() {
    // (input h, w, kernel, stride, padding top/bottom/left/right): odd sizes, strides that do
    // not divide the input, "same" padding with the extra row at the bottom/right.
    let cases = [
        (6, 7, 3, 1, (0, 0, 0, 0)),
        (7, 6, 3, 2, (0, 0, 0, 0)),
        (5, 5, 3, 1, (1, 1, 1, 1)),
        (6, 7, 3, 2, (0, 1, 1, 1)),
        (7, 7, 2, 3, (0, 1, 0, 1)),
        (4, 5, 1, 1, (0, 0, 0, 0)),
        // Tiny images under "same" padding: some kernel columns see only padding (the
        // 5×5 case used to compute a start column before the row and panic).
        (1, 1, 5, 1, (2, 2, 2, 2)),
        (1, 1, 3, 3, (1, 1, 1, 1)),
        (2, 1, 3, 2, (1, 0, 1, 1)),
    ];
    for (h, w, k, s, pads) in cases {
        let (pt, pb, pl, pr) = pads;
        let oh = (h + pt + pb - k) / s + 1;
        let ow = (w + pl + pr - k) / s + 1;
        for act in [Activation::Linear, Activation::Relu, Activation::Gelu] {
            agree(
                &[&[2, 3, h, w], &[4, 3, k, k], &[4]],
                |t| conv2d(&t[0], &t[1], &t[2], s, (pt, pl), (oh, ow), act),
                |t| reference_conv(t, s, pads, act),
            );
        }
    }
}

#[test]
fn convolution_with_max_pool_matches_the_two_ops_apart() {
    // Pool windows that fit exactly, leave a row over, and overlap.
    for (h, w, s, pads, pool) in [
        (8, 8, 1, (0, 0), (2, 2)),
        (7, 9, 1, (1, 1), (2, 2)),
        (9, 8, 2, (0, 0), (3, 2)),
        (6, 6, 1, (0, 0), (3, 1)),
    ] {
        let (pt, pl) = pads;
        let oh = (h + 2 * pt - 3) / s + 1;
        let ow = (w + 2 * pl - 3) / s + 1;
        for act in [Activation::Relu, Activation::Linear, Activation::Tanh] {
            agree(
                &[&[2, 3, h, w], &[4, 3, 3, 3], &[4]],
                |t| conv2d_max_pool(&t[0], &t[1], &t[2], s, pads, (oh, ow), act, pool),
                |t| {
                    let y = reference_conv(t, s, (pt, pt, pl, pl), act)?;
                    crate::engine::ops::pool2d(
                        &y,
                        crate::engine::ops::PoolKind::Max,
                        pool.0,
                        pool.1,
                    )
                },
            );
        }
    }
}

#[test]
fn convolution_gradients_match_finite_differences() {
    let dev = Device::Cpu;
    let w = Tensor::from_vec(values(2 * 2 * 9, 3), (2, 2, 3, 3), &dev).unwrap();
    let b = Tensor::new(&[0.1f32, -0.3], &dev).unwrap();
    let x = distinct_values(2 * 5 * 6);
    for (s, pads, out) in [(1, (1, 1), (5, 6)), (2, (0, 0), (2, 2))] {
        check_grad(&x, &[1, 2, 5, 6], |t| {
            conv2d(t, &w, &b, s, pads, out, Activation::Sigmoid)
        });
    }
}

#[test]
fn no_gradient_is_computed_for_the_image() {
    let dev = Device::Cpu;
    let image = Tensor::from_vec(values(2 * 36, 0), (2, 1, 6, 6), &dev).unwrap();
    let w = Var::from_vec(values(18, 1), (2, 1, 3, 3), &dev).unwrap();
    let b = Var::from_vec(vec![0.0f32; 2], 2, &dev).unwrap();
    let y = conv2d(&image, &w, &b, 1, (0, 0), (4, 4), Activation::Relu).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&image).is_none());
    assert!(grads.get(w.as_tensor()).is_some());
    let flat = image.flatten_from(1).unwrap();
    let dw = Var::from_vec(values(72, 2), (2, 36), &dev).unwrap();
    let y = dense(&flat, &dw, &b, Activation::Linear).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&flat).is_none() && grads.get(dw.as_tensor()).is_some());
}

#[test]
fn softmax_cross_entropy_matches_candle() {
    let dev = Device::Cpu;
    let labels = Tensor::new(&[2u32, 0, 1, 2], &dev).unwrap();
    agree(
        &[&[4, 3]],
        |t| softmax_cross_entropy(&t[0], &labels)?.reshape(1),
        |t| candle_nn::loss::cross_entropy(&t[0], &labels)?.reshape(1),
    );
    // Hand value: logits [0, ln 3] with label 1 → −ln(3/4).
    let l = Tensor::new(&[[0f32, 3f32.ln()]], &dev).unwrap();
    let v = softmax_cross_entropy(&l, &Tensor::new(&[1u32], &dev).unwrap())
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((v - (4f32 / 3.0).ln()).abs() < 1e-6, "{v}");
    let bad = softmax_cross_entropy(&l, &Tensor::new(&[5u32], &dev).unwrap());
    assert!(bad.is_err());
}

#[test]
fn sgemm_handles_transposes_and_accumulation() {
    // a = [[1,2,3],[4,5,6]] (2×3), b = [[1,0],[0,1],[1,1]] (3×2): a·b = [[4,5],[10,11]].
    let a = [1f32, 2., 3., 4., 5., 6.];
    let a_t = [1f32, 4., 2., 5., 3., 6.];
    let b = [1f32, 0., 0., 1., 1., 1.];
    let b_t = [1f32, 0., 1., 0., 1., 1.];
    for (av, at) in [(&a, false), (&a_t, true)] {
        for (bv, bt) in [(&b, false), (&b_t, true)] {
            let mut c = [1f32; 4];
            sgemm((2, 2, 3), av, at, bv, bt, &mut c, false, false).unwrap();
            assert_eq!(c, [4., 5., 10., 11.]);
            sgemm((2, 2, 3), av, at, bv, bt, &mut c, true, true).unwrap();
            assert_eq!(c, [8., 10., 20., 22.]);
        }
    }
    let mut small = [0f32; 3];
    assert!(sgemm((2, 2, 3), &a, false, &b, false, &mut small, false, false).is_err());
}
