//! Fused CPU layers, each one candle custom op with its own backward pass: convolution + bias +
//! activation (per-sample im2col and GEMM, padding folded into the unfolding), dense + bias +
//! activation, one-pass activations, and softmax cross-entropy. Their backward passes compute no
//! gradient for an input that needs none (the image), and read the saved output instead of
//! re-running comparison chains.
//!
//! On other devices, or for dtypes other than f32, the same functions fall back to candle's own
//! ops, so results agree everywhere; only the speed differs.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor, D,
};
use rayon::prelude::*;

use crate::model::Activation;

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
    if a.len() < m * k || b.len() < k * n || c.len() < m * n {
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
            c[..m * n].fill(0.0);
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
    // (m−1)·a_rs + (k−1)·a_cs < m·k, b likewise < k·n, c reaches (m−1)·n + (n−1) < m·n. The
    // slices are borrowed for the whole call and `c` is exclusively borrowed.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
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
            for v in values {
                *v = self.apply(*v);
            }
        }
    }

    /// The gradient before the activation: `grad · act'(y)`.
    fn backprop(self, y: &[f32], grad: &[f32]) -> Vec<f32> {
        if self == Self::Linear {
            return grad.to_vec();
        }
        let f = |(&y, &g): (&f32, &f32)| g * self.derivative(y);
        if y.len() >= PARALLEL_ELEMENTS {
            y.par_iter().zip(grad.par_iter()).map(f).collect()
        } else {
            y.iter().zip(grad).map(f).collect()
        }
    }
}

/// Slope of LeakyReLU below zero (the same as `activate`).
pub(crate) const LEAKY_SLOPE: f32 = 0.01;

