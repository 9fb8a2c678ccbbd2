//! The Use screen: drop or pick images (or CSV rows for a table model) and see the prediction with
//! its probabilities; predict a whole folder or table into a CSV file; see where the model file
//! lives and export it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui::{self, RichText};

use super::app::{AppCommand, Screen, Shared};
use super::jobs::Job;
use super::widgets;
use crate::engine::runs::{BEST_DIR, WEIGHTS_FILE};
use crate::engine::TrainedModel;
use crate::project::DataKind;
use crate::workflow::{self, FilePredictions};

use super::explain_view::ExplainView;

/// The Use screen's own state: the loaded model, the predictions it runs (workers) and shows.
#[derive(Default)]
pub struct UseScreen {
    /// Drawing pictures, for an image-generating project.
    pub gan: super::gan_view::GanDrawer,
    model: Option<(PathBuf, Arc<TrainedModel>)>,
    job: Option<Job<(PathBuf, Arc<TrainedModel>, FilePredictions)>>,
    folder_job: Option<Job<String>>,
    /// The last predictions.
    pub last: Option<FilePredictions>,
    textures: Vec<egui::TextureHandle>,
    path_text: String,
    /// Texts typed on the Use screen of a text project.
    text_input: String,
    /// The export going on (ONNX: imports the data again and checks the file).
    export_job: Option<Job<String>>,
    /// The last export's result line ("Exported … checked on 64 test samples: …").
    pub last_export: Option<String>,
    /// Where the next export goes instead of asking with a dialog (tests answer it this way).
    pub dialog_answer: Option<PathBuf>,
    /// The "Why?" window of a prediction.
    pub why: ExplainView,
}

impl UseScreen {
    /// Drops the loaded model so the newest run's model is used next.
    pub fn invalidate(&mut self) {
        self.model = None;
    }

    /// Whether a prediction or an export is running.
    pub fn is_running(&self) -> bool {
        self.job.is_some()
            || self.folder_job.is_some()
            || self.export_job.is_some()
            || self.why.is_running()
    }
}

impl UseScreen {
    /// Predicts the given files (folders are searched) with the newest trained model.
    pub fn predict_paths(&mut self, cx: &mut Shared, paths: Vec<PathBuf>) {
        self.spawn_prediction(cx, move |model| {
            let files = workflow::collect_files(&paths)?;
            workflow::predict_files(model, &files)
        });
    }

    /// Predicts the class of each text with the newest trained (text) model.
    fn predict_texts(&mut self, cx: &mut Shared, texts: Vec<String>) {
        self.spawn_prediction(cx, move |model| workflow::predict_texts(model, texts));
    }

    fn spawn_prediction(
        &mut self,
        cx: &mut Shared,
        work: impl FnOnce(&TrainedModel) -> anyhow::Result<FilePredictions> + Send + 'static,
    ) {
        let Some(run_dir) = cx.newest_model_run() else {
            cx.error("Train a model first; then drop files here to get predictions.");
            return;
        };
        let cached = self
            .model
            .as_ref()
            .filter(|(d, _)| *d == run_dir)
            .map(|(_, m)| m.clone());
        let ctx = cx.waker();
        self.job = Some(Job::spawn("Predicting", &ctx, move |_job| {
            let model = match cached {
                Some(m) => m,
                None => Arc::new(TrainedModel::load(
                    &run_dir,
                    &crate::engine::inference_device(),
                )?),
            };
            let predictions = work(&model)?;
            Ok((run_dir, model, predictions))
        }));
    }

