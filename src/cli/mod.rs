//! The headless front end: `strata new|import|inspect|train|evaluate|predict`.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::{import_image_folder, ImageDataset, ImportOptions};
use crate::engine::{self, CancelToken, PreparedData, RunOutcome, TrainEvent, TrainedModel};
use crate::eval;
use crate::model::{self, TEMPLATE_NAMES};
use crate::project::{DataSettings, DeviceChoice, OptimizerKind, Project};
use crate::workflow::{self, import_options};

/// Prints to stdout, returning an error (instead of panicking) when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        write!(std::io::stdout().lock(), $($arg)*)?
    };
}

/// Like [`out!`] with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)?
    };
}

/// Strata: build, train, evaluate and use deep-learning models on your own files.
#[derive(Parser, Debug)]
#[command(name = "strata", version = crate::build_info::VERSION_LINE, about, long_about = None)]
pub struct Cli {
    /// What to do; without one, the desktop app opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a project from an image folder (one sub-folder per class).
    New {
        /// The project file to create, e.g. digits.strata.
        project: PathBuf,
        /// The image folder.
        #[arg(long)]
        data: PathBuf,
        /// Starting model.
        #[arg(long, default_value = "mlp", value_parser = clap::builder::PossibleValuesParser::new(TEMPLATE_NAMES))]
        template: String,
        /// Image size as WIDTHxHEIGHT.
        #[arg(long, default_value = "28x28", value_parser = parse_size)]
        image_size: (u32, u32),
        /// 1 for grayscale, 3 for colour.
        #[arg(long, default_value_t = 1, value_parser = parse_channels)]
        channels: u8,
        /// Fraction of each class held out for validation.
        #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
        val_fraction: f32,
        /// Fraction of each class held out for the final test.
        #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
        test_fraction: f32,
        /// Seed of the split and of training.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Show what importing a folder finds, without creating a project.
    Import {
        /// The image folder.
        dir: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the model summary: layers, output shapes, parameters.
    Inspect {
        /// The project file.
        project: PathBuf,
    },
    /// Train the project's model.
    Train {
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
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["sgd", "momentum", "adam", "adamw"]))]
        optimizer: Option<String>,
        /// Device.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["auto", "cpu", "cuda", "metal"]))]
        device: Option<String>,
        /// Seed for weights, shuffling, dropout and augmentation.
        #[arg(long)]
        seed: Option<u64>,
        /// One JSON object per line per event.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate the latest trained model on the test split or another folder.
    Evaluate {
        /// The project file.
        project: PathBuf,
        /// Another folder with the same classes.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Predict the class of image files or of every image in folders.
    Predict {
        /// The project file.
        project: PathBuf,
        /// Image files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Write the predictions to this CSV file.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("'{s}' is not a size; write it as WIDTHxHEIGHT, e.g. 28x28"))?;
    let parse = |v: &str| -> Result<u32, String> {
        match v.trim().parse::<u32>() {
            Ok(n) if (1..=4096).contains(&n) => Ok(n),
            _ => Err(format!("'{s}' is not a size between 1x1 and 4096x4096")),
        }
    };
    Ok((parse(w)?, parse(h)?))
}

fn parse_channels(s: &str) -> Result<u8, String> {
    match s {
        "1" => Ok(1),
        "3" => Ok(3),
        _ => Err(format!("'{s}' is not 1 (grayscale) or 3 (colour)")),
    }
}

fn parse_fraction(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..0.9).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a fraction between 0 and 0.9")),
    }
}

/// Runs a subcommand. Errors are returned for `main` to print in one line.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::New {
            project,
            data,
            template,
            image_size,
            channels,
            val_fraction,
            test_fraction,
            seed,
        } => cmd_new(
            &project,
            DataSettings {
                path: data,
                image_width: image_size.0,
                image_height: image_size.1,
                channels,
                val_fraction,
                test_fraction,
                split_seed: seed,
                ..DataSettings::default()
            },
            &template,
            seed,
        ),
        Command::Import { dir, json } => cmd_import(&dir, json),
        Command::Inspect { project } => cmd_inspect(&project),
        Command::Train {
            project,
            epochs,
            batch_size,
            lr,
            optimizer,
            device,
            seed,
            json,
        } => {
            let mut p = load_project(&project)?;
            let t = &mut p.training;
            if let Some(v) = epochs {
                t.epochs = v;
            }
            if let Some(v) = batch_size {
                t.batch_size = v;
            }
            if let Some(v) = lr {
                t.lr = v;
            }
            if let Some(v) = optimizer.as_deref().and_then(OptimizerKind::from_name) {
                t.optimizer = v;
            }
            if let Some(v) = device.as_deref().and_then(DeviceChoice::from_name) {
                t.device = v;
            }
            if let Some(v) = seed {
                t.seed = v;
            }
            cmd_train(&project, &p, json)
        }
        Command::Evaluate {
            project,
            data,
            json,
        } => cmd_evaluate(&project, data.as_deref(), json),
        Command::Predict {
            project,
            paths,
            json,
            csv,
        } => cmd_predict(&project, &paths, json, csv.as_deref()),
    }
}

