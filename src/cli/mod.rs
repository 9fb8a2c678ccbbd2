//! The headless front end: `strata new|import|inspect|train|evaluate|predict|export|weights`.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::{self, PreparedData, TrainedModel};
use crate::eval;
use crate::project::{DataKind, DataSettings, Project};
use crate::workflow;

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

mod audit;
mod explain;
mod gan;
mod new;
mod runs;
mod train;
mod weights;

/// Strata: build, train, evaluate and use deep-learning models on your own files.
#[derive(Parser, Debug)]
#[command(name = "strata", version = crate::build_info::VERSION_LINE, about, long_about = None)]
pub struct Cli {
    /// What to do; without one, the desktop app opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
// Parsed once per process: the size of `New`'s many options does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a project from an image folder (one sub-folder per class) or a CSV table.
    New(new::NewArgs),
    /// Show what importing a folder finds, without creating a project; or, given a project,
    /// what importing its data with its settings finds (what opening it reads)
    Import {
        /// The data folder or CSV file, or a `.strata` project.
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
    Train(train::TrainArgs),
    /// Evaluate the latest trained model on the test split or other labelled data.
    Evaluate {
        /// The project file.
        project: PathBuf,
        /// Another image folder with the same classes, or a CSV file with the target column.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Predict the class (or value) of image files, every image in folders, or every row of CSV
    /// files.
    Predict {
        /// The project file.
        project: PathBuf,
        /// Image files or folders; CSV files for a table model.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Write the predictions to this CSV file.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Export a trained model: as an ONNX file (checked against a second engine before it is
    /// written), as a PyTorch project (model code, weights, data reader, training program for one
    /// or many machines) or as Strata's own folder (weights, layer graph, run description), as
    /// the Use screen's Export does.
    Export {
        /// The project file.
        project: PathBuf,
        /// Where to write: the `.onnx` file, or the folder for `--format pytorch|strata`.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// The older form of `--out DIR --format strata`.
        #[arg(hide = true)]
        dest: Option<PathBuf>,
        /// onnx (one file any ONNX runtime reads, input recipe inside), pytorch (a folder with
        /// model.py, weights, data.py, train.py for torchrun, predict.py) or strata (Strata's own
        /// folder). Default: onnx when PATH ends in .onnx, otherwise strata.
        #[arg(long, value_enum)]
        format: Option<workflow::ExportFormat>,
        /// The run to export (its folder name under PROJECT.runs/); default the newest.
        #[arg(long)]
        run: Option<String>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Draw pictures with an image generator (a project made with --template dcgan or cdcgan):
    /// PNG files, in one folder per class when it draws classes.
    Generate {
        /// The project file.
        project: PathBuf,
        /// How many pictures.
        #[arg(long, default_value_t = 16)]
        count: usize,
        /// The folder to write them into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Only this class (conditional generators).
        #[arg(long)]
        class: Option<String>,
        /// The same seed draws the same pictures.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Check the data: likely wrong labels (confident learning over a cross-validated checker),
    /// exact and near duplicates (above all across the train/validation/test split), outliers,
    /// class imbalance. `--exclude`, `--relabel` and `--restore` record choices in the project
    /// file (the data files are never changed).
    Audit {
        /// The project file.
        project: PathBuf,
        /// Folds of the cross-validation that checks the labels.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Print the findings as one JSON object.
        #[arg(long)]
        json: bool,
        /// Leave these samples out (keys as listed: file relative to the data folder, or "line N").
        #[arg(long, value_name = "KEY")]
        exclude: Vec<String>,
        /// Give a sample another class: KEY=CLASS.
        #[arg(long, value_name = "KEY=CLASS")]
        relabel: Vec<String>,
        /// Undo leaving out or relabelling these samples.
        #[arg(long, value_name = "KEY")]
        restore: Vec<String>,
    },
    /// Why the model answered what it did: a heat map over each picture or spectrogram (HiResCAM,
    /// Grad-CAM, gradient saliency or occlusion), each word's or column's contribution, with the sanity
    /// checks (model randomisation, deletion); `--importance` ranks a table's columns on the
    /// test split.
    Explain {
        /// The project file.
        project: PathBuf,
        /// Files or folders to explain (images, clips, text files, or CSV rows).
        paths: Vec<PathBuf>,
        /// How to explain (default: hirescam for pictures, occlusion for clips, words, columns).
        #[arg(long, value_enum)]
        method: Option<crate::explain::Method>,
        /// Explain this class instead of the predicted one.
        #[arg(long)]
        class: Option<String>,
        /// Skip the sanity checks (about three times faster).
        #[arg(long)]
        no_checks: bool,
        /// Write each heat map over its picture as a PNG into this folder.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Tables: each column's permutation importance on the test split.
        #[arg(long)]
        importance: bool,
        /// The run to explain (its folder name under PROJECT.runs/); default the project's model.
        #[arg(long)]
        run: Option<String>,
        /// Print one JSON object per sample.
        #[arg(long)]
        json: bool,
    },
    /// List the project's runs: scores, time, size and the settings that differ; `--use RUN`
    /// makes a run the project's model (what evaluate, predict and export use).
    Runs {
        /// The project file.
        project: PathBuf,
        /// Print one JSON object per run, one per line.
        #[arg(long)]
        json: bool,
        /// Make this run (its folder name) the project's model; `--use newest` goes back to the
        /// newest run.
        #[arg(long = "use", value_name = "RUN")]
        use_run: Option<String>,
    },
    /// Add a run trained elsewhere: a safetensors file with Strata's tensor names (e.g. from a
    /// copy of the project's model trained on a cluster) becomes a run of the project, so
    /// evaluate, predict and export use it.
    ImportRun {
        /// The project file.
        project: PathBuf,
        /// The weights (.safetensors), named `<layer>.<tensor>` as in the layer editor.
        weights: PathBuf,
    },
    /// Pretrained weights: list the catalogue, download a network, print where its file is.
    Weights {
        /// list, download NAME or path NAME.
        #[command(subcommand)]
        action: weights::WeightsAction,
    },
}

/// Runs a subcommand. Errors are returned for `main` to print in one line.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::New(args) => new::run(args),
        Command::Import { dir, json } => cmd_import(&dir, json),
        Command::Inspect { project } => cmd_inspect(&project),
        Command::Train(args) => train::run(args),
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
        Command::Export {
            project,
            out,
            dest,
            format,
            run,
            json,
        } => {
            let Some(out) = out.or(dest) else {
                bail!("say where to write with --out PATH (a .onnx file, or a folder for --format strata)");
            };
            let format = format.unwrap_or(workflow::ExportFormat::for_path(&out));
            runs::cmd_export(&project, &out, format, run.as_deref(), json)
        }
        Command::Audit {
            project,
            folds,
            json,
            exclude,
            relabel,
            restore,
        } => audit::cmd_audit(&audit::AuditArgs {
            project: &project,
            folds,
            json,
            exclude: &exclude,
            relabel: &relabel,
            restore: &restore,
        }),
        Command::Explain {
            project,
            paths,
            method,
            class,
            no_checks,
            out,
            importance,
            run,
            json,
        } => explain::cmd_explain(&explain::ExplainArgs {
            project: &project,
            paths: &paths,
            method,
            class: class.as_deref(),
            checks: !no_checks,
            out: out.as_deref(),
            importance,
            run: run.as_deref(),
            json,
        }),
        Command::Runs {
            project,
            json,
            use_run,
        } => runs::cmd_runs(&project, json, use_run.as_deref()),
        Command::ImportRun { project, weights } => {
            let loaded = load_project(&project)?;
            let run = workflow::import_run(&project, &loaded, &weights, None, None)?;
            outln!(
                "Added the run {} from {}; `strata evaluate {}` uses it now",
                run.display(),
                weights.display(),
                project.display()
            );
            Ok(())
        }
        Command::Weights { action } => weights::run(action),
        Command::Generate {
            project,
            count,
            out,
            class,
            seed,
        } => gan::generate(&project, count, &out, class.as_deref(), seed),
    }
}

fn load_project(path: &Path) -> Result<Project> {
    if let Some(note) = engine::runs::tidy_after_crash(path) {
        eprintln!("note: {note}");
    }
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
        ProgressStyle::with_template("Importing {bar:30} {pos}/{len} files")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

fn cmd_import(path: &Path, json: bool) -> Result<()> {
    let settings = if path.extension().is_some_and(|x| x == "strata") && path.is_file() {
        load_project(path)?.data
    } else {
        let mut settings = DataSettings::new(path.to_owned(), workflow::detect_kind(path));
        if settings.kind() == DataKind::Tabular {
            new::choose_target(&mut settings, "", None)?;
        }
        settings
    };
    let bar = import_bar(json);
    let (_, report) = workflow::prepare(&settings, None, Some(&bar_progress(&bar)))?;
    bar.finish_and_clear();
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
    let skipped = report.skipped.len() + report.skipped_rows.len();
    if skipped > 0 && !quiet {
        eprintln!(
            "Note: {skipped} {} skipped; run `strata import {}` to see which and why.",
            if report.skipped.is_empty() {
                "row(s)"
            } else {
                "file(s)"
            },
            project.data.path.display()
        );
    }
    Ok(data)
}

/// The project's model: the run chosen with `strata runs P --use RUN` (or on the Train screen),
/// otherwise the newest run with a model.
fn model_run(path: &Path) -> Result<PathBuf> {
    let project = Project::load(path)?;
    if project.generator.is_some() {
        bail!(
            "'{}' generates pictures rather than predicting: draw them with `strata generate {} --count N --out DIR`",
            path.display(),
            path.display()
        );
    }
    engine::runs::model_run(path, &project).ok_or_else(|| {
        anyhow!(
            "'{}' has no trained model yet; run `strata train {}` first",
            path.display(),
            path.display()
        )
    })
}

fn load_trained(path: &Path) -> Result<TrainedModel> {
    Ok(TrainedModel::load(
        &model_run(path)?,
        &engine::inference_device(),
    )?)
}

fn cmd_evaluate(path: &Path, other: Option<&Path>, json: bool) -> Result<()> {
    let project = load_project(path)?;
    let run = model_run(path)?;
    let trained = TrainedModel::load(&run, &engine::inference_device())?;
    let manifest = &trained.manifest;
    let evaluation = match other {
        None => {
            let evaluation = workflow::evaluate_test_split(&project, &trained, None, None)
                .map_err(|e| {
                    if e.is::<workflow::NoTestSplit>() {
                        anyhow!("the project has no test split (test fraction 0); use --data with other labelled data")
                    } else {
                        e
                    }
                })?;
            workflow::record_test_score(&run, &evaluation);
            evaluation
        }
        Some(other) => workflow::evaluate_other(other, &trained)?,
    };
    // JSON: the report, with the run's privacy guarantee when it has one.
    let with_privacy = |report: serde_json::Value| -> serde_json::Value {
        let mut report = report;
        if let (Some(p), Some(map)) = (&manifest.privacy, report.as_object_mut()) {
            map.insert("privacy".to_owned(), serde_json::json!(p));
        }
        report
    };
    if let Some(regression) = &evaluation.regression {
        let r = &regression.report;
        if json {
            outln!("{}", with_privacy(serde_json::to_value(r)?));
        } else {
            outln!(
                "{} rows: MAE {:.4}, RMSE {:.4}, R² {:.4}",
                r.samples,
                r.mae,
                r.rmse,
                r.r2
            );
            if let Some(p) = &manifest.privacy {
                outln!("{}", p.plain_words());
            }
        }
        return Ok(());
    }
    let report = &evaluation.report;
    if json {
        outln!("{}", with_privacy(serde_json::to_value(report)?));
    } else {
        if let Some(p) = &manifest.privacy {
            outln!("{}\n", p.plain_words());
        }
        out!("{}", report.to_text());
        let mistakes = eval::most_confident_mistakes(&evaluation.predictions, 5);
        if !mistakes.is_empty() {
            outln!("\nMost confident mistakes:");
            for m in mistakes {
                outln!(
                    "  {} — is {}, predicted {} ({:.0}%)",
                    evaluation.dataset.source(m.index),
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
    let result = workflow::predict_files(&trained, &files)?;
    let source = |i: usize| result.sources.get(i).map_or("", String::as_str);
    #[derive(serde::Serialize)]
    struct Row<'a> {
        source: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        class: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        confidence: Option<f32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        probabilities: Option<std::collections::BTreeMap<&'a str, f32>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
    }
    let mut rows: Vec<Row> = result
        .predictions
        .iter()
        .map(|p| Row {
            source: source(p.index),
            class: manifest.classes.get(p.predicted).map(String::as_str),
            confidence: Some(p.confidence),
            probabilities: Some(
                manifest
                    .classes
                    .iter()
                    .map(String::as_str)
                    .zip(p.probabilities.iter().copied())
                    .collect(),
            ),
            value: None,
        })
        .collect();
    rows.extend(result.values.iter().enumerate().map(|(i, &v)| Row {
        source: source(i),
        class: None,
        confidence: None,
        probabilities: None,
        value: Some(v),
    }));
    if let Some(out) = csv_out {
        let bytes = workflow::predictions_csv(&trained, &result)?;
        crate::files::atomic_write(out, &bytes)
            .with_context(|| format!("could not write '{}'", out.display()))?;
        outln!("Wrote {} predictions to {}", rows.len(), out.display());
    } else if json {
        #[derive(serde::Serialize)]
        struct Skipped<'a> {
            source: &'a str,
            reason: &'a str,
        }
        let skipped_rows: Vec<Skipped> = result
            .skipped
            .iter()
            .map(|(p, r)| Skipped {
                source: p,
                reason: r,
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({ "predictions": rows, "skipped": skipped_rows })
        );
    } else {
        for r in &rows {
            match (r.class, r.confidence, r.value) {
                (Some(class), Some(c), _) => {
                    outln!("{}\t{class}\t{:.1}%", r.source, c * 100.0)
                }
                (_, _, Some(v)) => outln!("{}\t{v:.4}", r.source),
                _ => {}
            }
        }
    }
    if !json {
        for (p, reason) in &result.skipped {
            eprintln!("skipped {p}: {reason}");
        }
    }
    if rows.is_empty() {
        bail!(
            "nothing could be predicted: none of the given files {}",
            match manifest.data.kind() {
                DataKind::Image => "could be used as an image",
                DataKind::Tabular => "had a usable row",
                DataKind::Text => "had a usable text",
                DataKind::Audio => "could be used as audio",
            }
        );
    }
    Ok(())
}
