//! The Evaluate screen: accuracy and per-class precision/recall/F1, a confusion-matrix heatmap
//! whose cells open the examples behind them, the most confident mistakes, and the run's curves.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui::{self, Color32, RichText};

use super::app::{AppCommand, Screen, Shared};
use super::data_screen::same_split;
use super::explain_view::{bar_ui, ExplainView};
use super::jobs::Job;
use super::widgets;
use crate::data::Dataset;
use crate::engine::TrainedModel;
use crate::eval;
use crate::explain::ColumnImportance;
use crate::project::{DataKind, Task};
use crate::workflow::{self, Evaluation};

/// Examples shown for a confusion-matrix cell.
const GALLERY_MAX: usize = 60;
/// Mistakes listed.
const MISTAKES_SHOWN: usize = 8;

/// What an evaluation job gives: the run, the other labelled data it ran on (None = the test
/// split), the result and the model it loaded.
type Evaluated = (PathBuf, Option<PathBuf>, Evaluation, Arc<TrainedModel>);

/// The Evaluate screen's own state: the evaluation it runs (a worker) and its result.
#[derive(Default)]
pub struct EvaluateScreen {
    job: Option<Job<Evaluated>>,
    /// The model the result came from, kept for "Why?" and the column ranking.
    model: Option<Arc<TrainedModel>>,
    /// The run evaluated and the result (shared, so drawing a frame copies nothing).
    pub result: Option<(PathBuf, Arc<Evaluation>)>,
    /// The labelled folder the result is about (None = the project's test split).
    pub result_folder: Option<PathBuf>,
    /// The clicked cell: (true class, predicted class).
    pub selected_cell: Option<(usize, usize)>,
    /// The run chosen (None = newest with a model).
    pub chosen_run: Option<PathBuf>,
    failed: Option<(PathBuf, String)>,
    /// The "Why?" window of a sample.
    pub why: ExplainView,
    importance_job: Option<Job<(PathBuf, Vec<ColumnImportance>)>>,
    /// A table model's permutation importance on the evaluated rows, with its run.
    pub importance: Option<(PathBuf, Vec<ColumnImportance>)>,
}

impl EvaluateScreen {
    /// Forgets the result so the newest run is evaluated next time.
    pub fn invalidate(&mut self) {
        self.chosen_run = None;
    }

    /// Whether an evaluation is running.
    pub fn is_running(&self) -> bool {
        self.job.is_some() || self.why.is_running() || self.importance_job.is_some()
    }
}

impl EvaluateScreen {
    fn run_to_evaluate(&self, cx: &Shared) -> Option<PathBuf> {
        self.chosen_run.clone().or_else(|| cx.newest_model_run())
    }

    /// Starts evaluating a run on its test split.
    fn start_evaluation(&mut self, cx: &Shared, run_dir: PathBuf) {
        let Some(doc) = cx.doc() else { return };
        let project = doc.project.clone();
        // Reuse the imported images when they were made with the run's settings.
        let loaded = cx.data().map(|d| (d.prepared.clone(), d.settings.clone()));
        self.selected_cell = None;
        self.failed = None;
        let ctx = cx.waker();
        self.job = Some(Job::spawn("Evaluating", &ctx, move |job| {
            let trained = TrainedModel::load(&run_dir, &crate::engine::inference_device())?;
            let settings = workflow::manifest_project(&project, &trained.manifest).data;
            let evaluation = match loaded {
                Some((prepared, used)) if same_split(&used, &settings) => {
                    workflow::evaluate_split(&trained, &prepared)?
                }
                _ => {
                    let progress = |d: usize, t: usize| job.progress(d, t);
                    workflow::evaluate_test_split(
                        &project,
                        &trained,
                        Some(job.cancel.flag()),
                        Some(&progress),
                    )?
                }
            };
            workflow::record_test_score(&run_dir, &evaluation);
            Ok((run_dir, None, evaluation, Arc::new(trained)))
        }));
    }

    /// Starts evaluating a run on all of other labelled data: an image folder (one sub-folder per
    /// class) or a CSV file with the target column, e.g. a separate test set.
    pub fn start_evaluation_on_other(&mut self, cx: &Shared, run_dir: PathBuf, folder: PathBuf) {
        self.selected_cell = None;
        self.failed = None;
        let ctx = cx.waker();
        self.job = Some(Job::spawn("Evaluating", &ctx, move |_job| {
            let trained = TrainedModel::load(&run_dir, &crate::engine::inference_device())?;
            let evaluation = workflow::evaluate_other(&folder, &trained)?;
            Ok((run_dir, Some(folder), evaluation, Arc::new(trained)))
        }));
    }

