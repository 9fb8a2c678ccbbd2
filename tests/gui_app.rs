//! The desktop app driven by label through egui_kittest, as a user would: open the sample
//! project, pick a template, train, evaluate, predict; undo/redo; an invalid graph blocking
//! training; a broken image reported by name. No GPU needed.
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::kittest::Queryable as _;
use egui_kittest::Harness;
use strata::gui::{Command, RunEnd, Screen, StrataApp};
use strata::project::Project;

fn harness(app: StrataApp) -> Harness<'static, StrataApp> {
    Harness::builder()
        .with_size([1280.0, 860.0])
        .build_ui_state(|ui, app: &mut StrataApp| app.show(ui), app)
}

/// Steps frames until `done` holds (background jobs wake the UI; we poll like a frame loop).
fn wait_for(
    h: &mut Harness<'static, StrataApp>,
    what: &str,
    timeout_secs: u64,
    done: impl Fn(&StrataApp) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            h.step();
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(timeout_secs),
            "timed out after {timeout_secs}s waiting for {what}; status: {:?}",
            h.state().status().map(|s| s.text.clone())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Points Strata's caches (features, prepared samples) at one folder for this test process. Tests
/// run side by side in one process, so every test that needs to know where the caches are sets
/// the same value.
fn use_test_cache() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("strata-gui-tests-{}", std::process::id()));
        std::env::set_var("STRATA_CACHE_DIR", &dir);
        dir
    })
    .clone()
}

fn repo_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data")
}

/// A copy of the sample project in `dir` pointing at the bundled images (runs go into `dir`).
fn sample_project_in(dir: &Path) -> PathBuf {
    let mut project = Project::load(&repo_sample().join("shapes.strata")).unwrap();
    project.data.path = repo_sample().join("shapes");
    let path = dir.join("shapes.strata");
    project.save(&path).unwrap();
    path
}

/// Types a folder or file path into the start page, presses *Create / open* and waits up to
/// `timeout_secs` for its import.
fn create_from_typed_path(h: &mut Harness<'static, StrataApp>, path: &str, timeout_secs: u64) {
    h.get_by_role(egui::accesskit::Role::TextInput).focus();
    h.step();
    h.get_by_role(egui::accesskit::Role::TextInput)
        .type_text(path);
    h.step();
    h.step();
    h.get_by_label("Create / open").click();
    wait_for(h, "the import", timeout_secs, |app| {
        app.data().is_some() && !app.is_busy()
    });
    h.step();
}

/// Sets the project to train `epochs` epochs and opens the Train screen.
fn set_epochs_and_open_train(h: &mut Harness<'static, StrataApp>, epochs: usize) {
    open_train_with(h, |t| t.epochs = epochs);
}

/// Changes the project's training settings with `change` and opens the Train screen.
fn open_train_with(
    h: &mut Harness<'static, StrataApp>,
    change: impl FnOnce(&mut strata::project::TrainingSettings),
) {
    let mut training = h.state().project().unwrap().training.clone();
    change(&mut training);
    h.state_mut().command(Command::SetTraining(training));
    h.get_by_label("3 Train").click();
    h.step();
}

/// Waits for the project's data, then sets `epochs` epochs and opens the Train screen.
fn after_import_train_for(h: &mut Harness<'static, StrataApp>, epochs: usize) {
    wait_for(h, "the import", 120, |app| {
        app.data().is_some() && !app.is_busy()
    });
    set_epochs_and_open_train(h, epochs);
}

/// Opens the Evaluate screen and waits for its evaluation of the project's model.
fn open_evaluation(h: &mut Harness<'static, StrataApp>) {
    h.get_by_label("4 Evaluate").click();
    h.step();
    wait_for(h, "the evaluation", 120, |app| {
        app.evaluation().is_some() && !app.is_busy()
    });
}

/// Starts training on the open Train screen and waits up to `secs` for it to end.
fn train_until_done(h: &mut Harness<'static, StrataApp>, secs: u64) {
    h.get_by_label("▶ Start training").click();
    h.step();
    wait_for(h, "training to finish", secs, |app| !app.is_training());
}

