//! Text encoders (BERT-style): token vectors as rows of one matrix, each linear layer one matrix
//! product over every token of the batch with its bias added in the same pass, attention per text
//! (every head's scores, masked softmax and weighted sum), layer normalization fused with the
//! residual sum, GELU in one pass; rows (or texts) spread over the threads.

use candle_core::{Device, Result, Tensor};
use rayon::prelude::*;

use crate::engine::fused::{sgemm, with_slice};

/// Rows of one matrix at a time per thread's work item, for element-wise passes.
const ROWS_PER_TASK: usize = 16;

/// Token vectors `[rows, width]`, row = text · length + position.
#[derive(Clone, Debug)]
pub struct Rows {
    /// The values, row after row.
    pub data: Vec<f32>,
    /// Rows (tokens of the whole batch).
    pub rows: usize,
    /// Values per row.
    pub width: usize,
}

impl Rows {
    /// The rows of a `[B, L, H]` tensor.
    pub fn from_tensor(x: &Tensor) -> Result<Self> {
        let (b, l, width) = x.dims3()?;
        let data = with_slice(x, |s| Ok(s.to_vec()))?;
        Ok(Self {
            data,
            rows: b * l,
            width,
        })
    }

    /// Back to a `[batch, rows / batch, width]` tensor.
    pub fn into_tensor(self, batch: usize, device: &Device) -> Result<Tensor> {
        let len = self.rows / batch.max(1);
        Tensor::from_vec(self.data, (batch, len, self.width), device)
    }
}

fn values(t: &Tensor) -> Result<Vec<f32>> {
    with_slice(t, |s| Ok(s.to_vec()))
}

/// `x · wᵀ + b` (PyTorch's `nn.Linear`; `w` is `[out, in]`).
pub fn linear(x: &Rows, w: &Tensor, b: &Tensor) -> Result<Rows> {
    let (out, inputs) = w.dims2()?;
    if inputs != x.width {
        candle_core::bail!("a linear layer of {inputs} inputs does not fit {}", x.width);
    }
    let bias = values(b)?;
    if bias.len() != out {
        candle_core::bail!("a linear layer of {out} outputs has {} biases", bias.len());
    }
    let mut data = vec![0f32; x.rows * out];
    with_slice(w, |w| {
        sgemm(
            (x.rows, out, inputs),
            &x.data,
            false,
            w,
            true,
            &mut data,
            false,
            true,
        )
    })?;
    data.par_chunks_mut(out * ROWS_PER_TASK).for_each(|rows| {
        for row in rows.chunks_mut(out) {
            row.iter_mut().zip(&bias).for_each(|(v, b)| *v += b);
        }
    });
    Ok(Rows {
        data,
        rows: x.rows,
        width: out,
    })
}

/// `a · b` in eight running sums, so the compiler can vectorize it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0f32; 8];
    for (x, y) in ca.zip(cb) {
        for lane in 0..8 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// GELU in its exact form, 0.5·x·(1 + erf(x / √2)), in place.
pub fn gelu_erf(x: &mut Rows) {
    x.data
        .par_chunks_mut(x.width * ROWS_PER_TASK)
        .for_each(|chunk| {
            for v in chunk {
                *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
            }
        });
}

/// e^x for x ≤ 0 within 2·10⁻⁶ (relative): 2^n by the exponent bits, 2^f by a polynomial on
/// [−½, ½]. Plain arithmetic, so the compiler vectorizes loops of it (libm's is a call per value).
fn exp_nonpositive(x: f32) -> f32 {
    let z = x.max(-87.0) * std::f32::consts::LOG2_E;
    // Rounds to the nearest integer with SSE2 arithmetic alone (1.5 · 2²³).
    let n = (z + 12_582_912.0) - 12_582_912.0;
    let f = z - n;
    let two_f = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_11
                    + f * (0.009_618_129 + f * (0.001_333_355_8 + f * 0.000_154_035_3)))));
    two_f * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// erf(x) within 7·10⁻⁷ (Abramowitz & Stegun 7.1.26), about five times faster than libm's here.
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    (1.0 - poly * exp_nonpositive(-a * a)).copysign(x)
}

