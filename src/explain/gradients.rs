//! Explanations from gradients: Grad-CAM (Selvaraju et al., 2017) on the last feature map, and
//! plain gradient saliency (Simonyan et al., 2014) on the input.

use candle_core::{IndexOp, Var, D};
use rand::SeedableRng;

use super::{ExplainError, Map, Scorer};
use crate::engine::Network;

/// The node whose value is the model's last 2-D feature map (`[C, H, W]` with more than one
/// position), if any: the last convolution's or pool's output.
pub(super) fn feature_map(net: &Network) -> Option<usize> {
    let input = net.checked().input;
    net.produced_values()
        .into_iter()
        .rev()
        .find(|(node, shape)| *node != input && shape.len() == 3 && shape[1] * shape[2] > 1)
        .map(|(node, _)| node)
}

/// Grad-CAM: the feature map's channels weighted by the mean gradient of the class score over
/// each channel, summed, kept where positive, scaled up to the input's size. Returns the map and
/// the layer's name.
pub(super) fn grad_cam(scorer: &Scorer<'_>, input: &[f32]) -> Result<(Map, String), ExplainError> {
    let net = scorer.network;
    let node = feature_map(net).ok_or(ExplainError::NoFeatureMap)?;
    let x = scorer.tensor(input, 1)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let (out, captured) = net.forward_capturing(&x, false, &mut rng, Some(node))?;
    let features = captured.ok_or(ExplainError::NoFeatureMap)?;
    let target = out.pre_activation.i((0, scorer.class))?;
    let grads = target.backward()?;
    let a = features.as_tensor();
    let (h, w) = (a.dim(2)?, a.dim(3)?);
    let cam = match grads.get(a) {
        Some(g) => {
            // α_k = mean over positions of ∂score/∂A_k; map = ReLU(Σ_k α_k A_k).
            let alpha = g.mean_keepdim(D::Minus1)?.mean_keepdim(D::Minus2)?;
            let weighted = a.broadcast_mul(&alpha)?.sum(1)?.relu()?;
            weighted.flatten_all()?.to_vec1::<f32>()?
        }
        // The score does not depend on the feature map at all (e.g. a dead network).
        None => vec![0.0; h * w],
    };
    let (height, width) = image_size(scorer);
    let values = normalized(resize_bilinear(&cam, h, w, height, width));
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
    ))
}

/// Gradient saliency: the largest absolute gradient of the class score over each pixel's
/// channels.
pub(super) fn saliency(scorer: &Scorer<'_>, input: &[f32]) -> Result<Map, ExplainError> {
    let x = Var::from_tensor(&scorer.tensor(input, 1)?)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let out = scorer.network.forward(x.as_tensor(), false, &mut rng)?;
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
pub(super) fn normalized(mut values: Vec<f32>) -> Vec<f32> {
    let max = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f32, f32::max);
    for v in &mut values {
        *v = if max > 0.0 && v.is_finite() {
            (*v / max).clamp(0.0, 1.0)
        } else {
            0.0
        };
    }
    values
}

/// Values scaled into [0, 1] by their 99th percentile, so a handful of extreme gradients do not
/// leave the rest of the map black.
fn normalized_robust(mut values: Vec<f32>) -> Vec<f32> {
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    let top = sorted
        .get((sorted.len() * 99 / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0);
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
    fn normalizing_scales_by_the_largest_and_ignores_nan() {
        assert_eq!(
            normalized(vec![1.0, 2.0, f32::NAN, -1.0]),
            vec![0.5, 1.0, 0.0, 0.0]
        );
        assert_eq!(normalized(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }
}
