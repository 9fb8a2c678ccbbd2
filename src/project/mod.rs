//! The project file (`*.strata`): the user's choices only, versioned JSON, saved atomically.

use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::Graph;

mod data_settings;

pub use data_settings::{
    AudioSettings, DataSettings, DataSettingsV1, ImageSettings, SampleEdits, Source, TableSettings,
    TextSettings,
};

/// The project format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 2;

/// Errors loading or saving a project file.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The file could not be read or written.
    #[error("could not {action} '{path}': {source}")]
    Io {
        /// What was attempted ("read", "write", …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid project.
    #[error("'{path}' is not a valid Strata project ({detail}); it may be damaged or not a project file")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        detail: String,
    },
    /// The file comes from a newer Strata.
    #[error("'{path}' was made by a newer Strata (project format {found}, this version reads up to {FORMAT_VERSION}); update Strata to open it")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its format version.
        found: u64,
    },
}

/// Augmentation applied to training batches only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Augmentation {
    /// Mirror left–right with probability ½.
    pub flip_horizontal: bool,
    /// Largest shift as a fraction of the image size (0.1 = 10 %).
    pub max_shift: f32,
    /// Largest rotation in degrees, either way.
    pub max_rotation_degrees: f32,
    /// Largest brightness change as a fraction of full scale.
    pub max_brightness: f32,
    /// Audio: largest shift in time as a fraction of the clip (0.1 = 10 %); what leaves one end
    /// is silence.
    pub max_time_shift: f32,
    /// Audio: background noise added at a random level between this many dB below the clip's
    /// loudest sound and 20 dB quieter still (0 = no noise).
    pub noise_db: f32,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            flip_horizontal: false,
            max_shift: 0.0,
            max_rotation_degrees: 0.0,
            max_brightness: 0.0,
            max_time_shift: 0.0,
            noise_db: 0.0,
        }
    }
}

impl Augmentation {
    /// Whether any augmentation for spectrograms of clips is switched on.
    pub fn is_active_for_audio(&self) -> bool {
        self.max_time_shift > 0.0 || self.noise_db > 0.0
    }

    /// Whether any augmentation for `kind` of data is switched on (none for tables and texts).
    pub fn is_active_for(&self, kind: DataKind) -> bool {
        match kind {
            DataKind::Image => self.is_active(),
            DataKind::Audio => self.is_active_for_audio(),
            DataKind::Tabular | DataKind::Text => false,
        }
    }

    /// Whether any image augmentation is switched on.
    pub fn is_active(&self) -> bool {
        self.flip_horizontal
            || self.max_shift > 0.0
            || self.max_rotation_degrees > 0.0
            || self.max_brightness > 0.0
    }
}

/// What kind of data a project learns from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// A folder with one sub-folder of images per class.
    #[default]
    #[value(alias = "images")]
    Image,
    /// A CSV table: feature columns and one target column.
    #[value(alias = "table", alias = "csv")]
    Tabular,
    /// Texts with a class each: a CSV with a text and a label column, or one sub-folder of
    /// `.txt` files per class.
    #[value(alias = "texts")]
    Text,
    /// Sound clips: one sub-folder of WAV/FLAC/MP3/Ogg files per class.
    #[value(alias = "sound")]
    Audio,
}

impl DataKind {
    /// Name shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Self::Image => "images",
            Self::Tabular => "table (CSV)",
            Self::Text => "texts",
            Self::Audio => "audio clips",
        }
    }

    /// What one sample is called, in the plural: "images", "rows", "texts".
    pub fn unit(self) -> &'static str {
        match self {
            Self::Image => "images",
            Self::Tabular => "rows",
            Self::Text => "texts",
            Self::Audio => "clips",
        }
    }
}

/// How texts are cut into tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerKind {
    /// Words (lower-cased; `!` and `?` count as words).
    #[default]
    #[value(alias = "word")]
    Words,
    /// Single characters (lower-cased): no unknown words, longer sequences.
    #[value(alias = "chars", alias = "char")]
    Characters,
    /// Words (lower-cased) and every punctuation mark as a token of its own: how a bag of words
    /// reads texts, where commas and full stops say something about who wrote them.
    #[value(alias = "marks")]
    WordsAndMarks,
    /// A `tokenizer.json` file (WordPiece, BPE or Unigram, as pretrained models ship them).
    #[value(skip)]
    File,
}

