//! The training loop: the same code for GUI, CLI and tests, reporting only through events.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor, D};
use rand::{seq::SliceRandom, SeedableRng};
use rayon::prelude::*;

use super::events::{BatchProgress, CancelToken, EpochMetrics, EventSink, Level, TrainEvent};
use super::memory::{available_memory, MemoryEstimate};
use super::network::{activate, Network, Output};
use super::ops::binary_cross_entropy_with_logits;
use super::optim::{Optimizer, OptimizerConfig};
use super::runs::{self, RunManifest};
use super::select_device;
use crate::data::{Batch, Dataset, Split};
use crate::model::Activation;
use crate::project::{LossKind, Project, Task};

/// Data ready for training: decoded samples and their split.
pub struct PreparedData {
    /// The samples (shared, so a new split or a run does not copy them).
    pub dataset: Arc<Dataset>,
    /// Which images are for training, validation and test.
    pub split: Split,
}

/// How a run ended, for callers that want a value as well as the events.
#[derive(Clone, Debug, PartialEq)]
pub enum RunOutcome {
    /// Finished normally.
    Finished {
        /// The run folder.
        run_dir: PathBuf,
        /// Epoch of the best checkpoint.
        best_epoch: usize,
    },
    /// Stopped on request.
    Cancelled,
    /// Failed with a message.
    Failed(String),
}

/// Trains `project`'s model on `data`, writing the run under the project's runs folder. Every
/// step is reported to `sink`; the last event is always `finished`, `failed` or `cancelled`.
/// A panic inside becomes a `failed` event.
pub fn train(
    project: &Project,
    project_path: &Path,
    data: &PreparedData,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> RunOutcome {
    run_guarded(project, project_path, None, data, sink, cancel)
}

/// Continues the interrupted run in `run_dir` from its last finished epoch, with its own saved
/// state; `project` is the one [`resume_project`] made for it. The continuation gives the same
/// weights and losses as a run that was never interrupted.
pub fn resume(
    project: &Project,
    project_path: &Path,
    run_dir: &Path,
    data: &PreparedData,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> RunOutcome {
    run_guarded(project, project_path, Some(run_dir), data, sink, cancel)
}

/// The project an interrupted run continues with: the run's own model, training and data
/// settings (the data found where the project now says it is).
pub fn resume_project(project: &Project, run: &super::resume::Interrupted) -> Project {
    let mut p = project.clone();
    p.model = run.graph.clone();
    p.training = run.manifest.training.clone();
    p.data = crate::project::DataSettings {
        path: project.data.path.clone(),
        ..run.manifest.data.clone()
    };
    p
}

fn run_guarded(
    project: &Project,
    project_path: &Path,
    resume_dir: Option<&Path>,
    data: &PreparedData,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> RunOutcome {
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        train_inner(project, project_path, resume_dir, data, sink, cancel)
    }));
    let outcome = match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(message)) => RunOutcome::Failed(message),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown".to_owned());
            RunOutcome::Failed(format!(
                "training stopped because of an internal error ({what}); please report it"
            ))
        }
    };
    match &outcome {
        RunOutcome::Failed(message) => sink.emit(TrainEvent::Failed {
            message: message.clone(),
        }),
        RunOutcome::Cancelled => sink.emit(TrainEvent::Cancelled {
            message: cancel.reason(),
        }),
        RunOutcome::Finished { .. } => {}
    }
    outcome
}

/// Starts [`train`] on a background thread.
pub fn train_in_background(
    project: Project,
    project_path: PathBuf,
    data: Arc<PreparedData>,
    sink: Box<dyn EventSink>,
    cancel: CancelToken,
) -> std::io::Result<std::thread::JoinHandle<RunOutcome>> {
    resume_in_background(project, project_path, None, data, sink, cancel)
}

/// Starts [`resume`] (with `Some(run_dir)`) or [`train`] (with `None`) on a background thread.
pub fn resume_in_background(
    project: Project,
    project_path: PathBuf,
    resume_dir: Option<PathBuf>,
    data: Arc<PreparedData>,
    sink: Box<dyn EventSink>,
    cancel: CancelToken,
) -> std::io::Result<std::thread::JoinHandle<RunOutcome>> {
    std::thread::Builder::new()
        .name("strata-train".to_owned())
        .spawn(move || {
            run_guarded(
                &project,
                &project_path,
                resume_dir.as_deref(),
                &data,
                sink.as_ref(),
                &cancel,
            )
        })
}

