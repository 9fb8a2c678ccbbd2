//! Text encoders (BERT-style): token vectors as rows of one matrix, each linear layer one matrix
//! product over every token of the batch with its bias added in the same pass, attention per text
//! (every head's scores, masked softmax and weighted sum), layer normalization fused with the
//! residual sum, GELU in one pass; rows (or texts) spread over the threads.

use candle_core::{Device, Result, Tensor};
use rayon::prelude::*;

use crate::engine::fused::{sgemm_strided, with_slice};
use crate::simd::{fma, vectorized};

/// Rows of one matrix at a time per thread's work item, for element-wise passes.
const ROWS_PER_TASK: usize = 16;

/// Token vectors `[rows, width]`, row = text · length + position.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    /// The values, row after row.
    pub data: Vec<f32>,
    /// Rows (tokens of the whole batch).
    pub rows: usize,
    /// Values per row.
    pub width: usize,
}

impl Rows {
    /// `rows` rows of `width` values, the buffer kept (values left as they were, zero where it
    /// grew): for outputs every value of which is written next.
    fn reshape(&mut self, rows: usize, width: usize) {
        self.data.resize(rows * width, 0.0);
        (self.rows, self.width) = (rows, width);
    }

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

/// `out ← x · wᵀ + b` (PyTorch's `nn.Linear`; `w` is `[out, in]`); `out`'s buffer is reused
/// (resized, never zeroed: every value is written).
pub fn linear(x: &Rows, w: &Tensor, b: &Tensor, out: &mut Rows) -> Result<()> {
    linear_side_by_side(x, &[(w, b)], out)
}

/// Several linear layers over the same rows, their outputs side by side in each row of `out`
/// (the attention's queries, keys and values: three products written into one matrix, with no
/// copy of the weights stacked).
pub fn linear_side_by_side(x: &Rows, layers: &[(&Tensor, &Tensor)], out: &mut Rows) -> Result<()> {
    let mut parts = Vec::with_capacity(layers.len());
    for (w, b) in layers {
        let (out, inputs) = w.dims2()?;
        if inputs != x.width {
            candle_core::bail!("a linear layer of {inputs} inputs does not fit {}", x.width);
        }
        let bias = values(b)?;
        if bias.len() != out {
            candle_core::bail!("a linear layer of {out} outputs has {} biases", bias.len());
        }
        parts.push((*w, bias));
    }
    let width: usize = parts.iter().map(|(_, bias)| bias.len()).sum();
    let inputs = x.width;
    out.reshape(x.rows, width);
    // The rows split evenly over the threads, each a product of its own on one thread, its bias
    // added while the rows are still in cache: faster here than one product whose blocks are
    // shared out (MiniLM's layers: 122 against 97–113 texts/s).
    let per_thread = x.rows.div_ceil(rayon::current_num_threads()).max(1);
    out.data
        .par_chunks_mut(per_thread * width)
        .zip(x.data.par_chunks(per_thread * inputs))
        .try_for_each(|(c, a)| -> Result<()> {
            let rows = a.len() / inputs;
            let mut column = 0;
            for (w, bias) in &parts {
                let out = bias.len();
                with_slice(w, |w| {
                    let c = (&mut c[column..], width);
                    sgemm_strided((rows, out, inputs), a, false, w, true, c, false, false)
                })?;
                for row in c.chunks_mut(width) {
                    let row = &mut row[column..column + out];
                    row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                }
                column += out;
            }
            Ok(())
        })
}

/// GELU in its exact form, 0.5·x·(1 + erf(x / √2)), in place.
pub fn gelu_erf(x: &mut Rows) {
    x.data
        .par_chunks_mut(x.width * ROWS_PER_TASK)
        .for_each(gelu_chunk);
}

vectorized! {
    fn gelu_chunk(values: &mut [f32]) = gelu_kernel;
}

#[inline(always)]
fn gelu_kernel<const FMA: bool>(values: &mut [f32]) {
    for v in values {
        *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// e^x for x ≤ 0 within 2·10⁻⁶ (relative): 2^n by the exponent bits, 2^f by a polynomial on
/// [−½, ½]. Plain arithmetic, so the compiler vectorizes loops of it (libm's is a call per value).
#[inline(always)]
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
    // 2^n: n + 127 (1…127 here) lands in the low mantissa bits of n + 127 + 2²³, and from there
    // in the exponent field. Float arithmetic and shifts only: a float-to-integer conversion
    // (`as i32`, which saturates) is done one lane at a time.
    let biased = (n + 127.0 + 8_388_608.0).to_bits();
    two_f * f32::from_bits(biased << 23)
}

/// erf(x) within 7·10⁻⁷ (Abramowitz & Stegun 7.1.26), about five times faster than libm's here.
#[inline(always)]
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
        .for_each(|(rows, res)| add_norm_rows(rows, res, (&gamma, &beta), eps as f32));
    Ok(())
}

/// The embeddings of token ids `ids` (texts of `len` tokens, ids within the table): each token's
/// word vector plus its position's and the first token type's, layer-normalized with `norm`
/// (weight, bias). `tables` are the word, position and token-type tables (`[n, width]` each).
pub fn embed(
    ids: &[u32],
    len: usize,
    tables: (&Tensor, &Tensor, &Tensor),
    norm: (&Tensor, &Tensor),
    eps: f64,
) -> Result<Rows> {
    let (words, positions, types) = tables;
    let (vocab, width) = words.dims2()?;
    let (gamma, beta) = (values(norm.0)?, values(norm.1)?);
    if len == 0
        || !ids.len().is_multiple_of(len)
        || positions.dims2()? < (len, width)
        || types.dims2()?.1 != width
        || gamma.len() != width
        || beta.len() != width
    {
        candle_core::bail!("the embedding tables do not fit texts of {len} tokens");
    }
    if let Some(id) = ids.iter().find(|&&id| id as usize >= vocab) {
        candle_core::bail!("token id {id} is past the {vocab} words of the vocabulary");
    }
    // Position + token type, the same for every text: the "residual" each text's words add to.
    let extra: Vec<f32> = with_slice(positions, |p| {
        with_slice(types, |t| {
            Ok(p[..len * width]
                .chunks_exact(width)
                .flat_map(|row| row.iter().zip(&t[..width]).map(|(p, t)| p + t))
                .collect())
        })
    })?;
    let mut data = vec![0f32; ids.len() * width];
    with_slice(words, |table| {
        data.par_chunks_mut(len * width)
            .zip(ids.par_chunks(len))
            .for_each(|(text, ids)| {
                for (row, &id) in text.chunks_exact_mut(width).zip(ids) {
                    row.copy_from_slice(&table[id as usize * width..][..width]);
                }
                add_norm_rows(text, &extra, (&gamma, &beta), eps as f32);
            });
        Ok(())
    })?;
    Ok(Rows {
        data,
        rows: ids.len(),
        width,
    })
}

vectorized! {
    /// `rows ← LayerNorm(rows + res)` row by row (rows of `gamma.len()` values).
    fn add_norm_rows(rows: &mut [f32], res: &[f32], affine: (&[f32], &[f32]), eps: f32) =
        add_norm_rows_kernel;
}

#[inline(always)]
fn add_norm_rows_kernel<const FMA: bool>(
    rows: &mut [f32],
    res: &[f32],
    (gamma, beta): (&[f32], &[f32]),
    eps: f32,
) {
    let width = gamma.len();
    for (row, r) in rows.chunks_exact_mut(width).zip(res.chunks_exact(width)) {
        row.iter_mut().zip(r).for_each(|(v, r)| *v += r);
        // Sums in sixteen lanes, not one chain of additions each waiting on the last.
        let mean = fold_lanes(row, 0.0, |v| v, |a, b| a + b) / width as f32;
        let var = fold_lanes(row, 0.0, |v| (v - mean) * (v - mean), |a, b| a + b) / width as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = fma::<FMA>(*b, (*v - mean) * inv, *g);
        }
    }
}