/// Whether some widget's text contains `text`.
fn shows(h: &Harness<'static, StrataApp>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// The app with a copy of the sample project open (runs go into `dir`).
fn open_sample(dir: &Path) -> (PathBuf, Harness<'static, StrataApp>) {
    let path = sample_project_in(dir);
    let mut app = StrataApp::new(None, dir.to_owned());
    app.open_project(&path);
    (path, harness(app))
}

fn node_count(app: &StrataApp) -> usize {
    app.project().map_or(0, |p| p.model.nodes.len())
}

#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn sample_project_from_welcome_to_prediction() {
    let workspace = tempfile::tempdir().unwrap();
    let mut h = harness(StrataApp::new(None, workspace.path().to_owned()));
    h.step();

    // Welcome → the sample project, imported on a worker.
    h.get_by_label("Try the sample project (shapes)").click();
    wait_for(&mut h, "the import", 120, |app| {
        app.data().is_some() && !app.is_busy()
    });
    assert_eq!(h.state().screen, Screen::Data);
    h.get_by_label("600 images in 4 classes");
    let test_size = h.state().data().unwrap().prepared.split.test.len();
    assert!(test_size > 0);
    // The sample was copied into the workspace, so runs never land in the installation.
    let project_path = h.state().project_path().unwrap().to_owned();
    assert!(project_path.starts_with(workspace.path()));

    // Model: the CNN template.
    h.get_by_label("2 Model").click();
    h.step();
    h.get_by_label("MLP (Keras example)").click();
    h.step();
    h.get_by_label("CNN").click();
    h.step();
    h.step();
    let project = h.state().project().unwrap();
    assert!(project.model.nodes.iter().any(|n| n.name == "conv1"));
    assert!(shows(&h, "Ready to train"));

    // Train two epochs.
    let mut training = project.training.clone();
    training.epochs = 2;
    h.state_mut().command(Command::SetTraining(training));
    h.get_by_label("3 Train").click();
    h.step();
    h.get_by_label("▶ Start training").click();
    h.step();
    assert!(h.state().is_training());
    wait_for(&mut h, "training to finish", 600, |app| !app.is_training());
    match h.state().last_run_end() {
        Some(RunEnd::Finished(text)) => assert!(text.contains("Training finished")),
        other => panic!("training did not finish: {other:?}"),
    }
    assert!(h.query_all_by_label_contains("Training finished").count() >= 1);
    assert!(shows(&h, "Runs of this project"));

    // Evaluate: the confusion matrix has the classes and sums to the test-set size.
    open_evaluation(&mut h);
    let report = h.state().evaluation().unwrap().report.clone();
    assert_eq!(report.classes, ["circle", "cross", "square", "triangle"]);
    let total: usize = report.confusion_matrix.iter().flatten().sum();
    assert_eq!(total, test_size);
    assert!(shows(&h, &format!("Accuracy on {test_size} test images")));
    for class in &report.classes {
        assert!(
            h.query_all_by_label(class).count() >= 2,
            "class {class} not shown"
        );
    }
    // Clicking the circle→circle cell opens its images.
    let circle_hits = report.confusion_matrix[0][0].to_string();
    let cell = h
        .get_all_by_label(&circle_hits)
        .find(|n| n.rect().width() > 20.0)
        .expect("a confusion-matrix cell");
    cell.click();
    h.step();
    h.step();
    assert!(shows(&h, "Images that are circle and were predicted as"));
    // "Why?" under an example opens the explanation with its sanity checks.
    h.get_all_by_label("Why?").next().unwrap().click();
    h.step();
    wait_for(&mut h, "the explanation", 120, |app| {
        app.explanation().is_some() && !app.is_busy()
    });
    assert!(shows(&h, "Why did the model say that?"));
    assert!(shows(&h, "HiResCAM on"), "the default for pictures");
    assert!(shows(&h, "randomisation check"));
    assert!(shows(&h, "deletion check"));
    assert!(shows(&h, "Opacity:"));

    // The same model on a separate labelled folder (here: all 600 sample images).
    let run = h.state().project_path().map(|p| {
        let runs = strata::project::Project::runs_dir(p);
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        dirs.pop().unwrap()
    });
    h.state_mut()
        .start_evaluation_on_other(run.unwrap(), repo_sample().join("shapes"));
    wait_for(&mut h, "the folder evaluation", 120, |app| {
        app.evaluation().is_some_and(|e| e.report.samples == 600) && !app.is_busy()
    });
    assert!(shows(&h, "Accuracy on 600 images of"));

    // Use: drop one file onto the window.
    h.get_by_label("5 Use").click();
    h.step();
    let file = repo_sample().join("shapes/cross/cross_003.png");
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(file)));
    h.step();
    wait_for(&mut h, "the prediction", 60, |app| {
        app.last_predictions().is_some() && !app.is_busy()
    });
    let predictions = h.state().last_predictions().unwrap();
    assert_eq!(predictions.predictions.len(), 1);
    let probs = &predictions.predictions[0].probabilities;
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    assert!(shows(&h, "Prediction:"));

    // Export → ONNX: written, then checked by a second engine on the test images.
    let onnx = workspace.path().join("shapes.onnx");
    h.state_mut().answer_export_dialog(onnx.clone());
    h.get_by_label("Export as ONNX…").click();
    h.step();
    wait_for(&mut h, "the ONNX export", 300, |app| {
        app.last_export().is_some() && !app.is_busy()
    });
    let line = h.state().last_export().unwrap().to_owned();
    let n = test_size.min(strata::workflow::CHECK_SAMPLES);
    assert!(
        line.contains(&format!(
            "checked on {n} test samples: same class on {n}/{n}"
        )),
        "{line}"
    );
    assert!(shows(&h, "largest difference"));
    assert!(onnx.is_file());

    // Export → PyTorch project: the model as code with its weights, the data reader with the
    // split, and the programs to train and predict.
    let torch_dir = workspace.path().join("shapes-pytorch");
    h.state_mut().answer_export_dialog(torch_dir.clone());
    h.get_by_label("Export PyTorch project…").click();
    h.step();
    wait_for(&mut h, "the PyTorch export", 300, |app| {
        app.last_export().is_some_and(|l| l.contains("PyTorch")) && !app.is_busy()
    });
    assert!(shows(&h, "Exported as a PyTorch project to"));
    for file in [
        "model.py",
        "weights.safetensors",
        "data.json",
        "data.py",
        "train.py",
        "predict.py",
        "README.md",
        "check.safetensors",
    ] {
        assert!(torch_dir.join(file).is_file(), "{file} written");
    }

    // A run trained elsewhere (here: the weights of the PyTorch project, as its train.py
    // writes them) joins the runs list.
    let copied = torch_dir.join("weights.safetensors");
    h.get_by_label("3 Train").click();
    h.step();
    assert!(shows(&h, "Add a run trained elsewhere…"));
    h.state_mut().add_run_trained_elsewhere(copied);
    wait_for(&mut h, "the added run", 120, |app| app.runs().len() == 2);
    assert!(shows(&h, "trained elsewhere"));

    // The runs table: the added run is the model (newest); the trained one can become it, and
    // its curves can be laid over the shown ones.
    let trained_id = h.state().runs()[1].manifest.run_id.clone();
    h.step();
    assert!(shows(&h, "Test accuracy"));
    // The table sits below the curves: scroll it into view first, as a user would.
    h.get_by_label("Use as the model").scroll_to_me();
    h.step();
    h.step();
    h.get_by_label("Use as the model").click();
    h.step();
    h.step();
    assert_eq!(
        h.state().project().unwrap().model_run.as_deref(),
        Some(trained_id.as_str())
    );
    assert!(shows(&h, "is the project's model now"));
    h.get_all_by_label("Compare").next().unwrap().scroll_to_me();
    h.step();
    h.step();
    h.get_all_by_label("Compare").next().unwrap().click();
    h.step();
    h.step();
    assert!(shows(&h, "Dashed: run"));
}

