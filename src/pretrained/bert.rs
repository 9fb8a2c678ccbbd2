//! BERT-style sentence encoders with mean pooling (all-MiniLM-L6-v2: 6 layers, 384 wide, 12
//! heads), in Hugging Face's naming (`embeddings.word_embeddings`, `encoder.layer.N.…`).

use std::ops::Range;

use candle_core::{DType, Result, Tensor, D};

use super::frozen::{self, encoder, encoder::Rows};
use super::ops;
use super::{ParamKind, ParamSpec};
use crate::export::onnx::{Attr, OnnxCx, OnnxError, FLOAT, INT64};

/// The encoder's size.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Tokens known.
    pub vocab: usize,
    /// Hidden width.
    pub hidden: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Width of the feed-forward part.
    pub intermediate: usize,
    /// Longest sequence (position embeddings).
    pub positions: usize,
    /// Layer-norm epsilon.
    pub eps: f64,
}

/// all-MiniLM-L6-v2.
pub const MINILM_L6: Config = Config {
    vocab: 30522,
    hidden: 384,
    layers: 6,
    heads: 12,
    intermediate: 1536,
    positions: 512,
    eps: 1e-12,
};

/// Values per text of `len` tokens each unit (the embeddings, then each layer) creates in candle
/// operations, the path that trains: per token 32 rows of `hidden` (queries, keys and values
/// with their biases and per-head copies, the attention's output, two linear layers, the residual
/// sums and layer norms' steps) and 3 of `intermediate` (its product, bias, GELU), and per head
/// six `len`×`len` score matrices (product, scale, mask, softmax's steps).
pub fn unit_values(c: Config, len: usize) -> Vec<u64> {
    let (len, hidden) = (len as u64, c.hidden as u64);
    let embeddings = len * hidden * 12;
    let layer = len * (32 * hidden + 3 * c.intermediate as u64) + 6 * c.heads as u64 * len * len;
    std::iter::once(embeddings)
        .chain(std::iter::repeat_n(layer, c.layers))
        .collect()
}

/// Values per text of `len` tokens the frozen encoder's reused buffers hold (`frozen::encoder`:
/// the hidden values and the residual, queries, keys and values, the attention's output, the
/// feed-forward layer's hidden values; the scores are per thread, not per text).
pub fn frozen_values(c: Config, len: usize) -> u64 {
    len as u64 * (6 * c.hidden as u64 + c.intermediate as u64)
}

fn linear_params(out: &mut Vec<ParamSpec>, name: &str, o: usize, i: usize, unit: usize) {
    out.push(ParamSpec::new(
        format!("{name}.weight"),
        vec![o, i],
        unit,
        ParamKind::Weight,
    ));
    out.push(ParamSpec::new(
        format!("{name}.bias"),
        vec![o],
        unit,
        ParamKind::Bias,
    ));
}

fn norm_params(out: &mut Vec<ParamSpec>, name: &str, c: usize, unit: usize) {
    out.push(ParamSpec::new(
        format!("{name}.weight"),
        vec![c],
        unit,
        ParamKind::Norm,
    ));
    out.push(ParamSpec::new(
        format!("{name}.bias"),
        vec![c],
        unit,
        ParamKind::Norm,
    ));
}

/// Every tensor the encoder reads, with its unit (embeddings 0, layer N at N + 1).
pub fn params(c: Config) -> Vec<ParamSpec> {
    let h = c.hidden;
    let mut out = vec![
        ParamSpec::new(
            "embeddings.word_embeddings.weight",
            vec![c.vocab, h],
            0,
            ParamKind::Weight,
        ),
        ParamSpec::new(
            "embeddings.position_embeddings.weight",
            vec![c.positions, h],
            0,
            ParamKind::Weight,
        ),
        ParamSpec::new(
            "embeddings.token_type_embeddings.weight",
            vec![2, h],
            0,
            ParamKind::Weight,
        ),
    ];
    norm_params(&mut out, "embeddings.LayerNorm", h, 0);
    for l in 0..c.layers {
        let unit = l + 1;
        let p = format!("encoder.layer.{l}");
        for part in ["query", "key", "value"] {
            linear_params(&mut out, &format!("{p}.attention.self.{part}"), h, h, unit);
        }
        linear_params(&mut out, &format!("{p}.attention.output.dense"), h, h, unit);
        norm_params(
            &mut out,
            &format!("{p}.attention.output.LayerNorm"),
            h,
            unit,
        );
        linear_params(
            &mut out,
            &format!("{p}.intermediate.dense"),
            c.intermediate,
            h,
            unit,
        );
        linear_params(
            &mut out,
            &format!("{p}.output.dense"),
            h,
            c.intermediate,
            unit,
        );
        norm_params(&mut out, &format!("{p}.output.LayerNorm"), h, unit);
    }
    out
}

