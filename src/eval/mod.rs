//! Evaluation: accuracy, confusion matrix, per-class precision/recall/F1, averages, per-sample
//! predictions, the most confident mistakes, and regression metrics.

use serde::Serialize;

/// Precision, recall and F1 of one class (or an average).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// Class name (or "macro avg" / "weighted avg").
    pub class: String,
    /// Of the samples predicted as this class, the fraction that are.
    pub precision: f64,
    /// Of the samples of this class, the fraction found.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Samples of this class.
    pub support: usize,
}

/// The full classification report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassificationReport {
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// Fraction of samples predicted correctly.
    pub accuracy: f64,
    /// `confusion_matrix[true][predicted]` counts.
    pub confusion_matrix: Vec<Vec<usize>>,
    /// One row per class.
    pub per_class: Vec<ClassMetrics>,
    /// Unweighted mean over classes.
    pub macro_avg: ClassMetrics,
    /// Mean weighted by support.
    pub weighted_avg: ClassMetrics,
    /// Number of samples evaluated.
    pub samples: usize,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Builds the report from true and predicted labels (both indices into `classes`).
pub fn classification_report(
    classes: &[String],
    y_true: &[usize],
    y_pred: &[usize],
) -> ClassificationReport {
    let k = classes.len();
    let mut cm = vec![vec![0usize; k]; k];
    for (&t, &p) in y_true.iter().zip(y_pred) {
        if t < k && p < k {
            cm[t][p] += 1;
        }
    }
    let n: usize = cm.iter().flatten().sum();
    let correct: usize = (0..k).map(|i| cm[i][i]).sum();
    let per_class: Vec<ClassMetrics> = (0..k)
        .map(|c| {
            let tp = cm[c][c];
            let predicted: usize = (0..k).map(|t| cm[t][c]).sum();
            let support: usize = cm[c].iter().sum();
            let precision = ratio(tp, predicted);
            let recall = ratio(tp, support);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                class: classes[c].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let avg = |name: &str, weight: &dyn Fn(&ClassMetrics) -> f64| -> ClassMetrics {
        let total: f64 = per_class.iter().map(weight).sum();
        let mean = |f: &dyn Fn(&ClassMetrics) -> f64| -> f64 {
            if total == 0.0 {
                0.0
            } else {
                per_class.iter().map(|m| f(m) * weight(m)).sum::<f64>() / total
            }
        };
        ClassMetrics {
            class: name.to_owned(),
            precision: mean(&|m| m.precision),
            recall: mean(&|m| m.recall),
            f1: mean(&|m| m.f1),
            support: n,
        }
    };
    let macro_avg = avg("macro avg", &|_| 1.0);
    let weighted_avg = avg("weighted avg", &|m| m.support as f64);
    ClassificationReport {
        classes: classes.to_vec(),
        accuracy: ratio(correct, n),
        confusion_matrix: cm,
        per_class,
        macro_avg,
        weighted_avg,
        samples: n,
    }
}

impl ClassificationReport {
    /// A text table like scikit-learn's `classification_report`, plus the confusion matrix.
    pub fn to_text(&self) -> String {
        let w = self
            .classes
            .iter()
            .map(|c| c.chars().count())
            .chain([12])
            .max()
            .unwrap_or(12)
            + 2;
        let mut out = format!(
            "Accuracy: {:.4} ({} samples)\n\n{:<w$}{:>10}{:>10}{:>10}{:>10}\n",
            self.accuracy, self.samples, "", "precision", "recall", "f1", "support"
        );
        for m in self
            .per_class
            .iter()
            .chain([&self.macro_avg, &self.weighted_avg])
        {
            out.push_str(&format!(
                "{:<w$}{:>10.3}{:>10.3}{:>10.3}{:>10}\n",
                m.class, m.precision, m.recall, m.f1, m.support
            ));
        }
        out.push_str("\nConfusion matrix (rows = true class, columns = predicted):\n");
        out.push_str(&format!("{:<w$}", ""));
        for c in 0..self.classes.len() {
            out.push_str(&format!("{c:>6}"));
        }
        out.push('\n');
        for (i, row) in self.confusion_matrix.iter().enumerate() {
            out.push_str(&format!("{:<w$}", format!("{i} {}", self.classes[i])));
            for v in row {
                out.push_str(&format!("{v:>6}"));
            }
            out.push('\n');
        }
        out
    }
}

/// One sample's prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// Index of the sample in its data set.
    pub index: usize,
    /// Its true label, when known.
    pub true_label: Option<usize>,
    /// The predicted label (highest probability).
    pub predicted: usize,
    /// Probability of the predicted label.
    pub confidence: f32,
    /// Probability per class.
    pub probabilities: Vec<f32>,
}

/// Index and value of the largest element (first on ties; NaN never wins).
pub fn argmax(values: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &v) in values.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}

/// Predictions from per-sample probabilities.
pub fn predictions(
    indices: &[usize],
    true_labels: Option<&[usize]>,
    probabilities: Vec<Vec<f32>>,
) -> Vec<Prediction> {
    indices
        .iter()
        .zip(probabilities)
        .map(|(&index, probs)| {
            let (predicted, confidence) = argmax(&probs);
            Prediction {
                index,
                true_label: true_labels.and_then(|t| t.get(index).copied()),
                predicted,
                confidence,
                probabilities: probs,
            }
        })
        .collect()
}

