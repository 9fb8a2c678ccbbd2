//! Explanations from gradients: Grad-CAM (Selvaraju et al., 2017) on the last feature map, and
//! plain gradient saliency (Simonyan et al., 2014) on the input.

use candle_core::{IndexOp, Var, D};
use rand::SeedableRng;

use super::{ExplainError, Map, Scorer};
use crate::engine::Network;

/// The node whose value is the model's last 2-D feature map (`[C, H, W]` with more than one
/// position), if any: the last convolution's output (in a network without fused pools), else
/// the last such value.
pub(super) fn feature_map(net: &Network) -> Option<usize> {
    let input = net.checked().input;
    let maps: Vec<usize> = net
        .produced_values()
        .into_iter()
        .filter(|(node, shape)| *node != input && shape.len() == 3 && shape[1] * shape[2] > 1)
        .map(|(node, _)| node)
        .collect();
    let is_conv = |node: usize| {
        net.graph()
            .nodes
            .get(node)
            .is_some_and(|n| n.layer.kind().fuses_max_pool())
    };
    maps.iter()
        .rev()
        .find(|&&n| is_conv(n))
        .or(maps.last())
        .copied()
}

/// Grad-CAM (Selvaraju et al., 2017): the feature map's channels weighted by the mean gradient
/// of the class score over each channel, summed, kept where positive; or, `elementwise`,
/// HiResCAM: each position's features times their own gradient. Laid over the picture by
/// [`alignment`].
/// Returns the map over the picture, the layer's name and the map at the layer's own
/// resolution (what the randomisation check compares: the projection onto the picture smooths
/// every map alike).
pub(super) fn grad_cam(
    scorer: &Scorer<'_>,
    input: &[f32],
    elementwise: bool,
) -> Result<(Map, String, Vec<f32>), ExplainError> {
    let unfused = scorer.network.without_fused_pools()?;
    let net = &unfused;
    let node = feature_map(net).ok_or(ExplainError::NoFeatureMap)?;
    let x = scorer.tensor(input, 1)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let (out, captured) = net.forward_explaining(&x, &mut rng, Some(node))?;
    let features = captured.ok_or(ExplainError::NoFeatureMap)?;
    let target = out.pre_activation.i((0, scorer.class))?;
    let grads = target.backward()?;
    let a = features.as_tensor();
    let (h, w) = (a.dim(2)?, a.dim(3)?);
    let cam = match grads.get(a) {
        Some(g) => {
            let weighted = if elementwise {
                // HiResCAM: map = ReLU(Σ_k ∂score/∂A_k ⊙ A_k).
                (a * g)?.sum(1)?.relu()?
            } else {
                // Grad-CAM: α_k = mean over positions of ∂score/∂A_k; map = ReLU(Σ_k α_k A_k).
                let alpha = g.mean_keepdim(D::Minus1)?.mean_keepdim(D::Minus2)?;
                a.broadcast_mul(&alpha)?.sum(1)?.relu()?
            };
            weighted.flatten_all()?.to_vec1::<f32>()?
        }
        // The score does not depend on the feature map at all (e.g. a dead network).
        None => vec![0.0; h * w],
    };
    let (height, width) = image_size(scorer);
    let native = cam.clone();
    let values = match alignment(net, node) {
        Some(axes) => normalized(project_onto_picture(&cam, (h, w), (height, width), axes)),
        None => normalized(resize_bilinear(&cam, h, w, height, width)),
    };
    let layer = net
        .graph()
        .nodes
        .get(node)
        .map(|n| n.name.clone())
        .unwrap_or_default();
    Ok((
        Map::Grid {
            height,
            width,
            values,
        },
        layer,
        native,
    ))
}

/// Gradient saliency: the largest absolute gradient of the class score over each pixel's
/// channels.
pub(super) fn saliency(scorer: &Scorer<'_>, input: &[f32]) -> Result<Map, ExplainError> {
    let x = Var::from_tensor(&scorer.tensor(input, 1)?)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let (out, _) = scorer
        .network
        .forward_explaining(x.as_tensor(), &mut rng, None)?;
    let target = out.pre_activation.i((0, scorer.class))?;
    let grads = target.backward()?;
    let (height, width) = image_size(scorer);
    let values = match grads.get(x.as_tensor()) {
        Some(g) => g.abs()?.max(1)?.flatten_all()?.to_vec1::<f32>()?,
        None => vec![0.0; height * width],
    };
    Ok(Map::Grid {
        height,
        width,
        values: normalized_robust(values),
    })
}

