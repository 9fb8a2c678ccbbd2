//! The Data screen: import settings, class counts with an imbalance warning, thumbnails per
//! class, a live preview of augmented training images, and the import report.

use std::sync::Arc;

use eframe::egui;
use egui_plot::{Bar, BarChart, Plot};
use rand::SeedableRng;

use super::app::StrataApp;
use super::document::Command;
use super::widgets;
use crate::data::{
    AudioDataset, ColumnKind, Dataset, ImageDataset, ImportReport, Split, TableDataset, TextDataset,
};
use crate::engine::PreparedData;
use crate::project::{
    AudioSettings, DataKind, DataSettings, ImageSettings, Source, TableSettings, Task,
    TextSettings, TokenizerKind,
};

/// Thumbnails shown per class.
const THUMBS_PER_CLASS: usize = 10;
/// Table rows shown as examples.
const ROWS_SHOWN: usize = 12;
/// Largest / smallest class ratio from which the imbalance warning shows.
const IMBALANCE_RATIO: f64 = 1.5;

/// Whether two settings read the data the same way (same source; same image size and channels,
/// or same target column and task).
pub(super) fn same_import(a: &DataSettings, b: &DataSettings) -> bool {
    // A table's encoding and a text vocabulary come from the training split, so a new split
    // means reading the data again.
    a.path == b.path
        && a.source == b.source
        && match a.kind() {
            DataKind::Image | DataKind::Audio => true,
            DataKind::Tabular | DataKind::Text => split_settings_equal(a, b),
        }
}

fn image_settings_ui(ui: &mut egui::Ui, s: &mut ImageSettings) {
    egui::Grid::new("import-settings").num_columns(2).show(ui, |ui| {
        ui.label("Image size")
            .on_hover_text("Every image is resized to this many pixels before the model sees it. Smaller trains faster; larger keeps detail.");
        ui.horizontal(|ui| {
            ui.add(egui::DragValue::new(&mut s.width).range(4..=512).suffix(" px"));
            ui.label("×");
            ui.add(egui::DragValue::new(&mut s.height).range(4..=512).suffix(" px"));
        });
        ui.end_row();
        ui.label("Colour")
            .on_hover_text("Grayscale uses one channel and is enough for shapes, digits and documents; colour uses three.");
        ui.horizontal(|ui| {
            ui.radio_value(&mut s.channels, 1, "Grayscale");
            ui.radio_value(&mut s.channels, 3, "Colour");
        });
        ui.end_row();
    });
}

/// Whether two settings give the same samples and the same train/validation/test split
/// (augmentation aside, which only changes training batches).
pub(super) fn same_split(a: &DataSettings, b: &DataSettings) -> bool {
    same_import(a, b) && split_settings_equal(a, b)
}

fn split_settings_equal(a: &DataSettings, b: &DataSettings) -> bool {
    a.val_fraction == b.val_fraction
        && a.test_fraction == b.test_fraction
        && a.split_seed == b.split_seed
}

