//! Operations candle 0.11 lacks or gets wrong, each with a correct backward pass:
//! max/avg pooling for any kernel and stride (overlapping windows, odd sizes), a ReLU whose
//! backward is one pass, and a numerically stable binary cross-entropy on logits.
//!
//! The pooling and ReLU kernels run on the CPU; on another device the tensor visits the CPU for
//! these ops (correct, not fast).

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

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

    fn forward_plane(&self, src: &[f32], h: usize, w: usize, dst: &mut [f32]) {
        let (oh, ow) = self.windows(h, w);
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
                    PoolKind::Max => {
                        let mut best = y0 * w + x0;
                        let mut m = f32::NEG_INFINITY;
                        for y in y0..y0 + k {
                            for x in x0..x0 + k {
                                let v = src[y * w + x];
                                if v > m || (v.is_nan() && !m.is_nan()) {
                                    m = v;
                                    best = y * w + x;
                                }
                            }
                        }
                        dst[best] += g;
                    }
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
        let src = tensor_f32_vec(arg)?;
        let grad = tensor_f32_vec(grad_res)?;
        let mut out = vec![0f32; b * c * h * w];
        if oh * ow > 0 {
            out.par_chunks_mut(h * w)
                .zip(src.par_chunks(h * w))
                .zip(grad.par_chunks(oh * ow))
                .for_each(|((dst, plane), g)| self.backward_plane(plane, h, w, g, dst));
        }
        let t = Tensor::from_vec(out, (b, c, h, w), arg.device())?;
        Ok(Some(t.to_dtype(arg.dtype())?))
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
    on_cpu(x, |t| t.apply_op1(op))
}

/// Unfolds the windows of `[B, C, H, W]` into columns `[C·k·k, B·OH·OW]` (im2col), so a
/// convolution becomes one matrix product; the backward pass folds gradients back (col2im).
#[derive(Clone, Copy, Debug)]
struct Im2Col {
    kernel: usize,
    stride: usize,
}

impl Im2Col {
    fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        valid_windows(h, w, self.kernel, self.stride)
    }
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "strata-im2col"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, c, h, w) = layout.shape().dims4()?;
        if h < self.kernel || w < self.kernel {
            candle_core::bail!(
                "im2col: {h}×{w} input is smaller than the {0}×{0} kernel",
                self.kernel
            );
        }
        let src = contiguous_f32(storage, layout, self.name())?;
        let (k, s) = (self.kernel, self.stride);
        let (oh, ow) = self.out_hw(h, w);
        let l = oh * ow;
        let row_len = b * l;
        let mut out = vec![0f32; c * k * k * row_len];
        // One output row per (channel, ky, kx): rows are independent, so fill them in parallel.
        out.par_chunks_mut(row_len)
            .enumerate()
            .for_each(|(row, dst)| {
                let ch = row / (k * k);
                let ky = (row / k) % k;
                let kx = row % k;
                for bi in 0..b {
                    let plane = &src[(bi * c + ch) * h * w..(bi * c + ch + 1) * h * w];
                    let d = &mut dst[bi * l..(bi + 1) * l];
                    for oy in 0..oh {
                        let line = &plane[(oy * s + ky) * w..];
                        let drow = &mut d[oy * ow..(oy + 1) * ow];
                        if s == 1 {
                            drow.copy_from_slice(&line[kx..kx + ow]);
                        } else {
                            for (ox, v) in drow.iter_mut().enumerate() {
                                *v = line[ox * s + kx];
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((c * k * k, row_len))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let (b, c, h, w) = arg.dims4()?;
        let (k, s) = (self.kernel, self.stride);
        let (oh, ow) = self.out_hw(h, w);
        let l = oh * ow;
        let grad = tensor_f32_vec(grad_res)?;
        let mut out = vec![0f32; b * c * h * w];
        // Each (batch, channel) plane gathers from its k·k rows; planes are independent.
        out.par_chunks_mut(h * w)
            .enumerate()
            .for_each(|(plane_index, dst)| {
                let bi = plane_index / c;
                let ch = plane_index % c;
                for ky in 0..k {
                    for kx in 0..k {
                        let row = (ch * k + ky) * k + kx;
                        let g = &grad[row * b * l + bi * l..row * b * l + (bi + 1) * l];
                        for oy in 0..oh {
                            let base = (oy * s + ky) * w + kx;
                            let grow = &g[oy * ow..(oy + 1) * ow];
                            if s == 1 {
                                for (d, v) in dst[base..base + ow].iter_mut().zip(grow) {
                                    *d += v;
                                }
                            } else {
                                for (ox, v) in grow.iter().enumerate() {
                                    dst[base + ox * s] += v;
                                }
                            }
                        }
                    }
                }
            });
        let t = Tensor::from_vec(out, (b, c, h, w), arg.device())?;
        Ok(Some(t.to_dtype(arg.dtype())?))
    }
}

/// Convolution of `[B, C, H, W]` (already padded) with `[F, C, k, k]` weights plus a bias per
/// filter, as im2col + one matrix product. Both gradients are matrix products plus a col2im fold,
/// and the bias gradient a contiguous row sum, which is much faster on the CPU than candle's
/// transposed-convolution loop and strided reductions.
pub fn conv2d_im2col(x: &Tensor, weight: &Tensor, bias: &Tensor, stride: usize) -> Result<Tensor> {
    let (b, _, h, w) = x.dims4()?;
    let (f, c, k, _) = weight.dims4()?;
    if !x.device().is_cpu() {
        return x
            .conv2d(weight, 0, stride, 1, 1)?
            .broadcast_add(&bias.reshape((1, f, 1, 1))?);
    }
    let op = Im2Col { kernel: k, stride };
    let (oh, ow) = op.out_hw(h, w);
    let cols = on_cpu(x, |t| t.apply_op1(op))?;
    let y = weight
        .reshape((f, c * k * k))?
        .matmul(&cols)?
        .broadcast_add(&bias.reshape((f, 1))?)?;
    y.reshape((f, b, oh, ow))?.transpose(0, 1)?.contiguous()
}

/// max(x, 0) with a single-pass backward.
#[derive(Clone, Copy, Debug)]
struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "strata-relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout, self.name())?;
        let out: Vec<f32> = if src.len() >= 1 << 16 {
            src.par_iter().map(|&v| v.max(0.0)).collect()
        } else {
            src.iter().map(|&v| v.max(0.0)).collect()
        };
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        if !res.device().is_cpu() {
            let mask = res.gt(0.0)?.to_dtype(grad_res.dtype())?;
            return Ok(Some(grad_res.mul(&mask)?));
        }
        let out = tensor_f32_vec(res)?;
        let grad = tensor_f32_vec(grad_res)?;
        let g: Vec<f32> = out
            .par_iter()
            .zip(grad.par_iter())
            .map(|(&o, &g)| if o > 0.0 { g } else { 0.0 })
            .collect();
        Ok(Some(Tensor::from_vec(g, res.shape(), res.device())?))
    }
}

/// max(x, 0).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(Relu)
    } else {
        x.relu()
    }
}

