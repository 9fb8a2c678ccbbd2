//! Helpers that several layer kinds share: window shapes, 1-D convolution and pooling, and the
//! feature cache of frozen parts.

use candle_core::{Device, Tensor, D};

use super::InferCx;
use crate::engine::network::NetworkError;
use crate::export::onnx::{pads, Attr, OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{window_out, GraphError, Padding, Shape};
use crate::pretrained::cache::FeatureCache;

/// Output shape of a 2-D pooling window over an image-shaped input.
pub(super) fn pool2d_shape(
    cx: &InferCx<'_>,
    kernel: usize,
    stride: usize,
) -> Result<Shape, GraphError> {
    if kernel == 0 || stride == 0 {
        return Err(cx.fail(format!(
            "{} '{}' needs a window size and stride of at least 1.",
            cx.kind, cx.name
        )));
    }
    let (c, h, w) = cx.image_input()?;
    let (Some(oh), Some(ow)) = (
        window_out(h, kernel, stride, Padding::Valid),
        window_out(w, kernel, stride, Padding::Valid),
    ) else {
        return Err(cx.fail(format!(
            "{} '{}' has a {kernel}×{kernel} window but its input is only {h}×{w}; use a smaller window or remove this pooling layer.",
            cx.kind, cx.name
        )));
    };
    Ok(vec![c, oh, ow])
}

/// Output shape of a 1-D pooling window over a sequence.
pub(super) fn pool1d_shape(cx: &InferCx<'_>, kernel: usize) -> Result<Shape, GraphError> {
    if kernel == 0 {
        return Err(cx.fail(format!(
            "{} '{}' needs a window of at least 1.",
            cx.kind, cx.name
        )));
    }
    let (c, l) = cx.sequence_input()?;
    if l < kernel {
        return Err(cx.fail(format!(
            "{} '{}' has a window of {kernel} but its input is only {l} long; use a smaller window or remove this pooling layer.",
            cx.kind, cx.name
        )));
    }
    Ok(vec![c, l / kernel])
}

/// Output shape of a global pool: one value per channel.
pub(super) fn global_pool_shape(cx: &InferCx<'_>) -> Result<Shape, GraphError> {
    match cx.first()? {
        (_, s) if s.len() >= 2 => Ok(vec![s[0]]),
        (from, s) => Err(cx.fail(format!(
            "{} '{}' needs channels over positions (a sequence or an image), but '{from}' gives {}.",
            cx.kind,
            cx.name,
            crate::model::shape_label(s)
        ))),
    }
}

/// Max (or mean) over non-overlapping windows of `kernel` along the last axis of `[B, C, L]`;
/// positions past the last whole window are dropped.
pub(super) fn pool1d(x: &Tensor, kernel: usize, max: bool) -> candle_core::Result<Tensor> {
    let (b, c, l) = x.dims3()?;
    let n = l / kernel.max(1);
    let windows = x
        .narrow(2, 0, n * kernel)?
        .contiguous()?
        .reshape((b, c, n, kernel))?;
    if max {
        windows.max(D::Minus1)
    } else {
        windows.mean(D::Minus1)
    }
}

/// 1-D convolution of `x` (`[B, C, L]`) with `w` (`[F, C, K]`) and bias `b`; "same" padding is
/// split between both ends (the extra zero at the end), so the output has ceil(L / stride)
/// positions. Built from unfolding and one matrix product (candle's own conv1d passes wrong input
/// gradients back in 0.11).
/// For a layer reading token ids that knows `known` of them: when the texts' vocabulary is
/// larger, the problem and the same layer (made by `with`) knowing them all.
pub(crate) fn vocabulary_fix(
    kind: &str,
    name: &str,
    data: &crate::model::DataFit,
    known: usize,
    with: impl FnOnce(usize) -> super::Layer,
) -> Option<crate::model::Fix> {
    let vocab = data.vocab?;
    (known < vocab).then(|| crate::model::Fix {
        node: name.to_owned(),
        problem: format!("the {kind} '{name}' knows {known} tokens but the texts have {vocab}"),
        advice: format!("the {kind} '{name}' knows {known} tokens but the texts' vocabulary has {vocab}; set its vocabulary to {vocab}"),
        replacement: Some(with(vocab)),
    })
}

pub(crate) fn conv1d(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    kernel: usize,
    stride: usize,
    padding: Padding,
) -> candle_core::Result<Tensor> {
    let (batch, channels, l) = x.dims3()?;
    let Some(out) = window_out(l, kernel, stride, padding) else {
        return Err(candle_core::Error::Msg(format!(
            "a window of {kernel} does not fit a sequence of {l}"
        )));
    };
    let x = match padding {
        Padding::Same => {
            let total = ((out - 1) * stride + kernel).saturating_sub(l);
            x.pad_with_zeros(2, total / 2, total - total / 2)?
        }
        Padding::Valid => x.clone(),
    };
    // Every window position at stride 1, then every stride-th of them.
    let dense = x.dim(2)? + 1 - kernel;
    let shifted: Vec<Tensor> = (0..kernel)
        .map(|k| x.narrow(2, k, dense))
        .collect::<candle_core::Result<_>>()?;
    let mut columns = Tensor::stack(&shifted, 2)?; // [B, C, K, dense]
    if stride > 1 {
        let keep: Vec<u32> = (0..out).map(|i| (i * stride) as u32).collect();
        columns = columns
            .contiguous()?
            .index_select(&Tensor::new(keep, x.device())?, 3)?;
    }
    let columns = columns.reshape((batch, channels * kernel, out))?;
    let filters = w.dim(0)?;
    let w = w.reshape((1, filters, channels * kernel))?;
    w.broadcast_matmul(&columns)?
        .broadcast_add(&b.reshape((1, filters, 1))?)
}

/// `compute` over `x`'s samples [`super::FROZEN_CHUNK`] at a time, the results joined: a frozen
/// part's working set stays that of one chunk, whatever the batch.
fn in_chunks(
    x: &Tensor,
    compute: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<Tensor> {
    let b = x.dim(0)?;
    if b <= super::FROZEN_CHUNK {
        return compute(x);
    }
    let parts = (0..b)
        .step_by(super::FROZEN_CHUNK)
        .map(|start| compute(&x.narrow(0, start, super::FROZEN_CHUNK.min(b - start))?))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&parts, 0)
}

/// A frozen part's features for a batch: with a cache (and caches on), cached rows are reused
/// and the others computed ([`in_chunks`]) and kept; otherwise computed and detached.
pub(super) fn cached_features(
    cache: Option<&FeatureCache>,
    features: usize,
    x: &Tensor,
    compute: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> Result<Tensor, NetworkError> {
    let Some(cache) = cache else {
        return Ok(in_chunks(x, compute)?.detach());
    };
    let b = x.dim(0)?;
    let rows = x
        .flatten_from(1)?
        .to_device(&Device::Cpu)?
        .to_vec2::<f32>()?;
    let keys: Vec<u64> = rows.iter().map(|r| cache.key(r)).collect();
    let mut out: Vec<Option<Vec<f32>>> = keys.iter().map(|&k| cache.get(k, features)).collect();
    let missing: Vec<usize> = (0..b).filter(|&i| out[i].is_none()).collect();
    if !missing.is_empty() {
        let ids = Tensor::from_vec(
            missing.iter().map(|&i| i as u32).collect::<Vec<_>>(),
            missing.len(),
            x.device(),
        )?;
        let computed = in_chunks(&x.index_select(&ids, 0)?, compute)?
            .to_device(&Device::Cpu)?
            .to_vec2::<f32>()?;
        for (&i, row) in missing.iter().zip(computed) {
            cache.put(keys[i], row.clone());
            out[i] = Some(row);
        }
    }
    let flat: Vec<f32> = out.into_iter().flatten().flatten().collect();
    Ok(Tensor::from_vec(flat, (b, features), &Device::Cpu)?.to_device(x.device())?)
}

/// The forward pass of a pretrained or reused part: its features (cached while it is frozen and
/// caches are on), never activated further.
pub(super) fn frozen_part_forward(
    cache: Option<&FeatureCache>,
    features: usize,
    inputs: &[&Tensor],
    cx: &super::ForwardCx<'_>,
    compute: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> Result<(Tensor, crate::model::Activation), NetworkError> {
    let x = super::first(inputs)?;
    let y = match cache {
        _ if cx.input_gradients => compute(x)?,
        Some(cache) => cached_features(cx.use_caches.then_some(cache), features, x, compute)?,
        None => compute(x)?,
    };
    cx.finish(y, crate::model::Activation::Linear)
}

/// A feature cache for a frozen part whose weights come from `file`, named `name`; without a
/// readable file the cache stays in memory.
pub(super) fn feature_cache(name: &str, file: &std::path::Path) -> FeatureCache {
    let print = crate::pretrained::cache::fingerprint(file).ok();
    let root = print.and(crate::pretrained::cache::cache_root());
    FeatureCache::new(name, print.unwrap_or(0), root.as_deref())
}

/// A layer without weights whose output is a function of its inputs (and of training or not).
pub(super) fn stateless<F>(f: F) -> Box<dyn super::Forward>
where
    F: Fn(&[&Tensor], &mut super::ForwardCx<'_>) -> candle_core::Result<Tensor>
        + Send
        + Sync
        + 'static,
{
    Box::new(Stateless(f))
}

struct Stateless<F>(F);

impl<F> super::Forward for Stateless<F>
where
    F: Fn(&[&Tensor], &mut super::ForwardCx<'_>) -> candle_core::Result<Tensor> + Send + Sync,
{
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut super::ForwardCx<'_>,
    ) -> Result<(Tensor, crate::model::Activation), NetworkError> {
        let y = (self.0)(inputs, cx)?;
        cx.finish(y, crate::model::Activation::Linear)
    }
}

/// The spatial sizes (after the channels) of the first input and of the output.
fn onnx_spatial(cx: &OnnxCx<'_>) -> Result<(Vec<usize>, Vec<usize>), OnnxError> {
    let input = cx.input_shape().get(1..).unwrap_or_default().to_vec();
    let output = cx.output_shape.get(1..).unwrap_or_default().to_vec();
    if input.is_empty() || input.len() != output.len() {
        return Err(OnnxError::Invalid(format!(
            "'{}' needs channels over positions",
            cx.name
        )));
    }
    Ok((input, output))
}

/// A 1-D or 2-D convolution (`weight`, `bias`) as an ONNX `Conv` with Strata's padding.
pub(super) fn onnx_conv(
    cx: &mut OnnxCx<'_>,
    kernel: usize,
    stride: usize,
) -> Result<String, OnnxError> {
    let (input, output) = onnx_spatial(cx)?;
    let (before, after): (Vec<i64>, Vec<i64>) = input
        .iter()
        .zip(&output)
        .map(|(&n, &o)| pads(n, o, kernel, stride))
        .unzip();
    let x = cx.input()?;
    let (w, b) = (cx.weight("weight")?, cx.weight("bias")?);
    let dims = input.len();
    Ok(cx.node(
        "Conv",
        &[&x, &w, &b],
        vec![
            Attr::Ints("kernel_shape", vec![kernel as i64; dims]),
            Attr::Ints("strides", vec![stride as i64; dims]),
            Attr::Ints("pads", [before, after].concat()),
        ],
    ))
}

/// A 1-D or 2-D pooling window (`op` is `MaxPool` or `AveragePool`), positions past the last
/// whole window dropped.
pub(super) fn onnx_pool(
    cx: &mut OnnxCx<'_>,
    op: &str,
    kernel: usize,
    stride: usize,
) -> Result<String, OnnxError> {
    let (input, _) = onnx_spatial(cx)?;
    let x = cx.input()?;
    Ok(cx.node(
        op,
        &[&x],
        vec![
            Attr::Ints("kernel_shape", vec![kernel as i64; input.len()]),
            Attr::Ints("strides", vec![stride as i64; input.len()]),
        ],
    ))
}

/// A global pool (`GlobalAveragePool` or `GlobalMaxPool`) flattened to one value per channel.
pub(super) fn onnx_global_pool(cx: &mut OnnxCx<'_>, op: &str) -> Result<String, OnnxError> {
    let x = cx.input()?;
    let pooled = cx.node(op, &[&x], vec![]);
    Ok(cx.node("Flatten", &[&pooled], vec![Attr::Int("axis", 1)]))
}

/// The spatial sizes (after the channels) of the first input and of the output, for PyTorch.
fn torch_spatial(cx: &TorchCx<'_>) -> Result<(usize, Vec<usize>, Vec<usize>), TorchError> {
    let input = cx.input_shape();
    let (c, spatial) = input
        .split_first()
        .ok_or_else(|| TorchError::Invalid(format!("'{}' has no input shape", cx.name)))?;
    let output = cx.output_shape.get(1..).unwrap_or_default().to_vec();
    if spatial.is_empty() || spatial.len() != output.len() {
        return Err(TorchError::Invalid(format!(
            "'{}' needs channels over positions",
            cx.name
        )));
    }
    Ok((*c, spatial.to_vec(), output))
}

/// A 1-D or 2-D convolution as `nn.Conv1d`/`nn.Conv2d` with Strata's padding: symmetric padding
/// in the module, "same" padding with the extra zero at the end (bottom/right) by `F.pad` first.
pub(super) fn torch_conv(
    cx: &mut TorchCx<'_>,
    filters: usize,
    kernel: usize,
    stride: usize,
    activation: crate::model::Activation,
) -> Result<TorchLayer, TorchError> {
    let (c, input, output) = torch_spatial(cx)?;
    let pads: Vec<(i64, i64)> = input
        .iter()
        .zip(&output)
        .map(|(&n, &o)| crate::export::onnx::pads(n, o, kernel, stride))
        .collect();
    let symmetric = pads.iter().all(|(a, b)| a == b);
    let padding = match pads.first() {
        Some(&(p, _)) if symmetric && pads.iter().all(|q| q.0 == p) => p.to_string(),
        _ if symmetric => {
            let each: Vec<String> = pads.iter().map(|p| p.0.to_string()).collect();
            format!("({})", each.join(", "))
        }
        _ => "0".to_owned(),
    };
    let x = cx.input()?;
    let x = if symmetric {
        x.to_owned()
    } else {
        // F.pad lists the last axis first.
        let list: Vec<String> = pads
            .iter()
            .rev()
            .flat_map(|(a, b)| [a.to_string(), b.to_string()])
            .collect();
        format!("F.pad({x}, ({}))", list.join(", "))
    };
    let module = format!(
        "nn.Conv{}d({c}, {filters}, {kernel}, stride={stride}, padding={padding})",
        input.len()
    );
    let call = format!("{}({x})", cx.module);
    Ok(TorchLayer {
        module: Some(module),
        forward: cx.activation(&call, activation),
    })
}

/// A 1-D or 2-D pooling window (`op` is `max` or `avg`), positions past the last whole window
/// dropped (PyTorch's default).
pub(super) fn torch_pool(
    cx: &mut TorchCx<'_>,
    op: &str,
    kernel: usize,
    stride: usize,
) -> Result<TorchLayer, TorchError> {
    let (_, input, _) = torch_spatial(cx)?;
    TorchCx::function(format!(
        "F.{op}_pool{}d({}, {kernel}, {stride})",
        input.len(),
        cx.input()?
    ))
}

/// A global pool (`op` is `mean` or `amax`) over every position: one value per channel.
pub(super) fn torch_global_pool(cx: &mut TorchCx<'_>, op: &str) -> Result<TorchLayer, TorchError> {
    let positions = cx.input_shape().len().saturating_sub(1);
    let axes: Vec<String> = (0..positions).map(|k| (k + 2).to_string()).collect();
    TorchCx::function(format!("{}.{op}(dim=({},))", cx.input()?, axes.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i * 7 + 3) % 11) as f32 * scale - 0.4)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn conv1d_forward_matches_candle() {
        let x = ramp(&[2, 3, 10], 0.1);
        let w = ramp(&[4, 3, 3], 0.05);
        let b = Tensor::new(&[0.1f32, -0.2, 0.3, 0.0], &Device::Cpu).unwrap();
        for (stride, padding, pad) in [
            (1, Padding::Valid, 0),
            (2, Padding::Valid, 0),
            (1, Padding::Same, 1),
        ] {
            let ours = conv1d(&x, &w, &b, 3, stride, padding).unwrap();
            let reference = x
                .conv1d(&w, pad, stride, 1, 1)
                .unwrap()
                .broadcast_add(&b.reshape((1, 4, 1)).unwrap())
                .unwrap();
            assert_eq!(ours.dims(), reference.dims());
            let diff = ours
                .sub(&reference)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-5, "stride {stride} {padding:?}: {diff}");
        }
    }
}