/// The random generator of one epoch: the data order, dropout and augmentation of epoch `epoch`
/// depend only on the run's seed and the epoch number, so a resumed run draws exactly what an
/// uninterrupted one would.
fn epoch_rng(seed: u64, epoch: usize) -> rand::rngs::StdRng {
    // SplitMix64 of the pair: nearby seeds and epochs give unrelated streams.
    let mut z = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    rand::rngs::StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Loss of a batch, from the network output and class labels (u32) or regression targets (f32,
/// MSE only).
pub fn batch_loss(
    out: &Output,
    labels: &Tensor,
    kind: LossKind,
    classes: usize,
) -> candle_core::Result<Tensor> {
    match kind {
        LossKind::CrossEntropy => {
            let logits = match out.activation {
                Activation::Softmax | Activation::Linear => out.pre_activation.clone(),
                other => activate(&out.pre_activation, other)?,
            };
            super::fused::softmax_cross_entropy(&logits, labels)
        }
        LossKind::Mse => {
            let y = activate(&out.pre_activation, out.activation)?;
            let target = if labels.dtype() == candle_core::DType::F32 {
                labels.clone()
            } else {
                candle_nn::encoding::one_hot(labels.clone(), classes, 1f32, 0f32)?
            };
            candle_nn::loss::mse(&y, &target)
        }
        LossKind::BinaryCrossEntropy => {
            let logits = match out.activation {
                Activation::Sigmoid | Activation::Linear => out.pre_activation.clone(),
                other => activate(&out.pre_activation, other)?,
            };
            let target = candle_nn::encoding::one_hot(labels.clone(), classes, 1f32, 0f32)?;
            binary_cross_entropy_with_logits(&logits, &target)
        }
    }
}

/// What one training step did and how long its parts took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepResult {
    /// Loss of the batch (not finite when training diverged; then no update was made).
    pub loss: f32,
    /// Correct predictions in the batch (0 for regression).
    pub correct: usize,
    /// Seconds in the forward pass and loss.
    pub forward_secs: f64,
    /// Seconds in backpropagation.
    pub backward_secs: f64,
    /// Seconds in the optimizer update.
    pub update_secs: f64,
}

/// One training step on a batch: forward in training mode, loss, backward, optimizer update.
/// The update is skipped when the loss is not finite.
pub fn train_step(
    net: &Network,
    optimizer: &mut Optimizer,
    batch: &Batch,
    loss_kind: LossKind,
    classes: usize,
    rng: &mut impl rand::Rng,
) -> candle_core::Result<StepResult> {
    let t0 = Instant::now();
    let out = net
        .forward(&batch.inputs, true, rng)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let loss = batch_loss(&out, &batch.labels, loss_kind, classes)?;
    let value = loss.to_scalar::<f32>()?;
    let t1 = Instant::now();
    let mut result = StepResult {
        loss: value,
        correct: 0,
        forward_secs: (t1 - t0).as_secs_f64(),
        backward_secs: 0.0,
        update_secs: 0.0,
    };
    if !value.is_finite() {
        return Ok(result);
    }
    let grads = loss.backward()?;
    let t2 = Instant::now();
    optimizer.step(&grads)?;
    result.backward_secs = (t2 - t1).as_secs_f64();
    result.update_secs = t2.elapsed().as_secs_f64();
    if batch.labels.dtype() != candle_core::DType::F32 {
        result.correct = count_correct(&out.pre_activation, &batch.labels)?;
    }
    Ok(result)
}

/// Per-class scores as probabilities (softmax for cross-entropy, sigmoid for BCE, the model's own
/// output for MSE).
pub fn probabilities(out: &Output, kind: LossKind) -> candle_core::Result<Tensor> {
    match (kind, out.activation) {
        (LossKind::CrossEntropy, Activation::Softmax | Activation::Linear) => {
            candle_nn::ops::softmax(&out.pre_activation, D::Minus1)
        }
        (LossKind::CrossEntropy, other) => {
            candle_nn::ops::softmax(&activate(&out.pre_activation, other)?, D::Minus1)
        }
        (LossKind::BinaryCrossEntropy, Activation::Sigmoid | Activation::Linear) => {
            candle_nn::ops::sigmoid(&out.pre_activation)
        }
        (_, other) => activate(&out.pre_activation, other),
    }
}

/// Class probabilities (or, for regression, the standardized predicted value) for the given
/// samples, in batches, with the model in inference mode.
pub fn predict(
    net: &Network,
    dataset: &Dataset,
    indices: &[usize],
    loss: LossKind,
    batch_size: usize,
) -> candle_core::Result<Vec<Vec<f32>>> {
    let per_batch = over_batches(net, dataset, indices, batch_size, |_, o| {
        probabilities(o, loss)?.to_vec2::<f32>()
    })?;
    Ok(per_batch.into_iter().flatten().collect())
}

/// `each(batch, output)` for the batches of `indices` (`batch_size` samples each) through `net`
/// in inference mode, the results in the batches' order. Small batches on the CPU run side by
/// side, one per thread: their products are too small to share out well (W1's inference: from
/// 0.68–0.70× to 1.2–1.5× PyTorch, BENCHMARKS.md §2). Big ones (photos) run one at a time with
/// every thread inside, so the memory a batch takes is held once, as estimated.
fn over_batches<T: Send>(
    net: &Network,
    dataset: &Dataset,
    indices: &[usize],
    batch_size: usize,
    each: impl Fn(&Batch, &Output) -> candle_core::Result<T> + Sync,
) -> candle_core::Result<Vec<T>> {
    let chunks: Vec<&[usize]> = indices.chunks(batch_size.max(1)).collect();
    let one = |k: usize, chunk: &[usize]| -> candle_core::Result<T> {
        if let Some(next) = chunks.get(k + 1) {
            dataset.will_need(next);
        }
        let batch = dataset.batch(chunk, None, net.device())?;
        // Inference draws nothing at random (no dropout); the generator only fills the argument.
        let mut rng = rand::rngs::StdRng::seed_from_u64(k as u64);
        let out = net
            .forward(&batch.inputs, false, &mut rng)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        each(&batch, &out)
    };
    let values = batch_size.max(1) * dataset.shape().iter().product::<usize>();
    if net.device().is_cpu()
        && rayon::current_num_threads() > 1
        && values <= super::memory::PARALLEL_VALUES
    {
        chunks
            .par_iter()
            .enumerate()
            .map(|(k, chunk)| one(k, chunk))
            .collect()
    } else {
        chunks
            .iter()
            .enumerate()
            .map(|(k, chunk)| one(k, chunk))
            .collect()
    }
}

struct EvalResult {
    loss: f64,
    accuracy: f64,
}

/// Variance of the (standardized) regression targets of `indices`: R² = 1 − MSE / variance.
fn target_variance(data: &Dataset, indices: &[usize]) -> f64 {
    let Some(table) = data.table() else {
        return 1.0;
    };
    let values: Vec<f64> = indices
        .iter()
        .filter_map(|&i| table.targets.get(i).map(|&t| f64::from(t)))
        .collect();
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    if var > 1e-12 {
        var
    } else {
        1.0
    }
}

/// The accuracy-like score of an epoch: accuracy for classification, R² for regression.
fn score(data: &Dataset, indices: &[usize], mean_loss: f64, correct: usize) -> f64 {
    match data.task() {
        Task::Classify => correct as f64 / indices.len().max(1) as f64,
        Task::Regress => 1.0 - mean_loss / target_variance(data, indices),
    }
}

fn evaluate(
    net: &Network,
    data: &Dataset,
    indices: &[usize],
    loss: LossKind,
    batch_size: usize,
) -> Result<EvalResult, String> {
    let classes = data.classes().len();
    let per_batch = over_batches(net, data, indices, batch_size, |batch, out| {
        let l = batch_loss(out, &batch.labels, loss, classes)?.to_scalar::<f32>()?;
        let correct = if data.task() == Task::Classify {
            count_correct(&out.pre_activation, &batch.labels)?
        } else {
            0
        };
        Ok((f64::from(l), correct))
    })
    .map_err(|e| e.to_string())?;
    // Summed in the batches' order, as one at a time would.
    let (mut total_loss, mut correct) = (0.0, 0usize);
    for ((l, c), chunk) in per_batch.into_iter().zip(indices.chunks(batch_size.max(1))) {
        total_loss += l * chunk.len() as f64;
        correct += c;
    }
    let loss = total_loss / indices.len().max(1) as f64;
    Ok(EvalResult {
        loss,
        accuracy: score(data, indices, loss, correct),
    })
}

pub(super) fn count_correct(scores: &Tensor, labels: &Tensor) -> candle_core::Result<usize> {
    let predicted = scores.argmax(D::Minus1)?;
    predicted
        .eq(labels)?
        .to_dtype(candle_core::DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()
        .map(|v| v as usize)
}

fn train_inner(
    project: &Project,
    project_path: &Path,
    resume_dir: Option<&Path>,
    data: &PreparedData,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<RunOutcome, String> {
    super::device::flush_denormals();
    let settings = &project.training;
    // Learning from the validation samples too: they join the training ones for this run.
    let merged;
    let data = if settings.learn_from_validation && !data.split.val.is_empty() {
        merged = PreparedData {
            dataset: data.dataset.clone(),
            split: crate::data::Split {
                train: data
                    .split
                    .train
                    .iter()
                    .chain(&data.split.val)
                    .copied()
                    .collect(),
                val: Vec::new(),
                test: data.split.test.clone(),
            },
        };
        &merged
    } else {
        data
    };
    let dataset = &data.dataset;
    let classes = dataset.classes().len();
    let task = dataset.task();
    if data.split.train.is_empty() {
        return Err(
            "there are no training samples; import data with at least one sample per class"
                .to_owned(),
        );
    }
    if task == Task::Classify && classes < 2 {
        return Err(format!("a classifier needs at least two classes, but the data has {classes}; add another class"));
    }
    if task == Task::Regress && settings.loss != LossKind::Mse {
        return Err("predicting a number (regression) is trained with the mean squared error; choose the MSE loss".to_owned());
    }
    if settings.epochs == 0 {
        return Err("the number of epochs is 0; set it to at least 1".to_owned());
    }
    if !(settings.lr > 0.0 && settings.lr.is_finite()) {
        return Err(format!(
            "the learning rate {} is not usable; use a small positive number such as 0.001",
            settings.lr
        ));
    }
    let checked = project.model.validate().map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
        format!("the model cannot be trained yet: {}", list.join(" "))
    })?;
    let fixes = crate::model::check_fit(&dataset.fit(), &project.model);
    if !fixes.is_empty() {
        let advice: Vec<&str> = fixes.iter().map(|f| f.advice.as_str()).collect();
        return Err(advice.join(". "));
    }
    let (device, device_text) = select_device(settings.device);
    let mut rng = rand::rngs::StdRng::seed_from_u64(settings.seed);
    // A resumed run's weights (pretrained parts included) come from its saved state.
    let mut net = Network::build_with(&project.model, &device, &mut rng, resume_dir.is_none())
        .map_err(|e| e.to_string())?;
    if resume_dir.is_none() {
        // A bag of words counts its word weights on the training texts (a resumed run has them
        // in its saved state).
        net.fit_to_training_data(dataset, &data.split.train)
            .map_err(|e| e.to_string())?;
    }
    // A frozen pretrained part computes each sample's features once (cached on disk) unless the
    // inputs change every epoch; `STRATA_FEATURE_CACHE=off` turns it off for measurements.
    let feature_note = if !net.has_feature_cache() {
        None
    } else if project.data.augmentation.is_active_for(project.data.kind()) {
        net.set_feature_cache(false);
        Some((Level::Warning, "augmentation is on, so the pretrained network's frozen blocks compute their values afresh for every batch (no cache); turn augmentation off on the Data screen to train the layers after them much faster".to_owned()))
    } else if std::env::var_os("STRATA_FEATURE_CACHE").is_some_and(|v| v == "off") {
        net.set_feature_cache(false);
        None
    } else {
        Some((Level::Note, "the pretrained network's frozen blocks give the same values every epoch, so they are computed once per sample (the first epoch takes longest) and kept on disk; later epochs and runs reuse them and run only what trains".to_owned()))
    };
    let batch_size = settings.batch_size.clamp(1, data.split.train.len());
    let mut optimizer = Optimizer::for_network(
        OptimizerConfig {
            kind: settings.optimizer,
            lr: settings.lr,
            l1: settings.l1,
            l2: settings.l2,
        },
        &net,
    );

    let privacy = settings
        .privacy
        .as_ref()
        .map(|p| {
            super::privacy::PrivatePlan::new(
                p,
                &project.model,
                data.split.train.len(),
                batch_size,
                settings.epochs,
            )
        })
        .transpose()
        .map_err(|e| format!("cannot train with differential privacy: {e}"))?;

    let split_sizes = [
        data.split.train.len(),
        data.split.val.len(),
        data.split.test.len(),
    ];
    let (mut manifest, run_dir, state) = match resume_dir {
        None => {
            let (run_id, run_dir) = runs::create_run_dir(&Project::runs_dir(project_path))
                .map_err(|e| {
                    format!(
                        "could not create the run folder next to '{}': {e}",
                        project_path.display()
                    )
                })?;
            let manifest =
                RunManifest::new(run_id, dataset, project, device_text.clone(), split_sizes);
            runs::write_manifest(&run_dir, &manifest)
                .map_err(|e| format!("could not write the run description: {e}"))?;
            (manifest, run_dir, None)
        }
        Some(dir) => {
            let manifest = runs::read_manifest(dir).map_err(|e| e.to_string())?;
            if manifest.split_sizes != split_sizes || manifest.classes != dataset.classes() {
                return Err(format!(
                    "the data changed since the run '{}' started ({} training, {} validation and {} test samples then, {} / {} / {} now, or other classes), so it cannot continue; start a new run",
                    manifest.run_id,
                    manifest.split_sizes[0],
                    manifest.split_sizes[1],
                    manifest.split_sizes[2],
                    split_sizes[0],
                    split_sizes[1],
                    split_sizes[2]
                ));
            }
            // Texts read another way (another tokenizer or length: automatic training's sentence
            // encoder candidates) would feed the model ids it never learned.
            let read_as = |v: &crate::data::Vocabulary| (v.tokenizer, v.length, v.tokens.len());
            if manifest.text.as_ref().map(read_as) != dataset.texts().map(|t| read_as(&t.vocab)) {
                return Err(format!(
                    "the run '{}' read the texts differently (another tokenizer or sequence length than the data imported now), so it cannot continue here; import the data with its settings, or continue it with `strata train PROJECT --resume {}`",
                    manifest.run_id, manifest.run_id
                ));
            }
            let state =
                super::resume::load_state(dir, &net, &mut optimizer).map_err(|e| e.to_string())?;
            (manifest, dir.to_owned(), Some(state))
        }
    };
    let resumed_from = state.as_ref().map_or(0, |s| s.epoch);

    let batches = data.split.train.len().div_ceil(batch_size);
    let memory = MemoryEstimate::new(
        &project.model,
        &checked,
        batch_size,
        settings.optimizer,
        dataset.stored_bytes(),
        data.split.val.len(),
    );
    sink.emit(TrainEvent::Started {
        run_id: manifest.run_id.clone(),
        run_dir: run_dir.clone(),
        resumed_from,
        device: device_text,
        train_samples: data.split.train.len(),
        val_samples: data.split.val.len(),
        epochs: settings.epochs,
        batches_per_epoch: batches,
        params: net.trainable_params(),
        memory: memory.describe(),
    });
    if let Some(plan) = &privacy {
        sink.emit(TrainEvent::Warning {
            level: Level::Note,
            message: plan.note(settings.epochs),
        });
    }
    if let Some((level, message)) = feature_note {
        sink.emit(TrainEvent::Warning { level, message });
    }
    if let Some(message) = memory.warning(available_memory(), batch_size) {
        sink.emit(TrainEvent::Warning {
            level: Level::Warning,
            message,
        });
    }
    if settings.learn_from_validation {
        sink.emit(TrainEvent::Warning {
            level: Level::Note,
            message: "the validation samples are learned from too, so there is no validation curve and the model of the last epoch is kept; the test samples stay held back".to_owned(),
        });
    } else if data.split.val.is_empty() {
        sink.emit(TrainEvent::Warning {
            level: Level::Warning,
            message: "there is no validation split, so overfitting cannot be seen and the best epoch is chosen by training loss".to_owned(),
        });
    }

    let start = Instant::now();
    let mut order = data.split.train.clone();
    let (mut history, mut best, mut since_best) = match state {
        Some(s) => (s.history, s.best, s.since_best),
        None => (Vec::new(), None, 0),
    };
    // The curves so far, for front ends that show a resumed run.
    for m in &history {
        sink.emit(TrainEvent::Epoch(m.clone()));
    }
    let elapsed_before = history.last().map_or(0.0, |m| m.elapsed_secs);
    let mut stopped_early = false;
    let augmentation = &project.data.augmentation;
    for epoch in resumed_from + 1..=settings.epochs {
        optimizer.set_lr(settings.lr_at(epoch));
        let mut rng = epoch_rng(settings.seed, epoch);
        order.copy_from_slice(&data.split.train);
        order.shuffle(&mut rng);
        let mut epoch_start = Instant::now();
        let mut last_report = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        // One generator per batch, drawn from the run's seed: dropout and augmentation differ per
        // batch yet repeat exactly for the same seed.
        let seeds: Vec<u64> = (0..batches).map(|_| rand::Rng::random(&mut rng)).collect();
        // Each step's samples: the shuffled order in batches, or with differential privacy a
        // Poisson sample (each example in with probability q), as its accountant assumes.
        let chunks: Vec<Vec<usize>> = match &privacy {
            None => order.chunks(batch_size).map(<[usize]>::to_vec).collect(),
            Some(plan) => plan.poisson_batches(&data.split.train, &mut rng),
        };
        let visited: Vec<usize> = chunks.concat();
        let aug = augmentation
            .is_active_for(project.data.kind())
            .then_some(augmentation);
        // The next batches are built (and augmented) on another thread while this one trains.
        let stopped = std::thread::scope(|scope| -> Result<Option<RunOutcome>, String> {
            let (tx, rx) = crossbeam_channel::bounded(2);
            let chunks = &chunks;
            scope.spawn(move || {
                super::device::flush_denormals();
                for (k, (chunk, &seed)) in chunks.iter().zip(&seeds).enumerate() {
                    if chunk.is_empty() {
                        continue; // a Poisson sample can be empty
                    }
                    if let Some(next) = chunks.get(k + 1) {
                        dataset.will_need(next);
                    }
                    let mut aug_rng = rand::rngs::StdRng::seed_from_u64(seed);
                    // Built in main memory; a GPU copy is made on the training thread, which owns
                    // the device context.
                    let batch = dataset.batch(
                        chunk,
                        aug.map(|a| (a, &mut aug_rng as &mut dyn rand::RngCore)),
                        &Device::Cpu,
                    );
                    if tx.send((chunk.len(), batch, aug_rng)).is_err() {
                        break; // training stopped
                    }
                }
            });
            for (b, (len, batch, mut aug_rng)) in rx.iter().enumerate() {
                if cancel.is_paused() {
                    // Paused time counts neither for throughput nor for the ETA.
                    let paused_at = Instant::now();
                    while cancel.is_paused() && !cancel.is_cancelled() {
                        std::thread::sleep(std::time::Duration::from_millis(30));
                    }
                    epoch_start += paused_at.elapsed();
                }
                if cancel.is_cancelled() {
                    return Ok(Some(RunOutcome::Cancelled));
                }
                let step = batch
                    .and_then(|batch| batch.to_device(&device))
                    .and_then(|batch| match &privacy {
                        None => train_step(
                            &net,
                            &mut optimizer,
                            &batch,
                            settings.loss,
                            classes,
                            &mut aug_rng,
                        ),
                        Some(plan) => plan.step(
                            &net,
                            &mut optimizer,
                            &batch,
                            settings.loss,
                            classes,
                            &mut aug_rng,
                        ),
                    })
                    .map_err(|e| format!("training failed in epoch {epoch}: {e}"))?;
                let (value, ok) = (step.loss, step.correct);
                if !value.is_finite() {
                    return Err(format!(
                        "the loss became {} in epoch {epoch} (batch {}): training diverged. Lower the learning rate (now {}) and train again",
                        if value.is_nan() { "NaN" } else { "infinite" },
                        b + 1,
                        settings.lr
                    ));
                }
                loss_sum += f64::from(value) * len as f64;
                correct += ok;
                seen += len;
                if last_report.elapsed().as_secs_f64() > 0.2 || b + 1 == batches {
                    last_report = Instant::now();
                    let secs = epoch_start.elapsed().as_secs_f64().max(1e-9);
                    let sps = seen as f64 / secs;
                    let remaining = (settings.epochs - epoch) * data.split.train.len()
                        + data.split.train.len().saturating_sub(seen);
                    sink.emit(TrainEvent::Batch(BatchProgress {
                        epoch,
                        batch: b + 1,
                        batches,
                        loss: loss_sum / seen as f64,
                        accuracy: score(dataset, &visited[..seen], loss_sum / seen as f64, correct),
                        samples_per_sec: sps,
                        eta_secs: remaining as f64 / sps.max(1e-9),
                    }));
                }
            }
            Ok(None)
        })?;
        if let Some(outcome) = stopped {
            return Ok(outcome);
        }
        let train_secs = epoch_start.elapsed().as_secs_f64().max(1e-9);
        let val = if data.split.val.is_empty() {
            None
        } else {
            Some(evaluate(
                &net,
                dataset,
                &data.split.val,
                settings.loss,
                super::memory::INFERENCE_BATCH,
            )?)
        };
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: score(
                dataset,
                &visited[..seen],
                loss_sum / seen.max(1) as f64,
                correct,
            ),
            val_loss: val.as_ref().map(|v| v.loss),
            val_accuracy: val.as_ref().map(|v| v.accuracy),
            samples_per_sec: seen as f64 / train_secs,
            elapsed_secs: elapsed_before + start.elapsed().as_secs_f64(),
            epsilon: privacy
                .as_ref()
                .map(|p| p.epsilon_after(epoch * p.steps_per_epoch)),
        };
        if let Some(v) = &val {
            if !v.loss.is_finite() {
                return Err(format!("the validation loss became NaN in epoch {epoch}: training diverged. Lower the learning rate (now {}) and train again", settings.lr));
            }
        }
        let (score_loss, score_acc) = match &val {
            Some(v) => (v.loss, v.accuracy),
            None => (metrics.train_loss, metrics.train_accuracy),
        };
        sink.emit(TrainEvent::Epoch(metrics.clone()));
        history.push(metrics);
        runs::write_metrics(&run_dir, &history)
            .map_err(|e| format!("could not write the metrics history: {e}"))?;
        let last =
            runs::save_checkpoint(&net, &run_dir, runs::LAST_DIR).map_err(|e| e.to_string())?;
        sink.emit(TrainEvent::Checkpoint {
            epoch,
            path: last,
            best: false,
        });
        // Without validation samples to judge by, a final model keeps its last epoch.
        if settings.learn_from_validation || best.is_none_or(|(_, l, _)| score_loss < l) {
            best = Some((epoch, score_loss, score_acc));
            since_best = 0;
            let path =
                runs::save_checkpoint(&net, &run_dir, runs::BEST_DIR).map_err(|e| e.to_string())?;
            sink.emit(TrainEvent::Checkpoint {
                epoch,
                path,
                best: true,
            });
        } else {
            since_best += 1;
        }
        // Written last: a run killed before this point continues from the epoch before, and
        // repeats this one exactly.
        super::resume::save_state(
            &run_dir,
            &net,
            &optimizer,
            &super::resume::TrainingState {
                epoch,
                optimizer_steps: optimizer.steps(),
                best,
                since_best,
                history: history.clone(),
            },
        )
        .map_err(|e| e.to_string())?;
        if let Some(patience) = settings.early_stopping_patience {
            if since_best >= patience.max(1) && epoch < settings.epochs {
                stopped_early = true;
                sink.emit(TrainEvent::Warning {
                    level: Level::Note,
                    message: format!(
                        "stopped early after epoch {epoch}: validation loss has not improved for {since_best} epochs (best was epoch {})",
                        best.map_or(0, |b| b.0)
                    ),
                });
                break;
            }
        }
    }
    manifest.finished = true;
    manifest.privacy = privacy.as_ref().map(|p| p.report(history.len()));
    runs::write_manifest(&run_dir, &manifest)
        .map_err(|e| format!("could not write the run description: {e}"))?;
    let (best_epoch, best_loss, best_accuracy) = best.unwrap_or((0, f64::NAN, f64::NAN));
    sink.emit(TrainEvent::Finished {
        run_dir: run_dir.clone(),
        best_epoch,
        best_loss,
        best_accuracy,
        epochs_run: history.len(),
        stopped_early,
    });
    Ok(RunOutcome::Finished {
        run_dir,
        best_epoch,
    })
}

/// The tensor device to use for inference in front ends.
pub fn inference_device() -> Device {
    select_device(crate::project::DeviceChoice::Auto).0
}
