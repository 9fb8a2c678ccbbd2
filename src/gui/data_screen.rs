//! The Data screen: where the data is, how each kind is read (image size, table target, text
//! columns and tokens, clip length and spectrogram), the split and augmentation. What it shows of
//! the imported data is in `data_view.rs`.

use eframe::egui;

use super::app::{AfterImport, AppCommand, Shared, TemplateChoice};
use super::audit_panel::AuditPanel;
use super::document::Command;
use crate::data::store::{self, StoreUsage};
use crate::project::{
    AudioSettings, DataKind, DataSettings, ImageSettings, Source, TableSettings, Task,
    TextSettings, TokenizerKind,
};

/// The Data screen's own state.
pub struct DataScreen {
    /// Seed of the augmentation preview (new examples on request).
    pub(super) preview_seed: u64,
    /// The augmentation preview's textures, keyed by what they show.
    pub(super) preview_cache: Option<(String, Vec<egui::TextureHandle>)>,
    /// The data source or the column to predict changed: the next import fits the model to it.
    refit_model: bool,
    /// "Check the data".
    pub(super) audit: AuditPanel,
    /// What the sample stores take on disk, measured for the data imported last (the address
    /// of its prepared data): read again only after an import or *Clear*, not every frame.
    store_usage: Option<(usize, StoreUsage)>,
}

impl Default for DataScreen {
    fn default() -> Self {
        Self {
            preview_seed: 1,
            preview_cache: None,
            refit_model: false,
            audit: AuditPanel::default(),
            store_usage: None,
        }
    }
}

impl DataScreen {
    /// What the import asked for now does afterwards: fit the model when the source or the
    /// column to predict changed since the last import.
    fn after_import(&mut self) -> AfterImport {
        AfterImport {
            fit_template: std::mem::take(&mut self.refit_model).then_some(TemplateChoice::Default),
            train: false,
        }
    }
}

/// Whether two settings read the data the same way (same source; same image size and channels,
/// or same target column and task; the same samples left out or relabelled).
pub(super) fn same_import(a: &DataSettings, b: &DataSettings) -> bool {
    // A table's encoding and a text vocabulary come from the training split, so a new split
    // means reading the data again.
    a.path == b.path
        && a.source == b.source
        && a.edits == b.edits
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

impl DataScreen {
    /// Draws the Data screen.
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        let Some(doc) = cx.doc() else { return };
        let mut settings = doc.project.data.clone();
        let before = settings.clone();
        egui::Panel::left("data-settings")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.data_settings_ui(ui, cx, &mut settings);
                    self.sample_store_ui(ui, cx);
                });
            });
        if settings != before {
            cx.edit(Command::SetData(settings));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| self.data_view_ui(ui, cx));
        });
    }

    /// Where prepared samples (pictures, spectrograms, token ids, encoded rows) are kept, how
    /// much room they take, and *Clear*.
    fn sample_store_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        let Some(dir) = store::default_dir() else {
            return;
        };
        ui.separator();
        ui.heading("Prepared samples");
        let imported = cx
            .data()
            .map_or(0, |d| std::sync::Arc::as_ptr(&d.prepared) as usize);
        let measured = self
            .store_usage
            .as_ref()
            .is_some_and(|(of, _)| *of == imported);
        if !measured && cx.importing().is_none() {
            self.store_usage = Some((imported, store::usage(&dir)));
        }
        let usage = self
            .store_usage
            .as_ref()
            .map(|(_, u)| u.clone())
            .unwrap_or_default();
        ui.label(if usage.bytes == 0 {
            "Decoded once and kept on disk (pictures, sounds as spectrograms, texts as token ids, table rows as numbers), so training reads them from there and reopening skips decoding. Nothing is kept now: the next import decodes the files.".to_owned()
        } else {
            format!(
                "Decoded once and kept on disk (pictures, sounds as spectrograms, texts as token ids, table rows as numbers), so training reads them from there and reopening skips decoding: {} for {} data {}.",
                crate::engine::human_bytes(usage.bytes),
                usage.folders,
                if usage.folders == 1 { "set" } else { "sets" },
            )
        });
        ui.horizontal(|ui| {
            ui.label(
                egui::RichText::new(dir.display().to_string())
                    .small()
                    .weak(),
            )
            .on_hover_text("The data folders and files themselves are never written to.");
        });
        let clear = ui
            .add_enabled(
                usage.bytes > 0 && cx.importing().is_none(),
                egui::Button::new("Clear prepared samples"),
            )
            .on_hover_text("Frees the room; the next import decodes the files again. The data open now stays usable.");
        if clear.clicked() {
            match store::clear(&dir) {
                Ok(freed) => cx.send(AppCommand::Info(format!(
                    "Cleared the prepared samples ({}).",
                    crate::engine::human_bytes(freed)
                ))),
                Err(e) => cx.send(AppCommand::Error(format!(
                    "Could not clear the prepared samples in {}: {e}",
                    dir.display()
                ))),
            }
            self.store_usage = None;
        }
    }

    fn data_settings_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared, s: &mut DataSettings) {
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
                self.refit_model = true;
            }
        });
        ui.add_space(6.0);
        let in_folders = s.path.is_dir();
        match &mut s.source {
            Source::Image(image) => image_settings_ui(ui, image),
            Source::Tabular(table) => self.table_settings_ui(ui, cx, table),
            Source::Text(text) => self.text_settings_ui(ui, cx, in_folders, text),
            Source::Audio(audio) => audio_settings_ui(ui, audio),
        }
        let stale = cx.data().is_some_and(|d| !same_import(&d.settings, s));
        if cx.importing().is_none() {
            ui.add_space(4.0);
            let (label, hint) = if cx.data().is_none() {
                ("Import data", "Read the data with these settings")
            } else if stale {
                (
                    "Import again with these settings",
                    "The settings changed since the last import",
                )
            } else {
                (
                    "Import again",
                    "Read the data again, e.g. after adding or changing files (Ctrl+R)",
                )
            };
            if ui.button(label).on_hover_text(hint).clicked() {
                cx.edit(Command::SetData(s.clone()));
                cx.send(AppCommand::StartImport(self.after_import()));
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

    fn text_settings_ui(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut Shared,
        in_folders: bool,
        s: &mut TextSettings,
    ) {
        let header: Vec<String> = cx
            .data()
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
                "Words: each word is one token (best for most texts). Words and marks: commas, full stops and other marks are tokens too (what the bag-of-words model reads). Characters: each letter is one token; no unknown words, but longer sequences.",
            );
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.radio_value(&mut s.tokenizer, TokenizerKind::Words, "words");
                    ui.radio_value(&mut s.tokenizer, TokenizerKind::WordsAndMarks, "words and marks");
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

    fn table_settings_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared, s: &mut TableSettings) {
        let header: Vec<String> = cx
            .data()
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
            self.refit_model = true;
        }
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
