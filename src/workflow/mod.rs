//! Steps both front ends (CLI and desktop app) take over the core: import a project's data and
//! split it, evaluate a trained run on its test split or other labelled data, predict files or
//! table rows, and write predictions as CSV. One implementation, so the app and `strata evaluate`
//! give the same numbers.

pub mod auto;
mod coach;
mod data_edits;
mod explain;
mod onnx_export;
mod pytorch_export;
pub mod runs_table;

pub use crate::data::sample_key;
pub use coach::{coach_line, finish_line};
pub use explain::{explain_sample, ExplainAsk, EXPLANATIONS_DIR};
pub use onnx_export::{
    export_onnx, export_project_onnx, import_run, onnx_metadata, ExportFormat, CHECK_SAMPLES,
};
pub use pytorch_export::{export_pytorch, PytorchExport};

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};

use crate::data::{
    audio_file_pixels, decode_image_file, detect_task, import_audio_folder, import_image_folder,
    label_table, looks_like_text, read_csv, read_text_csv, read_text_file, read_text_folder,
    stratified_split, suggested_length, target_column, text_column, AudioDataset, AudioOptions,
    Dataset, ImageDataset, ImportOptions, ImportReport, TableDataset, TableSchema, TextDataset,
    Vocabulary, AUDIO_EXTENSIONS,
};
use crate::engine::{self, PreparedData, RunManifest, TrainedModel};
use crate::eval::{self, ClassificationReport, Prediction, RegressionReport};
use crate::project::{
    AudioSettings, DataKind, DataSettings, ImageSettings, Project, Source, TableSettings, Task,
    TextSettings, TokenizerKind,
};

/// Progress callback: `(done, total)`.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// The transfer template for a kind of data, if there is one.
pub fn transfer_template(kind: DataKind) -> Option<&'static str> {
    match kind {
        DataKind::Image => Some("transfer-image"),
        DataKind::Text => Some("transfer-text"),
        DataKind::Tabular | DataKind::Audio => None,
    }
}

/// The pretrained network a template starts from, if any.
pub fn template_backbone(template: &str) -> Option<crate::pretrained::Backbone> {
    match template {
        "transfer-image" => Some(crate::pretrained::Backbone::EfficientNetLite0),
        "transfer-text" | "transfer-text-bow" => Some(crate::pretrained::Backbone::MiniLmL6),
        _ => None,
    }
}

/// Whether a template reads the data its own way ([`adapt_data_to_template`] changes the data
/// settings): the transfer templates and the bag of words.
pub fn template_adapts_data(template: &str) -> bool {
    template_backbone(template).is_some() || template == "text-tfidf"
}

/// Finds the weights file a transfer template needs (`weights` when given, else the usual
/// folders) and sets the data up as the pretrained network reads it: 224×224 colour images
/// (unless `keep_image_size`), or the network's own tokenizer for texts; for the bag of words
/// (`text-tfidf`), texts read as words and marks. Returns the weights file, or `None` for
/// templates without a pretrained part.
pub fn adapt_data_to_template(
    template: &str,
    data: &mut DataSettings,
    weights: Option<&Path>,
    keep_image_size: bool,
) -> Result<Option<PathBuf>> {
    if template == "text-tfidf" {
        // The bag of words reads punctuation marks as words too, and every token of a text.
        if let Some(text) = data.text_mut() {
            if text.tokenizer != TokenizerKind::WordsAndMarks {
                text.tokenizer = TokenizerKind::WordsAndMarks;
                text.sequence_length = None;
            }
        }
        return Ok(None);
    }
    let Some(backbone) = template_backbone(template) else {
        return Ok(None);
    };
    let file = match weights {
        Some(w) => w.to_owned(),
        None => crate::pretrained::find_weights(backbone).ok_or_else(|| {
            anyhow!(
                "the '{template}' model needs the {} weights: {}; then pass --weights FILE",
                backbone.label(),
                backbone.how_to_get()
            )
        })?,
    };
    if !file.is_file() {
        bail!(
            "the weights file '{}' does not exist ({})",
            file.display(),
            backbone.how_to_get()
        );
    }
    match backbone.reads() {
        crate::pretrained::Reads::Image { size } => {
            data.set_kind(DataKind::Image);
            if let Some(image) = data.image_mut() {
                if !keep_image_size {
                    image.width = size as u32;
                    image.height = size as u32;
                }
                image.channels = 3;
            }
        }
        crate::pretrained::Reads::Tokens { max_len } => {
            let tokenizer = backbone
                .tokenizer_for(&file)
                .filter(|t| t.is_file())
                .ok_or_else(|| {
                    anyhow!(
                        "the tokenizer.json that goes with '{}' is missing; it must sit next to the weights file",
                        file.display()
                    )
                })?;
            data.set_kind(DataKind::Text);
            if let Some(text) = data.text_mut() {
                text.tokenizer = TokenizerKind::File;
                text.tokenizer_file = tokenizer;
                // Its tokenizer cuts texts at 128 tokens; shorter settings are kept.
                text.sequence_length = Some(text.sequence_length.map_or(128, |n| n.min(max_len)));
            }
        }
    }
    Ok(Some(file))
}

