//! The start page: start from a folder, open a project, recent projects, the sample project.

use std::path::PathBuf;

use eframe::egui;

use super::app::{AppCommand, Shared};

/// The start page's own state.
#[derive(Default)]
pub struct WelcomeScreen {
    /// The path typed into the "Create / open" field.
    new_project_folder: String,
    /// New image and text projects start from a pretrained network.
    pub transfer_learning: bool,
    /// New image projects generate pictures (a GAN) instead of classifying them.
    pub generate_images: bool,
}

impl WelcomeScreen {
    /// Draws the start page.
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        let transfer = self.transfer_learning;
        let generate = self.generate_images;
        let new_project = |data: PathBuf| AppCommand::NewProject {
            data,
            transfer,
            generate,
        };
        ui.vertical_centered(|ui| {
            ui.add_space(24.0);
            ui.heading(egui::RichText::new("Strata").size(32.0));
            ui.label(
                "Teach a computer to recognise your images, sounds, tables and texts — no code needed.",
            );
            ui.add_space(16.0);
        });
        ui.columns(2, |cols| {
            let ui = &mut cols[0];
            ui.heading("Start");
            ui.add_space(4.0);
            if ui
                .add_sized(
                    [280.0, 36.0],
                    egui::Button::new("Try the sample project (shapes)"),
                )
                .on_hover_text("600 small pictures of circles, squares, triangles and crosses; trains in under a minute")
                .clicked()
            {
                cx.send(AppCommand::OpenSample);
            }
            for (label, hint, file) in [
                (
                    "Try the sample table (house prices)",
                    "400 made-up house sales: predict the price from size, rooms, age, district and garden",
                    "houses.csv",
                ),
                (
                    "Try the sample texts (messages)",
                    "300 made-up customer messages: tell praise, complaints and questions apart",
                    "messages.csv",
                ),
                (
                    "Try the sample sounds (spoken words)",
                    "96 short clips of the words yes, no, up and down in 12 synthetic voices: tell the words apart",
                    "words",
                ),
            ] {
                if ui
                    .add_sized([280.0, 36.0], egui::Button::new(label))
                    .on_hover_text(hint)
                    .clicked()
                {
                    match super::sample_data_dir().map(|d| d.join(file)) {
                        Some(path) if path.exists() => cx.send(new_project(path)),
                        _ => cx.error(format!(
                            "The sample file {file} was not found next to the app; reinstall Strata or open your own data."
                        )),
                    }
                }
            }
            if ui
                .add_sized([280.0, 36.0], egui::Button::new("New project from a folder…"))
                .on_hover_text("Pick a folder that has one sub-folder per class, e.g. cats/ and dogs/, holding images — or sound clips (WAV, FLAC, MP3, Ogg), e.g. yes/ and no/")
                .clicked()
            {
                if let Some(folder) = rfd::FileDialog::new()
                    .set_title("Choose a folder with one sub-folder of images or sound clips per class")
                    .pick_folder()
                {
                    cx.send(new_project(folder));
                }
            }
            if ui
                .add_sized([280.0, 36.0], egui::Button::new("New project from a table…"))
                .on_hover_text("Pick a CSV file with one row per example and a column to predict (a class or a number)")
                .clicked()
            {
                if let Some(file) = rfd::FileDialog::new()
                    .set_title("Choose a CSV table (one row per example, one column to predict)")
                    .add_filter("Tables", &["csv", "tsv", "txt"])
                    .pick_file()
                {
                    cx.send(new_project(file));
                }
            }
            if ui
                .add_sized([280.0, 36.0], egui::Button::new("Open a project…"))
                .on_hover_text("Open a .strata project file (Ctrl+O)")
                .clicked()
            {
                if let Some(path) = rfd::FileDialog::new()
                    .add_filter("Strata project", &["strata"])
                    .set_title("Open a Strata project")
                    .pick_file()
                {
                    cx.send(AppCommand::Open(path));
                }
            }
            ui.checkbox(
                &mut self.transfer_learning,
                "Start from a pretrained network (transfer learning)",
            )
            .on_hover_text("New image projects start from EfficientNet-Lite0 and text projects from the MiniLM sentence encoder: networks already trained on millions of examples, so a few dozen of yours per class go a long way. Needs their weights files (the Model screen says where to get them).");
            ui.checkbox(
                &mut self.generate_images,
                "Generate new pictures like these (GAN)",
            )
            .on_hover_text("A folder of images teaches two networks to draw new pictures that look like them: a generator and a discriminator that learn from each other. With one sub-folder per class, it draws the class you ask for.");
            ui.add_space(8.0);
            ui.label("Or type the path of a folder of images or clips, a CSV table or a .strata project:");
            ui.horizontal(|ui| {
                let edit = ui.add(
                    egui::TextEdit::singleline(&mut self.new_project_folder)
                        .hint_text("/path/to/my-images")
                        .desired_width(220.0),
                );
                let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.button("Create / open").clicked() || enter)
                    && !self.new_project_folder.trim().is_empty()
                {
                    let path = PathBuf::from(self.new_project_folder.trim());
                    if path.extension().is_some_and(|e| e == "strata") {
                        cx.send(AppCommand::Open(path));
                    } else {
                        cx.send(new_project(path));
                    }
                }
            });
            ui.add_space(8.0);
            ui.weak("Tip: drop a folder, a CSV file or a .strata file onto this window.");
            ui.add_space(8.0);
            ui.weak(format!(
                "New projects are saved in {}",
                cx.workspace().display()
            ));

            let ui = &mut cols[1];
            ui.heading("Recent projects");
            ui.add_space(4.0);
            let recent: Vec<PathBuf> = cx.recent().to_vec();
            if recent.is_empty() {
                ui.weak("Projects you open appear here.");
            }
            let mut open = None;
            let mut forget = None;
            for path in &recent {
                ui.horizontal(|ui| {
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let exists = path.is_file();
                    let button = ui
                        .add_enabled(exists, egui::Button::new(name))
                        .on_hover_text(path.display().to_string());
                    if button.clicked() {
                        open = Some(path.clone());
                    }
                    let folder = path
                        .parent()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    if exists {
                        ui.weak(folder);
                    } else {
                        ui.weak(format!("{folder} (moved or deleted)"));
                    }
                    if ui.small_button("Forget").on_hover_text("Remove from the list (the file stays)").clicked() {
                        forget = Some(path.clone());
                    }
                });
            }
            if let Some(path) = open {
                cx.send(AppCommand::Open(path));
            }
            if let Some(path) = forget {
                cx.send(AppCommand::ForgetRecent(path));
            }
            ui.add_space(16.0);
            ui.heading("How it works");
            ui.label("1  Data — import a folder of images or sound clips (one sub-folder per class), or a CSV table of values or texts.");
            ui.label("2  Model — pick a template or build a network from layers.");
            ui.label("3  Train — watch the model learn, live.");
            ui.label("4  Evaluate — see which classes it confuses.");
            ui.label("5  Use — drop new images, clips, rows or texts and get predictions.");
        });
    }
}