impl StrataApp {
    /// Keeps the split in step with the split settings without importing again.
    pub(super) fn resplit_if_needed(&mut self) {
        let (Some(doc), Some(data)) = (&self.doc, &mut self.data) else {
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

    pub(super) fn data_ui(&mut self, ui: &mut egui::Ui) {
        let Some(doc) = &self.doc else { return };
        let mut settings = doc.project.data.clone();
        let before = settings.clone();
        egui::Panel::left("data-settings")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.data_settings_ui(ui, &mut settings);
                });
            });
        if settings != before {
            self.command(Command::SetData(settings));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| self.data_view_ui(ui));
        });
    }

    fn data_settings_ui(&mut self, ui: &mut egui::Ui, s: &mut DataSettings) {
        match s.kind() {
            DataKind::Image => {
                ui.heading("Images");
                ui.label("Folder (one sub-folder per class):");
            }
            DataKind::Tabular => {
                ui.heading("Table");
                ui.label("CSV file (one row per example):");
            }
            DataKind::Audio => {
                ui.heading("Audio clips");
                ui.label("Folder (one sub-folder of WAV, FLAC, MP3 or Ogg clips per class):");
            }
            DataKind::Text => {
                ui.heading("Texts");
                ui.label(if s.path.is_dir() {
                    "Folder (one sub-folder of .txt files per class):"
                } else {
                    "CSV file (a text column and a label column):"
                });
            }
        }
        ui.add(
            egui::Label::new(egui::RichText::new(s.path.display().to_string()).monospace()).wrap(),
        );
        ui.horizontal_wrapped(|ui| {
            let folder = ui
                .button("Choose a folder…")
                .on_hover_text("One sub-folder per class, holding images or .txt files")
                .clicked();
            let file = ui
                .button("Choose a CSV file…")
                .on_hover_text("A table of columns, or texts with a label column")
                .clicked();
            let picked = if folder {
                rfd::FileDialog::new()
                    .set_title("Choose a folder with one sub-folder per class")
                    .pick_folder()
            } else if file {
                rfd::FileDialog::new()
                    .set_title("Choose a CSV file")
                    .add_filter("Tables", &["csv", "tsv", "txt"])
                    .pick_file()
            } else {
                None
            };
            if let Some(path) = picked {
                let kind = crate::workflow::detect_kind(&path);
                s.path = path;
                s.set_kind(kind);
                // Found again in the new data.
                if let Some(table) = s.table_mut() {
                    table.target.clear();
                }
                if let Some(text) = s.text_mut() {
                    text.text_column.clear();
                    text.label_column.clear();
                    text.sequence_length = None;
                }
                self.model.fit_template_after_import = true;
            }
        });
        ui.add_space(6.0);
        let in_folders = s.path.is_dir();
        match &mut s.source {
            Source::Image(image) => image_settings_ui(ui, image),
            Source::Tabular(table) => self.table_settings_ui(ui, table),
            Source::Text(text) => self.text_settings_ui(ui, in_folders, text),
            Source::Audio(audio) => audio_settings_ui(ui, audio),
        }
        let stale = self
            .data
            .as_ref()
            .is_some_and(|d| !same_import(&d.settings, s));
        if self.import.is_none() && (stale || self.data.is_none()) {
            ui.add_space(4.0);
            let label = if self.data.is_none() {
                "Import data"
            } else {
                "Import again with these settings"
            };
            if ui.button(label).clicked() {
                self.pending.push(Command::SetData(s.clone()));
                self.reimport_after_commands = true;
            }
        }

        ui.separator();
        ui.heading("Split");
        ui.label("Part of the data held back from training (per class):")
            .on_hover_text("Validation samples show during training whether the model generalises (overfitting shows up here). Test samples are kept for the final evaluation only.");
        let mut val = s.val_fraction * 100.0;
        let mut test = s.test_fraction * 100.0;
        ui.add(
            egui::Slider::new(&mut val, 0.0..=50.0)
                .suffix(" % validation")
                .integer(),
        );
        ui.add(
            egui::Slider::new(&mut test, 0.0..=50.0)
                .suffix(" % test")
                .integer(),
        );
        s.val_fraction = (val / 100.0).clamp(0.0, 0.5);
        s.test_fraction = (test / 100.0).clamp(0.0, 0.5);
        ui.horizontal(|ui| {
            ui.label("Shuffle seed")
                .on_hover_text("The same seed always gives the same split.");
            ui.add(egui::DragValue::new(&mut s.split_seed));
        });

        if let Some(mfcc) = s.audio().map(|a| a.mfcc) {
            ui.separator();
            ui.heading("Augmentation");
            ui.label("Random changes to training clips, so the model learns the sound and not when it starts or how quiet the room was. Validation and test clips are never changed.");
            let a = &mut s.augmentation;
            let mut shift = a.max_time_shift * 100.0;
            ui.add(
                egui::Slider::new(&mut shift, 0.0..=30.0)
                    .suffix(" % time shift")
                    .integer(),
            )
            .on_hover_text("Moves each clip earlier or later by up to this share of its length; silence fills in.");
            a.max_time_shift = shift / 100.0;
            ui.add_enabled(
                mfcc == 0,
                egui::Slider::new(&mut a.noise_db, 0.0..=40.0)
                    .suffix(" dB noise")
                    .integer(),
            )
            .on_disabled_hover_text("Noise is added to spectrograms; with MFCC features only the time shift applies.")
            .on_hover_text("0 = off. Otherwise background noise is added at a random level between this many dB and 20 dB more below the clip's loudest sound (smaller = louder noise). Loudness itself needs no augmentation: each spectrogram is scaled to its own loudest sound.");
            return;
        }
        if s.kind() != DataKind::Image {
            return;
        }
        ui.separator();
        ui.heading("Augmentation");
        ui.label("Random changes to training images, so the model learns what matters and not where or how bright it is. Validation and test images are never changed.");
        let a = &mut s.augmentation;
        ui.checkbox(&mut a.flip_horizontal, "Mirror left–right");
        let mut shift = a.max_shift * 100.0;
        ui.add(
            egui::Slider::new(&mut shift, 0.0..=30.0)
                .suffix(" % shift")
                .integer(),
        );
        a.max_shift = shift / 100.0;
        ui.add(
            egui::Slider::new(&mut a.max_rotation_degrees, 0.0..=45.0)
                .suffix("° rotation")
                .integer(),
        );
        let mut bright = a.max_brightness * 100.0;
        ui.add(
            egui::Slider::new(&mut bright, 0.0..=50.0)
                .suffix(" % brightness")
                .integer(),
        );
        a.max_brightness = bright / 100.0;
    }

    fn text_settings_ui(&mut self, ui: &mut egui::Ui, in_folders: bool, s: &mut TextSettings) {
        let header: Vec<String> = self
            .data
            .as_ref()
            .and_then(|d| d.prepared.dataset.texts())
            .map(|t| t.raw.header.clone())
            .unwrap_or_default();
        egui::Grid::new("text-settings").num_columns(2).show(ui, |ui| {
            if !in_folders {
                for (label, hint, value, id) in [
                    ("Text column", "The column holding the texts to read.", &mut s.text_column, "text-column"),
                    ("Label column", "The column holding each text's class.", &mut s.label_column, "label-column"),
                ] {
                    ui.label(label).on_hover_text(hint);
                    let shown = if value.is_empty() {
                        "(chosen on import)".to_owned()
                    } else {
                        value.clone()
                    };
                    egui::ComboBox::from_id_salt(id)
                        .selected_text(shown)
                        .show_ui(ui, |ui| {
                            for h in &header {
                                ui.selectable_value(value, h.clone(), h);
                            }
                        });
                    ui.end_row();
                }
            }
            ui.label("Tokens").on_hover_text(
                "Words: each word is one token (best for most texts). Characters: each letter is one token; no unknown words, but longer sequences.",
            );
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.radio_value(&mut s.tokenizer, TokenizerKind::Words, "words");
                    ui.radio_value(&mut s.tokenizer, TokenizerKind::Characters, "characters");
                });
                let file = s.tokenizer == TokenizerKind::File;
                if ui
                    .radio(file, "a tokenizer.json file…")
                    .on_hover_text("The tokenizer a pretrained model ships (WordPiece, BPE): its vocabulary and rules are used as they are.")
                    .clicked()
                {
                    if let Some(path) = rfd::FileDialog::new()
                        .set_title("Choose a tokenizer.json file")
                        .add_filter("Tokenizer", &["json"])
                        .pick_file()
                    {
                        s.tokenizer = TokenizerKind::File;
                        s.tokenizer_file = path;
                    }
                }
                if file {
                    ui.add(
                        egui::Label::new(
                            egui::RichText::new(s.tokenizer_file.display().to_string()).monospace(),
                        )
                        .wrap(),
                    );
                }
            });
            ui.end_row();
            ui.label("Vocabulary size").on_hover_text(
                "The most frequent tokens of the training texts the model knows; the rest count as one 'unknown' token.",
            );
            ui.add(egui::DragValue::new(&mut s.vocab_size).range(10..=200_000));
            ui.end_row();
            ui.label("Sequence length").on_hover_text(
                "Tokens read per text: longer texts are cut, shorter ones padded. Automatic covers 95 % of the training texts in full.",
            );
            ui.horizontal(|ui| {
                let mut auto = s.sequence_length.is_none();
                if ui.checkbox(&mut auto, "automatic").changed() {
                    s.sequence_length = if auto { None } else { Some(64) };
                }
                if let Some(length) = &mut s.sequence_length {
                    ui.add(egui::DragValue::new(length).range(1..=4096));
                }
            });
            ui.end_row();
        });
        // A new length or vocabulary is offered as a fix on the Model screen after the import;
        // the model itself is kept.
    }

    fn table_settings_ui(&mut self, ui: &mut egui::Ui, s: &mut TableSettings) {
        let header: Vec<String> = self
            .data
            .as_ref()
            .and_then(|d| d.prepared.dataset.table())
            .map(|t| t.table.header.clone())
            .unwrap_or_default();
        let before = (s.target.clone(), s.task);
        egui::Grid::new("table-settings").num_columns(2).show(ui, |ui| {
            ui.label("Column to predict")
                .on_hover_text("The model learns to predict this column from all the others.");
            let shown = if s.target.is_empty() {
                "(chosen on import)".to_owned()
            } else {
                s.target.clone()
            };
            egui::ComboBox::from_id_salt("target-column")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    for h in &header {
                        ui.selectable_value(&mut s.target, h.clone(), h);
                    }
                });
            ui.end_row();
            ui.label("Predict").on_hover_text(
                "A class: one of a few values, like yes/no or a species. A number: any value on a scale, like a price.",
            );
            ui.vertical(|ui| {
                ui.radio_value(&mut s.task, Task::Classify, "a class (classification)");
                ui.radio_value(&mut s.task, Task::Regress, "a number (regression)");
            });
            ui.end_row();
        });
        if (s.target.clone(), s.task) != before {
            // A new target asks for a new output layer (and loss): fit the model on import.
            self.model.fit_template_after_import = true;
        }
    }

    fn data_view_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(job) = &self.import {
            ui.heading("Importing…");
            let (done, total) = job.progress;
            ui.add(
                egui::ProgressBar::new(job.fraction().unwrap_or(0.0))
                    .show_percentage()
                    .text(format!("{done} of {total} files")),
            );
            if ui.button("Cancel").clicked() {
                job.cancel();
            }
            return;
        }
        let Some(data) = &self.data else {
            ui.heading("No data yet");
            ui.label("Choose a folder of images or a CSV table on the left and press Import data.");
            return;
        };
        // Shared handles, not copies: this runs every frame.
        let prepared = data.prepared.clone();
        let report = data.report.clone();
        match prepared.dataset.as_ref() {
            Dataset::Images(images) => self.images_view_ui(ui, &prepared, images, None, &report),
            Dataset::Audio(audio) => {
                self.images_view_ui(ui, &prepared, &audio.images, Some(audio), &report)
            }
            Dataset::Table(table) => table_view_ui(ui, table, &prepared.split, &report),
            Dataset::Text(texts) => text_view_ui(ui, texts, &prepared.split, &report),
        }
        ui.add_space(8.0);
        report_ui(ui, &report);
    }

    fn images_view_ui(
        &mut self,
        ui: &mut egui::Ui,
        prepared: &Arc<PreparedData>,
        dataset: &ImageDataset,
        audio: Option<&AudioDataset>,
        report: &ImportReport,
    ) {
        let split = &prepared.split;
        let augmentation = self
            .doc
            .as_ref()
            .map(|d| d.project.data.augmentation.clone())
            .unwrap_or_default();

        let unit = if audio.is_some() { "clips" } else { "images" };
        ui.heading(format!(
            "{} {unit} in {} classes",
            dataset.len(),
            dataset.classes.len()
        ));
        match audio {
            Some(audio) => {
                let mfcc = self
                    .data
                    .as_ref()
                    .and_then(|d| d.settings.audio())
                    .is_some_and(|a| a.mfcc > 0);
                let features = if mfcc {
                    format!("{} MFCCs (first coefficient on top)", dataset.height)
                } else {
                    format!(
                        "a spectrogram of {} mel bands (low pitches at the bottom)",
                        dataset.height
                    )
                };
                ui.label(format!(
                    "Each clip is mixed to mono at 16 kHz, cut or padded to a fixed length, and becomes {features} × {} steps.  Split: {} for training, {} for validation, {} for testing.",
                    dataset.width,
                    split.train.len(),
                    split.val.len(),
                    split.test.len()
                ));
                ui.label(audio_summary(audio));
            }
            None => {
                ui.label(format!(
                    "Each image becomes {} × {} pixels, {}.  Split: {} for training, {} for validation, {} for testing.",
                    dataset.width,
                    dataset.height,
                    if dataset.channels >= 3 { "colour" } else { "grayscale" },
                    split.train.len(),
                    split.val.len(),
                    split.test.len()
                ));
            }
        }
        if dataset.classes.len() < 2 {
            ui.colored_label(
                ui.visuals().error_fg_color,
                "A classifier needs at least two classes: add another sub-folder with images.",
            );
        }
        if !report.skipped.is_empty() {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} file(s) could not be used — see the import report below.",
                    report.skipped.len()
                ),
            );
        }
        for w in &report.warnings {
            ui.colored_label(ui.visuals().warn_fg_color, w);
        }

        ui.add_space(8.0);
        ui.strong(format!(
            "{} per class",
            if audio.is_some() { "Clips" } else { "Images" }
        ));
        class_counts_ui(ui, report, unit);
        if !report.empty_classes.is_empty() {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "Folders without usable images (not used as classes): {}",
                    report.empty_classes.join(", ")
                ),
            );
        }

        // Thumbnails per class.
        ui.add_space(8.0);
        ui.strong("Examples");
        let ctx = ui.ctx().clone();
        let salt = Arc::as_ptr(&prepared.dataset) as usize;
        for (class, name) in dataset.classes.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.add_sized([110.0, 20.0], egui::Label::new(name).truncate());
                for i in (0..dataset.len())
                    .filter(|&i| dataset.labels[i] == class)
                    .take(THUMBS_PER_CLASS)
                {
                    let texture = self.thumbnails.get(&ctx, dataset, salt, i);
                    widgets::thumbnail(ui, &texture, 48.0)
                        .on_hover_text(dataset.paths[i].display().to_string());
                }
            });
        }

        // What the model sees.
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            ui.strong("What the model sees while training");
            if ui.small_button("Show others").clicked() {
                self.preview_seed = self.preview_seed.wrapping_add(1);
            }
        });
        if audio.is_some() && augmentation.is_active_for_audio() {
            ui.label("Random variations of training spectrograms (time shift, noise), as the augmentation settings make them:");
        } else if audio.is_some() {
            ui.label("Spectrograms of training clips, as the model reads them:");
        } else if augmentation.is_active() {
            ui.label(
                "Random variations of training images, as the augmentation settings make them:",
            );
        } else {
            ui.label(
                "Augmentation is off: the model sees the images as they are (after resizing).",
            );
        }
        if !split.train.is_empty() {
            let key = format!("{}-{:?}-{salt}", self.preview_seed, augmentation);
            if self.preview_cache.as_ref().is_none_or(|(k, _)| *k != key) {
                let mut rng = rand::rngs::StdRng::seed_from_u64(self.preview_seed);
                let mut buf = vec![0f32; dataset.sample_len()];
                let textures = (0..8)
                    .map(|k| {
                        let n = split.train.len();
                        let pick = (self.preview_seed as usize * 7919 + k * n / 8) % n;
                        let index = split.train[pick];
                        if audio.is_some() {
                            crate::data::augment_spectrogram(
                                dataset.sample(index),
                                dataset.height,
                                dataset.width,
                                &augmentation,
                                audio.is_some_and(|a| a.mfcc),
                                &mut rng,
                                &mut buf,
                            );
                        } else {
                            crate::data::augment_into(
                                dataset.sample(index),
                                dataset.channels,
                                dataset.height,
                                dataset.width,
                                &augmentation,
                                &mut rng,
                                &mut buf,
                            );
                        }
                        let image = widgets::color_image_f32(
                            &buf,
                            dataset.channels,
                            dataset.height,
                            dataset.width,
                        );
                        ctx.load_texture(
                            format!("preview-{k}"),
                            image,
                            egui::TextureOptions::NEAREST,
                        )
                    })
                    .collect();
                self.preview_cache = Some((key, textures));
            }
            if let Some((_, textures)) = &self.preview_cache {
                ui.horizontal_wrapped(|ui| {
                    for texture in textures {
                        widgets::thumbnail(ui, texture, 72.0);
                    }
                });
            }
        }
    }
}

