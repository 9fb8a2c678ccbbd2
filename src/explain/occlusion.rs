//! Explanations by taking parts of the input away and watching the score: patches of a picture
//! or spectrogram, words of a text, columns of a table row; and, over a whole test set, the
//! permutation importance of each column (Breiman, 2001).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::gradients::{image_size, normalized};
use super::{Contribution, ExplainError, Map, Scorer};
use crate::data::tokenize;
use crate::data::{ColumnKind, Dataset, TableSchema};
use crate::engine::Network;
use crate::project::{LossKind, Task, TokenizerKind};

/// A word's note when the model's vocabulary lacks it (it reads it as "unknown").
pub const UNKNOWN_WORD: &str = "not in the model's vocabulary";

/// Patches per side of a picture, about: the patch is the shorter side over this.
const PATCHES_PER_SIDE: usize = 7;

/// Each input value's neutral stand-in: per channel, the sample's own average level.
pub(super) fn image_baseline(scorer: &Scorer<'_>, input: &[f32]) -> Vec<f32> {
    let (h, w) = image_size(scorer);
    let plane = (h * w).max(1);
    let mut baseline = vec![0.0; input.len()];
    for (src, dst) in input.chunks(plane).zip(baseline.chunks_mut(plane)) {
        let mean = src.iter().sum::<f32>() / src.len().max(1) as f32;
        dst.fill(mean);
    }
    baseline
}

/// Occlusion: overlapping square patches (a seventh of the shorter side, half-overlapping)
/// replaced by the average level one at a time; each pixel's importance is the mean fall of the
/// class's logit margin over the patches covering it (kept where positive).
pub(super) fn patches(scorer: &Scorer<'_>, input: &[f32]) -> Result<Map, ExplainError> {
    let (h, w) = image_size(scorer);
    let plane = h * w;
    let channels = input.len() / plane.max(1);
    let baseline = image_baseline(scorer, input);
    let size = (h.min(w) / PATCHES_PER_SIDE).max(1);
    let stride = (size / 2).max(1);
    let starts = |len: usize| {
        let mut s: Vec<usize> = (0..len.saturating_sub(size) + 1).step_by(stride).collect();
        // The last patch reaches the edge.
        if let Some(&last) = s.last() {
            if last + size < len {
                s.push(len - size);
            }
        }
        s
    };
    let positions: Vec<(usize, usize)> = starts(h)
        .into_iter()
        .flat_map(|y| starts(w).into_iter().map(move |x| (y, x)))
        .collect();
    let base = scorer.margins(&[input.to_vec()])?;
    let base = base.first().copied().unwrap_or(0.0);
    let mut drop_sum = vec![0.0f32; plane];
    let mut covered = vec![0u32; plane];
    for chunk in positions.chunks(super::SCORE_BATCH) {
        let inputs: Vec<Vec<f32>> = chunk
            .iter()
            .map(|&(y0, x0)| {
                let mut x = input.to_vec();
                for c in 0..channels {
                    for y in y0..(y0 + size).min(h) {
                        let row = c * plane + y * w;
                        let end = row + (x0 + size).min(w);
                        if let (Some(dst), Some(src)) =
                            (x.get_mut(row + x0..end), baseline.get(row + x0..end))
                        {
                            dst.copy_from_slice(src);
                        }
                    }
                }
                x
            })
            .collect();
        for (&(y0, x0), score) in chunk.iter().zip(scorer.margins(&inputs)?) {
            for y in y0..(y0 + size).min(h) {
                for x in x0..(x0 + size).min(w) {
                    if let (Some(d), Some(n)) =
                        (drop_sum.get_mut(y * w + x), covered.get_mut(y * w + x))
                    {
                        *d += base - score;
                        *n += 1;
                    }
                }
            }
        }
    }
    let values = drop_sum
        .iter()
        .zip(&covered)
        .map(|(&d, &n)| if n > 0 { (d / n as f32).max(0.0) } else { 0.0 })
        .collect();
    Ok(Map::Grid {
        height: h,
        width: w,
        values: normalized(values),
    })
}

