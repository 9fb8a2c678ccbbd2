//! The data check: likely wrong labels found by confident learning (Northcutt et al., 2021) on
//! out-of-sample probabilities from k-fold cross-validation of a fast model; exact and near
//! duplicates, above all across the train/validation/test split (leakage); outliers far from
//! every class; class imbalance.

mod duplicates;
mod features;
mod labels;

pub use duplicates::{likeness, Duplicate, DUPLICATES_SHOWN};
pub use labels::{LabelIssue, ProjectChecker};

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::data::{Dataset, Split};
use crate::project::Task;

/// Which part of the split a sample is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Training.
    Train,
    /// Validation.
    Validation,
    /// Test.
    Test,
}

impl Part {
    /// The part's name for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Train => "training",
            Self::Validation => "validation",
            Self::Test => "test",
        }
    }
}

/// Each sample's part of the split.
pub fn parts(split: &Split, len: usize) -> Vec<Part> {
    let mut parts = vec![Part::Train; len];
    for (list, part) in [(&split.val, Part::Validation), (&split.test, Part::Test)] {
        for &i in list {
            if let Some(p) = parts.get_mut(i) {
                *p = part;
            }
        }
    }
    parts
}

/// A sample far from every class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outlier {
    /// The sample.
    pub index: usize,
    /// Its key (file relative to the data folder, or "line N").
    pub key: String,
    /// Its class.
    pub class: String,
    /// Its distance to the nearest class centre over the typical (median) such distance.
    pub distance_ratio: f64,
}

/// Far more samples of one class than of another.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Imbalance {
    /// The largest class and its samples.
    pub largest: (String, usize),
    /// The smallest class and its samples.
    pub smallest: (String, usize),
}

/// Everything the data check found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Audit {
    /// Samples checked.
    pub samples: usize,
    /// How the labels were checked, in words ("logistic regression on 10×10 pixels, 5 folds").
    pub checker: String,
    /// The checker's out-of-fold accuracy on the training samples.
    pub checker_accuracy: Option<f64>,
    /// Likely wrong labels, most doubtful first.
    pub label_issues: Vec<LabelIssue>,
    /// Duplicate pairs, those across the split first (at most [`DUPLICATES_SHOWN`]).
    pub duplicates: Vec<Duplicate>,
    /// Duplicate pairs found in all (some may not be listed).
    pub duplicate_pairs: usize,
    /// Pairs that cross the split (leakage).
    pub leaking_pairs: usize,
    /// Samples far from every class, farthest first.
    pub outliers: Vec<Outlier>,
    /// Samples per class.
    pub class_counts: Vec<(String, usize)>,
    /// Set when the largest class has at least three times the samples of the smallest.
    pub imbalance: Option<Imbalance>,
}

/// Options of the data check.
#[derive(Clone, Copy, Debug)]
pub struct AuditOptions {
    /// Folds of the cross-validation (at least 2).
    pub folds: usize,
    /// Seed of the folds and the checker's start.
    pub seed: u64,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self { folds: 5, seed: 0 }
    }
}

/// Errors of the data check.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Stopped on request.
    #[error("the data check was cancelled")]
    Cancelled,
    /// The project's model could not be built as the checker.
    #[error("the project's model could not check the labels: {0}")]
    Model(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Epochs the project's model trains per fold at most.
pub const CHECKER_EPOCHS: usize = 10;

/// The project's model as the label checker, when it is valid and fits the data.
pub fn project_checker<'a>(
    project: &'a crate::project::Project,
    dataset: &Dataset,
) -> Option<ProjectChecker<'a>> {
    let checked = project.model.validate().ok()?;
    let input = checked
        .info
        .get(checked.input)
        .map(|i| i.output_shape.clone());
    if checked.output_shape() != [dataset.outputs()] || input != Some(dataset.shape()) {
        return None;
    }
    Some(ProjectChecker {
        graph: &project.model,
        training: &project.training,
        epochs: project.training.epochs.clamp(1, CHECKER_EPOCHS),
    })
}

/// Outliers listed at most.
const OUTLIERS_SHOWN: usize = 20;
/// Distance ratio above which a sample is an outlier.
const OUTLIER_RATIO: f64 = 2.5;
/// Largest over smallest class above which the classes are called imbalanced.
const IMBALANCE_RATIO: usize = 3;