/// Whether the fused CPU kernels apply to these tensors.
fn fusable(tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

// ---------------------------------------------------------------------------------------------
// Element-wise activations with a one-pass backward.

/// An element-wise activation as one op: forward and backward each a single pass.
#[derive(Clone, Copy, Debug)]
struct ActOp(Activation);

const GELU_C: f32 = 0.797_884_6; // sqrt(2/π)
const GELU_A: f32 = 0.044_715;

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

// ---------------------------------------------------------------------------------------------
// Dense.

/// `act(x·Wᵀ + b)` for `x` `[B, in]`, `W` `[out, in]`, `b` `[out]`.
#[derive(Clone, Copy, Debug)]
struct DenseOp(OutAct);

impl CustomOp3 for DenseOp {
    fn name(&self) -> &'static str {
        "strata-dense"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, inputs) = xl.shape().dims2()?;
        let (units, w_in) = wl.shape().dims2()?;
        if w_in != inputs || bl.shape().elem_count() != units {
            candle_core::bail!("dense: input {inputs} does not fit weights {units}×{w_in}");
        }
        let (x, w, b) = (cpu_slice(xs, xl)?, cpu_slice(ws, wl)?, cpu_slice(bs, bl)?);
        let mut out = vec![0f32; batch * units];
        for row in out.chunks_mut(units) {
            row.copy_from_slice(b);
        }
        // Rows split across threads, each a single-threaded product with the activation applied
        // while the rows are still in cache: faster than one threaded product at these sizes.
        let rows = if batch * units * inputs >= 1 << 18 {
            batch.div_ceil(rayon::current_num_threads()).max(1)
        } else {
            batch.max(1)
        };
        if inputs == 0 {
            self.0.apply_all(&mut out);
        } else if units > 0 {
            out.par_chunks_mut(rows * units)
                .zip(x.par_chunks(rows * inputs))
                .try_for_each(|(o, xr)| {
                    sgemm(
                        (o.len() / units, units, inputs),
                        xr,
                        false,
                        w,
                        true,
                        o,
                        true,
                        false,
                    )?;
                    self.0.apply_all(o);
                    Ok::<_, candle_core::Error>(())
                })?;
        }
        Ok((CpuStorage::F32(out), Shape::from((batch, units))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (batch, inputs) = x.dims2()?;
        let units = w.dim(0)?;
        let gm = with_slice(res, |y| with_slice(grad_res, |g| Ok(self.0.backprop(y, g))))?;
        let dw = if w.track_op() {
            let mut dw = vec![0f32; units * inputs];
            with_slice(x, |xv| {
                sgemm(
                    (units, inputs, batch),
                    &gm,
                    true,
                    xv,
                    false,
                    &mut dw,
                    false,
                    true,
                )
            })?;
            Some(Tensor::from_vec(dw, w.shape(), w.device())?)
        } else {
            None
        };
        let db = if b.track_op() {
            let mut db = vec![0f32; units];
            for row in gm.chunks(units) {
                for (d, g) in db.iter_mut().zip(row) {
                    *d += g;
                }
            }
            Some(Tensor::from_vec(db, b.shape(), b.device())?)
        } else {
            None
        };
        let dx = if x.track_op() {
            let mut dx = vec![0f32; batch * inputs];
            with_slice(w, |wv| {
                sgemm(
                    (batch, inputs, units),
                    &gm,
                    false,
                    wv,
                    false,
                    &mut dx,
                    false,
                    true,
                )
            })?;
            Some(Tensor::from_vec(dx, x.shape(), x.device())?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// A dense layer `act(x·Wᵀ + b)` on `[B, in]` inputs, the activation fused when its derivative
/// follows from its output.
pub fn dense(x: &Tensor, w: &Tensor, b: &Tensor, act: Activation) -> Result<Tensor> {
    match OutAct::from_activation(act) {
        Some(fused) if x.rank() == 2 && fusable(&[x, w, b]) => {
            x.contiguous()?
                .apply_op3(&w.contiguous()?, &b.contiguous()?, DenseOp(fused))
        }
        _ => {
            let y = x.broadcast_matmul(&w.t()?)?.broadcast_add(b)?;
            activation(&y, act)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Convolution.

/// Geometry of a 2-D convolution over one sample: input `c×h×w`, square kernel `k`, stride,
/// zero padding before (top, left) and the output size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeometry {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeometry {
    fn rows(&self) -> usize {
        self.c * self.k * self.k
    }

    fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Output columns `ox` whose input column `ox·s + kx − pad_left` lies inside the image.
    fn valid_ox(&self, kx: usize) -> std::ops::Range<usize> {
        let s = self.stride;
        // ox·s + kx ≥ pad_left  and  ox·s + kx − pad_left < w
        let lo = self.pad_left.saturating_sub(kx).div_ceil(s).min(self.ow);
        let hi = (self.w + self.pad_left)
            .saturating_sub(kx)
            .div_ceil(s)
            .clamp(lo, self.ow);
        lo..hi
    }

    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.stride + ky)
            .checked_sub(self.pad_top)
            .filter(|&iy| iy < self.h)
    }

    /// Unfolds one sample `[c, h, w]` into `cols` `[c·k·k, oh·ow]`.
    fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let (k, s, l) = (self.k, self.stride, self.positions());
        for (row, dst) in cols.chunks_mut(l).enumerate().take(self.rows()) {
            let (ch, ky, kx) = (row / (k * k), (row / k) % k, row % k);
            let plane = &x[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            let valid = self.valid_ox(kx);
            for (oy, d) in dst.chunks_mut(self.ow).enumerate() {
                let Some(iy) = self.input_row(oy, ky) else {
                    d.fill(0.0);
                    continue;
                };
                let line = &plane[iy * self.w..(iy + 1) * self.w];
                d[..valid.start].fill(0.0);
                d[valid.end..].fill(0.0);
                if valid.is_empty() {
                    continue;
                }
                let x0 = valid.start * s + kx - self.pad_left;
                if s == 1 {
                    d[valid.clone()].copy_from_slice(&line[x0..x0 + valid.len()]);
                } else {
                    for (j, v) in d[valid.clone()].iter_mut().enumerate() {
                        *v = line[x0 + j * s];
                    }
                }
            }
        }
    }

    /// Folds column gradients `[c·k·k, oh·ow]` back onto one sample's input gradient (added).
    fn col2im(&self, cols: &[f32], dx: &mut [f32]) {
        let (k, s, l) = (self.k, self.stride, self.positions());
        for (row, src) in cols.chunks(l).enumerate().take(self.rows()) {
            let (ch, ky, kx) = (row / (k * k), (row / k) % k, row % k);
            let plane = &mut dx[ch * self.h * self.w..(ch + 1) * self.h * self.w];
            let valid = self.valid_ox(kx);
            for (oy, g) in src.chunks(self.ow).enumerate() {
                let Some(iy) = self.input_row(oy, ky).filter(|_| !valid.is_empty()) else {
                    continue;
                };
                let line = &mut plane[iy * self.w..(iy + 1) * self.w];
                let x0 = valid.start * s + kx - self.pad_left;
                if s == 1 {
                    for (d, v) in line[x0..x0 + valid.len()].iter_mut().zip(&g[valid.clone()]) {
                        *d += v;
                    }
                } else {
                    for (j, v) in g[valid.clone()].iter().enumerate() {
                        line[x0 + j * s] += v;
                    }
                }
            }
        }
    }
}

impl ConvGeometry {
    /// One sample's convolution plus bias into `dst` `[f, oh·ow]` (before the activation),
    /// unfolding into `cols`.
    fn forward_sample(
        &self,
        sample: &[f32],
        weights: &[f32],
        bias: &[f32],
        cols: &mut [f32],
        dst: &mut [f32],
    ) -> Result<()> {
        let l = self.positions();
        self.im2col(sample, cols);
        for (row, b) in dst.chunks_mut(l).zip(bias) {
            row.fill(*b);
        }
        sgemm(
            (bias.len(), l, self.rows()),
            weights,
            false,
            cols,
            false,
            dst,
            true,
            false,
        )
    }

    /// The backward pass of a batch: `grad_at(i, gm)` writes the gradient at sample `i`'s
    /// convolution output (after undoing the activation and anything fused after it) into `gm`
    /// `[f, oh·ow]`. Returns the input gradient when `need_dx`, and the weight and bias gradients.
    fn backward(
        &self,
        batch: usize,
        f: usize,
        x: &[f32],
        weights: &[f32],
        need_dx: bool,
        grad_at: impl Fn(usize, &mut [f32]) + Sync,
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        let (l, rows) = (self.positions(), self.rows());
        let chw = self.c * self.h * self.w;
        let groups = (rayon::current_num_threads() * 2).clamp(1, batch.max(1));
        let per_group = batch.div_ceil(groups).max(1);
        let mut dx = vec![0f32; if need_dx { batch * chw } else { 0 }];
        // Each group of samples accumulates its own weight and bias gradients; summed after.
        let run = |gi: usize, mut dxg: Option<&mut [f32]>| -> Result<(Vec<f32>, Vec<f32>)> {
            let mut dw = vec![0f32; f * rows];
            let mut db = vec![0f32; f];
            let mut cols = vec![0f32; rows * l];
            let mut gm = vec![0f32; f * l];
            let mut dcols = vec![0f32; if need_dx { rows * l } else { 0 }];
            let first = gi * per_group;
            for i in first..(first + per_group).min(batch) {
                grad_at(i, &mut gm);
                for (d, row) in db.iter_mut().zip(gm.chunks(l)) {
                    *d += row.iter().sum::<f32>();
                }
                self.im2col(&x[i * chw..(i + 1) * chw], &mut cols);
                sgemm((f, rows, l), &gm, false, &cols, true, &mut dw, true, false)?;
                if let Some(d) = dxg.as_deref_mut() {
                    sgemm(
                        (rows, l, f),
                        weights,
                        true,
                        &gm,
                        false,
                        &mut dcols,
                        false,
                        false,
                    )?;
                    let j = i - first;
                    self.col2im(&dcols, &mut d[j * chw..(j + 1) * chw]);
                }
            }
            Ok((dw, db))
        };
        let partial: Vec<(Vec<f32>, Vec<f32>)> = if need_dx {
            dx.par_chunks_mut(per_group * chw)
                .enumerate()
                .map(|(gi, d)| run(gi, Some(d)))
                .collect::<Result<_>>()?
        } else {
            (0..batch.div_ceil(per_group))
                .into_par_iter()
                .map(|gi| run(gi, None))
                .collect::<Result<_>>()?
        };
        let mut dw = vec![0f32; f * rows];
        let mut db = vec![0f32; f];
        for (pw, pb) in &partial {
            dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
            db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
        }
        Ok((dx, dw, db))
    }
}

/// How a convolution is laid out over the image: stride, zero padding before the image, and the
/// output size (decided by the caller's padding rule).
#[derive(Clone, Copy, Debug)]
struct ConvShape {
    stride: usize,
    pad_top: usize,
    pad_left: usize,
    oh: usize,
    ow: usize,
}

impl ConvShape {
    /// The per-sample geometry, the number of filters and the batch size for input dims `x`
    /// and weight dims `w`.
    fn geometry(&self, x: &[usize], w: &[usize]) -> Result<(ConvGeometry, usize, usize)> {
        let (&[batch, c, h, wd], &[f, wc, k, k2]) = (x, w) else {
            candle_core::bail!("conv2d: needs [B, C, H, W] inputs and [F, C, k, k] weights");
        };
        if wc != c || k != k2 {
            candle_core::bail!(
                "conv2d: input with {c} channels does not fit weights {f}×{wc}×{k}×{k2}"
            );
        }
        let g = ConvGeometry {
            c,
            h,
            w: wd,
            k,
            stride: self.stride,
            pad_top: self.pad_top,
            pad_left: self.pad_left,
            oh: self.oh,
            ow: self.ow,
        };
        Ok((g, f, batch))
    }
}

/// The input, weight and bias data of a convolution, with one bias per filter checked.
fn conv_slices<'a>(
    (xs, xl): (&'a CpuStorage, &Layout),
    (ws, wl): (&'a CpuStorage, &Layout),
    (bs, bl): (&'a CpuStorage, &Layout),
    filters: usize,
) -> Result<(&'a [f32], &'a [f32], &'a [f32])> {
    let b = cpu_slice(bs, bl)?;
    if b.len() != filters {
        candle_core::bail!("conv2d: {} biases for {filters} filters", b.len());
    }
    Ok((cpu_slice(xs, xl)?, cpu_slice(ws, wl)?, b))
}

/// Wraps gradients for the arguments that need one.
fn grads3(
    (x, w, b): (&Tensor, &Tensor, &Tensor),
    (dx, dw, db): (Vec<f32>, Vec<f32>, Vec<f32>),
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let wrap = |t: &Tensor, v: Vec<f32>| -> Result<Option<Tensor>> {
        if t.track_op() {
            Ok(Some(Tensor::from_vec(v, t.shape(), t.device())?))
        } else {
            Ok(None)
        }
    };
    Ok((wrap(x, dx)?, wrap(w, dw)?, wrap(b, db)?))
}

/// `act(conv(x, W) + b)` over `[B, C, H, W]` with `[F, C, k, k]` weights.
#[derive(Clone, Copy, Debug)]
struct ConvOp {
    shape: ConvShape,
    act: OutAct,
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "strata-conv2d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (g, f, batch) = self.shape.geometry(xl.dims(), wl.dims())?;
        let (x, wt, b) = conv_slices((xs, xl), (ws, wl), (bs, bl), f)?;
        let l = g.positions();
        let mut out = vec![0f32; batch * f * l];
        if l > 0 {
            out.par_chunks_mut(f * l)
                .zip(x.par_chunks(g.c * g.h * g.w))
                .try_for_each_init(
                    || vec![0f32; g.rows() * l],
                    |cols, (dst, sample)| {
                        g.forward_sample(sample, wt, b, cols, dst)?;
                        self.act.apply_all(dst);
                        Ok::<_, candle_core::Error>(())
                    },
                )?;
        }
        Ok((CpuStorage::F32(out), Shape::from((batch, f, g.oh, g.ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (g, f, batch) = self.shape.geometry(x.dims(), w.dims())?;
        let fl = f * g.positions();
        let grads = with_slice(x, |xv| {
            with_slice(w, |wv| {
                with_slice(res, |yv| {
                    with_slice(grad_res, |gv| {
                        g.backward(batch, f, xv, wv, x.track_op(), |i, gm| {
                            let span = i * fl..(i + 1) * fl;
                            for ((d, &y), &gr) in
                                gm.iter_mut().zip(&yv[span.clone()]).zip(&gv[span])
                            {
                                *d = gr * self.act.derivative(y);
                            }
                        })
                    })
                })
            })
        })?;
        grads3((x, w, b), grads)
    }
}

/// `max-pool(act(conv(x, W) + b))` in one op: the convolution output is never stored, only the
/// position of each window's maximum. Valid because the fusable activations never decrease, so
/// the maximum before and after the activation is the same element.
#[derive(Debug)]
struct ConvMaxPoolOp {
    shape: ConvShape,
    act: OutAct,
    pool_kernel: usize,
    pool_stride: usize,
    /// For every pooled output, the position of its maximum in the convolution plane, written
    /// by the forward pass and read by the backward pass.
    argmax: std::sync::Mutex<Vec<u32>>,
}

impl ConvMaxPoolOp {
    fn pooled(&self) -> (usize, usize) {
        let out = |n: usize| {
            crate::model::window_out(
                n,
                self.pool_kernel,
                self.pool_stride,
                crate::model::Padding::Valid,
            )
            .unwrap_or(0)
        };
        (out(self.shape.oh), out(self.shape.ow))
    }

    /// Pools one `[oh, ow]` plane into `out`, recording where each maximum was; NaN wins.
    fn pool_plane(&self, plane: &[f32], out: &mut [f32], argmax: &mut [u32]) {
        let (ph, pw) = self.pooled();
        let (k, s, ow) = (self.pool_kernel, self.pool_stride, self.shape.ow);
        for py in 0..ph {
            for px in 0..pw {
                let best = super::ops::max_position(plane, ow, k, s, (py, px));
                out[py * pw + px] = self.act.apply(plane[best]);
                argmax[py * pw + px] = best as u32;
            }
        }
    }
}

impl CustomOp3 for ConvMaxPoolOp {
    fn name(&self) -> &'static str {
        "strata-conv2d-max-pool"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (g, f, batch) = self.shape.geometry(xl.dims(), wl.dims())?;
        let (x, wt, b) = conv_slices((xs, xl), (ws, wl), (bs, bl), f)?;
        let (l, (ph, pw)) = (g.positions(), self.pooled());
        let pooled = f * ph * pw;
        let mut out = vec![0f32; batch * pooled];
        let mut argmax = vec![0u32; batch * pooled];
        if pooled > 0 {
            out.par_chunks_mut(pooled)
                .zip(argmax.par_chunks_mut(pooled))
                .zip(x.par_chunks(g.c * g.h * g.w))
                .try_for_each_init(
                    || (vec![0f32; g.rows() * l], vec![0f32; f * l]),
                    |(cols, conv), ((dst, arg), sample)| {
                        g.forward_sample(sample, wt, b, cols, conv)?;
                        for ((plane, o), a) in conv
                            .chunks(l)
                            .zip(dst.chunks_mut(ph * pw))
                            .zip(arg.chunks_mut(ph * pw))
                        {
                            self.pool_plane(plane, o, a);
                        }
                        Ok::<_, candle_core::Error>(())
                    },
                )?;
        }
        *self
            .argmax
            .lock()
            .map_err(|_| candle_core::Error::Msg("conv2d-max-pool: poisoned lock".into()))? =
            argmax;
        Ok((CpuStorage::F32(out), Shape::from((batch, f, ph, pw))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (g, f, batch) = self.shape.geometry(x.dims(), w.dims())?;
        let (l, (ph, pw)) = (g.positions(), self.pooled());
        let pooled = f * ph * pw;
        let argmax = self
            .argmax
            .lock()
            .map_err(|_| candle_core::Error::Msg("conv2d-max-pool: poisoned lock".into()))?;
        let grads = with_slice(x, |xv| {
            with_slice(w, |wv| {
                with_slice(res, |yv| {
                    with_slice(grad_res, |gv| {
                        g.backward(batch, f, xv, wv, x.track_op(), |i, gm| {
                            gm.fill(0.0);
                            let span = i * pooled..(i + 1) * pooled;
                            for (p, ((&y, &gr), &at)) in yv[span.clone()]
                                .iter()
                                .zip(&gv[span.clone()])
                                .zip(&argmax[span])
                                .enumerate()
                            {
                                let plane = p / (ph * pw);
                                gm[plane * l + at as usize] += gr * self.act.derivative(y);
                            }
                        })
                    })
                })
            })
        })?;
        grads3((x, w, b), grads)
    }
}

/// A 2-D convolution `act(conv(x, W) + b)` of `[B, C, H, W]` with `[F, C, k, k]` weights, zero
/// padding `pad_top`/`pad_left` before the image and an `oh`×`ow` output (the caller's padding
/// rule decides those). The activation is fused when its derivative follows from its output.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    stride: usize,
    (pad_top, pad_left): (usize, usize),
    (oh, ow): (usize, usize),
    act: Activation,
) -> Result<Tensor> {
    let (_, _, h, wd) = x.dims4()?;
    let (f, _, k, _) = w.dims4()?;
    if stride == 0 {
        candle_core::bail!("convolution needs a stride of at least 1");
    }
    match OutAct::from_activation(act) {
        Some(fused) if fusable(&[x, w, b]) => {
            let op = ConvOp {
                shape: ConvShape {
                    stride,
                    pad_top,
                    pad_left,
                    oh,
                    ow,
                },
                act: fused,
            };
            x.contiguous()?
                .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
        }
        _ => {
            // Pad explicitly, then keep exactly the rows/columns the windows reach.
            let need = |out: usize| (out.max(1) - 1) * stride + k;
            let (nh, nw) = (need(oh), need(ow));
            let bottom = nh.saturating_sub(h + pad_top);
            let right = nw.saturating_sub(wd + pad_left);
            let padded = x
                .pad_with_zeros(2, pad_top, bottom)?
                .pad_with_zeros(3, pad_left, right)?
                .narrow(2, 0, nh)?
                .narrow(3, 0, nw)?;
            let y = padded
                .conv2d(w, 0, stride, 1, 1)?
                .broadcast_add(&b.reshape((1, f, 1, 1))?)?;
            activation(&y, act)
        }
    }
}

/// [`conv2d`] followed by a max-pool (`pool_kernel`, `pool_stride`, no padding) in one op when
/// the activation allows it (never decreasing, derivative from the output); otherwise the two
/// ops one after the other. Same values either way.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_max_pool(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    stride: usize,
    pads: (usize, usize),
    (oh, ow): (usize, usize),
    act: Activation,
    (pool_kernel, pool_stride): (usize, usize),
) -> Result<Tensor> {
    match OutAct::from_activation(act) {
        Some(fused) if fusable(&[x, w, b]) && stride > 0 && pool_kernel > 0 && pool_stride > 0 => {
            let op = ConvMaxPoolOp {
                shape: ConvShape {
                    stride,
                    pad_top: pads.0,
                    pad_left: pads.1,
                    oh,
                    ow,
                },
                act: fused,
                pool_kernel,
                pool_stride,
                argmax: std::sync::Mutex::new(Vec::new()),
            };
            x.contiguous()?
                .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
        }
        _ => {
            let y = conv2d(x, w, b, stride, pads, (oh, ow), act)?;
            super::ops::pool2d(&y, super::ops::PoolKind::Max, pool_kernel, pool_stride)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy.

/// Mean cross-entropy of softmax(logits) against class labels, one op.
#[derive(Clone, Copy, Debug)]
struct SoftmaxCrossEntropy;

fn softmax_row(row: &[f32], out: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (o, &v) in out.iter_mut().zip(row) {
        *o = (v - max).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

fn labels_u32(storage: &CpuStorage, layout: &Layout) -> Result<Vec<u32>> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("cross-entropy: labels must be contiguous");
    };
    Ok(match storage {
        CpuStorage::U32(v) => v[start..end].to_vec(),
        CpuStorage::I64(v) => v[start..end].iter().map(|&l| l as u32).collect(),
        CpuStorage::U8(v) => v[start..end].iter().map(|&l| u32::from(l)).collect(),
        _ => candle_core::bail!("cross-entropy: labels must be integers"),
    })
}

impl CustomOp2 for SoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "strata-softmax-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        ls: &CpuStorage,
        ll: &Layout,
        ys: &CpuStorage,
        yl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, classes) = ll.shape().dims2()?;
        let logits = cpu_slice(ls, ll)?;
        let labels = labels_u32(ys, yl)?;
        if labels.len() != batch {
            candle_core::bail!("cross-entropy: {batch} outputs but {} labels", labels.len());
        }
        let mut total = 0f64;
        for (row, &label) in logits.chunks(classes).zip(&labels) {
            let label = label as usize;
            if label >= classes {
                candle_core::bail!("cross-entropy: label {label} but only {classes} classes");
            }
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = row.iter().map(|&v| (v - max).exp()).sum::<f32>().ln() + max;
            total += f64::from(lse - row[label]);
        }
        let mean = (total / batch.max(1) as f64) as f32;
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        labels: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (batch, classes) = logits.dims2()?;
        let scale = grad_res.to_dtype(DType::F32)?.to_scalar::<f32>()? / batch.max(1) as f32;
        let labels = labels.to_dtype(DType::U32)?.to_vec1::<u32>()?;
        let grad = with_slice(logits, |l| {
            let mut g = vec![0f32; l.len()];
            for ((row, out), &label) in l.chunks(classes).zip(g.chunks_mut(classes)).zip(&labels) {
                softmax_row(row, out);
                if let Some(v) = out.get_mut(label as usize) {
                    *v -= 1.0;
                }
                for v in out.iter_mut() {
                    *v *= scale;
                }
            }
            Ok(g)
        })?;
        Ok((
            Some(Tensor::from_vec(grad, logits.shape(), logits.device())?),
            None,
        ))
    }
}

/// Mean cross-entropy of `softmax(logits)` `[B, K]` against integer class labels `[B]`.
pub fn softmax_cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    if fusable(&[logits]) && logits.rank() == 2 && labels.device().is_cpu() {
        logits
            .contiguous()?
            .apply_op2(&labels.contiguous()?, SoftmaxCrossEntropy)
    } else {
        candle_nn::loss::cross_entropy(logits, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ops::testing::{check_grad, distinct_values, max_diff};
    use candle_core::{Device, Var};

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
}