fn load_project(path: &Path) -> Result<Project> {
    Ok(Project::load(path)?)
}

/// Progress reports of an import, shown on `bar`.
fn bar_progress(bar: &ProgressBar) -> impl Fn(usize, usize) + Sync + '_ {
    move |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }
}

fn import_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(0);
    b.set_style(
        ProgressStyle::with_template("Importing {bar:30} {pos}/{len} images")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

/// Imports an image folder with a progress bar on a terminal.
fn import_with_progress(
    root: &Path,
    options: &ImportOptions,
    quiet: bool,
) -> Result<(ImageDataset, crate::data::ImportReport)> {
    let bar = import_bar(quiet);
    let result = import_image_folder(root, options, None, Some(&bar_progress(&bar)));
    bar.finish_and_clear();
    Ok(result?)
}

fn cmd_new(path: &Path, data: DataSettings, template: &str, seed: u64) -> Result<()> {
    if path.exists() {
        bail!(
            "'{}' already exists; choose another name or delete it first",
            path.display()
        );
    }
    let (dataset, report) = import_with_progress(&data.path, &import_options(&data), false)?;
    if dataset.classes.len() < 2 {
        bail!(
            "'{}' has {} usable class folder(s); a classifier needs at least two sub-folders with images",
            data.path.display(),
            dataset.classes.len()
        );
    }
    let graph = model::template(template, &dataset.shape(), dataset.classes.len())
        .ok_or_else(|| anyhow!("unknown template '{template}'"))?;
    let mut project = Project::new(data, graph);
    project.training.seed = seed;
    project.save(path)?;
    out!("{}", report.to_text());
    outln!(
        "Created {} with the '{template}' model ({} classes). Next: strata train {}",
        path.display(),
        dataset.classes.len(),
        path.display()
    );
    Ok(())
}

fn cmd_import(dir: &Path, json: bool) -> Result<()> {
    let (_, report) = import_with_progress(dir, &ImportOptions::default(), json)?;
    if json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        out!("{}", report.to_text());
    }
    Ok(())
}

fn cmd_inspect(path: &Path) -> Result<()> {
    let project = load_project(path)?;
    match project.model.summary() {
        Ok(text) => {
            out!("{text}");
            Ok(())
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("problem: {}", e.message);
            }
            bail!(
                "the model in '{}' has {} problem(s); fix them in the Model screen",
                path.display(),
                errors.len()
            )
        }
    }
}

/// Imports and splits the project's data, with a progress bar on a terminal.
fn prepare(project: &Project, quiet: bool) -> Result<PreparedData> {
    let bar = import_bar(quiet);
    let (data, report) = workflow::prepare(&project.data, None, Some(&bar_progress(&bar)))?;
    bar.finish_and_clear();
    if !report.skipped.is_empty() && !quiet {
        eprintln!(
            "Note: {} file(s) skipped; run `strata import {}` to see which and why.",
            report.skipped.len(),
            project.data.path.display()
        );
    }
    Ok(data)
}

