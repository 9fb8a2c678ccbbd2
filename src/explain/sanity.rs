//! The two sanity checks of an explanation: model randomisation (Adebayo et al., 2018: the map
//! of the trained model must differ from the map of the same graph with fresh weights) and
//! deletion (Petsiuk et al., 2018: taking away the most important parts first must lower the
//! score faster than taking them away in random order).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::occlusion::{column_groups, image_baseline, pad_value, word_positions};
use super::{map_for, ExplainError, Made, Map, Method, Scorer};
use crate::engine::Network;
use crate::project::Task;

/// Above this rank correlation the trained model's map is too like the random model's.
pub const RANDOMISATION_LIMIT: f64 = 0.5;
/// Points on the deletion curve (fewer when there are fewer parts).
const DELETION_STEPS: usize = 20;
/// Random orders averaged for the deletion baseline.
const RANDOM_ORDERS: u64 = 3;
/// Seed of the re-initialised weights.
const RANDOM_WEIGHTS_SEED: u64 = 20_181_008;

/// The sanity checks' results for one explanation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sanity {
    /// Spearman rank correlation between the trained model's map and the map of the same graph
    /// with re-initialised weights (`None` when that model could not be built).
    pub randomisation_rho: Option<f64>,
    /// Why the randomisation check could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomisation_problem: Option<String>,
    /// Area under the score curve while removing parts, most important first (0–1 of the
    /// starting score's scale; lower is better).
    pub deletion_auc: f64,
    /// The same area for random orders (mean of three).
    pub random_deletion_auc: f64,
}

impl Sanity {
    /// Whether the map changes when the weights are randomised (`None`: not checked).
    pub fn passes_randomisation(&self) -> Option<bool> {
        self.randomisation_rho.map(|r| r < RANDOMISATION_LIMIT)
    }

    /// Whether removing the most important parts first weakens the answer faster than random.
    pub fn passes_deletion(&self) -> bool {
        self.deletion_auc < self.random_deletion_auc
    }

    /// Whether every check that ran passed.
    pub fn passes(&self) -> bool {
        self.passes_deletion() && self.passes_randomisation() != Some(false)
    }

    /// The randomisation check in one line.
    pub fn randomisation_line(&self) -> String {
        match (self.randomisation_rho, &self.randomisation_problem) {
            (Some(rho), _) if rho < RANDOMISATION_LIMIT => format!(
                "Passes the randomisation check: with random weights the map changes \
                 (rank correlation {rho:.2})."
            ),
            (Some(rho), _) => format!(
                "Fails the randomisation check: with random weights the map stays much the same \
                 (rank correlation {rho:.2}), so it shows the picture more than the model."
            ),
            (None, Some(why)) => format!("Randomisation check not run: {why}."),
            (None, None) => "Randomisation check not run.".to_owned(),
        }
    }

    /// The deletion check in one line.
    pub fn deletion_line(&self) -> String {
        let (a, r) = (self.deletion_auc, self.random_deletion_auc);
        if self.passes_deletion() {
            format!(
                "Passes the deletion check: removing the marked parts first weakens the answer \
                 faster than removing parts at random (area {a:.2} vs {r:.2})."
            )
        } else {
            format!(
                "Fails the deletion check: removing the marked parts first weakens the answer no \
                 faster than removing parts at random (area {a:.2} vs {r:.2})."
            )
        }
    }
}

/// Runs both checks for `made`, made by `method` for `input`. The randomisation check compares
/// maps at the resolution the method works at (Grad-CAM's layer), the deletion check on the
/// picture.
pub(super) fn check(
    method: Method,
    scorer: &Scorer<'_>,
    input: &[f32],
    made: &Made,
) -> Result<Sanity, ExplainError> {
    let map = &made.map;
    let (parts, baseline) = parts_of(scorer, input, map);
    let importance = importance(map);
    // A predicted number below the average is supported by parts that push it down: the
    // deletion check then follows the answer's own direction.
    let direction: f32 = match scorer.dataset.task() {
        Task::Regress
            if scorer
                .scores(&[input.to_vec()])?
                .first()
                .is_some_and(|&s| s < 0.0) =>
        {
            -1.0
        }
        _ => 1.0,
    };
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| {
        let ia = direction * importance.get(a).copied().unwrap_or(0.0);
        let ib = direction * importance.get(b).copied().unwrap_or(0.0);
        ib.total_cmp(&ia)
    });
    let deletion_auc =
        f64::from(direction) * deletion_area(scorer, input, &baseline, &parts, &order)?;
    let mut random_sum = 0.0;
    for seed in 0..RANDOM_ORDERS {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut shuffled: Vec<usize> = (0..parts.len()).collect();
        shuffled.shuffle(&mut rng);
        random_sum +=
            f64::from(direction) * deletion_area(scorer, input, &baseline, &parts, &shuffled)?;
    }
    let net = scorer.network;
    let mut rng = rand::rngs::StdRng::seed_from_u64(RANDOM_WEIGHTS_SEED);
    let (randomisation_rho, randomisation_problem) =
        match Network::new(net.graph(), net.device(), &mut rng) {
            Ok(random) => {
                let random_made = map_for(method, &scorer.with_network(&random), input)?;
                let rho = match (&made.native, &random_made.native) {
                    (Some(a), Some(b)) => spearman(a, b),
                    _ => spearman(&importance, &self::importance(&random_made.map)),
                };
                (Some(rho), None)
            }
            Err(e) => (None, Some(e.to_string())),
        };
    Ok(Sanity {
        randomisation_rho,
        randomisation_problem,
        deletion_auc,
        random_deletion_auc: random_sum / RANDOM_ORDERS as f64,
    })
}