    fn predict_folder_to_csv(&mut self, cx: &Shared, folder: PathBuf, csv_path: PathBuf) {
        let Some(run_dir) = cx.newest_model_run() else {
            return;
        };
        let ctx = cx.waker();
        self.folder_job = Some(Job::spawn("Predicting folder", &ctx, move |_job| {
            let model = TrainedModel::load(&run_dir, &crate::engine::inference_device())?;
            let files = workflow::collect_files(&[folder])?;
            let result = workflow::predict_files(&model, &files)?;
            let bytes = workflow::predictions_csv(&model, &result)?;
            crate::files::atomic_write(&csv_path, &bytes)
                .map_err(|e| anyhow::anyhow!("could not write '{}': {e}", csv_path.display()))?;
            Ok(format!(
                "Wrote {} predictions to {}{}",
                result.len(),
                csv_path.display(),
                if result.skipped.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} file(s) or row(s) could not be used and were skipped",
                        result.skipped.len()
                    )
                }
            ))
        }));
    }

    /// Takes in finished predictions.
    pub fn poll(&mut self, cx: &mut Shared) {
        if let Some(job) = &mut self.job {
            if let Some(result) = job.poll() {
                self.job = None;
                match result {
                    Ok((dir, model, predictions)) => {
                        self.model = Some((dir, model));
                        self.textures.clear();
                        if predictions.is_empty() {
                            let why = predictions
                                .skipped
                                .first()
                                .map(|(p, r)| format!("{p}: {r}"))
                                .unwrap_or_default();
                            cx.error(format!("Nothing could be predicted. {why}"));
                        } else {
                            cx.info(format!(
                                "Predicted {} {}",
                                predictions.len(),
                                predictions.dataset.kind().unit()
                            ));
                        }
                        self.last = Some(predictions);
                    }
                    Err(e) => cx.error(format!("Prediction failed: {e}")),
                }
            }
        }
        if let Some(job) = &mut self.folder_job {
            if let Some(result) = job.poll() {
                self.folder_job = None;
                match result {
                    Ok(text) => cx.info(text),
                    Err(e) => cx.error(format!("Predicting the folder failed: {e}")),
                }
            }
        }
        if let Some(job) = &mut self.export_job {
            if let Some(result) = job.poll() {
                self.export_job = None;
                match result {
                    Ok(text) => {
                        cx.info(text.clone());
                        self.last_export = Some(text);
                    }
                    Err(e) => {
                        self.last_export = Some(format!("Export failed: {e}"));
                        cx.error(format!("Export failed: {e}"));
                    }
                }
            }
        }
    }

    /// Draws the Use screen, and the "Why?" window when a prediction was asked about.
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        if cx.generates_pictures() {
            egui::ScrollArea::vertical().show(ui, |ui| self.gan.ui(ui, cx));
            return;
        }
        self.screen_ui(ui, cx);
        self.why.window_ui(ui.ctx(), cx);
    }

    fn screen_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        let Some(run_dir) = cx.newest_model_run() else {
            ui.heading("No trained model yet");
            ui.label("Train a model first; then you can try it on new examples here.");
            if ui.button("Go to Train").clicked() {
                cx.send(AppCommand::Show(Screen::Train));
            }
            return;
        };
        let kind = cx.project().map_or(DataKind::Image, |p| p.data.kind());
        if kind == DataKind::Text {
            self.text_input_ui(ui, cx);
        }
        let table = kind == DataKind::Tabular;
        if kind == DataKind::Text {
            ui.label("Or drop .txt files (one text per line) or a CSV file with a text column:");
        } else if table {
            ui.heading("Try the model on new rows");
            ui.label("Drop a CSV file with the same columns onto this window (the column to predict may be left out), or choose one:");
        } else if kind == DataKind::Audio {
            ui.heading("Try the model on new clips");
            ui.label("Drop audio files or a folder onto this window, or choose them:");
        } else {
            ui.heading("Try the model on new images");
            ui.label("Drop image files or a folder onto this window, or choose them:");
        }
        ui.horizontal(|ui| {
            let choose = match kind {
                DataKind::Image => "Choose images…",
                DataKind::Tabular => "Choose a CSV file…",
                DataKind::Text => "Choose text files…",
                DataKind::Audio => "Choose audio files…",
            };
            if ui.button(choose).clicked() {
                let dialog = if kind == DataKind::Text {
                    rfd::FileDialog::new().add_filter("Texts", &["txt", "csv", "tsv"])
                } else if table {
                    rfd::FileDialog::new().add_filter("Tables", &["csv", "tsv", "txt"])
                } else if kind == DataKind::Audio {
                    rfd::FileDialog::new().add_filter("Audio", &crate::data::AUDIO_EXTENSIONS)
                } else {
                    rfd::FileDialog::new().add_filter(
                        "Images",
                        &["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"],
                    )
                };
                if let Some(files) = dialog.pick_files() {
                    self.predict_paths(cx, files);
                }
            }
            ui.label("or a path:");
            let edit = ui.add(
                egui::TextEdit::singleline(&mut self.path_text)
                    .hint_text(match kind {
                        DataKind::Image => "/path/to/image.png",
                        DataKind::Tabular => "/path/to/rows.csv",
                        DataKind::Text => "/path/to/texts.txt",
                        DataKind::Audio => "/path/to/clip.wav",
                    })
                    .desired_width(260.0),
            );
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Predict").clicked() || enter) && !self.path_text.trim().is_empty() {
                let path = PathBuf::from(self.path_text.trim());
                self.predict_paths(cx, vec![path]);
            }
        });
        if self.job.is_some() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Predicting…");
            });
        }
        self.predictions_ui(ui, cx);

        ui.separator();
        if table {
            ui.strong("Predict a whole table");
            ui.label("Every row of a CSV file gets a row in a new CSV file: where it was and the prediction.");
        } else if kind == DataKind::Text {
            ui.strong("Predict a whole folder");
            ui.label("Every line of the text files under a folder (every row of the CSV files) gets a row in a CSV file: where it was, predicted class, confidence and the probability of each class.");
        } else {
            ui.strong("Predict a whole folder");
            ui.label(format!(
                "Every {} under a folder gets a row in a CSV file: path, predicted class, confidence and the probability of each class.",
                if kind == DataKind::Audio { "clip" } else { "image" }
            ));
        }
        if let Some(job) = &self.folder_job {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Predicting… ({:.0}s)", job.elapsed_secs()));
            });
        } else if ui
            .button(if table {
                "Predict a table to CSV…"
            } else {
                "Predict a folder to CSV…"
            })
            .clicked()
        {
            let source = if table {
                rfd::FileDialog::new()
                    .set_title("Table of rows to predict")
                    .add_filter("Tables", &["csv", "tsv", "txt"])
                    .pick_file()
            } else {
                rfd::FileDialog::new()
                    .set_title("Folder to predict")
                    .pick_folder()
            };
            if let Some(folder) = source {
                if let Some(csv_path) = rfd::FileDialog::new()
                    .set_title("Save predictions as")
                    .add_filter("CSV", &["csv"])
                    .set_file_name("predictions.csv")
                    .save_file()
                {
                    self.predict_folder_to_csv(cx, folder, csv_path);
                }
            }
        }

        ui.separator();
        ui.strong("The model file");
        let weights = run_dir.join(BEST_DIR).join(WEIGHTS_FILE);
        ui.label(format!(
            "The best weights of the project's model (run {}) are stored at:",
            run_dir
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        ));
        ui.horizontal(|ui| {
            ui.monospace(weights.display().to_string());
            if ui.small_button("Copy path").clicked() {
                ui.ctx().copy_text(weights.display().to_string());
            }
        });
        ui.weak(match kind {
            DataKind::Image => "Use it from a terminal too: strata predict PROJECT.strata IMAGE…",
            DataKind::Tabular => "Use it from a terminal too: strata predict PROJECT.strata ROWS.csv",
            DataKind::Text => {
                "Use it from a terminal too: strata predict PROJECT.strata TEXTS.txt (or - to read the texts from standard input)"
            }
            DataKind::Audio => "Use it from a terminal too: strata predict PROJECT.strata CLIP.wav…",
        });
        self.export_ui(ui, cx, &run_dir);
    }

    /// The export section: ONNX (checked by a second engine), a PyTorch project, or Strata's own
    /// folder.
    fn export_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared, run_dir: &Path) {
        ui.add_space(6.0);
        ui.strong("Export the model");
        let busy = self.export_job.is_some();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Export as ONNX…"))
                .clicked()
            {
                let dest = self.dialog_answer.take().or_else(|| {
                    rfd::FileDialog::new()
                        .set_title("Export the model as an ONNX file")
                        .add_filter("ONNX model", &["onnx"])
                        .set_file_name("model.onnx")
                        .save_file()
                });
                if let Some(dest) = dest {
                    self.export_onnx(cx, run_dir.to_owned(), dest);
                }
            }
            ui.add(egui::Label::new("One .onnx file for ONNX Runtime, OpenCV, Windows ML or a phone app, with the class names and how to prepare inputs inside; checked against a second engine before it is saved.").wrap());
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Export PyTorch project…"))
                .clicked()
            {
                let dest = self.dialog_answer.take().or_else(|| {
                    rfd::FileDialog::new()
                        .set_title("Export the model as a PyTorch project into this folder")
                        .pick_folder()
                });
                if let Some(dest) = dest {
                    self.export_pytorch(cx, run_dir.to_owned(), dest);
                }
            }
            ui.add(egui::Label::new("A folder with the model as PyTorch code, its weights, the same data reading and split, and train.py to train on a GPU or many machines (torchrun); bring the result back with “Add a run trained elsewhere…”.").wrap());
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!busy, egui::Button::new("Export Strata folder…"))
                .on_hover_text("Copy the weights (safetensors), the layer graph and the run description into a folder of your choice")
                .clicked()
            {
                let dest = self.dialog_answer.take().or_else(|| {
                    rfd::FileDialog::new()
                        .set_title("Export the model into this folder")
                        .pick_folder()
                });
                if let Some(dest) = dest {
                    match workflow::export_run(run_dir, &dest) {
                        Ok(()) => {
                            let line = format!("Exported the model to {}", dest.display());
                            cx.info(line.clone());
                            self.last_export = Some(line);
                        }
                        Err(e) => cx.error(format!("Export failed: {e}")),
                    }
                }
            }
            ui.add(egui::Label::new("Weights, layers and run description, to keep, share, or reuse in another Strata project.").wrap());
        });
        if let Some(job) = &self.export_job {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Exporting… ({:.0}s)", job.elapsed_secs()));
            });
        } else if let Some(line) = &self.last_export {
            ui.label(line);
        }
    }

    /// Writes the run's model as ONNX at `dest` on a worker: the project's data is imported again
    /// so the check runs on its test samples.
    pub fn export_onnx(&mut self, cx: &Shared, run_dir: PathBuf, dest: PathBuf) {
        let Some(project) = cx.project().cloned() else {
            return;
        };
        let ctx = cx.waker();
        self.last_export = None;
        self.export_job = Some(Job::spawn("Exporting", &ctx, move |job| {
            let progress = |done: usize, total: usize| job.progress(done, total);
            let (report, note) = workflow::export_project_onnx(
                &project,
                &run_dir,
                &dest,
                Some(job.cancel.flag()),
                Some(&progress),
            )?;
            Ok(format!(
                "Exported as ONNX to {}: {}{}",
                dest.display(),
                report.line(),
                note.map(|n| format!(" ({n})")).unwrap_or_default()
            ))
        }));
    }

    /// Writes the run's model as a PyTorch project into `dest` on a worker: the project's data
    /// is imported again for the split the project trains on.
    pub fn export_pytorch(&mut self, cx: &Shared, run_dir: PathBuf, dest: PathBuf) {
        let Some(project) = cx.project().cloned() else {
            return;
        };
        let ctx = cx.waker();
        self.last_export = None;
        self.export_job = Some(Job::spawn("Exporting", &ctx, move |job| {
            let progress = |done: usize, total: usize| job.progress(done, total);
            let done = workflow::export_pytorch(
                &project,
                &run_dir,
                &dest,
                Some(job.cancel.flag()),
                Some(&progress),
            )?;
            Ok(format!(
                "Exported as a PyTorch project to {} ({}); its README.md says how to train it and bring the weights back",
                dest.display(),
                done.files.join(", ")
            ))
        }));
    }

    fn text_input_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        ui.heading("Try the model on new texts");
        ui.label("Type or paste texts, one per line:");
        ui.add(
            egui::TextEdit::multiline(&mut self.text_input)
                .hint_text("What a wonderful film, I loved every minute of it.")
                .desired_rows(4)
                .desired_width(f32::INFINITY),
        );
        let texts: Vec<String> = self
            .text_input
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        if ui
            .add_enabled(!texts.is_empty(), egui::Button::new("Predict these texts"))
            .clicked()
        {
            self.predict_texts(cx, texts);
        }
        ui.add_space(6.0);
    }

    /// Opens the "Why?" window for sample `index` of the last predictions.
    fn ask_why(&mut self, cx: &Shared, index: usize) {
        let (Some(last), Some((run_dir, model))) = (&self.last, &self.model) else {
            return;
        };
        let dataset = last.dataset.clone();
        self.why
            .ask(cx, run_dir.clone(), Some(model.clone()), dataset, index);
    }

    fn predictions_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        if let Some(index) = self.predictions_list_ui(ui, cx) {
            self.ask_why(cx, index);
        }
    }

    /// The predictions; returns the sample whose "Why?" was clicked.
    fn predictions_list_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) -> Option<usize> {
        let last = self.last.as_ref()?;
        let audio = last.dataset.kind() == DataKind::Audio;
        for (path, reason) in &last.skipped {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("Skipped {path}: {reason}"),
            );
        }
        let Some(images) = last.dataset.images() else {
            let target = self
                .model
                .as_ref()
                .and_then(|(_, m)| m.manifest.table.as_ref())
                .map(|t| t.target.clone())
                .unwrap_or_default();
            return row_predictions_ui(ui, last, &target);
        };
        let classes = images.classes.clone();
        if self.textures.len() != last.predictions.len() {
            let ctx = ui.ctx().clone();
            self.textures = last
                .predictions
                .iter()
                .map(|p| {
                    let image = widgets::color_image(
                        &images.sample(p.index),
                        images.channels,
                        images.height,
                        images.width,
                    );
                    ctx.load_texture(
                        format!("use-{}", p.index),
                        image,
                        egui::TextureOptions::NEAREST,
                    )
                })
                .collect();
        }
        let mut asked = None;
        egui::ScrollArea::vertical()
            .max_height(ui.available_height() * 0.6)
            .show(ui, |ui| {
                for (p, texture) in last.predictions.iter().zip(&self.textures) {
                    ui.horizontal(|ui| {
                        match images.paths.get(p.index) {
                            Some(path) if audio => {
                                let clicked = widgets::playable_thumbnail(ui, texture, 96.0, path)
                                    .on_hover_text("Click to hear it.")
                                    .clicked();
                                if clicked {
                                    cx.send(AppCommand::PlayClip(path.clone()));
                                }
                            }
                            _ => {
                                widgets::thumbnail(ui, texture, 96.0);
                            }
                        }
                        ui.vertical(|ui| {
                            let class = classes.get(p.predicted).cloned().unwrap_or_default();
                            ui.label(
                                RichText::new(format!(
                                    "Prediction: {class} ({:.1}%)",
                                    p.confidence * 100.0
                                ))
                                .strong()
                                .size(16.0),
                            );
                            if let Some(path) = images.paths.get(p.index) {
                                ui.weak(file_name(path));
                            }
                            widgets::probability_bars(ui, &classes, &p.probabilities);
                            if why_button(ui, &class) {
                                asked = Some(p.index);
                            }
                        });
                    });
                    ui.separator();
                }
            });
        asked
    }
}