/// Bar chart and line of samples per class, with the imbalance warning.
fn class_counts_ui(ui: &mut egui::Ui, report: &ImportReport, unit: &str) {
    let counts: Vec<usize> = report.classes.iter().map(|c| c.count).collect();
    let max = counts.iter().copied().max().unwrap_or(0);
    let min = counts.iter().copied().min().unwrap_or(0);
    let bars: Vec<Bar> = report
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| Bar::new(i as f64, c.count as f64).name(&c.name).width(0.6))
        .collect();
    let names: Vec<String> = report.classes.iter().map(|c| c.name.clone()).collect();
    Plot::new("class-counts")
        .height(140.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |p| {
            p.bar_chart(BarChart::new(unit, bars).color(egui::Color32::from_rgb(80, 140, 230)))
        });
    ui.label(
        report
            .classes
            .iter()
            .map(|c| format!("{} {}", c.name, c.count))
            .collect::<Vec<_>>()
            .join("  ·  "),
    );
    if min > 0 && max as f64 / min as f64 >= IMBALANCE_RATIO {
        ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("The classes are imbalanced: the largest has {max} {unit}, the smallest {min}. The model may favour the large classes; add examples to the small ones if you can."),
            );
    }
}

/// The import report: what was used and, file by file or row by row, what was skipped and why.
fn report_ui(ui: &mut egui::Ui, report: &ImportReport) {
    let skipped = report.skipped.len() + report.skipped_rows.len();
    egui::CollapsingHeader::new(format!(
        "Import report: {} used, {skipped} skipped",
        report.samples
    ))
    .default_open(skipped > 0)
    .show(ui, |ui| {
        let place = if report.root.is_dir() {
            "Folder"
        } else {
            "File"
        };
        let unit = report.kind.unit();
        ui.label(format!("{place}: {}", report.root.display()));
        for c in &report.classes {
            ui.label(format!("{}: {} {unit}", c.name, c.count));
        }
        if skipped == 0 {
            ui.label(format!(
                "Every {} could be used.",
                match report.kind {
                    DataKind::Image => "image file",
                    DataKind::Tabular => "row",
                    DataKind::Text => "text",
                    DataKind::Audio => "clip",
                }
            ));
            return;
        }
        egui::Grid::new("skipped")
            .striped(true)
            .num_columns(2)
            .show(ui, |ui| {
                ui.strong(if report.skipped.is_empty() {
                    "Line"
                } else {
                    "File"
                });
                ui.strong("Why it was skipped");
                ui.end_row();
                for s in &report.skipped {
                    ui.monospace(s.path.display().to_string());
                    ui.label(&s.reason);
                    ui.end_row();
                }
                for s in &report.skipped_rows {
                    ui.monospace(format!("line {}", s.line));
                    ui.label(&s.reason);
                    ui.end_row();
                }
            });
    });
}