/// Scaled dot-product attention of `heads` heads over texts of `len` tokens: each position's
/// weighted sum of the values, weights the softmax of its query against every key plus
/// `key_bias` (per text and key position: 0, or very negative for padding). Each row of `qkv`
/// holds a token's query, key and value side by side (one linear layer of three times the
/// width).
pub fn attention(
    qkv: &Rows,
    (len, heads): (usize, usize),
    key_bias: &[f32],
    out: &mut Rows,
) -> Result<()> {
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
    out.reshape(qkv.rows, width);
    if !dh.is_multiple_of(COLUMNS) {
        // The columns past the last whole block are sums into the output.
        out.data.fill(0.0);
    }
    let (padded, query_rows) = (len.next_multiple_of(KEYS), len.next_multiple_of(QUERIES));
    // Scratch per worker, reused from text to text: what lies past `len` stays zero (never
    // written), the rest is overwritten for every head.
    let scratch = || {
        (
            vec![0f32; dh * padded],
            vec![0f32; query_rows * padded],
            vec![0f32; len * dh],
        )
    };
    out.data
        .par_chunks_mut(len * width)
        .enumerate()
        .for_each_init(scratch, |(keys_t, scores, values), (text, out)| {
            let rows = &qkv.data[text * len * qkv.width..(text + 1) * len * qkv.width];
            let bias = &key_bias[text * len..(text + 1) * len];
            let scratch = (&mut keys_t[..], &mut scores[..], &mut values[..]);
            attend_text(rows, bias, out, (len, heads, dh), scale, scratch);
        });
    Ok(())
}

