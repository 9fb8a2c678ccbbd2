//! Exporting a trained run as an ONNX file that carries its own input recipe, checked against a
//! second engine before it is written.

use std::path::Path;

use anyhow::{Context as _, Result};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};

use crate::data::SAMPLE_RATE;
use crate::engine::{PreparedData, RunManifest, TrainedModel};
use crate::export::onnx::to_onnx;
use crate::export::{check, CheckReport, OnnxError};
use crate::layers::Layer;
use crate::project::{Source, Task, TokenizerKind};

/// What an export writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One ONNX file (opset 17) with the input recipe in its metadata, checked against tract.
    Onnx,
    /// Strata's own folder: safetensors weights, layer graph, run description.
    Strata,
    /// A PyTorch project folder: the model as `torch.nn` code with its weights, the data read
    /// the same way, and programs to train (one CPU, one GPU, or many through `torchrun`) and
    /// to predict.
    Pytorch,
}

impl ExportFormat {
    /// ONNX for a path ending in `.onnx`, otherwise Strata's folder.
    pub fn for_path(path: &Path) -> Self {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        {
            Self::Onnx
        } else {
            Self::Strata
        }
    }
}

/// Samples the check runs at most.
pub const CHECK_SAMPLES: usize = 64;

/// The largest difference allowed between the file's outputs and Strata's: Strata's own layers
/// agree to float rounding; pretrained networks add up many more of them.
fn tolerance(trained: &TrainedModel) -> f32 {
    let deep = trained
        .network
        .graph()
        .nodes
        .iter()
        .any(|n| matches!(n.layer, Layer::Pretrained(_) | Layer::TrainedModel(_)));
    if deep {
        1e-3
    } else {
        1e-4
    }
}

