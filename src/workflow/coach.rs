//! What the curves mean, in plain words, for both front ends: the coach line under the curves (and
//! at the end of `strata train`) and the line that sums up a finished run. The score's name comes
//! from the task ([`Task::score_name`]): accuracy for classes, R² for numbers.

use crate::engine::EpochMetrics;
use crate::project::Task;

impl Task {
    /// The accuracy-like score's name: "accuracy" for classes, "R²" for numbers.
    pub fn score_name(self) -> &'static str {
        match self {
            Self::Classify => "accuracy",
            Self::Regress => "R²",
        }
    }

    /// Its short name for progress lines: "acc" or "R²".
    pub fn score_short(self) -> &'static str {
        match self {
            Self::Classify => "acc",
            Self::Regress => "R²",
        }
    }

    /// A score as people read it: "81%" for accuracy, "0.81" for R².
    pub fn format_score(self, value: f64) -> String {
        match self {
            Self::Classify => format!("{:.0}%", value * 100.0),
            Self::Regress => format!("{value:.2}"),
        }
    }
}

/// A plain-words reading of the curves, or None when there is nothing to say yet.
pub fn coach_line(history: &[EpochMetrics], task: Task) -> Option<String> {
    let score = task.score_name();
    let percent = |v: f64| task.format_score(v);
    let last = history.last()?;
    let rising = history
        .windows(2)
        .rev()
        .take_while(|w| match (w[0].val_loss, w[1].val_loss) {
            (Some(a), Some(b)) => b > a,
            _ => false,
        })
        .count();
    let train_falling = history.len() >= 2
        && history[history.len() - 1].train_loss
            < history[history.len() - 1 - rising.min(history.len() - 1)].train_loss;
    if rising >= 2 && train_falling {
        return Some(format!(
            "Validation loss has risen for {rising} epochs while training loss falls: the model is overfitting — it memorises the training examples. Try dropout, L2, augmentation or early stopping; the best epoch's weights are kept anyway."
        ));
    }
    if history.len() >= 3
        && last.train_accuracy < 0.5
        && history[0].train_loss - last.train_loss < 0.05 * history[0].train_loss
    {
        return Some("The loss hardly moves: the model is not learning yet. Try a larger learning rate, more epochs, or a bigger model.".to_owned());
    }
    if let (Some(va), true) = (last.val_accuracy, history.len() >= 2) {
        if last.train_accuracy > 0.98 && va < last.train_accuracy - 0.1 {
            return Some(format!(
                "Training {score} is {} but validation only {}: the model fits the training examples much better than new ones (overfitting). More data, augmentation or dropout help.",
                percent(last.train_accuracy),
                percent(va)
            ));
        }
        if rising == 0 && last.train_loss < history[0].train_loss {
            return Some(format!(
                "Learning well: validation {score} {} after {} epoch(s).",
                percent(va),
                last.epoch
            ));
        }
    }
    None
}

/// The line that sums up a finished run: its best epoch and score, in the task's words.
pub fn finish_line(epochs_run: usize, best_epoch: usize, best_score: f64, task: Task) -> String {
    let score = match task {
        Task::Classify => format!("{:.1}% validation accuracy", best_score * 100.0),
        Task::Regress => format!("a validation R² of {best_score:.3}"),
    };
    format!(
        "Training finished: {epochs_run} epoch(s); the best was epoch {best_epoch} with {score}. Open Evaluate to see where it is wrong."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(
        epoch: usize,
        train_loss: f64,
        train_accuracy: f64,
        val_loss: f64,
        val_accuracy: f64,
    ) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss,
            train_accuracy,
            val_loss: Some(val_loss),
            val_accuracy: Some(val_accuracy),
            samples_per_sec: 100.0,
            elapsed_secs: epoch as f64,
            epsilon: None,
        }
    }

    #[test]
    fn coach_sees_overfitting() {
        let history = [
            epoch(1, 1.0, 0.6, 0.9, 0.65),
            epoch(2, 0.6, 0.8, 0.7, 0.75),
            epoch(3, 0.4, 0.9, 0.75, 0.74),
            epoch(4, 0.2, 0.95, 0.85, 0.73),
            epoch(5, 0.1, 0.99, 0.95, 0.72),
        ];
        let line = coach_line(&history, Task::Classify).unwrap();
        assert!(line.contains("risen for 3 epochs"), "{line}");
        assert!(line.contains("overfitting"), "{line}");
    }

    #[test]
    fn coach_sees_no_learning_and_good_progress() {
        let flat = [
            epoch(1, 2.30, 0.10, 2.30, 0.10),
            epoch(2, 2.30, 0.11, 2.30, 0.10),
            epoch(3, 2.29, 0.10, 2.30, 0.10),
        ];
        assert!(coach_line(&flat, Task::Classify)
            .unwrap()
            .contains("not learning"));
        let good = [epoch(1, 1.0, 0.6, 0.9, 0.65), epoch(2, 0.6, 0.8, 0.7, 0.81)];
        assert!(coach_line(&good, Task::Classify)
            .unwrap()
            .contains("Learning well: validation accuracy 81%"));
        assert!(coach_line(&[], Task::Classify).is_none());
    }

    #[test]
    fn finish_line_names_the_tasks_score() {
        let classify = finish_line(10, 7, 0.81, Task::Classify);
        assert!(classify.contains("81.0% validation accuracy"), "{classify}");
        let regress = finish_line(10, 7, 0.81, Task::Regress);
        assert!(regress.contains("R² of 0.810"), "{regress}");
        assert!(!regress.contains('%'), "{regress}");
    }
}
