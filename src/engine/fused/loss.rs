//! Softmax cross-entropy over class labels as one op.

use super::{cpu_slice, fusable, with_slice};
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};

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
