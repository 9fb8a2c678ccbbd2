//! Tables end to end: CSV files good and broken (every bad row reported by line, nothing panics),
//! the encoding a model sees, training that really learns a regression and a classification, and
//! the CLI on the bundled `sample_data/houses.csv`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{strata, text};
use std::path::{Path, PathBuf};

use strata::data::{read_csv, ColumnKind, Dataset};
use strata::engine::{self, CancelToken, RunOutcome, TrainEvent};
use strata::model;
use strata::project::{DataKind, DataSettings, LossKind, Project, Task};
use strata::workflow;

fn houses() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/houses.csv")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn settings(path: &Path, target: &str, task: Task) -> DataSettings {
    DataSettings {
        source: strata::project::Source::Tabular(strata::project::TableSettings {
            target: target.to_owned(),
            task,
        }),
        val_fraction: 0.15,
        test_fraction: 0.15,
        ..DataSettings::new(path.to_owned(), DataKind::Tabular)
    }
}

#[test]
fn broken_rows_are_skipped_and_reported_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "broken.csv",
        b"size;colour;price\n\
          1.5;red;10\n\
          2;blue\n\
          3;green;30;extra\n\
          4;\"dark; red\";40\n\
          5;red;\n\
          6;red;lots\n\
          7;blue;70\n\
          8;\"never closed;80\n\
          9;red;90\n",
    );
    let (prepared, report) =
        workflow::prepare(&settings(&csv, "price", Task::Regress), None, None).unwrap();
    let lines: Vec<usize> = report.skipped_rows.iter().map(|s| s.line).collect();
    assert_eq!(lines, [3, 4, 6, 7, 9], "{:?}", report.skipped_rows);
    let why: Vec<&str> = report
        .skipped_rows
        .iter()
        .map(|s| s.reason.as_str())
        .collect();
    assert!(
        why[0].contains("has 2 fields but the header has 3"),
        "{why:?}"
    );
    assert!(why[1].contains("has 4 fields"), "{why:?}");
    assert!(why[2].contains("target 'price' is empty"), "{why:?}");
    assert!(why[3].contains("'lots', not a number"), "{why:?}");
    assert!(why[4].contains("never closed"), "{why:?}");
    // Lines 2, 5, 8 and 10: the row after the unclosed quote is read on its own.
    assert_eq!(prepared.dataset.len(), 4);
    let table = prepared.dataset.table().unwrap();
    assert_eq!(table.table.rows[1][1], "dark; red");
    let text = report.to_text();
    assert!(
        text.contains("Skipped 5 rows") && text.contains("line 9:"),
        "{text}"
    );
}

