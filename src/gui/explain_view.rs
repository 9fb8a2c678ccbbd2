//! The "Why?" window the Evaluate and Use screens open for one sample: the explanation made on a
//! worker (kept with the run, so asking again is instant), the method to choose, the heat map
//! over the picture with an opacity slider, highlighted words or column bars, the line saying how
//! to read it, and the sanity checks' verdicts.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui::{self, Color32, RichText};

use super::app::Shared;
use super::jobs::{Job, JobError};
use super::widgets;
use crate::data::Dataset;
use crate::engine::TrainedModel;
use crate::explain::{self, Contribution, Explanation, Map, Method};
use crate::workflow::{self, ExplainAsk};

/// The sample asked about.
#[derive(Clone)]
struct Target {
    run_dir: PathBuf,
    model: Option<Arc<TrainedModel>>,
    dataset: Arc<Dataset>,
    index: usize,
}

impl Target {
    fn same(&self, other: &Self) -> bool {
        self.run_dir == other.run_dir
            && Arc::ptr_eq(&self.dataset, &other.dataset)
            && self.index == other.index
    }
}

/// State of the "Why?" window.
pub struct ExplainView {
    target: Option<Target>,
    job: Option<Job<Explanation>>,
    /// The explanation shown (for `target`).
    pub shown: Option<Explanation>,
    failed: Option<String>,
    /// The method chosen (None = the kind's default).
    method: Option<Method>,
    /// Whether the sanity checks run with the explanation.
    pub checks: bool,
    opacity: f32,
    /// The overlay texture and the opacity it was drawn with.
    texture: Option<(f32, egui::TextureHandle)>,
}

impl Default for ExplainView {
    fn default() -> Self {
        Self {
            target: None,
            job: None,
            shown: None,
            failed: None,
            method: None,
            checks: true,
            opacity: 0.6,
            texture: None,
        }
    }
}

impl ExplainView {
    /// Asks why the model of `run_dir` (`model` when already loaded) answered what it did for
    /// sample `index` of `dataset`, and opens the window.
    pub fn ask(
        &mut self,
        cx: &Shared,
        run_dir: PathBuf,
        model: Option<Arc<TrainedModel>>,
        dataset: Arc<Dataset>,
        index: usize,
    ) {
        let target = Target {
            run_dir,
            model,
            dataset,
            index,
        };
        if self.target.as_ref().is_some_and(|t| !t.same(&target)) {
            self.method = None;
        }
        self.target = Some(target);
        self.start(cx);
    }

    /// Whether an explanation is being made.
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    fn start(&mut self, cx: &Shared) {
        let Some(target) = self.target.clone() else {
            return;
        };
        if let Some(old) = self.job.take() {
            old.cancel();
        }
        self.shown = None;
        self.failed = None;
        self.texture = None;
        let ask = ExplainAsk {
            method: self.method,
            class: None,
            checks: self.checks,
        };
        let ctx = cx.waker();
        self.job = Some(Job::spawn("Explaining", &ctx, move |_job| {
            let model = match target.model {
                Some(m) => m,
                None => Arc::new(TrainedModel::load(
                    &target.run_dir,
                    &crate::engine::inference_device(),
                )?),
            };
            workflow::explain_sample(
                Some(&target.run_dir),
                &model,
                &target.dataset,
                target.index,
                ask,
            )
        }));
    }

    /// Draws the window when a sample was asked about.
    pub fn window_ui(&mut self, ctx: &egui::Context, cx: &Shared) {
        if let Some(job) = &mut self.job {
            if let Some(result) = job.poll() {
                self.job = None;
                match result {
                    Ok(e) => self.shown = Some(e),
                    Err(JobError::Cancelled) => {}
                    Err(JobError::Failed(e)) => self.failed = Some(e),
                }
            }
        }
        let Some(target) = self.target.clone() else {
            return;
        };
        let mut open = true;
        egui::Window::new("Why did the model say that?")
            .id(egui::Id::new("why-window"))
            .open(&mut open)
            .default_width(420.0)
            .default_pos(ctx.content_rect().right_top() + egui::vec2(-460.0, 80.0))
            .show(ctx, |ui| self.contents_ui(ui, cx, &target));
        if !open {
            if let Some(job) = self.job.take() {
                job.cancel();
            }
            self.target = None;
            self.shown = None;
            self.texture = None;
        }
    }

