//! Operations candle 0.11 lacks or gets wrong, each with a correct backward pass: max/avg
//! pooling for any kernel and stride (overlapping windows, odd sizes) and a numerically stable
//! binary cross-entropy on logits.
//!
//! The pooling kernels run on the CPU. On a GPU, windows that tile the input exactly (kernel =
//! stride, sizes divisible: the usual 2×2) use candle's own pooling on the device, whose backward
//! is right for them; other windows visit the CPU (correct, not fast).

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::fused::with_slice;

use crate::model::{window_out, Padding};

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// Output height and width of an unpadded `kernel`×`kernel` window moved by `stride` (0 when the
/// window does not fit): the same arithmetic as the graph's shape inference.
fn valid_windows(h: usize, w: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = |n| window_out(n, kernel, stride, Padding::Valid).unwrap_or(0);
    (out(h), out(w))
}

/// The tensor's values as a flat `Vec<f32>` on the CPU.
pub(crate) fn tensor_f32_vec(t: &Tensor) -> Result<Vec<f32>> {
    t.to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()
}

/// Which reduction a pooling window performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum of the window; the gradient goes to the (first) maximum.
    Max,
    /// Mean of the window; the gradient is shared equally.
    Avg,
}

/// The (first) position of the maximum among `positions` of `src`; NaN wins, as in the
/// forward pass.
fn window_argmax(src: &[f32], positions: impl IntoIterator<Item = usize>) -> Option<usize> {
    let mut best = None;
    let mut m = f32::NEG_INFINITY;
    for p in positions {
        let v = src[p];
        if best.is_none() || v > m || (v.is_nan() && !m.is_nan()) {
            m = v;
            best = Some(p);
        }
    }
    best
}

/// Where in a plane of row width `w` the maximum of pooling window (`oy`, `ox`) lies (the
/// first one; NaN wins). The 2×2 window, by far the most common, avoids the general loops.
pub(crate) fn max_position(
    plane: &[f32],
    w: usize,
    kernel: usize,
    stride: usize,
    (oy, ox): (usize, usize),
) -> usize {
    let (y0, x0) = (oy * stride, ox * stride);
    let first = y0 * w + x0;
    let best = if kernel == 2 {
        window_argmax(plane, [first, first + 1, first + w, first + w + 1])
    } else {
        window_argmax(
            plane,
            (y0..y0 + kernel).flat_map(|y| (x0..x0 + kernel).map(move |x| y * w + x)),
        )
    };
    best.unwrap_or(first)
}

/// 2-D pooling over `[B, C, H, W]` with a square window, any stride, no padding.
#[derive(Clone, Copy, Debug)]
struct Pool2d {
    kind: PoolKind,
    kernel: usize,
    stride: usize,
}

impl Pool2d {
    fn windows(&self, h: usize, w: usize) -> (usize, usize) {
        valid_windows(h, w, self.kernel, self.stride)
    }

    /// The common 2×2 window with stride 2, without the general loops.
    fn forward_plane_2x2(&self, src: &[f32], w: usize, oh: usize, ow: usize, dst: &mut [f32]) {
        for (oy, out) in dst.chunks_mut(ow).enumerate().take(oh) {
            let (r0, r1) = (&src[2 * oy * w..], &src[(2 * oy + 1) * w..]);
            for (ox, o) in out.iter_mut().enumerate() {
                let (a, b, c, d) = (r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]);
                *o = match self.kind {
                    PoolKind::Max if a.is_nan() || b.is_nan() || c.is_nan() || d.is_nan() => {
                        f32::NAN
                    }
                    PoolKind::Max => a.max(b).max(c.max(d)),
                    PoolKind::Avg => (a + b + c + d) * 0.25,
                };
            }
        }
    }

    fn forward_plane(&self, src: &[f32], h: usize, w: usize, dst: &mut [f32]) {
        let (oh, ow) = self.windows(h, w);
        if self.kernel == 2 && self.stride == 2 {
            return self.forward_plane_2x2(src, w, oh, ow, dst);
        }
        let k = self.kernel;
        for oy in 0..oh {
            for ox in 0..ow {
                let (y0, x0) = (oy * self.stride, ox * self.stride);
                let value = match self.kind {
                    PoolKind::Max => {
                        let mut m = f32::NEG_INFINITY;
                        for y in y0..y0 + k {
                            for &v in &src[y * w + x0..y * w + x0 + k] {
                                if v > m || v.is_nan() {
                                    m = v;
                                }
                            }
                        }
                        m
                    }
                    PoolKind::Avg => {
                        let mut s = 0.0;
                        for y in y0..y0 + k {
                            s += src[y * w + x0..y * w + x0 + k].iter().sum::<f32>();
                        }
                        s / (k * k) as f32
                    }
                };
                dst[oy * ow + ox] = value;
            }
        }
    }

    fn backward_plane(&self, src: &[f32], h: usize, w: usize, grad_out: &[f32], dst: &mut [f32]) {
        let (oh, ow) = self.windows(h, w);
        let k = self.kernel;
        let share = 1.0 / (k * k) as f32;
        for oy in 0..oh {
            for ox in 0..ow {
                let g = grad_out[oy * ow + ox];
                let (y0, x0) = (oy * self.stride, ox * self.stride);
                match self.kind {
                    PoolKind::Max => dst[max_position(src, w, k, self.stride, (oy, ox))] += g,
                    PoolKind::Avg => {
                        for y in y0..y0 + k {
                            for d in &mut dst[y * w + x0..y * w + x0 + k] {
                                *d += g * share;
                            }
                        }
                    }
                }
            }
        }
    }
}