/// Keys whose scores one query computes side by side (held in vector registers).
const KEYS: usize = 64;
/// Queries whose weighted sums of the values run side by side.
const QUERIES: usize = 4;
/// Columns of the values per such sum.
const COLUMNS: usize = 32;

vectorized! {
    /// One text's attention (see [`attention`]): `rows` its `len` rows of queries, keys and
    /// values, `out` its `len` rows of every head's context. Scratch: the head's keys transposed
    /// (`dh` rows of `len` rounded up to [`KEYS`], zero past `len`), the scores (`len` rounded
    /// up to [`QUERIES`] rows of as many, zero past `len`) and its values (`len` rows of `dh`).
    fn attend_text(
        rows: &[f32],
        bias: &[f32],
        out: &mut [f32],
        shape: (usize, usize, usize),
        scale: f32,
        scratch: (&mut [f32], &mut [f32], &mut [f32]),
    ) = attend_text_kernel;
}

#[inline(always)]
fn attend_text_kernel<const FMA: bool>(
    rows: &[f32],
    bias: &[f32],
    out: &mut [f32],
    (len, heads, dh): (usize, usize, usize),
    scale: f32,
    (keys_t, scores, values): (&mut [f32], &mut [f32], &mut [f32]),
) {
    let width = heads * dh;
    let stride = 3 * width;
    let padded = len.next_multiple_of(KEYS);
    for head in 0..heads {
        // The head's keys transposed, so that a query's scores for [`KEYS`] keys are sums of
        // whole rows scaled by one number each (vector-wide, no horizontal sums).
        for (j, row) in rows.chunks(stride).take(len).enumerate() {
            for (d, k) in row[width + head * dh..][..dh].iter().enumerate() {
                keys_t[d * padded + j] = *k;
            }
        }
        for (query, row) in scores.chunks_exact_mut(padded).zip(rows.chunks(stride)) {
            let q = &row[head * dh..][..dh];
            for (block, keys) in query.chunks_exact_mut(KEYS).enumerate() {
                let mut acc = [0f32; KEYS];
                for (q, k_row) in q.iter().zip(keys_t.chunks_exact(padded)) {
                    let q = q * scale;
                    for (a, k) in acc.iter_mut().zip(&k_row[block * KEYS..][..KEYS]) {
                        *a = fma::<FMA>(*a, q, *k);
                    }
                }
                keys.copy_from_slice(&acc);
            }
            let s = &mut query[..len];
            s.iter_mut().zip(bias).for_each(|(s, b)| *s += b);
            softmax_in_place(s);
        }
        // The head's values as `len` contiguous rows of `dh`.
        for (value, row) in values.chunks_exact_mut(dh).zip(rows.chunks(stride)) {
            value.copy_from_slice(&row[2 * width + head * dh..][..dh]);
        }
        // Each position's context, [`QUERIES`] positions × [`COLUMNS`] columns at a time: the
        // values' rows weighted by the softmax (rows of `scores` past `len` are zero).
        let blocked = dh - dh % COLUMNS;
        for (i, weights) in scores.chunks_exact(QUERIES * padded).enumerate() {
            let positions = (len - i * QUERIES).min(QUERIES);
            let w: [&[f32]; QUERIES] = std::array::from_fn(|r| &weights[r * padded..][..len]);
            for column in (0..blocked).step_by(COLUMNS) {
                let mut acc = [[0f32; COLUMNS]; QUERIES];
                let each = values
                    .chunks_exact(dh)
                    .zip(w[0])
                    .zip(w[1])
                    .zip(w[2])
                    .zip(w[3]);
                for ((((value, w0), w1), w2), w3) in each {
                    let value = &value[column..][..COLUMNS];
                    for (acc, w) in acc.iter_mut().zip([w0, w1, w2, w3]) {
                        for (a, v) in acc.iter_mut().zip(value) {
                            *a = fma::<FMA>(*a, *w, *v);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate().take(positions) {
                    let at = (i * QUERIES + r) * width + head * dh + column;
                    out[at..][..COLUMNS].copy_from_slice(acc);
                }
            }
            // Columns past the last whole block (heads whose width is no multiple of it).
            for (r, w) in w.iter().enumerate().take(positions) {
                let context = &mut out[(i * QUERIES + r) * width + head * dh..][blocked..dh];
                for (value, w) in values.chunks_exact(dh).zip(*w) {
                    for (c, v) in context.iter_mut().zip(&value[blocked..]) {
                        *c = fma::<FMA>(*c, *w, *v);
                    }
                }
            }
        }
    }
}

/// `row ← softmax(row)` in place. The maximum and the sum run over sixteen lanes side by side and
/// are folded in halves, so every step is vector-wide (an in-order sum of floats is not).
#[inline(always)]
fn softmax_in_place(row: &mut [f32]) {
    let larger = |a: f32, b: f32| if a > b { a } else { b };
    let max = fold_lanes(row, f32::NEG_INFINITY, |v| v, larger);
    for w in row.iter_mut() {
        *w = exp_nonpositive(*w - max);
    }
    let inv = 1.0 / fold_lanes(row, 0.0, |v| v, |a, b| a + b);
    row.iter_mut().for_each(|w| *w *= inv);
}

/// `map(v)` over `values` folded with `op` (associative, `start` its identity) sixteen lanes at a
/// time.
#[inline(always)]
fn fold_lanes(
    values: &[f32],
    start: f32,
    map: impl Fn(f32) -> f32,
    op: impl Fn(f32, f32) -> f32,
) -> f32 {
    const LANES: usize = 16;
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(start, |a, v| op(a, map(*v)));
    let mut lanes = [start; LANES];
    for chunk in chunks {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *l = op(*l, map(*v));
        }
    }
    let mut half = LANES / 2;
    while half > 0 {
        for i in 0..half {
            lanes[i] = op(lanes[i], lanes[i + half]);
        }
        half /= 2;
    }
    op(lanes[0], tail)
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
        let (b, l, h) = (3, 5, 8);
        let x = ramp(&[b, l, h], 0);
        let rows = Rows::from_tensor(&x).unwrap();
        let (w, bias) = (ramp(&[h, h], 1), ramp(&[h], 2));
        let mut lin = Rows::default();
        linear(&rows, &w, &bias, &mut lin).unwrap();
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
    }

    /// Embeddings (word + position + token type, layer-normalized) against candle's operations
    /// over two texts of five tokens; an id past the table is refused.
    #[test]
    fn embeddings_match_candle() {
        let (vocab, positions, width, len) = (11, 8, 24, 5);
        let words = ramp(&[vocab, width], 1);
        let pos = ramp(&[positions, width], 2);
        let types = ramp(&[2, width], 3);
        let (nw, nb) = (ramp(&[width], 4), ramp(&[width], 5));
        let ids: Vec<u32> = vec![3, 0, 10, 7, 7, 1, 2, 9, 4, 6];
        let ours = embed(&ids, len, (&words, &pos, &types), (&nw, &nb), 1e-12).unwrap();
        let index = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap();
        let x = words
            .index_select(&index, 0)
            .unwrap()
            .reshape((2, len, width))
            .unwrap()
            .broadcast_add(&pos.narrow(0, 0, len).unwrap())
            .unwrap()
            .broadcast_add(&types.narrow(0, 0, 1).unwrap())
            .unwrap();
        let theirs = ops::layer_norm(&x, &nw, &nb, 1e-12).unwrap();
        close(&ours.into_tensor(2, &Device::Cpu).unwrap(), &theirs);
        let past = [3, 0, 11, 7, 7];
        assert!(embed(&past, len, (&words, &pos, &types), (&nw, &nb), 1e-12).is_err());
        assert!(embed(&ids, 9, (&words, &pos, &types), (&nw, &nb), 1e-12).is_err());
    }

    /// Three layers side by side give each layer's own product in its columns, with rows split
    /// over the threads (37 rows: not a whole number per thread).
    #[test]
    fn linear_layers_side_by_side_are_the_layers_concatenated() {
        let (b, l, h) = (1, 37, 24);
        let x = ramp(&[b, l, h], 0);
        let rows = Rows::from_tensor(&x).unwrap();
        let outs = [24, 8, 40];
        let layers: Vec<(Tensor, Tensor)> = outs
            .iter()
            .enumerate()
            .map(|(i, &o)| (ramp(&[o, h], 2 * i + 1), ramp(&[o], 2 * i + 2)))
            .collect();
        let refs: Vec<(&Tensor, &Tensor)> = layers.iter().map(|(w, b)| (w, b)).collect();
        let mut ours = Rows::default();
        linear_side_by_side(&rows, &refs, &mut ours).unwrap();
        assert_eq!((ours.rows, ours.width), (l, 24 + 8 + 40));
        let each: Vec<Tensor> = layers
            .iter()
            .map(|(w, bias)| ops::linear(&x, w, bias).unwrap())
            .collect();
        let theirs = Tensor::cat(&each, 2).unwrap();
        close(&ours.into_tensor(b, &Device::Cpu).unwrap(), &theirs);
        let wrong = ramp(&[4, h + 1], 9);
        let wrong = [(&wrong, &ramp(&[4], 1))];
        assert!(linear_side_by_side(&rows, &wrong, &mut Rows::default()).is_err());
    }

    /// Attention against candle's operations, the last two tokens of the last text masked out.
    fn attention_matches_candle(b: usize, l: usize, h: usize, heads: usize) {
        let mut mask = vec![1f32; b * l];
        mask[b * l - 2] = 0.0;
        mask[b * l - 1] = 0.0;
        let key_bias: Vec<f32> = mask.iter().map(|m| (m - 1.0) * 1e9).collect();
        let (q, k, v) = (
            ramp(&[b, l, h], 5),
            ramp(&[b, l, h], 6),
            ramp(&[b, l, h], 7),
        );
        let qkv = Tensor::cat(&[&q, &k, &v], 2).unwrap();
        let mut ours = Rows::default();
        let qkv = Rows::from_tensor(&qkv).unwrap();
        attention(&qkv, (l, heads), &key_bias, &mut ours).unwrap();
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

    /// Heads narrower than, as wide as and wider than one block of value columns (32), texts
    /// shorter and longer than one block of keys (64) and not a whole number of query blocks (4).
    #[test]
    fn attention_matches_candle_on_every_block_edge() {
        for (b, l, h, heads) in [
            (3, 5, 8, 2),
            (2, 7, 64, 2),
            (2, 6, 80, 2),
            (2, 70, 64, 1),
            (1, 64, 384, 12),
        ] {
            attention_matches_candle(b, l, h, heads);
        }
    }
}
