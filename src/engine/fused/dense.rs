//! Dense + bias + activation as one op (one GEMM forward; the backward skips gradients nobody
//! needs).

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{activation, cpu_slice, fusable, sgemm, with_slice, OutAct};
use crate::model::Activation;

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