#[test]
fn encodings_delimiters_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    // UTF-8 with BOM, tab-separated, quoted newline.
    let t = read_csv(&write(
        dir.path(),
        "a.tsv",
        "\u{feff}name\tnote\ty\nÅsa\t\"two\nlines\"\t1\n".as_bytes(),
    ))
    .unwrap();
    assert_eq!(t.header, ["name", "note", "y"]);
    assert_eq!(t.rows[0], ["Åsa", "two\nlines", "1"]);
    // UTF-16 big-endian with BOM.
    let mut be = vec![0xFE, 0xFF];
    for u in "x;y\n1;2\n".encode_utf16() {
        be.extend_from_slice(&u.to_be_bytes());
    }
    let t = read_csv(&write(dir.path(), "b.csv", &be)).unwrap();
    assert_eq!((t.delimiter, t.rows.len()), (b';', 1));
    // Latin-1 falls back with a warning naming the line.
    let t = read_csv(&write(
        dir.path(),
        "c.csv",
        b"city,n\nM\xfcnchen,1\nKo\xebln,2\n",
    ))
    .unwrap();
    assert_eq!(t.rows[0][0], "München");
    assert!(t.warnings[0].contains("line 2"), "{:?}", t.warnings);
    // A UTF-8 file with one line of broken bytes: that row is skipped and reported by line, the
    // accents of the others stay right.
    let mut bytes = "city,n\n".as_bytes().to_vec();
    for i in 0..30 {
        if i == 10 {
            bytes.extend_from_slice(b"K\xf6ln,10\n");
        } else {
            bytes.extend_from_slice(format!("Zürich,{i}\n").as_bytes());
        }
    }
    let t = read_csv(&write(dir.path(), "u.csv", &bytes)).unwrap();
    assert_eq!(t.rows.len(), 29);
    assert_eq!(t.rows[0][0], "Zürich");
    assert_eq!(t.skipped.len(), 1, "{:?}", t.skipped);
    assert_eq!(t.skipped[0].line, 12);
    assert!(t.skipped[0].reason.contains("not text"), "{:?}", t.skipped);
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    // No header: columns are numbered; the last is the target.
    let t = read_csv(&write(dir.path(), "d.csv", b"1,2,3\n4,5,6\n")).unwrap();
    assert!(!t.has_header);
    assert_eq!(t.header, ["column 1", "column 2", "column 3"]);
    // A very long field survives.
    let long = "x".repeat(200_000);
    let t = read_csv(&write(
        dir.path(),
        "e.csv",
        format!("text,y\n\"{long}\",1\n").as_bytes(),
    ))
    .unwrap();
    assert_eq!(t.rows[0][0].len(), 200_000);
}

#[test]
fn files_that_are_not_tables_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"\n\n  \n", "no rows"),
        ("one.csv", b"only\n1\n2\n", "only one column"),
        ("odd16.csv", b"\xFF\xFEa\x00b", "odd number of bytes"),
    ];
    for (name, bytes, expected) in cases {
        let path = write(dir.path(), name, bytes);
        let err = workflow::prepare(&settings(&path, "", Task::Classify), None, None)
            .err()
            .unwrap_or_else(|| panic!("{name} was accepted"))
            .to_string();
        assert!(err.contains(expected), "{name}: {err}");
    }
    let err = workflow::prepare(&settings(dir.path(), "", Task::Classify), None, None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("folder, not a file"), "{err}");
    // Arbitrary bytes (a PNG, random noise) never panic.
    let mut state = 99u32;
    for n in [1usize, 7, 100, 5000] {
        let bytes: Vec<u8> = (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as u8
            })
            .collect();
        let path = write(dir.path(), "noise.csv", &bytes);
        let _ = workflow::prepare(&settings(&path, "", Task::Classify), None, None);
    }
    let png =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/shapes/circle/circle_000.png");
    let _ = workflow::prepare(&settings(&png, "", Task::Regress), None, None);
}

#[test]
fn houses_are_encoded_from_training_rows_only() {
    let (prepared, report) =
        workflow::prepare(&settings(&houses(), "", Task::Classify), None, None).unwrap();
    let table = prepared.dataset.table().unwrap();
    // No target given: price_k, the last column, is a number, so this is regression.
    assert_eq!(table.schema.target, "price_k");
    assert_eq!(table.schema.task, Task::Regress);
    assert_eq!(prepared.dataset.shape(), [3 + 5 + 2]); // 3 numbers, 5 districts, garden yes/no
    let age = &table.schema.columns[2];
    assert_eq!(age.missing, 13);
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("'age_years' has 13 missing")));
    // Standardization uses training rows only: their mean of area is 0 after encoding.
    let train = &prepared.split.train;
    let mean: f64 = train
        .iter()
        .map(|&i| f64::from(table.row(i)[0]))
        .sum::<f64>()
        / train.len() as f64;
    assert!(mean.abs() < 1e-5, "{mean}");
    if let ColumnKind::Number { mean, .. } = table.schema.columns[0].kind {
        let all: f64 = table
            .table
            .rows
            .iter()
            .map(|r| r[0].parse::<f64>().unwrap())
            .sum::<f64>()
            / table.len() as f64;
        assert!((mean - all).abs() > 1e-9, "the mean came from all rows");
    }
}