    /// Takes in the evaluation's result when it has finished.
    pub fn poll(&mut self, cx: &mut Shared) {
        if let Some(job) = &mut self.importance_job {
            if let Some(result) = job.poll() {
                self.importance_job = None;
                match result {
                    Ok(found) => self.importance = Some(found),
                    Err(e) => cx.error(format!("Could not rank the columns: {e}")),
                }
            }
        }
        let Some(job) = &mut self.job else {
            return;
        };
        if let Some(result) = job.poll() {
            self.job = None;
            match result {
                Ok((dir, folder, evaluation, model)) => {
                    let unit = evaluation.dataset.kind().unit();
                    let samples = evaluation
                        .regression
                        .as_ref()
                        .map_or(evaluation.report.samples, |r| r.report.samples);
                    let on = folder.as_ref().map_or_else(
                        || format!("the {samples} test {unit}"),
                        |f| format!("{samples} {unit} of {}", f.display()),
                    );
                    cx.info(match &evaluation.regression {
                        Some(r) => format!(
                            "Evaluated on {on}: R² {:.3}, mean absolute error {:.4}",
                            r.report.r2, r.report.mae
                        ),
                        None => format!(
                            "Evaluated on {on}: {:.1}% correct",
                            evaluation.report.accuracy * 100.0
                        ),
                    });
                    self.result = Some((dir, Arc::new(evaluation)));
                    self.model = Some(model);
                    self.result_folder = folder;
                }
                Err(e) => {
                    if let Some(dir) = self.run_to_evaluate(cx) {
                        self.failed = Some((dir, e.to_string()));
                    }
                    cx.error(format!("Evaluation failed: {e}"));
                }
            }
        }
    }