/// What the model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One of a fixed set of classes.
    #[default]
    #[value(alias = "classification")]
    Classify,
    /// A number.
    #[value(alias = "regression")]
    Regress,
}

/// Optimisation algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Plain (stochastic) gradient descent.
    Sgd,
    /// SGD with momentum 0.9.
    Momentum,
    /// Adam (β₁ 0.9, β₂ 0.999, ε 1e-8).
    #[default]
    Adam,
    /// Adam with decoupled weight decay.
    #[value(name = "adamw")]
    AdamW,
}

/// Training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Categorical cross-entropy over classes.
    #[default]
    CrossEntropy,
    /// Mean squared error against one-hot targets (or values for regression).
    Mse,
    /// Binary cross-entropy on logits, one output per class.
    BinaryCrossEntropy,
}

/// Which device to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// The fastest available.
    #[default]
    Auto,
    /// Always the CPU.
    Cpu,
    /// An NVIDIA GPU.
    Cuda,
    /// An Apple GPU.
    Metal,
}

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingSettings {
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Samples per step; 1 = per-sample SGD, the training-set size = full-batch descent.
    pub batch_size: usize,
    /// Passes over the training data.
    pub epochs: usize,
    /// Objective.
    pub loss: LossKind,
    /// L1 penalty on weights (0 = off).
    pub l1: f64,
    /// L2 penalty on weights (0 = off); for AdamW it is the decoupled weight decay.
    pub l2: f64,
    /// Stop when validation loss has not improved for this many epochs (None = never).
    pub early_stopping_patience: Option<usize>,
    /// Seed for weights, shuffling, dropout and augmentation.
    pub seed: u64,
    /// Device.
    pub device: DeviceChoice,
    /// Differential privacy (DP-SGD): per-example clipping, noise and an accountant (None: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<crate::engine::privacy::PrivacySettings>,
    /// Learn from the validation samples too (they join the training samples, so there is no
    /// validation curve and no early stopping): for the final model once the settings are chosen
    /// on validation, as automatic training does with its winner. The test split stays held back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learn_from_validation: bool,
    /// Lower the learning rate over the epochs along a half cosine (PyTorch's
    /// `CosineAnnealingLR` stepped once per epoch): the full rate in the first epoch, almost zero
    /// in the last, so the weights settle instead of jittering around the optimum. See
    /// [`TrainingSettings::lr_at`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lr_decay: bool,
}

impl TrainingSettings {
    /// The learning rate of epoch `epoch` (1-based): `lr`, or with [`Self::lr_decay`]
    /// `lr · ½ (1 + cos(π (epoch − 1) / epochs))`.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        if !self.lr_decay || self.epochs == 0 {
            return self.lr;
        }
        let progress = epoch.saturating_sub(1) as f64 / self.epochs as f64;
        self.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

impl Default for TrainingSettings {
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::Adam,
            lr: 0.001,
            batch_size: 32,
            epochs: 10,
            loss: LossKind::CrossEntropy,
            l1: 0.0,
            l2: 0.0,
            early_stopping_patience: None,
            seed: 0,
            device: DeviceChoice::Auto,
            privacy: None,
            learn_from_validation: false,
            lr_decay: false,
        }
    }
}

/// A Strata project: the data, the model and the training choices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// File format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Data source and import settings.
    pub data: DataSettings,
    /// The model graph.
    pub model: Graph,
    /// Training settings.
    pub training: TrainingSettings,
    /// Where the layer editor draws each node (by node name); missing nodes are laid out
    /// automatically.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub layout: std::collections::BTreeMap<String, [f32; 2]>,
    /// The run chosen as the project's model (its folder name under `<name>.runs/`): what
    /// Evaluate, Use and Export use. None: the newest run with a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_run: Option<String>,
    /// A project that generates images (a GAN): the generator, whose pictures `model` (the
    /// discriminator) learns to tell from the real ones. None: the model classifies or predicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorSettings>,
}

