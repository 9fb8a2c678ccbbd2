//! What the Data screen shows of the imported data: class counts, thumbnails and the
//! augmentation preview for images and clips, example rows of a table, example texts with their
//! tokens, and the import report.

use std::sync::Arc;

use eframe::egui;
use egui_plot::{Bar, BarChart, Plot};
use rand::SeedableRng;

use super::app::{AppCommand, Shared};
use super::data_screen::DataScreen;
use super::widgets;
use crate::data::{
    AudioDataset, ColumnKind, Dataset, ImageDataset, ImportReport, Split, TableDataset, TextDataset,
};
use crate::engine::PreparedData;
use crate::project::{DataKind, Task, TokenizerKind};

/// Thumbnails shown per class.
const THUMBS_PER_CLASS: usize = 10;
/// Table rows shown as examples.
const ROWS_SHOWN: usize = 12;
/// Largest / smallest class ratio from which the imbalance warning shows.
const IMBALANCE_RATIO: f64 = 1.5;

impl DataScreen {
    pub(super) fn data_view_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        if let Some(job) = cx.importing().map(|i| &i.job) {
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
        let Some(data) = cx.data() else {
            ui.heading("No data yet");
            ui.label("Choose a folder of images or a CSV table on the left and press Import data.");
            return;
        };
        // Shared handles, not copies: this runs every frame.
        let prepared = data.prepared.clone();
        let report = data.report.clone();
        self.audit.audit_ui(ui, cx, &prepared);
        ui.add_space(4.0);
        match prepared.dataset.as_ref() {
            Dataset::Images(images) => {
                self.images_view_ui(ui, cx, &prepared, images, None, &report)
            }
            Dataset::Audio(audio) => {
                self.images_view_ui(ui, cx, &prepared, &audio.images, Some(audio), &report)
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
        cx: &mut Shared,
        prepared: &Arc<PreparedData>,
        dataset: &ImageDataset,
        audio: Option<&AudioDataset>,
        report: &ImportReport,
    ) {
        let split = &prepared.split;
        let augmentation = cx
            .doc()
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
                let mfcc = cx
                    .data()
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
        if audio.is_some() {
            ui.weak("Click a spectrogram to hear its clip.");
        }
        let ctx = ui.ctx().clone();
        let salt = Arc::as_ptr(&prepared.dataset) as usize;
        for (class, name) in dataset.classes.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.add_sized([110.0, 20.0], egui::Label::new(name).truncate());
                for i in (0..dataset.len())
                    .filter(|&i| dataset.labels[i] == class)
                    .take(THUMBS_PER_CLASS)
                {
                    let texture = cx.thumbnails.get(&ctx, dataset, salt, i);
                    let path = &dataset.paths[i];
                    if audio.is_some() {
                        let clicked = widgets::playable_thumbnail(ui, &texture, 48.0, path)
                            .on_hover_text(format!("{}\nClick to hear it.", path.display()))
                            .clicked();
                        if clicked {
                            cx.send(AppCommand::PlayClip(path.clone()));
                        }
                    } else {
                        widgets::thumbnail(ui, &texture, 48.0)
                            .on_hover_text(path.display().to_string());
                    }
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
                                &dataset.sample(index),
                                dataset.height,
                                dataset.width,
                                &augmentation,
                                audio.is_some_and(|a| a.mfcc),
                                &mut rng,
                                &mut buf,
                            );
                        } else {
                            crate::data::augment_into(
                                &dataset.sample(index),
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
        TokenizerKind::WordsAndMarks => "words and marks",
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