#[test]
fn undo_and_redo_in_the_layer_editor() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut h) = open_sample(dir.path());
    h.step();
    h.get_by_label("2 Model").click();
    h.step();
    let before = node_count(h.state());
    assert!(!h.state().is_dirty());

    h.get_by_label("Add Dropout").click();
    h.step();
    h.step();
    assert_eq!(node_count(h.state()), before + 1);
    assert!(h.state().is_dirty());
    assert!(shows(&h, "shapes.strata •"));

    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.step();
    assert_eq!(node_count(h.state()), before);

    h.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::Z,
    );
    h.step();
    assert_eq!(node_count(h.state()), before + 1);

    // The toolbar buttons do the same.
    h.get_by_label("Undo").click();
    h.step();
    assert_eq!(node_count(h.state()), before);
    h.get_by_label("Redo").click();
    h.step();
    assert_eq!(node_count(h.state()), before + 1);

    // Ctrl+S saves; the file on disk has the new layer and the mark goes away.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    h.step();
    assert!(!h.state().is_dirty());
    let saved = Project::load(&path).unwrap();
    assert_eq!(saved.model.nodes.len(), before + 1);
}

#[test]
fn an_invalid_graph_blocks_training_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut h) = open_sample(dir.path());
    h.step();
    h.get_by_label("2 Model").click();
    h.step();

    // Select Flatten in the layer list, delete it, and wire the pooling straight into Dense.
    // The first match is the layer list (the summary table below lists it too).
    h.get_all_by_label("flatten (Flatten)")
        .next()
        .unwrap()
        .click();
    h.step();
    h.step();
    h.get_by_label("Delete layer").click();
    h.step();
    h.state_mut().command(Command::Connect {
        from: "pool2".to_owned(),
        to: "dense1".to_owned(),
        slot: 0,
    });
    h.step();
    h.step();
    assert!(h.state().project().unwrap().model.node("flatten").is_none());
    assert!(shows(&h, "problem(s) to fix"));
    // The node itself says what is wrong, in words.
    assert!(h
        .query_by_label_contains("needs a flat input; insert Flatten after 'pool2'")
        .is_some());

    h.get_by_label("3 Train").click();
    h.step();
    assert!(shows(&h, "The model cannot be trained yet"));
    assert!(h
        .query_by_label_contains("needs a flat input; insert Flatten after 'pool2'")
        .is_some());
    h.get_by_label("▶ Start training").click();
    h.step();
    assert!(!h.state().is_training());
}

#[test]
fn a_broken_image_is_reported_by_name_when_starting_from_a_folder() {
    let data = tempfile::tempdir().unwrap();
    for class in ["circle", "square"] {
        let src = repo_sample().join("shapes").join(class);
        let dst = data.path().join(class);
        std::fs::create_dir_all(&dst).unwrap();
        for i in 0..6 {
            let name = format!("{class}_{i:03}.png");
            std::fs::copy(src.join(&name), dst.join(&name)).unwrap();
        }
    }
    std::fs::write(data.path().join("square/broken.png"), b"not really a png").unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let mut h = harness(StrataApp::new(None, workspace.path().to_owned()));
    h.step();

    create_from_typed_path(&mut h, &data.path().display().to_string(), 60);
    assert!(shows(&h, "12 images in 2 classes"));
    assert!(shows(&h, "1 file(s) could not be used"));
    assert!(shows(&h, "broken.png"));
    // The new project fits the data (2 classes) and nothing was written into the data folder.
    let project = h.state().project().unwrap();
    let checked = project.model.validate().unwrap();
    assert_eq!(checked.output_shape(), [2]);
    let entries: Vec<_> = walk(data.path());
    assert_eq!(entries.len(), 13);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn changing_the_import_settings_offers_to_fit_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut h) = open_sample(dir.path());
    wait_for(&mut h, "the first import", 120, |app| {
        app.data().is_some() && !app.is_busy()
    });
    // Switch to colour on the Data screen and import again.
    h.get_by_role_and_label(egui::accesskit::Role::RadioButton, "Colour")
        .click();
    h.step();
    h.get_by_label("Import again with these settings").click();
    wait_for(&mut h, "the second import", 120, |app| {
        app.data()
            .is_some_and(|d| d.prepared.dataset.shape()[0] == 3)
            && !app.is_busy()
    });
    h.get_by_label("2 Model").click();
    h.step();
    assert!(shows(
        &h,
        "the Input layer expects 1×28×28 but the data gives 3×28×28"
    ));
    h.get_by_label("Fit the model to the data").click();
    h.step();
    h.step();
    let graph = &h.state().project().unwrap().model;
    assert_eq!(graph.validate().unwrap().info[0].output_shape, [3, 28, 28]);
    assert!(!shows(&h, "does not fit the data"));
}