/// `x ← LayerNorm(x + residual)` over each row, with `weight` and `bias`.
pub fn add_layer_norm(
    x: &mut Rows,
    residual: &Rows,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<()> {
    let (gamma, beta) = (values(weight)?, values(bias)?);
    let width = x.width;
    if residual.width != width || residual.rows != x.rows || gamma.len() != width {
        candle_core::bail!("the layer normalization's shapes do not agree");
    }
    x.data
        .par_chunks_mut(width * ROWS_PER_TASK)
        .zip(residual.data.par_chunks(width * ROWS_PER_TASK))
        .for_each(|(rows, res)| {
            for (row, r) in rows.chunks_mut(width).zip(res.chunks(width)) {
                row.iter_mut().zip(r).for_each(|(v, r)| *v += r);
                let mean = row.iter().sum::<f32>() / width as f32;
                let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
                let inv = 1.0 / (var + eps as f32).sqrt();
                for ((v, g), b) in row.iter_mut().zip(&gamma).zip(&beta) {
                    *v = (*v - mean) * inv * g + b;
                }
            }
        });
    Ok(())
}

/// Scaled dot-product attention of `heads` heads over texts of `len` tokens: each position's
/// weighted sum of the values, weights the softmax of its query against every key plus
/// `key_bias` (per text and key position: 0, or very negative for padding). Each row of `qkv`
/// holds a token's query, key and value side by side (one linear layer of three times the
/// width).
pub fn attention(qkv: &Rows, (len, heads): (usize, usize), key_bias: &[f32]) -> Result<Rows> {
    let width = qkv.width / 3;
    if heads == 0
        || !qkv.width.is_multiple_of(3)
        || !width.is_multiple_of(heads)
        || len == 0
        || !qkv.rows.is_multiple_of(len)
    {
        candle_core::bail!(
            "{heads} heads over {} values and {len} tokens do not divide",
            qkv.width
        );
    }
    if key_bias.len() != qkv.rows {
        candle_core::bail!(
            "the attention mask has {} positions, not {}",
            key_bias.len(),
            qkv.rows
        );
    }
    let dh = width / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    let mut data = vec![0f32; qkv.rows * width];
    // Per text: its rows; per head a `dh`-wide slice of the query, key and value parts.
    data.par_chunks_mut(len * width)
        .enumerate()
        .for_each(|(text, out)| {
            let rows = &qkv.data[text * len * qkv.width..(text + 1) * len * qkv.width];
            let bias = &key_bias[text * len..(text + 1) * len];
            let mut weights = vec![0f32; len];
            for head in 0..heads {
                // Token t's slice of part 0 (query), 1 (key) or 2 (value).
                let part = |which: usize, t: usize| -> &[f32] {
                    &rows[t * 3 * width + which * width + head * dh..][..dh]
                };
                for i in 0..len {
                    let qi = part(0, i);
                    let mut max = f32::NEG_INFINITY;
                    for (j, w) in weights.iter_mut().enumerate() {
                        *w = dot(qi, part(1, j)) * scale + bias[j];
                        max = max.max(*w);
                    }
                    let mut sum = 0.0;
                    for w in weights.iter_mut() {
                        *w = exp_nonpositive(*w - max);
                        sum += *w;
                    }
                    let context = &mut out[i * width + head * dh..][..dh];
                    for (j, w) in weights.iter().enumerate() {
                        let w = w / sum;
                        for (c, v) in context.iter_mut().zip(part(2, j)) {
                            *c += w * v;
                        }
                    }
                }
            }
        });
    Ok(Rows {
        data,
        rows: qkv.rows,
        width,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{close, ramp};
    use super::*;
    use crate::pretrained::ops;

    #[test]
    fn the_fast_erf_and_exp_are_accurate() {
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let exact = candle_core::cpu::erf::erf_f64(f64::from(x));
            assert!((f64::from(erf(x)) - exact).abs() < 1e-6, "erf({x})");
            let y = -x.abs() * 6.5;
            let e = f64::from(y).exp();
            assert!(
                (f64::from(exp_nonpositive(y)) - e).abs() <= 3e-6 * e,
                "exp({y})"
            );
        }
        assert_eq!(exp_nonpositive(-1000.0), exp_nonpositive(-87.0));
        assert!(exp_nonpositive(-87.0) < 1e-37);
    }

    #[test]
    fn the_encoder_steps_match_the_candle_operations() {
        let (b, l, h, heads) = (3, 5, 8, 2);
        let x = ramp(&[b, l, h], 0);
        let rows = Rows::from_tensor(&x).unwrap();
        let (w, bias) = (ramp(&[h, h], 1), ramp(&[h], 2));
        let lin = linear(&rows, &w, &bias).unwrap();
        close(
            &lin.clone().into_tensor(b, &Device::Cpu).unwrap(),
            &ops::linear(&x, &w, &bias).unwrap(),
        );

        let mut g = lin.clone();
        gelu_erf(&mut g);
        let lin_t = lin.clone().into_tensor(b, &Device::Cpu).unwrap();
        close(
            &g.into_tensor(b, &Device::Cpu).unwrap(),
            &lin_t.gelu_erf().unwrap(),
        );

        let mut normed = lin.clone();
        let (gamma, beta) = (ramp(&[h], 3), ramp(&[h], 4));
        add_layer_norm(&mut normed, &rows, &gamma, &beta, 1e-12).unwrap();
        let theirs = ops::layer_norm(&(&lin_t + &x).unwrap(), &gamma, &beta, 1e-12).unwrap();
        close(&normed.into_tensor(b, &Device::Cpu).unwrap(), &theirs);

        // Attention with the last two tokens of the second text masked out.
        let mut mask = vec![1f32; b * l];
        mask[l + 3] = 0.0;
        mask[l + 4] = 0.0;
        let key_bias: Vec<f32> = mask.iter().map(|m| (m - 1.0) * 1e9).collect();
        let (q, k, v) = (
            ramp(&[b, l, h], 5),
            ramp(&[b, l, h], 6),
            ramp(&[b, l, h], 7),
        );
        let qkv = Tensor::cat(&[&q, &k, &v], 2).unwrap();
        let ours = attention(&Rows::from_tensor(&qkv).unwrap(), (l, heads), &key_bias).unwrap();
        let dh = h / heads;
        let split = |t: &Tensor| {
            t.reshape((b, l, heads, dh))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let bias_t = Tensor::from_vec(key_bias.clone(), (b, 1, 1, l), &Device::Cpu).unwrap();
        let scores = (split(&q)
            .matmul(&split(&k).t().unwrap().contiguous().unwrap())
            .unwrap()
            * (1.0 / (dh as f64).sqrt()))
        .unwrap()
        .broadcast_add(&bias_t)
        .unwrap();
        let theirs = ops::softmax_last(&scores)
            .unwrap()
            .matmul(&split(&v))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape((b, l, h))
            .unwrap();
        close(&ours.into_tensor(b, &Device::Cpu).unwrap(), &theirs);
    }
}
