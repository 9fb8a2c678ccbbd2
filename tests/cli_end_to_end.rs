//! The headless path a user (or script) takes on `sample_data/`: new → inspect → train →
//! evaluate → predict, through the real `strata` binary, checking what it reports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{strata, text};
use std::path::{Path, PathBuf};

fn sample_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/shapes")
}

#[test]
fn create_train_evaluate_predict_on_sample_data() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("shapes.strata");
    let p = project.to_str().unwrap();
    let data = sample_data();

    let o = strata(&[
        "new",
        p,
        "--data",
        data.to_str().unwrap(),
        "--template",
        "cnn",
        "--image-size",
        "28x28",
        "--seed",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("4 classes"), "{}", text(&o));

    let o = strata(&["inspect", p]);
    assert!(o.status.success(), "{}", text(&o));
    let summary = text(&o);
    assert!(
        summary.contains("conv1 (Conv2d)") && summary.contains("32×26×26"),
        "{summary}"
    );
    assert!(summary.contains("Total params:"), "{summary}");

    let o = strata(&["train", p, "--epochs", "6", "--batch-size", "16", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.last(), Some(&"finished"));
    let epochs: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "epoch").collect();
    assert_eq!(epochs.len(), 6);
    for key in [
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "samples_per_sec",
        "elapsed_secs",
    ] {
        assert!(
            epochs[0].get(key).is_some(),
            "epoch event lacks {key}: {}",
            epochs[0]
        );
    }
    let first_loss = epochs[0]["train_loss"].as_f64().unwrap();
    let last_loss = epochs[5]["train_loss"].as_f64().unwrap();
    assert!(
        last_loss < first_loss * 0.5,
        "loss did not fall: {first_loss} → {last_loss}"
    );
    let finished = events.last().unwrap();
    let run_dir = PathBuf::from(finished["run_dir"].as_str().unwrap());
    assert!(
        run_dir.starts_with(dir.path()),
        "runs must sit beside the project, not in the data"
    );
    assert!(run_dir.join("best/model.safetensors").is_file());
    assert!(run_dir.join("best/model.json").is_file());
    assert!(run_dir.join("last/model.safetensors").is_file());
    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 7, "{metrics}");
    assert!(finished["best_epoch"].as_u64().unwrap() >= 1);

    let o = strata(&["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let accuracy = report["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.9, "test accuracy {accuracy}");
    assert_eq!(report["classes"].as_array().unwrap().len(), 4);
    let cm = report["confusion_matrix"].as_array().unwrap();
    let total: u64 = cm
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, report["samples"].as_u64().unwrap());
    assert_eq!(report["per_class"][0]["class"], "circle");
    assert!(report["per_class"][0]["f1"].as_f64().is_some());

    let o = strata(&["evaluate", p]);
    assert!(
        o.status.success() && text(&o).contains("precision"),
        "{}",
        text(&o)
    );

    let circle = data.join("circle/circle_000.png");
    let o = strata(&[
        "predict",
        p,
        circle.to_str().unwrap(),
        data.join("square").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let preds = out["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 1 + 150);
    assert_eq!(preds[0]["class"], "circle");
    let squares = preds[1..].iter().filter(|p| p["class"] == "square").count();
    assert!(squares >= 130, "{squares} of 150 squares recognised");
    let psum: f64 = preds[0]["probabilities"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((psum - 1.0).abs() < 1e-4);

    let csv_path = dir.path().join("pred.csv");
    let o = strata(&[
        "predict",
        p,
        circle.to_str().unwrap(),
        "--csv",
        csv_path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(
        csv.starts_with("path,class,confidence,p_circle,p_cross,p_square,p_triangle"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2);

    // The trained model leaves the run folder: weights, graph and run description.
    let out_dir = dir.path().join("exported");
    let o = strata(&["export", p, out_dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    for file in ["model.safetensors", "model.json", "run.json"] {
        assert!(out_dir.join(file).is_file(), "{file} missing");
    }

    // As ONNX: checked by tract against Strata on the test images before it is written, with
    // what a program needs to use it in the file's metadata.
    let onnx = dir.path().join("shapes.onnx");
    let o = strata(&["export", p, "--out", onnx.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["format"], "onnx");
    assert_eq!(out["checked_on"], "test samples");
    let n = out["checked_samples"].as_u64().unwrap();
    assert!(n >= 10, "{out}");
    assert_eq!(out["same_class"].as_u64(), Some(n), "{out}");
    assert!(out["max_abs_diff"].as_f64().unwrap() <= 1e-4, "{out}");
    let meta = common::onnx_metadata(&onnx);
    assert_eq!(meta["classes"], r#"["circle","cross","square","triangle"]"#);
    assert_eq!(meta["task"], "classification");
    assert_eq!(meta["input.kind"], "image");
    assert_eq!(meta["image.width"], "28");
    assert!(
        ["1", "3"].contains(&meta["image.channels"].as_str()),
        "{meta:?}"
    );
    assert!(meta["input.recipe"].contains("pixel / 255"), "{meta:?}");
    let o = strata(&["export", p, "--out", onnx.to_str().unwrap()]);
    assert!(text(&o).contains("same class on"), "{}", text(&o));
    // A run that does not exist is named in the error.
    let o = strata(&[
        "export",
        p,
        "--out",
        onnx.to_str().unwrap(),
        "--run",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("has no run 'nope'"), "{}", text(&o));

    // The way back: weights trained elsewhere (here the run's own, copied out) become a new run
    // that evaluate uses, with the same accuracy.
    let copied = dir.path().join("trained-elsewhere.safetensors");
    std::fs::copy(out_dir.join("model.safetensors"), &copied).unwrap();
    let o = strata(&["import-run", p, copied.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Added the run"), "{}", text(&o));
    let runs = std::fs::read_dir(strata::project::Project::runs_dir(&project))
        .unwrap()
        .count();
    assert_eq!(runs, 2);
    let o = strata(&["evaluate", p, "--json"]);
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["accuracy"].as_f64().unwrap(), accuracy);
    // A file for another model is refused, and names what does not fit.
    let o = strata(&["import-run", p, onnx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("do not fit"), "{}", text(&o));

    // The runs table: both runs, the newest (imported) one the model, its test score recorded by
    // the evaluation above; --use makes the trained run the model again.
    let o = strata(&["runs", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["is_model"], true);
    assert_eq!(rows[0]["status"], "trained elsewhere");
    assert_eq!(rows[0]["test_score"].as_f64(), Some(accuracy));
    assert_eq!(rows[1]["status"], "finished");
    assert_eq!(rows[1]["epochs"], 6);
    assert!(rows[1]["best_val_score"].as_f64().unwrap() > 0.5);
    assert!(rows[1]["model_bytes"].as_u64().unwrap() > 1000);
    let trained_id = rows[1]["run"].as_str().unwrap().to_owned();
    let o = strata(&["runs", p, "--use", &trained_id]);
    assert!(o.status.success(), "{}", text(&o));
    let table = text(&o);
    let marked = table
        .lines()
        .find(|l| l.starts_with('★'))
        .unwrap_or_default();
    assert!(marked.contains(&trained_id), "{table}");
    let o = strata(&["runs", p, "--use", "no-such-run"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn exit_codes_and_messages() {
    // Usage errors → 2.
    assert_eq!(strata(&["train"]).status.code(), Some(2));
    assert_eq!(
        strata(&["new", "x.strata", "--data", "d", "--image-size", "big"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(strata(&["frobnicate"]).status.code(), Some(2));
    // Other errors → 1 with a one-line message.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.strata");
    let o = strata(&["inspect", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("error: could not read"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let p = dir.path().join("p.strata");
    let o = strata(&[
        "new",
        p.to_str().unwrap(),
        "--data",
        sample_data().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["evaluate", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("strata train"),
        "{}",
        text(&o)
    );
    // A diverging run fails with the epoch and a hint.
    let o = strata(&[
        "train",
        p.to_str().unwrap(),
        "--epochs",
        "2",
        "--lr",
        "1e30",
        "--optimizer",
        "sgd",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "failed");
    let message = last["message"].as_str().unwrap();
    assert!(
        message.contains("epoch 1") && message.contains("Lower the learning rate"),
        "{message}"
    );

    let o = strata(&["import", sample_data().to_str().unwrap(), "--json"]);
    assert!(o.status.success());
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["samples"], 600);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 0);

    let o = strata(&["--version"]);
    assert!(
        o.status.success() && text(&o).contains("strata 0.1.0"),
        "{}",
        text(&o)
    );
}

/// `strata new` on the sample shapes at 28×28 in `dir`: the project file.
fn new_shapes_project(dir: &std::path::Path) -> PathBuf {
    let project = dir.join("auto.strata");
    let o = strata(&[
        "new",
        project.to_str().unwrap(),
        "--data",
        sample_data().to_str().unwrap(),
        "--image-size",
        "28x28",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    project
}

/// `strata train P --auto --json` with `epochs` and a budget of `minutes`: the summary line.
fn train_auto(p: &str, epochs: &str, minutes: &str) -> serde_json::Value {
    let o = strata(&[
        "train",
        p,
        "--auto",
        "--epochs",
        epochs,
        "--budget-minutes",
        minutes,
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn automatic_training_leaves_every_candidate_and_picks_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let project = new_shapes_project(dir.path());
    let p = project.to_str().unwrap();
    let summary = train_auto(p, "4", "5");
    let candidates = summary["candidates"].as_array().unwrap();
    // 28×28 grayscale: the CNN and the Keras MLP, each at two learning rates.
    assert_eq!(candidates.len(), 4, "{summary}");
    let stopped = candidates
        .iter()
        .filter(|c| c["stopped_early"] == true)
        .count();
    assert_eq!(stopped, 3, "successive halving keeps one: {summary}");
    // The winner is the best of those that trained to the end (the only one here).
    let finalists: Vec<&serde_json::Value> = candidates
        .iter()
        .filter(|c| c["stopped_early"] == false)
        .collect();
    assert_eq!(finalists.len(), 1);
    assert_eq!(finalists[0]["name"], summary["winner"]);
    assert_eq!(finalists[0]["epochs"], 4);
    // The winner is the project's model: its run, its settings.
    let saved = strata::project::Project::load(&project).unwrap();
    let run_dir = PathBuf::from(summary["run_dir"].as_str().unwrap());
    assert_eq!(
        saved.model_run.as_deref(),
        run_dir.file_name().and_then(|n| n.to_str())
    );
    // The model is the winner trained again, learning from the validation samples too; the
    // project keeps the winner's own settings (with its validation curve).
    assert_eq!(
        summary["retrained"]["run_dir"], summary["run_dir"],
        "{summary}"
    );
    let model = strata::engine::runs::read_manifest(&run_dir).unwrap();
    assert!(model.training.learn_from_validation);
    assert_eq!(model.split_sizes[1], 0);
    assert!(!saved.training.learn_from_validation);
    assert_eq!(model.training.lr, saved.training.lr);
    let o = strata(&["runs", p, "--json"]);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 5, "four candidates and the winner retrained");
    assert_eq!(rows.iter().filter(|r| r["is_model"] == true).count(), 1);
    let o = strata(&["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Four epochs at most: well above chance (0.25) is what this wiring test asks.
    assert!(report["accuracy"].as_f64().unwrap() > 0.4, "{report}");
}

/// A budget spent during the first round: no other candidate starts, and the one that trained
/// goes on to the last epoch rather than staying a model of a quarter of its epochs.
#[test]
fn automatic_training_past_its_budget_finishes_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let project = new_shapes_project(dir.path());
    let p = project.to_str().unwrap();
    let summary = train_auto(p, "8", "0.001");
    assert_eq!(summary["over_budget"], true, "{summary}");
    let candidates = summary["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "{summary}");
    assert_eq!(candidates[0]["epochs"], 8, "{summary}");
    assert_eq!(candidates[0]["stopped_early"], false);
    // Past the budget: no retraining; the model is the candidate's own run.
    assert!(summary["retrained"].is_null(), "{summary}");
    let o = strata(&["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn automatic_training_cross_validates_small_tables_and_retrains_the_winner() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("houses.strata");
    let p = project.to_str().unwrap();
    let houses = sample_data().parent().unwrap().join("houses.csv");
    let o = strata(&["new", p, "--data", houses.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["train", p, "--auto", "--epochs", "6", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("cross-validation"), "{stdout}");
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let candidates = summary["candidates"].as_array().unwrap();
    // The linear model (three weight penalties, all rows per step) joins the MLPs where
    // candidates are cross-validated; no candidate is stopped early (each trains on all five
    // folds).
    assert_eq!(candidates.len(), 7, "{summary}");
    for c in &candidates[..3] {
        assert!(
            c["name"]
                .as_str()
                .unwrap()
                .starts_with("tabular-linear, learning rate 0.2, L2 "),
            "{c}"
        );
        // Trained to its optimum, not stopped at the 6 epochs the MLPs get.
        assert_eq!(c["epochs"], 200, "{c}");
    }
    assert!(candidates.iter().all(|c| c["stopped_early"] == false));
    // The folds' scratch runs are gone; the runs are the candidates and the retrained winner.
    let runs_dir = strata::project::Project::runs_dir(&project);
    assert!(!runs_dir.join(".cross-validation").exists());
    let o = strata(&["runs", p, "--json"]);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 8);
    // The runs table tells the linear model from the MLPs by their kinds of layer.
    let models: Vec<&str> = rows
        .iter()
        .map(|r| r["settings"]["model"].as_str().unwrap())
        .collect();
    assert!(
        models.iter().any(|m| m.starts_with("2 layers (Dense), ")),
        "{models:?}"
    );
    // Each run carries the candidate's name; the retrained winner says so.
    let labels: Vec<&str> = rows.iter().filter_map(|r| r["label"].as_str()).collect();
    assert_eq!(labels.len(), 8, "{labels:?}");
    assert!(labels.iter().any(|l| l.starts_with("tabular-linear")));
    assert!(labels
        .iter()
        .any(|l| l.ends_with("retrained with the validation samples")));
    assert!(
        models.iter().any(|m| m.contains(" (Dense, Dropout), ")),
        "{models:?}"
    );
    let run_dir = PathBuf::from(summary["run_dir"].as_str().unwrap());
    let model = strata::engine::runs::read_manifest(&run_dir).unwrap();
    assert!(model.training.learn_from_validation && model.finished);
    let o = strata(&["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // 400 rows of a smooth price formula: any reasonable model explains most of it.
    assert!(report["r2"].as_f64().unwrap() > 0.5, "{report}");
}

#[test]
fn automatic_training_on_texts_tries_the_sentence_encoder_on_its_own_tokens() {
    let weights = common::weights_dir();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("texts.strata");
    let p = project.to_str().unwrap();
    let messages = sample_data().parent().unwrap().join("messages.csv");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(args)
            .env("STRATA_WEIGHTS_DIR", &weights)
            .env("STRATA_CACHE_DIR", dir.path().join("cache"))
            .output()
            .unwrap()
    };
    let o = run(&["new", p, "--data", messages.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["train", p, "--auto", "--epochs", "2", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let candidates = summary["candidates"].as_array().unwrap();
    let encoder = candidates
        .iter()
        .find(|c| c["name"] == "transfer-text-bow, learning rate 0.003")
        .unwrap_or_else(|| panic!("no sentence-encoder candidate: {summary}"));
    // It read the texts with MiniLM's tokenizer, cut at the length that covers the training texts
    // (not the 128 the tokenizer file pads every text to); the word-based candidates did not.
    let manifest = strata::engine::runs::read_manifest(std::path::Path::new(
        encoder["run_dir"].as_str().unwrap(),
    ))
    .unwrap();
    let vocab = manifest.text.unwrap();
    assert_eq!(vocab.tokenizer, strata::project::TokenizerKind::File);
    assert!((8..64).contains(&vocab.length), "{}", vocab.length);
    // 300 texts: compared by cross-validation, the bag of words and pairs first (seconds, the
    // strongest on small sets), reading the texts as words and marks; the encoder's last.
    assert!(stdout.contains("cross-validation"), "{stdout}");
    assert_eq!(candidates[0]["name"], "text-tfidf, learning rate 0.01");
    let tfidf = strata::engine::runs::read_manifest(std::path::Path::new(
        candidates[0]["run_dir"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(
        tfidf.text.unwrap().tokenizer,
        strata::project::TokenizerKind::WordsAndMarks
    );
    assert_eq!(
        candidates.last().unwrap()["name"],
        "transfer-text, learning rate 0.003"
    );
    let cnn = candidates
        .iter()
        .find(|c| c["name"] == "text-cnn, learning rate 0.001")
        .unwrap();
    let first =
        strata::engine::runs::read_manifest(std::path::Path::new(cnn["run_dir"].as_str().unwrap()))
            .unwrap();
    // New text projects read words and marks: the word-based candidates read the project's.
    assert_eq!(
        first.text.unwrap().tokenizer,
        strata::project::TokenizerKind::WordsAndMarks
    );
    // Whichever won, the project reads the texts the way its model does, so evaluate works.
    let saved = strata::project::Project::load(&project).unwrap();
    let model =
        strata::engine::runs::read_manifest(&PathBuf::from(summary["run_dir"].as_str().unwrap()))
            .unwrap();
    assert_eq!(
        saved.data.text().unwrap().tokenizer,
        model.text.as_ref().unwrap().tokenizer
    );
    let o = run(&["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["accuracy"].as_f64().unwrap() > 0.6, "{report}");
}
