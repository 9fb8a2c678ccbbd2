//! `strata explain`: why the project's model answered what it did for some files (heat maps
//! written as PNGs with `--out`), each with its sanity checks; `--importance` ranks a table's
//! columns on the test split.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};

use super::{load_project, runs::chosen_run};
use crate::engine::{self, TrainedModel};
use crate::explain::{self, Explanation, Map, Method};
use crate::workflow::{self, ExplainAsk};

/// Most files explained in one call (each takes a few forward passes per part).
const MAX_FILES: usize = 50;

/// What `strata explain` was asked.
pub(super) struct ExplainArgs<'a> {
    pub project: &'a Path,
    pub paths: &'a [PathBuf],
    pub method: Option<Method>,
    pub class: Option<&'a str>,
    pub checks: bool,
    pub out: Option<&'a Path>,
    pub importance: bool,
    pub run: Option<&'a str>,
    pub json: bool,
}

/// `strata explain`.
pub(super) fn cmd_explain(args: &ExplainArgs<'_>) -> Result<()> {
    let project = load_project(args.project)?;
    let run = chosen_run(args.project, args.run)?;
    let trained = TrainedModel::load(&run, &engine::inference_device())?;
    if args.importance {
        return importance(&project, &trained, args.json);
    }
    if args.paths.is_empty() {
        bail!("name the files to explain (or --importance for a table's columns)");
    }
    let class = match args.class {
        None => None,
        Some(name) => Some(
            trained
                .manifest
                .classes
                .iter()
                .position(|c| c.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    anyhow!(
                        "the model has no class '{name}'; its classes are {}",
                        trained.manifest.classes.join(", ")
                    )
                })?,
        ),
    };
    let files = workflow::collect_files(args.paths)?;
    let predicted = workflow::predict_files(&trained, &files)?;
    let dataset = &predicted.dataset;
    if dataset.is_empty() {
        bail!("none of the files could be read as this model's input");
    }
    if let Some(out) = args.out {
        std::fs::create_dir_all(out)
            .with_context(|| format!("could not create '{}'", out.display()))?;
    }
    let ask = ExplainAsk {
        method: args.method,
        class,
        checks: args.checks,
    };
    let count = dataset.len().min(MAX_FILES);
    for i in 0..count {
        let source = predicted.sources.get(i).cloned().unwrap_or_default();
        let e = workflow::explain_sample(Some(&run), &trained, dataset, i, ask)?;
        let picture = match args.out {
            Some(out) => write_picture(out, dataset, i, &source, &e)?,
            None => None,
        };
        if args.json {
            let line = serde_json::json!({
                "source": source,
                "explanation": e,
                "how_to_read": e.how_to_read(),
                "picture": picture,
            });
            outln!("{line}");
        } else {
            print_explanation(&source, &e, picture.as_deref())?;
        }
    }
    if dataset.len() > count {
        eprintln!(
            "note: explained the first {count} of {} samples",
            dataset.len()
        );
    }
    Ok(())
}

fn print_explanation(source: &str, e: &Explanation, picture: Option<&Path>) -> Result<()> {
    outln!("{source}: {} ({:.3})", e.class_name, e.score);
    outln!("  {}", e.how_to_read());
    match &e.map {
        Map::Grid { .. } => {
            if let Some(p) = picture {
                outln!("  heat map: {}", p.display());
            }
        }
        Map::Tokens(_) | Map::Columns(_) => {
            for c in e.ranked().into_iter().take(8) {
                let value = if c.value.is_empty() {
                    String::new()
                } else {
                    format!(" = {}", c.value)
                };
                outln!("  {:>+8.3}  {}{value}", c.score, c.name);
            }
        }
    }
    if let Some(s) = &e.sanity {
        outln!("  {}", s.randomisation_line());
        outln!("  {}", s.deletion_line());
    }
    Ok(())
}

/// The heat map over the sample as a PNG in `out`, named after the source file.
fn write_picture(
    out: &Path,
    dataset: &crate::data::Dataset,
    index: usize,
    source: &str,
    e: &Explanation,
) -> Result<Option<PathBuf>> {
    let (Some(images), Map::Grid { height, width, .. }) = (dataset.images(), &e.map) else {
        return Ok(None);
    };
    let Some(rgb) = explain::overlay(&images.sample(index), images.channels, &e.map, 0.6) else {
        return Ok(None);
    };
    let stem = Path::new(source).file_stem().map_or_else(
        || format!("sample{index}"),
        |s| s.to_string_lossy().into_owned(),
    );
    let file = out.join(format!("{stem}.why.png"));
    let mut png = Vec::new();
    image::RgbImage::from_raw(*width as u32, *height as u32, rgb)
        .ok_or_else(|| anyhow!("the heat map has the wrong size"))?
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    crate::files::atomic_write(&file, &png)
        .with_context(|| format!("could not write '{}'", file.display()))?;
    Ok(Some(file))
}

/// Permutation importance of a table model's columns on the test split.
fn importance(project: &crate::project::Project, trained: &TrainedModel, json: bool) -> Result<()> {
    if trained.manifest.table.is_none() {
        bail!("--importance ranks a table's columns; this model does not read a table");
    }
    let evaluation = workflow::evaluate_test_split(project, trained, None, None)?;
    let ranked = explain::permutation_importance(
        &trained.network,
        trained.manifest.training.loss,
        &evaluation.dataset,
        &evaluation.indices,
        5,
        project.training.seed,
    )?;
    if json {
        outln!("{}", serde_json::to_string(&ranked)?);
        return Ok(());
    }
    let score = if evaluation.regression.is_some() {
        "R²"
    } else {
        "accuracy"
    };
    outln!(
        "Permutation importance on the {} test rows: how much the {score} falls when a column's values are shuffled (mean ± spread of 5 shuffles)",
        evaluation.indices.len()
    );
    let width = ranked
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(6);
    for r in &ranked {
        outln!(
            "  {:<width$}  {:>+7.3} ± {:.3}",
            r.name,
            r.importance,
            r.spread
        );
    }
    Ok(())
}
