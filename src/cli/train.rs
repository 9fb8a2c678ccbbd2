//! `strata train`: a run with the project's settings (changed by the options), a run resumed,
//! or automatic training.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::{gan, load_project, prepare, runs};
use crate::engine::{self, CancelToken, Level, RunOutcome, TrainEvent};
use crate::project::{DeviceChoice, OptimizerKind, Project};
use crate::workflow;

/// What `strata train` is asked.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The project file.
    project: PathBuf,
    /// Passes over the training data.
    #[arg(long)]
    epochs: Option<usize>,
    /// Samples per step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Optimizer.
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// Device.
    #[arg(long, value_enum)]
    device: Option<DeviceChoice>,
    /// Seed for weights, shuffling, dropout and augmentation.
    #[arg(long)]
    seed: Option<u64>,
    /// Continue an interrupted run (killed, crashed or stopped) from its last finished epoch
    /// with its own settings: the newest one, or the run folder named.
    #[arg(long, value_name = "RUN", num_args = 0..=1)]
    resume: Option<Option<String>>,
    /// Try a few candidate models and settings side by side (successive halving) and keep
    /// the best by validation score as the project's model; every candidate stays a run.
    #[arg(long, conflicts_with = "resume")]
    auto: bool,
    /// With --auto: the time to spend, in minutes (default 5).
    #[arg(long, value_name = "N", requires = "auto")]
    budget_minutes: Option<f64>,
    /// Protect individual examples (differential privacy, DP-SGD) within this privacy
    /// budget ε; the noise is chosen to meet it after all epochs.
    #[arg(long, value_name = "E", conflicts_with = "dp_noise")]
    dp_epsilon: Option<f64>,
    /// Differential privacy with this noise multiplier σ instead of a target ε.
    #[arg(long, value_name = "S")]
    dp_noise: Option<f64>,
    /// With differential privacy: each example's gradient is clipped to this norm (default 1).
    #[arg(long, value_name = "C")]
    dp_clip: Option<f64>,
    /// With differential privacy: δ, the chance the guarantee fails (default 1 / the number of
    /// training samples).
    #[arg(long, value_name = "D")]
    dp_delta: Option<f64>,
    /// Learn from the validation samples too (no validation curve, the last epoch kept): for
    /// the final model once the settings are chosen. The test samples stay held back.
    #[arg(long, conflicts_with = "auto")]
    learn_from_validation: bool,
    /// Lower the learning rate over the epochs along a half cosine (the full rate first,
    /// almost zero in the last epoch).
    #[arg(long)]
    lr_decay: bool,
    /// One JSON object per line per event.
    #[arg(long)]
    json: bool,
}

/// `strata train`: checks the options against each other, applies them to the project's
/// training settings and trains (or resumes, or trains automatically).
pub(super) fn run(args: TrainArgs) -> Result<()> {
    let TrainArgs {
        project,
        epochs,
        batch_size,
        lr,
        optimizer,
        device,
        seed,
        resume,
        auto,
        budget_minutes,
        dp_epsilon,
        dp_noise,
        dp_clip,
        dp_delta,
        learn_from_validation,
        lr_decay,
        json,
    } = args;
    let mut p = load_project(&project)?;
    let dp_asked =
        dp_epsilon.is_some() || dp_noise.is_some() || dp_clip.is_some() || dp_delta.is_some();
    if let Some(run) = resume {
        if epochs.is_some()
            || batch_size.is_some()
            || lr.is_some()
            || optimizer.is_some()
            || device.is_some()
            || seed.is_some()
            || dp_asked
            || learn_from_validation
            || lr_decay
        {
            bail!("--resume continues a run with the settings it started with; leave out --epochs, --batch-size, --lr, --optimizer, --device, --seed, --learn-from-validation, --lr-decay and the --dp options");
        }
        let (dir, interrupted) = match run {
                Some(name) => {
                    let dir = Project::runs_dir(&project).join(&name);
                    let run = engine::resume::interrupted(&dir).map_err(|e| anyhow!(e))?;
                    (dir, run)
                }
                None => engine::resume::latest_interrupted(&project).ok_or_else(|| {
                    anyhow!(
                        "'{}' has no interrupted run to resume (every run finished, or none got through a whole epoch)",
                        project.display()
                    )
                })?,
            };
        let p = engine::resume_project(&p, &interrupted);
        return cmd_train(&project, &p, Some(dir), json);
    }
    let t = &mut p.training;
    if learn_from_validation {
        t.learn_from_validation = true;
    }
    if lr_decay {
        t.lr_decay = true;
    }
    if let Some(v) = epochs {
        t.epochs = v;
    }
    if let Some(v) = batch_size {
        t.batch_size = v;
    }
    if let Some(v) = lr {
        t.lr = v;
    }
    if let Some(v) = optimizer {
        t.optimizer = v;
    }
    if let Some(v) = device {
        t.device = v;
    }
    if let Some(v) = seed {
        t.seed = v;
    }
    if dp_asked {
        let mut privacy = match (dp_epsilon, dp_noise, t.privacy.take()) {
            (None, None, Some(kept)) => kept,
            (None, None, None) => {
                bail!("--dp-clip and --dp-delta go with --dp-epsilon E or --dp-noise S")
            }
            _ => engine::privacy::PrivacySettings {
                target_epsilon: dp_epsilon,
                noise_multiplier: dp_noise,
                ..Default::default()
            },
        };
        if let Some(c) = dp_clip {
            privacy.clip_norm = c;
        }
        if dp_delta.is_some() {
            privacy.delta = dp_delta;
        }
        t.privacy = Some(privacy);
    }
    if auto {
        return runs::cmd_train_auto(&project, &p, budget_minutes.unwrap_or(5.0), json);
    }
    cmd_train(&project, &p, None, json)
}