/// A node reusing the model of an earlier run up to `cut` (default: the layer feeding its
/// output), frozen.
pub fn trained_model_layer(run: &Path, cut: Option<&str>) -> Result<crate::layers::TrainedModel> {
    let graph_file = run
        .join(engine::runs::BEST_DIR)
        .join(engine::runs::GRAPH_FILE);
    let text = std::fs::read_to_string(&graph_file).with_context(|| {
        format!(
            "'{}' is not a finished training run (no {} inside)",
            run.display(),
            graph_file.display()
        )
    })?;
    let graph: crate::model::Graph = serde_json::from_str(&text)
        .with_context(|| format!("the model saved in '{}' is damaged", graph_file.display()))?;
    let checked = graph
        .validate()
        .map_err(|_| anyhow!("the model saved in '{}' has problems", run.display()))?;
    let cut = match cut {
        Some(c) => c.to_owned(),
        None => graph.nodes[checked.output]
            .inputs
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("the model of '{}' has a single layer", run.display()))?,
    };
    let part = graph.cut_at(&cut).map_err(|e| {
        let names: Vec<&str> = graph.nodes.iter().map(|n| n.name.as_str()).collect();
        anyhow!("{e}; its layers are {}", names.join(", "))
    })?;
    Ok(crate::layers::TrainedModel {
        run: run.display().to_string(),
        cut,
        part,
        train_blocks: 0,
    })
}

/// Copies a trained run's model out of Strata's run folder into `dest` (an existing folder): its
/// best weights (safetensors), its graph and the run description (classes, data settings), so
/// it can be kept, shared or opened by another Strata.
pub fn export_run(run_dir: &Path, dest: &Path) -> Result<()> {
    use engine::runs::{BEST_DIR, GRAPH_FILE, MANIFEST_FILE, WEIGHTS_FILE};
    for (from, to) in [
        (
            run_dir.join(BEST_DIR).join(WEIGHTS_FILE),
            dest.join(WEIGHTS_FILE),
        ),
        (
            run_dir.join(BEST_DIR).join(GRAPH_FILE),
            dest.join(GRAPH_FILE),
        ),
        (run_dir.join(MANIFEST_FILE), dest.join(MANIFEST_FILE)),
    ] {
        let bytes =
            std::fs::read(&from).with_context(|| format!("could not read '{}'", from.display()))?;
        crate::files::atomic_write(&to, &bytes)
            .with_context(|| format!("could not write '{}'", to.display()))?;
    }
    Ok(())
}

/// The layer names of a finished run's model (empty when it cannot be read).
pub fn run_layer_names(run: &Path) -> Vec<String> {
    std::fs::read_to_string(
        run.join(engine::runs::BEST_DIR)
            .join(engine::runs::GRAPH_FILE),
    )
    .ok()
    .and_then(|t| serde_json::from_str::<crate::model::Graph>(&t).ok())
    .map(|g| g.nodes.into_iter().map(|n| n.name).collect())
    .unwrap_or_default()
}

/// A model that reuses `layer` (a trained or pretrained part) and learns a new output on top.
pub fn reuse_graph(
    input_shape: &[usize],
    layer: crate::model::Layer,
    classes: usize,
) -> crate::model::Graph {
    use crate::model::{Activation, Layer, Node};
    crate::model::Graph {
        nodes: vec![
            Node::new(
                "input",
                Layer::Input(crate::layers::Input {
                    shape: input_shape.to_vec(),
                }),
                &[],
            ),
            Node::new("reused", layer, &["input"]),
            Node::new(
                "dropout",
                Layer::Dropout(crate::layers::Dropout { rate: 0.2 }),
                &["reused"],
            ),
            Node::new(
                "output",
                Layer::Dense(crate::layers::Dense {
                    units: classes,
                    activation: Activation::Softmax,
                }),
                &["dropout"],
            ),
        ],
    }
}

/// Writes what an import found into the data settings, so the project records it explicitly: a
/// table's target column and task, a text CSV's text and label columns, the texts' sequence
/// length. Returns whether anything changed.
pub fn record_found_settings(settings: &mut DataSettings, dataset: &Dataset) -> bool {
    let before = settings.clone();
    if let (Some(table), Some(found)) = (dataset.table(), settings.table_mut()) {
        found.target = table.schema.target.clone();
        found.task = table.schema.task;
    }
    if let (Some(texts), Some(found)) = (dataset.texts(), settings.text_mut()) {
        if let Some((text, label)) = &texts.raw.columns {
            (found.text_column, found.label_column) = (text.clone(), label.clone());
        }
        found.sequence_length = Some(texts.vocab.length);
    }
    *settings != before
}