    /// Draws the Evaluate screen, and the "Why?" window when a sample was asked about.
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        if cx.generates_pictures() {
            ui.heading("An image generator is judged by its pictures");
            ui.label("There is no test score for a generator: watch its pictures form on the Train screen, and draw new ones on the Use screen. To check them with numbers, train a classifier on the same folder and let it predict the generated pictures (strata generate, then strata predict; BENCHMARKS.md shows how).");
            return;
        }
        self.screen_ui(ui, cx);
        self.why.window_ui(ui.ctx(), cx);
    }

    fn screen_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        let Some(run_dir) = self.run_to_evaluate(cx) else {
            ui.heading("Nothing to evaluate yet");
            if cx.training() {
                ui.label("Training is running; the model is evaluated on the test examples as soon as it ends.");
            } else {
                ui.label("Train a model first; its results appear here.");
            }
            if ui.button("Go to Train").clicked() {
                cx.send(AppCommand::Show(Screen::Train));
            }
            return;
        };
        let have = self.result.as_ref().is_some_and(|(d, _)| *d == run_dir);
        let failed_here = self.failed.as_ref().is_some_and(|(d, _)| *d == run_dir);
        if !have && self.job.is_none() && !failed_here && !cx.training() {
            self.start_evaluation(cx, run_dir.clone());
        }

        // Run chooser.
        ui.horizontal(|ui| {
            ui.label("Model of run:");
            let runs: Vec<PathBuf> = cx.runs()
                .iter()
                .filter(|r| r.has_model)
                .map(|r| r.dir.clone())
                .collect();
            let name = |p: &PathBuf| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            egui::ComboBox::from_id_salt("eval-run")
                .selected_text(name(&run_dir))
                .show_ui(ui, |ui| {
                    for r in &runs {
                        if ui.selectable_label(*r == run_dir, name(r)).clicked() {
                            self.chosen_run = Some(r.clone());
                        }
                    }
                });
            let idle = self.job.is_none();
            // Other labelled data comes in the form the project's data has: a file or a folder.
            let (kind, from_file) = cx.project().map_or((DataKind::Image, false), |p| {
                (p.data.kind(), p.data.path.is_file())
            });
            let unit = kind.unit();
            let other = if from_file {
                "another CSV file…"
            } else {
                "another folder…"
            };
            if ui
                .button(format!("Evaluate on the test {unit}"))
                .on_hover_text(format!("The {unit} held back from training by the split"))
                .clicked()
                && idle
            {
                self.start_evaluation(cx, run_dir.clone());
            }
            if ui
                .button(format!("Evaluate on {other}"))
                .on_hover_text(match kind {
                    DataKind::Tabular => "A separate table with the same columns, including the column to predict",
                    DataKind::Text if from_file => "A separate table with a text column and a label column, labelled like the classes",
                    DataKind::Text => "A separate folder with one sub-folder of .txt files per class, named like the classes",
                    DataKind::Image => "A separate set of labelled images: a folder with one sub-folder per class, named like the classes",
                    DataKind::Audio => "A separate set of labelled clips: a folder with one sub-folder per class, named like the classes",
                })
                .clicked()
                && idle
            {
                let picked = if from_file {
                    rfd::FileDialog::new()
                        .set_title("CSV file with the same columns")
                        .add_filter("Tables", &["csv", "tsv", "txt"])
                        .pick_file()
                } else {
                    rfd::FileDialog::new()
                        .set_title("Folder of labelled examples (one sub-folder per class)")
                        .pick_folder()
                };
                if let Some(path) = picked {
                    self.start_evaluation_on_other(cx, run_dir.clone(), path);
                }
            }
        });
        if let Some(job) = &self.job {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Evaluating… ({:.0}s)", job.elapsed_secs()));
            });
            return;
        }
        if let Some((_, message)) = self.failed.as_ref().filter(|(d, _)| *d == run_dir) {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Evaluation failed: {message}"),
            );
            return;
        }
        let Some(evaluation) = self.result.as_ref().map(|(_, e)| e.clone()) else {
            return;
        };
        let (report, dataset, predictions) = (
            &evaluation.report,
            &evaluation.dataset,
            &evaluation.predictions,
        );
        let folder = self.result_folder.clone();
        let history = cx
            .runs()
            .iter()
            .find(|r| r.dir == run_dir)
            .map(|r| r.history.clone());
        let privacy = cx
            .runs()
            .iter()
            .find(|r| r.dir == run_dir)
            .and_then(|r| r.manifest.privacy.clone());

        if let Some(regression) = &evaluation.regression {
            egui::ScrollArea::vertical().show(ui, |ui| {
                regression_ui(ui, regression, folder.as_deref());
                privacy_ui(ui, privacy.as_ref());
                self.importance_ui(ui, cx, &run_dir, &evaluation);
                if let Some(history) = &history {
                    ui.add_space(8.0);
                    ui.strong("Curves of this run");
                    widgets::curves_ui(ui, "eval", history, None, Task::Regress, 180.0, None);
                }
            });
            return;
        }
        let unit = dataset.kind().unit();
        egui::ScrollArea::vertical().show(ui, |ui| {
            match &folder {
                None => {
                    ui.heading(
                        RichText::new(format!(
                            "Accuracy on {} test {unit}: {:.1}%",
                            report.samples,
                            report.accuracy * 100.0
                        ))
                        .strong(),
                    );
                    ui.weak(format!("Test {unit} were held back: the model never saw them while training."));
                }
                Some(f) => {
                    ui.heading(
                        RichText::new(format!(
                            "Accuracy on {} {unit} of {}: {:.1}%",
                            report.samples,
                            f.display(),
                            report.accuracy * 100.0
                        ))
                        .strong(),
                    );
                    ui.weak("Every sample there was predicted and compared with its true class.");
                }
            }
            privacy_ui(ui, privacy.as_ref());
            ui.add_space(6.0);
            ui.columns(2, |cols| {
                cols[0].strong("Confusion matrix");
                cols[0].weak("Rows: the true class. Columns: what the model said. The diagonal is correct. Click a cell to see its examples.");
                self.confusion_ui(&mut cols[0], report);
                cols[1].strong("Per class");
                per_class_ui(&mut cols[1], report, &examples_word(dataset.kind()));
            });

            // Gallery of the selected cell.
            if let Some((t, p)) = self.selected_cell {
                ui.add_space(8.0);
                let tc = report.classes.get(t).cloned().unwrap_or_default();
                let pc = report.classes.get(p).cloned().unwrap_or_default();
                let what = examples_word(dataset.kind());
                ui.strong(format!("{what} that are {tc} and were predicted as {pc}"));
                let members: Vec<&eval::Prediction> = predictions
                    .iter()
                    .filter(|x| x.true_label == Some(t) && x.predicted == p)
                    .take(GALLERY_MAX)
                    .collect();
                if members.is_empty() {
                    ui.weak("None.");
                }
                self.gallery_ui(ui, cx, &run_dir, dataset, &report.classes, &members);
            }

            ui.add_space(8.0);
            ui.strong("Most confident mistakes");
            let mistakes = eval::most_confident_mistakes(predictions, MISTAKES_SHOWN);
            if mistakes.is_empty() {
                ui.label("No mistakes.");
            } else {
                let refs: Vec<&eval::Prediction> = mistakes.iter().collect();
                self.gallery_ui(ui, cx, &run_dir, dataset, &report.classes, &refs);
            }
            self.importance_ui(ui, cx, &run_dir, &evaluation);

            ui.add_space(8.0);
            if let Some(history) = &history {
                ui.strong("Curves of this run");
                widgets::curves_ui(ui, "eval", history, None, Task::Classify, 180.0, None);
            }
        });
    }

    /// A table model's columns ranked by permutation importance on the evaluated rows (on a
    /// worker, when asked).
    fn importance_ui(
        &mut self,
        ui: &mut egui::Ui,
        cx: &Shared,
        run_dir: &std::path::Path,
        evaluation: &Arc<Evaluation>,
    ) {
        if evaluation.dataset.table().is_none() {
            return;
        }
        ui.add_space(8.0);
        ui.strong("Which columns matter");
        let score = if evaluation.regression.is_some() {
            "R²"
        } else {
            "accuracy"
        };
        if let Some((_, ranked)) = self.importance.as_ref().filter(|(d, _)| d == run_dir) {
            ui.weak(format!(
                "Permutation importance: how much the {score} on these rows falls when a \
                 column's values are shuffled among them (mean of 5 shuffles). Columns near 0 \
                 barely matter to the model."
            ));
            let max = ranked
                .iter()
                .map(|r| r.importance.abs())
                .fold(0.0f64, f64::max)
                .max(1e-9);
            egui::Grid::new("importance")
                .num_columns(3)
                .striped(true)
                .show(ui, |ui| {
                    for r in ranked {
                        ui.label(&r.name);
                        bar_ui(ui, (r.importance / max) as f32);
                        ui.weak(format!("{:+.3} ± {:.3}", r.importance, r.spread));
                        ui.end_row();
                    }
                });
            return;
        }
        if let Some(job) = &self.importance_job {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!(
                    "Shuffling each column… ({:.0}s)",
                    job.elapsed_secs()
                ));
            });
            return;
        }
        if ui
            .button("Rank the columns")
            .on_hover_text(format!(
                "Shuffle each column's values among these rows and measure how much the {score} \
                 falls"
            ))
            .clicked()
        {
            let evaluation = evaluation.clone();
            let run_dir = run_dir.to_owned();
            let seed = cx.project().map_or(0, |p| p.training.seed);
            let Some(trained) = self.model.clone() else {
                return;
            };
            self.importance_job = Some(Job::spawn("Ranking columns", &cx.waker(), move |_| {
                let ranked = crate::explain::permutation_importance(
                    &trained.network,
                    trained.manifest.training.loss,
                    &evaluation.dataset,
                    &evaluation.indices,
                    5,
                    seed,
                )?;
                Ok((run_dir, ranked))
            }));
        }
    }

    fn confusion_ui(&mut self, ui: &mut egui::Ui, report: &eval::ClassificationReport) {
        let n = report.classes.len();
        let cell = (ui.available_width() / (n as f32 + 1.5)).clamp(28.0, 64.0);
        egui::Grid::new("confusion")
            .spacing([2.0, 2.0])
            .show(ui, |ui| {
                ui.weak("true \\ said");
                for c in &report.classes {
                    ui.add_sized([cell, 20.0], egui::Label::new(RichText::new(c).small()).truncate())
                        .on_hover_text(format!("predicted {c}"));
                }
                ui.end_row();
                for (t, row) in report.confusion_matrix.iter().enumerate() {
                    let class = report.classes.get(t).cloned().unwrap_or_default();
                    ui.add(egui::Label::new(RichText::new(&class).small()).truncate());
                    let row_total: usize = row.iter().sum();
                    for (p, &count) in row.iter().enumerate() {
                        let share = if row_total > 0 {
                            count as f32 / row_total as f32
                        } else {
                            0.0
                        };
                        let fill = heat_color(share, t == p);
                        let text_color = if share > 0.55 { Color32::WHITE } else { Color32::BLACK };
                        let selected = self.selected_cell == Some((t, p));
                        let mut button = egui::Button::new(RichText::new(count.to_string()).color(text_color).strong())
                            .fill(fill)
                            .min_size(egui::vec2(cell, cell * 0.7));
                        if selected {
                            button = button.stroke(egui::Stroke::new(2.0, ui.visuals().selection.stroke.color));
                        }
                        let predicted = report.classes.get(p).cloned().unwrap_or_default();
                        if ui
                            .add(button)
                            .on_hover_text(format!("{count} image(s) of {class} predicted as {predicted} ({:.0}% of {class})", share * 100.0))
                            .clicked()
                        {
                            self.selected_cell = Some((t, p));
                        }
                    }
                    ui.end_row();
                }
            });
    }

    fn gallery_ui(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut Shared,
        run_dir: &std::path::Path,
        dataset: &Arc<Dataset>,
        classes: &[String],
        members: &[&eval::Prediction],
    ) {
        let ctx = ui.ctx().clone();
        let salt = Arc::as_ptr(dataset) as usize;
        let Some(images) = dataset.images() else {
            if let Some(index) = rows_gallery_ui(ui, dataset, classes, members) {
                self.why.ask(
                    cx,
                    run_dir.to_owned(),
                    self.model.clone(),
                    dataset.clone(),
                    index,
                );
            }
            return;
        };
        ui.horizontal_wrapped(|ui| {
            for m in members {
                let texture = cx.thumbnails.get(&ctx, images, salt, m.index);
                ui.vertical(|ui| {
                    ui.set_width(84.0);
                    let truth = m
                        .true_label
                        .and_then(|t| classes.get(t))
                        .cloned()
                        .unwrap_or_default();
                    let said = classes.get(m.predicted).cloned().unwrap_or_default();
                    let mut hover = format!(
                        "{}\nis {truth}, predicted {said}\n",
                        dataset.source(m.index)
                    );
                    for (c, p) in classes.iter().zip(&m.probabilities) {
                        hover.push_str(&format!("{c}: {:.1}%\n", p * 100.0));
                    }
                    match images.paths.get(m.index) {
                        Some(path) if dataset.kind() == DataKind::Audio => {
                            hover.push_str("Click to hear it.");
                            let clicked = widgets::playable_thumbnail(ui, &texture, 72.0, path)
                                .on_hover_text(hover)
                                .clicked();
                            if clicked {
                                cx.send(AppCommand::PlayClip(path.clone()));
                            }
                        }
                        _ => {
                            widgets::thumbnail(ui, &texture, 72.0).on_hover_text(hover);
                        }
                    }
                    if m.true_label.is_some_and(|t| t != m.predicted) {
                        ui.small(format!("is {truth}"));
                        ui.small(format!("said {said} {:.0}%", m.confidence * 100.0));
                    } else {
                        ui.small(format!("{said} {:.0}%", m.confidence * 100.0));
                    }
                    if ui
                        .small_button("Why?")
                        .on_hover_text(format!("What in this example made the model say {said}"))
                        .clicked()
                    {
                        self.why.ask(
                            cx,
                            run_dir.to_owned(),
                            self.model.clone(),
                            dataset.clone(),
                            m.index,
                        );
                    }
                });
            }
        });
    }
}