fn table_view_ui(ui: &mut egui::Ui, table: &TableDataset, split: &Split, report: &ImportReport) {
    let schema = &table.schema;
    match schema.task {
        Task::Classify => ui.heading(format!(
            "{} rows in {} classes of '{}'",
            table.len(),
            schema.classes.len(),
            schema.target
        )),
        Task::Regress => ui.heading(format!(
            "{} rows: predicting the number '{}'",
            table.len(),
            schema.target
        )),
    };
    ui.label(format!(
        "The model reads {} columns as {} numbers.  Split: {} for training, {} for validation, {} for testing.",
        schema.columns.len(),
        schema.width(),
        split.train.len(),
        split.val.len(),
        split.test.len()
    ));
    if !report.skipped_rows.is_empty() {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!(
                "{} row(s) could not be used — see the import report below.",
                report.skipped_rows.len()
            ),
        );
    }
    for w in &report.warnings {
        ui.colored_label(ui.visuals().warn_fg_color, w);
    }

    ui.add_space(8.0);
    match schema.task {
        Task::Classify => {
            ui.strong("Rows per class");
            class_counts_ui(ui, report, "rows");
        }
        Task::Regress => {
            ui.strong(format!("Values of '{}'", schema.target));
            let values: Vec<f64> = (0..table.len())
                .filter_map(|i| table.target_value(i))
                .collect();
            widgets::histogram(ui, "target-histogram", &values, 20, "rows");
        }
    }

    ui.add_space(8.0);
    ui.strong("Columns");
    egui::Grid::new("columns")
        .striped(true)
        .num_columns(4)
        .show(ui, |ui| {
            for h in ["Column", "Read as", "Missing", "How the model sees it"] {
                ui.strong(h);
            }
            ui.end_row();
            for c in &schema.columns {
                ui.label(&c.name);
                match &c.kind {
                    ColumnKind::Number { mean, std } => {
                        ui.label("number");
                        ui.label(c.missing.to_string());
                        ui.label(format!("standardized (mean {mean:.4}, spread {std:.4})"))
                            .on_hover_text("(value − mean) ÷ standard deviation of the training rows, so every column has a similar range. Missing values become the mean.");
                    }
                    ColumnKind::Category { values } => {
                        ui.label("category");
                        ui.label(c.missing.to_string());
                        let mut shown: Vec<&str> = values.iter().take(6).map(String::as_str).collect();
                        if values.len() > 6 {
                            shown.push("…");
                        }
                        ui.label(format!("one input per category ({}): {}", values.len(), shown.join(", ")))
                            .on_hover_text("One-hot encoding: 1 for the row's category, 0 for the others. Categories not seen in training, and missing values, are all zeros.");
                    }
                }
                ui.end_row();
            }
            for (name, reason) in &schema.ignored {
                ui.weak(name);
                ui.weak("left out");
                ui.weak("");
                ui.weak(reason);
                ui.end_row();
            }
        });

    ui.add_space(8.0);
    ui.strong("Examples");
    egui::ScrollArea::horizontal()
        .id_salt("example-rows")
        .show(ui, |ui| {
            egui::Grid::new("example-rows-grid")
                .striped(true)
                .num_columns(table.table.header.len() + 1)
                .show(ui, |ui| {
                    ui.strong("Line");
                    for h in &table.table.header {
                        if *h == schema.target {
                            ui.strong(format!("{h} (to predict)"));
                        } else {
                            ui.strong(h);
                        }
                    }
                    ui.end_row();
                    for (row, line) in table
                        .table
                        .rows
                        .iter()
                        .zip(&table.table.lines)
                        .take(ROWS_SHOWN)
                    {
                        ui.weak(line.to_string());
                        for field in row {
                            let short: String = field.chars().take(24).collect();
                            ui.label(if short.len() < field.len() {
                                format!("{short}…")
                            } else {
                                short
                            });
                        }
                        ui.end_row();
                    }
                });
        });
}