/// How the project's data settings translate into importer options.
pub fn import_options(d: &ImageSettings) -> ImportOptions {
    ImportOptions {
        width: d.width,
        height: d.height,
        channels: d.channels,
    }
}

/// A CSV with a column of free text holds texts, any other file is a table; a folder of `.txt`
/// files holds texts, any other folder images.
pub fn detect_kind(path: &Path) -> DataKind {
    if path.is_file() {
        return match read_csv(path) {
            Ok(table) if looks_like_text(&table) => DataKind::Text,
            _ => DataKind::Tabular,
        };
    }
    // Most of the first files found are .txt: texts; audio files: clips.
    let (mut texts, mut sounds, mut others) = (0usize, 0usize, 0usize);
    for e in walkdir::WalkDir::new(path)
        .max_depth(2)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !e.file_name().to_string_lossy().starts_with('.'))
        .take(64)
    {
        let ext = e
            .path()
            .extension()
            .map(|x| x.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if ext == "txt" {
            texts += 1;
        } else if AUDIO_EXTENSIONS.contains(&ext.as_str()) {
            sounds += 1;
        } else {
            others += 1;
        }
    }
    if texts > others + sounds {
        DataKind::Text
    } else if sounds > others + texts {
        DataKind::Audio
    } else {
        DataKind::Image
    }
}

/// How a run's images were read (its data settings, or the defaults for other kinds).
fn manifest_images(manifest: &RunManifest) -> ImportOptions {
    import_options(&manifest.data.image().cloned().unwrap_or_default())
}

/// How a run's clips were read.
fn manifest_audio(manifest: &RunManifest) -> AudioOptions {
    audio_options(&manifest.data.audio().cloned().unwrap_or_default())
}

/// How the project's data settings translate into spectrogram options.
pub fn audio_options(d: &AudioSettings) -> AudioOptions {
    AudioOptions {
        clip_seconds: d.clip_seconds,
        mel_bands: d.mel_bands.max(4),
        window_ms: d.window_ms,
        hop_ms: d.hop_ms,
        mfcc: d.mfcc,
    }
}

/// Imports the project's data (image folder or CSV table) and splits it as the project says,
/// keeping the prepared samples in the sample store (unless `STRATA_SAMPLE_STORE=off`).
pub fn prepare(
    data: &DataSettings,
    cancel: Option<&AtomicBool>,
    progress: Option<Progress<'_>>,
) -> Result<(PreparedData, ImportReport)> {
    prepare_in(
        data,
        crate::data::store::default_dir().as_deref(),
        cancel,
        progress,
    )
}

/// [`prepare`] with the prepared samples kept in the sample stores' folder `store`, or in
/// memory without one.
pub fn prepare_in(
    data: &DataSettings,
    store: Option<&Path>,
    cancel: Option<&AtomicBool>,
    progress: Option<Progress<'_>>,
) -> Result<(PreparedData, ImportReport)> {
    let image = match &data.source {
        Source::Tabular(table) => return prepare_table(data, table, store),
        Source::Text(text) => return prepare_text(data, text, store),
        Source::Audio(audio) => {
            let (mut dataset, mut report) =
                import_audio_folder(&data.path, &audio_options(audio), store, cancel, progress)?;
            let split = stratified_split(
                &dataset.images.labels,
                data.val_fraction,
                data.test_fraction,
                data.split_seed,
            );
            let split = match edit_images(data, &mut dataset.images, &mut report, &split) {
                Some((plan, split)) => {
                    dataset.durations = plan.filter(std::mem::take(&mut dataset.durations));
                    dataset.sample_rates = plan.filter(std::mem::take(&mut dataset.sample_rates));
                    split
                }
                None => split,
            };
            let dataset = Arc::new(Dataset::Audio(Box::new(dataset)));
            return Ok((PreparedData { dataset, split }, report));
        }
        Source::Image(image) => image,
    };
    let (mut dataset, mut report) =
        import_image_folder(&data.path, &import_options(image), store, cancel, progress)?;
    let split = stratified_split(
        &dataset.labels,
        data.val_fraction,
        data.test_fraction,
        data.split_seed,
    );
    let split = edit_images(data, &mut dataset, &mut report, &split).map_or(split, |(_, s)| s);
    let dataset = Arc::new(Dataset::Images(dataset));
    Ok((PreparedData { dataset, split }, report))
}

