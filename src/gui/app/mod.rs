//! The app: the screens, what they share ([`Shared`]), the status bar, keyboard shortcuts, the
//! "unsaved changes" prompt and the frame loop. Each screen owns its state in its own file and
//! draws itself with `ui(&mut self, ui, cx)`; it changes the project through document
//! [`Command`]s and asks for the rest with [`AppCommand`]s. Both queues are drained once per frame
//! here, in `handling.rs`; every `impl StrataApp` lives in this module.

mod chrome;
mod handling;
mod shared;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use eframe::egui;
use serde::{Deserialize, Serialize};

pub use shared::{AfterImport, AppCommand, ImportJob, Shared, TemplateChoice};

use super::data_screen::DataScreen;
use super::document::Command;
use super::evaluate_screen::EvaluateScreen;
use super::model_screen::ModelScreen;
use super::train_screen::TrainScreen;
use super::use_screen::UseScreen;
use super::welcome::WelcomeScreen;
use crate::data::ImportReport;
use crate::engine::PreparedData;
use crate::project::{DataSettings, Project};

/// The five screens of a project, left to right, plus the start page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Screen {
    /// Start page: new, open, recent, sample.
    Welcome,
    /// Import and inspect the data.
    Data,
    /// The layer editor.
    Model,
    /// Settings and live curves.
    Train,
    /// Metrics and the confusion matrix.
    Evaluate,
    /// Predict new files.
    Use,
}

impl Screen {
    /// The project screens in workflow order.
    pub const STEPS: [Screen; 5] = [
        Screen::Data,
        Screen::Model,
        Screen::Train,
        Screen::Evaluate,
        Screen::Use,
    ];

    /// Tab label.
    pub fn label(self) -> &'static str {
        match self {
            Screen::Welcome => "Start",
            Screen::Data => "1 Data",
            Screen::Model => "2 Model",
            Screen::Train => "3 Train",
            Screen::Evaluate => "4 Evaluate",
            Screen::Use => "5 Use",
        }
    }
}

/// What the app remembers between sessions (eframe storage).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Recently opened projects, newest first.
    pub recent: Vec<PathBuf>,
    /// Save the project automatically a few seconds after each change.
    pub autosave: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            recent: Vec::new(),
            autosave: true,
        }
    }
}

/// Key under which [`Settings`] are stored.
pub(super) const SETTINGS_KEY: &str = "strata-settings";
/// Recent projects kept.
pub(super) const RECENT_MAX: usize = 8;
/// Seconds after the last change before autosave writes.
pub(super) const AUTOSAVE_DELAY_SECS: f32 = 3.0;

/// A message in the status bar.
#[derive(Clone, Debug)]
pub struct Status {
    /// One line.
    pub text: String,
    /// Whether it reports a problem.
    pub is_error: bool,
    /// More detail, shown on demand.
    pub details: Option<String>,
}

/// Something that would lose unsaved changes, waiting for the user's answer.
#[derive(Clone, Debug)]
pub enum PendingAction {
    /// Open another project.
    Open(PathBuf),
    /// Go back to the start page (close the project).
    Close,
    /// Quit the app.
    Quit,
}

/// Imported data with the settings it was imported with.
pub struct LoadedData {
    /// Images and split.
    pub prepared: Arc<PreparedData>,
    /// What the import found.
    pub report: Arc<ImportReport>,
    /// Settings used for the import (and split).
    pub settings: DataSettings,
}

/// Frame timing, for the frame-statistics overlay and log.
#[derive(Default)]
pub struct FrameStats {
    last: Option<Instant>,
    /// Repaint continuously while training (set when frame statistics are recorded).
    pub continuous: bool,
    /// Frame intervals (seconds) while training was running.
    pub training_intervals: Vec<f32>,
    /// Seconds spent building each of those frames (the app's own UI code, before rendering).
    pub training_build_secs: Vec<f32>,
    /// Frame intervals (seconds) while nothing ran (measured only with continuous repaint).
    pub idle_intervals: Vec<f32>,
}

