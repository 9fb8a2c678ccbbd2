//! The app: state of the open project, the screens, background jobs, the status bar, keyboard
//! shortcuts and the "unsaved changes" prompt. Each screen lives in its own file as a
//! `*_ui(&mut self, ui)` method; edits go through [`Command`]s applied once per frame.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use eframe::egui;
use serde::{Deserialize, Serialize};

use super::document::{Command, Document};
use super::evaluate_screen::EvaluateState;
use super::jobs::Job;
use super::model_screen::ModelState;
use super::train_screen::TrainState;
use super::use_screen::UseState;
use crate::data::ImportReport;
use crate::engine::PreparedData;
use crate::model::{self, Graph};
use crate::project::{DataSettings, Project, Task, TrainingSettings};

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
const SETTINGS_KEY: &str = "strata-settings";
/// Recent projects kept.
const RECENT_MAX: usize = 8;
/// Seconds after the last change before autosave writes.
const AUTOSAVE_DELAY_SECS: f32 = 3.0;

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

/// The desktop app.
pub struct StrataApp {
    pub(super) settings: Settings,
    /// Where sample copies and new projects go by default.
    pub(super) workspace: PathBuf,
    pub(super) doc: Option<Document>,
    /// The screen shown.
    pub screen: Screen,
    pub(super) pending: Vec<Command>,
    pub(super) status: Option<Status>,
    pub(super) show_status_details: bool,
    pub(super) confirm: Option<PendingAction>,
    pub(super) quit_confirmed: bool,
    pub(super) import: Option<Job<LoadedData>>,
    pub(super) data: Option<LoadedData>,
    /// After the running import, start training.
    pub(super) train_after_import: bool,
    pub(super) thumbnails: super::widgets::Thumbnails,
    pub(super) preview_seed: u64,
    pub(super) preview_cache: Option<(String, Vec<egui::TextureHandle>)>,
    /// Import again once this frame's edits are applied.
    pub(super) reimport_after_commands: bool,
    pub(super) new_project_folder: String,
    /// New image and text projects start from a pretrained network (the start page's choice).
    pub transfer_learning: bool,
    pub(super) model: ModelState,
    pub(super) train: TrainState,
    pub(super) evaluate: EvaluateState,
    pub(super) use_: UseState,
    pub(super) frame_stats: FrameStats,
    pub(super) show_about: bool,
    /// The egui context, for waking the UI from workers.
    pub(super) ctx: Option<egui::Context>,
    /// Measuring start-up: when the process started, and frames drawn so far.
    exit_after_first_frame: Option<(Instant, u32)>,
    /// The window title last sent.
    window_title: String,
}

impl StrataApp {
    /// The app with remembered settings (if any), optionally opening a project. `workspace` is
    /// where the sample project is copied to and new projects are suggested.
    pub fn new(storage: Option<&dyn eframe::Storage>, workspace: PathBuf) -> Self {
        let settings = storage
            .and_then(|s| eframe::get_value::<Settings>(s, SETTINGS_KEY))
            .unwrap_or_default();
        Self {
            settings,
            workspace,
            doc: None,
            screen: Screen::Welcome,
            pending: Vec::new(),
            status: None,
            show_status_details: false,
            confirm: None,
            quit_confirmed: false,
            import: None,
            data: None,
            train_after_import: false,
            thumbnails: Default::default(),
            preview_seed: 1,
            preview_cache: None,
            reimport_after_commands: false,
            new_project_folder: String::new(),
            transfer_learning: false,
            model: ModelState::default(),
            train: TrainState::default(),
            evaluate: EvaluateState::default(),
            use_: UseState::default(),
            frame_stats: FrameStats {
                continuous: super::frame_stats_path().is_some(),
                ..FrameStats::default()
            },
            show_about: false,
            ctx: None,
            exit_after_first_frame: None,
            window_title: String::new(),
        }
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
        self.doc.as_ref().map(|d| &d.project)
    }

    /// The open project's file.
    pub fn project_path(&self) -> Option<&Path> {
        self.doc.as_ref().and_then(|d| d.path.as_deref())
    }

    /// Whether the open project has unsaved changes.
    pub fn is_dirty(&self) -> bool {
        self.doc.as_ref().is_some_and(|d| d.is_dirty())
    }

    /// The imported data, once the import has finished.
    pub fn data(&self) -> Option<&LoadedData> {
        self.data.as_ref()
    }