#[test]
fn a_table_from_import_to_predicted_numbers() {
    let data = tempfile::tempdir().unwrap();
    let csv = data.path().join("houses.csv");
    let mut text = std::fs::read_to_string(repo_sample().join("houses.csv")).unwrap();
    text.push_str("99,3,12,north\n"); // one field short: reported, not imported
    std::fs::write(&csv, text).unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let mut h = harness(StrataApp::new(None, workspace.path().to_owned()));
    h.step();
    assert!(shows(&h, "New project from a table…"));

    create_from_typed_path(&mut h, &csv.display().to_string(), 60);
    // The Data screen: what is predicted, the columns and the bad row by line number.
    assert!(shows(&h, "400 rows: predicting the number 'price_k'"));
    assert!(shows(&h, "1 row(s) could not be used"));
    assert!(shows(&h, "line 402"));
    assert!(shows(&h, "standardized (mean"));
    assert!(shows(&h, "one input per category (5)"));
    assert!(shows(&h, "price_k (to predict)"));
    // The project now says what it predicts, and its model ends in one linear number.
    let project = h.state().project().unwrap();
    assert_eq!(project.data.table().unwrap().target, "price_k");
    assert_eq!(project.data.task(), strata::project::Task::Regress);
    assert_eq!(project.training.loss, strata::project::LossKind::Mse);
    assert_eq!(project.model.validate().unwrap().output_shape(), [1]);

    let mut training = project.training.clone();
    training.epochs = 25;
    h.state_mut().command(Command::SetTraining(training));
    h.get_by_label("3 Train").click();
    h.step();
    train_until_done(&mut h, 300);
    assert!(shows(&h, "R² (higher is better; 1 is perfect)"));
    // The run's finish line and the coach speak of R², never of accuracy.
    assert!(shows(&h, "with a validation R² of"));
    assert!(!shows(&h, "validation accuracy"));

    open_evaluation(&mut h);
    let r2 = h
        .state()
        .evaluation()
        .and_then(|e| e.regression.as_ref())
        .map(|r| r.report.r2)
        .unwrap();
    assert!(r2 > 0.9, "R² {r2}");
    assert!(shows(&h, "test rows:"));
    assert!(shows(&h, "Mean absolute error"));
    assert!(shows(&h, "Predicted against actual"));
    // Which columns matter: permutation importance on the test rows.
    h.get_by_label("Rank the columns").scroll_to_me();
    h.step();
    h.get_by_label("Rank the columns").click();
    h.step();
    wait_for(&mut h, "the column ranking", 120, |app| {
        app.column_importance().is_some() && !app.is_busy()
    });
    let ranked = h.state().column_importance().unwrap();
    assert_eq!(ranked.len(), 5, "{ranked:?}");
    assert_eq!(
        ranked[0].name, "area_m2",
        "the price follows the area: {ranked:?}"
    );
    h.step();
    assert!(shows(&h, "Permutation importance"));

    h.get_by_label("5 Use").click();
    h.step();
    assert!(shows(&h, "Try the model on new rows"));
    let rows = data.path().join("new.csv");
    std::fs::write(
        &rows,
        "area_m2,rooms,age_years,district,garden\n120,4,10,centre,yes\n60,2,50,east,no\n",
    )
    .unwrap();
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(rows)));
    h.step();
    wait_for(&mut h, "the prediction", 60, |app| {
        app.last_predictions().is_some() && !app.is_busy()
    });
    assert_eq!(h.state().last_predictions().unwrap().values.len(), 2);
    assert!(shows(&h, "Predicted price_k"));
    assert!(shows(&h, "new.csv line 3"));
    // "Why?" next to a predicted row: each column's part in it.
    h.get_all_by_label("Why?").next().unwrap().click();
    h.step();
    wait_for(&mut h, "the explanation", 60, |app| {
        app.explanation().is_some() && !app.is_busy()
    });
    let e = h.state().explanation().unwrap();
    assert_eq!(e.method, strata::explain::Method::Columns);
    assert!(shows(&h, "Each column was set to its training average"));
    assert!(shows(&h, "area_m2 = 120"));
    // Nothing was written next to the user's table.
    assert_eq!(walk(data.path()).len(), 2);
}

#[test]
fn texts_from_import_to_a_typed_prediction() {
    let data = tempfile::tempdir().unwrap();
    let csv = data.path().join("messages.csv");
    std::fs::copy(repo_sample().join("messages.csv"), &csv).unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let mut h = harness(StrataApp::new(None, workspace.path().to_owned()));
    h.step();
    create_from_typed_path(&mut h, &csv.display().to_string(), 60);
    // The Data screen: classes, vocabulary, lengths, examples and tokens as the model sees them.
    assert!(shows(&h, "300 texts in 3 classes"));
    assert!(shows(&h, "Vocabulary:"));
    assert!(shows(&h, "Text lengths (in words and marks)"));
    assert!(shows(&h, "Tokens as the model sees them"));
    let project = h.state().project().unwrap();
    assert_eq!(
        (
            project.data.text().unwrap().text_column.as_str(),
            project.data.text().unwrap().label_column.as_str()
        ),
        ("text", "label")
    );
    // The bag of words and pairs, read as words and marks, at learning rate 0.01.
    assert!(
        project.model.node("bag_of_words").is_some(),
        "the text TF-IDF template"
    );
    assert_eq!(
        project.data.text().unwrap().tokenizer,
        strata::project::TokenizerKind::WordsAndMarks
    );
    assert_eq!(project.training.lr, 0.01);

    let mut training = project.training.clone();
    training.epochs = 12;
    h.state_mut().command(Command::SetTraining(training));
    h.get_by_label("3 Train").click();
    h.step();
    train_until_done(&mut h, 300);

    open_evaluation(&mut h);
    let accuracy = h.state().evaluation().unwrap().report.accuracy;
    assert!(accuracy > 0.8, "{accuracy}");
    assert!(shows(&h, "test texts"));

    h.get_by_label("5 Use").click();
    h.step();
    assert!(shows(&h, "Try the model on new texts"));
    h.get_by_role(egui::accesskit::Role::MultilineTextInput)
        .focus();
    h.step();
    h.get_by_role(egui::accesskit::Role::MultilineTextInput)
        .type_text("When will the lamp be back in stock?");
    h.step();
    h.step();
    h.get_by_label("Predict these texts").click();
    wait_for(&mut h, "the prediction", 60, |app| {
        app.last_predictions().is_some() && !app.is_busy()
    });
    assert!(shows(&h, "Prediction: question"));
}

#[test]
fn the_sample_table_texts_and_sounds_open_from_the_start_page() {
    for (button, heading) in [
        (
            "Try the sample table (house prices)",
            "400 rows: predicting the number 'price_k'",
        ),
        ("Try the sample texts (messages)", "300 texts in 3 classes"),
        (
            "Try the sample sounds (spoken words)",
            "96 clips in 4 classes",
        ),
    ] {
        let workspace = tempfile::tempdir().unwrap();
        let mut h = harness(StrataApp::new(None, workspace.path().to_owned()));
        h.step();
        h.get_by_label(button).click();
        wait_for(&mut h, "the import", 60, |app| {
            app.data().is_some() && !app.is_busy()
        });
        h.step();
        assert!(shows(&h, heading), "{button}");
        // The project lives in the workspace; the bundled data is only read.
        assert!(h
            .state()
            .project_path()
            .unwrap()
            .starts_with(workspace.path()));
    }
}

