//! A data set of any kind, and turning selected samples into a batch of tensors.

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::{augment_into, AudioDataset, ImageDataset, Rows, TableDataset, TextDataset};
use crate::project::{Augmentation, DataKind, Task};
use crate::simd::vectorized;

/// A sample's key: `source` relative to the data folder `root` with `/` separators, or `source`
/// itself ("line 12").
pub fn sample_key(root: &std::path::Path, source: &str) -> String {
    match std::path::Path::new(source).strip_prefix(root) {
        Ok(relative) => relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => source.to_owned(),
    }
}

/// Imported samples of one kind, with their labels or targets.
#[derive(Clone, Debug)]
pub enum Dataset {
    /// Images from class folders.
    Images(ImageDataset),
    /// Rows of a CSV table (boxed: it carries the table as read besides the encoded rows).
    Table(Box<TableDataset>),
    /// Texts as token ids (boxed, like tables).
    Text(Box<TextDataset>),
    /// Audio clips as spectrogram images.
    Audio(Box<AudioDataset>),
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels().len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What kind of data this is.
    pub fn kind(&self) -> DataKind {
        match self {
            Self::Images(_) => DataKind::Image,
            Self::Table(_) => DataKind::Tabular,
            Self::Text(_) => DataKind::Text,
            Self::Audio(_) => DataKind::Audio,
        }
    }

    /// Classification or regression.
    pub fn task(&self) -> Task {
        match self {
            Self::Images(_) | Self::Text(_) | Self::Audio(_) => Task::Classify,
            Self::Table(t) => t.schema.task,
        }
    }

    /// Class names (empty for regression).
    pub fn classes(&self) -> &[String] {
        match self {
            Self::Images(d) => &d.classes,
            Self::Table(t) => &t.schema.classes,
            Self::Text(t) => &t.raw.classes,
            Self::Audio(a) => &a.images.classes,
        }
    }

    /// Each sample's class (all 0 for regression).
    pub fn labels(&self) -> &[usize] {
        match self {
            Self::Images(d) => &d.labels,
            Self::Table(t) => &t.labels,
            Self::Text(t) => &t.raw.labels,
            Self::Audio(a) => &a.images.labels,
        }
    }

    /// Values the model must output per sample: one per class, or one number.
    pub fn outputs(&self) -> usize {
        match self.task() {
            Task::Classify => self.classes().len(),
            Task::Regress => 1,
        }
    }

    /// Per-sample shape as the model sees it.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Self::Images(d) => d.shape(),
            Self::Table(t) => vec![t.schema.width()],
            Self::Text(t) => vec![t.vocab.length],
            Self::Audio(a) => a.images.shape(),
        }
    }

    /// Bytes the samples take in memory (pictures and spectrograms in the sample store take
    /// a record number each).
    pub fn stored_bytes(&self) -> u64 {
        match self {
            Self::Images(d) => d.in_memory_bytes(),
            Self::Table(t) => t.features.in_memory_bytes(),
            Self::Text(t) => t.ids.in_memory_bytes(),
            Self::Audio(a) => a.images.in_memory_bytes(),
        }
    }

    /// Where sample `i` came from, for people: its file, or its line in the table.
    pub fn source(&self, i: usize) -> String {
        match self {
            Self::Images(_) | Self::Audio(_) => self
                .images()
                .and_then(|d| d.paths.get(i))
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            Self::Table(t) => t.source(i),
            Self::Text(t) => t.raw.sources.get(i).cloned().unwrap_or_default(),
        }
    }

    /// The images, when these are images (or spectrograms of audio clips).
    pub fn images(&self) -> Option<&ImageDataset> {
        match self {
            Self::Images(d) => Some(d),
            Self::Audio(a) => Some(&a.images),
            _ => None,
        }
    }

    /// The table, when this is one.
    pub fn table(&self) -> Option<&TableDataset> {
        match self {
            Self::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The texts, when these are texts.
    pub fn texts(&self) -> Option<&TextDataset> {
        match self {
            Self::Text(t) => Some(t),
            _ => None,
        }
    }

    /// What a template must be sized to for this data.
    pub fn fit(&self) -> crate::model::DataFit {
        crate::model::DataFit {
            shape: self.shape(),
            task: self.task(),
            classes: self.classes().len(),
            vocab: self.vocab_size(),
        }
    }

    /// Tokens an Embedding layer must know (texts only).
    pub fn vocab_size(&self) -> Option<usize> {
        self.texts().map(|t| t.vocab.size())
    }

    /// Asks for samples `indices` to be read ahead from the sample store, for a batch built
    /// soon (nothing when the samples are in memory).
    pub fn will_need(&self, indices: &[usize]) {
        match self {
            Self::Images(_) | Self::Audio(_) => {
                if let Some(stored) = self.images().and_then(|d| d.stored.as_ref()) {
                    stored.will_need(indices);
                }
            }
            Self::Table(t) => t.features.will_need(indices),
            Self::Text(t) => t.ids.will_need(indices),
        }
    }

    /// Builds a batch from the given sample indices; augmentation (photos and drawings only, not
    /// spectrograms) when `augment` is given.
    pub fn batch(
        &self,
        indices: &[usize],
        augment: Option<(&Augmentation, &mut dyn rand::RngCore)>,
        device: &Device,
    ) -> candle_core::Result<Batch> {
        match self {
            Self::Images(d) => image_batch(d, indices, augment, device),
            // Image augmentations (mirroring, rotation) would garble spectrograms; clips get
            // their own (time shift, noise).
            Self::Audio(a) => match augment {
                Some((aug, rng)) if aug.is_active_for_audio() => {
                    spectrogram_batch(&a.images, a.mfcc, indices, aug, rng, device)
                }
                _ => image_batch(&a.images, indices, None, device),
            },
            Self::Table(t) => table_batch(t, indices, device),
            Self::Text(t) => rows_batch(
                &t.ids,
                indices,
                indices
                    .iter()
                    .map(|&i| t.raw.labels.get(i).copied().unwrap_or(0)),
                device,
            ),
        }
    }
}

/// Inputs and labels of one batch.
pub struct Batch {
    /// Inputs, `[B, …shape]`: images as f32 in [0, 1], table rows as encoded features, texts as
    /// token ids.
    pub inputs: Tensor,
    /// Class indices `[B]` (u32), or regression targets `[B, 1]` (f32).
    pub labels: Tensor,
}

impl Batch {
    /// The batch on `device` (the same tensors when it is already there).
    pub fn to_device(self, device: &Device) -> candle_core::Result<Self> {
        if self.inputs.device().same_device(device) {
            return Ok(self);
        }
        Ok(Self {
            inputs: self.inputs.to_device(device)?,
            labels: self.labels.to_device(device)?,
        })
    }
}

/// Sample `i`'s pixels, or why the sample store could not give them.
fn read_sample(
    dataset: &ImageDataset,
    i: usize,
) -> candle_core::Result<std::borrow::Cow<'_, [u8]>> {
    let pixels = dataset
        .try_sample(i)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    if pixels.len() != dataset.sample_len() {
        return Err(candle_core::Error::Msg(format!(
            "sample {i} is missing from the imported data"
        )));
    }
    Ok(pixels)
}

