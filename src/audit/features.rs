//! Small, fast features of each sample for the data check's checker model and outlier distances:
//! pictures shrunk to 10×10 per channel, spectrograms as each mel band's mean and spread over
//! time, texts as hashed word counts, table rows as encoded; every column standardized.

use crate::data::Dataset;

/// Side of the shrunken pictures.
const PICTURE_SIDE: usize = 10;
/// Buckets of the hashed word counts.
const TEXT_BUCKETS: usize = 1024;

/// Features of every sample, row by row.
pub(super) struct Features {
    /// `n × width` standardized values.
    pub values: Vec<f32>,
    /// Values per sample.
    pub width: usize,
    /// What they are, in words.
    pub description: String,
}

/// The features of `dataset`'s samples.
pub(super) fn of(dataset: &Dataset) -> Features {
    let n = dataset.len();
    let (mut values, width, description) = match dataset {
        Dataset::Images(d) => {
            let width = d.channels * PICTURE_SIDE * PICTURE_SIDE;
            let mut v = Vec::with_capacity(n * width);
            for i in 0..n {
                v.extend(shrink(
                    &d.sample(i),
                    d.channels,
                    d.height,
                    d.width,
                    PICTURE_SIDE,
                ));
            }
            (
                v,
                width,
                format!("the pictures shrunk to {PICTURE_SIDE}×{PICTURE_SIDE}"),
            )
        }
        Dataset::Audio(a) => {
            let d = &a.images;
            let width = 2 * d.height;
            let mut v = Vec::with_capacity(n * width);
            for i in 0..n {
                v.extend(band_statistics(&d.sample(i), d.height, d.width));
            }
            (v, width, "each mel band's mean and spread".to_owned())
        }
        Dataset::Text(t) => {
            let mut v = vec![0f32; n * TEXT_BUCKETS];
            for (i, row) in v.chunks_mut(TEXT_BUCKETS).enumerate() {
                for &id in t.row(i).iter() {
                    let id = id as usize;
                    if id == t.vocab.pad_id {
                        continue;
                    }
                    // Fibonacci hashing spreads neighbouring ids over the buckets.
                    let bucket = (id.wrapping_mul(0x9E37_79B9) >> 7) % TEXT_BUCKETS;
                    if let Some(b) = row.get_mut(bucket) {
                        *b += 1.0;
                    }
                }
                for b in row.iter_mut() {
                    *b = b.ln_1p();
                }
            }
            (v, TEXT_BUCKETS, "word counts".to_owned())
        }
        Dataset::Table(t) => (
            t.features.to_vec(),
            t.schema.width(),
            "the encoded columns".to_owned(),
        ),
    };
    standardize(&mut values, width);
    Features {
        values,
        width,
        description,
    }
}

/// A `channels × height × width` u8 picture averaged down to `side × side` per channel, in
/// [0, 1].
pub(super) fn shrink(
    pixels: &[u8],
    channels: usize,
    height: usize,
    width: usize,
    side: usize,
) -> Vec<f32> {
    let plane = height * width;
    (0..channels)
        .flat_map(|c| {
            let from = pixels.get(c * plane..(c + 1) * plane).unwrap_or(&[]);
            shrink_plane(from, height, width, side, side)
        })
        .map(|v| v / 255.0)
        .collect()
}

/// One `height × width` plane averaged down to `rows × cols` cells (grey levels 0–255).
pub(super) fn shrink_plane(
    plane: &[u8],
    height: usize,
    width: usize,
    rows: usize,
    cols: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    let mut counts = vec![0u32; rows * cols];
    if height == 0 || width == 0 {
        return out;
    }
    for y in 0..height {
        for x in 0..width {
            let cell = (y * rows / height) * cols + x * cols / width;
            if let (Some(o), Some(c), Some(&p)) = (
                out.get_mut(cell),
                counts.get_mut(cell),
                plane.get(y * width + x),
            ) {
                *o += f32::from(p);
                *c += 1;
            }
        }
    }
    for (o, &c) in out.iter_mut().zip(&counts) {
        *o /= c.max(1) as f32;
    }
    out
}

/// Each row's (mel band's) mean and standard deviation over the columns (time), in [0, 1].
fn band_statistics(pixels: &[u8], bands: usize, frames: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(2 * bands);
    for b in 0..bands {
        let row = pixels.get(b * frames..(b + 1) * frames).unwrap_or(&[]);
        let n = row.len().max(1) as f32;
        let mean = row.iter().map(|&p| f32::from(p)).sum::<f32>() / n;
        let var = row
            .iter()
            .map(|&p| (f32::from(p) - mean).powi(2))
            .sum::<f32>()
            / n;
        out.push(mean / 255.0);
        out.push(var.sqrt() / 255.0);
    }
    out
}

/// Each column to mean 0 and standard deviation 1 (constant columns to 0).
fn standardize(values: &mut [f32], width: usize) {
    if width == 0 {
        return;
    }
    let n = values.len() / width;
    if n == 0 {
        return;
    }
    for c in 0..width {
        let column = || values.iter().skip(c).step_by(width);
        let mean = column().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let var = column()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let std = var.sqrt();
        for v in values.iter_mut().skip(c).step_by(width) {
            *v = if std > 1e-9 {
                ((f64::from(*v) - mean) / std) as f32
            } else {
                0.0
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_averages_blocks() {
        // A 4×4 picture, left half 0, right half 255, shrunk to 2×2.
        let pixels: Vec<u8> = (0..16).map(|i| if i % 4 < 2 { 0 } else { 255 }).collect();
        assert_eq!(shrink(&pixels, 1, 4, 4, 2), vec![0.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn standardized_columns_have_mean_0_and_std_1() {
        let mut v = vec![1.0, 5.0, 3.0, 5.0];
        standardize(&mut v, 2);
        assert_eq!(v, vec![-1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn band_statistics_are_mean_and_spread() {
        let s = band_statistics(&[0, 255, 51, 51], 2, 2);
        assert_eq!(s, vec![0.5, 0.5, 0.2, 0.0]);
    }
}