/// The positions of a text's words the model reads (not padding, not `[CLS]`-style markers),
/// with each word and whether the model knows it.
pub(super) fn word_positions(
    dataset: &Dataset,
    index: usize,
    input: &[f32],
) -> Vec<(usize, String, bool)> {
    let Some(texts) = dataset.texts() else {
        return Vec::new();
    };
    let vocab = &texts.vocab;
    // Built vocabularies read one token per word (or character) in order, so a word the model
    // does not know can be shown as written.
    let written: Vec<String> = match vocab.tokenizer {
        TokenizerKind::Words | TokenizerKind::WordsAndMarks | TokenizerKind::Characters => texts
            .raw
            .texts
            .get(index)
            .map(|t| tokenize(vocab.tokenizer, t))
            .unwrap_or_default(),
        TokenizerKind::File => Vec::new(),
    };
    input
        .iter()
        .enumerate()
        .filter_map(|(pos, &id)| {
            let id = id as usize;
            if id == vocab.pad_id {
                return None;
            }
            let known = id != vocab.unknown_id;
            let token = match written.get(pos) {
                Some(word) if !known => word.clone(),
                _ => vocab.tokens.get(id).cloned().unwrap_or_default(),
            };
            let marker = token.starts_with('[') && token.ends_with(']') && token.len() > 2;
            (!marker || !known).then_some((pos, token, known))
        })
        .collect()
}

/// The value that stands for "no word here".
pub(super) fn pad_value(dataset: &Dataset) -> f32 {
    dataset.texts().map_or(0.0, |t| t.vocab.pad_id as f32)
}

/// Each word replaced by padding in turn; its contribution is the fall of the score.
pub(super) fn words(scorer: &Scorer<'_>, input: &[f32]) -> Result<Map, ExplainError> {
    let positions = word_positions(scorer.dataset, scorer.index, input);
    let pad = pad_value(scorer.dataset);
    let mut inputs = vec![input.to_vec()];
    for &(pos, _, _) in &positions {
        let mut x = input.to_vec();
        if let Some(v) = x.get_mut(pos) {
            *v = pad;
        }
        inputs.push(x);
    }
    let scores = scorer.scores(&inputs)?;
    let base = scores.first().copied().unwrap_or(0.0);
    Ok(Map::Tokens(
        positions
            .into_iter()
            .zip(scores.iter().skip(1))
            .map(|((_, name, known), &s)| Contribution {
                name,
                value: if known {
                    String::new()
                } else {
                    UNKNOWN_WORD.to_owned()
                },
                score: base - s,
            })
            .collect(),
    ))
}

/// Each schema column's input positions.
pub(super) fn column_groups(schema: &TableSchema) -> Vec<std::ops::Range<usize>> {
    let mut start = 0;
    schema
        .columns
        .iter()
        .map(|c| {
            let r = start..start + c.width();
            start = r.end;
            r
        })
        .collect()
}

/// A column's value in an encoded row, for people.
fn shown_value(kind: &ColumnKind, encoded: &[f32]) -> String {
    match kind {
        ColumnKind::Number { mean, std } => {
            let v = encoded.first().map_or(0.0, |&x| f64::from(x) * std + mean);
            format!("{}", (v * 1000.0).round() / 1000.0)
        }
        ColumnKind::Category { values } => encoded
            .iter()
            .position(|&x| x > 0.5)
            .and_then(|i| values.get(i).cloned())
            .unwrap_or_else(|| "(missing)".to_owned()),
    }
}

/// Each column set to its training average in turn (numbers to their mean, categories to
/// none); its contribution is the fall of the score.
pub(super) fn columns(scorer: &Scorer<'_>, input: &[f32]) -> Result<Map, ExplainError> {
    let Some(table) = scorer.dataset.table() else {
        return Ok(Map::Columns(Vec::new()));
    };
    let groups = column_groups(&table.schema);
    let mut inputs = vec![input.to_vec()];
    for g in &groups {
        let mut x = input.to_vec();
        if let Some(part) = x.get_mut(g.clone()) {
            part.fill(0.0);
        }
        inputs.push(x);
    }
    let scores = scorer.scores(&inputs)?;
    let base = scores.first().copied().unwrap_or(0.0);
    Ok(Map::Columns(
        table
            .schema
            .columns
            .iter()
            .zip(&groups)
            .zip(scores.iter().skip(1))
            .map(|((c, g), &s)| Contribution {
                name: c.name.clone(),
                value: shown_value(&c.kind, input.get(g.clone()).unwrap_or(&[])),
                score: base - s,
            })
            .collect(),
    ))
}

/// How much a column matters over a whole set of rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnImportance {
    /// The column.
    pub name: String,
    /// Mean fall of the score (accuracy, or R²) when the column's values are shuffled.
    pub importance: f64,
    /// Spread of that fall over the repeats (standard deviation).
    pub spread: f64,
}