fn linear(x: &Tensor, p: &dyn Fn(&str) -> Result<Tensor>, name: &str) -> Result<Tensor> {
    ops::linear(
        x,
        &p(&format!("{name}.weight"))?,
        &p(&format!("{name}.bias"))?,
    )
}

fn norm(x: &Tensor, p: &dyn Fn(&str) -> Result<Tensor>, name: &str, eps: f64) -> Result<Tensor> {
    ops::layer_norm(
        x,
        &p(&format!("{name}.weight"))?,
        &p(&format!("{name}.bias"))?,
        eps,
    )
}

/// Mean-pooled sentence embeddings `[B, hidden]` from token ids `[B, L]` (as numbers); tokens
/// equal to `pad_id` are masked out of attention and of the mean.
pub fn forward(
    c: Config,
    ids: &Tensor,
    pad_id: u32,
    p: &dyn Fn(&str) -> Result<Tensor>,
) -> Result<Tensor> {
    let hidden = prefix(c, ids, pad_id, p, 1)?;
    rest(c, ids, &hidden, pad_id, p, 1)
}

/// The ids as `u32` (clamped into the vocabulary), the mask (1 for tokens, 0 for padding) and
/// the attention's score offsets `[B, 1, 1, L]` (padding very negative).
fn prepare(c: Config, ids: &Tensor, pad_id: u32) -> Result<(Tensor, Tensor, Tensor)> {
    let (b, l) = ids.dims2()?;
    if l > c.positions {
        candle_core::bail!(
            "texts of {l} tokens are longer than the encoder's {} positions",
            c.positions
        );
    }
    let ids = ids
        .clamp(0f32, (c.vocab - 1) as f32)?
        .to_dtype(DType::U32)?;
    let mask = ids.ne(pad_id)?.to_dtype(DType::F32)?; // [B, L]
    let bias = ((mask.clone() - 1.0)? * 1e9)?.reshape((b, 1, 1, l))?;
    Ok((ids, mask, bias))
}

/// The hidden states `[B, L, hidden]` after the first `units` units (the embeddings, then
/// `units − 1` layers).
pub fn prefix(
    c: Config,
    ids: &Tensor,
    pad_id: u32,
    p: &dyn Fn(&str) -> Result<Tensor>,
    units: usize,
) -> Result<Tensor> {
    let (tokens, _, bias) = prepare(c, ids, pad_id)?;
    let (b, l) = tokens.dims2()?;
    let h = c.hidden;
    let words = p("embeddings.word_embeddings.weight")?;
    let positions = p("embeddings.position_embeddings.weight")?;
    let types = p("embeddings.token_type_embeddings.weight")?;
    let (nw, nb) = (
        p("embeddings.LayerNorm.weight")?,
        p("embeddings.LayerNorm.bias")?,
    );
    let tables = [words, positions, types, nw, nb];
    let x = if frozen::runs_here(ids, &tables) {
        let [words, positions, types, nw, nb] = &tables;
        let tokens = tokens.flatten_all()?.to_vec1::<u32>()?;
        encoder::embed(&tokens, l, (words, positions, types), (nw, nb), c.eps)?
            .into_tensor(b, ids.device())?
    } else {
        let [words, positions, types, _, _] = &tables;
        let words = words
            .index_select(&tokens.flatten_all()?, 0)?
            .reshape((b, l, h))?;
        let positions = positions.narrow(0, 0, l)?;
        let types = types.narrow(0, 0, 1)?;
        let x = words.broadcast_add(&positions.broadcast_add(&types)?)?;
        norm(&x, p, "embeddings.LayerNorm", c.eps)?
    };
    forward_layers(c, x, &bias, p, 0..units.clamp(1, c.layers + 1) - 1)
}

