//! The commands about a project's runs and models: `strata runs`, `train --auto`, `export`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::{load_project, model_run, prepare};
use crate::engine::{self, CancelToken};
use crate::project::Project;
use crate::workflow;

/// The run folder `run` of the project, or its newest run.
pub(super) fn chosen_run(path: &Path, run: Option<&str>) -> Result<PathBuf> {
    let Some(run) = run else {
        return model_run(path);
    };
    let dir = Project::runs_dir(path).join(run);
    if !dir.join(engine::runs::MANIFEST_FILE).is_file() {
        bail!(
            "'{}' has no run '{run}'; the runs are the folders in {}",
            path.display(),
            Project::runs_dir(path).display()
        );
    }
    Ok(dir)
}

/// `strata export`: ONNX (checked) or Strata's folder.
pub(super) fn cmd_export(
    path: &Path,
    out: &Path,
    format: workflow::ExportFormat,
    run: Option<&str>,
    json: bool,
) -> Result<()> {
    let run = chosen_run(path, run)?;
    match format {
        workflow::ExportFormat::Strata => {
            std::fs::create_dir_all(out)
                .with_context(|| format!("could not create '{}'", out.display()))?;
            workflow::export_run(&run, out)?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"format": "strata", "run": run, "out": out})
                );
            } else {
                outln!(
                    "Exported the model of {} to {}",
                    run.display(),
                    out.display()
                );
            }
        }
        workflow::ExportFormat::Pytorch => {
            let project = load_project(path)?;
            let done = workflow::export_pytorch(&project, &run, out, None, None)?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({
                        "format": "pytorch",
                        "run": run,
                        "out": out,
                        "files": done.files,
                        "split_sizes": done.split_sizes,
                    })
                );
            } else {
                outln!(
                    "Exported {} as a PyTorch project to {} ({})",
                    run.display(),
                    out.display(),
                    done.files.join(", ")
                );
                outln!(
                    "Train it there with `python train.py` (or `torchrun --nproc_per_node=N train.py`), then bring the weights back with `strata import-run {} trained.safetensors`; its README.md has the details",
                    path.display()
                );
            }
        }
        workflow::ExportFormat::Onnx => {
            let project = load_project(path)?;
            let (report, note) = workflow::export_project_onnx(&project, &run, out, None, None)?;
            if let Some(note) = note {
                eprintln!("note: {note}");
            }
            if json {
                outln!(
                    "{}",
                    serde_json::json!({
                        "format": "onnx",
                        "run": run,
                        "out": out,
                        "checked_samples": report.samples,
                        "checked_on": report.source,
                        "same_class": report.same_class,
                        "max_abs_diff": report.max_abs_diff,
                    })
                );
            } else {
                outln!("Exported {} as ONNX to {}", run.display(), out.display());
                outln!("{}", report.line());
            }
        }
    }
    Ok(())
}

