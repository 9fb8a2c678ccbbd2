//! Likely wrong labels by confident learning (Northcutt, Jiang and Chuang, 2021): each training
//! sample's class probabilities come from a checker model that did not see it (k-fold
//! cross-validation); a sample whose given class falls below that class's typical confidence
//! while another class clears its own is flagged, with that class as the suggestion.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer as _, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use super::features::Features;
use super::{AuditError, AuditOptions};
use crate::data::Dataset;
use crate::engine::{train_step, Network, Optimizer, OptimizerConfig};
use crate::model::Graph;
use crate::project::TrainingSettings;

/// Full-batch steps of the checker's training.
const STEPS: usize = 150;
/// The checker's learning rate.
const LR: f64 = 0.05;

/// A sample whose label looks wrong.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelIssue {
    /// The sample.
    pub index: usize,
    /// Its key (file relative to the data folder, or "line N").
    pub key: String,
    /// The class it was given.
    pub given: String,
    /// The class the checker suggests.
    pub suggested: String,
    /// The checker's probability of the given class.
    pub given_probability: f32,
    /// The checker's probability of the suggested class.
    pub suggested_probability: f32,
}

/// What the label check found.
pub(super) struct LabelReport {
    /// Likely wrong labels, most doubtful first.
    pub issues: Vec<LabelIssue>,
    /// The checker's out-of-fold accuracy.
    pub accuracy: Option<f64>,
}

/// The project's own model as the checker: trained afresh on each fold's other samples.
#[derive(Clone, Copy)]
pub struct ProjectChecker<'a> {
    /// The model's graph.
    pub graph: &'a Graph,
    /// Its training settings (optimizer, learning rate, batch size, loss, L1/L2, seed).
    pub training: &'a TrainingSettings,
    /// Epochs per fold.
    pub epochs: usize,
}

/// Runs the check on the training samples `train`, with the project's model when given (and
/// buildable), else a logistic regression on `features`.
#[allow(clippy::too_many_arguments)]
pub(super) fn check(
    features: &Features,
    dataset: &Dataset,
    train: &[usize],
    options: AuditOptions,
    project: Option<ProjectChecker<'_>>,
    key: &dyn Fn(usize) -> String,
    cancelled: &dyn Fn() -> bool,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<LabelReport, AuditError> {
    let classes = dataset.classes();
    let labels = dataset.labels();
    let folds = options.folds.max(2);
    if train.len() < 2 * folds || classes.len() < 2 {
        return Ok(LabelReport {
            issues: Vec::new(),
            accuracy: None,
        });
    }
    let mut order = train.to_vec();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(options.seed));
    let mut probabilities: Vec<(usize, Vec<f32>)> = Vec::with_capacity(order.len());
    for fold in 0..folds {
        if cancelled() {
            return Err(AuditError::Cancelled);
        }
        if let Some(p) = progress {
            p(fold, folds);
        }
        let in_fold = |position: usize| position % folds == fold;
        let pick = |wanted: bool| -> Vec<usize> {
            order
                .iter()
                .enumerate()
                .filter(|(position, _)| in_fold(*position) == wanted)
                .map(|(_, &i)| i)
                .collect()
        };
        let (held, fit) = (pick(true), pick(false));
        let p = match project {
            Some(project) => {
                let seed = options.seed.wrapping_add(fold as u64);
                project_fold(project, dataset, &fit, &held, seed, cancelled)?
            }
            None => fit_checker(features, labels, &fit, classes.len())?
                .probabilities(features, &held)?,
        };
        probabilities.extend(held.into_iter().zip(p.into_iter().map(finite_or_uniform)));
    }
    if let Some(p) = progress {
        p(folds, folds);
    }
    let correct = probabilities
        .iter()
        .filter(|(i, p)| labels.get(*i) == Some(&crate::eval::argmax(p).0))
        .count();
    let accuracy = correct as f64 / probabilities.len().max(1) as f64;
    let issues = confident_learning(&probabilities, labels, classes.len())
        .into_iter()
        .map(|(index, given, suggested, pg, ps)| LabelIssue {
            index,
            key: key(index),
            given: classes.get(given).cloned().unwrap_or_default(),
            suggested: classes.get(suggested).cloned().unwrap_or_default(),
            given_probability: pg,
            suggested_probability: ps,
        })
        .collect();
    Ok(LabelReport {
        issues,
        accuracy: Some(accuracy),
    })
}

/// Confident learning over out-of-sample probabilities: class thresholds are the mean
/// probability of each class over the samples given it; a sample is flagged when the most
/// probable class clearing its threshold is not its given class. Returns (sample, given,
/// suggested, p(given), p(suggested)), least probable given class first.
pub(super) fn confident_learning(
    probabilities: &[(usize, Vec<f32>)],
    labels: &[usize],
    classes: usize,
) -> Vec<(usize, usize, usize, f32, f32)> {
    let mut sums = vec![0f64; classes];
    let mut counts = vec![0usize; classes];
    for (i, p) in probabilities {
        if let Some(&l) = labels.get(*i) {
            if let (Some(s), Some(c), Some(&v)) = (sums.get_mut(l), counts.get_mut(l), p.get(l)) {
                *s += f64::from(v);
                *c += 1;
            }
        }
    }
    let thresholds: Vec<f32> = sums
        .iter()
        .zip(&counts)
        .map(|(&s, &c)| if c > 0 { (s / c as f64) as f32 } else { 1.0 })
        .collect();
    let mut found = Vec::new();
    for (i, p) in probabilities {
        let Some(&given) = labels.get(*i) else {
            continue;
        };
        let best = p
            .iter()
            .enumerate()
            .filter(|(j, &v)| thresholds.get(*j).is_some_and(|&t| v >= t))
            .max_by(|a, b| a.1.total_cmp(b.1));
        if let Some((suggested, &ps)) = best {
            if suggested != given {
                let pg = p.get(given).copied().unwrap_or(0.0);
                found.push((*i, given, suggested, pg, ps));
            }
        }
    }
    found.sort_by(|a, b| a.3.total_cmp(&b.3));
    found
}