/// Texts shown per class on the Data screen.
const TEXTS_PER_CLASS: usize = 3;

fn text_view_ui(ui: &mut egui::Ui, texts: &TextDataset, split: &Split, report: &ImportReport) {
    let vocab = &texts.vocab;
    ui.heading(format!(
        "{} texts in {} classes",
        texts.len(),
        texts.raw.classes.len()
    ));
    let cut = texts
        .token_counts
        .iter()
        .filter(|&&c| c > vocab.length)
        .count();
    let total: usize = texts.token_counts.iter().sum();
    let unit = match vocab.tokenizer {
        TokenizerKind::Words => "words",
        TokenizerKind::Characters => "characters",
        TokenizerKind::File => "tokens",
    };
    ui.label(format!(
        "Vocabulary: {} {unit} from the training texts ({:.1}% of all tokens are unknown to it). Each text is read as {} tokens; {cut} longer ones are cut.  Split: {} for training, {} for validation, {} for testing.",
        vocab.size(),
        100.0 * texts.unknown_tokens as f64 / total.max(1) as f64,
        vocab.length,
        split.train.len(),
        split.val.len(),
        split.test.len()
    ));
    let skipped = report.skipped.len() + report.skipped_rows.len();
    if skipped > 0 {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("{skipped} text(s) could not be used — see the import report below."),
        );
    }
    for w in &report.warnings {
        ui.colored_label(ui.visuals().warn_fg_color, w);
    }

    ui.add_space(8.0);
    ui.strong("Texts per class");
    class_counts_ui(ui, report, "texts");

    ui.add_space(8.0);
    ui.strong(format!("Text lengths (in {unit})"));
    let lengths: Vec<f64> = texts.token_counts.iter().map(|&c| c as f64).collect();
    widgets::histogram(ui, "text-lengths", &lengths, 30, "texts");
    ui.weak(format!(
        "The model reads the first {} tokens of each text.",
        vocab.length
    ));

    ui.add_space(8.0);
    ui.strong("Examples");
    egui::Grid::new("text-examples")
        .striped(true)
        .num_columns(2)
        .show(ui, |ui| {
            for (class, name) in texts.raw.classes.iter().enumerate() {
                for i in (0..texts.len())
                    .filter(|&i| texts.raw.labels[i] == class)
                    .take(TEXTS_PER_CLASS)
                {
                    ui.strong(name);
                    let text = &texts.raw.texts[i];
                    let short: String = text.chars().take(160).collect();
                    let shown = if short.len() < text.len() {
                        format!("{short}…")
                    } else {
                        short
                    };
                    ui.label(shown.replace('\n', " "))
                        .on_hover_text(texts.raw.sources.get(i).cloned().unwrap_or_default());
                    ui.end_row();
                }
            }
        });

    if !texts.first_as_seen.is_empty() {
        ui.add_space(8.0);
        ui.strong("Tokens as the model sees them");
        ui.weak(format!(
            "The first text cut into tokens; {} marks tokens outside the vocabulary.",
            vocab.unknown_token()
        ));
        let seen = &texts.first_as_seen;
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 4.0;
            for t in seen.iter().take(80) {
                // Each token on its own shaded chip, so the cuts are visible.
                let label = egui::RichText::new(if t == " " { "␣" } else { t })
                    .monospace()
                    .background_color(ui.visuals().extreme_bg_color);
                if t == vocab.unknown_token() {
                    ui.label(label.color(ui.visuals().warn_fg_color));
                } else {
                    ui.label(label);
                }
            }
            if seen.len() > 80 {
                ui.weak(format!("… {} more", seen.len() - 80));
            }
        });
    }
}