/// A 16-bit mono 16 kHz WAV of a tone with a little deterministic noise.
fn write_tone(path: &Path, freq: f32, gain: f32, seed: u32) {
    let mut state = seed;
    let samples: Vec<u8> = (0..8000)
        .flat_map(|n| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let noise = f32::from((state >> 16) as u16) / 65_535.0 - 0.5;
            let v = gain * (2.0 * std::f32::consts::PI * freq * n as f32 / 16_000.0).sin()
                + 0.03 * noise;
            ((v * 32_000.0) as i16).to_le_bytes()
        })
        .collect();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 0x0001_0001, 16_000, 32_000, 0x0010_0002] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    out.extend_from_slice(&samples);
    std::fs::write(path, out).unwrap();
}

#[test]
fn audio_clips_from_import_to_a_dropped_prediction() {
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("tones");
    for (class, freq) in [("low", 250.0), ("middle", 900.0), ("high", 3000.0)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..16 {
            let f = freq * (0.92 + 0.01 * i as f32);
            write_tone(
                &root.join(class).join(format!("{i}.wav")),
                f,
                0.2 + 0.04 * i as f32,
                i,
            );
        }
    }
    let workspace = tempfile::tempdir().unwrap();
    let mut app = StrataApp::new(None, workspace.path().to_owned());
    app.use_null_sound();
    let mut h = harness(app);
    h.step();
    create_from_typed_path(&mut h, &root.display().to_string(), 60);
    assert!(shows(&h, "48 clips in 3 classes"));
    assert!(shows(&h, "Clips found: 0.50–0.50 s long"));
    assert!(shows(&h, "16.0 kHz"));
    // A clip's spectrogram on the Data screen plays it.
    h.get_all_by_label_contains("Play ").next().unwrap().click();
    h.step();
    h.step();
    let played = h.state().played_clips();
    assert_eq!(played.len(), 1);
    assert!(played[0].starts_with(&root), "{played:?}");
    assert!(shows(&h, "Playing "), "the status bar says what plays");
    let project = h.state().project().unwrap();
    assert!(
        project.model.node("conv3").is_some(),
        "the audio CNN template"
    );

    // A short clip length is enough here; training goes quicker.
    let mut training = project.training.clone();
    training.epochs = 12;
    training.lr = 0.003;
    h.state_mut().command(Command::SetTraining(training));
    h.get_by_label("3 Train").click();
    h.step();
    train_until_done(&mut h, 300);

    h.get_by_label("5 Use").click();
    h.step();
    assert!(shows(&h, "Try the model on new clips"));
    let clip = data.path().join("new.wav");
    write_tone(&clip, 3000.0, 0.5, 99);
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(clip)));
    h.step();
    wait_for(&mut h, "the prediction", 60, |app| {
        app.last_predictions().is_some() && !app.is_busy()
    });
    assert!(shows(&h, "Prediction: high"));
    // The predicted clip plays from the Use screen.
    h.get_by_label("Play new.wav").click();
    h.step();
    assert_eq!(
        h.state().played_clips().last(),
        Some(&data.path().join("new.wav"))
    );
}

/// A new project from a copy of the sample messages, imported: the data and workspace folders
/// (kept while the test runs) and the app.
fn messages_project() -> (
    tempfile::TempDir,
    tempfile::TempDir,
    Harness<'static, StrataApp>,
) {
    let data = tempfile::tempdir().unwrap();
    let csv = data.path().join("messages.csv");
    std::fs::copy(repo_sample().join("messages.csv"), &csv).unwrap();
    let workspace = tempfile::tempdir().unwrap();
    use_test_cache();
    let mut app = StrataApp::new(None, workspace.path().to_owned());
    app.new_project_from_data(&csv);
    let mut h = harness(app);
    wait_for(&mut h, "the import", 60, |app| {
        app.data().is_some() && !app.is_busy()
    });
    (data, workspace, h)
}

#[test]
fn transfer_learning_on_texts_from_the_template_button_to_a_prediction() {
    let (_data, _workspace, mut h) = messages_project();
    // The Model screen's template: the pretrained encoder is found in the weights folder, the
    // texts are read again with its tokenizer.
    h.get_by_label("2 Model").click();
    h.step();
    h.get_by_label("Transfer (texts)").click();
    h.step();
    wait_for(&mut h, "the import with the MiniLM tokenizer", 120, |app| {
        app.data().is_some() && !app.is_busy()
    });
    let project = h.state().project().unwrap();
    assert_eq!(
        project.data.text().unwrap().tokenizer,
        strata::project::TokenizerKind::File
    );
    assert!(
        project.model.validate().is_ok(),
        "{:?}",
        project.model.validate().err()
    );
    h.step();
    assert!(shows(&h, "MiniLM-L6 (sentences), frozen"));
    // The palette offers every pretrained network.
    assert!(shows(&h, "EfficientNet-Lite0"));
    assert!(shows(&h, "ResNet-50"));

    open_train_with(&mut h, |t| {
        t.epochs = 15;
        t.lr = 0.01;
    });
    train_until_done(&mut h, 600);
    assert!(shows(&h, "computed once"), "the feature-cache note");

    h.get_by_label("4 Evaluate").click();
    wait_for(&mut h, "the evaluation", 300, |app| {
        app.evaluation().is_some() && !app.is_busy()
    });
    let accuracy = h.state().evaluation().unwrap().report.accuracy;
    assert!(accuracy > 0.8, "{accuracy}");

    h.get_by_label("5 Use").click();
    h.step();
    h.get_by_role(egui::accesskit::Role::MultilineTextInput)
        .focus();
    h.step();
    h.get_by_role(egui::accesskit::Role::MultilineTextInput)
        .type_text("When will the lamp be back in stock?");
    h.step();
    h.step();
    h.get_by_label("Predict these texts").click();
    wait_for(&mut h, "the prediction", 60, |app| {
        app.last_predictions().is_some() && !app.is_busy()
    });
    assert!(shows(&h, "Prediction: question"));
}