/// Applies the data check's choices to imported pictures (or spectrograms); returns the plan
/// and the split without the left-out samples when anything changed.
fn edit_images(
    data: &DataSettings,
    dataset: &mut ImageDataset,
    report: &mut ImportReport,
    split: &crate::data::Split,
) -> Option<(data_edits::Plan, crate::data::Split)> {
    if data.edits.is_empty() {
        return None;
    }
    let keys: Vec<String> = dataset
        .paths
        .iter()
        .map(|p| sample_key(&data.path, &p.display().to_string()))
        .collect();
    let plan = data_edits::plan(&data.edits, &keys, &dataset.labels, &dataset.classes);
    if !plan.changes_anything() {
        return None;
    }
    plan.report(report, &dataset.classes);
    dataset.retain_pixels(&plan.keep);
    dataset.paths = plan.filter(std::mem::take(&mut dataset.paths));
    dataset.labels = plan.kept_labels();
    let split = plan.split(split);
    Some((plan, split))
}

/// Reads the texts (a CSV or class folders), splits them by class and builds the vocabulary
/// (and, unless set, the sequence length) from the training texts.
fn prepare_text(
    data: &DataSettings,
    text: &TextSettings,
    store: Option<&Path>,
) -> Result<(PreparedData, ImportReport)> {
    let raw = if data.path.is_dir() {
        read_text_folder(&data.path)
    } else {
        read_text_csv(&data.path, &text.text_column, &text.label_column)
    }
    .map_err(|e| anyhow!("{e}"))?;
    let mut raw = raw;
    let split = stratified_split(
        &raw.labels,
        data.val_fraction,
        data.test_fraction,
        data.split_seed,
    );
    let keys: Vec<String> = raw
        .sources
        .iter()
        .map(|s| sample_key(&data.path, s))
        .collect();
    let plan = data_edits::plan(&data.edits, &keys, &raw.labels, &raw.classes);
    let split = if plan.changes_anything() {
        raw.texts = plan.filter(std::mem::take(&mut raw.texts));
        raw.sources = plan.filter(std::mem::take(&mut raw.sources));
        raw.labels = plan.kept_labels();
        plan.split(&split)
    } else {
        split
    };
    let train_texts = || split.train.iter().map(|&i| raw.texts[i].as_str());
    let vocab = if text.tokenizer == TokenizerKind::File {
        let mut vocab = Vocabulary::from_tokenizer_file(
            &text.tokenizer_file,
            text.sequence_length.unwrap_or(0),
        )
        .map_err(|e| anyhow!("{e}"))?;
        if text.sequence_length.is_none() {
            vocab.length = vocab.suggested_length(train_texts());
        }
        vocab
    } else {
        let length = text
            .sequence_length
            .unwrap_or_else(|| suggested_length(train_texts(), text.tokenizer));
        Vocabulary::fit(train_texts(), text.tokenizer, text.vocab_size, length)
    };
    let classes = raw.classes.clone();
    let texts = TextDataset::stored(raw, vocab, store).map_err(|e| anyhow!("{e}"))?;
    let mut report = texts.report();
    plan.report(&mut report, &classes);
    Ok((
        PreparedData {
            dataset: Arc::new(Dataset::Text(Box::new(texts))),
            split,
        },
        report,
    ))
}

/// Reads the CSV, splits its rows (by class for classification) and encodes them with statistics
/// of the training rows.
fn prepare_table(
    data: &DataSettings,
    settings: &TableSettings,
    store: Option<&Path>,
) -> Result<(PreparedData, ImportReport)> {
    let table = read_csv(&data.path)?;
    let target = target_column(&table, &settings.target).map_err(|e| anyhow!("{e}"))?;
    // No target chosen yet: the task is found from the data along with the column.
    let task = if settings.target.trim().is_empty() {
        detect_task(&table, target)
    } else {
        settings.task
    };
    let mut labelled = label_table(table, target, task).map_err(|e| anyhow!("{e}"))?;
    let split = stratified_split(
        &labelled.labels,
        data.val_fraction,
        data.test_fraction,
        data.split_seed,
    );
    let keys: Vec<String> = labelled
        .table
        .lines
        .iter()
        .map(|l| format!("line {l}"))
        .collect();
    let labels = if labelled.labels.len() == keys.len() {
        labelled.labels.clone()
    } else {
        vec![0; keys.len()]
    };
    let plan = data_edits::plan(&data.edits, &keys, &labels, &labelled.classes);
    let split = if plan.changes_anything() {
        let t = &mut labelled.table;
        t.rows = plan.filter(std::mem::take(&mut t.rows));
        t.lines = plan.filter(std::mem::take(&mut t.lines));
        if labelled.labels.len() == keys.len() {
            labelled.labels = plan.kept_labels();
        }
        if labelled.values.len() == keys.len() {
            labelled.values = plan.filter(std::mem::take(&mut labelled.values));
        }
        plan.split(&split)
    } else {
        split
    };
    let schema = TableSchema::fit(&labelled, &split.train);
    let classes = labelled.classes.clone();
    let table = TableDataset::stored(labelled, schema, store);
    let mut report = table.report();
    plan.report(&mut report, &classes);
    Ok((
        PreparedData {
            dataset: Arc::new(Dataset::Table(Box::new(table))),
            split,
        },
        report,
    ))
}