/// Permutation importance on the rows `indices` of a table: each column's values shuffled among
/// the rows (`repeats` times, seeded), the fall of the score (accuracy, or R² for a number)
/// averaged. Most important first.
pub fn permutation_importance(
    network: &Network,
    loss: LossKind,
    dataset: &Dataset,
    indices: &[usize],
    repeats: usize,
    seed: u64,
) -> Result<Vec<ColumnImportance>, ExplainError> {
    let Some(table) = dataset.table() else {
        return Ok(Vec::new());
    };
    let width = table.schema.width();
    let rows: Vec<Vec<f32>> = indices.iter().map(|&i| table.row(i).to_vec()).collect();
    let truth: Vec<f32> = indices
        .iter()
        .map(|&i| match table.schema.task {
            Task::Classify => table.labels.get(i).copied().unwrap_or(0) as f32,
            Task::Regress => table.targets.get(i).copied().unwrap_or(0.0),
        })
        .collect();
    let scorer = Scorer::new(network, loss, dataset, 0, 0);
    let metric = |rows: &[Vec<f32>]| -> Result<f64, ExplainError> {
        Ok(score(table.schema.task, &scorer.outputs(rows)?, &truth))
    };
    let base = metric(&rows)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut result = Vec::new();
    for (column, group) in table
        .schema
        .columns
        .iter()
        .zip(column_groups(&table.schema))
    {
        let mut falls = Vec::with_capacity(repeats);
        for _ in 0..repeats.max(1) {
            let mut order: Vec<usize> = (0..rows.len()).collect();
            order.shuffle(&mut rng);
            let shuffled: Vec<Vec<f32>> = rows
                .iter()
                .zip(&order)
                .map(|(row, &from)| {
                    let mut r = row.clone();
                    if let (Some(dst), Some(src)) = (
                        r.get_mut(group.clone()),
                        rows.get(from).and_then(|s| s.get(group.clone())),
                    ) {
                        dst.copy_from_slice(src);
                    }
                    debug_assert_eq!(r.len(), width);
                    r
                })
                .collect();
            falls.push(base - metric(&shuffled)?);
        }
        let n = falls.len() as f64;
        let mean = falls.iter().sum::<f64>() / n;
        let var = falls.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n;
        result.push(ColumnImportance {
            name: column.name.clone(),
            importance: mean,
            spread: var.sqrt(),
        });
    }
    result.sort_by(|a, b| b.importance.total_cmp(&a.importance));
    Ok(result)
}

/// Accuracy of class probabilities, or R² of standardized predictions.
fn score(task: Task, outputs: &[Vec<f32>], truth: &[f32]) -> f64 {
    match task {
        Task::Classify => {
            let correct = outputs
                .iter()
                .zip(truth)
                .filter(|(o, &t)| crate::eval::argmax(o).0 == t as usize)
                .count();
            correct as f64 / truth.len().max(1) as f64
        }
        Task::Regress => {
            let actual: Vec<f64> = truth.iter().map(|&t| f64::from(t)).collect();
            let predicted: Vec<f64> = outputs
                .iter()
                .map(|o| f64::from(o.first().copied().unwrap_or(0.0)))
                .collect();
            crate::eval::regression_report(&actual, &predicted).r2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_accuracy_and_r2() {
        let outputs = vec![vec![0.9, 0.1], vec![0.2, 0.8], vec![0.6, 0.4]];
        assert!((score(Task::Classify, &outputs, &[0.0, 1.0, 1.0]) - 2.0 / 3.0).abs() < 1e-12);
        // Truth 1, 2, 3 (mean 2, Σ(y−ȳ)² = 2), predictions 1, 2, 4: R² = 1 − 1/2.
        let values = vec![vec![1.0], vec![2.0], vec![4.0]];
        assert!((score(Task::Regress, &values, &[1.0, 2.0, 3.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn shown_values_decode_the_encoding() {
        let number = ColumnKind::Number {
            mean: 10.0,
            std: 2.0,
        };
        assert_eq!(shown_value(&number, &[1.5]), "13");
        let category = ColumnKind::Category {
            values: vec!["red".into(), "blue".into()],
        };
        assert_eq!(shown_value(&category, &[0.0, 1.0]), "blue");
        assert_eq!(shown_value(&category, &[0.0, 0.0]), "(missing)");
    }
}
