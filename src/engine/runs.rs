//! The files of a run: `<project>.runs/<run-id>/` with the settings snapshot, metrics history and
//! the best and last checkpoints.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::events::EpochMetrics;
use super::network::{Network, NetworkError};
use crate::files::atomic_write;
use crate::model::Graph;
use crate::project::{DataSettings, Project, TrainingSettings};

/// Sub-folder of the best checkpoint.
pub const BEST_DIR: &str = "best";
/// Sub-folder of the last checkpoint.
pub const LAST_DIR: &str = "last";
/// Weights file inside a checkpoint folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Graph file inside a checkpoint folder.
pub const GRAPH_FILE: &str = "model.json";
/// Run description file.
pub const MANIFEST_FILE: &str = "run.json";
/// Metrics history file.
pub const METRICS_FILE: &str = "metrics.csv";
/// The run's score on the project's test split, once evaluated.
pub const TEST_FILE: &str = "test.json";

/// What a run was trained on and how; everything needed to use its model later.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunManifest {
    /// The run's folder name.
    pub run_id: String,
    /// When it started (seconds since 1970, UTC).
    pub started_unix_secs: u64,
    /// Class names, in output order.
    pub classes: Vec<String>,
    /// Tables: how rows are encoded and outputs decoded (absent for images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<crate::data::TableSchema>,
    /// Texts: the vocabulary and sequence length the model reads (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<crate::data::Vocabulary>,
    /// Data settings used (image size, channels…).
    pub data: DataSettings,
    /// Training settings used.
    pub training: TrainingSettings,
    /// The device used.
    pub device: String,
    /// Samples in each split: train, validation, test.
    pub split_sizes: [usize; 3],
    /// Whether the run ended normally (all its epochs, or stopped early by design). A run that
    /// was killed, crashed or stopped by the user is not finished and can be resumed.
    #[serde(default)]
    pub finished: bool,
    /// For a run trained elsewhere and added with `strata import-run`: the weights file it came
    /// from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<PathBuf>,
    /// For an image generator's run: the generator trained (its graph, noise size, whether it is
    /// told the class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<crate::project::GeneratorSettings>,
    /// With differential privacy: the guarantee the run gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<super::privacy::PrivacyReport>,
    /// What the run is, in words, when whoever started it named it (automatic training: the
    /// candidate, "text-bow, learning rate 0.01").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl RunManifest {
    /// A new run's description: classes and encoders from `dataset`, the project's data and
    /// training settings, the device used and the split sizes; not finished yet.
    pub fn new(
        run_id: String,
        dataset: &crate::data::Dataset,
        project: &Project,
        device: String,
        split_sizes: [usize; 3],
    ) -> Self {
        Self {
            run_id,
            started_unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            classes: dataset.classes().to_vec(),
            table: dataset.table().map(|t| t.schema.clone()),
            text: dataset.texts().map(|t| t.vocab.clone()),
            data: project.data.clone(),
            training: project.training.clone(),
            device,
            split_sizes,
            finished: false,
            imported_from: None,
            generator: None,
            privacy: None,
            label: None,
        }
    }
}

/// Creates a new, uniquely named run folder under `runs_dir`.
pub fn create_run_dir(runs_dir: &Path) -> std::io::Result<(String, PathBuf)> {
    fs::create_dir_all(runs_dir)?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let base = format!("run-{}", utc_stamp(secs));
    for n in 0..1000 {
        let id = if n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = runs_dir.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(
        "too many runs started in the same second",
    ))
}

