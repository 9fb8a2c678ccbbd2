//! Exporting a trained run as a PyTorch project: the model as `torch.nn` code with its weights,
//! the data read from the same files with the same preprocessing and split, and programs to
//! train (on one CPU, one GPU, or many machines through `torchrun`) and to predict. Weights the
//! project's `train.py` saves come back with [`super::import_run`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use candle_core::Device;
use serde_json::json;

use crate::engine::TrainedModel;
use crate::export::pytorch::{model_py, save_check, save_weights};
use crate::project::{LossKind, OptimizerKind, Source, Task, TokenizerKind};

/// The project's programs, the same for every model (`model.py` and `data.json` carry what
/// differs).
const FILES: [(&str, &str); 5] = [
    ("data.py", include_str!("../../assets/pytorch/data.py")),
    ("train.py", include_str!("../../assets/pytorch/train.py")),
    (
        "predict.py",
        include_str!("../../assets/pytorch/predict.py"),
    ),
    ("README.md", include_str!("../../assets/pytorch/README.md")),
    (
        "requirements.txt",
        include_str!("../../assets/pytorch/requirements.txt"),
    ),
];

/// Inputs as Strata prepared them and Strata's answers, for `predict.py --check`.
const CHECK_FILE: &str = "check.safetensors";
/// Samples in [`CHECK_FILE`].
const CHECK_SAMPLES: usize = 16;

/// What an export to PyTorch wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct PytorchExport {
    /// The project folder.
    pub folder: PathBuf,
    /// The files written, by name.
    pub files: Vec<String>,
    /// Samples in the training, validation and test lists of `data.json`.
    pub split_sizes: [usize; 3],
}

/// Writes the PyTorch project of the run at `run_dir` into the folder `out` (made if missing;
/// files of an earlier export there are replaced). The project's data is read to write the
/// split, so `data.py` trains on exactly the samples Strata trained on.
pub fn export_pytorch(
    project: &crate::project::Project,
    run_dir: &Path,
    out: &Path,
    cancel: Option<&std::sync::atomic::AtomicBool>,
    progress: Option<super::Progress<'_>>,
) -> Result<PytorchExport> {
    let trained = TrainedModel::load(run_dir, &Device::Cpu)?;
    let manifest = &trained.manifest;
    let title = project_title(project, run_dir);
    let model = model_py(&trained.network, &title, &manifest.run_id)?;
    let settings = super::manifest_project(project, manifest).data;
    let (data, _) = super::prepare(&settings, cancel, progress).with_context(|| {
        "the project's data must be readable to write the split the PyTorch project trains on"
            .to_owned()
    })?;
    let recipe = data_recipe(&trained, &data)?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("could not create the folder '{}'", out.display()))?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = out.join(name);
        crate::files::atomic_write(&path, bytes)
            .with_context(|| format!("could not write '{}'", path.display()))
    };
    write("model.py", model.as_bytes())?;
    write(
        "data.json",
        serde_json::to_string_pretty(&recipe)?.as_bytes(),
    )?;
    for (name, text) in FILES {
        write(name, text.as_bytes())?;
    }
    write_check(&trained, &data, &out.join(CHECK_FILE))?;
    let weights = out.join("weights.safetensors");
    save_weights(&trained.network, &weights)
        .with_context(|| format!("could not write '{}'", weights.display()))?;
    let mut files = vec![
        "model.py".to_owned(),
        "weights.safetensors".to_owned(),
        "data.json".to_owned(),
        CHECK_FILE.to_owned(),
    ];
    files.extend(FILES.iter().map(|(n, _)| (*n).to_owned()));
    Ok(PytorchExport {
        folder: out.to_owned(),
        files,
        split_sizes: [
            data.split.train.len(),
            data.split.val.len(),
            data.split.test.len(),
        ],
    })
}

/// Writes up to [`CHECK_SAMPLES`] test samples (validation or training ones when there are
/// none) as Strata feeds them to the model, Strata's answers for them and, in the metadata, their
/// keys: `predict.py --check` runs the exported model on them and compares.
fn write_check(
    trained: &TrainedModel,
    data: &crate::engine::PreparedData,
    path: &Path,
) -> Result<()> {
    let split = &data.split;
    let part = [&split.test, &split.val, &split.train]
        .into_iter()
        .find(|p| !p.is_empty())
        .map_or(&[][..], |p| p.as_slice());
    let indices = &part[..part.len().min(CHECK_SAMPLES)];
    if indices.is_empty() {
        bail!("the data has no samples");
    }
    let batch = data.dataset.batch(indices, None, &Device::Cpu)?;
    let root = &trained.manifest.data.path;
    let root = root.canonicalize().unwrap_or_else(|_| root.clone());
    let keys: Vec<String> = indices
        .iter()
        .map(|&i| crate::data::sample_key(&root, &data.dataset.source(i)))
        .collect();
    save_check(&trained.network, &batch.inputs, &keys, path)?;
    Ok(())
}