/// The project as it was when the run was trained (its data settings, the current data path), so
/// evaluation uses the same image size and split.
pub fn manifest_project(project: &Project, manifest: &RunManifest) -> Project {
    let mut p = project.clone();
    let path = p.data.path.clone();
    p.data = manifest.data.clone();
    p.data.path = path;
    p
}

/// Relabels an imported folder so its labels follow the model's class order.
pub fn remap_labels(dataset: &mut ImageDataset, classes: &[String]) -> Result<()> {
    relabel(&mut dataset.labels, &mut dataset.classes, classes)
}

/// Rewrites `labels` (indices into `names`) as indices into the model's `classes`.
fn relabel(labels: &mut [usize], names: &mut Vec<String>, classes: &[String]) -> Result<()> {
    let mut map = Vec::new();
    for name in names.iter() {
        match classes.iter().position(|c| c == name) {
            Some(i) => map.push(i),
            None => bail!(
                "the folder has a class '{name}' the model does not know (it knows {})",
                classes.join(", ")
            ),
        }
    }
    for l in labels.iter_mut() {
        *l = map.get(*l).copied().unwrap_or(0);
    }
    *names = classes.to_vec();
    Ok(())
}

/// A regression model's predictions on samples with known values.
#[derive(Clone, Debug)]
pub struct RegressionEvaluation {
    /// The true values, in the target's units, in `indices` order.
    pub actual: Vec<f64>,
    /// The predicted values, same order.
    pub predicted: Vec<f64>,
    /// MAE, RMSE, R².
    pub report: RegressionReport,
}

/// A trained model's predictions on labelled samples, with the report.
pub struct Evaluation {
    /// The samples evaluated (and possibly others: see `indices`).
    pub dataset: Arc<Dataset>,
    /// Which samples of `dataset` were evaluated.
    pub indices: Vec<usize>,
    /// Classification: one prediction per evaluated sample, in `indices` order.
    pub predictions: Vec<Prediction>,
    /// Classification: accuracy, confusion matrix, per-class metrics.
    pub report: ClassificationReport,
    /// Regression: the values and their metrics (then `predictions` is empty).
    pub regression: Option<RegressionEvaluation>,
}

/// The run was trained without a test split, so there is nothing held back to evaluate on;
/// front ends point the user at evaluating other labelled data, each in its own words.
#[derive(Debug, thiserror::Error)]
#[error("the project has no test split (test fraction 0); evaluate on other labelled data instead")]
pub struct NoTestSplit;

/// Evaluates a trained run on the project's test split (the split the run was trained with).
/// Fails with [`NoTestSplit`] before importing anything when the run had none.
pub fn evaluate_test_split(
    project: &Project,
    trained: &TrainedModel,
    cancel: Option<&AtomicBool>,
    progress: Option<Progress<'_>>,
) -> Result<Evaluation> {
    if trained.manifest.split_sizes[2] == 0 {
        return Err(NoTestSplit.into());
    }
    let settings = manifest_project(project, &trained.manifest).data;
    let (data, _) = prepare(&settings, cancel, progress)?;
    evaluate_split(trained, &data)
}

/// Keeps a test-split evaluation's score with its run, for the runs table (a failure to write
/// it loses nothing but the table's entry).
pub fn record_test_score(run_dir: &Path, evaluation: &Evaluation) {
    let score = match &evaluation.regression {
        Some(r) => engine::runs::TestScore {
            score: r.report.r2,
            samples: r.report.samples,
        },
        None => engine::runs::TestScore {
            score: evaluation.report.accuracy,
            samples: evaluation.indices.len(),
        },
    };
    if let Err(e) = engine::runs::write_test_score(run_dir, &score) {
        eprintln!(
            "note: could not keep the test score in '{}': {e}",
            run_dir.display()
        );
    }
}

/// Evaluates a trained run on the test split of data already imported with the run's settings.
pub fn evaluate_split(trained: &TrainedModel, data: &PreparedData) -> Result<Evaluation> {
    if data.split.test.is_empty() {
        return Err(NoTestSplit.into());
    }
    evaluate_samples(trained, data.dataset.clone(), data.split.test.clone())
}

