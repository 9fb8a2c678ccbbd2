//! Convolution + bias + activation (per-sample im2col and GEMM, padding folded into the
//! unfolding), and the same followed by a max-pool without storing the convolution's output.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{activation, cpu_slice, fusable, sgemm, with_slice, OutAct};
use crate::model::Activation;

/// Geometry of a 2-D convolution over one sample: input `c×h×w`, square kernel `k`, stride,
/// zero padding before (top, left) and the output size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ConvGeometry {
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
                let best = crate::engine::ops::max_position(plane, ow, k, s, (py, px));
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
            crate::engine::ops::pool2d(
                &y,
                crate::engine::ops::PoolKind::Max,
                pool_kernel,
                pool_stride,
            )
        }
    }
}
