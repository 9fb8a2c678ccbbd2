//! BERT-style sentence encoders with mean pooling (all-MiniLM-L6-v2: 6 layers, 384 wide, 12
//! heads), in Hugging Face's naming (`embeddings.word_embeddings`, `encoder.layer.N.…`).

use candle_core::{DType, Result, Tensor, D};

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
    let h = c.hidden;
    let words = p("embeddings.word_embeddings.weight")?
        .index_select(&ids.flatten_all()?, 0)?
        .reshape((b, l, h))?;
    let positions = p("embeddings.position_embeddings.weight")?.narrow(0, 0, l)?;
    let types = p("embeddings.token_type_embeddings.weight")?.narrow(0, 0, 1)?;
    let x = words.broadcast_add(&positions.broadcast_add(&types)?)?;
    let mut x = norm(&x, p, "embeddings.LayerNorm", c.eps)?;
    // Padding gets a large negative score before the softmax.
    let bias = ((mask.clone() - 1.0)? * 1e9)?.reshape((b, 1, 1, l))?;
    let (heads, dh) = (c.heads, h / c.heads);
    let scale = 1.0 / (dh as f64).sqrt();
    for layer in 0..c.layers {
        let pre = format!("encoder.layer.{layer}");
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, l, heads, dh))?.transpose(1, 2)?.contiguous()
        };
        let q = split(linear(&x, p, &format!("{pre}.attention.self.query"))?)?;
        let k = split(linear(&x, p, &format!("{pre}.attention.self.key"))?)?;
        let v = split(linear(&x, p, &format!("{pre}.attention.self.value"))?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&bias)?;
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
    let m = mask.unsqueeze(D::Minus1)?; // [B, L, 1]
    let summed = x.broadcast_mul(&m)?.sum(1)?;
    let counts = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    summed.broadcast_div(&counts)
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