fn cmd_train(path: &Path, project: &Project, json: bool) -> Result<()> {
    let data = Arc::new(prepare(project, json)?);
    let cancel = CancelToken::new();
    let (tx, rx) = crossbeam_channel::unbounded::<TrainEvent>();
    let handle = engine::train_in_background(
        project.clone(),
        path.to_owned(),
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
                ..
            } => {
                bar.println(format!(
                    "Training {params} parameters on {train_samples} images ({val_samples} for validation), {epochs} epochs, on {device}.\nMemory: {memory}.\nRun folder: {}",
                    run_dir.display()
                ));
                if !interactive {
                    outln!("Training on {device}; run folder {}", run_dir.display());
                    outln!("Memory: {memory}");
                }
            }
            TrainEvent::Batch {
                epoch,
                batch,
                batches,
                loss,
                accuracy,
                samples_per_sec,
                eta_secs,
            } => {
                bar.set_length(*batches as u64);
                bar.set_position(*batch as u64);
                bar.set_prefix(epoch.to_string());
                bar.set_message(format!("loss {loss:.4} acc {accuracy:.3}  {samples_per_sec:.0} samples/s  ETA {eta_secs:.0}s"));
            }
            TrainEvent::Epoch(m) => {
                let val = match (m.val_loss, m.val_accuracy) {
                    (Some(l), Some(a)) => format!("  val loss {l:.4} val acc {a:.4}"),
                    _ => String::new(),
                };
                let line = format!(
                    "epoch {:>3}: loss {:.4} acc {:.4}{val}  ({:.0} samples/s)",
                    m.epoch, m.train_loss, m.train_accuracy, m.samples_per_sec
                );
                if interactive {
                    bar.println(line);
                } else {
                    outln!("{line}");
                }
            }
            TrainEvent::Checkpoint { .. } => {}
            TrainEvent::Warning { message } => {
                bar.suspend(|| eprintln!("warning: {message}"));
            }
            TrainEvent::Finished {
                run_dir,
                best_epoch,
                best_loss,
                best_accuracy,
                ..
            } => {
                bar.finish_and_clear();
                outln!(
                    "Finished. Best epoch {best_epoch}: loss {best_loss:.4}, accuracy {best_accuracy:.4}. Saved in {}",
                    run_dir.display()
                );
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

fn load_trained(path: &Path) -> Result<TrainedModel> {
    let run = engine::latest_run(path).ok_or_else(|| {
        anyhow!(
            "'{}' has no trained model yet; run `strata train {}` first",
            path.display(),
            path.display()
        )
    })?;
    Ok(TrainedModel::load(&run, &engine::inference_device())?)
}

fn cmd_evaluate(path: &Path, other: Option<&Path>, json: bool) -> Result<()> {
    let project = load_project(path)?;
    let trained = load_trained(path)?;
    let manifest = &trained.manifest;
    let evaluation = match other {
        None => workflow::evaluate_test_split(&project, &trained, None, None).map_err(|e| {
            if e.is::<workflow::NoTestSplit>() {
                anyhow!("the project has no test split (test fraction 0); use --data with a folder of labelled images")
            } else {
                e
            }
        })?,
        Some(dir) => workflow::evaluate_folder(dir, &trained)?,
    };
    let report = &evaluation.report;
    if json {
        outln!("{}", serde_json::to_string(report)?);
    } else {
        out!("{}", report.to_text());
        let mistakes = eval::most_confident_mistakes(&evaluation.predictions, 5);
        if !mistakes.is_empty() {
            outln!("\nMost confident mistakes:");
            for m in mistakes {
                outln!(
                    "  {} — is {}, predicted {} ({:.0}%)",
                    evaluation.dataset.paths[m.index].display(),
                    manifest.classes[m.true_label.unwrap_or(0)],
                    manifest.classes[m.predicted],
                    m.confidence * 100.0
                );
            }
        }
    }
    Ok(())
}

fn cmd_predict(path: &Path, inputs: &[PathBuf], json: bool, csv_out: Option<&Path>) -> Result<()> {
    let trained = load_trained(path)?;
    let manifest = &trained.manifest;
    let files = workflow::collect_files(inputs)?;
    let workflow::FilePredictions {
        dataset,
        predictions: preds,
        skipped,
    } = workflow::predict_files(&trained, &files)?;
    #[derive(serde::Serialize)]
    struct Row<'a> {
        path: &'a Path,
        class: &'a str,
        confidence: f32,
        probabilities: std::collections::BTreeMap<&'a str, f32>,
    }
    let rows: Vec<Row> = preds
        .iter()
        .map(|p| Row {
            path: &dataset.paths[p.index],
            class: &manifest.classes[p.predicted],
            confidence: p.confidence,
            probabilities: manifest
                .classes
                .iter()
                .map(String::as_str)
                .zip(p.probabilities.iter().copied())
                .collect(),
        })
        .collect();
    if let Some(out) = csv_out {
        let bytes = workflow::predictions_csv(&manifest.classes, &dataset.paths, &preds)?;
        crate::project::atomic_write(out, &bytes)
            .with_context(|| format!("could not write '{}'", out.display()))?;
        outln!("Wrote {} predictions to {}", rows.len(), out.display());
    } else if json {
        #[derive(serde::Serialize)]
        struct Skipped<'a> {
            path: &'a Path,
            reason: &'a str,
        }
        let skipped_rows: Vec<Skipped> = skipped
            .iter()
            .map(|(p, r)| Skipped { path: p, reason: r })
            .collect();
        outln!(
            "{}",
            serde_json::json!({ "predictions": rows, "skipped": skipped_rows })
        );
    } else {
        for r in &rows {
            outln!(
                "{}\t{}\t{:.1}%",
                r.path.display(),
                r.class,
                r.confidence * 100.0
            );
        }
    }
    if !json {
        for (p, reason) in &skipped {
            eprintln!("skipped {}: {reason}", p.display());
        }
    }
    if rows.is_empty() {
        bail!("none of the given files could be used as an image");
    }
    Ok(())
}