#[test]
fn the_start_page_starts_an_image_project_from_a_pretrained_network() {
    let workspace = tempfile::tempdir().unwrap();
    let mut h = harness(StrataApp::new(None, workspace.path().to_owned()));
    h.step();
    h.get_by_label("Start from a pretrained network (transfer learning)")
        .click();
    h.step();
    assert!(h.state().transfer_learning());
    create_from_typed_path(
        &mut h,
        &repo_sample().join("shapes").display().to_string(),
        120,
    );
    let project = h.state().project().unwrap();
    // Imported the way EfficientNet-Lite0 reads images, and the model starts from it.
    assert_eq!(
        (
            project.data.image().unwrap().width,
            project.data.image().unwrap().height,
            project.data.image().unwrap().channels
        ),
        (224, 224, 3)
    );
    assert!(
        project.model.validate().is_ok(),
        "{:?}",
        project.model.validate().err()
    );
    assert!(project.model.nodes.iter().any(|n| matches!(
        n.layer,
        strata::model::Layer::Pretrained(strata::layers::Pretrained {
            train_blocks: 0,
            ..
        })
    )));
    h.get_by_label("2 Model").click();
    h.step();
    h.step();
    assert!(shows(&h, "EfficientNet-Lite0, frozen"));
}

/// A folder of `classes` × `per_class` colour `size`×`size` PNGs (a colour and a pattern per
/// class).
fn colour_folder(root: &Path, size: u32, per_class: u32) {
    for (c, class) in ["red", "green", "blue"].iter().enumerate() {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(size, size, |x, y| {
                let mut px = [40u8, 40, 40];
                px[c] = 120 + ((x * 3 + y * 5 + i * 7) % 120) as u8;
                image::Rgb(px)
            });
            img.save(dir.join(format!("{class}_{i:03}.png"))).unwrap();
        }
    }
}

#[test]
fn the_app_and_strata_new_start_the_same_model_on_the_same_folder() {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("colours");
    colour_folder(&folder, 32, 8);

    let cli_project = data.path().join("cli.strata");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "new",
            cli_project.to_str().unwrap(),
            "--data",
            folder.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = Project::load(&cli_project).unwrap();

    let workspace = tempfile::tempdir().unwrap();
    let mut app = StrataApp::new(None, workspace.path().to_owned());
    app.new_project_from_data(&folder);
    let mut h = harness(app);
    wait_for(&mut h, "the import and the template", 60, |app| {
        app.data().is_some() && !app.is_busy()
    });
    let gui = h.state().project().unwrap().clone();
    assert_eq!(gui.data.source, cli.data.source);
    assert_eq!(gui.model, cli.model);
}

#[test]
fn prepared_samples_are_shown_and_cleared_on_the_data_screen() {
    let cache = use_test_cache().join("samples");
    let dir = tempfile::tempdir().unwrap();
    let (_, mut h) = open_sample(dir.path());
    wait_for(&mut h, "the import", 120, |app| {
        app.data().is_some() && !app.is_busy()
    });
    assert!(strata::data::store::usage(&cache).bytes > 0);
    h.get_by_label("1 Data").click();
    h.step();
    assert!(shows(&h, "Prepared samples"));
    assert!(shows(&h, "Decoded once and kept on disk"));
    assert!(shows(&h, &cache.display().to_string()));
    h.get_by_label("Clear prepared samples").click();
    h.step();
    let status = h.state().status().unwrap();
    assert!(!status.is_error, "{}", status.text);
    assert!(
        status.text.contains("Cleared the prepared samples"),
        "{}",
        status.text
    );
    // The pictures open now are still read from the cleared store's open file.
    let data = h.state().data().unwrap();
    let images = data.prepared.dataset.images().unwrap();
    assert_eq!(images.sample(0).len(), images.sample_len());
    // Importing again prepares them again.
    h.get_by_label("Import again").click();
    wait_for(&mut h, "the import", 120, |app| {
        app.data().is_some() && !app.is_busy()
    });
    assert!(strata::data::store::usage(&cache).bytes > 0);
}

#[test]
fn a_cancelled_import_is_not_an_error() {
    // Enough images that the import is still running when Cancel is pressed.
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("many");
    colour_folder(&folder, 64, 700);
    let workspace = tempfile::tempdir().unwrap();
    let mut app = StrataApp::new(None, workspace.path().to_owned());
    app.new_project_from_data(&folder);
    let mut h = harness(app);
    h.step();
    assert!(h.state().is_busy(), "the import should still be running");
    h.get_by_label("Cancel import").click();
    wait_for(&mut h, "the import to stop", 60, |app| !app.is_busy());
    let status = h.state().status().unwrap();
    assert!(!status.is_error, "{}", status.text);
    assert!(status.text.contains("Import cancelled"), "{}", status.text);
    assert!(!shows(&h, "Import failed"));
    assert!(h.state().data().is_none());
}

#[test]
fn a_stopped_run_is_resumed_from_the_runs_list() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut h) = open_sample(dir.path());
    after_import_train_for(&mut h, 3);
    h.get_by_label("▶ Start training").click();
    h.step();
    wait_for(&mut h, "the first epoch", 300, |app| app.epochs_done() >= 1);
    h.get_by_label("⏹ Stop").click();
    wait_for(&mut h, "the run to stop", 120, |app| !app.is_training());
    assert!(matches!(h.state().last_run_end(), Some(RunEnd::Stopped(_))));
    let (run_dir, interrupted) = strata::engine::resume::latest_interrupted(&path).unwrap();
    let done = interrupted.state.epoch;
    assert!((1..3).contains(&done));
    assert!(shows(&h, &format!("{done} of 3, stopped")));

    h.get_by_label("Resume").click();
    h.step();
    assert!(h.state().is_training());
    wait_for(&mut h, "the resumed run to finish", 600, |app| {
        !app.is_training()
    });
    match h.state().last_run_end() {
        Some(RunEnd::Finished(text)) => assert!(text.contains("Training finished")),
        other => panic!("the resumed run did not finish: {other:?}"),
    }
    // One run, continued in its own folder: all three epochs, and nothing left to resume.
    assert_eq!(
        strata::engine::runs::read_metrics(&run_dir).unwrap().len(),
        3
    );
    assert_eq!(h.state().epochs_done(), 3);
    assert!(strata::engine::resume::latest_interrupted(&path).is_none());
    assert!(!shows(&h, "Interrupted at epoch"));
}