/// The "Why?" button of one prediction.
fn why_button(ui: &mut egui::Ui, class: &str) -> bool {
    ui.button("Why?")
        .on_hover_text(format!(
            "What in this example made the model say {class}, with checks that the explanation \
             means something"
        ))
        .clicked()
}

/// Rows shown on screen at most (the CSV export has them all).
const ROWS_SHOWN: usize = 500;

/// One line per predicted table row: where it was and what the model says; returns the row
/// whose "Why?" was clicked.
fn row_predictions_ui(ui: &mut egui::Ui, last: &FilePredictions, target: &str) -> Option<usize> {
    let classes = last.dataset.classes();
    let mut asked = None;
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() * 0.6)
        .show(ui, |ui| {
            if let Some(texts) = last.dataset.texts() {
                asked = text_predictions_ui(ui, last, &texts.raw.texts, classes);
                return;
            }
            egui::Grid::new("row-predictions")
                .striped(true)
                .num_columns(4)
                .show(ui, |ui| {
                    ui.strong("Row");
                    ui.strong(format!("Predicted {target}"));
                    ui.strong(if last.values.is_empty() { "Confidence" } else { "" });
                    ui.strong("");
                    ui.end_row();
                    for p in last.predictions.iter().take(ROWS_SHOWN) {
                        ui.label(last.sources.get(p.index).map_or("", String::as_str));
                        let class = classes.get(p.predicted).map_or("", String::as_str);
                        ui.strong(class)
                            .on_hover_ui(|ui| widgets::probability_bars(ui, classes, &p.probabilities));
                        ui.label(format!("{:.1}%", p.confidence * 100.0));
                        if why_button(ui, class) {
                            asked = Some(p.index);
                        }
                        ui.end_row();
                    }
                    for (i, v) in last.values.iter().enumerate().take(ROWS_SHOWN) {
                        ui.label(last.sources.get(i).map_or("", String::as_str));
                        ui.strong(format!("{v:.4}"));
                        ui.label("");
                        if why_button(ui, &format!("{v:.4}")) {
                            asked = Some(i);
                        }
                        ui.end_row();
                    }
                });
            if last.len() > ROWS_SHOWN {
                ui.weak(format!(
                    "Showing the first {ROWS_SHOWN} of {} rows; \"Predict a table to CSV…\" writes them all.",
                    last.len()
                ));
            }
        });
    asked
}

/// Each text with its predicted class and the probability of every class.
fn text_predictions_ui(
    ui: &mut egui::Ui,
    last: &FilePredictions,
    texts: &[String],
    classes: &[String],
) -> Option<usize> {
    let mut asked = None;
    for p in last.predictions.iter().take(ROWS_SHOWN) {
        let class = classes.get(p.predicted).map_or("", String::as_str);
        ui.label(
            RichText::new(format!(
                "Prediction: {class} ({:.1}%)",
                p.confidence * 100.0
            ))
            .strong()
            .size(16.0),
        );
        let text = texts.get(p.index).map_or("", String::as_str);
        let short: String = text.chars().take(300).collect();
        ui.label(if short.len() < text.len() {
            format!("“{short}…”")
        } else {
            format!("“{short}”")
        })
        .on_hover_text(last.sources.get(p.index).cloned().unwrap_or_default());
        widgets::probability_bars(ui, classes, &p.probabilities);
        if why_button(ui, class) {
            asked = Some(p.index);
        }
        ui.separator();
    }
    asked
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
