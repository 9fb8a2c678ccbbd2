//! Where the frame's queued requests take effect: document edits (with undo) and app commands
//! (open, new project, import, train, switch screens, status), the import's start and finish, and
//! the screens' background jobs polled.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    AfterImport, AppCommand, ImportJob, LoadedData, PendingAction, Screen, Status, StrataApp,
    TemplateChoice, RECENT_MAX,
};
use crate::engine::PreparedData;
use crate::gui::data_screen::{same_import, same_split};
use crate::gui::document::{self, Command, Document};
use crate::gui::jobs::{Job, JobError};
use crate::gui::train_screen::RunEnd;
use crate::model;
use crate::project::{DataSettings, Project, Task, TrainingSettings};

impl StrataApp {
    pub(super) fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            is_error: false,
            details: None,
        });
    }

    pub(super) fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            is_error: true,
            details: None,
        });
    }

    /// Applies the edits queued this frame.
    pub(super) fn apply_edits(&mut self) {
        for command in self.cx.take_edits() {
            let what = match &command {
                Command::ReplaceModel { what, .. } => Some(format!("Model replaced by the {what}")),
                _ => None,
            };
            let Some(doc) = &mut self.cx.doc else { return };
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

    /// Carries out the app commands queued this frame (and those they queue in turn).
    pub(super) fn handle_commands(&mut self) {
        // Each command may queue more (an import that trains); a bound keeps a loop harmless.
        for _ in 0..8 {
            let commands = self.cx.take_commands();
            if commands.is_empty() {
                return;
            }
            for command in commands {
                self.handle(command);
            }
            self.apply_edits();
        }
    }

    fn handle(&mut self, command: AppCommand) {
        match command {
            AppCommand::Open(path) => self.request_open(path),
            AppCommand::NewProject {
                data,
                transfer,
                generate,
            } => self.new_project(&data, transfer, generate),
            AppCommand::OpenSample => self.open_sample(),
            AppCommand::ForgetRecent(path) => self.cx.settings.recent.retain(|p| *p != path),
            AppCommand::StartImport(then) => self.start_import(then),
            AppCommand::StartTraining => self.start_training(),
            AppCommand::ResumeTraining(run_dir) => self.resume_training(&run_dir),
            AppCommand::SetModelRun(run) => {
                self.cx.edit(Command::SetModelRun(Some(run.clone())));
                self.evaluate.invalidate();
                self.use_.invalidate();
                self.info(format!(
                    "The run {run} is the project's model now: Evaluate, Use and Export use it"
                ));
            }
            AppCommand::Predict(paths) => self.use_.predict_paths(&mut self.cx, paths),
            AppCommand::Show(screen) => self.screen = screen,
            AppCommand::Undo => {
                if self.cx.doc.as_mut().is_some_and(|d| d.undo()) {
                    self.info("Undone (Ctrl+Shift+Z redoes it)");
                }
            }
            AppCommand::Redo => {
                if self.cx.doc.as_mut().is_some_and(|d| d.redo()) {
                    self.info("Redone");
                }
            }
            AppCommand::PlayClip(path) => match self.sound.play(&path) {
                Ok(text) => self.info(text),
                Err(text) => self.error(text),
            },
            AppCommand::Info(text) => self.info(text),
            AppCommand::Error(text) => self.error(text),
        }
    }

    /// Opens a project file (asking first when there are unsaved changes).
    pub(super) fn request_open(&mut self, path: PathBuf) {
        if self.is_dirty() {
            self.confirm = Some(PendingAction::Open(path));
        } else {
            self.open_now(&path);
        }
    }

    /// Opens a project file right away and starts importing its data.
    pub(super) fn open_now(&mut self, path: &Path) {
        let tidied = crate::engine::runs::tidy_after_crash(path);
        match Project::load(path) {
            Ok(mut project) => {
                document::auto_layout(&mut project);
                self.set_document(Document::new(project, Some(path.to_owned())), path);
                match tidied {
                    Some(note) => self.info(format!("Opened {}. {note}", path.display())),
                    None => self.info(format!("Opened {}", path.display())),
                }
                self.start_import(AfterImport::default());
            }
            Err(e) => self.error(format!("Could not open the project: {e}")),
        }
    }

    /// Starts a project from a folder of images (one sub-folder per class), clips or texts, or a
    /// CSV file: imports it, picks a template that fits (a pretrained one when `transfer` and
    /// there is one for the data) and saves the project in the workspace.
    pub(super) fn new_project(&mut self, folder: &Path, transfer: bool, generate: bool) {
        let kind = if folder.is_dir() || (folder.is_file() && super::is_table_file(folder)) {
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
        if let Err(e) = std::fs::create_dir_all(&self.cx.workspace) {
            self.error(format!(
                "Could not create the project folder '{}': {e}",
                self.cx.workspace.display()
            ));
            return;
        }
        let path = unused_path(&self.cx.workspace, &name);
        let mut data = DataSettings::new(folder.to_owned(), kind);
        let mut template = TemplateChoice::Default;
        let mut without = None;
        if generate {
            if kind != crate::project::DataKind::Image {
                self.error(format!(
                    "Generating pictures needs a folder of images; '{}' holds other data",
                    folder.display()
                ));
                return;
            }
            template = TemplateChoice::Generator;
        } else if let Some(name) = transfer
            .then(|| crate::workflow::transfer_template(kind))
            .flatten()
        {
            // Read the data the way the pretrained network wants it (224×224 colour images, its
            // tokenizer); without its weights, say where they come from and go on without.
            match crate::workflow::adapt_data_to_template(name, &mut data, None, false) {
                Ok(_) => template = TemplateChoice::Transfer(name),
                Err(e) => without = Some(format!("{e}. Starting without a pretrained network.")),
            }
        }
        // A placeholder model until the import says what the data holds.
        let graph = model::mlp(&[1, 28, 28], 2);
        let mut project = Project::new(data, graph);
        document::auto_layout(&mut project);
        let mut doc = Document::new(project, Some(path.clone()));
        if let Err(e) = doc.save_as(&path) {
            self.error(format!("Could not save the new project: {e}"));
            return;
        }
        self.set_document(doc, &path);
        match without {
            Some(problem) => self.error(problem),
            None => self.info(format!(
                "New project {} — importing {}",
                path.display(),
                folder.display()
            )),
        }
        self.start_import(AfterImport {
            fit_template: Some(template),
            train: false,
        });
    }

    /// Copies the bundled sample project into the workspace (so its runs are written there, not
    /// into the installation) and opens it.
    fn open_sample(&mut self) {
        let Some(sample_dir) = crate::gui::sample_data_dir() else {
            self.error("The sample data was not found next to the app; reinstall Strata or open your own folder.");
            return;
        };
        let workspace = self.cx.workspace.clone();
        let result = (|| -> anyhow::Result<PathBuf> {
            let mut project = Project::load(&sample_dir.join("shapes.strata"))?;
            std::fs::create_dir_all(&workspace)?;
            let target = workspace.join("shapes-sample.strata");
            if target.exists() {
                return Ok(target);
            }
            project.data.path = sample_dir.join("shapes");
            project.save(&target)?;
            Ok(target)
        })();
        match result {
            Ok(path) => self.open_now(&path),
            Err(e) => self.error(format!(
                "Could not prepare the sample project: {}",
                crate::gui::jobs::one_line(&e)
            )),
        }
    }

    fn remember(&mut self, path: &Path) {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let recent = &mut self.cx.settings.recent;
        recent.retain(|p| *p != path);
        recent.insert(0, path);
        recent.truncate(RECENT_MAX);
    }

    /// Makes `doc` (saved at `path`) the open project, with fresh screens on its Data screen.
    fn set_document(&mut self, doc: Document, path: &Path) {
        self.stop_everything();
        self.cx.doc = Some(doc);
        self.remember(path);
        self.screen = Screen::Data;
        self.data_screen = Default::default();
        self.model = Default::default();
        self.train = Default::default();
        self.evaluate = Default::default();
        self.use_ = Default::default();
        self.cx.runs = crate::engine::runs::list_runs(path);
    }

    /// Stops running jobs (closing or switching projects).
    pub(super) fn stop_everything(&mut self) {
        if let Some(import) = self.cx.import.take() {
            import.job.cancel();
        }
        self.train.stop("the project was closed");
        self.cx.data = None;
        self.cx.thumbnails = Default::default();
    }

    /// Closes the project and shows the start page.
    pub(super) fn close_project(&mut self) {
        self.stop_everything();
        self.cx.doc = None;
        self.screen = Screen::Welcome;
    }

    /// Starts importing the project's data on a worker; `then` says what follows.
    fn start_import(&mut self, then: AfterImport) {
        let Some(doc) = &self.cx.doc else { return };
        if let Some(import) = self.cx.import.take() {
            import.job.cancel();
        }
        let settings = doc.project.data.clone();
        if settings.path.as_os_str().is_empty() {
            self.error("The project has no data folder yet; choose one on the Data screen.");
            return;
        }
        let job = Job::spawn("Importing data", &self.cx.waker(), move |job| {
            let progress = |done: usize, total: usize| job.progress(done, total);
            let (prepared, report) =
                crate::workflow::prepare(&settings, Some(job.cancel.flag()), Some(&progress))?;
            Ok(LoadedData {
                prepared: Arc::new(prepared),
                report: Arc::new(report),
                settings,
            })
        });
        self.cx.import = Some(ImportJob { job, then });
    }

    /// Trains the project, importing first when the data is not current.
    fn start_training(&mut self) {
        if self.train.is_running() {
            return;
        }
        if self.cx.import.is_some() || !self.cx.data_is_current() {
            match &mut self.cx.import {
                Some(import) => import.then.train = true,
                None => self.start_import(AfterImport {
                    fit_template: None,
                    train: true,
                }),
            }
            self.info("Importing the data first; training starts right after.");
            return;
        }
        self.frame_stats.clear_training();
        self.train.start(&mut self.cx);
    }

    /// Continues an interrupted run on the imported data, which must be what the run started
    /// with.
    fn resume_training(&mut self, run_dir: &Path) {
        if self.train.is_running() {
            return;
        }
        if self.cx.import.is_some() || !self.cx.data_is_current() {
            self.error("The data is being imported; press Resume again when it is done.");
            return;
        }
        let run = match crate::engine::resume::interrupted(run_dir) {
            Ok(run) => run,
            Err(e) => {
                self.error(format!("This run cannot be resumed: {e}"));
                return;
            }
        };
        if let Some(doc) = self.cx.doc() {
            let now = &doc.project.data;
            let then = crate::project::DataSettings {
                path: now.path.clone(),
                ..run.manifest.data.clone()
            };
            if then != *now {
                self.error("This run was trained with other data settings than the Data screen shows now; set them back to resume it, or start a new run.");
                return;
            }
        }
        self.train
            .start_run(&mut self.cx, Some((run_dir.to_owned(), run)));
    }

    pub(super) fn poll_jobs(&mut self) {
        if let Some(import) = &mut self.cx.import {
            if let Some(result) = import.job.poll() {
                let then = import.then;
                self.cx.import = None;
                match result {
                    Ok(loaded) => self.import_finished(loaded, then),
                    Err(JobError::Cancelled) => self.info("Import cancelled."),
                    Err(JobError::Failed(e)) => self.error(format!("Import failed: {e}")),
                }
            }
        }
        if self.train.poll_auto(&mut self.cx) || self.train.poll_import(&mut self.cx) {
            self.evaluate.invalidate();
            self.use_.invalidate();
        }
        if let Some(ended) = self.train.poll(&mut self.cx) {
            // A run ended: its model is the newest to evaluate and use.
            if let Some(path) = self.cx.project_path().map(Path::to_path_buf) {
                self.cx.runs = crate::engine::runs::list_runs(&path);
            }
            self.evaluate.invalidate();
            self.use_.invalidate();
            self.write_frame_stats();
            match ended {
                RunEnd::Finished(text) | RunEnd::Stopped(text) => self.info(text),
                RunEnd::Failed(text) => self.error(format!("Training failed: {text}")),
            }
        }
        // What the polls send (status lines, training after an import) is handled with the
        // frame's other commands, after its edits.
        self.evaluate.poll(&mut self.cx);
        self.use_.poll(&mut self.cx);
    }

    fn import_finished(&mut self, mut loaded: LoadedData, then: AfterImport) {
        let dataset = loaded.prepared.dataset.clone();
        let (classes, task) = (dataset.classes().len(), dataset.task());
        let samples = dataset.len();
        let skipped = loaded.report.skipped.len() + loaded.report.skipped_rows.len();
        self.cx.thumbnails = Default::default();
        // What was found in the data (target, task, text columns, sequence length) becomes the
        // project's explicit choice.
        if crate::workflow::record_found_settings(&mut loaded.settings, &dataset) {
            self.cx.edit(Command::SetData(loaded.settings.clone()));
        }
        let usable = task == Task::Regress || classes >= 2;
        if then.fit_template == Some(TemplateChoice::Generator) {
            match crate::engine::gan::new_networks(&dataset.shape(), classes) {
                Some((generator, discriminator)) => {
                    self.cx.edit(Command::MakeGenerator {
                        generator,
                        discriminator,
                    });
                    if let Some(doc) = &self.cx.doc {
                        let training = crate::engine::gan::gan_training(&doc.project.training);
                        self.cx.edit(Command::SetTraining(training));
                    }
                }
                None => self.error(format!(
                    "The pictures are imported at {}; a generator needs a width and height that are multiples of 4 (set the image size on the Data screen, e.g. 28×28 or 32×32, and start again)",
                    crate::model::shape_label(&dataset.shape())
                )),
            }
        } else if let (Some(choice), true) = (then.fit_template, usable) {
            let template = match choice {
                TemplateChoice::Transfer(name) => name,
                TemplateChoice::Default | TemplateChoice::Generator => {
                    model::default_template(dataset.kind(), &dataset.fit())
                }
            };
            let graph = model::template(template, &dataset.fit());
            // The loss for the task and the learning rate for the template (a bag of words
            // starts at 0.01), as `strata new` sets them.
            let fresh =
                Project::new(loaded.settings.clone(), graph.clone().unwrap_or_default()).training;
            if let Some(graph) = graph {
                self.cx.edit(Command::ReplaceModel {
                    graph,
                    what: format!("{} template", template.to_uppercase()),
                });
            }
            if let Some(doc) = &self.cx.doc {
                let now = &doc.project.training;
                if now.loss != fresh.loss || now.lr != fresh.lr {
                    let training = TrainingSettings {
                        loss: fresh.loss,
                        lr: fresh.lr,
                        ..now.clone()
                    };
                    self.cx.edit(Command::SetTraining(training));
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
        self.cx.data = Some(loaded);
        if !usable {
            self.error(format!(
                "{text}. A classifier needs at least two classes with samples."
            ));
            return;
        }
        self.info(text);
        if then.train {
            // After this frame's edits (the found settings), so the run sees them.
            self.cx.send(AppCommand::StartTraining);
        }
    }

    /// Keeps the split in step with the split settings without importing again.
    pub(super) fn resplit_if_needed(&mut self) {
        let (Some(doc), Some(data)) = (&self.cx.doc, &mut self.cx.data) else {
            return;
        };
        let want = &doc.project.data;
        if !same_import(want, &data.settings) || same_split(want, &data.settings) {
            return; // Needs a new import, or nothing to do (augmentation acts on batches only).
        }
        let split = crate::data::stratified_split(
            data.prepared.dataset.labels(),
            want.val_fraction,
            want.test_fraction,
            want.split_seed,
        );
        data.prepared = Arc::new(PreparedData {
            dataset: data.prepared.dataset.clone(),
            split,
        });
        data.settings = want.clone();
    }

    /// Saves the project (Ctrl+S).
    pub(super) fn save(&mut self) {
        let Some(doc) = &mut self.cx.doc else { return };
        match doc.save() {
            Ok(path) => self.info(format!("Saved {}", path.display())),
            Err(e) => self.error(format!("Could not save: {e}")),
        }
    }

    pub(super) fn autosave(&mut self) {
        if !self.cx.settings.autosave {
            return;
        }
        let due = self.cx.doc.as_ref().is_some_and(|d| {
            d.path.is_some()
                && d.is_dirty()
                && d.dirty_since
                    .is_some_and(|t| t.elapsed().as_secs_f32() > super::AUTOSAVE_DELAY_SECS)
        });
        if due {
            if let Some(doc) = &mut self.cx.doc {
                if let Err(e) = doc.save() {
                    doc.dirty_since = None; // Do not retry every frame; the next edit retries.
                    self.error(format!("Autosave failed: {e}"));
                }
            }
        }
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