/// "shapes (run 2026-12-01_12-00-00)".
fn project_title(project: &crate::project::Project, run_dir: &Path) -> String {
    let data = project.data.path.file_stem().map_or_else(
        || "The model".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let run = run_dir
        .file_name()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    format!("The model trained on '{data}' (Strata run {run})")
}

/// `data.json`: where the data is, how each kind of sample becomes the model's input, the
/// classes, the split as sample lists (key and label or target) and the training settings.
fn data_recipe(
    trained: &TrainedModel,
    data: &crate::engine::PreparedData,
) -> Result<serde_json::Value> {
    let manifest = &trained.manifest;
    let dataset = &data.dataset;
    let settings = &manifest.data;
    let root = settings
        .path
        .canonicalize()
        .unwrap_or_else(|_| settings.path.clone());
    let regression = dataset.task() == Task::Regress;
    let samples = |indices: &[usize]| -> Vec<serde_json::Value> {
        indices
            .iter()
            .map(|&i| {
                let key = crate::data::sample_key(&root, &dataset.source(i));
                let target = if regression {
                    json!(dataset.table().and_then(|t| t.target_value(i)))
                } else {
                    json!(dataset.labels().get(i))
                };
                json!([key, target])
            })
            .collect()
    };
    let mut recipe = json!({
        "producer": format!("Strata {}", crate::build_info::VERSION),
        "run": manifest.run_id,
        "root": root,
        "task": if regression { "regression" } else { "classification" },
        "classes": manifest.classes,
        "input_shape": dataset.shape(),
        "split": {
            "train": samples(&data.split.train),
            "val": samples(&data.split.val),
            "test": samples(&data.split.test),
        },
        "training": training_json(&manifest.training),
    });
    match &settings.source {
        Source::Image(image) => {
            recipe["kind"] = json!("image");
            recipe["image"] = json!({
                "width": image.width,
                "height": image.height,
                "channels": image.channels,
            });
        }
        Source::Tabular(_) => {
            let Some(table) = dataset.table() else {
                bail!("the data is not a table");
            };
            recipe["kind"] = json!("table");
            recipe["table"] = serde_json::to_value(&table.schema)?;
            recipe["csv"] = json!({
                "delimiter": char::from(table.table.delimiter).to_string(),
                "has_header": table.table.has_header,
            });
        }
        Source::Text(_) => {
            let Some(texts) = dataset.texts() else {
                bail!("the data is not texts");
            };
            recipe["kind"] = json!("text");
            if root.is_file() {
                let csv = crate::data::read_csv(&root)?;
                recipe["csv"] = json!({
                    "delimiter": char::from(csv.delimiter).to_string(),
                    "has_header": csv.has_header,
                });
            }
            let vocab = &texts.vocab;
            recipe["text"] = json!({
                "tokenizer": match vocab.tokenizer {
                    TokenizerKind::Words => "words",
                    TokenizerKind::Characters => "characters",
                    TokenizerKind::WordsAndMarks => "words_and_marks",
                    TokenizerKind::File => "file",
                },
                "tokens": vocab.tokens,
                "length": vocab.length,
                "pad_id": vocab.pad_id,
                "unknown_id": vocab.unknown_id,
                "tokenizer_json": vocab.tokenizer_json,
                "text_column": texts.raw.columns.as_ref().map(|c| c.0.clone()),
                "label_column": texts.raw.columns.as_ref().map(|c| c.1.clone()),
            });
        }
        Source::Audio(audio) => {
            recipe["kind"] = json!("audio");
            recipe["audio"] = json!({
                "sample_rate": crate::data::SAMPLE_RATE,
                "clip_seconds": audio.clip_seconds,
                "mel_bands": audio.mel_bands,
                "window_ms": audio.window_ms,
                "hop_ms": audio.hop_ms,
                "mfcc": audio.mfcc,
            });
        }
    }
    Ok(recipe)
}

/// The run's training settings in PyTorch's words.
fn training_json(t: &crate::project::TrainingSettings) -> serde_json::Value {
    json!({
        "optimizer": match t.optimizer {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
        },
        "lr": t.lr,
        "batch_size": t.batch_size,
        "epochs": t.epochs,
        "loss": match t.loss {
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::Mse => "mse",
            LossKind::BinaryCrossEntropy => "binary_cross_entropy",
        },
        "l1": t.l1,
        "l2": t.l2,
        "early_stopping_patience": t.early_stopping_patience,
        "seed": t.seed,
        "learn_from_validation": t.learn_from_validation,
        "lr_decay": t.lr_decay,
    })
}
