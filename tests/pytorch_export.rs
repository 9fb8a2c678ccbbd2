//! PyTorch export: every layer kind and every template is written as `model.py` with its weights
//! and a check file (random inputs and Strata's answers), and whole projects (pictures, texts, a
//! table, sound clips) as PyTorch project folders whose weights come back with `import-run`.
//!
//! The Python files are compiled by the machine's `python3`. Where PyTorch is at hand —
//! `STRATA_TORCH_PYTHON` names a Python with torch, safetensors, numpy and Pillow; `.ci/run` sets
//! one up — the models also run in PyTorch next to Strata: the same class on every sample and a
//! largest difference of at most 1e-4, and `predict.py --evaluate test` gives `strata evaluate`'s
//! accuracy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::graphs::{self, inputs, network};
use common::{strata, text};
use strata::export::pytorch::{model_py, save_check, save_weights};

/// Runs every `case*/` model under `dir` in PyTorch against its check file.
const COMPARE: &str = r#"
import importlib.util, os, sys
import torch
from safetensors import safe_open
root = sys.argv[1]
failed = 0
for case in sorted(os.listdir(root)):
    folder = os.path.join(root, case)
    spec = importlib.util.spec_from_file_location(case, os.path.join(folder, "model.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    model = m.Model()
    m.load_weights(model, os.path.join(folder, "weights.safetensors"))
    with safe_open(os.path.join(folder, "check.safetensors"), framework="pt") as f:
        x, want = f.get_tensor("inputs"), f.get_tensor("outputs")
    got = m.predict(model, x)
    diff = (got - want).abs().max().item()
    same = (got.argmax(1) == want.argmax(1)).all().item()
    what = open(os.path.join(folder, "what.txt")).read()
    ok = diff <= 1e-4 and same
    failed += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {what}: largest difference {diff:.2e}")
sys.exit(1 if failed else 0)
"#;

/// The Python with PyTorch, when the environment names one.
fn torch_python() -> Option<PathBuf> {
    std::env::var_os("STRATA_TORCH_PYTHON").map(PathBuf::from)
}

/// Compiles the Python files in `folder` with the machine's `python3` (syntax errors fail).
fn compiles(folder: &Path) {
    let files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    assert!(!files.is_empty(), "no Python files in {}", folder.display());
    let o = Command::new("python3")
        .arg("-m")
        .arg("py_compile")
        .args(&files)
        .output()
        .expect("python3 runs");
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn every_layer_kind_and_template_runs_in_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let cases = graphs::all();
    for (i, case) in cases.iter().enumerate() {
        let net = network(&case.graph);
        let shape = net.checked().info[net.checked().input].output_shape.clone();
        let folder = dir.path().join(format!("case{i:03}"));
        std::fs::create_dir_all(&folder).unwrap();
        let code =
            model_py(&net, &case.what, "test").unwrap_or_else(|e| panic!("{}: {e}", case.what));
        assert!(code.contains("class Model(nn.Module)"), "{}", case.what);
        std::fs::write(folder.join("model.py"), code).unwrap();
        std::fs::write(folder.join("what.txt"), &case.what).unwrap();
        save_weights(&net, &folder.join("weights.safetensors")).unwrap();
        save_check(
            &net,
            &inputs(&shape, case.vocab),
            &[],
            &folder.join("check.safetensors"),
        )
        .unwrap();
        compiles(&folder);
    }
    let Some(python) = torch_python() else {
        eprintln!("STRATA_TORCH_PYTHON is not set: the models were written and compiled, not run in PyTorch");
        return;
    };
    let o = Command::new(python)
        .arg("-c")
        .arg(COMPARE)
        .arg(dir.path())
        .output()
        .expect("the PyTorch Python runs");
    let report = text(&o);
    assert!(o.status.success(), "{report}");
    assert_eq!(report.matches("ok   ").count(), cases.len(), "{report}");
}

/// `strata new` + a short training of `data` with `args`, in `dir`; the project file.
fn trained_project(dir: &Path, name: &str, data: &Path, args: &[&str], epochs: &str) -> PathBuf {
    let project = dir.join(format!("{name}.strata"));
    let p = project.to_str().unwrap();
    let mut new = vec!["new", p, "--data", data.to_str().unwrap(), "--seed", "3"];
    new.extend_from_slice(args);
    let o = strata(&new);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["train", p, "--epochs", epochs, "--batch-size", "16"]);
    assert!(o.status.success(), "{}", text(&o));
    project
}

fn evaluate_json(project: &Path) -> serde_json::Value {
    let o = strata(&["evaluate", project.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The score `strata evaluate` gives: accuracy, or RMSE for numbers.
fn score(report: &serde_json::Value) -> f64 {
    report["accuracy"]
        .as_f64()
        .or_else(|| report["rmse"].as_f64())
        .unwrap_or_else(|| panic!("no score in {report}"))
}

#[test]
fn projects_of_every_kind_of_data_leave_and_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data");
    let projects = [
        trained_project(
            dir.path(),
            "shapes",
            &samples.join("shapes"),
            &["--template", "cnn", "--image-size", "28x28"],
            "2",
        ),
        trained_project(
            dir.path(),
            "messages",
            &samples.join("messages.csv"),
            &["--template", "text-lstm"],
            "2",
        ),
        trained_project(dir.path(), "houses", &samples.join("houses.csv"), &[], "3"),
        trained_project(dir.path(), "words", &samples.join("words"), &[], "3"),
    ];
    for project in &projects {
        let p = project.to_str().unwrap();
        let before = evaluate_json(project);
        let out = dir.path().join(format!(
            "{}-pytorch",
            project.file_stem().unwrap().to_string_lossy()
        ));
        let o = strata(&[
            "export",
            p,
            "--format",
            "pytorch",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let done: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(done["format"], "pytorch");
        for file in [
            "model.py",
            "weights.safetensors",
            "data.json",
            "data.py",
            "train.py",
            "predict.py",
            "README.md",
            "requirements.txt",
            "check.safetensors",
        ] {
            assert!(out.join(file).is_file(), "{p}: {file}");
        }
        compiles(&out);
        // The split is Strata's: as many samples in each part as the run had.
        let recipe: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("data.json")).unwrap()).unwrap();
        let sizes: Vec<usize> = ["train", "val", "test"]
            .iter()
            .map(|part| recipe["split"][part].as_array().unwrap().len())
            .collect();
        assert_eq!(
            serde_json::json!(sizes),
            done["split_sizes"],
            "{p}: split sizes"
        );
        assert!(sizes.iter().all(|&n| n > 0), "{p}: {sizes:?}");

        if let Some(python) = torch_python() {
            let run = |args: &[&str]| {
                let o = Command::new(&python)
                    .current_dir(&out)
                    .args(args)
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{p}: {args:?}: {}", text(&o));
                text(&o)
            };
            let checked = run(&["predict.py", "--check"]);
            let same = checked
                .split("same class on ")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .unwrap_or_default();
            let (a, b) = same.split_once('/').unwrap_or_default();
            assert!(!a.is_empty() && a == b, "{p}: {checked}");
            // data.py reads the samples as Strata does (pictures and spectrograms within a few
            // grey levels on average).
            assert!(checked.contains("data.py reads the same"), "{p}: {checked}");
            let evaluated = run(&["predict.py", "--evaluate", "test"]);
            if let Some(accuracy) = before["accuracy"].as_f64() {
                assert!(
                    evaluated.contains(&format!("accuracy {accuracy:.4}")),
                    "{p}: PyTorch says {evaluated}, strata evaluate {accuracy}"
                );
            }
        }

        // The way back: the exported weights (Strata's names, as train.py saves them) become a
        // new run that evaluates as the original.
        let o = strata(&[
            "import-run",
            p,
            out.join("weights.safetensors").to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let after = evaluate_json(project);
        assert!(
            (score(&after) - score(&before)).abs() < 1e-9,
            "{p}: {before} vs {after}"
        );
    }
}

/// A run that lowers its learning rate over the epochs and learns from the validation samples
/// too: both settings travel to `train.py`, which lowers the rate the same way (a half cosine,
/// epoch by epoch) and trains on training + validation.
#[test]
fn the_learning_rate_decay_and_learning_from_validation_reach_train_py() {
    let dir = tempfile::tempdir().unwrap();
    let houses = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/houses.csv");
    let project = dir.path().join("houses.strata");
    let p = project.to_str().unwrap();
    let o = strata(&["new", p, "--data", houses.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&[
        "train",
        p,
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--lr-decay",
        "--learn-from-validation",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["runs", p, "--json"]);
    let row: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(row["settings"]["learning rate decay"], "cosine", "{row}");
    assert_eq!(row["settings"]["learns from"], "training + validation");
    let out = dir.path().join("pytorch");
    let o = strata(&[
        "export",
        p,
        "--format",
        "pytorch",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let recipe: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("data.json")).unwrap()).unwrap();
    assert_eq!(recipe["training"]["lr_decay"], true);
    assert_eq!(recipe["training"]["learn_from_validation"], true);
    let Some(python) = torch_python() else {
        return;
    };
    let o = Command::new(&python)
        .current_dir(&out)
        .args(["train.py", "--epochs", "3", "--workers", "0"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let log = text(&o);
    let settings = strata::project::TrainingSettings {
        lr: 0.01,
        epochs: 3,
        lr_decay: true,
        ..Default::default()
    };
    for epoch in 1..=3 {
        let rate: f64 = log
            .lines()
            .find(|l| l.starts_with(&format!("epoch {epoch}/3")))
            .and_then(|l| l.split("learning rate ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no learning rate for epoch {epoch} in {log}"));
        let expected = settings.lr_at(epoch);
        assert!(
            (rate - expected).abs() < 1e-6 * expected,
            "epoch {epoch}: PyTorch {rate}, Strata {expected}"
        );
    }
    // Training + validation: no validation loss in the epochs' lines.
    assert!(!log.contains("validation loss"), "{log}");
}
