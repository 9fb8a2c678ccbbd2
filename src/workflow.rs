//! Steps both front ends (CLI and desktop app) take over the core: import a project's data and
//! split it, evaluate a trained run on its test split or another folder, predict files, and write
//! predictions as CSV. One implementation, so the app and `strata evaluate` give the same numbers.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};

use crate::data::{
    decode_image_file, import_image_folder, stratified_split, ImageDataset, ImportOptions,
    ImportReport,
};
use crate::engine::{self, PreparedData, RunManifest, TrainedModel};
use crate::eval::{self, ClassificationReport, Prediction};
use crate::project::{DataSettings, Project};

/// Progress callback: `(done, total)`.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// How the project's data settings translate into importer options.
pub fn import_options(d: &DataSettings) -> ImportOptions {
    ImportOptions {
        width: d.image_width,
        height: d.image_height,
        channels: d.channels,
    }
}

/// Imports the project's data folder and splits it as the project says.
pub fn prepare(
    data: &DataSettings,
    cancel: Option<&AtomicBool>,
    progress: Option<Progress<'_>>,
) -> Result<(PreparedData, ImportReport)> {
    let (dataset, report) =
        import_image_folder(&data.path, &import_options(data), cancel, progress)?;
    let dataset = Arc::new(dataset);
    let split = stratified_split(
        &dataset.labels,
        data.val_fraction,
        data.test_fraction,
        data.split_seed,
    );
    Ok((PreparedData { dataset, split }, report))
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
    let mut map = Vec::new();
    for name in &dataset.classes {
        match classes.iter().position(|c| c == name) {
            Some(i) => map.push(i),
            None => bail!(
                "the folder has a class '{name}' the model does not know (it knows {})",
                classes.join(", ")
            ),
        }
    }
    for l in &mut dataset.labels {
        *l = map.get(*l).copied().unwrap_or(0);
    }
    dataset.classes = classes.to_vec();
    Ok(())
}

/// A trained model's predictions on labelled samples, with the report.
pub struct Evaluation {
    /// The images evaluated (and possibly others: see `indices`).
    pub dataset: Arc<ImageDataset>,
    /// Which samples of `dataset` were evaluated.
    pub indices: Vec<usize>,
    /// One prediction per evaluated sample, in `indices` order.
    pub predictions: Vec<Prediction>,
    /// Accuracy, confusion matrix, per-class metrics.
    pub report: ClassificationReport,
}

/// The run was trained without a test split, so there is nothing held back to evaluate on;
/// front ends point the user at evaluating a separate labelled folder, each in its own words.
#[derive(Debug, thiserror::Error)]
#[error("the project has no test split (test fraction 0); evaluate on a separate folder of labelled images instead")]
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

/// Evaluates a trained run on the test split of data already imported with the run's settings.
pub fn evaluate_split(trained: &TrainedModel, data: &PreparedData) -> Result<Evaluation> {
    if data.split.test.is_empty() {
        return Err(NoTestSplit.into());
    }
    evaluate_samples(trained, data.dataset.clone(), data.split.test.clone())
}

/// Evaluates a trained run on every image of a labelled folder (one sub-folder per class).
pub fn evaluate_folder(dir: &Path, trained: &TrainedModel) -> Result<Evaluation> {
    let (mut dataset, _) =
        import_image_folder(dir, &import_options(&trained.manifest.data), None, None)?;
    remap_labels(&mut dataset, &trained.manifest.classes)?;
    let indices = (0..dataset.len()).collect();
    evaluate_samples(trained, Arc::new(dataset), indices)
}

fn evaluate_samples(
    trained: &TrainedModel,
    dataset: Arc<ImageDataset>,
    indices: Vec<usize>,
) -> Result<Evaluation> {
    let manifest = &trained.manifest;
    if dataset.classes != manifest.classes {
        bail!(
            "the data's classes ({}) differ from the model's ({})",
            dataset.classes.join(", "),
            manifest.classes.join(", ")
        );
    }
    let predictions = predict_samples(trained, &dataset, &indices, Some(&dataset.labels))?;
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
    })
}

/// Samples per inference batch.
const PREDICT_BATCH: usize = 256;

/// The trained model's predictions for `indices` of `dataset`.
fn predict_samples(
    trained: &TrainedModel,
    dataset: &ImageDataset,
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

/// Files to predict: the given files, and every non-hidden file under the given folders (sorted).
pub fn collect_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
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

/// Predictions for unlabelled files.
pub struct FilePredictions {
    /// The decoded images (labels are placeholders).
    pub dataset: ImageDataset,
    /// One per usable file, in `dataset` order.
    pub predictions: Vec<Prediction>,
    /// Files that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Decodes the files as the model's training images were decoded and predicts each.
pub fn predict_files(trained: &TrainedModel, files: &[PathBuf]) -> Result<FilePredictions> {
    let manifest = &trained.manifest;
    let options = import_options(&manifest.data);
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
            Err(reason) => skipped.push((f.clone(), reason)),
        }
    }
    let indices: Vec<usize> = (0..dataset.len()).collect();
    let predictions = predict_samples(trained, &dataset, &indices, None)?;
    Ok(FilePredictions {
        dataset,
        predictions,
        skipped,
    })
}

/// Predictions as CSV: `path,class,confidence,p_<class>…`.
pub fn predictions_csv(
    classes: &[String],
    paths: &[PathBuf],
    predictions: &[Prediction],
) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "path".to_owned(),
        "class".to_owned(),
        "confidence".to_owned(),
    ];
    header.extend(classes.iter().map(|c| format!("p_{c}")));
    w.write_record(&header)?;
    for p in predictions {
        let path = paths
            .get(p.index)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let class = classes.get(p.predicted).cloned().unwrap_or_default();
        let mut rec = vec![path, class, format!("{:.6}", p.confidence)];
        rec.extend(p.probabilities.iter().map(|v| format!("{v:.6}")));
        w.write_record(&rec)?;
    }
    w.into_inner().map_err(|e| anyhow!("{e}"))
}