/// Where a feature-map position sits on the picture along one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Axis {
    /// Picture coordinate of position 0's window centre.
    pub offset: f32,
    /// Pixels between neighbouring positions.
    pub step: f32,
    /// Pixels each position looks at (its receptive field).
    pub field: f32,
}

/// Where position `p` of `node`'s feature map sits on the picture, per axis (rows, columns):
/// its window centre `offset + step · p` and the width of what it sees, traced back through
/// every convolution and pool; `None` when some layer on the way changes the size without a
/// known window.
pub(super) fn alignment(net: &Network, node: usize) -> Option<[Axis; 2]> {
    let graph = net.graph();
    let checked = net.checked();
    let index = graph.index_by_name();
    // The current layer's output position p is centred on a·p + b of its input and sees
    // `field` of its positions.
    let mut axes = [(1.0f32, 0.0f32, 1.0f32); 2];
    let mut current = node;
    for _ in 0..graph.nodes.len() {
        if current == checked.input {
            return Some(axes.map(|(step, offset, field)| Axis {
                offset,
                step,
                field,
            }));
        }
        let n = graph.nodes.get(current)?;
        let out = &checked.info.get(current)?.output_shape;
        let input = graph.input_shape(checked, current);
        match n.layer.kind().spatial_window() {
            Some(window) => {
                for (axis, (a, b, field)) in axes.iter_mut().enumerate() {
                    let (size_in, size_out) = (*input.get(axis + 1)?, *out.get(axis + 1)?);
                    let pad_before = if window.same_padding {
                        ((size_out.max(1) - 1) * window.stride + window.kernel)
                            .saturating_sub(size_in)
                            / 2
                    } else {
                        0
                    };
                    // Output position p looks at input positions centred on s·p + (k−1)/2 − pad.
                    let centre = (window.kernel as f32 - 1.0) / 2.0 - pad_before as f32;
                    *b = window.stride as f32 * *b + centre;
                    *a *= window.stride as f32;
                    *field = (*field - 1.0) * window.stride as f32 + window.kernel as f32;
                }
            }
            None if input.len() == 3 && out.len() == 3 && input[1..] == out[1..] => {}
            None => return None,
        }
        current = n
            .inputs
            .first()
            .and_then(|name| index.get(name.as_str()).copied())?;
    }
    None
}

/// A `h × w` feature map projected onto the `height × width` picture: each position spreads
/// its value over the pixels it sees (a Gaussian over its window centre, σ a quarter of its
/// receptive field), so the map is hottest where the strongest positions' windows overlap.
pub(super) fn project_onto_picture(
    map: &[f32],
    (h, w): (usize, usize),
    (height, width): (usize, usize),
    [rows, columns]: [Axis; 2],
) -> Vec<f32> {
    if h == 0 || w == 0 || map.len() < h * w {
        return vec![0.0; height * width];
    }
    // Separable weights: pixel × position, per axis.
    let weights = |pixels: usize, positions: usize, axis: Axis| -> Vec<f32> {
        let sigma = (axis.field / 4.0).max(0.5);
        let mut out = Vec::with_capacity(pixels * positions);
        for x in 0..pixels {
            for p in 0..positions {
                let d = x as f32 - (axis.offset + axis.step * p as f32);
                out.push((-d * d / (2.0 * sigma * sigma)).exp());
            }
        }
        out
    };
    let wy = weights(height, h, rows);
    let wx = weights(width, w, columns);
    // First along the columns: [h × width].
    let mut partial = vec![0f32; h * width];
    for p in 0..h {
        for x in 0..width {
            let mut sum = 0.0;
            for q in 0..w {
                sum += map.get(p * w + q).copied().unwrap_or(0.0)
                    * wx.get(x * w + q).copied().unwrap_or(0.0);
            }
            if let Some(v) = partial.get_mut(p * width + x) {
                *v = sum;
            }
        }
    }
    let mut out = vec![0f32; height * width];
    for y in 0..height {
        for x in 0..width {
            let mut sum = 0.0;
            for p in 0..h {
                sum += partial.get(p * width + x).copied().unwrap_or(0.0)
                    * wy.get(y * h + p).copied().unwrap_or(0.0);
            }
            if let Some(v) = out.get_mut(y * width + x) {
                *v = sum;
            }
        }
    }
    out
}

