//! What every screen sees and how it asks for more: the open project (read-only: edits are
//! [`Command`]s), the imported data, the project's runs, shared thumbnails, and the
//! [`AppCommand`]s a screen sends for what reaches beyond it (open a project, import, train,
//! evaluate, switch screens, status messages). Both queues are drained once per frame.

use std::path::{Path, PathBuf};

use eframe::egui;

use super::{LoadedData, Screen, Settings};
use crate::engine::runs::RunSummary;
use crate::gui::document::{Command, Document};
use crate::gui::jobs::Job;
use crate::gui::widgets::Thumbnails;
use crate::project::Project;

/// What should happen when the import now starting has finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AfterImport {
    /// Replace the model by a template sized to the data (the data's default template, or the
    /// transfer template named here).
    pub fit_template: Option<TemplateChoice>,
    /// Start training.
    pub train: bool,
}

/// Which template fits the model to newly imported data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateChoice {
    /// The data's default (`model::default_template`).
    Default,
    /// A template by name that reads the data its own way (transfer, the bag of words).
    Transfer(&'static str),
    /// An image generator (a GAN): a generator and a discriminator sized to the pictures.
    Generator,
}

/// A request that reaches beyond the screen that makes it, handled by the app once per frame.
#[derive(Clone, Debug)]
pub enum AppCommand {
    /// Open a project file (asking first about unsaved changes).
    Open(PathBuf),
    /// Start a project from a data folder or CSV file; `transfer` starts image and text projects
    /// from a pretrained network.
    NewProject {
        /// The folder or file.
        data: PathBuf,
        /// Start from a pretrained network.
        transfer: bool,
        /// Make an image generator (a GAN) instead of a classifier.
        generate: bool,
    },
    /// Copy the bundled sample project into the workspace and open it.
    OpenSample,
    /// Drop a project from the recent list (the file stays).
    ForgetRecent(PathBuf),
    /// Import the project's data (again) with its current settings.
    StartImport(AfterImport),
    /// Train the project (importing first when the data is not current).
    StartTraining,
    /// Continue the interrupted run in this folder.
    ResumeTraining(PathBuf),
    /// Make this run (its folder name) the project's model.
    SetModelRun(String),
    /// Predict files dropped on the window (Use screen).
    Predict(Vec<PathBuf>),
    /// Play an audio clip from its start.
    PlayClip(PathBuf),
    /// Show a screen.
    Show(Screen),
    /// Undo the last edit of the project.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// A message for the status bar.
    Info(String),
    /// A problem for the status bar.
    Error(String),
}

/// Imported data being read on a worker, and what comes after.
pub struct ImportJob {
    /// The worker.
    pub job: Job<LoadedData>,
    /// What to do when it finishes.
    pub then: AfterImport,
}

/// The app's state every screen reads, and the queues it writes to.
pub struct Shared {
    pub(super) doc: Option<Document>,
    pub(super) data: Option<LoadedData>,
    pub(super) import: Option<ImportJob>,
    /// Past runs of the open project, newest first.
    pub(super) runs: Vec<RunSummary>,
    /// Remembered between sessions.
    pub(super) settings: Settings,
    /// Where sample copies and new projects go by default.
    pub(super) workspace: PathBuf,
    /// Image thumbnails (data, evaluation and prediction views share them).
    pub thumbnails: Thumbnails,
    /// The egui context, for waking the UI from workers.
    pub(super) ctx: Option<egui::Context>,
    /// Whether a training run is going on (the Train screen's, as of this frame).
    pub(super) training: bool,
    edits: Vec<Command>,
    commands: Vec<AppCommand>,
}

impl Shared {
    pub(super) fn new(settings: Settings, workspace: PathBuf) -> Self {
        Self {
            doc: None,
            data: None,
            import: None,
            runs: Vec::new(),
            settings,
            workspace,
            thumbnails: Thumbnails::default(),
            ctx: None,
            training: false,
            edits: Vec::new(),
            commands: Vec::new(),
        }
    }

    /// The open project's document.
    pub fn doc(&self) -> Option<&Document> {
        self.doc.as_ref()
    }

    /// The open project.
    pub fn project(&self) -> Option<&Project> {
        self.doc.as_ref().map(|d| &d.project)
    }

    /// Whether the open project generates pictures (a GAN) rather than classifying or predicting.
    pub fn generates_pictures(&self) -> bool {
        self.project().is_some_and(|p| p.generator.is_some())
    }

    /// The open project's file.
    pub fn project_path(&self) -> Option<&Path> {
        self.doc.as_ref().and_then(|d| d.path.as_deref())
    }

    /// The imported data, once an import has finished.
    pub fn data(&self) -> Option<&LoadedData> {
        self.data.as_ref()
    }

    /// The import running now, if any.
    pub fn importing(&self) -> Option<&ImportJob> {
        self.import.as_ref()
    }

    /// Whether a training run is going on.
    pub fn training(&self) -> bool {
        self.training
    }

    /// Past runs of the project, newest first.
    pub fn runs(&self) -> &[RunSummary] {
        &self.runs
    }

    /// Reads the project's runs again (after a run was added).
    pub fn reload_runs(&mut self) {
        if let Some(path) = self.project_path().map(Path::to_path_buf) {
            self.runs = crate::engine::runs::list_runs(&path);
        }
    }

    /// The project's model: the run chosen as the model while it has one, otherwise the newest
    /// run that saved a model.
    pub fn newest_model_run(&self) -> Option<PathBuf> {
        let chosen = self.project().and_then(|p| p.model_run.as_deref());
        self.runs
            .iter()
            .find(|r| r.has_model && chosen.is_some_and(|id| r.manifest.run_id == id))
            .or_else(|| self.runs.iter().find(|r| r.has_model))
            .map(|r| r.dir.clone())
    }

    /// Recently opened projects, newest first.
    pub fn recent(&self) -> &[PathBuf] {
        &self.settings.recent
    }

    /// Where new projects are saved.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The context workers wake when they have news (a detached one before the first frame).
    pub fn waker(&self) -> egui::Context {
        self.ctx.clone().unwrap_or_default()
    }

    /// Whether the imported data and its split match the project's current data settings.
    pub fn data_is_current(&self) -> bool {
        match (&self.data, &self.doc) {
            (Some(data), Some(doc)) => {
                crate::gui::data_screen::same_split(&data.settings, &doc.project.data)
            }
            _ => false,
        }
    }

    /// Queues an edit of the project; applied at the end of the frame with undo.
    pub fn edit(&mut self, command: Command) {
        self.edits.push(command);
    }

    /// Queues several edits, in order.
    pub fn edit_all(&mut self, commands: impl IntoIterator<Item = Command>) {
        self.edits.extend(commands);
    }

    /// Whether edits are queued this frame (not yet applied).
    pub fn has_edits(&self) -> bool {
        !self.edits.is_empty()
    }

    /// Queues a request for the app.
    pub fn send(&mut self, command: AppCommand) {
        self.commands.push(command);
    }

    /// A message for the status bar.
    pub fn info(&mut self, text: impl Into<String>) {
        self.send(AppCommand::Info(text.into()));
    }

    /// A problem for the status bar.
    pub fn error(&mut self, text: impl Into<String>) {
        self.send(AppCommand::Error(text.into()));
    }

    pub(super) fn take_edits(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.edits)
    }

    pub(super) fn take_commands(&mut self) -> Vec<AppCommand> {
        std::mem::take(&mut self.commands)
    }
}
