//! Where a project's data comes from and how it is prepared: the settings every kind shares (the
//! path, the split, augmentation) and each kind's own ([`Source`]). Format version 2; version-1
//! files, with every kind's settings in one flat list, are read and converted ([`DataSettingsV1`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Augmentation, DataKind, Task, TokenizerKind};

/// Where the data comes from and how it is prepared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataSettings {
    /// The image folder (one sub-folder per class), the CSV file or the folder of clips or
    /// texts; relative to the project file when possible.
    pub path: PathBuf,
    /// What the data is, with the settings of that kind.
    pub source: Source,
    /// Fraction of each class kept for validation.
    pub val_fraction: f32,
    /// Fraction of each class kept for the final test.
    pub test_fraction: f32,
    /// Seed of the split.
    pub split_seed: u64,
    /// Training-time augmentation (images and clips).
    pub augmentation: Augmentation,
    /// Samples the user left out or gave another class in the data audit; applied on every
    /// import (the files themselves are never touched).
    #[serde(default, skip_serializing_if = "SampleEdits::is_empty")]
    pub edits: SampleEdits,
}

/// Samples left out or relabelled, each named by its key: its file relative to the data folder
/// (`circle/c_001.png`), or `line N` of a table or text CSV.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SampleEdits {
    /// Samples left out of training, validation and test.
    #[serde(skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub excluded: std::collections::BTreeSet<String>,
    /// Samples given another class: key → class name.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub relabeled: std::collections::BTreeMap<String, String>,
}

impl SampleEdits {
    /// Whether nothing is left out or relabelled.
    pub fn is_empty(&self) -> bool {
        self.excluded.is_empty() && self.relabeled.is_empty()
    }

    /// Lines for people: "3 samples left out, 1 relabelled".
    pub fn summary(&self) -> String {
        format!(
            "{} sample(s) left out, {} relabelled",
            self.excluded.len(),
            self.relabeled.len()
        )
    }
}

/// What the data is, with that kind's own settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A folder with one sub-folder of images per class.
    Image(ImageSettings),
    /// A CSV table: feature columns and one target column.
    Tabular(TableSettings),
    /// Texts with a class each: a CSV with a text and a label column, or one sub-folder of
    /// `.txt` files per class.
    Text(TextSettings),
    /// Sound clips: one sub-folder of WAV/FLAC/MP3/Ogg files per class.
    Audio(AudioSettings),
}

/// How images are read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageSettings {
    /// Target width in pixels.
    pub width: u32,
    /// Target height in pixels.
    pub height: u32,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: u8,
}

impl Default for ImageSettings {
    /// The importer's defaults (28×28 grayscale, like MNIST).
    fn default() -> Self {
        let d = crate::data::ImportOptions::default();
        Self {
            width: d.width,
            height: d.height,
            channels: d.channels,
        }
    }
}

/// How a table is read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableSettings {
    /// The column to predict (empty: a column named target/label/class/y, else the last).
    pub target: String,
    /// Classification or regression.
    pub task: Task,
}

/// How texts are read and cut into tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextSettings {
    /// In a CSV: the column holding the text (empty: found by name, else the longest).
    pub text_column: String,
    /// In a CSV: the label column (empty: found by name).
    pub label_column: String,
    /// How texts are cut into tokens.
    pub tokenizer: TokenizerKind,
    /// The `tokenizer.json` file when `tokenizer` is `File`.
    #[serde(skip_serializing_if = "path_is_empty")]
    pub tokenizer_file: PathBuf,
    /// Most tokens in the vocabulary (the most frequent in the training texts are kept).
    pub vocab_size: usize,
    /// Tokens per text the model reads (longer texts are cut, shorter padded); none: found from
    /// the training texts on import.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_length: Option<usize>,
}

impl Default for TextSettings {
    fn default() -> Self {
        Self {
            text_column: String::new(),
            label_column: String::new(),
            tokenizer: TokenizerKind::Words,
            tokenizer_file: PathBuf::new(),
            vocab_size: 20_000,
            sequence_length: None,
        }
    }
}

fn path_is_empty(path: &Path) -> bool {
    path.as_os_str().is_empty()
}

