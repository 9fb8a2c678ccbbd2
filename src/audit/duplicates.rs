//! Exact and near duplicates, and which of them cross the train/validation/test split: pictures
//! and spectrograms by a difference hash (8×8 brightness gradients of the shrunken picture,
//! which survives resizing and re-encoding) confirmed by the mean difference of 16×16
//! thumbnails; texts by their normalised words; table rows by identical encoded values.

use std::collections::HashMap;

use serde::Serialize;

use super::features::{shrink, shrink_plane};
use super::Part;
use crate::data::{Dataset, ImageDataset};

/// Duplicate pairs listed at most.
pub const DUPLICATES_SHOWN: usize = 200;
/// Difference-hash bits that may differ between near duplicates (the candidates; the thumbnail
/// correlation decides).
const HASH_DISTANCE: u32 = 12;
/// Grey levels by which a cell must outshine its right neighbour to set its hash bit, so
/// compression noise in flat areas does not flip bits.
const HASH_MARGIN: f32 = 4.0;
/// Correlation of the 16×16 thumbnails above which two pictures are near duplicates: a copy
/// resized or re-saved as JPEG stays above it (0.986 and 0.999 at worst on MNIST digits), two
/// different digits of one writer's style stay below (BENCHMARKS.md §13).
const THUMBNAIL_CORRELATION: f32 = 0.985;
/// Mean difference of the 16×16 thumbnails (0–1) a near duplicate stays within: correlation
/// alone ignores brightness, and two pictures of one shape lit differently are not copies.
const THUMBNAIL_DIFFERENCE: f32 = 0.03;
/// Above this many pictures, only identical hashes are compared (all pairs would be slow).
const PAIRWISE_LIMIT: usize = 30_000;

/// Two samples that are the same, or nearly.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Duplicate {
    /// The first sample.
    pub first: usize,
    /// The second sample.
    pub second: usize,
    /// Their keys (file relative to the data folder, or "line N").
    pub keys: (String, String),
    /// Their parts of the split.
    pub parts: (Part, Part),
    /// Identical (true) or nearly so.
    pub exact: bool,
    /// Whether both have the same class (or target).
    pub same_label: bool,
}

impl Duplicate {
    /// Whether the pair crosses the split (e.g. one in training, one in test): leakage.
    pub fn leaks(&self) -> bool {
        self.parts.0 != self.parts.1
    }
}

/// The duplicate pairs (those across the split first, at most [`DUPLICATES_SHOWN`]) and how
/// many there are in all.
pub(super) fn find(
    dataset: &Dataset,
    parts: &[Part],
    key: &dyn Fn(usize) -> String,
) -> (Vec<Duplicate>, usize) {
    let pairs: Vec<(usize, usize, bool)> = match dataset {
        Dataset::Images(d) => picture_pairs(d),
        Dataset::Audio(a) => picture_pairs(&a.images),
        Dataset::Text(t) => group_pairs(t.raw.texts.iter().map(|s| normalised(s))),
        Dataset::Table(t) => group_pairs((0..t.len()).map(|i| {
            t.row(i)
                .iter()
                .map(|v| v.to_bits().to_string())
                .collect::<Vec<_>>()
                .join(",")
        })),
    };
    let total = pairs.len();
    let labels = dataset.labels();
    let targets = dataset.table().map(|t| &t.targets);
    let same_label = |a: usize, b: usize| match targets {
        Some(t) if !t.is_empty() && dataset.task() == crate::project::Task::Regress => {
            t.get(a) == t.get(b)
        }
        _ => labels.get(a) == labels.get(b),
    };
    let part = |i: usize| parts.get(i).copied().unwrap_or(Part::Train);
    let mut found: Vec<Duplicate> = pairs
        .into_iter()
        .map(|(a, b, exact)| Duplicate {
            first: a,
            second: b,
            keys: (key(a), key(b)),
            parts: (part(a), part(b)),
            exact,
            same_label: same_label(a, b),
        })
        .collect();
    // Leaks first, then conflicting labels, then exact before near.
    found.sort_by_key(|d| (!d.leaks(), d.same_label, !d.exact, d.first, d.second));
    found.truncate(DUPLICATES_SHOWN);
    (found, total)
}

/// Text for comparing: lower case, letters and digits, single spaces.
fn normalised(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// Pairs among samples with equal keys (each later one paired with the first), all exact.
fn group_pairs(keys: impl Iterator<Item = String>) -> Vec<(usize, usize, bool)> {
    let mut first_of: HashMap<String, usize> = HashMap::new();
    let mut pairs = Vec::new();
    for (i, k) in keys.enumerate() {
        if k.is_empty() {
            continue;
        }
        match first_of.get(&k) {
            Some(&first) => pairs.push((first, i, true)),
            None => {
                first_of.insert(k, i);
            }
        }
    }
    pairs
}

/// The 64-bit difference hash of a picture: on a 9×8 grey version, whether each cell is
/// clearly brighter than its right neighbour.
pub(super) fn difference_hash(d: &ImageDataset, i: usize) -> u64 {
    let grey = grey(d, i);
    let small = shrink_plane(&grey, d.height, d.width, 8, 9);
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            let left = small.get(y * 9 + x).copied().unwrap_or(0.0);
            let right = small.get(y * 9 + x + 1).copied().unwrap_or(0.0);
            hash = (hash << 1) | u64::from(left > right + HASH_MARGIN);
        }
    }
    hash
}