/// Table rows of a gallery: where each is, its class and what the model said; returns the
/// sample whose "Why?" was clicked.
fn rows_gallery_ui(
    ui: &mut egui::Ui,
    dataset: &Dataset,
    classes: &[String],
    members: &[&eval::Prediction],
) -> Option<usize> {
    let mut asked = None;
    egui::Grid::new(ui.next_auto_id())
        .striped(true)
        .num_columns(5)
        .show(ui, |ui| {
            let first = if dataset.texts().is_some() {
                "Text"
            } else {
                "Row"
            };
            for h in [first, "Is", "Predicted", "Confidence", ""] {
                ui.strong(h);
            }
            ui.end_row();
            for m in members {
                let name =
                    |c: Option<usize>| c.and_then(|c| classes.get(c)).cloned().unwrap_or_default();
                match dataset.texts().and_then(|t| t.raw.texts.get(m.index)) {
                    Some(text) => {
                        let short: String = text.chars().take(80).collect();
                        ui.label(if short.len() < text.len() {
                            format!("{short}…")
                        } else {
                            short
                        })
                        .on_hover_text(format!("{}\n{text}", dataset.source(m.index)));
                    }
                    None => {
                        ui.label(dataset.source(m.index));
                    }
                }
                ui.label(name(m.true_label));
                ui.label(name(Some(m.predicted)));
                ui.label(format!("{:.0}%", m.confidence * 100.0));
                if ui.small_button("Why?").clicked() {
                    asked = Some(m.index);
                }
                ui.end_row();
            }
        });
    asked
}

