//! Around the screens: the top bar (project menu, screen tabs), the status bar with the import's
//! progress, the "unsaved changes" prompt, About, keyboard shortcuts, dropped files, the window
//! title and frame timing.

use std::path::PathBuf;
use std::time::Instant;

use eframe::egui;

use super::{AppCommand, PendingAction, Screen, StrataApp};

impl StrataApp {
    pub(super) fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let save = KeyboardShortcut::new(Modifiers::COMMAND, Key::S);
        let open = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
        let redo = KeyboardShortcut::new(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
        let redo_y = KeyboardShortcut::new(Modifiers::COMMAND, Key::Y);
        let undo = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
        let train = KeyboardShortcut::new(Modifiers::COMMAND, Key::T);
        let reimport = KeyboardShortcut::new(Modifiers::COMMAND, Key::R);
        // Text fields keep their own undo; the project's undo applies elsewhere.
        let typing = ctx.egui_wants_keyboard_input();
        let (do_save, do_open, do_redo, do_undo, do_train, do_import) = ctx.input_mut(|i| {
            let s = i.consume_shortcut(&save);
            let o = i.consume_shortcut(&open);
            let r = !typing && (i.consume_shortcut(&redo) || i.consume_shortcut(&redo_y));
            let u = !typing && i.consume_shortcut(&undo);
            let t = i.consume_shortcut(&train);
            let m = i.consume_shortcut(&reimport);
            (s, o, r, u, t, m)
        });
        if do_import
            && self.cx.doc.is_some()
            && self.cx.import.is_none()
            && !self.train.is_running()
        {
            self.cx.send(AppCommand::StartImport(Default::default()));
        }
        if do_save {
            self.save();
        }
        if do_train && self.cx.doc.is_some() {
            self.screen = Screen::Train;
            self.cx.send(AppCommand::StartTraining);
        }
        if do_open {
            self.open_dialog();
        }
        if let Some(doc) = &mut self.cx.doc {
            if do_redo && doc.redo() {
                self.info("Redone");
            } else if do_undo && doc.undo() {
                self.info("Undone (Ctrl+Shift+Z redoes it)");
            }
        }
    }

    /// Asks for a project file with the system dialog.
    fn open_dialog(&mut self) {
        if let Some(path) = rfd::FileDialog::new()
            .add_filter("Strata project", &["strata"])
            .set_title("Open a Strata project")
            .pick_file()
        {
            self.request_open(path);
        }
    }

    pub(super) fn handle_dropped_files(&mut self, ctx: &egui::Context) {
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
        if self.screen == Screen::Use && self.cx.doc.is_some() {
            self.cx.send(AppCommand::Predict(dropped));
        } else if first.extension().is_some_and(|e| e == "strata") {
            self.request_open(first);
        } else if first.is_dir() || super::is_table_file(&first) {
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
            PendingAction::Open(path) => self.open_now(&path),
            PendingAction::Close => self.close_project(),
            PendingAction::Quit => {
                self.quit_confirmed = true;
                if let Some(ctx) = &self.cx.ctx {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
        }
    }

    pub(super) fn confirm_ui(&mut self, ctx: &egui::Context) {
        let Some(action) = self.confirm.clone() else {
            return;
        };
        let title = self.cx.doc.as_ref().map(|d| d.title()).unwrap_or_default();
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

    pub(super) fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.menu_button("Project", |ui| {
                if ui.button("New from folder…").clicked() {
                    if let Some(folder) = rfd::FileDialog::new()
                        .set_title("Choose a folder with one sub-folder of images per class")
                        .pick_folder()
                    {
                        self.new_project_from_data(&folder);
                    }
                }
                if ui.button("Open…  (Ctrl+O)").clicked() {
                    self.open_dialog();
                }
                let has_doc = self.cx.doc.is_some();
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
                ui.checkbox(&mut self.cx.settings.autosave, "Save automatically");
                if ui.button("About Strata").clicked() {
                    self.show_about = true;
                }
            });
            ui.separator();
            if self.cx.doc.is_none() {
                ui.selectable_value(&mut self.screen, Screen::Welcome, Screen::Welcome.label());
            } else {
                for step in Screen::STEPS {
                    ui.selectable_value(&mut self.screen, step, step.label())
                        .on_hover_text(step_hint(step));
                }
            }
            if let Some(doc) = &self.cx.doc {
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

    pub(super) fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(import) = &self.cx.import {
                let job = &import.job;
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

    pub(super) fn about_ui(&mut self, ctx: &egui::Context) {
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

    pub(super) fn update_title(&mut self, ctx: &egui::Context) {
        let title = match &self.cx.doc {
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
    }

    pub(super) fn track_frame(&mut self) {
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
