//! The Train screen: training settings, Start/Pause/Resume/Stop, live curves, progress with ETA,
//! a plain-words coach line, and the project's past runs. Training runs on the engine's worker;
//! this screen only drains its events.

use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use eframe::egui::{self, RichText};

use super::app::{AppCommand, Screen, Shared};
use super::document::Command;
use super::widgets;
use crate::engine::{
    self, BatchProgress, CancelToken, EpochMetrics, EventSink, Level, RunOutcome, TrainEvent,
};
use crate::model::{CheckedGraph, GraphError};
use crate::project::{DeviceChoice, LossKind, OptimizerKind, Task, TrainingSettings};
use crate::workflow;

mod runs_table;

struct ActiveRun {
    rx: Receiver<TrainEvent>,
    cancel: CancelToken,
    handle: Option<std::thread::JoinHandle<RunOutcome>>,
}

/// How the last run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEnd {
    /// All epochs (or early stopping).
    Finished(String),
    /// Stopped by the user.
    Stopped(String),
    /// Failed, with the reason.
    Failed(String),
}

/// The Train screen's own state: the run it started (a worker and its events), the curves, the
/// project's past runs as last listed.
#[derive(Default)]
pub struct TrainScreen {
    /// Training an image generator (a GAN project).
    pub gan: super::gan_view::GanTrainer,
    active: Option<ActiveRun>,
    paused: bool,
    /// Epochs of the current (or last) run.
    pub history: Vec<EpochMetrics>,
    /// Progress inside the running epoch.
    pub live: Option<BatchProgress>,
    /// Total epochs planned for the current run.
    pub epochs_planned: usize,
    /// The device used and why.
    pub device: Option<String>,
    /// The run's folder.
    pub run_dir: Option<PathBuf>,
    /// How the last run ended.
    pub end: Option<RunEnd>,
    /// Warnings of the current run.
    pub warnings: Vec<(Level, String)>,
    /// Which past run's curves are shown (None = the current run).
    pub shown_run: Option<PathBuf>,
    /// What each device choice resolves to, asked once: probing a GPU opens a driver context,
    /// far too slow to repeat every frame.
    device_hints: Vec<(DeviceChoice, String)>,
    /// Free system memory and when it was read (re-read every few seconds, not every frame).
    free_memory: Option<(std::time::Instant, Option<u64>)>,
    /// A run trained elsewhere being added (its data is imported again for the classes).
    import_job: Option<super::jobs::Job<PathBuf>>,
    /// The run whose curves are drawn dashed over the shown ones.
    pub compare_run: Option<PathBuf>,
    /// Automatic training going on, and its latest line.
    auto_job: Option<super::jobs::Job<workflow::auto::AutoOutcome>>,
    auto_line: std::sync::Arc<std::sync::Mutex<String>>,
    /// The candidate in training and its epochs so far, for the curves.
    auto_epochs: std::sync::Arc<std::sync::Mutex<(String, Vec<EpochMetrics>)>>,
    /// What the last automatic training found, in a few lines.
    pub auto_summary: Option<String>,
    /// Minutes automatic training may take.
    auto_minutes: Option<f64>,
    /// How the runs table is sorted.
    sort: workflow::runs_table::SortBy,
}

impl TrainScreen {
    /// Whether a run (or automatic training) is going on (also while paused).
    pub fn is_running(&self) -> bool {
        self.active.is_some() || self.auto_job.is_some()
    }

    /// Stops the run, if any.
    pub fn stop(&mut self, reason: &str) {
        if let Some(run) = &self.active {
            run.cancel.set_paused(false);
            run.cancel.cancel(reason);
        }
    }

    /// The device a run with `choice` would use, and why (e.g. "CPU (2 threads) — this build has
    /// no GPU support").
    pub fn device_hint(&mut self, choice: DeviceChoice) -> String {
        if let Some((_, hint)) = self.device_hints.iter().find(|(c, _)| *c == choice) {
            return hint.clone();
        }
        let (_, hint) = engine::select_device(choice);
        self.device_hints.push((choice, hint.clone()));
        hint
    }

    /// Free system memory, read at most every 5 seconds.
    fn free_memory(&mut self) -> Option<u64> {
        match self.free_memory {
            Some((at, free)) if at.elapsed().as_secs() < 5 => free,
            _ => {
                let free = engine::available_memory();
                self.free_memory = Some((std::time::Instant::now(), free));
                free
            }
        }
    }
}

