//! Entry points for fuzzing every parser of user files with arbitrary bytes: the CSV reader and
//! the table and text importers, audio decoding, image import, the weights reader (safetensors,
//! PyTorch zip and legacy pickles), tokenizer files and project files. Each one writes the bytes
//! to a scratch file (the importers read files, and their size checks look at the file) and runs
//! the importer the app runs. None of them may panic, hang or allocate without bound; whatever
//! they return is fine.
//!
//! Used by the libFuzzer targets in `fuzz/` (`cargo fuzz`, nightly) and by the stable-Rust pass
//! in `tests/fuzz.rs`, which replays the seeds, every crash found so far and mutations of them.

use std::path::{Path, PathBuf};

use crate::data::{AudioOptions, ImportOptions};
use crate::project::{DataKind, DataSettings, Project};

/// A parser to fuzz.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `parse_csv` and `read_csv`.
    Csv,
    /// A table project's import: target column, task, schema, encoding, split.
    Table,
    /// A texts project's import from a CSV: columns, tokenizer, vocabulary, ids.
    Texts,
    /// Decoding a clip (WAV, FLAC, MP3, Ogg) and its spectrogram.
    Audio,
    /// Decoding and resizing an image.
    Image,
    /// Reading a weights file (safetensors, PyTorch zip, legacy PyTorch pickle).
    Weights,
    /// A `tokenizer.json` file and encoding a text with it.
    Tokenizer,
    /// A `.strata` project file, its graph checked and its memory estimated.
    Project,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 8] = [
        Target::Csv,
        Target::Table,
        Target::Texts,
        Target::Audio,
        Target::Image,
        Target::Weights,
        Target::Tokenizer,
        Target::Project,
    ];

    /// The name of its libFuzzer target and of its seed and regression folders.
    pub fn name(self) -> &'static str {
        match self {
            Target::Csv => "csv",
            Target::Table => "table",
            Target::Texts => "texts",
            Target::Audio => "audio",
            Target::Image => "image",
            Target::Weights => "weights",
            Target::Tokenizer => "tokenizer",
            Target::Project => "project",
        }
    }

    /// The scratch file's name (importers look at extensions).
    fn file_name(self) -> &'static str {
        match self {
            Target::Csv | Target::Table | Target::Texts => "input.csv",
            Target::Audio => "input.wav",
            Target::Image => "input.png",
            Target::Weights => "input.pth",
            Target::Tokenizer => "tokenizer.json",
            Target::Project => "input.strata",
        }
    }
}

/// A scratch folder per thread, made once.
fn scratch_dir() -> Option<PathBuf> {
    thread_local! {
        static DIR: Option<PathBuf> = {
            let dir = std::env::temp_dir().join(format!(
                "strata-fuzz-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).ok().map(|()| dir)
        };
    }
    DIR.with(Clone::clone)
}

/// Runs `target`'s importer on `bytes`. Errors are expected and ignored; a panic is a bug.
pub fn run(target: Target, bytes: &[u8]) {
    if target == Target::Csv {
        let _ = crate::data::parse_csv(bytes);
    }
    let Some(dir) = scratch_dir() else { return };
    let path = dir.join(target.file_name());
    if std::fs::write(&path, bytes).is_err() {
        return;
    }
    run_file(target, &path);
}

fn run_file(target: Target, path: &Path) {
    match target {
        Target::Csv => {
            let _ = crate::data::read_csv(path);
        }
        Target::Table | Target::Texts => {
            let kind = if target == Target::Table {
                DataKind::Tabular
            } else {
                DataKind::Text
            };
            // In memory: a fuzzing pass must not fill the user's sample store.
            let _ = crate::workflow::prepare_in(
                &DataSettings::new(path.to_owned(), kind),
                None,
                None,
                None,
            );
        }
        Target::Audio => {
            let options = AudioOptions::default();
            if let Ok(clip) = crate::data::decode_audio_file(path) {
                if let Ok(samples) = crate::data::prepare_clip(&clip, &options) {
                    let _ = crate::data::spectrogram_pixels(&samples, &options);
                }
            }
        }
        Target::Image => {
            for channels in [1, 3] {
                let options = ImportOptions {
                    width: 16,
                    height: 16,
                    channels,
                };
                let _ = crate::data::decode_image_file(path, &options);
            }
        }
        Target::Weights => {
            let _ = crate::pretrained::weights::read(path);
        }
        Target::Tokenizer => {
            if let Ok(vocab) = crate::data::Vocabulary::from_tokenizer_file(path, 16) {
                if let Ok(encoder) = vocab.encoder() {
                    let mut ids = [0f32; 16];
                    let _ = vocab.encode(&encoder, "Hello, wörld! 12 ünïcode", &mut ids);
                }
            }
        }
        Target::Project => {
            if let Ok(project) = Project::load(path) {
                let _ = crate::model::check_fit(
                    &crate::model::DataFit {
                        shape: vec![1, 8, 8],
                        task: project.data.task(),
                        classes: 2,
                        vocab: None,
                    },
                    &project.model,
                );
                let _ = project.model.summary();
                if let Ok(checked) = project.model.validate() {
                    let _ = crate::engine::MemoryEstimate::new(
                        &project.model,
                        &checked,
                        project.training.batch_size,
                        project.training.optimizer,
                        0,
                        usize::MAX,
                    );
                }
            }
        }
    }
}