#[test]
fn automatic_training_keeps_the_best_candidate_as_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut h) = open_sample(dir.path());
    wait_for(&mut h, "the import", 120, |app| {
        app.data().is_some() && !app.is_busy()
    });
    open_train_with(&mut h, |t| {
        t.epochs = 2;
    });
    h.get_by_label("Train automatically").click();
    h.step();
    assert!(h.state().is_busy());
    assert!(shows(&h, "Training automatically"));
    wait_for(&mut h, "automatic training", 600, |app| !app.is_busy());
    // Every candidate is a run; the winner finished and is the project's model, its settings
    // the project's.
    let runs = h.state().runs().to_vec();
    assert!(runs.len() >= 3, "{} runs", runs.len());
    let model_run = h.state().project().unwrap().model_run.clone().unwrap();
    let winner = runs
        .iter()
        .find(|r| r.manifest.run_id == model_run)
        .expect("the winner is among the runs");
    assert!(winner.manifest.finished);
    assert_eq!(
        h.state().project().unwrap().training.lr,
        winner.manifest.training.lr
    );
    assert!(
        runs.iter().any(|r| r.resumable_after.is_some()),
        "losers are stopped early"
    );
    assert!(shows(&h, "is the project's model now"));
    assert!(shows(&h, "of 2, stopped"));
    assert!(shows(&h, "Resume"));
    // Each run is named by its candidate; the model is the winner trained again.
    assert!(shows(&h, "retrained with the validation samples"));
    // The plot shows the model's curves, not an empty panel.
    assert!(shows(&h, &format!("Curves of {model_run} (the model)")));
}

/// Copies a folder tree.
fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_data_check_finds_a_copied_image_and_leaving_it_out_takes_effect_on_import() {
    let data = tempfile::tempdir().unwrap();
    let shapes = data.path().join("shapes");
    copy_tree(&repo_sample().join("shapes"), &shapes);
    // The same picture twice, under another name.
    std::fs::copy(
        shapes.join("circle/circle_001.png"),
        shapes.join("circle/zz_copy.png"),
    )
    .unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let mut project = Project::load(&repo_sample().join("shapes.strata")).unwrap();
    project.data.path = shapes.clone();
    let path = workspace.path().join("shapes.strata");
    project.save(&path).unwrap();
    let mut app = StrataApp::new(None, workspace.path().to_owned());
    app.open_project(&path);
    let mut h = harness(app);
    wait_for(&mut h, "the import", 120, |app| {
        app.data().is_some() && !app.is_busy()
    });
    assert_eq!(h.state().data().unwrap().prepared.dataset.len(), 601);
    h.get_by_label("1 Data").click();
    h.step();
    h.get_by_label("Check the data").click();
    h.step();
    wait_for(&mut h, "the data check", 300, |app| {
        app.data_audit().is_some() && !app.is_busy()
    });
    let found = h.state().data_audit().unwrap().clone();
    let pair = found
        .duplicates
        .iter()
        .find(|d| d.exact && d.keys.1 == "circle/zz_copy.png")
        .unwrap_or_else(|| panic!("the copy is found: {:?}", found.duplicates));
    assert_eq!(pair.keys.0, "circle/circle_001.png");
    h.step();
    assert!(shows(&h, "duplicate pair(s)"));
    assert!(shows(
        &h,
        "circle/circle_001.png (training) and circle/zz_copy.png"
    ));

    // Leave the copy out: kept in the project file, applied by the next import. Exact copies
    // come first among pairs in one part of the split.
    let first = h.get_all_by_label("Leave out").next().unwrap();
    first.scroll_to_me();
    h.step();
    h.step();
    h.get_all_by_label("Leave out").next().unwrap().click();
    h.step();
    h.step();
    h.step();
    let edits = &h.state().project().unwrap().data.edits;
    assert!(edits.excluded.contains("circle/zz_copy.png"), "{edits:?}");
    assert!(shows(&h, "They apply from the next import"));
    h.get_by_label("Import again to apply").click();
    h.step();
    wait_for(&mut h, "the import", 120, |app| {
        app.data().is_some_and(|d| d.prepared.dataset.len() == 600) && !app.is_busy()
    });
    let images = h
        .state()
        .data()
        .unwrap()
        .prepared
        .dataset
        .images()
        .unwrap()
        .clone();
    assert!(!images.paths.iter().any(|p| p.ends_with("zz_copy.png")));
    h.step();
    assert!(shows(&h, "1 sample(s) left out and 0 relabelled"));
    // The data folder was not touched.
    assert!(shapes.join("circle/zz_copy.png").is_file());
}

#[test]
fn training_with_differential_privacy_shows_epsilon_and_the_guarantee() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut h) = open_sample(dir.path());
    after_import_train_for(&mut h, 3);
    // The option sits below the other settings: scroll to it, as a user would.
    h.get_by_label("Protect individual examples").scroll_to_me();
    h.step();
    h.get_by_label("Protect individual examples").click();
    h.step();
    h.step();
    assert!(shows(&h, "Privacy budget ε"));
    assert!(shows(&h, "Clipping norm"));
    let privacy = h.state().project().unwrap().training.privacy.clone();
    assert_eq!(
        privacy.and_then(|p| p.target_epsilon),
        Some(3.0),
        "the option is kept in the project"
    );
    h.get_by_label("▶ Start training").scroll_to_me();
    h.step();
    h.get_by_label("▶ Start training").click();
    h.step();
    wait_for(&mut h, "the private run to finish", 600, |app| {
        !app.is_training() && app.epochs_done() == 3
    });
    assert!(shows(&h, "Privacy spent so far: ε ="));
    let run = &h.state().runs()[0];
    let report = run
        .manifest
        .privacy
        .clone()
        .expect("the run records its guarantee");
    assert!(report.epsilon <= 3.0 && report.epsilon > 2.0, "{report:?}");
    assert_eq!(run.history.len(), 3);
    assert!(run.history.iter().all(|m| m.epsilon.is_some()));

    open_evaluation(&mut h);
    assert!(shows(&h, "Trained with differential privacy: ε ="));
}