/// The sentence embeddings from `hidden`, the states after the first `units` units of `ids`
/// ([`prefix`]): the remaining layers, then the mean over the tokens.
pub fn rest(
    c: Config,
    ids: &Tensor,
    hidden: &Tensor,
    pad_id: u32,
    p: &dyn Fn(&str) -> Result<Tensor>,
    units: usize,
) -> Result<Tensor> {
    let (_, mask, bias) = prepare(c, ids, pad_id)?;
    let from = units.clamp(1, c.layers + 1) - 1;
    let x = forward_layers(c, hidden.clone(), &bias, p, from..c.layers)?;
    let m = mask.unsqueeze(D::Minus1)?; // [B, L, 1]
    let summed = x.broadcast_mul(&m)?.sum(1)?;
    let counts = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    summed.broadcast_div(&counts)
}

/// Layers `layers` over `x`; the leading ones whose weights need no gradient (all of them for a
/// frozen encoder) run in the CPU kernels of `frozen::encoder`, as long as their input needs
/// none either.
fn forward_layers(
    c: Config,
    x: Tensor,
    bias: &Tensor,
    p: &dyn Fn(&str) -> Result<Tensor>,
    layers: Range<usize>,
) -> Result<Tensor> {
    let specs = params(c);
    let mut fast = layers.start;
    for layer in layers.clone() {
        let weights = specs
            .iter()
            .filter(|s| s.unit == layer + 1)
            .map(|s| p(&s.name))
            .collect::<Result<Vec<_>>>()?;
        if !frozen::runs_here(&x, &weights) {
            break;
        }
        fast += 1;
    }
    run_layers(c, x, bias, p, layers, fast)
}

/// Transformer layers `layers` over `x` (`[B, L, H]`), those before `fast` in the CPU kernels of
/// `frozen::encoder`; `bias` is the attention mask's `[B, 1, 1, L]` score offsets.
fn run_layers(
    c: Config,
    x: Tensor,
    bias: &Tensor,
    p: &dyn Fn(&str) -> Result<Tensor>,
    layers: Range<usize>,
    fast: usize,
) -> Result<Tensor> {
    let (b, l, h) = x.dims3()?;
    let mut x = x;
    if fast > layers.start {
        let key_bias = bias.flatten_all()?.to_vec1::<f32>()?;
        let mut rows = Rows::from_tensor(&x)?;
        let mut buffers = LayerBuffers::default();
        for layer in layers.start..fast {
            rows = fast_layer(c, rows, l, &key_bias, p, layer, &mut buffers)?;
        }
        x = rows.into_tensor(b, x.device())?;
    }
    let (heads, dh) = (c.heads, h / c.heads);
    let scale = 1.0 / (dh as f64).sqrt();
    for layer in fast.max(layers.start)..layers.end {
        let pre = format!("encoder.layer.{layer}");
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, l, heads, dh))?.transpose(1, 2)?.contiguous()
        };
        let q = split(linear(&x, p, &format!("{pre}.attention.self.query"))?)?;
        let k = split(linear(&x, p, &format!("{pre}.attention.self.key"))?)?;
        let v = split(linear(&x, p, &format!("{pre}.attention.self.value"))?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(bias)?;
        let context = ops::softmax_last(&scores)?
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, l, h))?;
        let attended = linear(&context, p, &format!("{pre}.attention.output.dense"))?;
        x = norm(
            &(attended + &x)?,
            p,
            &format!("{pre}.attention.output.LayerNorm"),
            c.eps,
        )?;
        let inner = linear(&x, p, &format!("{pre}.intermediate.dense"))?.gelu_erf()?;
        let out = linear(&inner, p, &format!("{pre}.output.dense"))?;
        x = norm(&(out + &x)?, p, &format!("{pre}.output.LayerNorm"), c.eps)?;
    }
    Ok(x)
}

/// The buffers of one transformer layer in the CPU kernels, reused from layer to layer.
#[derive(Default)]
struct LayerBuffers {
    qkv: Rows,
    context: Rows,
    attended: Rows,
    inner: Rows,
}