/// `YYYYMMDD-HHMMSS` in UTC.
pub fn utc_stamp(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Writes a checkpoint (weights + graph) into `run_dir/<sub>/`.
pub fn save_checkpoint(net: &Network, run_dir: &Path, sub: &str) -> Result<PathBuf, NetworkError> {
    let dir = run_dir.join(sub);
    let io = |e: std::io::Error| {
        NetworkError::Weights(format!(
            "could not write checkpoint in '{}': {e}",
            dir.display()
        ))
    };
    fs::create_dir_all(&dir).map_err(io)?;
    let weights = dir.join(WEIGHTS_FILE);
    net.save(&weights)?;
    let graph = serde_json::to_string_pretty(net.graph())
        .map_err(|e| NetworkError::Weights(e.to_string()))?;
    atomic_write(&dir.join(GRAPH_FILE), graph.as_bytes()).map_err(io)?;
    Ok(weights)
}

/// Why a run's metrics file could not be read (missing, damaged), in words for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MetricsError(pub String);

/// Reads a run's description.
pub fn read_manifest(run_dir: &Path) -> Result<RunManifest, NetworkError> {
    let path = run_dir.join(MANIFEST_FILE);
    let text = fs::read_to_string(&path)
        .map_err(|e| NetworkError::Weights(format!("could not read '{}': {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        NetworkError::Weights(format!(
            "the run description in '{}' is damaged: {e}",
            run_dir.display()
        ))
    })
}

/// Writes a run's description (atomically).
pub fn write_manifest(run_dir: &Path, manifest: &RunManifest) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(manifest).map_err(std::io::Error::other)?;
    atomic_write(&run_dir.join(MANIFEST_FILE), json.as_bytes())
}

/// Writes the metrics history as CSV.
pub fn write_metrics(run_dir: &Path, history: &[EpochMetrics]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "samples_per_sec",
        "elapsed_secs",
        "epsilon",
    ])
    .map_err(std::io::Error::other)?;
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for m in history {
        w.write_record([
            m.epoch.to_string(),
            m.train_loss.to_string(),
            m.train_accuracy.to_string(),
            opt(m.val_loss),
            opt(m.val_accuracy),
            format!("{:.1}", m.samples_per_sec),
            format!("{:.3}", m.elapsed_secs),
            opt(m.epsilon),
        ])
        .map_err(std::io::Error::other)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    atomic_write(&run_dir.join(METRICS_FILE), &bytes)
}

/// Reads a run's metrics history back (the inverse of [`write_metrics`]).
pub fn read_metrics(run_dir: &Path) -> Result<Vec<EpochMetrics>, MetricsError> {
    read_metrics_text(run_dir).map_err(MetricsError)
}

fn read_metrics_text(run_dir: &Path) -> Result<Vec<EpochMetrics>, String> {
    let path = run_dir.join(METRICS_FILE);
    let mut reader = csv::Reader::from_path(&path)
        .map_err(|e| format!("could not read '{}': {e}", path.display()))?;
    let mut out = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("'{}' is damaged: {e}", path.display()))?;
        let num = |i: usize| -> Option<f64> { record.get(i).and_then(|v| v.parse().ok()) };
        let bad = || format!("'{}' line {} is damaged", path.display(), line + 2);
        out.push(EpochMetrics {
            epoch: num(0).ok_or_else(bad)? as usize,
            train_loss: num(1).ok_or_else(bad)?,
            train_accuracy: num(2).ok_or_else(bad)?,
            val_loss: num(3),
            val_accuracy: num(4),
            samples_per_sec: num(5).unwrap_or(0.0),
            elapsed_secs: num(6).unwrap_or(0.0),
            epsilon: num(7),
        });
    }
    Ok(out)
}

/// A finished or stopped run of a project, as listed to the user.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The run folder.
    pub dir: PathBuf,
    /// What it was trained with.
    pub manifest: RunManifest,
    /// Its epochs.
    pub history: Vec<EpochMetrics>,
    /// Whether it has a best checkpoint (so it can be evaluated and used).
    pub has_model: bool,
    /// For a run that was interrupted (killed, crashed or stopped) and can continue: the
    /// epochs it finished.
    pub resumable_after: Option<usize>,
    /// Its score on the test split, once evaluated.
    pub test: Option<TestScore>,
    /// Size of its best weights file in bytes.
    pub model_bytes: Option<u64>,
    /// Its model's layers and weights, from the saved graph.
    pub model_size: Option<(usize, usize)>,
    /// Its model's kinds of layer in graph order, each once, without the input ("Embedding,
    /// GlobalAvgPool, Dense"): what tells one candidate's model from another's in the runs table.
    pub model_kinds: Vec<&'static str>,
}

