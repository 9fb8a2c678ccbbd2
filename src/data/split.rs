//! Stratified, seeded train/validation/test split.

use rand::{seq::SliceRandom, SeedableRng};

/// Indices of the samples in each part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Used to fit the weights.
    pub train: Vec<usize>,
    /// Used to watch for overfitting and pick the best epoch.
    pub val: Vec<usize>,
    /// Held back for the final evaluation.
    pub test: Vec<usize>,
}

/// Splits each class separately so every part keeps the class proportions. The same inputs and
/// seed always give the same split. A class with at least 3 images keeps at least one in
/// training, and gets one in validation/test whenever the fraction asks for any.
pub fn stratified_split(
    labels: &[usize],
    val_fraction: f32,
    test_fraction: f32,
    seed: u64,
) -> Split {
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut split = Split::default();
    for class in 0..classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        let n = members.len();
        let take = |fraction: f32| -> usize {
            if fraction <= 0.0 || n < 3 {
                0
            } else {
                ((n as f32 * fraction).round() as usize).max(1)
            }
        };
        let n_test = take(test_fraction).min(n.saturating_sub(1));
        let n_val = take(val_fraction).min(n.saturating_sub(1 + n_test));
        split.test.extend_from_slice(&members[..n_test]);
        split
            .val
            .extend_from_slice(&members[n_test..n_test + n_val]);
        split.train.extend_from_slice(&members[n_test + n_val..]);
    }
    split.train.sort_unstable();
    split.val.sort_unstable();
    split.test.sort_unstable();
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stratified_disjoint_and_repeatable() {
        let labels: Vec<usize> = (0..300).map(|i| if i < 200 { 0 } else { 1 }).collect();
        let a = stratified_split(&labels, 0.1, 0.2, 7);
        let b = stratified_split(&labels, 0.1, 0.2, 7);
        assert_eq!(a, b);
        assert_eq!(a.test.len(), 40 + 20);
        assert_eq!(a.val.len(), 20 + 10);
        assert_eq!(a.train.len(), 300 - 60 - 30);
        assert_eq!(a.test.iter().filter(|&&i| labels[i] == 1).count(), 20);
        let mut all: Vec<usize> = a
            .train
            .iter()
            .chain(&a.val)
            .chain(&a.test)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..300).collect::<Vec<_>>());
        let c = stratified_split(&labels, 0.1, 0.2, 8);
        assert_ne!(a.test, c.test);
    }

    #[test]
    fn tiny_classes_stay_in_training() {
        let labels = vec![0, 0, 1, 1, 1];
        let s = stratified_split(&labels, 0.5, 0.5, 0);
        assert!(s.train.contains(&0) && s.train.contains(&1));
        assert_eq!(s.train.len() + s.val.len() + s.test.len(), 5);
        assert!(s.train.iter().any(|&i| labels[i] == 1));
    }
}