fn train(project: &Project, path: &Path, data: &engine::PreparedData) -> Vec<TrainEvent> {
    let events = std::sync::Mutex::new(Vec::new());
    let sink = |e: TrainEvent| events.lock().unwrap().push(e);
    let outcome = engine::train(project, path, data, &sink, &CancelToken::new());
    assert!(
        matches!(outcome, RunOutcome::Finished { .. }),
        "{outcome:?}"
    );
    events.into_inner().unwrap()
}

#[test]
fn regression_learns_the_house_prices() {
    let dir = tempfile::tempdir().unwrap();
    let data = settings(&houses(), "price_k", Task::Regress);
    let (prepared, _) = workflow::prepare(&data, None, None).unwrap();
    let graph = model::template("tabular-mlp", &prepared.dataset.fit()).unwrap();
    let mut project = Project::new(data, graph);
    assert_eq!(project.training.loss, LossKind::Mse);
    project.training.epochs = 40;
    project.training.batch_size = 16;
    project.training.lr = 0.003;
    let path = dir.path().join("houses.strata");
    project.save(&path).unwrap();
    let events = train(&project, &path, &prepared);
    let last = events
        .iter()
        .rev()
        .find_map(|e| match e {
            TrainEvent::Epoch(m) => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    // The accuracy-like score of a regression run is R².
    assert!(last.val_accuracy.unwrap() > 0.9, "{last:?}");

    let trained = engine::TrainedModel::load(
        &engine::latest_run(&path).unwrap(),
        &engine::inference_device(),
    )
    .unwrap();
    let evaluation = workflow::evaluate_test_split(&project, &trained, None, None).unwrap();
    let r = evaluation.regression.unwrap();
    assert_eq!(r.report.samples, prepared.split.test.len());
    // The noise in the prices has a standard deviation of 12 (thousand): a good model's errors
    // come close to it, and explain almost all the variation.
    assert!(r.report.r2 > 0.95 && r.report.rmse < 25.0, "{:?}", r.report);

    // New rows without the target column: predicted in the target's units.
    let rows = dir.path().join("new.csv");
    std::fs::write(
        &rows,
        "garden,district,age_years,rooms,area_m2\nyes,centre,10,4,120\nno,east,50,2,60\n",
    )
    .unwrap();
    let result = workflow::predict_files(&trained, &[rows]).unwrap();
    assert_eq!(result.values.len(), 2);
    // 40 + 2.1·120 + 9·4 − 0.7·10 + 60 + 18 = 399; 40 + 2.1·60 + 9·2 − 0.7·50 − 10 = 139.
    assert!(
        (result.values[0] - 399.0).abs() < 30.0,
        "{:?}",
        result.values
    );
    assert!(
        (result.values[1] - 139.0).abs() < 30.0,
        "{:?}",
        result.values
    );
    assert!(result.sources[1].ends_with("new.csv line 3"));
}

#[test]
fn classification_of_table_rows_learns() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,y,shade,label\n");
    let mut state = 7u32;
    let mut next = || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        f64::from((state >> 8) % 2000) / 1000.0 - 1.0
    };
    for i in 0..300 {
        let (x, y) = (next(), next());
        let shade = ["light", "dark", "NA"][i % 3];
        let label = if x + y > 0.0 { "above" } else { "below" };
        csv.push_str(&format!("{x:.3},{y:.3},{shade},{label}\n"));
    }
    let path = write(dir.path(), "points.csv", csv.as_bytes());
    let data = settings(&path, "", Task::Classify);
    let (prepared, report) = workflow::prepare(&data, None, None).unwrap();
    assert_eq!(prepared.dataset.classes(), ["above", "below"]);
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("'shade' has 100 missing")));
    let graph = model::template("tabular-mlp", &prepared.dataset.fit()).unwrap();
    let mut project = Project::new(data, graph);
    project.training.epochs = 30;
    project.training.lr = 0.01;
    let project_path = dir.path().join("points.strata");
    let events = train(&project, &project_path, &prepared);
    let best = events.iter().find_map(|e| match e {
        TrainEvent::Finished { best_accuracy, .. } => Some(*best_accuracy),
        _ => None,
    });
    assert!(best.unwrap() > 0.9, "{best:?}");
    let trained = engine::TrainedModel::load(
        &engine::latest_run(&project_path).unwrap(),
        &engine::inference_device(),
    )
    .unwrap();
    // Evaluating another table with an unknown class says so.
    let other = write(
        dir.path(),
        "other.csv",
        b"x,y,shade,label\n0.5,0.5,dark,sideways\n",
    );
    let err = workflow::evaluate_other(&other, &trained)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("class 'sideways' the model does not know"),
        "{err}"
    );
    let ok = write(
        dir.path(),
        "ok.csv",
        b"x,y,shade,label\n0.9,0.8,dark,above\n-0.9,-0.7,mauve,below\n",
    );
    let evaluation = workflow::evaluate_other(&ok, &trained).unwrap();
    assert_eq!(evaluation.report.samples, 2);
    assert!(matches!(*evaluation.dataset, Dataset::Table(_)));
}