impl FrameStats {
    /// Forgets the last run's frames as a new run starts (the statistics are per run, and a
    /// long session must not keep every frame it ever drew); keeps the newest idle frames only.
    pub fn clear_training(&mut self) {
        const KEEP_IDLE: usize = 10_000;
        self.training_intervals.clear();
        self.training_build_secs.clear();
        let extra = self.idle_intervals.len().saturating_sub(KEEP_IDLE);
        self.idle_intervals.drain(..extra);
    }
}

/// The desktop app.
pub struct StrataApp {
    /// What every screen reads, and the queues they write to.
    cx: Shared,
    /// The screen shown.
    pub screen: Screen,
    welcome: WelcomeScreen,
    data_screen: DataScreen,
    model: ModelScreen,
    train: TrainScreen,
    evaluate: EvaluateScreen,
    use_: UseScreen,
    status: Option<Status>,
    show_status_details: bool,
    confirm: Option<PendingAction>,
    quit_confirmed: bool,
    frame_stats: FrameStats,
    show_about: bool,
    /// Measuring start-up: when the process started, and frames drawn so far.
    exit_after_first_frame: Option<(Instant, u32)>,
    /// The window title last sent.
    window_title: String,
    /// Where clips are played.
    sound: super::sound::SoundOutput,
}

impl StrataApp {
    /// The app with remembered settings (if any), optionally opening a project. `workspace` is
    /// where the sample project is copied to and new projects are suggested.
    pub fn new(storage: Option<&dyn eframe::Storage>, workspace: PathBuf) -> Self {
        let settings = storage
            .and_then(|s| eframe::get_value::<Settings>(s, SETTINGS_KEY))
            .unwrap_or_default();
        Self {
            cx: Shared::new(settings, workspace),
            screen: Screen::Welcome,
            welcome: WelcomeScreen::default(),
            data_screen: DataScreen::default(),
            model: ModelScreen::default(),
            train: TrainScreen::default(),
            evaluate: EvaluateScreen::default(),
            use_: UseScreen::default(),
            status: None,
            show_status_details: false,
            confirm: None,
            quit_confirmed: false,
            frame_stats: FrameStats {
                continuous: super::frame_stats_path().is_some(),
                ..FrameStats::default()
            },
            show_about: false,
            exit_after_first_frame: None,
            window_title: String::new(),
            sound: super::sound::SoundOutput::speakers(),
        }
    }

    /// Plays clips into nothing, recording them (tests; [`Self::played_clips`]).
    pub fn use_null_sound(&mut self) {
        self.sound = super::sound::SoundOutput::null();
    }

    /// The files played so far through the null sound output.
    pub fn played_clips(&self) -> Vec<PathBuf> {
        self.sound.played().iter().map(|p| p.path.clone()).collect()
    }

    /// Closes the window once the first frame has been drawn, printing the time since `started`.
    pub fn exit_after_first_frame(&mut self, started: Instant) {
        self.exit_after_first_frame = Some((started, 0));
    }

    /// Tells the user that the last session crashed and where its report is.
    pub fn report_previous_crash(&mut self, path: &Path, text: String) {
        self.status = Some(Status {
            text: format!(
                "Strata stopped unexpectedly last time. A report was saved at {} — please send it to us.",
                path.display()
            ),
            is_error: true,
            details: Some(text),
        });
    }

    /// The open project, if any.
    pub fn project(&self) -> Option<&Project> {
        self.cx.project()
    }

    /// The open project's file.
    pub fn project_path(&self) -> Option<&Path> {
        self.cx.project_path()
    }

    /// Whether the open project has unsaved changes.
    pub fn is_dirty(&self) -> bool {
        self.cx.doc.as_ref().is_some_and(|d| d.is_dirty())
    }

    /// The imported data, once the import has finished.
    pub fn data(&self) -> Option<&LoadedData> {
        self.cx.data()
    }

    /// The status line, if one is shown.
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    /// Queues an edit; it is applied at the end of the frame (the same path every widget uses).
    pub fn command(&mut self, command: Command) {
        self.cx.edit(command);
    }