/// A run's score on the project's test split (accuracy, or R² for numbers).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestScore {
    /// Accuracy or R².
    pub score: f64,
    /// Samples evaluated.
    pub samples: usize,
}

/// Keeps a run's test score next to it (for the runs table).
pub fn write_test_score(run_dir: &Path, score: &TestScore) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(score).map_err(std::io::Error::other)?;
    atomic_write(&run_dir.join(TEST_FILE), text.as_bytes())
}

/// A run's test score, when it was evaluated and the file is readable.
pub fn read_test_score(run_dir: &Path) -> Option<TestScore> {
    serde_json::from_str(&fs::read_to_string(run_dir.join(TEST_FILE)).ok()?).ok()
}

impl RunSummary {
    /// The epoch with the lowest validation loss (training loss without validation).
    pub fn best_epoch(&self) -> Option<&EpochMetrics> {
        self.history.iter().min_by(|a, b| {
            let key = |m: &EpochMetrics| m.val_loss.unwrap_or(m.train_loss);
            key(a).total_cmp(&key(b))
        })
    }
}

/// Every run of the project at `project_path` with a readable description, newest first.
pub fn list_runs(project_path: &Path) -> Vec<RunSummary> {
    let Ok(entries) = fs::read_dir(Project::runs_dir(project_path)) else {
        return Vec::new();
    };
    let mut runs: Vec<RunSummary> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|dir| {
            let text = fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
            let manifest: RunManifest = serde_json::from_str(&text).ok()?;
            let history = read_metrics(&dir).unwrap_or_default();
            let has_model = dir.join(BEST_DIR).join(WEIGHTS_FILE).is_file();
            let resumable_after = if manifest.finished {
                None
            } else {
                super::resume::read_state(&dir)
                    .map(|s| s.epoch)
                    .filter(|&e| e < manifest.training.epochs)
            };
            let model_bytes = fs::metadata(dir.join(BEST_DIR).join(WEIGHTS_FILE))
                .ok()
                .map(|m| m.len());
            let test = read_test_score(&dir);
            let graph = fs::read_to_string(dir.join(BEST_DIR).join(GRAPH_FILE))
                .ok()
                .and_then(|t| serde_json::from_str::<Graph>(&t).ok());
            let model_size = graph
                .as_ref()
                .and_then(|g| g.validate().ok().map(|c| (g.nodes.len(), c.total_params())));
            let mut model_kinds: Vec<&'static str> = Vec::new();
            for node in graph.iter().flat_map(|g| &g.nodes) {
                let kind = node.layer.kind_label();
                if kind != "Input" && !model_kinds.contains(&kind) {
                    model_kinds.push(kind);
                }
            }
            Some(RunSummary {
                dir,
                manifest,
                history,
                has_model,
                resumable_after,
                test,
                model_bytes,
                model_size,
                model_kinds,
            })
        })
        .collect();
    runs.sort_by(|a, b| b.dir.cmp(&a.dir));
    runs
}

/// Cleans up after a crash or `kill -9` of an earlier Strata: the temporary files of writes it
/// did not finish (next to the project file and in its runs) and run folders it created but
/// never wrote into. Returns a note for the user when something was removed.
pub fn tidy_after_crash(project_path: &Path) -> Option<String> {
    let base = match project_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let runs_dir = Project::runs_dir(project_path);
    let files =
        crate::files::remove_leftovers(&base, 0) + crate::files::remove_leftovers(&runs_dir, 2);
    let mut empty = 0;
    if let Ok(entries) = fs::read_dir(&runs_dir) {
        for dir in entries.flatten().map(|e| e.path()) {
            // An empty folder is removed only once it has stayed empty for a minute: a run that
            // is starting right now in another Strata is left alone.
            let stale = fs::metadata(&dir)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 60);
            if stale && fs::remove_dir(&dir).is_ok() {
                empty += 1;
            }
        }
    }
    let mut parts = Vec::new();
    if files > 0 {
        parts.push(format!(
            "removed {files} half-written file(s) left by an interrupted save"
        ));
    }
    if empty > 0 {
        parts.push(format!(
            "removed {empty} empty run folder(s) of runs that never started"
        ));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "Strata was stopped while writing last time: {}. Nothing that was saved is lost.",
            parts.join(" and ")
        )
    })
}