/// Evaluates a trained run on all of other labelled data of its kind: an image folder (one
/// sub-folder per class) or a CSV file with the target column.
pub fn evaluate_other(path: &Path, trained: &TrainedModel) -> Result<Evaluation> {
    let manifest = &trained.manifest;
    let dataset = match (&manifest.table, &manifest.text) {
        (Some(schema), _) => Dataset::Table(Box::new(
            TableDataset::with_schema(
                read_csv(path)?,
                schema.clone(),
                true,
                crate::data::store::default_dir().as_deref(),
            )
            .map_err(|e| anyhow!("{e}"))?,
        )),
        (_, Some(vocab)) => {
            let mut raw = if path.is_dir() {
                read_text_folder(path)
            } else {
                let text = manifest.data.text().cloned().unwrap_or_default();
                read_text_csv(path, &text.text_column, &text.label_column)
            }
            .map_err(|e| anyhow!("{e}"))?;
            relabel(&mut raw.labels, &mut raw.classes, &manifest.classes)?;
            Dataset::Text(Box::new(
                TextDataset::stored(
                    raw,
                    vocab.clone(),
                    crate::data::store::default_dir().as_deref(),
                )
                .map_err(|e| anyhow!("{e}"))?,
            ))
        }
        (None, None) if manifest.data.kind() == DataKind::Audio => {
            let (mut dataset, _) = import_audio_folder(
                path,
                &manifest_audio(manifest),
                crate::data::store::default_dir().as_deref(),
                None,
                None,
            )?;
            remap_labels(&mut dataset.images, &manifest.classes)?;
            Dataset::Audio(Box::new(dataset))
        }
        (None, None) => {
            let (mut dataset, _) = import_image_folder(
                path,
                &manifest_images(manifest),
                crate::data::store::default_dir().as_deref(),
                None,
                None,
            )?;
            remap_labels(&mut dataset, &trained.manifest.classes)?;
            Dataset::Images(dataset)
        }
    };
    let indices = (0..dataset.len()).collect();
    evaluate_samples(trained, Arc::new(dataset), indices)
}

fn evaluate_samples(
    trained: &TrainedModel,
    dataset: Arc<Dataset>,
    indices: Vec<usize>,
) -> Result<Evaluation> {
    let manifest = &trained.manifest;
    if dataset.classes() != manifest.classes {
        bail!(
            "the data's classes ({}) differ from the model's ({})",
            dataset.classes().join(", "),
            manifest.classes.join(", ")
        );
    }
    if let Some(table) = dataset.table().filter(|t| t.schema.task == Task::Regress) {
        let predicted = predict_values(trained, &dataset, &indices)?;
        let actual: Vec<f64> = indices
            .iter()
            .map(|&i| table.target_value(i).unwrap_or(f64::NAN))
            .collect();
        let report = eval::regression_report(&actual, &predicted);
        return Ok(Evaluation {
            dataset,
            indices,
            predictions: Vec::new(),
            report: eval::classification_report(&[], &[], &[]),
            regression: Some(RegressionEvaluation {
                actual,
                predicted,
                report,
            }),
        });
    }
    let predictions = predict_samples(trained, &dataset, &indices, Some(dataset.labels()))?;
    let y_true: Vec<usize> = predictions
        .iter()
        .map(|p| p.true_label.unwrap_or(0))
        .collect();
    let y_pred: Vec<usize> = predictions.iter().map(|p| p.predicted).collect();
    let report = eval::classification_report(&manifest.classes, &y_true, &y_pred);
    Ok(Evaluation {
        dataset,
        indices,
        predictions,
        report,
        regression: None,
    })
}

/// Samples per inference batch.
const PREDICT_BATCH: usize = crate::engine::INFERENCE_BATCH;

/// A regression model's predicted values for `indices` of `dataset`, in the target's units.
fn predict_values(
    trained: &TrainedModel,
    dataset: &Dataset,
    indices: &[usize],
) -> Result<Vec<f64>> {
    let schema = trained
        .manifest
        .table
        .as_ref()
        .ok_or_else(|| anyhow!("the run does not say how to read its table; train it again"))?;
    let outputs = engine::predict(
        &trained.network,
        dataset,
        indices,
        trained.manifest.training.loss,
        PREDICT_BATCH,
    )?;
    Ok(outputs
        .iter()
        .map(|o| schema.target_value(o.first().copied().unwrap_or(f32::NAN)))
        .collect())
}

/// The trained model's predictions for `indices` of `dataset`.
fn predict_samples(
    trained: &TrainedModel,
    dataset: &Dataset,
    indices: &[usize],
    true_labels: Option<&[usize]>,
) -> Result<Vec<Prediction>> {
    let probs = engine::predict(
        &trained.network,
        dataset,
        indices,
        trained.manifest.training.loss,
        PREDICT_BATCH,
    )?;
    Ok(eval::predictions(indices, true_labels, probs))
}

/// Files to predict: the given files, and every non-hidden file under the given folders (sorted);
/// `-` (standard input) is kept as it is.
pub fn collect_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in inputs {
        if p.as_os_str() == "-" {
            files.push(p.clone());
        } else if p.is_dir() {
            for entry in walkdir::WalkDir::new(p)
                .follow_links(false)
                .sort_by_file_name()
            {
                let entry = entry.with_context(|| format!("could not read '{}'", p.display()))?;
                let name = entry.file_name().to_string_lossy();
                if entry.file_type().is_file() && !name.starts_with('.') {
                    files.push(entry.path().to_owned());
                }
            }
        } else if p.exists() {
            files.push(p.clone());
        } else {
            bail!("'{}' does not exist", p.display());
        }
    }
    Ok(files)
}

