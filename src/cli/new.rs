//! `strata new`: a project from a data folder or CSV file, with a template, an earlier run's
//! model or a pretrained part to start from.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

use super::{bar_progress, gan, import_bar};
use crate::data::{detect_task, read_csv, target_column};
use crate::model::{self, TEMPLATE_NAMES};
use crate::project::{
    AudioSettings, DataKind, DataSettings, Project, Source, TableSettings, Task, TextSettings,
    TokenizerKind,
};
use crate::workflow;

/// What `strata new` is asked.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
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

/// `strata new`: the data settings from the options, then the project.
pub(super) fn run(args: NewArgs) -> Result<()> {
    let NewArgs {
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
    } = args;
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
        Source::Tabular(_) => choose_target(&mut settings, target.as_deref().unwrap_or(""), task)?,
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
        Some(run) => Start::Reuse(workflow::trained_model_layer(run, cut.as_deref())?.into()),
        None => Start::Template(template, weights),
    };
    cmd_new(&project, settings, start, train_blocks, seed)
}

/// Settles a table's target column and task (found from the data unless given), so the project
/// file records them explicitly.
pub(super) fn choose_target(
    settings: &mut DataSettings,
    target: &str,
    task: Option<Task>,
) -> Result<()> {
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
