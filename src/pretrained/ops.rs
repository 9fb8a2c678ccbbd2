//! Building blocks of the pretrained architectures, written with plain candle tensor operations
//! so that every one of them has a gradient (candle's own layer norm has none, and its grouped
//! convolution splits into one convolution per channel).

use candle_core::{Result, Tensor, D};

/// Zero padding (top, bottom, left, right) around an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pads {
    /// Rows above.
    pub top: usize,
    /// Rows below.
    pub bottom: usize,
    /// Columns left.
    pub left: usize,
    /// Columns right.
    pub right: usize,
}

impl Pads {
    /// The same padding on every side (PyTorch's `padding=p`).
    pub fn symmetric(p: usize) -> Self {
        Self {
            top: p,
            bottom: p,
            left: p,
            right: p,
        }
    }

    /// TensorFlow's "same" padding: the output is ⌈size / stride⌉ and the odd row/column of
    /// padding goes below/right.
    pub fn tf_same(h: usize, w: usize, kernel: usize, stride: usize) -> Self {
        let total = |n: usize| {
            let out = n.div_ceil(stride);
            ((out.saturating_sub(1)) * stride + kernel).saturating_sub(n)
        };
        let (ph, pw) = (total(h), total(w));
        Self {
            top: ph / 2,
            bottom: ph - ph / 2,
            left: pw / 2,
            right: pw - pw / 2,
        }
    }
}

/// The k×k windows of `x` (`[B, C, H, W]`) as k² tensors `[B, C, OH, OW]`, tap (i, j) at index
/// `i·k + j`.
fn taps(
    x: &Tensor,
    kernel: usize,
    stride: usize,
    pads: Pads,
) -> Result<(Vec<Tensor>, usize, usize)> {
    let (b, c, h, w) = x.dims4()?;
    let (hp, wp) = (h + pads.top + pads.bottom, w + pads.left + pads.right);
    if hp < kernel || wp < kernel {
        candle_core::bail!("the image ({h}×{w}) is smaller than the {kernel}×{kernel} window");
    }
    let (oh, ow) = ((hp - kernel) / stride + 1, (wp - kernel) / stride + 1);
    // Extra zeros below/right so every tap can take `stride · out` rows and columns.
    let extra_h = (kernel - 1 + stride * oh).saturating_sub(hp);
    let extra_w = (kernel - 1 + stride * ow).saturating_sub(wp);
    let xp = x
        .pad_with_zeros(2, pads.top, pads.bottom + extra_h)?
        .pad_with_zeros(3, pads.left, pads.right + extra_w)?;
    let mut out = Vec::with_capacity(kernel * kernel);
    for i in 0..kernel {
        for j in 0..kernel {
            let t = xp.narrow(2, i, stride * oh)?.narrow(3, j, stride * ow)?;
            let t = if stride > 1 {
                t.contiguous()?
                    .reshape((b, c, oh, stride, ow, stride))?
                    .narrow(3, 0, 1)?
                    .narrow(5, 0, 1)?
                    .reshape((b, c, oh, ow))?
            } else {
                t
            };
            out.push(t);
        }
    }
    Ok((out, oh, ow))
}

/// A 2-D convolution without bias; `w` is `[O, C, k, k]` (PyTorch layout).
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, pads: Pads) -> Result<Tensor> {
    let (o, c, k, _) = w.dims4()?;
    let b = x.dim(0)?;
    if k == 1 && stride == 1 && pads == Pads::symmetric(0) {
        let (_, _, h, wd) = x.dims4()?;
        let y = w
            .reshape((o, c))?
            .broadcast_matmul(&x.reshape((b, c, h * wd))?)?;
        return y.reshape((b, o, h, wd));
    }
    let (taps, oh, ow) = taps(x, k, stride, pads)?;
    let cols = Tensor::stack(&taps, 2)?.reshape((b, c * k * k, oh * ow))?;
    let y = w.reshape((o, c * k * k))?.broadcast_matmul(&cols)?;
    y.reshape((b, o, oh, ow))
}

/// A depthwise convolution (one k×k filter per channel); `w` is `[C, 1, k, k]`.
pub fn depthwise_conv2d(x: &Tensor, w: &Tensor, stride: usize, pads: Pads) -> Result<Tensor> {
    let (c, _, k, _) = w.dims4()?;
    let (taps, _, _) = taps(x, k, stride, pads)?;
    let w = w.reshape((c, k * k))?;
    let mut acc: Option<Tensor> = None;
    for (t, tap) in taps.iter().enumerate() {
        let wt = w.narrow(1, t, 1)?.reshape((1, c, 1, 1))?;
        let term = tap.broadcast_mul(&wt)?;
        acc = Some(match acc {
            Some(a) => (a + term)?,
            None => term,
        });
    }
    acc.ok_or_else(|| candle_core::Error::Msg("empty kernel".to_owned()))
}