impl CustomOp1 for Pool2d {
    fn name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "strata-max-pool2d",
            PoolKind::Avg => "strata-avg-pool2d",
        }
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = layout.shape().dims4()?;
        let src = contiguous_f32(storage, layout, self.name())?;
        let (oh, ow) = self.windows(h, w);
        let mut out = vec![0f32; b * c * oh * ow];
        if oh * ow > 0 {
            out.par_chunks_mut(oh * ow)
                .zip(src.par_chunks(h * w))
                .for_each(|(dst, plane)| self.forward_plane(plane, h, w, dst));
        }
        Ok((CpuStorage::F32(out), Shape::from((b, c, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let (b, c, h, w) = arg.dims4()?;
        let (oh, ow) = self.windows(h, w);
        let mut out = vec![0f32; b * c * h * w];
        if oh * ow > 0 {
            with_slice(arg, |src| {
                with_slice(grad_res, |grad| {
                    out.par_chunks_mut(h * w)
                        .zip(src.par_chunks(h * w))
                        .zip(grad.par_chunks(oh * ow))
                        .for_each(|((dst, plane), g)| self.backward_plane(plane, h, w, g, dst));
                    Ok(())
                })
            })?;
        }
        Ok(Some(Tensor::from_vec(out, (b, c, h, w), arg.device())?))
    }
}

fn on_cpu(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        f(&x.contiguous()?)
    } else {
        let cpu = x
            .to_dtype(DType::F32)?
            .to_device(&Device::Cpu)?
            .contiguous()?;
        f(&cpu)?.to_device(x.device())?.to_dtype(x.dtype())
    }
}

/// Pooling over `[B, C, H, W]` with a `kernel`×`kernel` window moved by `stride`, no padding.
pub fn pool2d(x: &Tensor, kind: PoolKind, kernel: usize, stride: usize) -> Result<Tensor> {
    if kernel == 0 || stride == 0 {
        candle_core::bail!("pooling needs a kernel and stride of at least 1");
    }
    let op = Pool2d {
        kind,
        kernel,
        stride,
    };
    if !x.device().is_cpu() && kernel == stride {
        if let Ok((_, _, h, w)) = x.dims4() {
            if h % kernel == 0 && w % kernel == 0 {
                return match kind {
                    PoolKind::Max => x.max_pool2d(kernel),
                    PoolKind::Avg => x.avg_pool2d(kernel),
                };
            }
        }
    }
    on_cpu(x, |t| t.apply_op1(op))
}

/// Mean binary cross-entropy between `logits` and `targets` in [0, 1], computed as
/// max(x, 0) − x·z + log(1 + e^−|x|), which never overflows.
pub fn binary_cross_entropy_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let positive = logits.relu()?;
    let soft = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((positive - logits.mul(targets)?)? + soft)?.mean_all()
}

/// Test helpers shared by the engine's kernel tests.
#[cfg(test)]
pub(crate) mod testing {
    use candle_core::{Device, Result, Tensor, Var};

