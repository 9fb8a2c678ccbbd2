//! Convolutional networks: each batch normalization folded into the convolution before it (one
//! weight and one bias per output channel), pointwise convolutions as one matrix product per
//! image, others through an unfolding per image, depthwise convolutions as direct loops over each
//! channel's rows; ReLU6 and the residual sum in the same pass; images (or channels) spread over
//! the threads.

use candle_core::{Device, Result, Tensor};
use rayon::prelude::*;

use crate::engine::fused::{sgemm, with_slice};
use crate::pretrained::ops::Pads;
use crate::simd::{fma, vectorized};

/// A batch of feature maps `[N, C, H, W]`, contiguous.
#[derive(Clone, Debug)]
pub struct Maps {
    /// The values, image after image, channel after channel, row after row.
    pub data: Vec<f32>,
    /// Images.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Rows.
    pub h: usize,
    /// Columns.
    pub w: usize,
}

impl Maps {
    /// The maps of a `[N, C, H, W]` tensor.
    pub fn from_tensor(x: &Tensor) -> Result<Self> {
        let (n, c, h, w) = x.dims4()?;
        let data = with_slice(x, |s| Ok(s.to_vec()))?;
        Ok(Self { data, n, c, h, w })
    }

    /// Back to a `[N, C, H, W]` tensor.
    pub fn into_tensor(self, device: &Device) -> Result<Tensor> {
        Tensor::from_vec(self.data, (self.n, self.c, self.h, self.w), device)
    }

    fn per_image(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Mean over each channel's positions: `[N, C]`.
    pub fn global_mean(&self, device: &Device) -> Result<Tensor> {
        let hw = (self.h * self.w).max(1);
        let means: Vec<f32> = self
            .data
            .chunks(hw)
            .map(|plane| plane.iter().sum::<f32>() / hw as f32)
            .collect();
        Tensor::from_vec(means, (self.n, self.c), device)
    }
}

/// A convolution with its batch normalization folded in: `w` is `[O, C·k·k]` (depthwise:
/// `[C, k·k]`), scaled per output channel; `b` the shift.
#[derive(Clone, Debug)]
pub struct Folded {
    w: Vec<f32>,
    b: Vec<f32>,
    out: usize,
    k: usize,
}

impl Folded {
    /// Folds the normalization `gamma · (conv − mean) / √(var + eps) + beta` into `w`
    /// (`[O, C, k, k]`, no bias).
    pub fn new(w: &Tensor, bn: [&Tensor; 4], eps: f64) -> Result<Self> {
        let (out, _, k, _) = w.dims4()?;
        let [gamma, beta, mean, var] = bn.map(|t| with_slice(t, |s| Ok(s.to_vec())));
        let (gamma, beta, mean, var) = (gamma?, beta?, mean?, var?);
        if [&gamma, &beta, &mean, &var].iter().any(|v| v.len() != out) {
            candle_core::bail!("the batch normalization does not have {out} channels");
        }
        let mut w = with_slice(w, |s| Ok(s.to_vec()))?;
        let per_out = w.len() / out.max(1);
        let mut b = Vec::with_capacity(out);
        for (o, row) in w.chunks_mut(per_out.max(1)).enumerate() {
            let scale = gamma[o] / (var[o] + eps as f32).sqrt();
            row.iter_mut().for_each(|v| *v *= scale);
            b.push(beta[o] - mean[o] * scale);
        }
        Ok(Self { w, b, out, k })
    }

    fn per_out(&self) -> usize {
        self.w.len() / self.out.max(1)
    }
}

/// What follows the convolution in the same pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Post {
    /// Nothing.
    None,
    /// min(max(x, 0), 6).
    Relu6,
}

fn finish(out: &mut [f32], bias: f32, post: Post) {
    match post {
        Post::None => out.iter_mut().for_each(|v| *v += bias),
        Post::Relu6 => out
            .iter_mut()
            .for_each(|v| *v = (*v + bias).clamp(0.0, 6.0)),
    }
}

fn out_size(n: usize, pad: usize, k: usize, stride: usize) -> Result<usize> {
    let padded = n + pad;
    if padded < k || stride == 0 {
        candle_core::bail!("the feature map ({n}) is smaller than the {k}-wide window");
    }
    Ok((padded - k) / stride + 1)
}