/// Checks the data: `root` is the data folder (keys are relative to it); the labels are
/// checked by `project`'s model when given (else a logistic regression on small features);
/// `progress` gets `(done, total)` over the cross-validation's folds.
pub fn audit(
    dataset: &Dataset,
    split: &Split,
    root: &Path,
    options: AuditOptions,
    project: Option<ProjectChecker<'_>>,
    cancel: Option<&AtomicBool>,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Audit, AuditError> {
    let n = dataset.len();
    let key = |i: usize| crate::data::sample_key(root, &dataset.source(i));
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let parts = parts(split, n);
    let (duplicates, duplicate_pairs) = duplicates::find(dataset, &parts, &key);
    let leaking_pairs = duplicates.iter().filter(|d| d.leaks()).count();
    let features = features::of(dataset);
    let classify = dataset.task() == Task::Classify && dataset.classes().len() >= 2;
    let class_counts: Vec<(String, usize)> = if classify {
        dataset
            .classes()
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let count = dataset.labels().iter().filter(|&&l| l == c).count();
                (name.clone(), count)
            })
            .collect()
    } else {
        Vec::new()
    };
    let (label_issues, checker_accuracy) = if classify {
        let report = labels::check(
            &features,
            dataset,
            &split.train,
            options,
            project,
            &key,
            &cancelled,
            progress,
        )?;
        (report.issues, report.accuracy)
    } else {
        (Vec::new(), None)
    };
    if cancelled() {
        return Err(AuditError::Cancelled);
    }
    let outliers = if classify {
        outliers(&features.values, features.width, dataset, &key)
    } else {
        Vec::new()
    };
    let imbalance = imbalance(&class_counts);
    Ok(Audit {
        samples: n,
        checker: match project {
            Some(p) => format!(
                "the project's model ({} epochs), {} folds over the training samples",
                p.epochs,
                options.folds.max(2)
            ),
            None => format!(
                "logistic regression on {}, {} folds over the training samples",
                features.description,
                options.folds.max(2)
            ),
        },
        checker_accuracy,
        label_issues,
        duplicates,
        duplicate_pairs,
        leaking_pairs,
        outliers,
        class_counts,
        imbalance,
    })
}

/// Samples whose distance to the nearest class centre (standardized features) is well above the
/// typical one.
fn outliers(
    x: &[f32],
    width: usize,
    dataset: &Dataset,
    key: &dyn Fn(usize) -> String,
) -> Vec<Outlier> {
    let n = dataset.len();
    let classes = dataset.classes().len();
    if width == 0 || n < 10 || classes == 0 {
        return Vec::new();
    }
    let mut centres = vec![0f64; classes * width];
    let mut counts = vec![0usize; classes];
    for (i, &label) in dataset.labels().iter().enumerate() {
        let (Some(row), Some(centre)) = (
            x.get(i * width..(i + 1) * width),
            centres.get_mut(label * width..(label + 1) * width),
        ) else {
            continue;
        };
        for (c, &v) in centre.iter_mut().zip(row) {
            *c += f64::from(v);
        }
        if let Some(k) = counts.get_mut(label) {
            *k += 1;
        }
    }
    for (centre, &count) in centres.chunks_mut(width).zip(&counts) {
        for c in centre {
            *c /= count.max(1) as f64;
        }
    }
    let nearest: Vec<f64> = (0..n)
        .map(|i| {
            let row = x.get(i * width..(i + 1) * width).unwrap_or(&[]);
            centres
                .chunks(width)
                .zip(&counts)
                .filter(|(_, &count)| count > 0)
                .map(|(centre, _)| {
                    row.iter()
                        .zip(centre)
                        .map(|(&v, &c)| (f64::from(v) - c).powi(2))
                        .sum::<f64>()
                        .sqrt()
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut sorted = nearest.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(n / 2).copied().unwrap_or(0.0);
    if median <= 0.0 || !median.is_finite() {
        return Vec::new();
    }
    let mut found: Vec<Outlier> = nearest
        .iter()
        .enumerate()
        .filter(|(_, &d)| d / median > OUTLIER_RATIO)
        .map(|(i, &d)| Outlier {
            index: i,
            key: key(i),
            class: dataset
                .labels()
                .get(i)
                .and_then(|&l| dataset.classes().get(l))
                .cloned()
                .unwrap_or_default(),
            distance_ratio: d / median,
        })
        .collect();
    found.sort_by(|a, b| b.distance_ratio.total_cmp(&a.distance_ratio));
    found.truncate(OUTLIERS_SHOWN);
    found
}

fn imbalance(counts: &[(String, usize)]) -> Option<Imbalance> {
    let largest = counts.iter().max_by_key(|(_, c)| *c)?;
    let smallest = counts.iter().min_by_key(|(_, c)| *c)?;
    (largest.1 >= IMBALANCE_RATIO * smallest.1.max(1)).then(|| Imbalance {
        largest: largest.clone(),
        smallest: smallest.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_follow_the_split() {
        let split = Split {
            train: vec![0, 3],
            val: vec![1],
            test: vec![2],
        };
        assert_eq!(
            parts(&split, 4),
            [Part::Train, Part::Validation, Part::Test, Part::Train]
        );
    }

    #[test]
    fn imbalance_needs_three_to_one() {
        let counts = |a, b| vec![("a".to_owned(), a), ("b".to_owned(), b)];
        assert!(imbalance(&counts(29, 10)).is_none());
        let found = imbalance(&counts(30, 10)).unwrap();
        assert_eq!(found.largest, ("a".to_owned(), 30));
        assert_eq!(found.smallest, ("b".to_owned(), 10));
    }
}