fn cmd_train(path: &Path, project: &Project, resume: Option<PathBuf>, json: bool) -> Result<()> {
    if project.generator.is_some() {
        if resume.is_some() {
            bail!("an image generator's run cannot be resumed yet; start a new run");
        }
        let data = prepare(project, json)?;
        return gan::train_gan(path, project, &data, json);
    }
    let data = Arc::new(prepare(project, json)?);
    let task = data.dataset.task();
    let (acc, accuracy_word) = (task.score_short(), task.score_name());
    let mut history = Vec::new();
    let cancel = CancelToken::new();
    let (tx, rx) = crossbeam_channel::unbounded::<TrainEvent>();
    let handle = engine::resume_in_background(
        project.clone(),
        path.to_owned(),
        resume,
        data,
        Box::new(tx),
        cancel.clone(),
    )?;
    let interactive = !json && std::io::stderr().is_terminal();
    let bar = if interactive {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} batches  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let mut stdout = std::io::stdout().lock();
    for event in rx.iter() {
        if json {
            writeln!(stdout, "{}", serde_json::to_string(&event)?)?;
            stdout.flush()?;
            continue;
        }
        match &event {
            TrainEvent::Started {
                device,
                train_samples,
                val_samples,
                epochs,
                params,
                run_dir,
                memory,
                resumed_from,
                ..
            } => {
                if *resumed_from > 0 {
                    let line = format!("Resuming after epoch {resumed_from} of {epochs}.");
                    bar.println(&line);
                    if !interactive {
                        outln!("{line}");
                    }
                }
                bar.println(format!(
                    "Training {params} parameters on {train_samples} samples ({val_samples} for validation), {epochs} epochs, on {device}.\nMemory: {memory}.\nRun folder: {}",
                    run_dir.display()
                ));
                if !interactive {
                    outln!("Training on {device}; run folder {}", run_dir.display());
                    outln!("Memory: {memory}");
                }
            }
            TrainEvent::Batch(p) => {
                bar.set_length(p.batches as u64);
                bar.set_position(p.batch as u64);
                bar.set_prefix(p.epoch.to_string());
                bar.set_message(format!(
                    "loss {:.4} {acc} {:.3}  {:.0} samples/s  ETA {:.0}s",
                    p.loss, p.accuracy, p.samples_per_sec, p.eta_secs
                ));
            }
            TrainEvent::Epoch(m) => {
                history.push(m.clone());
                let val = match (m.val_loss, m.val_accuracy) {
                    (Some(l), Some(a)) => format!("  val loss {l:.4} val {acc} {a:.4}"),
                    _ => String::new(),
                };
                let privacy = m.epsilon.map(|e| format!("  ε {e:.2}")).unwrap_or_default();
                let line = format!(
                    "epoch {:>3}: loss {:.4} {acc} {:.4}{val}{privacy}  ({:.0} samples/s)",
                    m.epoch, m.train_loss, m.train_accuracy, m.samples_per_sec
                );
                if interactive {
                    bar.println(line);
                } else {
                    outln!("{line}");
                }
            }
            TrainEvent::Checkpoint { .. } => {}
            TrainEvent::Warning { level, message } => match level {
                Level::Note => bar.suspend(|| eprintln!("note: {message}")),
                Level::Warning => bar.suspend(|| eprintln!("warning: {message}")),
            },
            TrainEvent::Finished {
                run_dir,
                best_epoch,
                best_loss,
                best_accuracy,
                ..
            } => {
                bar.finish_and_clear();
                outln!(
                    "Finished. Best epoch {best_epoch}: loss {best_loss:.4}, {accuracy_word} {best_accuracy:.4}. Saved in {}",
                    run_dir.display()
                );
                if let Some(line) = workflow::coach_line(&history, task) {
                    outln!("{line}");
                }
                if let Some(report) = engine::runs::read_manifest(run_dir)
                    .ok()
                    .and_then(|m| m.privacy)
                {
                    outln!("{}", report.plain_words());
                }
            }
            TrainEvent::Failed { .. } | TrainEvent::Cancelled { .. } => bar.finish_and_clear(),
        }
    }
    let outcome = handle
        .join()
        .map_err(|_| anyhow!("the training thread stopped unexpectedly"))?;
    match outcome {
        RunOutcome::Finished { .. } => Ok(()),
        RunOutcome::Cancelled => bail!("training was cancelled: {}", cancel.reason()),
        RunOutcome::Failed(message) => bail!("{message}"),
    }
}