/// Probabilities with anything not finite replaced by "no idea" (uniform).
fn finite_or_uniform(p: Vec<f32>) -> Vec<f32> {
    if p.iter().all(|v| v.is_finite()) {
        p
    } else {
        let n = p.len().max(1);
        vec![1.0 / n as f32; n]
    }
}

/// The project's model trained on `fit` (no augmentation, seeded), its probabilities on `held`.
fn project_fold(
    project: ProjectChecker<'_>,
    dataset: &Dataset,
    fit: &[usize],
    held: &[usize],
    seed: u64,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<Vec<f32>>, AuditError> {
    let device = Device::Cpu;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let net = Network::new(project.graph, &device, &mut rng)
        .map_err(|e| AuditError::Model(e.to_string()))?;
    net.fit_to_training_data(dataset, fit)
        .map_err(|e| AuditError::Model(e.to_string()))?;
    let t = project.training;
    let mut optimizer = Optimizer::for_network(
        OptimizerConfig {
            kind: t.optimizer,
            lr: t.lr,
            l1: t.l1,
            l2: t.l2,
        },
        &net,
    );
    let classes = dataset.classes().len();
    let mut order = fit.to_vec();
    for _ in 0..project.epochs.max(1) {
        order.shuffle(&mut rng);
        for chunk in order.chunks(t.batch_size.max(1)) {
            if cancelled() {
                return Err(AuditError::Cancelled);
            }
            let batch = dataset.batch(chunk, None, &device)?;
            train_step(&net, &mut optimizer, &batch, t.loss, classes, &mut rng)?;
        }
    }
    Ok(crate::engine::predict(&net, dataset, held, t.loss, 256)?)
}

/// A multinomial logistic regression.
struct Checker {
    weight: Tensor,
    bias: Tensor,
}

impl Checker {
    fn probabilities(
        &self,
        features: &Features,
        rows: &[usize],
    ) -> Result<Vec<Vec<f32>>, AuditError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let x = rows_tensor(features, rows)?;
        let logits = x.matmul(&self.weight)?.broadcast_add(&self.bias)?;
        Ok(candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()?)
    }
}

fn rows_tensor(features: &Features, rows: &[usize]) -> Result<Tensor, AuditError> {
    let w = features.width;
    let mut data = Vec::with_capacity(rows.len() * w);
    for &i in rows {
        match features.values.get(i * w..(i + 1) * w) {
            Some(row) => data.extend_from_slice(row),
            None => data.extend(std::iter::repeat_n(0.0, w)),
        }
    }
    Ok(Tensor::from_vec(data, (rows.len(), w), &Device::Cpu)?)
}

/// Trains the checker on `rows` (full batch, AdamW with weight decay).
fn fit_checker(
    features: &Features,
    labels: &[usize],
    rows: &[usize],
    classes: usize,
) -> Result<Checker, AuditError> {
    let x = rows_tensor(features, rows)?;
    let y: Vec<u32> = rows
        .iter()
        .map(|&i| labels.get(i).copied().unwrap_or(0) as u32)
        .collect();
    let y = Tensor::from_vec(y, rows.len(), &Device::Cpu)?;
    let weight = Var::zeros((features.width, classes), DType::F32, &Device::Cpu)?;
    let bias = Var::zeros(classes, DType::F32, &Device::Cpu)?;
    let mut optimizer = AdamW::new(
        vec![weight.clone(), bias.clone()],
        ParamsAdamW {
            lr: LR,
            weight_decay: 0.01,
            ..ParamsAdamW::default()
        },
    )?;
    for _ in 0..STEPS {
        let logits = x
            .matmul(weight.as_tensor())?
            .broadcast_add(bias.as_tensor())?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        optimizer.backward_step(&loss)?;
    }
    Ok(Checker {
        weight: weight.as_tensor().clone(),
        bias: bias.as_tensor().clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confident_learning_flags_the_sample_whose_class_is_improbable() {
        // Thresholds: class 0 = mean(0.9, 0.8, 0.1) = 0.6, class 1 = mean(0.9, 0.7) = 0.8.
        let probabilities = vec![
            (0, vec![0.9, 0.1]),
            (1, vec![0.8, 0.2]),
            (2, vec![0.1, 0.9]), // given 0, looks like 1
            (3, vec![0.1, 0.9]),
            (4, vec![0.3, 0.7]), // given 1 but below 0.8; class 0 below 0.6 too: not flagged
        ];
        let labels = [0, 0, 0, 1, 1];
        let found = confident_learning(&probabilities, &labels, 2);
        assert_eq!(found, vec![(2, 0, 1, 0.1, 0.9)]);
    }
}
