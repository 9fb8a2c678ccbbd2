//! Small reusable pieces: image textures from decoded samples, the training-curves plot and the
//! probability bars.

use std::collections::HashMap;

use eframe::egui::{self, Color32, ColorImage, TextureHandle, TextureOptions};
use egui_plot::{Bar, BarChart, Corner, Legend, Line, LineStyle, Plot, PlotPoints, Points};

/// Colour of training curves.
const TRAIN_COLOR: Color32 = Color32::from_rgb(80, 140, 230);
/// Colour of validation curves.
const VAL_COLOR: Color32 = Color32::from_rgb(235, 140, 50);

use crate::data::ImageDataset;
use crate::engine::EpochMetrics;
use crate::project::Task;

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
                    &dataset.sample(index),
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

/// A clip's spectrogram thumbnail that plays the clip when clicked (its accessible name is
/// "Play FILE").
pub fn playable_thumbnail(
    ui: &mut egui::Ui,
    texture: &TextureHandle,
    size: f32,
    path: &std::path::Path,
) -> egui::Response {
    let [w, h] = texture.size();
    let scale = size / (w.max(h).max(1) as f32);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    ui.add(
        egui::Image::new(texture)
            .fit_to_exact_size(egui::vec2(w as f32 * scale, h as f32 * scale))
            .sense(egui::Sense::click())
            .alt_text(format!("Play {name}")),
    )
    .on_hover_cursor(egui::CursorIcon::PointingHand)
}

/// A run's name with its training and validation lines.
type OtherRun = (String, Vec<[f64; 2]>, Vec<[f64; 2]>);

/// One metric over epochs: a training and a validation line.
struct CurvePlot<'a> {
    id: String,
    title: &'a str,
    train_name: &'a str,
    val_name: &'a str,
    train: Vec<[f64; 2]>,
    val: Vec<[f64; 2]>,
    legend: Corner,
    /// Accuracy plots always show the whole 0–1 range.
    unit_range: bool,
    /// Another run's training and validation lines, dashed, with its name.
    other: Option<OtherRun>,
}

impl CurvePlot<'_> {
    fn show(self, ui: &mut egui::Ui, width: f32, height: f32) {
        ui.vertical(|ui| {
            ui.strong(self.title);
            let mut plot = Plot::new(self.id)
                .height(height)
                .width(width)
                .legend(Legend::default().position(self.legend))
                .x_axis_label("epoch")
                .include_x(1.0)
                .include_y(0.0)
                .allow_scroll(false);
            if self.unit_range {
                plot = plot.include_y(1.0);
            }
            plot.show(ui, |p| {
                p.line(
                    Line::new(self.train_name, PlotPoints::from(self.train))
                        .width(2.0)
                        .color(TRAIN_COLOR),
                );
                p.line(
                    Line::new(self.val_name, PlotPoints::from(self.val))
                        .width(2.0)
                        .color(VAL_COLOR),
                );
                if let Some((name, train, val)) = self.other {
                    p.line(
                        Line::new(
                            format!("{} ({name})", self.train_name),
                            PlotPoints::from(train),
                        )
                        .width(1.5)
                        .style(LineStyle::dashed_loose())
                        .color(TRAIN_COLOR),
                    );
                    p.line(
                        Line::new(format!("{} ({name})", self.val_name), PlotPoints::from(val))
                            .width(1.5)
                            .style(LineStyle::dashed_loose())
                            .color(VAL_COLOR),
                    );
                }
            });
        });
    }
}