/// Sends training events to the UI and wakes it.
struct UiSink {
    tx: crossbeam_channel::Sender<TrainEvent>,
    ctx: egui::Context,
}

impl EventSink for UiSink {
    fn emit(&self, event: TrainEvent) {
        let _ = self.tx.send(event);
        self.ctx.request_repaint();
    }
}

impl TrainScreen {
    /// Starts training the open project on its imported data (which the app has made current).
    pub fn start(&mut self, cx: &mut Shared) {
        self.start_run(cx, None);
    }

    /// Starts a new run, or continues the interrupted run given (folder and state).
    pub fn start_run(
        &mut self,
        cx: &mut Shared,
        resume: Option<(PathBuf, engine::resume::Interrupted)>,
    ) {
        if self.is_running() {
            return;
        }
        let (Some(doc), Some(data)) = (cx.doc(), cx.data()) else {
            return;
        };
        let Some(path) = doc.path.clone() else {
            cx.error("Save the project first (Ctrl+S): runs are stored next to it.");
            return;
        };
        if let Err(errors) = doc.project.model.validate() {
            let list: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            cx.error(format!(
                "The model cannot be trained yet: {}",
                list.join(" ")
            ));
            return;
        }
        let (project, resume_dir) = match resume {
            Some((dir, run)) => (engine::resume_project(&doc.project, &run), Some(dir)),
            None => (doc.project.clone(), None),
        };
        let resuming = resume_dir.is_some();
        let prepared = data.prepared.clone();
        let ctx = cx.waker();
        let (tx, rx) = crossbeam_channel::unbounded();
        let cancel = CancelToken::new();
        let sink = Box::new(UiSink { tx, ctx });
        match engine::resume_in_background(
            project.clone(),
            path,
            resume_dir,
            prepared,
            sink,
            cancel.clone(),
        ) {
            Ok(handle) => {
                self.active = Some(ActiveRun {
                    rx,
                    cancel,
                    handle: Some(handle),
                });
                self.paused = false;
                self.history.clear();
                self.live = None;
                self.end = None;
                self.warnings.clear();
                self.shown_run = None;
                self.epochs_planned = project.training.epochs;
                cx.info(if resuming {
                    "Training resumed"
                } else {
                    "Training started"
                });
            }
            Err(e) => cx.error(format!("Could not start training: {e}")),
        }
    }

    /// Takes in the running training's events; when the run has ended, how.
    pub fn poll(&mut self, cx: &mut Shared) -> Option<RunEnd> {
        let task = cx
            .data()
            .map_or(Task::Classify, |d| d.prepared.dataset.task());
        let run = self.active.as_mut()?;
        let mut ended = false;
        while let Ok(event) = run.rx.try_recv() {
            match event {
                TrainEvent::Started {
                    device,
                    run_dir,
                    epochs,
                    ..
                } => {
                    self.device = Some(device);
                    self.run_dir = Some(run_dir);
                    self.epochs_planned = epochs;
                }
                TrainEvent::Batch(progress) => self.live = Some(progress),
                TrainEvent::Epoch(m) => self.history.push(m),
                TrainEvent::Checkpoint { .. } => {}
                TrainEvent::Warning { level, message } => self.warnings.push((level, message)),
                TrainEvent::Finished {
                    best_epoch,
                    best_accuracy,
                    epochs_run,
                    ..
                } => {
                    let text = workflow::finish_line(epochs_run, best_epoch, best_accuracy, task);
                    self.end = Some(RunEnd::Finished(text));
                    ended = true;
                }
                TrainEvent::Failed { message } => {
                    self.end = Some(RunEnd::Failed(message));
                    ended = true;
                }
                TrainEvent::Cancelled { message } => {
                    let text =
                        format!("Training stopped ({message}); the best weights so far are kept, and Resume in the list of runs continues from the last finished epoch.");
                    self.end = Some(RunEnd::Stopped(text));
                    ended = true;
                }
            }
        }
        if !ended {
            return None;
        }
        if let Some(mut run) = self.active.take() {
            if let Some(handle) = run.handle.take() {
                let _ = handle.join();
            }
        }
        self.live = None;
        self.end.clone()
    }