fn audio_settings_ui(ui: &mut egui::Ui, s: &mut AudioSettings) {
    egui::Grid::new("audio-settings").num_columns(2).show(ui, |ui| {
        ui.label("Clip length").on_hover_text(
            "Every clip is cut or padded with silence to this length. Match it to your longest sound.",
        );
        ui.add(
            egui::DragValue::new(&mut s.clip_seconds)
                .range(0.1..=30.0)
                .speed(0.05)
                .suffix(" s"),
        );
        ui.end_row();
        ui.label("Mel bands").on_hover_text(
            "Height of the spectrogram: how finely pitch is split. 40 suits speech; 64–128 music.",
        );
        ui.add(egui::DragValue::new(&mut s.mel_bands).range(8..=256));
        ui.end_row();
        ui.label("Features").on_hover_text(
            "Spectrogram: the loudness of each mel band over time, as a picture. MFCC: a compact summary of each moment's spectrum (the classic speech features); fewer rows, faster models.",
        );
        ui.horizontal(|ui| {
            let mut use_mfcc = s.mfcc > 0;
            ui.selectable_value(&mut use_mfcc, false, "Spectrogram");
            ui.selectable_value(&mut use_mfcc, true, "MFCC");
            match (use_mfcc, s.mfcc) {
                (false, _) => s.mfcc = 0,
                (true, 0) => s.mfcc = 13,
                (true, _) => {
                    ui.add(egui::DragValue::new(&mut s.mfcc).range(2..=64))
                        .on_hover_text("How many coefficients per moment (13–20 is usual).");
                }
            }
        });
        ui.end_row();
        ui.label("Window").on_hover_text(
            "Length of sound analysed for each column of the spectrogram. 25 ms suits speech.",
        );
        ui.add(
            egui::DragValue::new(&mut s.window_ms)
                .range(5.0..=200.0)
                .suffix(" ms"),
        );
        ui.end_row();
        ui.label("Step").on_hover_text(
            "Time between spectrogram columns: smaller steps, wider spectrograms.",
        );
        ui.add(egui::DragValue::new(&mut s.hop_ms).range(2.0..=100.0).suffix(" ms"));
        ui.end_row();
    });
}

/// Durations and sample rates found, in one line.
fn audio_summary(audio: &AudioDataset) -> String {
    let mut durations = audio.durations.clone();
    durations.sort_by(f32::total_cmp);
    let mut rates = audio.sample_rates.clone();
    rates.sort_unstable();
    rates.dedup();
    let rates: Vec<String> = rates
        .iter()
        .map(|r| format!("{:.1} kHz", f64::from(*r) / 1000.0))
        .collect();
    match (durations.first(), durations.last()) {
        (Some(lo), Some(hi)) => format!(
            "Clips found: {lo:.2}–{hi:.2} s long (median {:.2} s), recorded at {}.",
            durations[durations.len() / 2],
            rates.join(", ")
        ),
        _ => String::new(),
    }
}