/// Training and validation loss (left) and accuracy, or R² for regression (right), per epoch,
/// plus the running loss of the epoch in progress; `compare` (a run's name and epochs) is drawn
/// over them, dashed.
pub fn curves_ui(
    ui: &mut egui::Ui,
    id: &str,
    history: &[EpochMetrics],
    live: Option<(f64, f64)>,
    task: Task,
    height: f32,
    compare: Option<(&str, &[EpochMetrics])>,
) {
    let width = (ui.available_width() - 12.0).max(200.0) / 2.0;
    let points = |f: fn(&EpochMetrics) -> Option<f64>| -> Vec<[f64; 2]> {
        history
            .iter()
            .filter_map(|m| f(m).map(|v| [m.epoch as f64, v]))
            .collect()
    };
    let other = |f: fn(&EpochMetrics) -> Option<f64>, g: fn(&EpochMetrics) -> Option<f64>| {
        compare.map(|(name, epochs)| {
            let line = |h: fn(&EpochMetrics) -> Option<f64>| -> Vec<[f64; 2]> {
                epochs
                    .iter()
                    .filter_map(|m| h(m).map(|v| [m.epoch as f64, v]))
                    .collect()
            };
            (name.to_owned(), line(f), line(g))
        })
    };
    let mut train_loss = points(|m| Some(m.train_loss));
    if let Some((x, y)) = live {
        train_loss.push([x, y]);
    }
    ui.horizontal(|ui| {
        CurvePlot {
            id: format!("{id}-loss"),
            title: "Loss (lower is better)",
            train_name: "training loss",
            val_name: "validation loss",
            train: train_loss,
            val: points(|m| m.val_loss),
            legend: Corner::RightTop,
            unit_range: false,
            other: other(|m| Some(m.train_loss), |m| m.val_loss),
        }
        .show(ui, width, height);
        let (title, train_name, val_name) = match task {
            Task::Classify => (
                "Accuracy (higher is better)",
                "training accuracy",
                "validation accuracy",
            ),
            Task::Regress => (
                "R² (higher is better; 1 is perfect)",
                "training R²",
                "validation R²",
            ),
        };
        CurvePlot {
            id: format!("{id}-acc"),
            title,
            train_name,
            val_name,
            train: points(|m| Some(m.train_accuracy)),
            val: points(|m| m.val_accuracy),
            legend: Corner::RightBottom,
            unit_range: true,
            other: other(|m| Some(m.train_accuracy), |m| m.val_accuracy),
        }
        .show(ui, width, height);
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

/// A histogram of `values` in `bins` equal-width bins; `unit` names what is counted ("rows").
pub fn histogram(ui: &mut egui::Ui, id: &str, values: &[f64], bins: usize, unit: &str) {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !(lo.is_finite() && hi.is_finite()) || bins == 0 {
        ui.weak("No values to show.");
        return;
    }
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let mut counts = vec![0usize; bins];
    for v in values.iter().filter(|v| v.is_finite()) {
        let b = (((v - lo) / width) as usize).min(bins - 1);
        counts[b] += 1;
    }
    let bars: Vec<Bar> = counts
        .iter()
        .enumerate()
        .map(|(b, &n)| Bar::new(lo + (b as f64 + 0.5) * width, n as f64).width(width * 0.9))
        .collect();
    Plot::new(id)
        .height(140.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .y_axis_label(unit)
        .show(ui, |p| {
            p.bar_chart(BarChart::new(unit, bars).color(TRAIN_COLOR))
        });
}

/// Predicted against actual values, with the diagonal where a perfect model's points would lie.
pub fn predicted_vs_actual(
    ui: &mut egui::Ui,
    id: &str,
    actual: &[f64],
    predicted: &[f64],
    height: f32,
) {
    let points: Vec<[f64; 2]> = actual
        .iter()
        .zip(predicted)
        .filter(|(a, p)| a.is_finite() && p.is_finite())
        .map(|(&a, &p)| [a, p])
        .collect();
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p[0]).min(p[1]), hi.max(p[0]).max(p[1]))
        });
    let mut plot = Plot::new(id)
        .height(height)
        .x_axis_label("actual")
        .y_axis_label("predicted")
        .legend(Legend::default().position(Corner::LeftTop));
    if lo.is_finite() && hi.is_finite() {
        // The same range on both axes, so the diagonal is the line of perfect predictions.
        plot = plot.include_x(lo).include_x(hi).include_y(lo).include_y(hi);
    }
    plot.show(ui, |p| {
        if lo.is_finite() && hi.is_finite() {
            p.line(
                Line::new(
                    "perfect prediction",
                    PlotPoints::from(vec![[lo, lo], [hi, hi]]),
                )
                .color(Color32::GRAY),
            );
        }
        p.points(Points::new("rows", points).radius(2.5).color(TRAIN_COLOR));
    });
}