/// Predictions for unlabelled files or table rows.
pub struct FilePredictions {
    /// The decoded samples (labels are placeholders; shared, so explaining one copies nothing).
    pub dataset: Arc<Dataset>,
    /// Where each sample came from, for people: the file, or "file.csv line 12".
    pub sources: Vec<String>,
    /// Classification: one per usable sample, in `dataset` order.
    pub predictions: Vec<Prediction>,
    /// Regression: the predicted value of each sample, in `dataset` order.
    pub values: Vec<f64>,
    /// Files or rows that could not be used, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl FilePredictions {
    /// Samples predicted.
    pub fn len(&self) -> usize {
        self.predictions.len().max(self.values.len())
    }

    /// Whether nothing could be predicted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Decodes the files as the model's training data was read (images, or the rows of CSV files for
/// a table model) and predicts each sample.
pub fn predict_files(trained: &TrainedModel, files: &[PathBuf]) -> Result<FilePredictions> {
    if let Some(schema) = &trained.manifest.table {
        return predict_table_files(trained, schema, files);
    }
    if trained.manifest.text.is_some() {
        return predict_text_files(trained, files);
    }
    if trained.manifest.data.kind() == DataKind::Audio {
        return predict_audio_files(trained, files);
    }
    let manifest = &trained.manifest;
    let options = manifest_images(manifest);
    let mut dataset = ImageDataset {
        classes: manifest.classes.clone(),
        channels: if options.channels >= 3 { 3 } else { 1 },
        height: options.height as usize,
        width: options.width as usize,
        ..ImageDataset::default()
    };
    let mut skipped = Vec::new();
    for f in files {
        match decode_image_file(f, &options) {
            Ok(pixels) => {
                dataset.pixels.extend_from_slice(&pixels);
                dataset.labels.push(0);
                dataset.paths.push(f.clone());
            }
            Err(reason) => skipped.push((f.display().to_string(), reason.to_string())),
        }
    }
    classify_all(trained, Dataset::Images(dataset), skipped)
}

/// A classifier's predictions for every sample of `dataset`, each named by where it came from.
fn classify_all(
    trained: &TrainedModel,
    dataset: Dataset,
    skipped: Vec<(String, String)>,
) -> Result<FilePredictions> {
    let indices: Vec<usize> = (0..dataset.len()).collect();
    let predictions = predict_samples(trained, &dataset, &indices, None)?;
    let sources = indices.iter().map(|&i| dataset.source(i)).collect();
    Ok(FilePredictions {
        dataset: Arc::new(dataset),
        sources,
        predictions,
        values: Vec::new(),
        skipped,
    })
}

/// Each audio file as the training clips were read (rate, length, spectrogram).
fn predict_audio_files(trained: &TrainedModel, files: &[PathBuf]) -> Result<FilePredictions> {
    let options = manifest_audio(&trained.manifest);
    let mut clips = AudioDataset::empty(trained.manifest.classes.clone(), &options);
    let mut skipped = Vec::new();
    for f in files {
        match audio_file_pixels(f, &options) {
            Ok(clip) => clips.push(0, f.clone(), clip),
            Err(reason) => skipped.push((f.display().to_string(), reason.to_string())),
        }
    }
    classify_all(trained, Dataset::Audio(Box::new(clips)), skipped)
}

/// Every row of the CSV files, encoded with the run's schema; unreadable files and rows are
/// skipped and named.
fn predict_table_files(
    trained: &TrainedModel,
    schema: &TableSchema,
    files: &[PathBuf],
) -> Result<FilePredictions> {
    let mut merged: Option<TableDataset> = None;
    let mut sources = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let table = match read_csv(f)
            .map_err(|e| e.reason)
            .and_then(|t| TableDataset::with_schema(t, schema.clone(), false, None))
        {
            Ok(t) => t,
            Err(reason) => {
                skipped.push((name, reason));
                continue;
            }
        };
        for s in &table.table.skipped {
            skipped.push((format!("{name} line {}", s.line), s.reason.clone()));
        }
        sources.extend(table.table.lines.iter().map(|l| format!("{name} line {l}")));
        match &mut merged {
            None => merged = Some(table),
            Some(m) => {
                m.features.append(&table.features);
                m.labels.extend_from_slice(&table.labels);
                m.table.rows.extend(table.table.rows);
                m.table.lines.extend(table.table.lines);
            }
        }
    }
    let dataset = Dataset::Table(Box::new(merged.unwrap_or_else(|| {
        TableDataset::new(crate::data::LabelledTable::default(), schema.clone())
    })));
    let indices: Vec<usize> = (0..dataset.len()).collect();
    let (predictions, values) = match schema.task {
        Task::Classify => (
            predict_samples(trained, &dataset, &indices, None)?,
            Vec::new(),
        ),
        Task::Regress => (Vec::new(), predict_values(trained, &dataset, &indices)?),
    };
    Ok(FilePredictions {
        dataset: Arc::new(dataset),
        sources,
        predictions,
        values,
        skipped,
    })
}