fn spectrogram_batch(
    dataset: &ImageDataset,
    mfcc: bool,
    indices: &[usize],
    aug: &Augmentation,
    rng: &mut dyn rand::RngCore,
    device: &Device,
) -> candle_core::Result<Batch> {
    let n = dataset.sample_len();
    let mut data = vec![0f32; indices.len() * n];
    for (k, &i) in indices.iter().enumerate() {
        crate::data::augment_spectrogram(
            &read_sample(dataset, i)?,
            dataset.height,
            dataset.width,
            aug,
            mfcc,
            rng,
            &mut data[k * n..(k + 1) * n],
        );
    }
    let labels: Vec<u32> = indices
        .iter()
        .map(|&i| dataset.labels.get(i).copied().unwrap_or(0) as u32)
        .collect();
    let shape = (
        indices.len(),
        dataset.channels,
        dataset.height,
        dataset.width,
    );
    Ok(Batch {
        inputs: Tensor::from_vec(data, shape, device)?,
        labels: Tensor::from_vec(labels, indices.len(), device)?,
    })
}

vectorized! {
    /// `dst ← src / 255`: 8-bit pixels as numbers in [0, 1].
    fn pixels_to_unit(src: &[u8], dst: &mut [f32]) = pixels_to_unit_kernel;
}

#[inline(always)]
fn pixels_to_unit_kernel<const FMA: bool>(src: &[u8], dst: &mut [f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f32::from(s) * (1.0 / 255.0);
    }
}

fn image_batch(
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
                    &read_sample(dataset, i)?,
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
                pixels_to_unit(&read_sample(dataset, i)?, dst);
                Ok::<(), candle_core::Error>(())
            };
            // Big batches (inference uses 256) are read and converted on every core.
            if (data.len() >= 1 << 16 || dataset.stored.is_some()) && n > 0 {
                data.par_chunks_mut(n)
                    .zip(indices.par_iter())
                    .try_for_each(convert)?;
            } else if n > 0 {
                data.chunks_mut(n)
                    .zip(indices.iter())
                    .try_for_each(convert)?;
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
        inputs: Tensor::from_vec(
            data,
            (b, dataset.channels, dataset.height, dataset.width),
            device,
        )?,
        labels: Tensor::from_vec(labels, b, device)?,
    })
}

/// A batch of rows `indices` with class labels.
fn rows_batch(
    rows: &Rows,
    indices: &[usize],
    labels: impl Iterator<Item = usize>,
    device: &Device,
) -> candle_core::Result<Batch> {
    let width = rows.width();
    let mut data = Vec::with_capacity(indices.len() * width);
    for &i in indices {
        let row = rows
            .try_row(i)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        if row.len() != width {
            return Err(candle_core::Error::Msg(format!(
                "sample {i} is missing from the imported data"
            )));
        }
        data.extend_from_slice(&row);
    }
    let labels: Vec<u32> = labels.map(|l| l as u32).collect();
    let b = labels.len();
    Ok(Batch {
        inputs: Tensor::from_vec(data, (b, width), device)?,
        labels: Tensor::from_vec(labels, b, device)?,
    })
}

fn table_batch(
    table: &TableDataset,
    indices: &[usize],
    device: &Device,
) -> candle_core::Result<Batch> {
    let rows = &table.features;
    match table.schema.task {
        Task::Classify => rows_batch(
            rows,
            indices,
            indices
                .iter()
                .map(|&i| table.labels.get(i).copied().unwrap_or(0)),
            device,
        ),
        Task::Regress => {
            let mut batch = rows_batch(rows, indices, indices.iter().map(|_| 0), device)?;
            let targets: Vec<f32> = indices
                .iter()
                .map(|&i| table.targets.get(i).copied().unwrap_or(0.0))
                .collect();
            batch.labels = Tensor::from_vec(targets, (indices.len(), 1), device)?;
            Ok(batch)
        }
    }
}
