//! ResNet-18/34/50 (He et al.) in torchvision's and timm's naming (`conv1`, `bn1`,
//! `layer1.0.conv1`, `layer2.0.downsample.0`, …), up to the global average before `fc`.

use candle_core::{Result, Tensor};

use super::ops::{self, Pads};
use super::{batch_norm_params, ParamKind, ParamSpec};
use crate::export::onnx::{Attr, OnnxCx, OnnxError};

const EPS: f64 = 1e-5;

/// Blocks per stage and whether they are bottlenecks (ResNet-50) or basic blocks.
#[derive(Clone, Copy, Debug)]
pub struct Depth {
    /// Blocks in each of the four stages.
    pub blocks: [usize; 4],
    /// Bottleneck blocks (1×1, 3×3, 1×1 with 4× expansion).
    pub bottleneck: bool,
}

impl Depth {
    /// Features after the last stage.
    pub fn features(self) -> usize {
        if self.bottleneck {
            2048
        } else {
            512
        }
    }

    /// The stem plus every block.
    pub fn units(self) -> usize {
        1 + self.blocks.iter().sum::<usize>()
    }

    /// Per block: name prefix, input channels, width, output channels, stride, downsample.
    fn layout(self) -> Vec<(String, usize, usize, usize, usize, bool)> {
        let mut out = Vec::new();
        let mut cin = 64;
        for (stage, &n) in self.blocks.iter().enumerate() {
            let width = 64 << stage;
            let cout = if self.bottleneck { width * 4 } else { width };
            for b in 0..n {
                let stride = if b == 0 && stage > 0 { 2 } else { 1 };
                let down = b == 0 && (stride != 1 || cin != cout);
                out.push((
                    format!("layer{}.{b}", stage + 1),
                    cin,
                    width,
                    cout,
                    stride,
                    down,
                ));
                cin = cout;
            }
        }
        out
    }

    /// Values per image of `h`×`w` each unit (stem, blocks) creates in candle operations: its
    /// input maps and per convolution four (its output, the batch norm's two steps, the ReLU).
    pub fn unit_values(self, h: usize, w: usize) -> Vec<u64> {
        let (mut h, mut w) = (h.div_ceil(2) as u64, w.div_ceil(2) as u64);
        // The stem: the image, the 7×7 convolution's maps, then the max-pool's.
        let mut out = vec![(3 * 4 + 4 * 64) * h * w + 64 * h.div_ceil(2) * w.div_ceil(2)];
        (h, w) = (h.div_ceil(2), w.div_ceil(2));
        for (_, cin, width, cout, stride, down) in self.layout() {
            let (cin, width, cout, s) = (cin as u64, width as u64, cout as u64, stride as u64);
            let (h2, w2) = (h.div_ceil(s), w.div_ceil(s));
            let inner = if self.bottleneck {
                width * h * w + width * h2 * w2
            } else {
                width * h2 * w2
            };
            let shortcut = if down { cout * h2 * w2 } else { 0 };
            out.push(cin * h * w + 4 * (inner + cout * h2 * w2 + shortcut));
            (h, w) = (h2, w2);
        }
        out
    }
}

/// Every tensor the network reads, with its unit (stem 0, then one per block).
pub fn params(depth: Depth) -> Vec<ParamSpec> {
    let mut out = vec![ParamSpec::new(
        "conv1.weight",
        vec![64, 3, 7, 7],
        0,
        ParamKind::Weight,
    )];
    batch_norm_params(&mut out, "bn1", 64, 0);
    for (u, (p, cin, width, cout, _, down)) in depth.layout().into_iter().enumerate() {
        let unit = u + 1;
        let convs: Vec<(usize, usize, usize)> = if depth.bottleneck {
            vec![(width, cin, 1), (width, width, 3), (cout, width, 1)]
        } else {
            vec![(width, cin, 3), (cout, width, 3)]
        };
        for (j, (o, i, k)) in convs.into_iter().enumerate() {
            out.push(ParamSpec::new(
                format!("{p}.conv{}.weight", j + 1),
                vec![o, i, k, k],
                unit,
                ParamKind::Weight,
            ));
            batch_norm_params(&mut out, &format!("{p}.bn{}", j + 1), o, unit);
        }
        if down {
            out.push(ParamSpec::new(
                format!("{p}.downsample.0.weight"),
                vec![cout, cin, 1, 1],
                unit,
                ParamKind::Weight,
            ));
            batch_norm_params(&mut out, &format!("{p}.downsample.1"), cout, unit);
        }
    }
    out
}

fn bn(x: &Tensor, p: &dyn Fn(&str) -> Result<Tensor>, name: &str) -> Result<Tensor> {
    super::batch_norm(x, p, name, EPS)
}