/// Transformer layer `layer` in the CPU kernels, over texts of `len` tokens; its output is
/// written over `x`'s buffer.
fn fast_layer(
    c: Config,
    x: Rows,
    len: usize,
    key_bias: &[f32],
    p: &dyn Fn(&str) -> Result<Tensor>,
    layer: usize,
    buffers: &mut LayerBuffers,
) -> Result<Rows> {
    let pre = format!("encoder.layer.{layer}");
    let weights = |name: &str| -> Result<(Tensor, Tensor)> {
        let name = format!("{pre}.{name}");
        Ok((p(&format!("{name}.weight"))?, p(&format!("{name}.bias"))?))
    };
    let norm = |x: &mut Rows, residual: &Rows, name: &str| -> Result<()> {
        let (w, b) = weights(name)?;
        encoder::add_layer_norm(x, residual, &w, &b, c.eps)
    };
    let LayerBuffers {
        qkv,
        context,
        attended,
        inner,
    } = buffers;
    // Queries, keys and values side by side in each row, as the attention kernel reads them.
    let (q, k, v) = (
        weights("attention.self.query")?,
        weights("attention.self.key")?,
        weights("attention.self.value")?,
    );
    let parts = [(&q.0, &q.1), (&k.0, &k.1), (&v.0, &v.1)];
    encoder::linear_side_by_side(&x, &parts, qkv)?;
    encoder::attention(qkv, (len, c.heads), key_bias, context)?;
    let (w, b) = weights("attention.output.dense")?;
    encoder::linear(context, &w, &b, attended)?;
    norm(attended, &x, "attention.output.LayerNorm")?;
    let (w, b) = weights("intermediate.dense")?;
    encoder::linear(attended, &w, &b, inner)?;
    encoder::gelu_erf(inner);
    let mut out = x;
    let (w, b) = weights("output.dense")?;
    encoder::linear(inner, &w, &b, &mut out)?;
    norm(&mut out, attended, "output.LayerNorm")?;
    Ok(out)
}

/// Layer normalization over the last axis with `<name>.weight` and `<name>.bias`.
fn onnx_norm(
    cx: &mut OnnxCx<'_>,
    x: &str,
    name: &str,
    eps: f64,
) -> std::result::Result<String, OnnxError> {
    let w = cx.weight(&format!("{name}.weight"))?;
    let b = cx.weight(&format!("{name}.bias"))?;
    Ok(cx.node(
        "LayerNormalization",
        &[x, &w, &b],
        vec![Attr::Int("axis", -1), Attr::Float("epsilon", eps as f32)],
    ))
}

/// GELU in its exact form, 0.5·x·(1 + erf(x / √2)).
fn onnx_gelu_erf(cx: &mut OnnxCx<'_>, x: &str) -> String {
    let r = cx.scalar("inv_sqrt2", std::f32::consts::FRAC_1_SQRT_2);
    let half = cx.scalar("half", 0.5);
    let one = cx.scalar("one", 1.0);
    let scaled = cx.node("Mul", &[x, &r], vec![]);
    let e = cx.node("Erf", &[&scaled], vec![]);
    let e1 = cx.node("Add", &[&e, &one], vec![]);
    let hx = cx.node("Mul", &[x, &half], vec![]);
    cx.node("Mul", &[&hx, &e1], vec![])
}