    /// The status line, if one is shown.
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    /// Queues an edit; it is applied at the end of the frame (the same path every widget uses).
    pub fn command(&mut self, command: Command) {
        self.pending.push(command);
    }

    pub(super) fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            is_error: false,
            details: None,
        });
    }

    pub(super) fn error(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.status = Some(Status {
            text,
            is_error: true,
            details: None,
        });
    }

    /// Opens a project file (asking first when there are unsaved changes).
    pub fn request_open(&mut self, path: PathBuf) {
        if self.is_dirty() {
            self.confirm = Some(PendingAction::Open(path));
        } else {
            self.open_project(&path);
        }
    }

    /// Opens a project file right away and starts importing its data.
    pub fn open_project(&mut self, path: &Path) {
        match Project::load(path) {
            Ok(mut project) => {
                super::document::auto_layout(&mut project);
                self.set_document(Document::new(project, Some(path.to_owned())), path);
                self.info(format!("Opened {}", path.display()));
                self.start_import(false);
            }
            Err(e) => self.error(format!("Could not open the project: {e}")),
        }
    }

    /// Starts a project from a folder of images (one sub-folder per class) or a CSV table: imports
    /// it, picks a template that fits (a pretrained one when the start page asks for transfer
    /// learning) and saves the project in the workspace.
    pub fn new_project_from_data(&mut self, folder: &Path) {
        let kind = if folder.is_dir() || (folder.is_file() && is_table_file(folder)) {
            crate::workflow::detect_kind(folder)
        } else {
            self.error(format!(
                "'{}' is neither a folder nor a CSV file; choose a folder with one sub-folder of images per class, or a .csv table",
                folder.display()
            ));
            return;
        };
        let name = folder
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "project".to_owned());
        if let Err(e) = std::fs::create_dir_all(&self.workspace) {
            self.error(format!(
                "Could not create the project folder '{}': {e}",
                self.workspace.display()
            ));
            return;
        }
        let path = unused_path(&self.workspace, &name);
        let mut data = DataSettings::new(folder.to_owned(), kind);
        let (mut transfer, mut without) = (None, None);
        if let Some(template) = self
            .transfer_learning
            .then(|| crate::workflow::transfer_template(kind))
            .flatten()
        {
            // Read the data the way the pretrained network wants it (224×224 colour images, its
            // tokenizer); without its weights, say where they come from and go on without.
            match crate::workflow::adapt_data_to_template(template, &mut data, None, false) {
                Ok(_) => transfer = Some(template),
                Err(e) => without = Some(format!("{e}. Starting without a pretrained network.")),
            }
        }
        // A placeholder model until the import says what the data holds.
        let graph = model::mlp(&[1, 28, 28], 2);
        let mut project = Project::new(data, graph);
        super::document::auto_layout(&mut project);
        let mut doc = Document::new(project, Some(path.clone()));
        if let Err(e) = doc.save_as(&path) {
            self.error(format!("Could not save the new project: {e}"));
            return;
        }
        self.set_document(doc, &path);
        self.model.fit_template_after_import = true;
        self.model.transfer_template = transfer;
        match without {
            Some(problem) => self.error(problem),
            None => self.info(format!(
                "New project {} — importing {}",
                path.display(),
                folder.display()
            )),
        }
        self.start_import(false);
    }

    /// Copies the bundled sample project into the workspace (so its runs are written there, not
    /// into the installation) and opens it.
    pub fn open_sample(&mut self) {
        let Some(sample_dir) = super::sample_data_dir() else {
            self.error("The sample data was not found next to the app; reinstall Strata or open your own folder.");
            return;
        };
        let result = (|| -> anyhow::Result<PathBuf> {
            let mut project = Project::load(&sample_dir.join("shapes.strata"))?;
            std::fs::create_dir_all(&self.workspace)?;
            let target = self.workspace.join("shapes-sample.strata");
            if target.exists() {
                return Ok(target);
            }
            project.data.path = sample_dir.join("shapes");
            project.save(&target)?;
            Ok(target)
        })();
        match result {
            Ok(path) => self.open_project(&path),
            Err(e) => self.error(format!(
                "Could not prepare the sample project: {}",
                super::jobs::one_line(&e)
            )),
        }
    }

    fn remember(&mut self, path: &Path) {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        self.settings.recent.retain(|p| *p != path);
        self.settings.recent.insert(0, path);
        self.settings.recent.truncate(RECENT_MAX);
    }

    /// Makes `doc` (saved at `path`) the open project, with fresh screens on its Data screen.
    fn set_document(&mut self, doc: Document, path: &Path) {
        self.stop_everything();
        self.doc = Some(doc);
        self.remember(path);
        self.screen = Screen::Data;
        self.model = ModelState::default();
        self.train = TrainState::default();
        self.evaluate = EvaluateState::default();
        self.use_ = UseState::default();
        self.train.refresh_runs(path);
    }

    /// Stops running jobs (closing or switching projects).
    fn stop_everything(&mut self) {
        if let Some(job) = self.import.take() {
            job.cancel();
        }
        self.train.stop("the project was closed");
        self.data = None;
        self.thumbnails = Default::default();
    }

    /// Starts importing the project's data folder on a worker.
    pub fn start_import(&mut self, then_train: bool) {
        let Some(doc) = &self.doc else { return };
        if let Some(job) = self.import.take() {
            job.cancel();
        }
        let settings = doc.project.data.clone();
        if settings.path.as_os_str().is_empty() {
            self.error("The project has no data folder yet; choose one on the Data screen.");
            return;
        }
        self.train_after_import = then_train;
        self.import = Some(Job::spawn("Importing data", &self.waker(), move |job| {
            let progress = |done: usize, total: usize| job.progress(done, total);
            let (prepared, report) =
                crate::workflow::prepare(&settings, Some(job.cancel.flag()), Some(&progress))?;
            Ok(LoadedData {
                prepared: Arc::new(prepared),
                report: Arc::new(report),
                settings,
            })
        }));
    }

    /// The context workers wake when they have news (a detached one before the first frame).
    pub(super) fn waker(&self) -> egui::Context {
        self.ctx.clone().unwrap_or_default()
    }

    /// Whether the imported data and its split match the project's current data settings.
    pub fn data_is_current(&self) -> bool {
        match (&self.data, &self.doc) {
            (Some(data), Some(doc)) => {
                super::data_screen::same_split(&data.settings, &doc.project.data)
            }
            _ => false,
        }
    }

    fn poll_jobs(&mut self) {
        if let Some(job) = &mut self.import {
            if let Some(result) = job.poll() {
                self.import = None;
                match result {
                    Ok(loaded) => self.import_finished(loaded),
                    Err(e) => {
                        self.train_after_import = false;
                        self.error(format!("Import failed: {e}"));
                    }
                }
            }
        }
        self.poll_training();
        self.poll_evaluation();
        self.poll_predictions();
    }

    fn import_finished(&mut self, mut loaded: LoadedData) {
        let dataset = loaded.prepared.dataset.clone();
        let (classes, task) = (dataset.classes().len(), dataset.task());
        let samples = dataset.len();
        let skipped = loaded.report.skipped.len() + loaded.report.skipped_rows.len();
        self.thumbnails = Default::default();
        // What was found in the data (target, task, text columns, sequence length) becomes the
        // project's explicit choice.
        if crate::workflow::record_found_settings(&mut loaded.settings, &dataset) {
            self.command(Command::SetData(loaded.settings.clone()));
        }
        let usable = task == Task::Regress || classes >= 2;
        if self.model.fit_template_after_import && usable {
            self.model.fit_template_after_import = false;
            let template = match self.model.transfer_template.take() {
                Some(transfer) => transfer,
                None => model::default_template(dataset.kind(), &dataset.fit()),
            };
            if let Some(graph) = model::template(template, &dataset.fit()) {
                self.command(Command::ReplaceModel {
                    graph,
                    what: format!("{} template", template.to_uppercase()),
                });
            }
            if let Some(doc) = &self.doc {
                let loss = Project::new(loaded.settings.clone(), Graph::default())
                    .training
                    .loss;
                if doc.project.training.loss != loss {
                    let training = TrainingSettings {
                        loss,
                        ..doc.project.training.clone()
                    };
                    self.command(Command::SetTraining(training));
                }
            }
        }
        let unit = dataset.kind().unit();
        let what = if loaded.report.skipped_rows.is_empty() {
            "file(s)"
        } else {
            "row(s)"
        };
        let mut text = match task {
            Task::Classify => format!("Imported {samples} {unit} in {classes} classes"),
            Task::Regress => format!(
                "Imported {samples} {unit}; the model will predict the number '{}'",
                loaded
                    .settings
                    .table()
                    .map(|t| t.target.as_str())
                    .unwrap_or_default()
            ),
        };
        if skipped > 0 {
            text.push_str(&format!(
                "; {skipped} {what} skipped (see the import report)"
            ));
        }
        self.data = Some(loaded);
        if !usable {
            self.error(format!(
                "{text}. A classifier needs at least two classes with samples."
            ));
            self.train_after_import = false;
        } else {
            self.info(text);
        }
        if std::mem::take(&mut self.train_after_import) {
            self.start_training();
        }
    }

    /// Applies the edits queued this frame.
    fn apply_pending(&mut self) {
        let commands = std::mem::take(&mut self.pending);
        for command in commands {
            let what = match &command {
                Command::ReplaceModel { what, .. } => Some(format!("Model replaced by the {what}")),
                _ => None,
            };
            let Some(doc) = &mut self.doc else { return };
            match doc.apply(command) {
                Ok(()) => {
                    if let Some(w) = what {
                        self.info(format!("{w} (Ctrl+Z undoes it)"));
                    }
                }
                Err(e) => self.error(e.to_string()),
            }
        }
    }

    /// Saves the project (Ctrl+S).
    pub fn save(&mut self) {
        let Some(doc) = &mut self.doc else { return };
        match doc.save() {
            Ok(path) => self.info(format!("Saved {}", path.display())),
            Err(e) => self.error(format!("Could not save: {e}")),
        }
    }

    fn autosave(&mut self) {
        if !self.settings.autosave {
            return;
        }
        let due = self.doc.as_ref().is_some_and(|d| {
            d.path.is_some()
                && d.is_dirty()
                && d.dirty_since
                    .is_some_and(|t| t.elapsed().as_secs_f32() > AUTOSAVE_DELAY_SECS)
        });
        if due {
            if let Some(doc) = &mut self.doc {
                if let Err(e) = doc.save() {
                    doc.dirty_since = None; // Do not retry every frame; the next edit retries.
                    self.error(format!("Autosave failed: {e}"));
                }
            }
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let save = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
        let open = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
        let redo = KeyboardShortcut::new(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
        let redo_y = KeyboardShortcut::new(Modifiers::COMMAND, Key::Y);
        let undo = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
        // Text fields keep their own undo; the project's undo applies elsewhere.
        let typing = ctx.egui_wants_keyboard_input();
        let (do_save, do_open, do_redo, do_undo) = ctx.input_mut(|i| {
            let s = i.consume_shortcut(&save);
            let o = i.consume_shortcut(&open);
            let r = !typing && (i.consume_shortcut(&redo) || i.consume_shortcut(&redo_y));
            let u = !typing && i.consume_shortcut(&undo);
            (s, o, r, u)
        });
        if do_save {
            self.save();
        }
        if do_open {
            self.open_dialog();
        }
        if let Some(doc) = &mut self.doc {
            if do_redo && doc.redo() {
                self.info("Redone");
            } else if do_undo && doc.undo() {
                self.info("Undone (Ctrl+Shift+Z redoes it)");
            }
        }
    }

    /// Asks for a project file with the system dialog.
    pub fn open_dialog(&mut self) {
        if let Some(path) = rfd::FileDialog::new()
            .add_filter("Strata project", &["strata"])
            .set_title("Open a Strata project")
            .pick_file()
        {
            self.request_open(path);
        }
    }

    /// Asks for a data folder with the system dialog and creates a project from it.
    pub fn new_project_dialog(&mut self) {
        if let Some(folder) = rfd::FileDialog::new()
            .set_title("Choose a folder with one sub-folder of images per class")
            .pick_folder()
        {
            self.new_project_from_data(&folder);
        }
    }

    /// Asks for a CSV table with the system dialog and creates a project from it.
    pub fn new_table_project_dialog(&mut self) {
        if let Some(file) = rfd::FileDialog::new()
            .set_title("Choose a CSV table (one row per example, one column to predict)")
            .add_filter("Tables", &["csv", "tsv", "txt"])
            .pick_file()
        {
            self.new_project_from_data(&file);
        }
    }

    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        let Some(first) = dropped.first().cloned() else {
            return;
        };
        if self.screen == Screen::Use && self.doc.is_some() {
            self.predict_paths(dropped);
        } else if first.extension().is_some_and(|e| e == "strata") {
            self.request_open(first);
        } else if first.is_dir() || is_table_file(&first) {
            self.new_project_from_data(&first);
        } else {
            self.error(format!(
                "'{}' is a file; drop a folder with one sub-folder per class or a .csv table to start a project, or a .strata project file",
                first.display()
            ));
        }
    }

    fn resolve_pending(&mut self, action: PendingAction) {
        match action {
            PendingAction::Open(path) => self.open_project(&path),
            PendingAction::Close => {
                self.stop_everything();
                self.doc = None;
                self.screen = Screen::Welcome;
            }
            PendingAction::Quit => {
                self.quit_confirmed = true;
                if let Some(ctx) = &self.ctx {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
        }
    }

    fn confirm_ui(&mut self, ctx: &egui::Context) {
        let Some(action) = self.confirm.clone() else {
            return;
        };
        let title = self.doc.as_ref().map(|d| d.title()).unwrap_or_default();
        let mut answer: Option<bool> = None; // Some(true) = save first, Some(false) = discard.
        let mut cancel = false;
        egui::Modal::new(egui::Id::new("unsaved-changes")).show(ctx, |ui| {
            ui.heading("Unsaved changes");
            ui.label(format!("{title} has changes that are not saved yet."));
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    answer = Some(true);
                }
                if ui.button("Don't save").clicked() {
                    answer = Some(false);
                }
                if ui.button("Cancel").clicked() {
                    cancel = true;
                }
            });
        });
        if cancel {
            self.confirm = None;
        } else if let Some(save_first) = answer {
            self.confirm = None;
            if save_first {
                self.save();
                if self.is_dirty() {
                    return; // Saving failed; the status bar says why.
                }
            }
            self.resolve_pending(action);
        }
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.menu_button("Project", |ui| {
                if ui.button("New from folder…").clicked() {
                    self.new_project_dialog();
                }
                if ui.button("Open…  (Ctrl+O)").clicked() {
                    self.open_dialog();
                }
                let has_doc = self.doc.is_some();
                if ui
                    .add_enabled(has_doc, egui::Button::new("Save  (Ctrl+S)"))
                    .clicked()
                {
                    self.save();
                }
                if ui
                    .add_enabled(has_doc, egui::Button::new("Close project"))
                    .clicked()
                {
                    if self.is_dirty() {
                        self.confirm = Some(PendingAction::Close);
                    } else {
                        self.resolve_pending(PendingAction::Close);
                    }
                }
                ui.separator();
                ui.checkbox(&mut self.settings.autosave, "Save automatically");
                if ui.button("About Strata").clicked() {
                    self.show_about = true;
                }
            });
            ui.separator();
            if self.doc.is_none() {
                ui.selectable_value(&mut self.screen, Screen::Welcome, Screen::Welcome.label());
            } else {
                for step in Screen::STEPS {
                    ui.selectable_value(&mut self.screen, step, step.label())
                        .on_hover_text(step_hint(step));
                }
            }
            if let Some(doc) = &self.doc {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let mark = if doc.is_dirty() { " •" } else { "" };
                    ui.label(egui::RichText::new(format!("{}{mark}", doc.title())).strong())
                        .on_hover_text(if doc.is_dirty() {
                            "Unsaved changes (Ctrl+S saves)"
                        } else {
                            "All changes saved"
                        });
                });
            }
        });
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(job) = &self.import {
                ui.spinner();
                let (done, total) = job.progress;
                ui.add(
                    egui::ProgressBar::new(job.fraction().unwrap_or(0.0))
                        .desired_width(160.0)
                        .text(format!("{} {done}/{total}", job.label)),
                );
                if ui.button("Cancel import").clicked() {
                    job.cancel();
                }
                ui.separator();
            }
            if let Some(status) = &self.status {
                let color = if status.is_error {
                    ui.visuals().error_fg_color
                } else {
                    ui.visuals().text_color()
                };
                ui.colored_label(color, &status.text);
                if status.details.is_some() && ui.small_button("Details").clicked() {
                    self.show_status_details = !self.show_status_details;
                }
            } else {
                ui.weak("Ready");
            }
        });
        if self.show_status_details {
            if let Some(details) = self.status.as_ref().and_then(|s| s.details.clone()) {
                egui::ScrollArea::vertical()
                    .max_height(120.0)
                    .show(ui, |ui| {
                        ui.monospace(details);
                    });
            }
        }
    }

    fn about_ui(&mut self, ctx: &egui::Context) {
        if !self.show_about {
            return;
        }
        let mut open = true;
        egui::Window::new("About Strata")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.label("Strata — a no-code deep learning studio.");
                ui.monospace(crate::build_info::VERSION_LINE);
                ui.label(format!(
                    "Training device: {}",
                    self.train.device_hint(crate::project::DeviceChoice::Auto)
                ));
            });
        self.show_about = open;
    }

    fn track_frame(&mut self) {
        let now = Instant::now();
        if let Some(last) = self.frame_stats.last {
            let interval = (now - last).as_secs_f32();
            if self.train.is_running() {
                self.frame_stats.training_intervals.push(interval);
            } else if self.frame_stats.continuous && !self.is_busy() {
                self.frame_stats.idle_intervals.push(interval);
            }
        }
        self.frame_stats.last = Some(now);
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
        self.ctx.get_or_insert_with(|| ctx.clone());
        self.track_frame();
        self.poll_jobs();
        self.shortcuts(&ctx);
        self.handle_dropped_files(&ctx);
        if ctx.input(|i| i.viewport().close_requested()) && self.is_dirty() && !self.quit_confirmed
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.confirm = Some(PendingAction::Quit);
        }

        let title = match &self.doc {
            Some(doc) => format!(
                "{}{} — Strata",
                doc.title(),
                if doc.is_dirty() { " •" } else { "" }
            ),
            None => "Strata".to_owned(),
        };
        if title != self.window_title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.window_title = title;
        }

        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status-bar").show(ui, |ui| self.status_bar_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            if self.doc.is_none() {
                self.screen = Screen::Welcome;
            }
            match self.screen {
                Screen::Welcome => self.welcome_ui(ui),
                Screen::Data => self.data_ui(ui),
                Screen::Model => self.model_ui(ui),
                Screen::Train => self.train_ui(ui),
                Screen::Evaluate => self.evaluate_ui(ui),
                Screen::Use => self.use_ui(ui),
            }
        });
        self.confirm_ui(&ctx);
        self.about_ui(&ctx);
        self.apply_pending();
        if std::mem::take(&mut self.reimport_after_commands) {
            self.start_import(false);
        }
        self.resplit_if_needed();
        self.autosave();
        if self.frame_stats.continuous {
            // Measuring: draw as fast as possible so the intervals show what the UI can do.
            ctx.request_repaint();
        } else if self.train.is_running() || self.import.is_some() || self.evaluate.is_running() {
            // Live curves and progress: keep drawing even between worker wake-ups.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// Whether a training run is going on.
    pub fn is_training(&self) -> bool {
        self.train.is_running()
    }

    /// How the last training run ended, if one has.
    pub fn last_run_end(&self) -> Option<&super::train_screen::RunEnd> {
        self.train.end.as_ref()
    }

    /// The last evaluation shown on the Evaluate screen.
    pub fn evaluation(&self) -> Option<&crate::workflow::Evaluation> {
        self.evaluate.result.as_ref().map(|(_, e)| e.as_ref())
    }

    /// The last predictions shown on the Use screen.
    pub fn last_predictions(&self) -> Option<&crate::workflow::FilePredictions> {
        self.use_.last.as_ref()
    }

    /// Whether any background job (import, training, evaluation, prediction) is running.
    pub fn is_busy(&self) -> bool {
        self.import.is_some()
            || self.train.is_running()
            || self.evaluate.is_running()
            || self.use_.is_running()
    }

    /// Writes the frame intervals measured while training to the file named by
    /// [`super::FRAME_STATS_ENV`], when set.
    pub(super) fn write_frame_stats(&mut self) {
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

    /// Frame intervals recorded while training ran (seconds).
    pub fn training_frame_intervals(&self) -> &[f32] {
        &self.frame_stats.training_intervals
    }
}

impl eframe::App for StrataApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.train.stop("the app was closed");
        self.write_frame_stats();
    }
}

fn step_hint(step: Screen) -> &'static str {
    match step {
        Screen::Data => "Import your data and check what the model will see",
        Screen::Model => "Build the network from layers",
        Screen::Train => "Train it and watch the curves",
        Screen::Evaluate => "See where it is right and wrong",
        Screen::Use => "Predict new files",
        Screen::Welcome => "Start page",
    }
}

/// `dir/name.strata`, or `dir/name-2.strata`… when taken.
fn unused_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(format!("{name}.strata"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|i| dir.join(format!("{name}-{i}.strata")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Whether a file looks like a table Strata reads (by its extension).
pub(super) fn is_table_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["csv", "tsv", "txt"].contains(&e.to_ascii_lowercase().as_str()))
}