#[test]
fn an_image_generator_trains_with_its_pictures_and_draws_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("colours");
    colour_folder(&data, 8, 40);
    let path = dir.path().join("colours.strata");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["new", path.to_str().unwrap(), "--data"])
        .arg(&data)
        .args([
            "--template",
            "cdcgan",
            "--image-size",
            "8x8",
            "--channels",
            "3",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut app = StrataApp::new(None, dir.path().to_owned());
    app.open_project(&path);
    let mut h = harness(app);
    wait_for(&mut h, "the import", 120, |app| {
        app.data().is_some() && !app.is_busy()
    });
    // The Model screen shows either network in the same editor.
    h.get_by_label("2 Model").click();
    h.step();
    assert!(shows(
        &h,
        "This project generates pictures with two networks"
    ));
    assert!(shows(&h, "conv1"), "the discriminator first");
    h.get_by_label("Generator").click();
    h.step();
    h.step();
    assert!(shows(&h, "up1"), "the generator's transposed convolution");
    assert!(shows(&h, "ConvTranspose2d"));
    assert!(!shows(&h, "conv1"));
    h.get_by_label("Discriminator").click();
    h.step();
    h.step();
    assert!(shows(&h, "conv1"));

    set_epochs_and_open_train(&mut h, 3);
    assert!(shows(&h, "They appear here after the first epoch"));
    h.get_by_label("▶ Train the generator").click();
    h.step();
    wait_for(&mut h, "the generator's run", 600, |app| {
        app.gan_training_end().is_some()
    });
    let end = h.state().gan_training_end().unwrap().to_owned();
    assert!(end.contains("Training finished: 3 epochs"), "{end}");
    assert_eq!(h.state().gan_epochs().len(), 3);
    assert!(shows(&h, "after epoch 3"));
    assert!(shows(&h, "the discriminator calls real pictures"));

    // Evaluate says what judges a generator; Use draws pictures and saves them.
    h.get_by_label("4 Evaluate").click();
    h.step();
    assert!(shows(&h, "An image generator is judged by its pictures"));
    h.get_by_label("5 Use").click();
    h.step();
    h.step();
    let drawn = h
        .state()
        .gan_drawn()
        .expect("pictures drawn")
        .dims()
        .to_vec();
    assert_eq!(drawn, vec![16, 3, 8, 8]);
    assert!(shows(&h, "Walk between two starting points"));
    let out = dir.path().join("drawn");
    std::fs::create_dir_all(&out).unwrap();
    h.state_mut().answer_gan_save_dialog(out.clone());
    h.get_by_label("Save these pictures…").scroll_to_me();
    h.step();
    h.get_by_label("Save these pictures…").click();
    h.step();
    h.step();
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        16,
        "{:?}",
        h.state().gan_message()
    );
    assert!(shows(&h, "Saved 16 pictures"));
}

#[test]
fn the_start_page_starts_an_image_generator() {
    let workspace = tempfile::tempdir().unwrap();
    let data = workspace.path().join("colours");
    colour_folder(&data, 12, 10);
    let mut h = harness(StrataApp::new(None, workspace.path().to_owned()));
    h.step();
    h.get_by_label("Generate new pictures like these (GAN)")
        .click();
    h.step();
    create_from_typed_path(&mut h, &data.display().to_string(), 120);
    let project = h.state().project().unwrap();
    let generator = project.generator.as_ref().expect("an image generator");
    assert!(generator.conditional, "three classes: told the class");
    let g = generator.graph.validate().unwrap();
    let picture = h.state().data().unwrap().prepared.dataset.shape();
    assert_eq!(g.output_shape(), picture.as_slice());
    assert_eq!(project.model.validate().unwrap().output_shape(), &[1]);
    assert_eq!(project.training.lr, 0.0002);
    h.get_by_label("3 Train").click();
    h.step();
    assert!(shows(&h, "▶ Train the generator"));
}

/// The TF-IDF template from the Model screen: the texts are read again as words and marks, the
/// model is sized to them once imported, and it trains and evaluates like any other.
#[test]
fn text_tfidf_template_reads_the_texts_again_and_trains() {
    let (_data, _workspace, mut h) = messages_project();
    h.get_by_label("2 Model").click();
    h.step();
    h.get_by_label("Text TF-IDF (words and pairs)").click();
    h.step();
    wait_for(&mut h, "the import as words and marks", 60, |app| {
        app.data().is_some()
            && !app.is_busy()
            && app
                .project()
                .is_some_and(|p| p.model.nodes.iter().any(|n| n.name == "bag_of_words"))
    });
    let project = h.state().project().unwrap();
    assert_eq!(
        project.data.text().unwrap().tokenizer,
        strata::project::TokenizerKind::WordsAndMarks
    );
    assert!(project.model.validate().is_ok());
    assert!(strata::model::check_fit(
        &h.state().data().unwrap().prepared.dataset.fit(),
        &project.model
    )
    .is_empty());
    h.step();
    assert!(shows(&h, "word-pair slots, TF-IDF"));

    open_train_with(&mut h, |t| {
        t.epochs = 40;
        t.lr = 0.01;
    });
    train_until_done(&mut h, 300);
    open_evaluation(&mut h);
    let accuracy = h.state().evaluation().unwrap().report.accuracy;
    assert!(accuracy > 0.8, "{accuracy}");
}