    /// Draws the Train screen.
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        let Some(doc) = cx.doc() else { return };
        let mut settings = doc.project.training.clone();
        let before = settings.clone();
        let running = self.is_running() || self.gan.is_running();
        let generating = doc.project.generator.is_some();
        let hint = self.device_hint(settings.device);
        // Checked once per frame; the memory note and the Start button both use it.
        let checked = doc.project.model.validate();
        let memory = checked
            .as_ref()
            .ok()
            .and_then(|c| self.memory_note(cx, &settings, c));
        let problems = checked.err().unwrap_or_default();
        egui::Panel::left("train-settings")
            .resizable(true)
            .default_size(290.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    ui.add_enabled_ui(!running, |ui| {
                        training_settings_ui(ui, &mut settings, &hint, generating);
                        match &memory {
                            Some((text, true)) => {
                                ui.colored_label(ui.visuals().warn_fg_color, text);
                            }
                            Some((text, false)) => {
                                ui.weak(text);
                            }
                            None => {}
                        }
                    });
                    if running {
                        ui.weak("Settings can be changed when the run has ended.");
                    }
                });
            });
        let planned = settings.epochs;
        if settings != before {
            cx.edit(Command::SetTraining(settings));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                if generating {
                    self.gan.ui(ui, cx, planned);
                } else {
                    self.train_view_ui(ui, cx, &problems);
                }
            });
        });
    }

    /// What a run with `settings` will need in memory, and whether that is a warning (the run
    /// will not fit in the free memory).
    fn memory_note(
        &mut self,
        cx: &Shared,
        settings: &TrainingSettings,
        checked: &CheckedGraph,
    ) -> Option<(String, bool)> {
        let project = cx.project()?;
        let data_bytes = cx.data().map_or(0, |d| d.prepared.dataset.stored_bytes());
        // Training clamps the batch to the training samples (all rows per step).
        let train_samples = cx
            .data()
            .map_or(usize::MAX, |d| d.prepared.split.train.len());
        let batch = settings.batch_size.clamp(1, train_samples.max(1));
        let estimate = engine::MemoryEstimate::new(
            &project.model,
            checked,
            batch,
            settings.optimizer,
            data_bytes,
            // Without data yet: as if validation took many batches.
            cx.data().map_or(usize::MAX, |d| d.prepared.split.val.len()),
        );
        let free = self.free_memory();
        Some(match estimate.warning(free, batch) {
            Some(warning) => (format!("Memory warning: {warning}."), true),
            None => (format!("Memory: {}.", estimate.describe()), false),
        })
    }

    fn train_view_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared, problems: &[GraphError]) {
        // A single run's controls and progress; automatic training shows its own line.
        let running = self.active.is_some();
        ui.horizontal(|ui| {
            if !running {
                let ready = problems.is_empty() && self.auto_job.is_none();
                let start = ui
                    .add_enabled(
                        ready,
                        egui::Button::new(RichText::new("▶ Start training").size(16.0)),
                    )
                    .on_hover_text("Start a new run (Ctrl+T)")
                    .on_disabled_hover_text("Fix the model first (see below)");
                if start.clicked() {
                    cx.send(AppCommand::StartTraining);
                }
                self.auto_button(ui, cx, ready);
            } else {
                if self.paused {
                    if ui.button("▶ Resume").clicked() {
                        self.paused = false;
                        if let Some(run) = &self.active {
                            run.cancel.set_paused(false);
                        }
                    }
                } else if ui.button("⏸ Pause").clicked() {
                    self.paused = true;
                    if let Some(run) = &self.active {
                        run.cancel.set_paused(true);
                    }
                }
                if ui
                    .button("⏹ Stop")
                    .on_hover_text("Stop now; the best weights so far are kept")
                    .clicked()
                {
                    self.stop("stopped by the user");
                }
            }
            if let Some(device) = &self.device {
                ui.weak(format!("Device: {device}"));
            } else {
                let choice = cx
                    .project()
                    .map_or(DeviceChoice::Auto, |p| p.training.device);
                ui.weak(format!("Device: {}", self.device_hint(choice)));
            }
        });
        if !problems.is_empty() {
            ui.colored_label(
                ui.visuals().error_fg_color,
                "The model cannot be trained yet:",
            );
            for p in problems {
                ui.colored_label(ui.visuals().error_fg_color, format!("• {}", p.message));
            }
            if ui.button("Go to the Model screen").clicked() {
                cx.send(AppCommand::Show(Screen::Model));
            }
        }
        if let Some((message, fixes)) = super::model_screen::data_mismatch(cx) {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().warn_fg_color, message);
                if ui.button("Fit the model to the data").clicked() {
                    cx.edit_all(fixes);
                }
            });
        }
        if cx.importing().is_some_and(|i| i.then.train) {
            ui.label("Importing the data; training starts when the import is done…");
        }

        // Progress.
        if running {
            let planned = self.epochs_planned.max(1);
            match &self.live {
                Some(p) => {
                    let done = (p.epoch - 1) as f32 + p.batch as f32 / p.batches.max(1) as f32;
                    ui.add(egui::ProgressBar::new(done / planned as f32).text(format!(
                        "epoch {} of {planned} — batch {}/{} — {:.0} samples/s — about {} left{}",
                        p.epoch,
                        p.batch,
                        p.batches,
                        p.samples_per_sec,
                        format_secs(p.eta_secs),
                        if self.paused { " (paused)" } else { "" }
                    )));
                    let task = cx
                        .data()
                        .map_or(Task::Classify, |d| d.prepared.dataset.task());
                    ui.label(format!(
                        "This epoch so far: loss {:.4}, {} {}",
                        p.loss,
                        task.score_name(),
                        task.format_score(p.accuracy)
                    ));
                }
                None => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Preparing the first batch…");
                    });
                }
            }
        }
        if let Some(e) = self.history.last().and_then(|m| m.epsilon) {
            ui.label(format!(
                "Privacy spent so far: ε = {e:.2} (differential privacy; the smaller, the better protected each example is)"
            ));
        }
        match &self.end {
            Some(RunEnd::Finished(text)) => {
                ui.label(RichText::new(text).color(egui::Color32::from_rgb(60, 170, 90)));
                if ui.button("Evaluate this model").clicked() {
                    cx.send(AppCommand::Show(Screen::Evaluate));
                }
            }
            Some(RunEnd::Stopped(text)) => {
                ui.label(text);
            }
            Some(RunEnd::Failed(text)) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Training failed: {text}"),
                );
            }
            None => {}
        }
        for (level, message) in &self.warnings {
            match level {
                Level::Note => {
                    ui.label(format!("Note: {message}"));
                }
                Level::Warning => {
                    ui.colored_label(ui.visuals().warn_fg_color, message);
                }
            }
        }

        self.auto_ui(ui);

        // Curves.
        ui.add_space(6.0);
        let auto_curves = self
            .auto_job
            .as_ref()
            .and_then(|_| self.auto_epochs.lock().ok().map(|e| e.clone()));
        let (history, title) = match (&self.shown_run, auto_curves) {
            (None, Some((name, epochs))) => (
                epochs,
                format!("Curves of the candidate in training: {name}"),
            ),
            (Some(dir), _) => (
                cx.runs()
                    .iter()
                    .find(|r| r.dir == *dir)
                    .map(|r| r.history.clone())
                    .unwrap_or_default(),
                format!(
                    "Curves of {}",
                    dir.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
            ),
            // Nothing trained in this session yet (a project just opened, or trained from the
            // command line): the model's own curves rather than an empty plot.
            (None, None) => match (self.history.is_empty() && self.live.is_none())
                .then(|| cx.newest_model_run())
                .flatten()
                .and_then(|dir| cx.runs().iter().find(|r| r.dir == dir))
            {
                Some(run) => (
                    run.history.clone(),
                    format!(
                        "Curves of {} (the model)",
                        run.dir
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ),
                ),
                None => (self.history.clone(), "Curves of this run".to_owned()),
            },
        };
        ui.strong(title);
        let live = self
            .live
            .as_ref()
            .filter(|_| self.shown_run.is_none())
            .map(|p| {
                (
                    (p.epoch - 1) as f64 + p.batch as f64 / p.batches.max(1) as f64,
                    p.loss,
                )
            });
        if history.is_empty() && live.is_none() {
            ui.weak("Press Start: the loss (how wrong the model is) and accuracy appear here after each step, for training and validation examples.");
        }
        let task = cx
            .data()
            .map_or(Task::Classify, |d| d.prepared.dataset.task());
        let compared = self.compare_run.as_ref().and_then(|dir| {
            cx.runs()
                .iter()
                .find(|r| r.dir == *dir)
                .map(|r| (r.manifest.run_id.clone(), r.history.clone()))
        });
        widgets::curves_ui(
            ui,
            "train",
            &history,
            live,
            task,
            220.0,
            compared
                .as_ref()
                .map(|(name, epochs)| (name.as_str(), epochs.as_slice())),
        );
        if let Some((name, _)) = &compared {
            ui.horizontal(|ui| {
                ui.weak(format!("Dashed: run {name}."));
                if ui.small_button("Stop comparing").clicked() {
                    self.compare_run = None;
                }
            });
        }
        if let Some(line) = workflow::coach_line(&history, task) {
            ui.label(RichText::new(format!("Coach: {line}")).italics());
        }

        // Past runs.
        ui.add_space(8.0);
        ui.strong("Runs of this project");
        if cx.runs().is_empty() {
            ui.weak("No runs yet.");
        } else {
            self.runs_table(ui, cx);
        }
        if self.shown_run.is_some() && ui.button("Back to this run's curves").clicked() {
            self.shown_run = None;
        }
        ui.add_space(4.0);
        if let Some(job) = &self.import_job {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Adding the run… ({:.0}s)", job.elapsed_secs()));
            });
        } else if ui
            .add_enabled(!self.is_running(), egui::Button::new("Add a run trained elsewhere…"))
            .on_hover_text("A weights file (.safetensors) of this model trained on another machine, with the layer names of the editor (conv1.weight, …), becomes a run you can evaluate, use and export")
            .clicked()
        {
            if let Some(file) = rfd::FileDialog::new()
                .set_title("Weights trained elsewhere")
                .add_filter("Weights", &["safetensors"])
                .pick_file()
            {
                self.import_run(cx, file);
            }
        }
    }

    /// "Train automatically" with its time budget, or the search's progress and Stop.
    fn auto_button(&mut self, ui: &mut egui::Ui, cx: &mut Shared, ready: bool) {
        let can = ready && cx.data_is_current();
        if ui
            .add_enabled(can, egui::Button::new("Train automatically"))
            .on_hover_text("Tries a few models, learning rates and settings for this kind of data side by side, stops the ones that fall behind, and keeps the best by validation score as the project's model. Every candidate stays in the runs list; its settings become the project's, to change as you like.")
            .on_disabled_hover_text("Import the data first (Data screen) and fix the model")
            .clicked()
        {
            self.start_auto(cx);
        }
        let minutes = self.auto_minutes.get_or_insert(5.0);
        ui.add(
            egui::DragValue::new(minutes)
                .range(0.5..=240.0)
                .speed(0.5)
                .suffix(" min"),
        )
        .on_hover_text("The longest automatic training may take");
    }

    /// Starts automatic training on the imported data, on a worker.
    pub fn start_auto(&mut self, cx: &mut Shared) {
        let (Some(project), Some(path), Some(data)) = (
            cx.project().cloned(),
            cx.project_path().map(Path::to_path_buf),
            cx.data().map(|d| d.prepared.clone()),
        ) else {
            return;
        };
        let budget = std::time::Duration::from_secs_f64(self.auto_minutes.unwrap_or(5.0) * 60.0);
        let line = self.auto_line.clone();
        let curves = self.auto_epochs.clone();
        self.auto_summary = None;
        self.shown_run = None;
        let ctx = cx.waker();
        self.auto_job = Some(super::jobs::Job::spawn(
            "Training automatically",
            &ctx,
            move |job| {
                let report = |event: workflow::auto::AutoEvent| {
                    use workflow::auto::AutoEvent;
                    let text = match event {
                        AutoEvent::Training {
                            round,
                            name,
                            epochs,
                        } => {
                            job.progress(round.0 - 1, round.1);
                            if let Ok(mut c) = curves.lock() {
                                *c = (name.clone(), Vec::new());
                            }
                            format!(
                                "Round {} of {}: {name}, up to epoch {epochs}",
                                round.0, round.1
                            )
                        }
                        AutoEvent::Epoch { name, metrics } => {
                            let text = format!(
                                "{name}: epoch {}, validation loss {}",
                                metrics.epoch,
                                metrics
                                    .val_loss
                                    .map_or_else(|| "—".to_owned(), |l| format!("{l:.4}"))
                            );
                            if let Ok(mut c) = curves.lock() {
                                c.1.push(metrics);
                            }
                            text
                        }
                        AutoEvent::RoundDone { round, kept } => {
                            format!("After round {round}, going on with: {}", kept.join("; "))
                        }
                        AutoEvent::CrossValidating { name, fold } => {
                            format!("{name}: cross-validation, fold {} of {}", fold.0, fold.1)
                        }
                        AutoEvent::Retraining { name, epochs } => {
                            if let Ok(mut c) = curves.lock() {
                                *c = (name.clone(), Vec::new());
                            }
                            format!("The winner once more for {epochs} epochs, learning from the validation samples too")
                        }
                    };
                    if let Ok(mut l) = line.lock() {
                        *l = text;
                    }
                };
                workflow::auto::train_automatically(
                    &path,
                    &project,
                    &data,
                    budget,
                    &report,
                    &job.cancel,
                )
            },
        ));
    }

    /// The search's progress line and Stop button while it runs, its summary after.
    fn auto_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(job) = &self.auto_job {
            ui.horizontal(|ui| {
                ui.spinner();
                let line = self.auto_line.lock().map(|l| l.clone()).unwrap_or_default();
                ui.label(format!(
                    "Training automatically ({:.0}s): {line}",
                    job.elapsed_secs()
                ));
                if ui.button("⏹ Stop").clicked() {
                    job.cancel();
                }
            });
        } else if let Some(summary) = &self.auto_summary {
            ui.label(summary);
        }
    }

    /// Takes in the end of automatic training: the winner's model, settings and run become the
    /// project's; the runs list shows every candidate.
    pub fn poll_auto(&mut self, cx: &mut Shared) -> bool {
        let Some(result) = self.auto_job.as_mut().and_then(|j| j.poll()) else {
            return false;
        };
        self.auto_job = None;
        cx.reload_runs();
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                cx.error(format!("Automatic training ended without a result: {e}"));
                return true;
            }
        };
        let Some(project) = cx.project().cloned() else {
            return true;
        };
        match workflow::auto::adopt_winner(&project, &outcome) {
            Ok(p) => {
                let winner = &outcome.candidates[outcome.winner];
                cx.edit(Command::ReplaceModel {
                    graph: p.model,
                    what: "the winner of automatic training".to_owned(),
                });
                cx.edit(Command::SetTraining(p.training));
                if p.data != project.data {
                    // The sentence encoder's winner reads the texts with its own tokenizer.
                    let reimport = p.data.source != project.data.source;
                    cx.edit(Command::SetData(p.data));
                    if reimport {
                        cx.send(AppCommand::StartImport(super::app::AfterImport::default()));
                    }
                }
                cx.edit(Command::SetModelRun(p.model_run));
                let task = cx
                    .data()
                    .map_or(Task::Classify, |d| d.prepared.dataset.task());
                let retrained = if outcome.retrained.is_some() {
                    ", trained once more learning from the validation samples too,"
                } else {
                    ""
                };
                let text = format!(
                    "Tried {} candidates in {:.0} s{}; the best, {} ({}){retrained} is the project's model now. Its model and settings are on the Model and Train screens; every candidate is in the runs list.",
                    outcome.candidates.len(),
                    outcome.seconds,
                    if outcome.over_budget { " (the time limit ended the search early)" } else { "" },
                    winner.name,
                    workflow::auto::score_words(task, winner)
                );
                cx.info(text.clone());
                self.auto_summary = Some(text);
            }
            Err(e) => cx.error(format!("Could not use the best candidate: {e}")),
        }
        true
    }

    /// Adds a run from `weights` (trained elsewhere) on a worker.
    pub fn import_run(&mut self, cx: &Shared, weights: PathBuf) {
        let (Some(project), Some(path)) = (cx.project().cloned(), cx.project_path()) else {
            return;
        };
        let path = path.to_owned();
        let ctx = cx.waker();
        self.import_job = Some(super::jobs::Job::spawn("Adding a run", &ctx, move |job| {
            let progress = |done: usize, total: usize| job.progress(done, total);
            workflow::import_run(
                &path,
                &project,
                &weights,
                Some(job.cancel.flag()),
                Some(&progress),
            )
        }));
    }

    /// Takes in a finished import of a run: the runs list shows it, Evaluate and Use use it.
    pub fn poll_import(&mut self, cx: &mut Shared) -> bool {
        let Some(result) = self.import_job.as_mut().and_then(|j| j.poll()) else {
            return false;
        };
        self.import_job = None;
        match result {
            Ok(dir) => {
                cx.reload_runs();
                cx.info(format!(
                    "Added the run {} trained elsewhere; Evaluate and Use work on it now",
                    dir.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                ));
                true
            }
            Err(e) => {
                cx.error(format!("Could not add the run: {e}"));
                false
            }
        }
    }
}