/// The newest run of the project at `project_path` that has a best checkpoint.
pub fn latest_run(project_path: &Path) -> Option<PathBuf> {
    newest_run_where(project_path, has_classifier)
}

/// Whether the run folder holds a trained classifier or predictor (its best checkpoint).
fn has_classifier(dir: &Path) -> bool {
    dir.join(BEST_DIR).join(WEIGHTS_FILE).is_file() && dir.join(MANIFEST_FILE).is_file()
}

/// Whether the run folder holds a trained image generator.
fn has_generator(dir: &Path) -> bool {
    dir.join(super::gan::GENERATOR_FILE).is_file() && dir.join(MANIFEST_FILE).is_file()
}

/// The newest run folder of the project for which `has_model` holds.
fn newest_run_where(project_path: &Path, has_model: fn(&Path) -> bool) -> Option<PathBuf> {
    let runs = Project::runs_dir(project_path);
    let mut dirs: Vec<PathBuf> = fs::read_dir(&runs)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| has_model(p))
        .collect();
    dirs.sort();
    dirs.pop()
}

/// The project's model: the run chosen in the project (`model_run`) when it still has a model,
/// otherwise the newest run that has one. For an image generator, a run with a generator.
pub fn model_run(project_path: &Path, project: &Project) -> Option<PathBuf> {
    let has_model = if project.generator.is_some() {
        has_generator
    } else {
        has_classifier
    };
    project
        .model_run
        .as_ref()
        .map(|id| Project::runs_dir(project_path).join(id))
        .filter(|dir| has_model(dir))
        .or_else(|| newest_run_where(project_path, has_model))
}

/// A trained model ready to predict: network plus what it was trained on.
pub struct TrainedModel {
    /// The network with the best weights.
    pub network: Network,
    /// The run description.
    pub manifest: RunManifest,
}

impl TrainedModel {
    /// Loads the best checkpoint of a run.
    pub fn load(run_dir: &Path, device: &Device) -> Result<Self, NetworkError> {
        let read = |name: &str| -> Result<String, NetworkError> {
            let path = run_dir.join(name);
            fs::read_to_string(&path).map_err(|e| {
                NetworkError::Weights(format!("could not read '{}': {e}", path.display()))
            })
        };
        let manifest = read_manifest(run_dir)?;
        let graph_path = format!("{BEST_DIR}/{GRAPH_FILE}");
        let graph: Graph = serde_json::from_str(&read(&graph_path)?).map_err(|e| {
            NetworkError::Weights(format!(
                "the saved model graph in '{}' is damaged: {e}",
                run_dir.display()
            ))
        })?;
        let network = Network::load(&graph, &run_dir.join(BEST_DIR).join(WEIGHTS_FILE), device)?;
        let regression = manifest
            .table
            .as_ref()
            .is_some_and(|t| t.task == crate::project::Task::Regress);
        let outputs = if regression {
            1
        } else {
            manifest.classes.len()
        };
        if network.checked().output_shape() != [outputs] {
            return Err(NetworkError::Weights(format!(
                "the run in '{}' is inconsistent: the model gives {} outputs but {}",
                run_dir.display(),
                network.checked().output_shape().iter().product::<usize>(),
                if regression {
                    "it predicts one number".to_owned()
                } else {
                    format!("{} classes are listed", manifest.classes.len())
                }
            )));
        }
        Ok(Self { network, manifest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamp_matches_known_dates() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        // 2026-11-29 08:48:58 UTC
        assert_eq!(utc_stamp(1_795_942_138), "20261129-084858");
        // 2000-02-29 23:59:59 UTC (leap day)
        assert_eq!(utc_stamp(951_868_799), "20000229-235959");
    }
}
