//! The table of a project's runs that both front ends show (`strata runs`, the Train screen):
//! scores, time, size, and the settings that differ from run to run.

use std::path::{Path, PathBuf};

use crate::engine::runs::RunSummary;
use crate::project::{OptimizerKind, Task};

/// One run as a row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// The run's folder name.
    pub id: String,
    /// The run folder.
    pub dir: PathBuf,
    /// Finished, interrupted, trained elsewhere.
    pub status: String,
    /// Epochs trained.
    pub epochs: usize,
    /// Epochs the run was set to train.
    pub planned_epochs: usize,
    /// Accuracy or R².
    pub task: Task,
    /// The best epoch's validation score (the epoch with the lowest validation loss).
    pub best_val: Option<f64>,
    /// That epoch.
    pub best_epoch: Option<usize>,
    /// Its validation loss.
    pub best_val_loss: Option<f64>,
    /// The score on the test split, once evaluated.
    pub test: Option<f64>,
    /// Seconds of training.
    pub seconds: Option<f64>,
    /// Size of the model's weights file.
    pub model_bytes: Option<u64>,
    /// Settings in words, by name (the same names in every row).
    pub settings: Vec<(&'static str, String)>,
    /// Whether this run is the project's model.
    pub is_model: bool,
    /// What the run is, in words, when it was named (automatic training's candidates).
    pub label: Option<String>,
}

/// What the table is sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    /// Newest first.
    #[default]
    Newest,
    /// Best validation score first.
    Validation,
    /// Best test score first (runs not evaluated last).
    Test,
    /// Quickest first.
    Time,
    /// Smallest model first.
    Size,
}

fn optimizer_words(kind: OptimizerKind) -> &'static str {
    match kind {
        OptimizerKind::Sgd => "SGD",
        OptimizerKind::Momentum => "SGD + momentum",
        OptimizerKind::Adam => "Adam",
        OptimizerKind::AdamW => "AdamW",
    }
}

/// 56714 → "56,714".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The table's rows for `runs` (as `list_runs` gives them); `model` is the project's model run.
pub fn run_rows(runs: &[RunSummary], model: Option<&Path>) -> Vec<RunRow> {
    runs.iter()
        .map(|run| {
            let t = &run.manifest.training;
            let best = run.best_epoch();
            let status = if run.manifest.imported_from.is_some() {
                "trained elsewhere".to_owned()
            } else if let Some(epoch) = run.resumable_after {
                format!("interrupted at epoch {epoch} of {}", t.epochs)
            } else if run.manifest.finished {
                "finished".to_owned()
            } else {
                "stopped".to_owned()
            };
            let aug = run
                .manifest
                .data
                .augmentation
                .is_active_for(run.manifest.data.kind());
            RunRow {
                id: run.manifest.run_id.clone(),
                dir: run.dir.clone(),
                status,
                epochs: run.history.len(),
                planned_epochs: t.epochs,
                task: run.manifest.data.task(),
                best_val: best.and_then(|b| b.val_accuracy),
                best_epoch: best.map(|b| b.epoch),
                best_val_loss: best.and_then(|b| b.val_loss),
                test: run.test.as_ref().map(|s| s.score),
                seconds: run.history.last().map(|m| m.elapsed_secs),
                model_bytes: run.model_bytes,
                settings: vec![
                    (
                        "model",
                        run.model_size.map_or_else(
                            || "—".to_owned(),
                            |(layers, weights)| {
                                let kinds = if run.model_kinds.is_empty() {
                                    String::new()
                                } else {
                                    format!(" ({})", run.model_kinds.join(", "))
                                };
                                format!("{layers} layers{kinds}, {} weights", thousands(weights))
                            },
                        ),
                    ),
                    ("optimizer", optimizer_words(t.optimizer).to_owned()),
                    ("learning rate", t.lr.to_string()),
                    ("batch", t.batch_size.to_string()),
                    ("epochs", t.epochs.to_string()),
                    (
                        "learning rate decay",
                        if t.lr_decay { "cosine" } else { "off" }.to_owned(),
                    ),
                    ("L1", t.l1.to_string()),
                    ("L2", t.l2.to_string()),
                    (
                        "early stopping",
                        t.early_stopping_patience
                            .map_or_else(|| "off".to_owned(), |p| format!("after {p}")),
                    ),
                    ("augmentation", if aug { "on" } else { "off" }.to_owned()),
                    (
                        "learns from",
                        if t.learn_from_validation {
                            "training + validation"
                        } else {
                            "training"
                        }
                        .to_owned(),
                    ),
                    (
                        "privacy",
                        run.manifest
                            .privacy
                            .as_ref()
                            .map_or_else(|| "off".to_owned(), |p| format!("ε {:.2}", p.epsilon)),
                    ),
                    ("seed", t.seed.to_string()),
                ],
                is_model: model.is_some_and(|m| m == run.dir),
                label: run.manifest.label.clone(),
            }
        })
        .collect()
}