/// How clips are read and turned into spectrograms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AudioSettings {
    /// Seconds per clip (longer clips are cut, shorter padded with silence).
    pub clip_seconds: f32,
    /// Mel bands of the spectrogram.
    pub mel_bands: usize,
    /// Spectrogram window in milliseconds.
    pub window_ms: f32,
    /// Step between spectrogram windows in milliseconds.
    pub hop_ms: f32,
    /// 0 reads log-mel spectrograms; otherwise this many MFCCs per frame.
    pub mfcc: usize,
}

impl Default for AudioSettings {
    /// The spectrogram's defaults (`AudioOptions`: 1 s, 40 mel bands, 25 ms windows, 10 ms steps).
    fn default() -> Self {
        let d = crate::data::AudioOptions::default();
        Self {
            clip_seconds: d.clip_seconds,
            mel_bands: d.mel_bands,
            window_ms: d.window_ms,
            hop_ms: d.hop_ms,
            mfcc: d.mfcc,
        }
    }
}

impl Source {
    /// The default settings of a kind of data.
    pub fn default_for(kind: DataKind) -> Self {
        match kind {
            DataKind::Image => Self::Image(ImageSettings::default()),
            DataKind::Tabular => Self::Tabular(TableSettings::default()),
            // New text data is read as words and marks, as the default bag of words reads it
            // (`TextSettings::default`, what older project files without the field mean, stays
            // words).
            DataKind::Text => Self::Text(TextSettings {
                tokenizer: TokenizerKind::WordsAndMarks,
                ..TextSettings::default()
            }),
            DataKind::Audio => Self::Audio(AudioSettings::default()),
        }
    }

    /// Which kind of data.
    pub fn kind(&self) -> DataKind {
        match self {
            Self::Image(_) => DataKind::Image,
            Self::Tabular(_) => DataKind::Tabular,
            Self::Text(_) => DataKind::Text,
            Self::Audio(_) => DataKind::Audio,
        }
    }
}

impl Default for DataSettings {
    fn default() -> Self {
        Self::new(PathBuf::new(), DataKind::Image)
    }
}

impl DataSettings {
    /// Settings for `kind` of data at `path`, with that kind's defaults.
    pub fn new(path: PathBuf, kind: DataKind) -> Self {
        Self {
            path,
            source: Source::default_for(kind),
            val_fraction: 0.1,
            test_fraction: 0.1,
            split_seed: 42,
            augmentation: Augmentation::default(),
            edits: SampleEdits::default(),
        }
    }

    /// What the data is.
    pub fn kind(&self) -> DataKind {
        self.source.kind()
    }

    /// Makes the data `kind`; its settings start from the defaults when the kind changes.
    pub fn set_kind(&mut self, kind: DataKind) {
        if self.kind() != kind {
            self.source = Source::default_for(kind);
        }
    }

    /// What the model predicts: a table's choice, classes for every other kind.
    pub fn task(&self) -> Task {
        match &self.source {
            Source::Tabular(t) => t.task,
            _ => Task::Classify,
        }
    }

    /// The image settings (images only).
    pub fn image(&self) -> Option<&ImageSettings> {
        match &self.source {
            Source::Image(s) => Some(s),
            _ => None,
        }
    }

    /// The image settings, to change them (images only).
    pub fn image_mut(&mut self) -> Option<&mut ImageSettings> {
        match &mut self.source {
            Source::Image(s) => Some(s),
            _ => None,
        }
    }

    /// The table settings (tables only).
    pub fn table(&self) -> Option<&TableSettings> {
        match &self.source {
            Source::Tabular(s) => Some(s),
            _ => None,
        }
    }

    /// The table settings, to change them (tables only).
    pub fn table_mut(&mut self) -> Option<&mut TableSettings> {
        match &mut self.source {
            Source::Tabular(s) => Some(s),
            _ => None,
        }
    }