fn conv_bn(
    x: &Tensor,
    p: &dyn Fn(&str) -> Result<Tensor>,
    conv: &str,
    norm: &str,
    stride: usize,
) -> Result<Tensor> {
    let w = p(&format!("{conv}.weight"))?;
    let k = w.dim(2)?;
    bn(
        &ops::conv2d(x, &w, stride, Pads::symmetric(k / 2))?,
        p,
        norm,
    )
}

/// Image features `[B, 512 or 2048]` from ImageNet-normalized pixels `[B, 3, H, W]`.
pub fn forward(depth: Depth, x: &Tensor, p: &dyn Fn(&str) -> Result<Tensor>) -> Result<Tensor> {
    let x = conv_bn(x, p, "conv1", "bn1", 2)?.relu()?;
    let mut x = ops::max_pool_nonnegative(&x, 3, 2, Pads::symmetric(1))?;
    for (name, _, _, _, stride, down) in depth.layout() {
        let shortcut = if down {
            conv_bn(
                &x,
                p,
                &format!("{name}.downsample.0"),
                &format!("{name}.downsample.1"),
                stride,
            )?
        } else {
            x.clone()
        };
        let c = |i: usize| (format!("{name}.conv{i}"), format!("{name}.bn{i}"));
        let y = if depth.bottleneck {
            let (c1, b1) = c(1);
            let (c2, b2) = c(2);
            let (c3, b3) = c(3);
            let y = conv_bn(&x, p, &c1, &b1, 1)?.relu()?;
            let y = conv_bn(&y, p, &c2, &b2, stride)?.relu()?;
            conv_bn(&y, p, &c3, &b3, 1)?
        } else {
            let (c1, b1) = c(1);
            let (c2, b2) = c(2);
            let y = conv_bn(&x, p, &c1, &b1, stride)?.relu()?;
            conv_bn(&y, p, &c2, &b2, 1)?
        };
        x = (y + shortcut)?.relu()?;
    }
    x.flatten_from(2)?.mean(2)
}

/// `conv` (padded by half its kernel) then `norm`, as ONNX nodes.
fn onnx_conv_bn(
    cx: &mut OnnxCx<'_>,
    x: &str,
    conv: &str,
    norm: &str,
    stride: usize,
) -> std::result::Result<String, OnnxError> {
    let weight = format!("{conv}.weight");
    let k = cx.tensor(&weight)?.0.get(2).copied().unwrap_or(1);
    let y = cx.conv_no_bias(x, &weight, stride, [k / 2; 4], 1)?;
    cx.batch_norm(&y, norm, EPS)
}

/// The network as ONNX nodes over ImageNet-normalized pixels `x` ([`forward`]'s steps); returns
/// the features `[N, 512 or 2048]`.
pub fn onnx(cx: &mut OnnxCx<'_>, depth: Depth, x: &str) -> std::result::Result<String, OnnxError> {
    let y = onnx_conv_bn(cx, x, "conv1", "bn1", 2)?;
    let y = cx.node("Relu", &[&y], vec![]);
    let mut x = cx.node(
        "MaxPool",
        &[&y],
        vec![
            Attr::Ints("kernel_shape", vec![3, 3]),
            Attr::Ints("strides", vec![2, 2]),
            Attr::Ints("pads", vec![1; 4]),
        ],
    );
    for (name, _, _, _, stride, down) in depth.layout() {
        let shortcut = if down {
            onnx_conv_bn(
                cx,
                &x,
                &format!("{name}.downsample.0"),
                &format!("{name}.downsample.1"),
                stride,
            )?
        } else {
            x.clone()
        };
        // (convolution, stride): the stride sits on the 3×3 convolution.
        let convs: &[(usize, usize)] = if depth.bottleneck {
            &[(1, 1), (2, stride), (3, 1)]
        } else {
            &[(1, stride), (2, 1)]
        };
        let mut y = x.clone();
        for (n, &(i, s)) in convs.iter().enumerate() {
            y = onnx_conv_bn(
                cx,
                &y,
                &format!("{name}.conv{i}"),
                &format!("{name}.bn{i}"),
                s,
            )?;
            if n + 1 < convs.len() {
                y = cx.node("Relu", &[&y], vec![]);
            }
        }
        let sum = cx.node("Add", &[&y, &shortcut], vec![]);
        x = cx.node("Relu", &[&sum], vec![]);
    }
    let pooled = cx.node("GlobalAveragePool", &[&x], vec![]);
    Ok(cx.node("Flatten", &[&pooled], vec![Attr::Int("axis", 1)]))
}