/// Height and width of the picture or spectrogram the scorer's samples are.
pub(super) fn image_size(scorer: &Scorer<'_>) -> (usize, usize) {
    let shape = scorer.shape();
    match shape.as_slice() {
        [_, h, w] => (*h, *w),
        [h, w] => (*h, *w),
        _ => (1, shape.iter().product()),
    }
}

/// Bilinear resampling of an `h × w` map to `height × width` (pixel centres aligned, as
/// PyTorch's `align_corners=False`).
pub(super) fn resize_bilinear(
    map: &[f32],
    h: usize,
    w: usize,
    height: usize,
    width: usize,
) -> Vec<f32> {
    if h == 0 || w == 0 || map.len() < h * w {
        return vec![0.0; height * width];
    }
    let at = |y: usize, x: usize| map.get(y * w + x).copied().unwrap_or(0.0);
    let source = |dst: usize, src_len: usize, dst_len: usize| {
        let s = (dst as f32 + 0.5) * src_len as f32 / dst_len as f32 - 0.5;
        let s = s.clamp(0.0, (src_len - 1) as f32);
        let lo = s.floor() as usize;
        (lo, (lo + 1).min(src_len - 1), s - lo as f32)
    };
    let mut out = Vec::with_capacity(height * width);
    for y in 0..height {
        let (y0, y1, fy) = source(y, h, height);
        for x in 0..width {
            let (x0, x1, fx) = source(x, w, width);
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
            let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// Values scaled into [0, 1] by the largest (all zeros stay zeros).
pub(super) fn normalized(values: Vec<f32>) -> Vec<f32> {
    let max = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f32, f32::max);
    scaled_by(values, max)
}

/// Values scaled into [0, 1] by their 99th percentile, so a handful of extreme gradients do not
/// leave the rest of the map black.
fn normalized_robust(values: Vec<f32>) -> Vec<f32> {
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    let top = sorted
        .get((sorted.len() * 99 / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0);
    scaled_by(values, top)
}

/// Each value over `top`, clamped to [0, 1]; all zeros when `top` is not positive.
fn scaled_by(mut values: Vec<f32>, top: f32) -> Vec<f32> {
    for v in &mut values {
        *v = if top > 0.0 && v.is_finite() {
            (*v / top).clamp(0.0, 1.0)
        } else {
            0.0
        };
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_resize_keeps_constant_maps_and_corners() {
        let flat = resize_bilinear(&[0.5; 4], 2, 2, 5, 7);
        assert!(flat.iter().all(|v| (v - 0.5).abs() < 1e-6));
        // A left-to-right ramp stays a ramp: PyTorch's F.interpolate(bilinear,
        // align_corners=False) of [[0, 1]] to width 4 gives [0, 0.25, 0.75, 1].
        let ramp = resize_bilinear(&[0.0, 1.0], 1, 2, 1, 4);
        for (a, b) in ramp.iter().zip([0.0, 0.25, 0.75, 1.0]) {
            assert!((a - b).abs() < 1e-6, "{ramp:?}");
        }
    }

    #[test]
    fn projection_is_hottest_where_windows_overlap() {
        // Two positions centred on pixels 2 and 4, each seeing 4 pixels: equal values peak
        // between them, at pixel 3.
        let axis = |offset, step, field| Axis {
            offset,
            step,
            field,
        };
        let line = project_onto_picture(
            &[1.0, 1.0],
            (1, 2),
            (1, 7),
            [axis(0.0, 1.0, 1.0), axis(2.0, 2.0, 4.0)],
        );
        let peak = line
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(peak, 3, "{line:?}");
        assert!((line[2] - line[4]).abs() < 1e-6);
    }

    #[test]
    fn normalizing_scales_by_the_largest_and_ignores_nan() {
        assert_eq!(
            normalized(vec![1.0, 2.0, f32::NAN, -1.0]),
            vec![0.5, 1.0, 0.0, 0.0]
        );
        assert_eq!(normalized(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }
}