/// Mean binary cross-entropy between `logits` and `targets` in [0, 1], computed as
/// max(x, 0) − x·z + log(1 + e^−|x|), which never overflows.
pub fn binary_cross_entropy_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let positive = logits.relu()?;
    let soft = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((positive - logits.mul(targets)?)? + soft)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    /// Checks d(sum(f(x)·w))/dx from backprop against central finite differences.
    fn check_grad(x0: &[f32], shape: &[usize], f: impl Fn(&Tensor) -> Result<Tensor>) {
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

    fn distinct_values(n: usize) -> Vec<f32> {
        // Distinct, well-separated values so max-pool has no ties within 2·eps.
        (0..n)
            .map(|i| ((i * 37 + 11) % (n + 3)) as f32 * 0.1 - 1.0)
            .collect()
    }

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
    fn im2col_convolution_matches_candle_and_finite_differences() {
        let dev = Device::Cpu;
        let x: Vec<f32> = distinct_values(2 * 2 * 6 * 7);
        let w: Vec<f32> = (0..3 * 2 * 9)
            .map(|i| ((i * 5 % 7) as f32 - 3.0) * 0.2)
            .collect();
        let wt = Tensor::from_vec(w.clone(), (3, 2, 3, 3), &dev).unwrap();
        let bias = Tensor::new(&[0.1f32, -0.2, 0.3], &dev).unwrap();
        for stride in [1, 2] {
            let xt = Tensor::from_vec(x.clone(), (2, 2, 6, 7), &dev).unwrap();
            let ours = conv2d_im2col(&xt, &wt, &bias, stride).unwrap();
            let theirs = xt
                .conv2d(&wt, 0, stride, 1, 1)
                .unwrap()
                .broadcast_add(&bias.reshape((1, 3, 1, 1)).unwrap())
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            let diff = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
            assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
            check_grad(&x, &[2, 2, 6, 7], |t| conv2d_im2col(t, &wt, &bias, stride));
            let xt2 = xt.clone();
            check_grad(&w, &[3, 2, 3, 3], |k| conv2d_im2col(&xt2, k, &bias, stride));
            check_grad(&[0.1, -0.2, 0.3], &[3], |bb| {
                conv2d_im2col(&xt2, &wt, bb, stride)
            });
        }
    }

    #[test]
    fn relu_gradient_matches_finite_differences() {
        let x: Vec<f32> = (0..24).map(|i| (i as f32 - 11.5) * 0.3).collect();
        check_grad(&x, &[2, 3, 4], relu);
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