/// A regression model's results: MAE, RMSE, R² in words, and predicted against actual values.
fn regression_ui(
    ui: &mut egui::Ui,
    regression: &workflow::RegressionEvaluation,
    other: Option<&std::path::Path>,
) {
    let r = &regression.report;
    let on = other.map_or_else(
        || "test rows".to_owned(),
        |f| format!("rows of {}", f.display()),
    );
    ui.heading(RichText::new(format!("R² on {} {on}: {:.3}", r.samples, r.r2)).strong());
    ui.weak("R² is the share of the variation the model explains: 1 is perfect, 0 is no better than always guessing the average.");
    ui.add_space(6.0);
    egui::Grid::new("regression-metrics")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            ui.label("Mean absolute error").on_hover_text(
                "On average, predictions are off by this much (in the target's units).",
            );
            ui.strong(format!("{:.4}", r.mae));
            ui.end_row();
            ui.label("Root mean squared error")
                .on_hover_text("Like the mean absolute error, but large misses count more.");
            ui.strong(format!("{:.4}", r.rmse));
            ui.end_row();
            ui.label("R²");
            ui.strong(format!("{:.4}", r.r2));
            ui.end_row();
        });
    ui.add_space(6.0);
    ui.strong("Predicted against actual");
    ui.weak("Each point is one row. Points on the grey line are predicted exactly; the further away, the larger the miss.");
    widgets::predicted_vs_actual(
        ui,
        "predicted-vs-actual",
        &regression.actual,
        &regression.predicted,
        320.0,
    );
}