#[test]
fn cli_new_train_evaluate_predict_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("houses.strata");
    let p = project.to_str().unwrap();
    let o = strata(&["new", p, "--data", houses().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("predicting the number 'price_k'"),
        "{}",
        text(&o)
    );
    let saved = Project::load(&project).unwrap();
    assert_eq!(
        (
            saved.data.kind(),
            saved.data.task(),
            saved.data.table().unwrap().target.as_str()
        ),
        (DataKind::Tabular, Task::Regress, "price_k")
    );

    let o = strata(&["train", p, "--epochs", "25"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("R²"), "{}", text(&o));

    let o = strata(&["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["r2"].as_f64().unwrap() > 0.9, "{report}");

    let rows = dir.path().join("rows.csv");
    std::fs::write(
        &rows,
        "area_m2,rooms,age_years,district,garden\n120,4,10,centre,yes\n80,x,,north,no\n",
    )
    .unwrap();
    let out = dir.path().join("pred.csv");
    let o = strata(&[
        "predict",
        p,
        rows.to_str().unwrap(),
        "--csv",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.starts_with("row,predicted price_k\n"), "{csv}");
    assert_eq!(csv.lines().count(), 3);

    // As ONNX: the standardized price comes out, with how to turn it back into k.
    let onnx = dir.path().join("houses.onnx");
    let o = strata(&["export", p, "--out", onnx.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(out["max_abs_diff"].as_f64().unwrap() <= 1e-4, "{out}");
    let meta = common::onnx_metadata(&onnx);
    assert_eq!(meta["task"], "regression");
    assert_eq!(meta["table.target"], "price_k");
    assert!(meta["table.target_std"].parse::<f64>().unwrap() > 0.0);
    assert!(meta["table.schema"].contains("district"), "{meta:?}");

    // The classification side of the same table, chosen on the command line.
    let project2 = dir.path().join("district.strata");
    let o = strata(&[
        "new",
        project2.to_str().unwrap(),
        "--data",
        houses().to_str().unwrap(),
        "--target",
        "district",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("5 classes"), "{}", text(&o));
    let o = strata(&[
        "new",
        dir.path().join("x.strata").to_str().unwrap(),
        "--data",
        houses().to_str().unwrap(),
        "--target",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no column 'nope'"), "{}", text(&o));
    let o = strata(&[
        "new",
        dir.path().join("y.strata").to_str().unwrap(),
        "--data",
        houses().to_str().unwrap(),
        "--target",
        "district",
        "--task",
        "regress",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not a number"), "{}", text(&o));
}
