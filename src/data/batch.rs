//! Turning selected images into a batch of tensors.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::{augment_into, ImageDataset};
use crate::project::Augmentation;

/// Inputs and labels of one batch.
pub struct Batch {
    /// Images, `[B, C, H, W]`, f32 in [0, 1].
    pub images: Tensor,
    /// Class indices, `[B]`, u32.
    pub labels: Tensor,
}

impl Batch {
    /// The batch on `device` (the same tensors when it is already there).
    pub fn to_device(self, device: &Device) -> candle_core::Result<Self> {
        if self.images.device().same_device(device) {
            return Ok(self);
        }
        Ok(Self {
            images: self.images.to_device(device)?,
            labels: self.labels.to_device(device)?,
        })
    }
}

/// Builds a batch from the given sample indices; augmentation only when `augment` is given.
pub fn image_batch(
    dataset: &ImageDataset,
    indices: &[usize],
    augment: Option<(&Augmentation, &mut dyn rand::RngCore)>,
    device: &Device,
) -> candle_core::Result<Batch> {
    let n = dataset.sample_len();
    let mut data = vec![0f32; indices.len() * n];
    let mut labels = Vec::with_capacity(indices.len());
    match augment {
        Some((aug, rng)) if aug.is_active() => {
            for (k, &i) in indices.iter().enumerate() {
                augment_into(
                    dataset.sample(i),
                    dataset.channels,
                    dataset.height,
                    dataset.width,
                    aug,
                    rng,
                    &mut data[k * n..(k + 1) * n],
                );
                labels.push(dataset.labels.get(i).copied().unwrap_or(0) as u32);
            }
        }
        _ => {
            let convert = |(dst, &i): (&mut [f32], &usize)| {
                for (d, &s) in dst.iter_mut().zip(dataset.sample(i)) {
                    *d = f32::from(s) * (1.0 / 255.0);
                }
            };
            // Big batches (inference uses 256) are converted on every core.
            if data.len() >= 1 << 16 && n > 0 {
                data.par_chunks_mut(n)
                    .zip(indices.par_iter())
                    .for_each(convert);
            } else if n > 0 {
                data.chunks_mut(n).zip(indices.iter()).for_each(convert);
            }
            labels.extend(
                indices
                    .iter()
                    .map(|&i| dataset.labels.get(i).copied().unwrap_or(0) as u32),
            );
        }
    }
    let b = indices.len();
    Ok(Batch {
        images: Tensor::from_vec(
            data,
            (b, dataset.channels, dataset.height, dataset.width),
            device,
        )?,
        labels: Tensor::from_vec(labels, b, device)?,
    })
}