/// White → blue for correct cells, white → red for mistakes, by the share of the row.
fn heat_color(share: f32, diagonal: bool) -> Color32 {
    let s = share.clamp(0.0, 1.0);
    let lerp = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * s).round() as u8;
    if diagonal {
        Color32::from_rgb(lerp(240, 30), lerp(244, 90), lerp(250, 180))
    } else {
        Color32::from_rgb(lerp(250, 200), lerp(240, 40), lerp(240, 40))
    }
}

/// What one kind of data's examples are called ([`DataKind::unit`]), as a heading: "Clips".
fn examples_word(kind: DataKind) -> String {
    let unit = kind.unit();
    let mut chars = unit.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Precision, recall, F1 and the number of test examples (headed `what`) per class.
fn per_class_ui(ui: &mut egui::Ui, report: &eval::ClassificationReport, what: &str) {
    egui::Grid::new("per-class")
        .striped(true)
        .num_columns(5)
        .show(ui, |ui| {
            ui.strong("Class");
            ui.strong("Precision").on_hover_text(
                "Of the examples the model called this class, the share that really are.",
            );
            ui.strong("Recall")
                .on_hover_text("Of the examples of this class, the share the model found.");
            ui.strong("F1")
                .on_hover_text("Balance of precision and recall (their harmonic mean).");
            ui.strong(what);
            ui.end_row();
            for m in report
                .per_class
                .iter()
                .chain([&report.macro_avg, &report.weighted_avg])
            {
                ui.label(&m.class);
                ui.label(format!("{:.2}", m.precision));
                ui.label(format!("{:.2}", m.recall));
                ui.label(format!("{:.2}", m.f1));
                ui.label(m.support.to_string());
                ui.end_row();
            }
        });
}

/// The privacy guarantee of a run trained with differential privacy, in plain words.
fn privacy_ui(ui: &mut egui::Ui, privacy: Option<&crate::engine::privacy::PrivacyReport>) {
    if let Some(p) = privacy {
        ui.add_space(4.0);
        ui.add(
            egui::Label::new(RichText::new(p.plain_words()).color(ui.visuals().hyperlink_color))
                .wrap(),
        );
    }
}