/// Max over k×k windows; only for non-negative inputs (after a ReLU), as padding is zero.
pub fn max_pool_nonnegative(
    x: &Tensor,
    kernel: usize,
    stride: usize,
    pads: Pads,
) -> Result<Tensor> {
    let (taps, _, _) = taps(x, kernel, stride, pads)?;
    let mut acc = taps[0].clone();
    for t in &taps[1..] {
        acc = acc.maximum(t)?;
    }
    Ok(acc)
}

/// Batch normalization with fixed statistics (inference form) over `[B, C, H, W]`.
pub fn batch_norm_fixed(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let c = gamma.elem_count();
    let scale = (var + eps)?.sqrt()?.recip()?.mul(gamma)?;
    let shift = beta.sub(&mean.mul(&scale)?)?;
    x.broadcast_mul(&scale.reshape((1, c, 1, 1))?)?
        .broadcast_add(&shift.reshape((1, c, 1, 1))?)
}

/// Layer normalization over the last axis, with a gradient for input, weight and bias.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centered = x.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    centered
        .broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(weight)?
        .broadcast_add(bias)
}

/// `x · wᵀ + b` over the last axis (PyTorch's `nn.Linear`).
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.broadcast_matmul(&w.t()?)?.broadcast_add(b)
}

/// Softmax over the last axis from differentiable operations.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// min(max(x, 0), 6).
pub fn relu6(x: &Tensor) -> Result<Tensor> {
    x.relu()?.minimum(6f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn ramp(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn convolution_matches_candle() {
        let x = ramp(&[2, 3, 9, 8]);
        let w = ramp(&[4, 3, 3, 3]);
        for stride in [1, 2] {
            let ours = conv2d(&x, &w, stride, Pads::symmetric(1)).unwrap();
            let theirs = x.conv2d(&w, 1, stride, 1, 1).unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            let diff = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
            assert!(diff.to_scalar::<f32>().unwrap() < 1e-4);
        }
        let dw = ramp(&[3, 1, 5, 5]);
        let ours = depthwise_conv2d(&x, &dw, 2, Pads::symmetric(2)).unwrap();
        let theirs = x.conv2d(&dw, 2, 2, 1, 3).unwrap();
        assert_eq!(ours.dims(), theirs.dims());
        let diff = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-4);
    }

    #[test]
    fn layer_norm_gradients_match_finite_differences() {
        use candle_core::Var;
        let x = Var::from_tensor(&ramp(&[2, 5])).unwrap();
        let w = Var::from_tensor(&(ramp(&[5]) + 1.5).unwrap()).unwrap();
        let b = Var::from_tensor(&ramp(&[5])).unwrap();
        let mix = ramp(&[2, 5]);
        let f = |x: &Tensor, w: &Tensor, b: &Tensor| -> Tensor {
            layer_norm(x, w, b, 1e-5)
                .unwrap()
                .mul(&mix)
                .unwrap()
                .sum_all()
                .unwrap()
        };
        let grads = f(x.as_tensor(), w.as_tensor(), b.as_tensor())
            .backward()
            .unwrap();
        for (var, which) in [(&x, 0), (&w, 1), (&b, 2)] {
            let g = grads
                .get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let base = var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for i in 0..base.len() {
                let at = |d: f32| -> f64 {
                    let mut v = base.clone();
                    v[i] += d;
                    let t = Tensor::from_vec(v, var.as_tensor().shape(), &Device::Cpu).unwrap();
                    let (xx, ww, bb) = match which {
                        0 => (t, w.as_tensor().clone(), b.as_tensor().clone()),
                        1 => (x.as_tensor().clone(), t, b.as_tensor().clone()),
                        _ => (x.as_tensor().clone(), w.as_tensor().clone(), t),
                    };
                    f64::from(f(&xx, &ww, &bb).to_scalar::<f32>().unwrap())
                };
                let numeric = (at(1e-2) - at(-1e-2)) / 2e-2;
                assert!(
                    (f64::from(g[i]) - numeric).abs() < 1e-2 * (1.0 + numeric.abs()),
                    "tensor {which}, element {i}: backprop {} vs finite difference {numeric}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn tensorflow_same_padding() {
        // 224 with a 3×3 window and stride 2: one extra row below, none above.
        assert_eq!(
            Pads::tf_same(224, 224, 3, 2),
            Pads {
                top: 0,
                bottom: 1,
                left: 0,
                right: 1
            }
        );
        assert_eq!(Pads::tf_same(56, 56, 5, 2).top, 1);
        assert_eq!(Pads::tf_same(56, 56, 5, 2).bottom, 2);
        assert_eq!(Pads::tf_same(14, 14, 5, 1), Pads::symmetric(2));
    }
}