/// What a program needs to use the file, as ONNX `metadata_props`: the task, the classes, what
/// the output means, and how inputs are made from images, texts, clips or table rows.
pub fn onnx_metadata(manifest: &RunManifest, input_shape: &[usize]) -> Vec<(String, String)> {
    let mut m: Vec<(String, String)> = vec![
        (
            "producer".into(),
            format!("Strata {}", crate::build_info::VERSION),
        ),
        ("strata.run".into(), manifest.run_id.clone()),
        (
            "input.shape".into(),
            format!(
                "[N, {}] float32",
                input_shape
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    ];
    let regression = manifest
        .table
        .as_ref()
        .is_some_and(|t| t.task == Task::Regress);
    if regression {
        m.push(("task".into(), "regression".into()));
    } else {
        m.push(("task".into(), "classification".into()));
        m.push(("classes".into(), json(&manifest.classes)));
        m.push((
            "output".into(),
            "one probability per class (softmax), in the order of 'classes'".into(),
        ));
    }
    match &manifest.data.source {
        Source::Image(image) => {
            m.push(("input.kind".into(), "image".into()));
            m.push(("image.width".into(), image.width.to_string()));
            m.push(("image.height".into(), image.height.to_string()));
            m.push(("image.channels".into(), image.channels.to_string()));
            m.push((
                "input.recipe".into(),
                format!(
                    "decode the image (EXIF orientation applied), put transparent pixels on white, {}, resize to exactly {}×{} (triangle filter, aspect ratio not kept), channels first (NCHW), each value = pixel / 255",
                    if image.channels == 1 { "convert to grayscale (luma)" } else { "convert to RGB" },
                    image.width,
                    image.height
                ),
            ));
            m.push(("image.pixel_scale".into(), "value = pixel / 255".into()));
        }
        Source::Audio(audio) => {
            m.push(("input.kind".into(), "audio".into()));
            m.push(("audio.sample_rate".into(), SAMPLE_RATE.to_string()));
            m.push(("audio.clip_seconds".into(), audio.clip_seconds.to_string()));
            m.push(("audio.mel_bands".into(), audio.mel_bands.to_string()));
            m.push(("audio.window_ms".into(), audio.window_ms.to_string()));
            m.push(("audio.hop_ms".into(), audio.hop_ms.to_string()));
            m.push(("audio.mfcc".into(), audio.mfcc.to_string()));
            m.push((
                "input.recipe".into(),
                format!(
                    "decode, mix to mono, resample to {SAMPLE_RATE} Hz, cut or pad with silence to {} s; {} ; one channel, rows × frames, each value = pixel / 255",
                    audio.clip_seconds,
                    if audio.mfcc > 0 {
                        format!("{} MFCCs per frame of a {}-band log-mel spectrogram ({} ms windows, {} ms steps; first coefficient 255·(1 + c / (80·√bands)), others 128 + 1.27·c, relative to the clip's loudest point)", audio.mfcc, audio.mel_bands, audio.window_ms, audio.hop_ms)
                    } else {
                        format!("log-mel spectrogram as librosa computes it ({} mel bands, Slaney filters, centred Hann windows of {} ms, steps of {} ms, power in dB), low frequencies at the bottom, as a grayscale picture: 255 at the clip's loudest point, 0 at 80 dB below it", audio.mel_bands, audio.window_ms, audio.hop_ms)
                    }
                ),
            ));
        }
        Source::Text(text) => {
            m.push(("input.kind".into(), "text".into()));
            if let Some(vocab) = &manifest.text {
                m.push((
                    "text.tokenizer".into(),
                    match vocab.tokenizer {
                        TokenizerKind::Words => "words".into(),
                        TokenizerKind::Characters => "characters".into(),
                        TokenizerKind::WordsAndMarks => "words_and_marks".into(),
                        TokenizerKind::File => "tokenizer.json (in text.tokenizer_json)".into(),
                    },
                ));
                m.push(("text.sequence_length".into(), vocab.length.to_string()));
                m.push(("text.pad_id".into(), vocab.pad_id.to_string()));
                m.push(("text.unknown_id".into(), vocab.unknown_id.to_string()));
                m.push(("text.vocabulary".into(), json(&vocab.tokens)));
                if let Some(tokenizer) = &vocab.tokenizer_json {
                    m.push(("text.tokenizer_json".into(), tokenizer.clone()));
                }
            }
            m.push((
                "input.recipe".into(),
                format!(
                    "cut the text into tokens ({}), look each up in text.vocabulary (unknown tokens → text.unknown_id), cut or pad with text.pad_id to text.sequence_length, give the ids as float32",
                    match text.tokenizer {
                        TokenizerKind::Words => "lower-cased words",
                        TokenizerKind::Characters => "lower-cased characters",
                        TokenizerKind::WordsAndMarks => "lower-cased words, and every other mark but white space as a token of its own",
                        TokenizerKind::File => "with the tokenizer in text.tokenizer_json",
                    }
                ),
            ));
        }
        Source::Tabular(table) => {
            m.push(("input.kind".into(), "table".into()));
            m.push(("table.target".into(), table.target.clone()));
            if let Some(schema) = &manifest.table {
                m.push(("table.schema".into(), json(schema)));
                if regression {
                    m.push(("table.target_mean".into(), schema.target_mean.to_string()));
                    m.push(("table.target_std".into(), schema.target_std.to_string()));
                    m.push((
                        "output".into(),
                        format!(
                            "the standardized '{}': multiply by table.target_std and add table.target_mean",
                            schema.target
                        ),
                    ));
                }
            }
            m.push((
                "input.recipe".into(),
                "one value per entry of table.schema's columns, in order: numbers standardized with the column's mean and standard deviation (missing → 0), categories one-hot".into(),
            ));
        }
    }
    m.push(("strata.data_settings".into(), json(&manifest.data)));
    m
}

/// A value as JSON (never fails for the plain types the metadata holds).
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Inputs for the check: up to [`CHECK_SAMPLES`] test samples of `data` (validation or training
/// samples when there is no test split), or random inputs of the model's shape without data.
fn check_inputs(trained: &TrainedModel, data: Option<&PreparedData>) -> Result<(Tensor, String)> {
    if let Some(data) = data {
        let (indices, source) = [
            (&data.split.test, "test samples"),
            (&data.split.val, "validation samples"),
            (&data.split.train, "training samples"),
        ]
        .into_iter()
        .find(|(s, _)| !s.is_empty())
        .map(|(s, name)| {
            (
                s.iter().copied().take(CHECK_SAMPLES).collect::<Vec<_>>(),
                name,
            )
        })
        .unwrap_or_default();
        if !indices.is_empty() {
            let batch = data.dataset.batch(&indices, None, &Device::Cpu)?;
            return Ok((batch.inputs, source.to_owned()));
        }
    }
    let shape: Vec<usize> = std::iter::once(CHECK_SAMPLES)
        .chain(
            trained.network.checked().info[trained.network.checked().input]
                .output_shape
                .iter()
                .copied(),
        )
        .collect();
    let n: usize = shape.iter().product();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let values: Vec<f32> = match &trained.manifest.text {
        Some(vocab) => (0..n)
            .map(|_| rng.random_range(0..vocab.tokens.len().max(1)) as f32)
            .collect(),
        None => (0..n).map(|_| rng.random::<f32>()).collect(),
    };
    Ok((
        Tensor::from_vec(values, shape, &Device::Cpu)?,
        "random inputs".to_owned(),
    ))
}

/// Writes the best model of `run_dir` as an ONNX file at `dest`, after checking it: tract runs the
/// file next to Strata on test samples of `data` (random inputs without data). A file that gives
/// other answers is not written.
pub fn export_onnx(
    run_dir: &Path,
    dest: &Path,
    data: Option<&PreparedData>,
) -> Result<CheckReport> {
    let trained = TrainedModel::load(run_dir, &Device::Cpu)?;
    let input_shape = trained.network.checked().info[trained.network.checked().input]
        .output_shape
        .clone();
    let metadata = onnx_metadata(&trained.manifest, &input_shape);
    let bytes = to_onnx(&trained.network, &metadata)?;
    let (inputs, source) = check_inputs(&trained, data)?;
    let classify = trained
        .manifest
        .table
        .as_ref()
        .is_none_or(|t| t.task == Task::Classify);
    let report = check::check(
        &bytes,
        &trained.network,
        &inputs,
        &source,
        classify,
        tolerance(&trained),
    )?;
    if !report.passed() {
        return Err(OnnxError::Mismatch(report.line()).into());
    }
    crate::files::atomic_write(dest, &bytes)
        .with_context(|| format!("could not write '{}'", dest.display()))?;
    Ok(report)
}

/// Exports the run `run_dir` of `project` as ONNX at `out`, checked on the project's test samples
/// (its data imported again with the run's settings). When the data cannot be read the check runs
/// on random inputs, and the note says why.
pub fn export_project_onnx(
    project: &crate::project::Project,
    run_dir: &Path,
    out: &Path,
    cancel: Option<&std::sync::atomic::AtomicBool>,
    progress: Option<super::Progress<'_>>,
) -> Result<(CheckReport, Option<String>)> {
    let manifest = crate::engine::runs::read_manifest(run_dir)?;
    let settings = super::manifest_project(project, &manifest).data;
    let (data, note) = match super::prepare(&settings, cancel, progress) {
        Ok((data, _)) => (Some(data), None),
        Err(e) => (
            None,
            Some(format!(
                "the project's data could not be read ({e:#}), so the check ran on random inputs"
            )),
        ),
    };
    Ok((export_onnx(run_dir, out, data.as_ref())?, note))
}

/// Adds a run to the project at `project_path` from a weights file trained elsewhere, with
/// Strata's tensor names (`<layer>.<tensor>`, as Strata's own `model.safetensors`): the project's
/// model with those weights, and the classes, vocabulary or column encoding of its data as
/// imported now, so Evaluate, Use and Export work on it. Returns the new run's folder.
pub fn import_run(
    project_path: &Path,
    project: &crate::project::Project,
    weights: &Path,
    cancel: Option<&std::sync::atomic::AtomicBool>,
    progress: Option<super::Progress<'_>>,
) -> Result<std::path::PathBuf> {
    use crate::engine::runs::{
        create_run_dir, save_checkpoint, write_manifest, write_metrics, BEST_DIR,
    };
    let network = crate::engine::Network::load(&project.model, weights, &Device::Cpu)
        .with_context(|| "the weights do not fit the project's model".to_owned())?;
    let (data, _) = super::prepare(&project.data, cancel, progress)?;
    let dataset = &data.dataset;
    let outputs = network.checked().output_shape().iter().product::<usize>();
    if outputs != dataset.outputs() {
        anyhow::bail!(
            "the model gives {outputs} values but the data needs {}; the weights were trained for other data",
            dataset.outputs()
        );
    }
    let (run_id, run_dir) = create_run_dir(&crate::project::Project::runs_dir(project_path))
        .with_context(|| {
            format!(
                "could not create a run folder next to '{}'",
                project_path.display()
            )
        })?;
    let mut manifest = RunManifest::new(
        run_id,
        dataset,
        project,
        format!("trained elsewhere, imported from {}", weights.display()),
        [
            data.split.train.len(),
            data.split.val.len(),
            data.split.test.len(),
        ],
    );
    manifest.finished = true;
    manifest.imported_from = Some(weights.to_owned());
    save_checkpoint(&network, &run_dir, BEST_DIR)?;
    write_metrics(&run_dir, &[])?;
    // The description last: a run folder without it is tidied away as never started.
    write_manifest(&run_dir, &manifest)?;
    Ok(run_dir)
}