fn format_secs(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".to_owned();
    }
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn optimizer_label(kind: OptimizerKind) -> &'static str {
    match kind {
        OptimizerKind::Sgd => "SGD",
        OptimizerKind::Momentum => "SGD + momentum",
        OptimizerKind::Adam => "Adam",
        OptimizerKind::AdamW => "AdamW",
    }
}

/// The settings column; an image generator's has no loss choice (always binary cross-entropy)
/// and no privacy option (not available for generators yet).
fn training_settings_ui(
    ui: &mut egui::Ui,
    t: &mut TrainingSettings,
    device_hint: &str,
    generating: bool,
) {
    ui.heading("How to learn");
    egui::Grid::new("train-settings-grid").num_columns(2).show(ui, |ui| {
        ui.label("Optimizer").on_hover_text("How the weights are changed after each batch (gradient descent). Adam adapts the step size per weight and is the safe default.");
        egui::ComboBox::from_id_salt("optimizer")
            .selected_text(optimizer_label(t.optimizer))
            .show_ui(ui, |ui| {
                for k in [OptimizerKind::Sgd, OptimizerKind::Momentum, OptimizerKind::Adam, OptimizerKind::AdamW] {
                    ui.selectable_value(&mut t.optimizer, k, optimizer_label(k));
                }
            });
        ui.end_row();
        ui.label("Learning rate").on_hover_text("Size of each step. Too large and the loss jumps or becomes NaN; too small and learning crawls. 0.001 suits Adam, 0.01–0.1 suits SGD.");
        ui.add(egui::DragValue::new(&mut t.lr).range(1e-6..=1.0).speed(0.0001).max_decimals(6));
        ui.end_row();
        if !generating {
            ui.label("");
            ui.checkbox(&mut t.lr_decay, "Lower it over the epochs").on_hover_text("The learning rate falls along a half cosine: the full rate in the first epoch, almost zero in the last, so the weights settle at the end instead of jittering around the best point. Helps small models and tables; set the epochs to the length you want, since the decay follows them.");
            ui.end_row();
        }
        ui.label("Batch size").on_hover_text("Images per step. 1 = per-sample SGD; the whole training set = full-batch gradient descent; 16–128 = mini-batch, the usual choice.");
        ui.add(egui::DragValue::new(&mut t.batch_size).range(1..=100_000));
        ui.end_row();
        ui.label("Epochs").on_hover_text("Passes over all training examples.");
        ui.add(egui::DragValue::new(&mut t.epochs).range(1..=10_000));
        ui.end_row();
        if generating {
            ui.label("Loss");
            ui.label("Binary cross-entropy").on_hover_text("The discriminator learns real vs generated; the generator learns to be taken for real.");
            ui.end_row();
            return;
        }
        ui.label("Loss").on_hover_text("What the model minimises. Cross-entropy is the standard for classes; MSE (mean squared error) also works and is what regression uses.");
        egui::ComboBox::from_id_salt("loss")
            .selected_text(loss_label(t.loss))
            .show_ui(ui, |ui| {
                for k in [LossKind::CrossEntropy, LossKind::Mse, LossKind::BinaryCrossEntropy] {
                    ui.selectable_value(&mut t.loss, k, loss_label(k));
                }
            });
        ui.end_row();
    });
    ui.separator();
    ui.heading("Against overfitting");
    egui::Grid::new("regularization-grid").num_columns(2).show(ui, |ui| {
        ui.label("L2 penalty").on_hover_text("Pulls weights towards zero so no single weight dominates (weight decay). Try 0.0001–0.001.");
        ui.add(egui::DragValue::new(&mut t.l2).range(0.0..=1.0).speed(0.0001).max_decimals(6));
        ui.end_row();
        ui.label("L1 penalty").on_hover_text("Pushes unimportant weights to exactly zero. Try 0.00001–0.0001.");
        ui.add(egui::DragValue::new(&mut t.l1).range(0.0..=1.0).speed(0.00001).max_decimals(6));
        ui.end_row();
        let mut early = t.early_stopping_patience.is_some();
        ui.checkbox(&mut early, "Early stopping").on_hover_text("Stop when the validation loss has not improved for this many epochs.");
        if early {
            let mut patience = t.early_stopping_patience.unwrap_or(3);
            ui.add(egui::DragValue::new(&mut patience).range(1..=100).suffix(" epochs"));
            t.early_stopping_patience = Some(patience);
        } else {
            t.early_stopping_patience = None;
            ui.label("");
        }
        ui.end_row();
    });
    ui.weak("Dropout is a layer: add it between layers on the Model screen.");
    if !generating {
        ui.checkbox(&mut t.learn_from_validation, "Also learn from the validation samples").on_hover_text("For the final model, once the settings are chosen: the validation samples join the training ones (more to learn from), so there is no validation curve or early stopping and the last epoch is kept. The test samples stay held back. Automatic training does this with its winner.");
        if t.learn_from_validation {
            ui.weak("No validation curve: overfitting cannot be seen in this run; the test score on Evaluate is the check.");
        }
    }
    ui.separator();
    if !generating {
        privacy_settings_ui(ui, t);
        ui.separator();
    }
    ui.heading("Repeatability and device");
    egui::Grid::new("device-grid").num_columns(2).show(ui, |ui| {
        ui.label("Seed").on_hover_text("The same seed gives the same starting weights, shuffling and dropout, so a run can be repeated exactly.");
        ui.add(egui::DragValue::new(&mut t.seed));
        ui.end_row();
        ui.label("Device");
        egui::ComboBox::from_id_salt("device")
            .selected_text(device_label(t.device))
            .show_ui(ui, |ui| {
                for d in [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda, DeviceChoice::Metal] {
                    ui.selectable_value(&mut t.device, d, device_label(d));
                }
            });
        ui.end_row();
    });
    ui.weak(format!("Will use: {device_hint}"));
}