/// The texts in `files`: the text column of CSV files, every non-empty line of other files (`-`
/// reads standard input).
fn predict_text_files(trained: &TrainedModel, files: &[PathBuf]) -> Result<FilePredictions> {
    let mut texts = Vec::new();
    let mut sources = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let is_csv = f
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("tsv"));
        if is_csv {
            let requested = trained
                .manifest
                .data
                .text()
                .map(|t| t.text_column.clone())
                .unwrap_or_default();
            let table = read_csv(f).map_err(|e| e.reason).and_then(|t| {
                let c = text_column(&t, &requested)?;
                Ok((t, c))
            });
            match table {
                Ok((table, c)) => {
                    for s in &table.skipped {
                        skipped.push((format!("{name} line {}", s.line), s.reason.clone()));
                    }
                    for (row, line) in table.rows.iter().zip(&table.lines) {
                        if row[c].trim().is_empty() {
                            skipped.push((
                                format!("{name} line {line}"),
                                "the text is empty".to_owned(),
                            ));
                        } else {
                            texts.push(row[c].trim().to_owned());
                            sources.push(format!("{name} line {line}"));
                        }
                    }
                }
                Err(reason) => skipped.push((name, reason)),
            }
            continue;
        }
        let content = if name == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map(|_| s)
                .map_err(|e| format!("could not be read: {e}"))
        } else {
            read_text_file(f).map_err(String::from)
        };
        match content {
            Ok(content) => {
                for (i, line) in content.lines().enumerate() {
                    if !line.trim().is_empty() {
                        texts.push(line.trim().to_owned());
                        sources.push(format!("{name} line {}", i + 1));
                    }
                }
            }
            Err(reason) => skipped.push((name, reason)),
        }
    }
    let mut result = predict_texts(trained, texts)?;
    result.sources = sources;
    result.skipped = skipped;
    Ok(result)
}

/// A text model's predictions for the given texts (sources are "text 1", "text 2"…).
pub fn predict_texts(trained: &TrainedModel, texts: Vec<String>) -> Result<FilePredictions> {
    let vocab = trained
        .manifest
        .text
        .clone()
        .ok_or_else(|| anyhow!("this model does not read texts"))?;
    let n = texts.len();
    let raw = crate::data::RawTexts {
        sources: (1..=n).map(|i| format!("text {i}")).collect(),
        labels: vec![0; n],
        classes: trained.manifest.classes.clone(),
        texts,
        ..Default::default()
    };
    let dataset = Dataset::Text(Box::new(
        TextDataset::new(raw, vocab).map_err(|e| anyhow!("{e}"))?,
    ));
    classify_all(trained, dataset, Vec::new())
}

/// Predictions as CSV: `path,class,confidence,p_<class>…` for an image classifier (`row,…` for a
/// table), `row,predicted <target>` for a regression model.
pub fn predictions_csv(trained: &TrainedModel, result: &FilePredictions) -> Result<Vec<u8>> {
    let classes = &trained.manifest.classes;
    let source = |i: usize| result.sources.get(i).cloned().unwrap_or_default();
    let mut w = csv::Writer::from_writer(Vec::new());
    if let Some(schema) = trained
        .manifest
        .table
        .as_ref()
        .filter(|s| s.task == Task::Regress)
    {
        w.write_record(["row", &format!("predicted {}", schema.target)])?;
        for (i, v) in result.values.iter().enumerate() {
            w.write_record([source(i), format!("{v:.6}")])?;
        }
        return w.into_inner().map_err(|e| anyhow!("{e}"));
    }
    let mut header = vec![
        match trained.manifest.data.kind() {
            DataKind::Image => "path",
            DataKind::Tabular => "row",
            DataKind::Text => "text",
            DataKind::Audio => "path",
        }
        .to_owned(),
        "class".to_owned(),
        "confidence".to_owned(),
    ];
    header.extend(classes.iter().map(|c| format!("p_{c}")));
    w.write_record(&header)?;
    for p in &result.predictions {
        let class = classes.get(p.predicted).cloned().unwrap_or_default();
        let mut rec = vec![source(p.index), class, format!("{:.6}", p.confidence)];
        rec.extend(p.probabilities.iter().map(|v| format!("{v:.6}")));
        w.write_record(&rec)?;
    }
    w.into_inner().map_err(|e| anyhow!("{e}"))
}