/// A full convolution (every input channel into every output) of `f`'s window; pointwise ones
/// (1×1, stride 1, no padding) read the maps directly, others through an unfolding per image.
/// `residual` (same shape as the output) is added after `post`.
pub fn full(
    x: &Maps,
    f: &Folded,
    stride: usize,
    pads: Pads,
    post: Post,
    residual: Option<&Maps>,
) -> Result<Maps> {
    let k = f.k;
    if f.per_out() != x.c * k * k {
        candle_core::bail!(
            "a convolution of {} inputs per output does not fit {} channels",
            f.per_out(),
            x.c
        );
    }
    let oh = out_size(x.h, pads.top + pads.bottom, k, stride)?;
    let ow = out_size(x.w, pads.left + pads.right, k, stride)?;
    let (l, rows) = (oh * ow, x.c * k * k);
    let pointwise = k == 1 && stride == 1 && pads == Pads::symmetric(0);
    let per_out_image = f.out * l;
    if let Some(r) = residual {
        if r.per_image() != per_out_image || r.n != x.n {
            candle_core::bail!("the residual does not have the convolution's shape");
        }
    }
    let mut data = vec![0f32; x.n * per_out_image];
    // One image on its own uses every thread inside the matrix product.
    let parallel_gemm = x.n == 1;
    let image = |i: usize, out: &mut [f32]| -> Result<()> {
        let src = &x.data[i * x.per_image()..(i + 1) * x.per_image()];
        if pointwise {
            sgemm(
                (f.out, l, rows),
                &f.w,
                false,
                src,
                false,
                out,
                false,
                parallel_gemm,
            )?;
        } else {
            let cols = unfold(src, x, k, stride, pads, (oh, ow));
            sgemm(
                (f.out, l, rows),
                &f.w,
                false,
                &cols,
                false,
                out,
                false,
                parallel_gemm,
            )?;
        }
        for (o, plane) in out.chunks_mut(l).enumerate() {
            finish(plane, f.b[o], post);
        }
        if let Some(r) = residual {
            let add = &r.data[i * per_out_image..(i + 1) * per_out_image];
            out.iter_mut().zip(add).for_each(|(v, a)| *v += a);
        }
        Ok(())
    };
    data.par_chunks_mut(per_out_image.max(1))
        .enumerate()
        .try_for_each(|(i, out)| image(i, out))?;
    Ok(Maps {
        data,
        n: x.n,
        c: f.out,
        h: oh,
        w: ow,
    })
}

/// The windows of one image as columns: row `c·k² + ky·k + kx`, column `oy·ow + ox`.
fn unfold(
    src: &[f32],
    x: &Maps,
    k: usize,
    stride: usize,
    pads: Pads,
    (oh, ow): (usize, usize),
) -> Vec<f32> {
    let l = oh * ow;
    let mut cols = vec![0f32; x.c * k * k * l];
    for c in 0..x.c {
        let plane = &src[c * x.h * x.w..(c + 1) * x.h * x.w];
        for ky in 0..k {
            for kx in 0..k {
                let row = &mut cols[((c * k + ky) * k + kx) * l..][..l];
                let (lo, hi) = valid_columns(kx, pads.left, stride, x.w, ow);
                for oy in 0..oh {
                    let Some(iy) = input_row(oy * stride + ky, pads.top, x.h) else {
                        continue;
                    };
                    let line = &plane[iy * x.w..(iy + 1) * x.w];
                    for ox in lo..hi {
                        row[oy * ow + ox] = line[ox * stride + kx - pads.left];
                    }
                }
            }
        }
    }
    cols
}

/// The input row under padded row `padded` (`top` rows of padding above `h` rows), if it is
/// not padding.
fn input_row(padded: usize, top: usize, h: usize) -> Option<usize> {
    padded.checked_sub(top).filter(|&iy| iy < h)
}

/// The output columns `lo..hi` whose input column `ox·stride + kx − left` lies inside `0..w`.
fn valid_columns(kx: usize, left: usize, stride: usize, w: usize, ow: usize) -> (usize, usize) {
    let lo = left.saturating_sub(kx).div_ceil(stride);
    let hi = (w + left).saturating_sub(kx).div_ceil(stride).min(ow);
    (lo, hi.max(lo))
}

/// A depthwise convolution's geometry: k×k window, stride, padding, input and output sizes.
#[derive(Clone, Copy, Debug)]
struct Window {
    k: usize,
    stride: usize,
    pads: Pads,
    input: (usize, usize),
    output: (usize, usize),
}

vectorized! {
    /// One channel's plane through its `taps`, summed into `out` (the output plane).
    fn depthwise_plane(plane: &[f32], taps: &[f32], out: &mut [f32], window: Window) =
        depthwise_plane_kernel;
}