/// The picture as one grey channel (mean of its channels), u8.
fn grey(d: &ImageDataset, i: usize) -> Vec<u8> {
    let pixels = d.sample(i);
    let plane = d.height * d.width;
    if d.channels <= 1 {
        return pixels.to_vec();
    }
    (0..plane)
        .map(|p| {
            let sum: u32 = (0..d.channels)
                .map(|c| u32::from(pixels.get(c * plane + p).copied().unwrap_or(0)))
                .sum();
            (sum / d.channels as u32) as u8
        })
        .collect()
}

fn picture_pairs(d: &ImageDataset) -> Vec<(usize, usize, bool)> {
    let n = d.len();
    let exact: Vec<(usize, usize, bool)> = {
        let keys = (0..n).map(|i| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            d.sample(i).hash(&mut h);
            format!("{:016x}", h.finish())
        });
        group_pairs(keys)
            .into_iter()
            .filter(|&(a, b, _)| d.sample(a) == d.sample(b))
            .collect()
    };
    let is_exact: std::collections::HashSet<(usize, usize)> =
        exact.iter().map(|&(a, b, _)| (a, b)).collect();
    let hashes: Vec<u64> = (0..n).map(|i| difference_hash(d, i)).collect();
    let thumbs: Vec<Vec<f32>> = (0..n)
        .map(|i| shrink(&grey(d, i), 1, d.height, d.width, 16))
        .collect();
    let close = |a: usize, b: usize| {
        let (Some(ta), Some(tb)) = (thumbs.get(a), thumbs.get(b)) else {
            return false;
        };
        mean_difference(ta, tb) <= THUMBNAIL_DIFFERENCE
            && correlation(ta, tb) >= THUMBNAIL_CORRELATION
    };
    let mut near = Vec::new();
    if n <= PAIRWISE_LIMIT {
        for a in 0..n {
            for b in a + 1..n {
                let (Some(ha), Some(hb)) = (hashes.get(a), hashes.get(b)) else {
                    continue;
                };
                if (ha ^ hb).count_ones() <= HASH_DISTANCE
                    && !is_exact.contains(&(a, b))
                    && close(a, b)
                {
                    near.push((a, b, false));
                }
            }
        }
    } else {
        let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, &h) in hashes.iter().enumerate() {
            by_hash.entry(h).or_default().push(i);
        }
        for members in by_hash.values() {
            for (k, &a) in members.iter().enumerate() {
                for &b in members.iter().skip(k + 1) {
                    if !is_exact.contains(&(a, b)) && close(a, b) {
                        near.push((a, b, false));
                    }
                }
            }
        }
    }
    let mut pairs = exact;
    pairs.extend(near);
    pairs
}

/// How alike two pictures of a data set are: the difference hashes' differing bits, and the
/// correlation and mean difference of their 16×16 thumbnails (what the near-duplicate test
/// compares).
pub fn likeness(d: &ImageDataset, a: usize, b: usize) -> (u32, f32, f32) {
    let bits = (difference_hash(d, a) ^ difference_hash(d, b)).count_ones();
    let ta = shrink(&grey(d, a), 1, d.height, d.width, 16);
    let tb = shrink(&grey(d, b), 1, d.height, d.width, 16);
    (bits, correlation(&ta, &tb), mean_difference(&ta, &tb))
}

/// Mean absolute difference of two equally long lists.
fn mean_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len().min(b.len()).max(1) as f32
}

/// Pearson correlation of two equally long lists (1 for two equal constant lists, 0 when only
/// one is constant).
fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len()).max(1) as f32;
    let ma = a.iter().sum::<f32>() / n;
    let mb = b.iter().sum::<f32>() / n;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    match (va > 1e-9, vb > 1e-9) {
        (true, true) => cov / (va * vb).sqrt(),
        (false, false) => f32::from(u8::from((ma - mb).abs() < 1e-3)),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_compare_by_their_words() {
        assert_eq!(normalised("  Hello,   WORLD!! "), "hello world");
        let pairs = group_pairs(
            ["Great film!", "great   FILM", "bad", "great film."]
                .iter()
                .map(|s| normalised(s)),
        );
        assert_eq!(pairs, vec![(0, 1, true), (0, 3, true)]);
    }
}
