//! The Data screen: import settings, class counts with an imbalance warning, thumbnails per
//! class, a live preview of augmented training images, and the import report.

use std::sync::Arc;

use eframe::egui;
use egui_plot::{Bar, BarChart, Plot};
use rand::SeedableRng;

use super::app::StrataApp;
use super::document::Command;
use super::widgets;
use crate::engine::PreparedData;
use crate::project::DataSettings;

/// Thumbnails shown per class.
const THUMBS_PER_CLASS: usize = 10;
/// Largest / smallest class ratio from which the imbalance warning shows.
const IMBALANCE_RATIO: f64 = 1.5;

/// Whether two settings decode images the same way (same folder, size, channels).
pub(super) fn same_import(a: &DataSettings, b: &DataSettings) -> bool {
    a.path == b.path
        && a.image_width == b.image_width
        && a.image_height == b.image_height
        && a.channels == b.channels
}

/// Whether two settings give the same images and the same train/validation/test split
/// (augmentation aside, which only changes training batches).
pub(super) fn same_split(a: &DataSettings, b: &DataSettings) -> bool {
    same_import(a, b)
        && a.val_fraction == b.val_fraction
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
            &data.prepared.dataset.labels,
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
        ui.heading("Images");
        ui.label("Folder (one sub-folder per class):");
        ui.add(
            egui::Label::new(egui::RichText::new(s.path.display().to_string()).monospace()).wrap(),
        );
        if ui.button("Choose another folder…").clicked() {
            if let Some(folder) = rfd::FileDialog::new()
                .set_title("Choose a folder with one sub-folder of images per class")
                .pick_folder()
            {
                s.path = folder;
            }
        }
        ui.add_space(6.0);
        egui::Grid::new("import-settings").num_columns(2).show(ui, |ui| {
            ui.label("Image size")
                .on_hover_text("Every image is resized to this many pixels before the model sees it. Smaller trains faster; larger keeps detail.");
            ui.horizontal(|ui| {
                ui.add(egui::DragValue::new(&mut s.image_width).range(4..=512).suffix(" px"));
                ui.label("×");
                ui.add(egui::DragValue::new(&mut s.image_height).range(4..=512).suffix(" px"));
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
        let stale = self
            .data
            .as_ref()
            .is_some_and(|d| !same_import(&d.settings, s));
        if self.import.is_none() && (stale || self.data.is_none()) {
            ui.add_space(4.0);
            let label = if self.data.is_none() {
                "Import images"
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
        ui.label("Part of each class held back from training:")
            .on_hover_text("Validation images show during training whether the model generalises (overfitting shows up here). Test images are kept for the final evaluation only.");
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
            ui.heading("No images yet");
            ui.label("Choose a folder on the left and press Import images.");
            return;
        };
        // Shared handles, not copies: this runs every frame.
        let prepared = data.prepared.clone();
        let (dataset, split) = (&prepared.dataset, &prepared.split);
        let report = data.report.clone();
        let augmentation = self
            .doc
            .as_ref()
            .map(|d| d.project.data.augmentation.clone())
            .unwrap_or_default();

        ui.heading(format!(
            "{} images in {} classes",
            dataset.len(),
            dataset.classes.len()
        ));
        ui.label(format!(
            "Each image becomes {} × {} pixels, {}.  Split: {} for training, {} for validation, {} for testing.",
            dataset.width,
            dataset.height,
            if dataset.channels >= 3 { "colour" } else { "grayscale" },
            split.train.len(),
            split.val.len(),
            split.test.len()
        ));
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

        // Class counts.
        ui.add_space(8.0);
        ui.strong("Images per class");
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
                p.bar_chart(
                    BarChart::new("images", bars).color(egui::Color32::from_rgb(80, 140, 230)),
                )
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
                format!("The classes are imbalanced: the largest has {max} images, the smallest {min}. The model may favour the large classes; add images to the small ones if you can."),
            );
        }
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
        let salt = Arc::as_ptr(dataset) as usize;
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
        if augmentation.is_active() {
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
                        crate::data::augment_into(
                            dataset.sample(index),
                            dataset.channels,
                            dataset.height,
                            dataset.width,
                            &augmentation,
                            &mut rng,
                            &mut buf,
                        );
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

        // Import report.
        ui.add_space(8.0);
        egui::CollapsingHeader::new(format!(
            "Import report: {} used, {} skipped",
            report.images,
            report.skipped.len()
        ))
        .default_open(!report.skipped.is_empty())
        .show(ui, |ui| {
            ui.label(format!("Folder: {}", report.root.display()));
            for c in &report.classes {
                ui.label(format!("{}: {} images", c.name, c.count));
            }
            if report.skipped.is_empty() {
                ui.label("Every image file could be used.");
            } else {
                egui::Grid::new("skipped")
                    .striped(true)
                    .num_columns(2)
                    .show(ui, |ui| {
                        ui.strong("File");
                        ui.strong("Why it was skipped");
                        ui.end_row();
                        for s in &report.skipped {
                            ui.monospace(s.path.display().to_string());
                            ui.label(&s.reason);
                            ui.end_row();
                        }
                    });
            }
        });
    }
}