#[inline(always)]
fn depthwise_plane_kernel<const FMA: bool>(
    plane: &[f32],
    taps: &[f32],
    out: &mut [f32],
    window: Window,
) {
    let Window {
        k,
        stride,
        pads,
        input: (h, w),
        output: (oh, ow),
    } = window;
    for ky in 0..k {
        for oy in 0..oh {
            let Some(iy) = input_row(oy * stride + ky, pads.top, h) else {
                continue;
            };
            let line = &plane[iy * w..(iy + 1) * w];
            let orow = &mut out[oy * ow..(oy + 1) * ow];
            for kx in 0..k {
                let tap = taps[ky * k + kx];
                let (lo, hi) = valid_columns(kx, pads.left, stride, w, ow);
                if lo == hi {
                    // The tap falls on padding for every column (maps smaller than the window).
                    continue;
                }
                if stride == 1 {
                    let start = lo + kx - pads.left;
                    let src = &line[start..start + (hi - lo)];
                    for (o, v) in orow[lo..hi].iter_mut().zip(src) {
                        *o = fma::<FMA>(*o, tap, *v);
                    }
                } else {
                    for (ox, o) in orow.iter_mut().enumerate().take(hi).skip(lo) {
                        *o = fma::<FMA>(*o, tap, line[ox * stride + kx - pads.left]);
                    }
                }
            }
        }
    }
}

/// A depthwise convolution (one k×k filter per channel) of `f`'s window, then `post`.
pub fn depthwise(x: &Maps, f: &Folded, stride: usize, pads: Pads, post: Post) -> Result<Maps> {
    let k = f.k;
    if f.out != x.c || f.per_out() != k * k {
        candle_core::bail!(
            "a depthwise convolution of {} channels does not fit {}",
            f.out,
            x.c
        );
    }
    let oh = out_size(x.h, pads.top + pads.bottom, k, stride)?;
    let ow = out_size(x.w, pads.left + pads.right, k, stride)?;
    let (hw, l) = (x.h * x.w, oh * ow);
    let mut data = vec![0f32; x.n * x.c * l];
    data.par_chunks_mut(l.max(1))
        .enumerate()
        .for_each(|(plane_index, out)| {
            let c = plane_index % x.c;
            let plane = &x.data[plane_index * hw..(plane_index + 1) * hw];
            let taps = &f.w[c * k * k..(c + 1) * k * k];
            let window = Window {
                k,
                stride,
                pads,
                input: (x.h, x.w),
                output: (oh, ow),
            };
            depthwise_plane(plane, taps, out, window);
            finish(out, f.b[c], post);
        });
    Ok(Maps {
        data,
        n: x.n,
        c: x.c,
        h: oh,
        w: ow,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{close, ramp};
    use super::*;
    use crate::pretrained::ops;

    fn bn(c: usize) -> [Tensor; 4] {
        let var = (ramp(&[c], 3).abs().unwrap() + 0.5).unwrap();
        [ramp(&[c], 1), ramp(&[c], 2), ramp(&[c], 5), var]
    }

    #[test]
    fn folded_convolutions_match_the_candle_operations() {
        for (h, w) in [(9, 8), (1, 1), (2, 3)] {
            compare_at(h, w);
        }
    }

    /// Every kind of window over `h`×`w` maps (smaller than the window too).
    fn compare_at(h: usize, w: usize) {
        let x = ramp(&[2, 4, h, w], 0);
        let maps = Maps::from_tensor(&x).unwrap();
        for (k, stride, pads) in [
            (1, 1, Pads::symmetric(0)),
            (3, 1, Pads::symmetric(1)),
            (3, 2, Pads::tf_same(h, w, 3, 2)),
            (5, 2, Pads::tf_same(h, w, 5, 2)),
            (5, 1, Pads::tf_same(h, w, 5, 1)),
        ] {
            let [g, b, m, v] = bn(6);
            let w = ramp(&[6, 4, k, k], k);
            let f = Folded::new(&w, [&g, &b, &m, &v], 1e-3).unwrap();
            let ours = full(&maps, &f, stride, pads, Post::Relu6, None).unwrap();
            let theirs = ops::relu6(
                &ops::batch_norm_fixed(
                    &ops::conv2d(&x, &w, stride, pads).unwrap(),
                    &g,
                    &b,
                    &m,
                    &v,
                    1e-3,
                )
                .unwrap(),
            )
            .unwrap();
            close(&ours.into_tensor(&Device::Cpu).unwrap(), &theirs);

            let [g, b, m, v] = bn(4);
            let dw = ramp(&[4, 1, k, k], k + 1);
            let f = Folded::new(&dw, [&g, &b, &m, &v], 1e-3).unwrap();
            let ours = depthwise(&maps, &f, stride, pads, Post::None).unwrap();
            let theirs = ops::batch_norm_fixed(
                &ops::depthwise_conv2d(&x, &dw, stride, pads).unwrap(),
                &g,
                &b,
                &m,
                &v,
                1e-3,
            )
            .unwrap();
            close(&ours.into_tensor(&Device::Cpu).unwrap(), &theirs);
        }
    }
}