    /// The largest absolute difference between two tensors of the same shape.
    pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

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
}

#[cfg(test)]
mod tests {
    use super::testing::{check_grad, distinct_values, max_diff};
    use super::*;
    use candle_core::Var;

    #[test]
    fn max_pool_forward_matches_hand_values() {
        let x = Tensor::arange(0f32, 16., &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 4, 4))
            .unwrap();
        let y = pool2d(&x, PoolKind::Max, 2, 2).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![5., 7., 13., 15.]
        );
        let y = pool2d(&x, PoolKind::Max, 3, 1).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![10., 11., 14., 15.]
        );
        let y = pool2d(&x, PoolKind::Avg, 2, 2).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![2.5, 4.5, 10.5, 12.5]
        );
    }

    #[test]
    fn pooling_forward_matches_candle_on_odd_sizes() {
        let x =
            Tensor::from_vec(distinct_values(2 * 3 * 7 * 9), (2, 3, 7, 9), &Device::Cpu).unwrap();
        for (k, s) in [(2, 2), (3, 2), (2, 1), (3, 3)] {
            let pairs = [
                (
                    pool2d(&x, PoolKind::Max, k, s),
                    x.max_pool2d_with_stride(k, s),
                ),
                (
                    pool2d(&x, PoolKind::Avg, k, s),
                    x.avg_pool2d_with_stride(k, s),
                ),
            ];
            for (ours, theirs) in pairs {
                let d = max_diff(&ours.unwrap(), &theirs.unwrap());
                assert!(d < 1e-5, "kernel {k} stride {s}: {d}");
            }
        }
    }

    #[test]
    fn max_pool_gradient_goes_whole_to_the_maximum() {
        // The case candle 0.11 gets wrong: each window's max must receive the full gradient.
        let x = Var::from_tensor(
            &Tensor::arange(0f32, 16., &Device::Cpu)
                .unwrap()
                .reshape((1, 1, 4, 4))
                .unwrap(),
        )
        .unwrap();
        let y = pool2d(x.as_tensor(), PoolKind::Max, 2, 2).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let gx = g
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut want = vec![0f32; 16];
        for i in [5, 7, 13, 15] {
            want[i] = 1.0;
        }
        assert_eq!(gx, want);
    }

    #[test]
    fn pooling_gradients_match_finite_differences() {
        // Odd sizes (5×7), overlapping (3 stride 2), kernel == stride, and 2 planes.
        for &(kind, k, s) in &[
            (PoolKind::Max, 2, 2),
            (PoolKind::Max, 3, 2),
            (PoolKind::Max, 3, 1),
            (PoolKind::Avg, 2, 2),
            (PoolKind::Avg, 3, 2),
        ] {
            let x = distinct_values(2 * 5 * 7);
            check_grad(&x, &[1, 2, 5, 7], |t| pool2d(t, kind, k, s));
        }
    }

    #[test]
    fn bce_with_logits_is_stable_and_correct() {
        let dev = Device::Cpu;
        // Reference from the textbook definition, in Python:
        //   s = lambda v: 1 / (1 + math.exp(-v))
        //   -sum(z*math.log(s(x)) + (1-z)*math.log(1-s(x)) for x, z in zip([0.5,-1,3], [1,0,1])) / 3
        //   = 0.278642
        let x = Tensor::new(&[0.5f32, -1.0, 3.0], &dev).unwrap();
        let z = Tensor::new(&[1.0f32, 0.0, 1.0], &dev).unwrap();
        let l = binary_cross_entropy_with_logits(&x, &z)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((l - 0.278_642).abs() < 1e-5, "{l}");
        // Huge logits: finite, and ≈ |x| when wrong, ≈ 0 when right.
        let x = Tensor::new(&[1000f32, -1000.0], &dev).unwrap();
        let z = Tensor::new(&[0f32, 0.0], &dev).unwrap();
        let l = binary_cross_entropy_with_logits(&x, &z)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((l - 500.0).abs() < 1e-3, "{l}");
        let x: Vec<f32> = vec![0.3, -2.0, 1.5, -0.7];
        let zt = Tensor::new(&[1f32, 0.0, 0.0, 1.0], &dev).unwrap();
        check_grad(&x, &[4], |t| {
            binary_cross_entropy_with_logits(t, &zt)?.reshape(1)
        });
    }
}