/// The encoder as ONNX nodes over token ids `ids` (`[N, L]`, float32) ([`forward`]'s steps);
/// returns the mean-pooled embeddings `[N, hidden]`.
pub fn onnx(
    c: Config,
    cx: &mut OnnxCx<'_>,
    ids: &str,
    len: usize,
    pad_id: u32,
) -> std::result::Result<String, OnnxError> {
    if len > c.positions {
        return Err(OnnxError::Invalid(format!(
            "texts of {len} tokens are longer than the encoder's {} positions",
            c.positions
        )));
    }
    let h = c.hidden;
    let lo = cx.scalar("first_id", 0.0);
    let hi = cx.scalar("last_id", (c.vocab - 1) as f32);
    let clipped = cx.node("Clip", &[ids, &lo, &hi], vec![]);
    let ids = cx.node("Cast", &[&clipped], vec![Attr::Int("to", INT64)]);
    let pad = cx.constant_i64("pad_id", &[i64::from(pad_id)]);
    let is_pad = cx.node("Equal", &[&ids, &pad], vec![]);
    let keep = cx.node("Not", &[&is_pad], vec![]);
    let mask = cx.node("Cast", &[&keep], vec![Attr::Int("to", FLOAT)]); // [N, L]
    let table = cx.weight("embeddings.word_embeddings.weight")?;
    let words = cx.node("Gather", &[&table, &ids], vec![Attr::Int("axis", 0)]);
    let (_, positions) = cx.tensor("embeddings.position_embeddings.weight")?;
    let (_, types) = cx.tensor("embeddings.token_type_embeddings.weight")?;
    let extra: Vec<f32> = (0..len * h)
        .map(|k| {
            positions.get(k).copied().unwrap_or(0.0) + types.get(k % h).copied().unwrap_or(0.0)
        })
        .collect();
    let extra = cx.constant("embeddings.position_and_type", &[len, h], extra);
    let x = cx.node("Add", &[&words, &extra], vec![]);
    let mut x = onnx_norm(cx, &x, "embeddings.LayerNorm", c.eps)?;
    // Padding gets a large negative score before the softmax: [N, 1, 1, L].
    let one = cx.scalar("one", 1.0);
    let big = cx.scalar("big", 1e9);
    let off = cx.node("Sub", &[&mask, &one], vec![]);
    let bias = cx.node("Mul", &[&off, &big], vec![]);
    let axes12 = cx.constant_i64("axes_1_2", &[1, 2]);
    let bias = cx.node("Unsqueeze", &[&bias, &axes12], vec![]);
    let (heads, dh) = (c.heads, h / c.heads);
    let scale = cx.scalar("scale", 1.0 / (dh as f32).sqrt());
    let split_shape = cx.constant_i64("split_shape", &[0, 0, heads as i64, dh as i64]);
    let join_shape = cx.constant_i64("join_shape", &[0, 0, h as i64]);
    for layer in 0..c.layers {
        let pre = format!("encoder.layer.{layer}");
        let split = |cx: &mut OnnxCx<'_>, which: &str, perm: Vec<i64>| {
            let y = cx.linear(&x, &format!("{pre}.attention.self.{which}"))?;
            let y = cx.node("Reshape", &[&y, &split_shape], vec![]);
            Ok::<_, OnnxError>(cx.node("Transpose", &[&y], vec![Attr::Ints("perm", perm)]))
        };
        let q = split(cx, "query", vec![0, 2, 1, 3])?; // [N, heads, L, dh]
        let kt = split(cx, "key", vec![0, 2, 3, 1])?; // [N, heads, dh, L]
        let v = split(cx, "value", vec![0, 2, 1, 3])?;
        let scores = cx.node("MatMul", &[&q, &kt], vec![]);
        let scores = cx.node("Mul", &[&scores, &scale], vec![]);
        let scores = cx.node("Add", &[&scores, &bias], vec![]);
        let weights = cx.node("Softmax", &[&scores], vec![Attr::Int("axis", -1)]);
        let context = cx.node("MatMul", &[&weights, &v], vec![]);
        let context = cx.node(
            "Transpose",
            &[&context],
            vec![Attr::Ints("perm", vec![0, 2, 1, 3])],
        );
        let context = cx.node("Reshape", &[&context, &join_shape], vec![]);
        let attended = cx.linear(&context, &format!("{pre}.attention.output.dense"))?;
        let sum = cx.node("Add", &[&attended, &x], vec![]);
        x = onnx_norm(
            cx,
            &sum,
            &format!("{pre}.attention.output.LayerNorm"),
            c.eps,
        )?;
        let inner = cx.linear(&x, &format!("{pre}.intermediate.dense"))?;
        let inner = onnx_gelu_erf(cx, &inner);
        let out = cx.linear(&inner, &format!("{pre}.output.dense"))?;
        let sum = cx.node("Add", &[&out, &x], vec![]);
        x = onnx_norm(cx, &sum, &format!("{pre}.output.LayerNorm"), c.eps)?;
    }
    // The mean over the tokens that are not padding.
    let axis1 = cx.constant_i64("axis_1", &[1]);
    let axis2 = cx.constant_i64("axis_2", &[2]);
    let m = cx.node("Unsqueeze", &[&mask, &axis2], vec![]); // [N, L, 1]
    let masked = cx.node("Mul", &[&x, &m], vec![]);
    let summed = cx.node(
        "ReduceSum",
        &[&masked, &axis1],
        vec![Attr::Int("keepdims", 0)],
    );
    let counts = cx.node("ReduceSum", &[&m, &axis1], vec![Attr::Int("keepdims", 0)]);
    let tiny = cx.scalar("tiny", 1e-9);
    let counts = cx.node("Max", &[&counts, &tiny], vec![]);
    Ok(cx.node("Div", &[&summed, &counts], vec![]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretrained::made_up_weights;
    use candle_core::Device;

    #[test]
    fn the_cpu_kernels_give_the_candle_operations_embeddings() {
        let c = Config {
            vocab: 40,
            hidden: 12,
            layers: 3,
            heads: 3,
            intermediate: 20,
            positions: 16,
            eps: 1e-12,
        };
        let weights = made_up_weights(params(c));
        let p = |name: &str| Ok(weights[name].clone());
        // Two texts of 7 tokens, the second padded after 4.
        let ids: Vec<f32> = [5, 9, 13, 2, 30, 7, 11, 8, 3, 21, 17, 0, 0, 0]
            .iter()
            .map(|&i| i as f32)
            .collect();
        let ids = Tensor::from_vec(ids, (2, 7), &Device::Cpu).unwrap();
        let ours = forward(c, &ids, 0, &p).unwrap();
        assert_eq!(ours.dims(), &[2, 12]);
        let ids_u32 = ids.to_dtype(DType::U32).unwrap();
        let mask = ids_u32.ne(0u32).unwrap().to_dtype(DType::F32).unwrap();
        let bias = ((mask - 1.0).unwrap() * 1e9)
            .unwrap()
            .reshape((2, 1, 1, 7))
            .unwrap();
        let words = weights["embeddings.word_embeddings.weight"]
            .index_select(&ids_u32.flatten_all().unwrap(), 0)
            .unwrap()
            .reshape((2, 7, 12))
            .unwrap();
        let x = words
            .broadcast_add(
                &weights["embeddings.position_embeddings.weight"]
                    .narrow(0, 0, 7)
                    .unwrap()
                    .broadcast_add(
                        &weights["embeddings.token_type_embeddings.weight"]
                            .narrow(0, 0, 1)
                            .unwrap(),
                    )
                    .unwrap(),
            )
            .unwrap();
        let x = norm(&x, &p, "embeddings.LayerNorm", c.eps).unwrap();
        let reference = run_layers(c, x.clone(), &bias, &p, 0..c.layers, 0).unwrap();
        for fast in 1..=c.layers {
            let mixed = run_layers(c, x.clone(), &bias, &p, 0..c.layers, fast).unwrap();
            let diff = (mixed - &reference)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap();
            assert!(
                diff.to_scalar::<f32>().unwrap() < 1e-4,
                "{fast} layers: {diff}"
            );
        }
        // The pooled result of the all-fast path (what `forward` ran) equals the reference's.
        let m = ids_u32
            .ne(0u32)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .unsqueeze(D::Minus1)
            .unwrap();
        let pooled = reference
            .broadcast_mul(&m)
            .unwrap()
            .sum(1)
            .unwrap()
            .broadcast_div(&m.sum(1).unwrap())
            .unwrap();
        let diff = (&ours - pooled).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-4);
        // In two parts, as a cached frozen prefix and the trained layers after it.
        for units in 1..=c.layers + 1 {
            let hidden = prefix(c, &ids, 0, &p, units).unwrap();
            assert_eq!(hidden.dims(), &[2, 7, 12]);
            let split = rest(c, &ids, &hidden, 0, &p, units).unwrap();
            let diff = (split - &ours).unwrap().abs().unwrap().max_all().unwrap();
            assert!(
                diff.to_scalar::<f32>().unwrap() < 1e-4,
                "{units} units first"
            );
        }
    }
}