    /// Whether new image and text projects start from a pretrained network (the start page's
    /// choice).
    pub fn transfer_learning(&self) -> bool {
        self.welcome.transfer_learning
    }

    /// Opens a project file right away and starts importing its data.
    pub fn open_project(&mut self, path: &Path) {
        self.open_now(path);
    }

    /// Starts a project from a folder of images (one sub-folder per class), clips or texts, or a
    /// CSV file, with the start page's transfer-learning choice.
    pub fn new_project_from_data(&mut self, data: &Path) {
        let transfer = self.welcome.transfer_learning;
        let generate = self.welcome.generate_images;
        self.new_project(data, transfer, generate);
    }

    /// Evaluates a run on other labelled data (a folder of class folders or a CSV file), as the
    /// Evaluate screen's "Evaluate on another folder…" does after its dialog.
    pub fn start_evaluation_on_other(&mut self, run_dir: PathBuf, data: PathBuf) {
        self.screen = Screen::Evaluate;
        self.evaluate
            .start_evaluation_on_other(&self.cx, run_dir, data);
    }

    /// Whether a training run is going on.
    pub fn is_training(&self) -> bool {
        self.train.is_running()
    }

    /// Epochs the Train screen's curves show (the current or last run).
    pub fn epochs_done(&self) -> usize {
        self.train.history.len()
    }

    /// How the last run ended (finished, stopped, failed), once it has.
    pub fn last_run_end(&self) -> Option<&super::train_screen::RunEnd> {
        self.train.end.as_ref()
    }

    /// The last evaluation shown on the Evaluate screen.
    pub fn evaluation(&self) -> Option<&crate::workflow::Evaluation> {
        self.evaluate.result.as_ref().map(|(_, e)| e.as_ref())
    }

    /// The explanation shown in the "Why?" window (Evaluate's or Use's, whichever has one).
    pub fn explanation(&self) -> Option<&crate::explain::Explanation> {
        self.evaluate
            .why
            .shown
            .as_ref()
            .or(self.use_.why.shown.as_ref())
    }

    /// The data check's last result on the Data screen.
    pub fn data_audit(&self) -> Option<&crate::audit::Audit> {
        self.data_screen.audit.result()
    }

    /// A table model's permutation importance shown on the Evaluate screen.
    pub fn column_importance(&self) -> Option<&[crate::explain::ColumnImportance]> {
        self.evaluate.importance.as_ref().map(|(_, r)| r.as_slice())
    }

    /// The last predictions shown on the Use screen.
    pub fn last_predictions(&self) -> Option<&crate::workflow::FilePredictions> {
        self.use_.last.as_ref()
    }

    /// Answers the next file dialog of the Use screen's export with `path`, as if the user had
    /// chosen it (the buttons then export without opening a dialog).
    pub fn answer_export_dialog(&mut self, path: PathBuf) {
        self.use_.dialog_answer = Some(path);
    }

    /// Adds a run from weights trained elsewhere, as the Train screen's "Add a run trained
    /// elsewhere…" does after its dialog.
    pub fn add_run_trained_elsewhere(&mut self, weights: PathBuf) {
        self.train.import_run(&self.cx, weights);
    }

    /// The project's runs, newest first, as the Train screen lists them.
    pub fn runs(&self) -> &[crate::engine::runs::RunSummary] {
        self.cx.runs()
    }

    /// The Use screen's line about the last export (with the ONNX check), once it has ended.
    pub fn last_export(&self) -> Option<&str> {
        self.use_.last_export.as_deref()
    }

    /// Epochs of the image generator's current (or last) run, with their numbers.
    pub fn gan_epochs(&self) -> &[crate::engine::gan::GanEpoch] {
        &self.train.gan.epochs
    }

    /// How the image generator's last run ended, once it has.
    pub fn gan_training_end(&self) -> Option<&str> {
        self.train.gan.end()
    }

    /// Whether the image generator is training.
    pub fn gan_is_training(&self) -> bool {
        self.train.gan.is_running()
    }

