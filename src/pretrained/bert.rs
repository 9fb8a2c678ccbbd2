//! BERT-style sentence encoders with mean pooling (all-MiniLM-L6-v2: 6 layers, 384 wide, 12
//! heads), in Hugging Face's naming (`embeddings.word_embeddings`, `encoder.layer.N.…`).

use candle_core::{DType, Result, Tensor, D};

use super::ops;
use super::{ParamKind, ParamSpec};

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