/// `strata train P --auto`: the search, then the winner as the project's model.
pub(super) fn cmd_train_auto(
    path: &Path,
    project: &Project,
    minutes: f64,
    json: bool,
) -> Result<()> {
    use workflow::auto::{adopt_winner, score_words, train_automatically, AutoEvent};
    if !(minutes > 0.0 && minutes.is_finite()) {
        bail!("--budget-minutes needs a positive number of minutes");
    }
    let data = prepare(project, json)?;
    let task = data.dataset.task();
    let report = |event: AutoEvent| {
        let line = match &event {
            AutoEvent::Training {
                round,
                name,
                epochs,
            } => Some(format!(
                "Round {} of {}: {name}, up to epoch {epochs}",
                round.0, round.1
            )),
            AutoEvent::Epoch { name, metrics } => {
                json.then(|| serde_json::json!({"candidate": name, "epoch": metrics}).to_string())
            }
            AutoEvent::RoundDone { round, kept } => Some(format!(
                "After round {round}, going on with: {}",
                kept.join("; ")
            )),
            AutoEvent::CrossValidating { name, fold } => (fold.0 == 1).then(|| {
                format!("  {name}: checked on {} folds of the training and validation samples (cross-validation)", fold.1)
            }),
            AutoEvent::Retraining { name, epochs } => Some(format!(
                "The winner again from the start for {epochs} epochs, learning from the validation samples too: {name}"
            )),
        };
        if let Some(line) = line {
            if json && !matches!(event, AutoEvent::Epoch { .. }) {
                println!("{}", serde_json::json!({"note": line}));
            } else {
                println!("{line}");
            }
        }
    };
    let cancel = CancelToken::new();
    let outcome = train_automatically(
        path,
        project,
        &data,
        std::time::Duration::from_secs_f64(minutes * 60.0),
        &report,
        &cancel,
    )?;
    let adopted = adopt_winner(project, &outcome)?;
    adopted.save(path)?;
    let winner = &outcome.candidates[outcome.winner];
    if json {
        outln!(
            "{}",
            serde_json::json!({
                "winner": winner.name,
                "run_dir": outcome.model().run_dir,
                "best_val_score": winner.best_val,
                "retrained": outcome.retrained.as_ref().map(|r| serde_json::json!({
                    "run_dir": r.run_dir, "epochs": r.epochs,
                })),
                "seconds": outcome.seconds,
                "over_budget": outcome.over_budget,
                "candidates": outcome.candidates.iter().map(|c| serde_json::json!({
                    "name": c.name, "run_dir": c.run_dir, "epochs": c.epochs,
                    "best_val_score": c.best_val, "best_val_loss": c.best_val_loss,
                    "best_epoch": c.best_epoch, "cross_validated": c.cross_validated,
                    "stopped_early": c.stopped_early,
                })).collect::<Vec<_>>(),
            })
        );
        return Ok(());
    }
    outln!(
        "\nTried {} candidates in {:.0} s{}:",
        outcome.candidates.len(),
        outcome.seconds,
        if outcome.over_budget {
            " (the time budget ended the search early)"
        } else {
            ""
        }
    );
    for (i, c) in outcome.candidates.iter().enumerate() {
        outln!(
            "{} {:<48} {:>3} epochs  {}{}",
            if i == outcome.winner { "★" } else { " " },
            c.name,
            c.epochs,
            score_words(task, c),
            if c.stopped_early {
                "  (stopped early: others did better)"
            } else {
                ""
            }
        );
    }
    if let Some(r) = &outcome.retrained {
        outln!(
            "  {:<48} {:>3} epochs  learning from the validation samples too: the model",
            "↳ the winner trained again",
            r.epochs
        );
    }
    let chosen_by = if winner.cross_validated {
        "chosen by 5-fold cross-validation (the smallest model within one standard error of the lowest loss)"
    } else {
        "chosen by validation score"
    };
    let how = match &outcome.retrained {
        Some(r) => format!(
            ", {chosen_by} and trained again for its best {} epochs learning from the validation samples too ({})",
            r.epochs,
            r.run_dir.display()
        ),
        None => format!(" ({}), {chosen_by}", winner.run_dir.display()),
    };
    outln!(
        "The model is now {}{how}; its settings are the project's, to see and change on the Model and Train screens. `strata runs {}` lists every candidate.",
        winner.name,
        path.display()
    );
    Ok(())
}

/// `strata runs`: the runs table, and choosing the project's model.
pub(super) fn cmd_runs(path: &Path, json: bool, use_run: Option<&str>) -> Result<()> {
    use workflow::runs_table::{differing_settings, row_json, run_rows};
    let mut project = load_project(path)?;
    if let Some(id) = use_run {
        if id == "newest" {
            project.model_run = None;
        } else {
            chosen_run(path, Some(id))?;
            project.model_run = Some(id.to_owned());
        }
        project.save(path)?;
    }
    let runs = engine::runs::list_runs(path);
    let model = engine::runs::model_run(path, &project);
    let rows = run_rows(&runs, model.as_deref());
    if json {
        for row in &rows {
            outln!("{}", row_json(row));
        }
        return Ok(());
    }
    if rows.is_empty() {
        outln!("No runs yet; `strata train {}` starts one.", path.display());
        return Ok(());
    }
    let differ = differing_settings(&rows);
    let score = rows[0].task.score_name();
    outln!(
        "{:<2}{:<22} {:<28} {:>6}  {:>18}  {:>13}  {:>8}  {:>9}  {}",
        "",
        "run",
        "status",
        "epochs",
        format!("best val. {score}"),
        format!("test {score}"),
        "time",
        "size",
        if differ.is_empty() {
            "settings (all the same)"
        } else {
            "settings that differ"
        }
    );
    for row in &rows {
        let fmt = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| row.task.format_score(v));
        let settings: Vec<String> = row
            .settings
            .iter()
            .filter(|(name, _)| differ.contains(name))
            .map(|(name, value)| format!("{name} {value}"))
            .collect();
        outln!(
            "{:<2}{:<22} {:<28} {:>6}  {:>18}  {:>13}  {:>8}  {:>9}  {}",
            if row.is_model { "★" } else { "" },
            row.id,
            row.status,
            row.epochs,
            fmt(row.best_val),
            fmt(row.test),
            row.seconds
                .map_or_else(|| "—".to_owned(), |s| format!("{s:.1} s")),
            row.model_bytes
                .map_or_else(|| "—".to_owned(), engine::human_bytes),
            settings.join(", ")
        );
    }
    outln!(
        "★ the project's model: what evaluate, predict and export use (change it with --use RUN)"
    );
    Ok(())
}
