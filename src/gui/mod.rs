//! The desktop front end. For now one window: the project's model summary and the way to train
//! it from the command line; the five screens (Data, Model, Train, Evaluate, Use) come next.

use std::path::PathBuf;

use crate::project::Project;

/// Opens the main window, optionally on a project file.
pub fn run(project: Option<PathBuf>) -> Result<(), eframe::Error> {
    let mut viewport = eframe::egui::ViewportBuilder::default()
        .with_title("Strata")
        .with_inner_size([900.0, 600.0]);
    // The icon is compiled in; a broken file would only cost the icon, never the window.
    if let Ok(icon) = eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon.png")) {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    eframe::run_native(
        "Strata",
        options,
        Box::new(move |_cc| Ok(Box::new(StrataApp::new(project)))),
    )
}

/// What the window shows.
pub struct StrataApp {
    path: Option<PathBuf>,
    loaded: Result<Option<Project>, String>,
}

impl StrataApp {
    /// The app, with the given project loaded when there is one.
    pub fn new(path: Option<PathBuf>) -> Self {
        let loaded = match &path {
            Some(p) => Project::load(p).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        };
        Self { path, loaded }
    }
}

impl eframe::App for StrataApp {
    fn ui(&mut self, ui: &mut eframe::egui::Ui, _frame: &mut eframe::Frame) {
        eframe::egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("Strata");
            ui.label(format!("version {}", crate::build_info::VERSION_LINE));
            ui.separator();
            match (&self.loaded, &self.path) {
                (Ok(Some(project)), Some(path)) => {
                    ui.label(format!("Project: {}", path.display()));
                    ui.label(format!("Data: {}", project.data.path.display()));
                    match project.model.summary() {
                        Ok(text) => {
                            ui.monospace(text);
                        }
                        Err(errors) => {
                            for e in errors {
                                ui.colored_label(eframe::egui::Color32::RED, e.message);
                            }
                        }
                    }
                    ui.separator();
                    ui.label(format!(
                        "Train it from a terminal: strata train {}",
                        path.display()
                    ));
                }
                (Err(message), _) => {
                    ui.colored_label(eframe::egui::Color32::RED, message);
                }
                _ => {
                    ui.label("Open a project by starting Strata with a .strata file, e.g.");
                    ui.monospace("strata sample_data/shapes.strata");
                }
            }
        });
    }
}
