//! The headless front end: `strata new|import|inspect|train|evaluate|predict|export|weights`.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::{detect_task, read_csv, target_column};
use crate::engine::{self, CancelToken, Level, PreparedData, RunOutcome, TrainEvent, TrainedModel};
use crate::eval;
use crate::model::{self, TEMPLATE_NAMES};
use crate::project::{
    AudioSettings, DataKind, DataSettings, DeviceChoice, OptimizerKind, Project, Source,
    TableSettings, Task, TextSettings, TokenizerKind,
};
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
mod runs;
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
    New {
        /// The project file to create, e.g. digits.strata.
        project: PathBuf,
        /// The image folder or CSV file.
        #[arg(long)]
        data: PathBuf,
        /// What the data is (found from the path when not given: a folder of images, of .txt
        /// files or of audio clips; a CSV of texts or of columns).
        #[arg(long, value_enum)]
        kind: Option<DataKind>,
        /// Tables: the column to predict (default: one named target/label/class/y, else the last);
        /// texts in a CSV: the label column.
        #[arg(long, alias = "label-column")]
        target: Option<String>,
        /// Texts in a CSV: the column with the text (default: one named text/review/…, else the
        /// longest).
        #[arg(long)]
        text_column: Option<String>,
        /// Texts: cut into words (and marks: commas, full stops… as tokens too) or characters.
        #[arg(long, value_enum, default_value_t = TokenizerKind::WordsAndMarks)]
        tokenizer: TokenizerKind,
        /// Texts: use this tokenizer.json (WordPiece, BPE…) instead of words or characters.
        #[arg(long, conflicts_with = "tokenizer")]
        tokenizer_file: Option<PathBuf>,
        /// Texts: most different tokens kept (the most frequent in the training texts).
        #[arg(long, default_value_t = 20_000)]
        vocab_size: usize,
        /// Texts: tokens read per text (default: enough for 95 % of the training texts).
        #[arg(long)]
        sequence_length: Option<usize>,
        /// Audio: seconds per clip (longer clips are cut, shorter padded with silence).
        #[arg(long, default_value_t = 1.0)]
        clip_seconds: f32,
        /// Audio: mel bands of the spectrogram.
        #[arg(long, default_value_t = 40)]
        mel_bands: usize,
        /// Audio: spectrogram window in milliseconds.
        #[arg(long, default_value_t = 25.0)]
        window_ms: f32,
        /// Audio: step between spectrogram windows in milliseconds.
        #[arg(long, default_value_t = 10.0)]
        hop_ms: f32,
        /// Audio: read this many MFCCs per frame instead of the log-mel spectrogram.
        #[arg(long)]
        mfcc: Option<usize>,
        /// Tables: predict a class or a number (found from the target column when not given).
        #[arg(long, value_enum)]
        task: Option<Task>,
        /// Starting model (default: cnn for colour or larger images, mlp for small grayscale
        /// ones, tabular-mlp for tables, text-tfidf for texts, audio-cnn for clips).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(
            TEMPLATE_NAMES.iter().chain(&["dcgan", "cdcgan"]).copied()
        ))]
        template: Option<String>,
        /// Reuse the model of an earlier run (a `<project>.runs/<run-id>` folder) up to --cut,
        /// frozen, with a new output layer (instead of a template).
        #[arg(long, conflicts_with = "template")]
        from_run: Option<PathBuf>,
        /// With --from-run: the layer to cut at (default: the one feeding its output).
        #[arg(long, requires = "from_run")]
        cut: Option<String>,
        /// How many of the last blocks of the pretrained or reused part train (default 0:
        /// frozen); fine-tuning is slower but adapts the part to the data.
        #[arg(long, default_value_t = 0)]
        train_blocks: usize,
        /// The pretrained weights file of a transfer template (default: found in
        /// $STRATA_WEIGHTS_DIR, ~/.cache/strata-weights/unpacked or ~/Strata/weights).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Image size as WIDTHxHEIGHT (default 28x28; 224x224 for transfer-image).
        #[arg(long, value_parser = parse_size)]
        image_size: Option<(u32, u32)>,
        /// 1 for grayscale, 3 for colour (default 1; 3 for transfer-image).
        #[arg(long, value_parser = parse_channels)]
        channels: Option<u8>,
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
    },
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
            kind,
            target,
            text_column,
            tokenizer,
            tokenizer_file,
            vocab_size,
            sequence_length,
            clip_seconds,
            mel_bands,
            window_ms,
            hop_ms,
            mfcc,
            task,
            template,
            from_run,
            cut,
            train_blocks,
            weights,
            image_size,
            channels,
            val_fraction,
            test_fraction,
            seed,
        } => {
            // A path typed relative to where the command runs, stored relative to the project.
            let data = std::path::absolute(&data).unwrap_or(data);
            let kind = kind.unwrap_or_else(|| workflow::detect_kind(&data));
            let mut settings = DataSettings {
                val_fraction,
                test_fraction,
                split_seed: seed,
                ..DataSettings::new(data, kind)
            };
            // The reused model reads the data as it was imported for it.
            let old = match &from_run {
                Some(run) => Some(crate::engine::runs::read_manifest(run)?.data),
                None => None,
            };
            match &mut settings.source {
                Source::Tabular(_) => {
                    choose_target(&mut settings, target.as_deref().unwrap_or(""), task)?
                }
                Source::Text(text) => {
                    *text = TextSettings {
                        text_column: text_column.unwrap_or_default(),
                        label_column: target.unwrap_or_default(),
                        tokenizer: if tokenizer_file.is_some() {
                            TokenizerKind::File
                        } else {
                            tokenizer
                        },
                        tokenizer_file: tokenizer_file.unwrap_or_default(),
                        vocab_size,
                        sequence_length,
                    }
                }
                Source::Audio(audio) => {
                    *audio = match old.as_ref().and_then(|d| d.audio()) {
                        Some(old) => old.clone(),
                        None => AudioSettings {
                            clip_seconds,
                            mel_bands,
                            window_ms,
                            hop_ms,
                            mfcc: mfcc.unwrap_or(0),
                        },
                    }
                }
                Source::Image(image) => {
                    let old = old
                        .as_ref()
                        .and_then(|d| d.image())
                        .cloned()
                        .unwrap_or_default();
                    image.width = image_size.map_or(old.width, |s| s.0);
                    image.height = image_size.map_or(old.height, |s| s.1);
                    image.channels = channels.unwrap_or(old.channels);
                }
            }
            // The default template is chosen once the data is imported (`default_template`).
            let weights = match &template {
                Some(template) => workflow::adapt_data_to_template(
                    template,
                    &mut settings,
                    weights.as_deref(),
                    image_size.is_some(),
                )?,
                None => None,
            };
            if let (Some(c), Some(image)) = (channels, settings.image_mut()) {
                image.channels = c;
            }
            let start = match &from_run {
                Some(run) => {
                    Start::Reuse(workflow::trained_model_layer(run, cut.as_deref())?.into())
                }
                None => Start::Template(template, weights),
            };
            cmd_new(&project, settings, start, train_blocks, seed)
        }
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
        } => {
            let mut p = load_project(&project)?;
            let dp_asked = dp_epsilon.is_some()
                || dp_noise.is_some()
                || dp_clip.is_some()
                || dp_delta.is_some();
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

/// Settles a table's target column and task (found from the data unless given), so the project
/// file records them explicitly.
fn choose_target(settings: &mut DataSettings, target: &str, task: Option<Task>) -> Result<()> {
    let table = read_csv(&settings.path)?;
    let column = target_column(&table, target).map_err(|e| anyhow!("{e}"))?;
    let task = task.unwrap_or_else(|| detect_task(&table, column));
    settings.source = Source::Tabular(TableSettings {
        target: table.header[column].clone(),
        task,
    });
    Ok(())
}

/// What a new project's model starts from.
enum Start {
    /// A template by name (none: the data's default), with the weights file of its pretrained
    /// part.
    Template(Option<String>, Option<PathBuf>),
    /// The part of an earlier run's model to reuse.
    Reuse(crate::model::Layer),
}

fn cmd_new(
    path: &Path,
    data: DataSettings,
    start: Start,
    train_blocks: usize,
    seed: u64,
) -> Result<()> {
    if path.exists() {
        bail!(
            "'{}' already exists; choose another name or delete it first",
            path.display()
        );
    }
    let bar = import_bar(false);
    let (prepared, report) = workflow::prepare(&data, None, Some(&bar_progress(&bar)))?;
    bar.finish_and_clear();
    let dataset = &prepared.dataset;
    let classes = dataset.classes().len();
    let mut data = data;
    // What was found becomes the project's explicit choice.
    workflow::record_found_settings(&mut data, dataset);
    if let Start::Template(Some(name), _) = &start {
        if gan::is_gan_template(name) {
            return gan::new_gan(path, data, &prepared, &report, name, seed);
        }
    }
    if dataset.task() == Task::Classify && classes < 2 {
        bail!(
            "'{}' has {classes} class(es) with usable samples; a classifier needs at least two",
            data.path.display(),
        );
    }
    let (graph, template) = match start {
        Start::Template(template, weights) => {
            let template = template.unwrap_or_else(|| {
                model::default_template(dataset.kind(), &dataset.fit()).to_owned()
            });
            let mut graph = model::template(&template, &dataset.fit())
                .ok_or_else(|| anyhow!("unknown template '{template}'"))?;
            if let Some(file) = weights {
                graph.set_pretrained_weights(&file);
            }
            (graph, template)
        }
        Start::Reuse(layer) => (
            workflow::reuse_graph(&dataset.shape(), layer, classes),
            "reused".to_owned(),
        ),
    };
    let mut graph = graph;
    graph.set_train_blocks(train_blocks);
    if let Err(errors) = graph.validate() {
        let list: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
        bail!("the new model does not fit the data: {}", list.join(" "));
    }
    let what = match dataset.task() {
        Task::Classify => format!("{classes} classes"),
        Task::Regress => format!(
            "predicting the number '{}'",
            data.table().map(|t| t.target.as_str()).unwrap_or_default()
        ),
    };
    let mut project = Project::new(data, graph);
    project.training.seed = seed;
    project.save(path)?;
    out!("{}", report.to_text());
    outln!(
        "Created {} with the '{template}' model ({what}). Next: strata train {}",
        path.display(),
        path.display()
    );
    Ok(())
}

fn cmd_import(path: &Path, json: bool) -> Result<()> {
    let settings = if path.extension().is_some_and(|x| x == "strata") && path.is_file() {
        load_project(path)?.data
    } else {
        let mut settings = DataSettings::new(path.to_owned(), workflow::detect_kind(path));
        if settings.kind() == DataKind::Tabular {
            choose_target(&mut settings, "", None)?;
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
                bar.set_message(format!("loss {loss:.4} {acc} {accuracy:.3}  {samples_per_sec:.0} samples/s  ETA {eta_secs:.0}s"));
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