/// The settings whose values are not the same in every row.
pub fn differing_settings(rows: &[RunRow]) -> Vec<&'static str> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    first
        .settings
        .iter()
        .enumerate()
        .filter(|(i, (_, value))| {
            rows.iter()
                .any(|r| r.settings.get(*i).is_some_and(|(_, v)| v != value))
        })
        .map(|(_, (name, _))| *name)
        .collect()
}

/// Sorts the rows (best first for scores; missing values last).
pub fn sort_rows(rows: &mut [RunRow], by: SortBy) {
    let desc = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => b.total_cmp(&a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    };
    match by {
        SortBy::Newest => rows.sort_by(|a, b| b.id.cmp(&a.id)),
        SortBy::Validation => rows.sort_by(|a, b| desc(a.best_val, b.best_val)),
        SortBy::Test => rows.sort_by(|a, b| desc(a.test, b.test)),
        SortBy::Time => rows.sort_by(|a, b| desc(b.seconds, a.seconds)),
        SortBy::Size => rows.sort_by(|a, b| {
            desc(
                b.model_bytes.map(|v| v as f64),
                a.model_bytes.map(|v| v as f64),
            )
        }),
    }
}

/// A row as JSON (`strata runs --json`).
pub fn row_json(row: &RunRow) -> serde_json::Value {
    let settings: serde_json::Map<String, serde_json::Value> = row
        .settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "run": row.id,
        "label": row.label,
        "dir": row.dir,
        "status": row.status,
        "epochs": row.epochs,
        "score": row.task.score_name(),
        "best_val_score": row.best_val,
        "best_epoch": row.best_epoch,
        "best_val_loss": row.best_val_loss,
        "test_score": row.test,
        "seconds": row.seconds,
        "model_bytes": row.model_bytes,
        "settings": settings,
        "is_model": row.is_model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, val: Option<f64>, lr: &str) -> RunRow {
        RunRow {
            id: id.to_owned(),
            dir: PathBuf::from(id),
            status: "finished".to_owned(),
            epochs: 3,
            planned_epochs: 3,
            task: Task::Classify,
            best_val: val,
            best_epoch: Some(2),
            best_val_loss: Some(0.5),
            test: None,
            seconds: Some(1.0),
            model_bytes: Some(10),
            settings: vec![
                ("optimizer", "Adam".to_owned()),
                ("learning rate", lr.to_owned()),
            ],
            is_model: false,
            label: None,
        }
    }

    #[test]
    fn only_the_settings_that_differ_are_named() {
        let rows = [row("a", Some(0.9), "0.001"), row("b", Some(0.8), "0.01")];
        assert_eq!(differing_settings(&rows), ["learning rate"]);
        let same = [row("a", Some(0.9), "0.001"), row("b", None, "0.001")];
        assert!(differing_settings(&same).is_empty());
    }

    #[test]
    fn sorting_puts_the_best_first_and_missing_scores_last() {
        let mut rows = vec![
            row("run-1", Some(0.7), "1"),
            row("run-2", None, "1"),
            row("run-3", Some(0.9), "1"),
        ];
        sort_rows(&mut rows, SortBy::Validation);
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["run-3", "run-1", "run-2"]);
        sort_rows(&mut rows, SortBy::Newest);
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["run-3", "run-2", "run-1"]);
        assert_eq!(thousands(56_714), "56,714");
        assert_eq!(thousands(999), "999");
    }
}