    fn contents_ui(&mut self, ui: &mut egui::Ui, cx: &Shared, target: &Target) {
        let dataset = &target.dataset;
        ui.weak(dataset.source(target.index));
        let kind = dataset.kind();
        let methods: Vec<Method> = Method::ALL
            .into_iter()
            .filter(|m| m.applies_to(kind))
            .collect();
        let mut restart = false;
        ui.horizontal(|ui| {
            if methods.len() > 1 {
                ui.label("Method:");
                let current = self
                    .method
                    .or(self.shown.as_ref().map(|e| e.method))
                    .map_or("Default", Method::label);
                egui::ComboBox::from_id_salt("why-method")
                    .selected_text(current)
                    .show_ui(ui, |ui| {
                        for m in &methods {
                            if ui
                                .selectable_label(self.method == Some(*m), m.label())
                                .clicked()
                            {
                                self.method = Some(*m);
                                restart = true;
                            }
                        }
                    });
            }
            if ui
                .checkbox(&mut self.checks, "Sanity checks")
                .on_hover_text(
                    "Also check that the explanation means something: it must change when the \
                     model's weights are randomised, and removing what it marks must lower the \
                     score faster than removing parts at random. About three times the work.",
                )
                .changed()
            {
                restart = true;
            }
        });
        if restart {
            self.start(cx);
        }
        if let Some(job) = &self.job {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Explaining… ({:.0}s)", job.elapsed_secs()));
            });
            return;
        }
        if let Some(e) = &self.failed {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Could not explain: {e}"),
            );
            return;
        }
        let Some(e) = self.shown.clone() else {
            return;
        };
        ui.label(
            RichText::new(if dataset.task() == crate::project::Task::Regress {
                format!("Predicted: {:.4}", e.score)
            } else {
                format!("Said: {} ({:.1}%)", e.class_name, e.score * 100.0)
            })
            .strong()
            .size(16.0),
        );
        match &e.map {
            Map::Grid { .. } => self.heat_map_ui(ui, dataset, target.index, &e),
            Map::Tokens(tokens) => words_ui(ui, tokens),
            Map::Columns(columns) => columns_ui(ui, columns, dataset),
        }
        ui.add_space(4.0);
        ui.label(RichText::new(e.how_to_read()).italics());
        if let Some(s) = &e.sanity {
            ui.add_space(4.0);
            let verdict = |ui: &mut egui::Ui, pass: Option<bool>, line: String| {
                let (mark, colour) = match pass {
                    Some(true) => ("✔", Color32::from_rgb(40, 150, 60)),
                    Some(false) => ("✖", ui.visuals().error_fg_color),
                    None => ("–", ui.visuals().weak_text_color()),
                };
                ui.horizontal_wrapped(|ui| {
                    ui.colored_label(colour, mark);
                    ui.label(line);
                });
            };
            verdict(ui, s.passes_randomisation(), s.randomisation_line());
            verdict(ui, Some(s.passes_deletion()), s.deletion_line());
            if !s.passes() {
                ui.weak(
                    "A failed check means this map may show the input more than the model's \
                     reasons; try another method.",
                );
            }
        }
    }

    fn heat_map_ui(&mut self, ui: &mut egui::Ui, dataset: &Dataset, index: usize, e: &Explanation) {
        let Some(images) = dataset.images() else {
            return;
        };
        ui.horizontal(|ui| {
            ui.label("Opacity:");
            ui.add(egui::Slider::new(&mut self.opacity, 0.0..=1.0).show_value(false));
        });
        let stale = self
            .texture
            .as_ref()
            .is_none_or(|(o, _)| (*o - self.opacity).abs() > 1e-3);
        if stale {
            if let (Some(rgb), Map::Grid { height, width, .. }) = (
                explain::overlay(&images.sample(index), images.channels, &e.map, self.opacity),
                &e.map,
            ) {
                let image = egui::ColorImage::from_rgb([*width, *height], &rgb);
                let texture =
                    ui.ctx()
                        .load_texture("why-heat-map", image, egui::TextureOptions::LINEAR);
                self.texture = Some((self.opacity, texture));
            }
        }
        if let Some((_, texture)) = &self.texture {
            let size = (ui.available_width() - 8.0).clamp(160.0, 320.0);
            widgets::thumbnail(ui, texture, size);
        }
        heat_legend_ui(ui);
    }
}