    /// Pictures `[N, C, H, W]` last drawn on the Use screen of an image generator.
    pub fn gan_drawn(&self) -> Option<&candle_core::Tensor> {
        self.use_.gan.drawn()
    }

    /// What saving the drawn pictures said.
    pub fn gan_message(&self) -> Option<&str> {
        self.use_.gan.message()
    }

    /// Answers the next "Save these pictures…" folder dialog with `folder` (tests, scripts).
    pub fn answer_gan_save_dialog(&mut self, folder: PathBuf) {
        self.use_.gan.answer = Some(folder);
    }

    /// Whether any background job (import, training, evaluation, prediction) is running.
    pub fn is_busy(&self) -> bool {
        self.cx.import.is_some()
            || self.data_screen.audit.is_running()
            || self.train.is_running()
            || self.evaluate.is_running()
            || self.use_.is_running()
    }

    /// Frame intervals recorded while training ran (seconds).
    pub fn training_frame_intervals(&self) -> &[f32] {
        &self.frame_stats.training_intervals
    }

    /// Draws one frame of the whole app (also what the tests drive).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let build_start = Instant::now();
        self.show_inner(ui);
        if self.train.is_running() {
            self.frame_stats
                .training_build_secs
                .push(build_start.elapsed().as_secs_f32());
        }
    }

    fn show_inner(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if let Some((started, frames)) = &mut self.exit_after_first_frame {
            // This call draws frame `frames + 1`; once it runs again, the first is on screen.
            *frames += 1;
            if *frames == 2 {
                println!(
                    "first frame after {:.1} ms",
                    started.elapsed().as_secs_f64() * 1e3
                );
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            } else {
                ctx.request_repaint();
            }
        }
        self.cx.ctx.get_or_insert_with(|| ctx.clone());
        self.track_frame();
        self.poll_jobs();
        self.shortcuts(&ctx);
        self.handle_dropped_files(&ctx);
        if ctx.input(|i| i.viewport().close_requested()) && self.is_dirty() && !self.quit_confirmed
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.confirm = Some(PendingAction::Quit);
        }
        self.update_title(&ctx);

        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status-bar").show(ui, |ui| self.status_bar_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            if self.cx.doc.is_none() {
                self.screen = Screen::Welcome;
            }
            self.cx.training = self.train.is_running();
            let cx = &mut self.cx;
            match self.screen {
                Screen::Welcome => self.welcome.ui(ui, cx),
                Screen::Data => self.data_screen.ui(ui, cx),
                Screen::Model => self.model.ui(ui, cx),
                Screen::Train => self.train.ui(ui, cx),
                Screen::Evaluate => self.evaluate.ui(ui, cx),
                Screen::Use => self.use_.ui(ui, cx),
            }
        });
        self.confirm_ui(&ctx);
        self.about_ui(&ctx);
        // Edits first, so a command sent with them (import, train) sees the edited project.
        self.apply_edits();
        self.handle_commands();
        self.resplit_if_needed();
        self.autosave();
        if self.frame_stats.continuous {
            // Measuring: draw as fast as possible so the intervals show what the UI can do.
            ctx.request_repaint();
        } else if self.train.is_running() || self.cx.import.is_some() || self.evaluate.is_running()
        {
            // Live curves and progress: keep drawing even between worker wake-ups.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// Writes the frame intervals measured while training to the file named by
    /// [`super::FRAME_STATS_ENV`], when set.
    fn write_frame_stats(&mut self) {
        if let Some(path) = super::frame_stats_path() {
            if let Err(e) = super::write_frame_stats(
                &path,
                &self.frame_stats.training_intervals,
                &self.frame_stats.training_build_secs,
                &self.frame_stats.idle_intervals,
            ) {
                self.error(format!(
                    "Could not write frame statistics to {}: {e}",
                    path.display()
                ));
            }
        }
    }
}

impl eframe::App for StrataApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.cx.settings);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.train.stop("the app was closed");
        self.write_frame_stats();
    }
}

/// Whether a file looks like a table Strata reads (by its extension).
pub(super) fn is_table_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["csv", "tsv", "txt"].contains(&e.to_ascii_lowercase().as_str()))
}
