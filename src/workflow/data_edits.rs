//! The data audit's choices applied on import: samples left out and samples given another class,
//! named by a key that survives re-importing (the file relative to the data folder, or the line
//! of a CSV). The split is drawn on all samples with their original classes first and the edits
//! applied after, so leaving one sample out never moves any other sample between training,
//! validation and test.

use crate::data::{ClassCount, ImportReport, Split};
use crate::project::SampleEdits;

/// Which samples stay and the class of each (before leaving any out).
pub(super) struct Plan {
    /// Per sample: whether it stays.
    pub keep: Vec<bool>,
    /// Per sample: its class after relabelling.
    pub labels: Vec<usize>,
    /// Samples left out.
    pub excluded: usize,
    /// Samples relabelled.
    pub relabeled: usize,
}

impl Plan {
    /// Whether anything changes.
    pub fn changes_anything(&self) -> bool {
        self.excluded > 0 || self.relabeled > 0
    }

    /// Keeps the elements of a per-sample list whose sample stays.
    pub fn filter<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .zip(&self.keep)
            .filter_map(|(item, &keep)| keep.then_some(item))
            .collect()
    }

    /// The kept samples' classes.
    pub fn kept_labels(&self) -> Vec<usize> {
        self.filter(self.labels.clone())
    }

    /// The split with the left-out samples removed and the others renumbered.
    pub fn split(&self, split: &Split) -> Split {
        let mut new_index = Vec::with_capacity(self.keep.len());
        let mut next = 0;
        for &keep in &self.keep {
            new_index.push(keep.then_some(next));
            next += usize::from(keep);
        }
        let remap = |part: &[usize]| -> Vec<usize> {
            part.iter()
                .filter_map(|&i| new_index.get(i).copied().flatten())
                .collect()
        };
        Split {
            train: remap(&split.train),
            val: remap(&split.val),
            test: remap(&split.test),
        }
    }

    /// Says in the import report what was applied, with the class counts after it.
    pub fn report(&self, report: &mut ImportReport, classes: &[String]) {
        if !self.changes_anything() {
            return;
        }
        let kept = self.kept_labels();
        report.samples = kept.len();
        if !report.classes.is_empty() {
            report.classes = classes
                .iter()
                .enumerate()
                .map(|(c, name)| ClassCount {
                    name: name.clone(),
                    count: kept.iter().filter(|&&l| l == c).count(),
                })
                .collect();
        }
        report.warnings.push(format!(
            "{} sample(s) left out and {} relabelled as chosen in the data check (the files are \
             unchanged)",
            self.excluded, self.relabeled
        ));
    }
}

/// Applies `edits` to samples with these keys and classes. A relabelling to a class the data
/// does not have is ignored.
pub(super) fn plan(
    edits: &SampleEdits,
    keys: &[String],
    labels: &[usize],
    classes: &[String],
) -> Plan {
    let mut plan = Plan {
        keep: vec![true; keys.len()],
        labels: labels.to_vec(),
        excluded: 0,
        relabeled: 0,
    };
    if edits.is_empty() {
        return plan;
    }
    for (i, key) in keys.iter().enumerate() {
        if edits.excluded.contains(key) {
            if let Some(k) = plan.keep.get_mut(i) {
                *k = false;
                plan.excluded += 1;
            }
            continue;
        }
        let new_class = edits
            .relabeled
            .get(key)
            .and_then(|name| classes.iter().position(|c| c == name));
        if let (Some(c), Some(l)) = (new_class, plan.labels.get_mut(i)) {
            if *l != c {
                *l = c;
                plan.relabeled += 1;
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::sample_key;
    use std::path::Path;

    #[test]
    fn keys_are_relative_to_the_data_folder() {
        let root = Path::new("/data/shapes");
        assert_eq!(
            sample_key(root, "/data/shapes/circle/c1.png"),
            "circle/c1.png"
        );
        assert_eq!(sample_key(root, "line 12"), "line 12");
        assert_eq!(sample_key(root, "/elsewhere/x.png"), "/elsewhere/x.png");
    }

    #[test]
    fn leaving_out_keeps_every_other_sample_in_its_split() {
        let mut edits = SampleEdits::default();
        edits.excluded.insert("b".into());
        edits.relabeled.insert("c".into(), "dog".into());
        edits.relabeled.insert("d".into(), "unicorn".into());
        let keys: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let classes = vec!["cat".to_owned(), "dog".to_owned()];
        let plan = plan(&edits, &keys, &[0, 0, 0, 1], &classes);
        assert_eq!(plan.keep, [true, false, true, true]);
        assert_eq!(plan.kept_labels(), [0, 1, 1]);
        assert_eq!((plan.excluded, plan.relabeled), (1, 1));
        let split = Split {
            train: vec![0, 3],
            val: vec![1],
            test: vec![2],
        };
        let after = plan.split(&split);
        assert_eq!(after.train, [0, 2]);
        assert!(after.val.is_empty());
        assert_eq!(after.test, [1]);
    }
}