/// "Protect individual examples": differential privacy's budget or noise, clipping norm and δ.
fn privacy_settings_ui(ui: &mut egui::Ui, t: &mut TrainingSettings) {
    ui.heading("Privacy");
    let mut protect = t.privacy.is_some();
    ui.checkbox(&mut protect, "Protect individual examples").on_hover_text("Differential privacy (DP-SGD): each example's influence on the model is limited (its gradient clipped) and hidden by random noise, so the model reveals little about any one person in the data. Costs accuracy and training time; layers that share statistics between examples (BatchNorm) cannot be used.");
    if !protect {
        t.privacy = None;
        return;
    }
    let p = t.privacy.get_or_insert_with(Default::default);
    egui::Grid::new("privacy-grid").num_columns(2).show(ui, |ui| {
        let mut by_target = p.noise_multiplier.is_none();
        ui.label("Set by");
        ui.horizontal(|ui| {
            ui.radio_value(&mut by_target, true, "privacy budget ε")
                .on_hover_text("Strata picks the noise that keeps ε within this budget after all epochs. Smaller ε = stronger protection, more noise. 1–10 is usual.");
            ui.radio_value(&mut by_target, false, "noise σ")
                .on_hover_text("The noise's size relative to the clipping norm; ε follows from it and is shown while training.");
        });
        ui.end_row();
        if by_target {
            let mut eps = p.target_epsilon.unwrap_or(3.0);
            ui.label("Privacy budget ε");
            ui.add(egui::DragValue::new(&mut eps).range(0.05..=100.0).speed(0.05).max_decimals(2));
            p.target_epsilon = Some(eps);
            p.noise_multiplier = None;
        } else {
            let mut sigma = p.noise_multiplier.unwrap_or(1.0);
            ui.label("Noise σ");
            ui.add(egui::DragValue::new(&mut sigma).range(0.1..=100.0).speed(0.01).max_decimals(2));
            p.noise_multiplier = Some(sigma);
        }
        ui.end_row();
        ui.label("Clipping norm").on_hover_text("Each example's gradient is scaled down to at most this length. 1 is a usual start.");
        ui.add(egui::DragValue::new(&mut p.clip_norm).range(0.001..=100.0).speed(0.01).max_decimals(3));
        ui.end_row();
        let mut auto_delta = p.delta.is_none();
        ui.checkbox(&mut auto_delta, "δ = 1 / training examples").on_hover_text("δ is the small chance the guarantee does not hold; it should be below 1 / the number of examples.");
        if auto_delta {
            p.delta = None;
            ui.label("");
        } else {
            let mut delta = p.delta.unwrap_or(1e-5);
            ui.add(egui::DragValue::new(&mut delta).range(1e-12..=0.1).speed(1e-6).max_decimals(10));
            p.delta = Some(delta);
        }
        ui.end_row();
    });
    ui.weak("ε comes from a Rényi-DP accountant with the tighter conversion of Balle et al. (2020), as in Opacus; batches are drawn by Poisson sampling as it assumes.");
}

fn loss_label(kind: LossKind) -> &'static str {
    match kind {
        LossKind::CrossEntropy => "Cross-entropy",
        LossKind::Mse => "Mean squared error (MSE)",
        LossKind::BinaryCrossEntropy => "Binary cross-entropy",
    }
}

fn device_label(d: DeviceChoice) -> &'static str {
    match d {
        DeviceChoice::Auto => "Automatic (fastest found)",
        DeviceChoice::Cpu => "CPU",
        DeviceChoice::Cuda => "CUDA GPU",
        DeviceChoice::Metal => "Metal GPU (Mac)",
    }
}