/// The generator of an image-generating project: a graph from random numbers (and, when
/// conditional, the class asked for as one-hot values after them) to a picture of the data's size
/// with values in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorSettings {
    /// The generator's layers.
    pub graph: Graph,
    /// How many random numbers it starts from.
    pub noise: usize,
    /// Whether both networks are told the class (the generator draws the class asked for).
    pub conditional: bool,
    /// Where the layer editor draws each of its nodes (by node name).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub layout: std::collections::BTreeMap<String, [f32; 2]>,
}

impl Project {
    /// A project over the given data with the given model and default training settings.
    /// Regression trains with the mean squared error, classification with cross-entropy.
    /// Tables train longer, with early stopping and a little L2: their models are small and
    /// their data sets often a few hundred rows, where 10 epochs stop far short (breast cancer:
    /// 0.930 test accuracy after 10 epochs, 0.974 with these; BENCHMARKS.md §12); texts and sounds
    /// train longer with early stopping too.
    pub fn new(data: DataSettings, model: Graph) -> Self {
        let mut training = TrainingSettings {
            loss: match data.task() {
                Task::Classify => LossKind::CrossEntropy,
                Task::Regress => LossKind::Mse,
            },
            ..TrainingSettings::default()
        };
        match data.kind() {
            DataKind::Tabular => {
                training.epochs = 100;
                training.early_stopping_patience = Some(20);
                training.l2 = 1e-3;
            }
            // Up to 30 epochs, stopped 5 after the best: the text CNN's best epoch on 10,000
            // reviews is the second or third, but on a few hundred texts a bag of words is still
            // improving after 30 (the 2016 debates; BENCHMARKS.md §12).
            DataKind::Text => {
                training.epochs = 30;
                training.early_stopping_patience = Some(5);
                // A bag of words (one Dense layer over tens of thousands of values) learns
                // slowly at 0.001: at 0.01 its best epoch on the debates comes within 30.
                if model
                    .nodes
                    .iter()
                    .any(|n| matches!(n.layer, crate::layers::Layer::BagOfWords(_)))
                {
                    training.lr = 0.01;
                }
            }
            // Up to 30 epochs, stopped 5 after the best: on clips of voices not heard in
            // training the audio CNN is still improving after 10 (spoken digits from two
            // synthesizers: 0.858 after 10 epochs, 0.897 this way; command words 0.990 and 0.988;
            // BENCHMARKS.md §12).
            DataKind::Audio => {
                training.epochs = 30;
                training.early_stopping_patience = Some(5);
            }
            DataKind::Image => {}
        }
        Self {
            format_version: FORMAT_VERSION,
            data,
            model,
            training,
            layout: std::collections::BTreeMap::new(),
            model_run: None,
            generator: None,
        }
    }

    /// Reads a project; relative data paths are resolved against the file's folder.
    pub fn load(path: &Path) -> Result<Self, ProjectError> {
        let text = fs::read_to_string(path).map_err(|source| ProjectError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        let damaged = |detail: String| ProjectError::Damaged {
            path: path.to_owned(),
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| damaged(e.to_string()))?;
        let version = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| damaged("no format_version".to_owned()))?;
        if version > u64::from(FORMAT_VERSION) {
            return Err(ProjectError::TooNew {
                path: path.to_owned(),
                found: version,
            });
        }
        if version == 0 {
            return Err(damaged("format_version 0 does not exist".to_owned()));
        }
        let mut project: Project =
            serde_json::from_value(value).map_err(|e| damaged(e.to_string()))?;
        project.format_version = FORMAT_VERSION;
        if project.data.path.is_relative() {
            project.data.path = normalize(&base_dir(path).join(&project.data.path));
        }
        Ok(project)
    }

