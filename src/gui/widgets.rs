//! Small reusable pieces: image textures from decoded samples, the training-curves plot and the
//! probability bars.

use std::collections::HashMap;

use eframe::egui::{self, Color32, ColorImage, TextureHandle, TextureOptions};
use egui_plot::{Corner, Legend, Line, Plot, PlotPoints};

/// Colour of training curves.
const TRAIN_COLOR: Color32 = Color32::from_rgb(80, 140, 230);
/// Colour of validation curves.
const VAL_COLOR: Color32 = Color32::from_rgb(235, 140, 50);

use crate::data::ImageDataset;
use crate::engine::EpochMetrics;

/// Turns a C×H×W u8 image (1 or 3 channels) into an egui image.
pub fn color_image(pixels: &[u8], channels: usize, height: usize, width: usize) -> ColorImage {
    let plane = height * width;
    if channels >= 3 && pixels.len() >= 3 * plane {
        let mut rgb = Vec::with_capacity(plane * 3);
        for i in 0..plane {
            rgb.extend_from_slice(&[pixels[i], pixels[plane + i], pixels[2 * plane + i]]);
        }
        ColorImage::from_rgb([width, height], &rgb)
    } else if pixels.len() >= plane {
        ColorImage::from_gray([width, height], &pixels[..plane])
    } else {
        ColorImage::new([1, 1], vec![Color32::GRAY])
    }
}

/// Same as [`color_image`] for f32 values in [0, 1] (augmented previews).
pub fn color_image_f32(values: &[f32], channels: usize, height: usize, width: usize) -> ColorImage {
    let bytes: Vec<u8> = values
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    color_image(&bytes, channels, height, width)
}

/// Textures of data-set images, made on first use and kept until the data changes.
#[derive(Default)]
pub struct Thumbnails {
    textures: HashMap<(usize, usize), TextureHandle>,
}

impl Thumbnails {
    /// The texture of sample `index` of `dataset` (`salt` tells data sets apart).
    pub fn get(
        &mut self,
        ctx: &egui::Context,
        dataset: &ImageDataset,
        salt: usize,
        index: usize,
    ) -> TextureHandle {
        self.textures
            .entry((salt, index))
            .or_insert_with(|| {
                let image = color_image(
                    dataset.sample(index),
                    dataset.channels,
                    dataset.height,
                    dataset.width,
                );
                ctx.load_texture(
                    format!("sample-{salt}-{index}"),
                    image,
                    TextureOptions::NEAREST,
                )
            })
            .clone()
    }
}

/// Shows a texture scaled to `size` points on its longer side.
pub fn thumbnail(ui: &mut egui::Ui, texture: &TextureHandle, size: f32) -> egui::Response {
    let [w, h] = texture.size();
    let scale = size / (w.max(h).max(1) as f32);
    ui.add(
        egui::Image::new(texture).fit_to_exact_size(egui::vec2(w as f32 * scale, h as f32 * scale)),
    )
}

/// Training and validation loss (left) and accuracy (right) per epoch, plus the running loss of
/// the epoch in progress.
pub fn curves_ui(
    ui: &mut egui::Ui,
    id: &str,
    history: &[EpochMetrics],
    live: Option<(f64, f64)>,
    height: f32,
) {
    let width = (ui.available_width() - 12.0).max(200.0) / 2.0;
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            ui.strong("Loss (lower is better)");
            let mut train: Vec<[f64; 2]> = history
                .iter()
                .map(|m| [m.epoch as f64, m.train_loss])
                .collect();
            if let Some((x, y)) = live {
                train.push([x, y]);
            }
            let val: Vec<[f64; 2]> = history
                .iter()
                .filter_map(|m| m.val_loss.map(|v| [m.epoch as f64, v]))
                .collect();
            Plot::new(format!("{id}-loss"))
                .height(height)
                .width(width)
                .legend(Legend::default().position(Corner::RightTop))
                .x_axis_label("epoch")
                .include_x(1.0)
                .include_y(0.0)
                .allow_scroll(false)
                .show(ui, |p| {
                    p.line(
                        Line::new("training loss", PlotPoints::from(train))
                            .width(2.0)
                            .color(TRAIN_COLOR),
                    );
                    p.line(
                        Line::new("validation loss", PlotPoints::from(val))
                            .width(2.0)
                            .color(VAL_COLOR),
                    );
                });
        });
        ui.vertical(|ui| {
            ui.strong("Accuracy (higher is better)");
            let train: Vec<[f64; 2]> = history
                .iter()
                .map(|m| [m.epoch as f64, m.train_accuracy])
                .collect();
            let val: Vec<[f64; 2]> = history
                .iter()
                .filter_map(|m| m.val_accuracy.map(|v| [m.epoch as f64, v]))
                .collect();
            Plot::new(format!("{id}-acc"))
                .height(height)
                .width(width)
                .legend(Legend::default().position(Corner::RightBottom))
                .x_axis_label("epoch")
                .include_x(1.0)
                .include_y(0.0)
                .include_y(1.0)
                .allow_scroll(false)
                .show(ui, |p| {
                    p.line(
                        Line::new("training accuracy", PlotPoints::from(train))
                            .width(2.0)
                            .color(TRAIN_COLOR),
                    );
                    p.line(
                        Line::new("validation accuracy", PlotPoints::from(val))
                            .width(2.0)
                            .color(VAL_COLOR),
                    );
                });
        });
    });
}

/// One horizontal bar per class with its probability, the highest highlighted.
pub fn probability_bars(ui: &mut egui::Ui, classes: &[String], probabilities: &[f32]) {
    let best = crate::eval::argmax(probabilities).0;
    egui::Grid::new(ui.next_auto_id())
        .num_columns(2)
        .show(ui, |ui| {
            for (i, (class, p)) in classes.iter().zip(probabilities).enumerate() {
                if i == best {
                    ui.strong(class);
                } else {
                    ui.label(class);
                }
                ui.add(
                    egui::ProgressBar::new(*p)
                        .desired_width(220.0)
                        .text(format!("{:.1}%", p * 100.0)),
                );
                ui.end_row();
            }
        });
}