/// The map's values, one per part, in part order.
fn importance(map: &Map) -> Vec<f32> {
    match map {
        Map::Grid { values, .. } => values.clone(),
        Map::Tokens(items) | Map::Columns(items) => items.iter().map(|c| c.score).collect(),
    }
}

/// The input positions of each part the map rates (a pixel's channels, a word, a column's
/// inputs) and the values that stand for "taken away".
fn parts_of(scorer: &Scorer<'_>, input: &[f32], map: &Map) -> (Vec<Vec<usize>>, Vec<f32>) {
    match map {
        Map::Grid { height, width, .. } => {
            let plane = height * width;
            let channels = input.len() / plane.max(1);
            let parts = (0..plane)
                .map(|p| (0..channels).map(|c| c * plane + p).collect())
                .collect();
            (parts, image_baseline(scorer, input))
        }
        Map::Tokens(_) => {
            let parts = word_positions(scorer.dataset, scorer.index, input)
                .into_iter()
                .map(|(pos, _, _)| vec![pos])
                .collect();
            (parts, vec![pad_value(scorer.dataset); input.len()])
        }
        Map::Columns(_) => {
            let parts = scorer
                .dataset
                .table()
                .map(|t| {
                    column_groups(&t.schema)
                        .into_iter()
                        .map(|r| r.collect())
                        .collect()
                })
                .unwrap_or_default();
            (parts, vec![0.0; input.len()])
        }
    }
}

/// The mean score while parts are taken away in `order`, from none to all (trapezoid rule over
/// evenly spaced points).
fn deletion_area(
    scorer: &Scorer<'_>,
    input: &[f32],
    baseline: &[f32],
    parts: &[Vec<usize>],
    order: &[usize],
) -> Result<f64, ExplainError> {
    let steps = DELETION_STEPS.min(parts.len()).max(1);
    let mut inputs = Vec::with_capacity(steps + 1);
    let mut x = input.to_vec();
    let mut removed = 0;
    inputs.push(x.clone());
    for k in 1..=steps {
        let until = parts.len() * k / steps;
        for &p in order.get(removed..until).unwrap_or(&[]) {
            for &i in parts.get(p).map(Vec::as_slice).unwrap_or(&[]) {
                if let (Some(v), Some(b)) = (x.get_mut(i), baseline.get(i)) {
                    *v = *b;
                }
            }
        }
        removed = until;
        inputs.push(x.clone());
    }
    let scores = scorer.scores(&inputs)?;
    let n = scores.len();
    if n < 2 {
        return Ok(scores.first().map_or(0.0, |&s| f64::from(s)));
    }
    let sum: f64 = scores
        .windows(2)
        .map(|w| (f64::from(w[0]) + f64::from(w[1])) / 2.0)
        .sum();
    Ok(sum / (n - 1) as f64)
}

/// Spearman's rank correlation of two equally long lists (average ranks for ties; 0 when either
/// is constant).
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let ra = ranks(a.get(..n).unwrap_or(&[]));
    let rb = ranks(b.get(..n).unwrap_or(&[]));
    let mean = (n as f64 + 1.0) / 2.0;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - mean) * (y - mean);
        va += (x - mean) * (x - mean);
        vb += (y - mean) * (y - mean);
    }
    if va <= 0.0 || vb <= 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

/// 1-based ranks, ties sharing their mean rank.
fn ranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let key = |i: usize| values.get(i).copied().unwrap_or(0.0);
    order.sort_by(|&a, &b| key(a).total_cmp(&key(b)));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && key(order[j + 1]) == key(order[i]) {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in order.get(i..=j).unwrap_or(&[]) {
            if let Some(r) = ranks.get_mut(k) {
                *r = rank;
            }
        }
        i = j + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_matches_scipy() {
        // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) → 0.8207826816681233
        let rho = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]);
        assert!((rho - 0.820_782_681_668_123_3).abs() < 1e-12, "{rho}");
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
    }

    #[test]
    fn tied_values_share_their_mean_rank() {
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 30.0]), vec![1.5, 3.0, 1.5, 4.0]);
    }
}