    /// Writes the project atomically; the data path is stored relative to the file when possible.
    pub fn save(&self, path: &Path) -> Result<(), ProjectError> {
        let mut stored = self.clone();
        stored.format_version = FORMAT_VERSION;
        if let Some(rel) = relative_to(&self.data.path, &base_dir(path)) {
            stored.data.path = rel;
        }
        let json = serde_json::to_string_pretty(&stored).map_err(|e| ProjectError::Damaged {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        crate::files::atomic_write(path, json.as_bytes()).map_err(|source| ProjectError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        })
    }

    /// The folder where runs of the project at `path` are kept: `<name>.runs/` beside it.
    pub fn runs_dir(path: &Path) -> PathBuf {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".to_owned());
        base_dir(path).join(format!("{stem}.runs"))
    }
}

fn base_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Removes `.` and resolves `..` lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `target` expressed relative to `base`, when both can be made absolute.
fn relative_to(target: &Path, base: &Path) -> Option<PathBuf> {
    let abs = |p: &Path| -> Option<PathBuf> {
        let p = if p.is_absolute() {
            p.to_owned()
        } else {
            std::env::current_dir().ok()?.join(p)
        };
        Some(normalize(&p))
    };
    let target = abs(target)?;
    let base = abs(base)?;
    let t: Vec<Component> = target.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    // Sharing only the root (or a Windows drive) says nothing: `/usr/lib/…` from `~/Strata` is
    // clearer, and survives moving the project, as an absolute path.
    let only_root = t
        .iter()
        .take(common)
        .all(|c| matches!(c, Component::RootDir | Component::Prefix(_)));
    if common == 0 || only_root {
        return None;
    }
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c);
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    Some(rel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    fn sample(dir: &Path) -> Project {
        Project::new(
            DataSettings {
                path: dir.join("images"),
                ..DataSettings::default()
            },
            model::mlp(&[1, 28, 28], 10),
        )
    }

    #[test]
    fn new_projects_train_each_kind_of_data_as_measured() {
        let settings = |kind| {
            let p = Project::new(
                DataSettings::new(PathBuf::from("data"), kind),
                model::mlp(&[1, 28, 28], 10),
            );
            let t = p.training;
            (t.epochs, t.early_stopping_patience, t.l2)
        };
        assert_eq!(settings(DataKind::Image), (10, None, 0.0));
        assert_eq!(settings(DataKind::Tabular), (100, Some(20), 1e-3));
        assert_eq!(settings(DataKind::Text), (30, Some(5), 0.0));
        assert_eq!(settings(DataKind::Audio), (30, Some(5), 0.0));
    }

    #[test]
    fn the_learning_rate_falls_along_a_half_cosine_when_asked() {
        let mut t = TrainingSettings {
            lr: 0.01,
            epochs: 4,
            ..TrainingSettings::default()
        };
        assert_eq!((t.lr_at(1), t.lr_at(4)), (0.01, 0.01));
        t.lr_decay = true;
        // ½ (1 + cos(π k / 4)) for k = 0..3: 1, 0.8536, 0.5, 0.1464.
        let rates: Vec<f64> = (1..=4).map(|e| t.lr_at(e)).collect();
        for (rate, expected) in rates.iter().zip([0.01, 0.0085355, 0.005, 0.0014645]) {
            assert!((rate - expected).abs() < 1e-7, "{rates:?}");
        }
    }

    #[test]
    fn round_trip_stores_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.strata");
        let project = sample(dir.path());
        project.save(&file).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.contains("\"format_version\": 2"), "{text}");
        assert!(text.contains("\"path\": \"images\""), "{text}");
        let loaded = Project::load(&file).unwrap();
        assert_eq!(loaded.data.path, dir.path().join("images"));
        assert_eq!(loaded.model, project.model);
        assert_eq!(loaded.training, project.training);
    }

    #[test]
    fn newer_version_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.strata");
        sample(dir.path()).save(&file).unwrap();
        let text = fs::read_to_string(&file)
            .unwrap()
            .replace("\"format_version\": 2", "\"format_version\": 7");
        fs::write(&file, text).unwrap();
        let err = Project::load(&file).unwrap_err().to_string();
        assert!(err.contains("newer Strata"), "{err}");
        assert!(err.contains('7'), "{err}");
    }

    #[test]
    fn damaged_files_give_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.strata");
        for bad in [
            "",
            "{",
            "[1,2]",
            "{\"format_version\": 1}",
            "\u{0}\u{1}garbage",
        ] {
            fs::write(&file, bad).unwrap();
            let err = Project::load(&file).unwrap_err().to_string();
            assert!(err.contains("not a valid Strata project"), "{bad:?}: {err}");
        }
        let missing = Project::load(&dir.path().join("nope.strata")).unwrap_err();
        assert!(missing.to_string().contains("could not read"));
    }

    #[test]
    fn runs_dir_sits_beside_project() {
        assert_eq!(
            Project::runs_dir(Path::new("/x/y/digits.strata")),
            PathBuf::from("/x/y/digits.runs")
        );
    }
}