    /// The text settings (texts only).
    pub fn text(&self) -> Option<&TextSettings> {
        match &self.source {
            Source::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The text settings, to change them (texts only).
    pub fn text_mut(&mut self) -> Option<&mut TextSettings> {
        match &mut self.source {
            Source::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The audio settings (clips only).
    pub fn audio(&self) -> Option<&AudioSettings> {
        match &self.source {
            Source::Audio(s) => Some(s),
            _ => None,
        }
    }

    /// The audio settings, to change them (clips only).
    pub fn audio_mut(&mut self) -> Option<&mut AudioSettings> {
        match &mut self.source {
            Source::Audio(s) => Some(s),
            _ => None,
        }
    }
}

/// The version-2 form as stored.
#[derive(Deserialize)]
struct DataSettingsV2 {
    path: PathBuf,
    source: Source,
    #[serde(default = "default_val_fraction")]
    val_fraction: f32,
    #[serde(default = "default_test_fraction")]
    test_fraction: f32,
    #[serde(default = "default_split_seed")]
    split_seed: u64,
    #[serde(default)]
    augmentation: Augmentation,
    #[serde(default)]
    edits: SampleEdits,
}

fn default_val_fraction() -> f32 {
    0.1
}

fn default_test_fraction() -> f32 {
    0.1
}

fn default_split_seed() -> u64 {
    42
}

/// Data settings as format version 1 stored them: every kind's settings in one flat list, with
/// placeholder values for the kinds the data is not.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DataSettingsV1 {
    path: PathBuf,
    kind: DataKind,
    target: String,
    text_column: String,
    tokenizer: TokenizerKind,
    tokenizer_file: PathBuf,
    vocab_size: usize,
    sequence_length: usize,
    task: Task,
    image_width: u32,
    image_height: u32,
    channels: u8,
    clip_seconds: f32,
    mel_bands: usize,
    window_ms: f32,
    hop_ms: f32,
    mfcc: usize,
    val_fraction: f32,
    test_fraction: f32,
    split_seed: u64,
    augmentation: Augmentation,
}

impl Default for DataSettingsV1 {
    fn default() -> Self {
        let (image, text, audio) = (
            ImageSettings::default(),
            TextSettings::default(),
            AudioSettings::default(),
        );
        Self {
            path: PathBuf::new(),
            kind: DataKind::Image,
            target: String::new(),
            text_column: String::new(),
            tokenizer: text.tokenizer,
            tokenizer_file: PathBuf::new(),
            vocab_size: text.vocab_size,
            sequence_length: 0,
            task: Task::Classify,
            image_width: image.width,
            image_height: image.height,
            channels: image.channels,
            clip_seconds: audio.clip_seconds,
            mel_bands: audio.mel_bands,
            window_ms: audio.window_ms,
            hop_ms: audio.hop_ms,
            mfcc: audio.mfcc,
            val_fraction: default_val_fraction(),
            test_fraction: default_test_fraction(),
            split_seed: default_split_seed(),
            augmentation: Augmentation::default(),
        }
    }
}

impl From<DataSettingsV1> for DataSettings {
    fn from(v1: DataSettingsV1) -> Self {
        let source = match v1.kind {
            DataKind::Image => Source::Image(ImageSettings {
                width: v1.image_width,
                height: v1.image_height,
                channels: v1.channels,
            }),
            DataKind::Tabular => Source::Tabular(TableSettings {
                target: v1.target,
                task: v1.task,
            }),
            DataKind::Text => Source::Text(TextSettings {
                text_column: v1.text_column,
                label_column: v1.target,
                tokenizer: v1.tokenizer,
                tokenizer_file: v1.tokenizer_file,
                vocab_size: v1.vocab_size,
                sequence_length: (v1.sequence_length > 0).then_some(v1.sequence_length),
            }),
            DataKind::Audio => Source::Audio(AudioSettings {
                clip_seconds: v1.clip_seconds,
                mel_bands: v1.mel_bands,
                window_ms: v1.window_ms,
                hop_ms: v1.hop_ms,
                mfcc: v1.mfcc,
            }),
        };
        Self {
            path: v1.path,
            source,
            val_fraction: v1.val_fraction,
            test_fraction: v1.test_fraction,
            split_seed: v1.split_seed,
            augmentation: v1.augmentation,
            edits: SampleEdits::default(),
        }
    }
}

/// Reads either form: version 2 (with `source`) or version 1 (flat; run manifests and projects
/// written before format 2).
impl<'de> Deserialize<'de> for DataSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.get("source").is_some() {
            let v2: DataSettingsV2 =
                serde_json::from_value(value).map_err(serde::de::Error::custom)?;
            Ok(Self {
                path: v2.path,
                source: v2.source,
                val_fraction: v2.val_fraction,
                test_fraction: v2.test_fraction,
                split_seed: v2.split_seed,
                augmentation: v2.augmentation,
                edits: v2.edits,
            })
        } else {
            let v1: DataSettingsV1 =
                serde_json::from_value(value).map_err(serde::de::Error::custom)?;
            Ok(v1.into())
        }
    }
}