/// The `k` wrong predictions the model was most sure of, most confident first.
pub fn most_confident_mistakes(predictions: &[Prediction], k: usize) -> Vec<Prediction> {
    let mut wrong: Vec<Prediction> = predictions
        .iter()
        .filter(|p| p.true_label.is_some_and(|t| t != p.predicted))
        .cloned()
        .collect();
    wrong.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    wrong.truncate(k);
    wrong
}

/// Regression metrics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegressionReport {
    /// Mean squared error.
    pub mse: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination (1 = perfect, 0 = no better than the mean).
    pub r2: f64,
    /// Number of samples.
    pub samples: usize,
}

/// Regression metrics of predictions against true values.
pub fn regression_report(y_true: &[f64], y_pred: &[f64]) -> RegressionReport {
    let n = y_true.len().min(y_pred.len());
    if n == 0 {
        return RegressionReport {
            mse: 0.0,
            rmse: 0.0,
            mae: 0.0,
            r2: 0.0,
            samples: 0,
        };
    }
    let nf = n as f64;
    let mean = y_true[..n].iter().sum::<f64>() / nf;
    let (mut se, mut ae, mut tot) = (0.0, 0.0, 0.0);
    for (t, p) in y_true[..n].iter().zip(&y_pred[..n]) {
        se += (t - p) * (t - p);
        ae += (t - p).abs();
        tot += (t - mean) * (t - mean);
    }
    let mse = se / nf;
    RegressionReport {
        mse,
        rmse: mse.sqrt(),
        mae: ae / nf,
        r2: if tot > 0.0 { 1.0 - se / tot } else { 0.0 },
        samples: n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        ["cat", "dog", "bird"][..n]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    #[test]
    fn report_matches_hand_computed_values() {
        // true:  cat cat cat dog dog bird bird bird bird
        // pred:  cat cat dog dog cat bird bird cat  dog
        let t = [0, 0, 0, 1, 1, 2, 2, 2, 2];
        let p = [0, 0, 1, 1, 0, 2, 2, 0, 1];
        let r = classification_report(&names(3), &t, &p);
        assert_eq!(
            r.confusion_matrix,
            vec![vec![2, 1, 0], vec![1, 1, 0], vec![1, 1, 2]]
        );
        assert!((r.accuracy - 5.0 / 9.0).abs() < 1e-12);
        let cat = &r.per_class[0];
        assert!((cat.precision - 0.5).abs() < 1e-12); // 2 of 4 predicted cats
        assert!((cat.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((cat.f1 - 4.0 / 7.0).abs() < 1e-12); // 2·0.5·(2/3)/(0.5+2/3)
        let dog = &r.per_class[1];
        assert!((dog.precision - 1.0 / 3.0).abs() < 1e-12);
        assert!((dog.recall - 0.5).abs() < 1e-12);
        assert!((dog.f1 - 0.4).abs() < 1e-12);
        let bird = &r.per_class[2];
        assert!((bird.precision - 1.0).abs() < 1e-12);
        assert!((bird.recall - 0.5).abs() < 1e-12);
        assert_eq!(bird.support, 4);
        let macro_f1 = (4.0 / 7.0 + 0.4 + 2.0 / 3.0) / 3.0;
        assert!((r.macro_avg.f1 - macro_f1).abs() < 1e-12);
        let weighted_recall = (3.0 * (2.0 / 3.0) + 2.0 * 0.5 + 4.0 * 0.5) / 9.0;
        assert!((r.weighted_avg.recall - weighted_recall).abs() < 1e-12);
        assert!((r.weighted_avg.recall - r.accuracy).abs() < 1e-12);
        let text = r.to_text();
        assert!(text.contains("bird") && text.contains("Confusion matrix"));
    }

    #[test]
    fn a_class_never_predicted_has_zero_precision_not_nan() {
        let r = classification_report(&names(2), &[0, 1], &[0, 0]);
        assert_eq!(r.per_class[1].precision, 0.0);
        assert_eq!(r.per_class[1].f1, 0.0);
    }

    #[test]
    fn confident_mistakes_are_sorted() {
        let preds = predictions(
            &[0, 1, 2, 3],
            Some(&[0, 1, 1, 0]),
            vec![
                vec![0.9, 0.1],
                vec![0.8, 0.2],
                vec![0.6, 0.4],
                vec![0.3, 0.7],
            ],
        );
        let m = most_confident_mistakes(&preds, 5);
        assert_eq!(m.iter().map(|p| p.index).collect::<Vec<_>>(), vec![1, 3, 2]);
    }

    #[test]
    fn regression_metrics_by_hand() {
        let r = regression_report(&[1.0, 2.0, 3.0, 4.0], &[1.5, 2.0, 2.0, 5.0]);
        assert!((r.mse - (0.25 + 0.0 + 1.0 + 1.0) / 4.0).abs() < 1e-12);
        assert!((r.mae - 2.5 / 4.0).abs() < 1e-12);
        assert!((r.r2 - (1.0 - 2.25 / 5.0)).abs() < 1e-12);
        assert!((r.rmse - 0.5625f64.sqrt()).abs() < 1e-12);
    }
}