/// The colour ramp with its meaning.
fn heat_legend_ui(ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.weak("not used");
        let (rect, _) = ui.allocate_exact_size(egui::vec2(120.0, 10.0), egui::Sense::hover());
        let painter = ui.painter();
        for i in 0..40 {
            let v = i as f32 / 39.0;
            let [r, g, b] = explain::heat_color(v);
            let x0 = rect.left() + rect.width() * i as f32 / 40.0;
            let cell = egui::Rect::from_min_max(
                egui::pos2(x0, rect.top()),
                egui::pos2(x0 + rect.width() / 40.0 + 0.5, rect.bottom()),
            );
            painter.rect_filled(cell, 0.0, Color32::from_rgb(r, g, b));
        }
        ui.weak("most important");
    });
}

/// The words with green (for the class) or red (against) backgrounds, strength by size.
fn words_ui(ui: &mut egui::Ui, tokens: &[Contribution]) {
    let max = tokens
        .iter()
        .map(|t| t.score.abs())
        .fold(0.0f32, f32::max)
        .max(1e-6);
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 3.0;
        for t in tokens {
            let strength = (t.score.abs() / max).clamp(0.0, 1.0);
            let alpha = (strength * 200.0) as u8;
            let background = if t.score >= 0.0 {
                Color32::from_rgba_unmultiplied(40, 170, 70, alpha)
            } else {
                Color32::from_rgba_unmultiplied(210, 50, 50, alpha)
            };
            let mut word = RichText::new(&t.name)
                .background_color(background)
                .size(15.0);
            let mut hover = format!(
                "Removing it changes the probability by {:+.1} points",
                -t.score * 100.0
            );
            if !t.value.is_empty() {
                // A word the model does not know: it reads it as "unknown".
                word = word.italics().weak();
                hover = format!("{hover}\n{}: the model reads it as “unknown”", t.value);
            }
            ui.label(word).on_hover_text(hover);
        }
    });
    if tokens.iter().any(|t| !t.value.is_empty()) {
        ui.weak(
            "Words in grey italics are not in the model's vocabulary: it reads them as “unknown”.",
        );
    }
}

/// Each column's value and a bar for its contribution, biggest first.
fn columns_ui(ui: &mut egui::Ui, columns: &[Contribution], dataset: &Dataset) {
    let mut sorted: Vec<&Contribution> = columns.iter().collect();
    sorted.sort_by(|a, b| b.score.abs().total_cmp(&a.score.abs()));
    let max = sorted.first().map_or(1e-6, |c| c.score.abs()).max(1e-6);
    let regress = dataset.task() == crate::project::Task::Regress;
    egui::Grid::new("why-columns")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            for c in sorted {
                ui.label(format!("{} = {}", c.name, c.value));
                bar_ui(ui, c.score / max);
                ui.weak(if regress {
                    format!("{:+.3}", c.score)
                } else {
                    format!("{:+.1} pts", c.score * 100.0)
                });
                ui.end_row();
            }
        });
}

/// A bar from the middle: right and green for `share` > 0, left and red below.
pub fn bar_ui(ui: &mut egui::Ui, share: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(140.0, 12.0), egui::Sense::hover());
    let mid = rect.center().x;
    let share = if share.is_finite() {
        share.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let end = mid + share * rect.width() / 2.0;
    let bar = egui::Rect::from_min_max(
        egui::pos2(mid.min(end), rect.top()),
        egui::pos2(mid.max(end), rect.bottom()),
    );
    let colour = if share >= 0.0 {
        Color32::from_rgb(60, 160, 80)
    } else {
        Color32::from_rgb(200, 70, 70)
    };
    ui.painter().rect_filled(bar, 2.0, colour);
    ui.painter().line_segment(
        [egui::pos2(mid, rect.top()), egui::pos2(mid, rect.bottom())],
        ui.visuals().widgets.noninteractive.fg_stroke,
    );
}
