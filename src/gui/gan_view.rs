//! The Train and Use screens of an image-generating project (a GAN): train the generator and the
//! discriminator in turn while watching both losses, D(real)/D(fake) and the pictures from fixed
//! noise form epoch by epoch; then draw pictures (per class when conditional), save them, and walk
//! between two random starting points.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Receiver;
use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::app::Shared;
use super::jobs::Job;
use crate::engine::gan::{self, GanEpoch, GanEvent, Painter};

/// Pictures drawn at once on the Use screen.
const DRAW_MAX: usize = 64;

/// Training a GAN from the Train screen.
#[derive(Default)]
pub struct GanTrainer {
    job: Option<Job<PathBuf>>,
    events: Option<Receiver<GanEvent>>,
    /// Epochs of the running (or last) run.
    pub epochs: Vec<GanEpoch>,
    live: Option<(usize, usize, usize)>,
    warnings: Vec<String>,
    grid: Option<(usize, egui::TextureHandle)>,
    end: Option<String>,
    /// The finished run shown when none is going (the newest one with a generator).
    shown_run: Option<PathBuf>,
}

/// An image file as a texture.
fn texture(ctx: &egui::Context, name: &str, path: &Path) -> Option<egui::TextureHandle> {
    let img = image::open(path).ok()?.to_rgba8();
    let size = [img.width() as usize, img.height() as usize];
    let color = egui::ColorImage::from_rgba_unmultiplied(size, img.as_raw());
    Some(ctx.load_texture(name, color, egui::TextureOptions::NEAREST))
}

/// Pictures `[N, C, H, W]` as one texture in rows of `per_row`.
fn grid_texture(
    ctx: &egui::Context,
    name: &str,
    x: &candle_core::Tensor,
    per_row: usize,
) -> Option<egui::TextureHandle> {
    let img = gan::grid_image(x, per_row).ok()?.to_rgba8();
    let size = [img.width() as usize, img.height() as usize];
    let color = egui::ColorImage::from_rgba_unmultiplied(size, img.as_raw());
    Some(ctx.load_texture(name, color, egui::TextureOptions::NEAREST))
}

impl GanTrainer {
    /// Whether a run is going.
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    /// What the last run ended with, for tests and the status line.
    pub fn end(&self) -> Option<&str> {
        self.end.as_deref()
    }

    /// Starts training the project's generator and discriminator on a worker.
    pub fn start(&mut self, cx: &Shared) {
        let (Some(project), Some(path), Some(data)) = (
            cx.project().cloned(),
            cx.project_path().map(Path::to_owned),
            cx.data().map(|d| Arc::clone(&d.prepared)),
        ) else {
            return;
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let waker = cx.waker();
        self.epochs.clear();
        self.warnings.clear();
        self.live = None;
        self.end = None;
        self.shown_run = None;
        self.grid = None;
        self.events = Some(rx);
        self.job = Some(Job::spawn(
            "Training the generator",
            &cx.waker(),
            move |job| {
                let report = move |e: GanEvent| {
                    let _ = tx.send(e);
                    waker.request_repaint();
                };
                gan::train_gan(&path, &project, &data, &report, &job.cancel)
                    .map_err(|e| anyhow::anyhow!(e))
            },
        ));
    }

    /// Takes in the run's events; true when the run ended this frame.
    pub fn poll(&mut self, cx: &mut Shared, ctx: &egui::Context) -> bool {
        if let Some(rx) = &self.events {
            for event in rx.try_iter() {
                match event {
                    GanEvent::Started { .. } => {}
                    GanEvent::Batch {
                        epoch,
                        batch,
                        batches,
                        ..
                    } => self.live = Some((epoch, batch, batches)),
                    GanEvent::Epoch(m) => {
                        if let Some(t) = texture(ctx, "gan-grid", &m.grid) {
                            self.grid = Some((m.epoch, t));
                        }
                        self.epochs.push(m);
                    }
                    GanEvent::Warning(w) => self.warnings.push(w),
                }
            }
        }
        let Some(result) = self.job.as_mut().and_then(|j| j.poll()) else {
            return false;
        };
        self.job = None;
        self.events = None;
        self.live = None;
        let line = match result {
            Ok(run) => {
                cx.reload_runs();
                format!(
                    "Training finished: {} epochs. The Use screen draws new pictures with it (run {}).",
                    self.epochs.len(),
                    run.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                )
            }
            Err(e) => format!("Training stopped: {e}"),
        };
        cx.info(line.clone());
        self.end = Some(line);
        true
    }

    /// Shows the newest finished run's numbers and last grid when no run is going (a project
    /// reopened shows where it stood).
    fn show_newest_run(&mut self, cx: &Shared, ctx: &egui::Context) {
        if self.is_running() || !self.epochs.is_empty() && self.shown_run.is_none() {
            return;
        }
        let newest = cx
            .runs()
            .iter()
            .find(|r| r.dir.join(gan::GENERATOR_FILE).is_file())
            .map(|r| r.dir.clone());
        if newest.is_none() || newest == self.shown_run {
            return;
        }
        if let Some(dir) = newest {
            self.epochs = gan::read_gan_metrics(&dir);
            self.grid = self
                .epochs
                .last()
                .and_then(|m| texture(ctx, "gan-grid", &m.grid).map(|t| (m.epoch, t)));
            self.shown_run = Some(dir);
        }
    }

    /// The Train screen's central part for a generating project.
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared, planned: usize) {
        let ctx = ui.ctx().clone();
        self.poll(cx, &ctx);
        self.show_newest_run(cx, &ctx);
        ui.horizontal_wrapped(|ui| {
            if self.is_running() {
                if ui.button("⏹ Stop").clicked() {
                    if let Some(job) = &self.job {
                        job.cancel();
                    }
                }
            } else if ui
                .add_enabled(cx.data().is_some(), egui::Button::new("▶ Train the generator"))
                .on_hover_text("Trains the generator and the discriminator in turn: the discriminator learns to tell real pictures from generated ones, the generator to fool it.")
                .clicked()
            {
                self.start(cx);
            }
            ui.weak("Two networks take turns: the discriminator (Model screen) learns to tell real pictures from generated ones, the generator learns to fool it.");
        });
        if let Some((epoch, batch, batches)) = self.live {
            let done = (epoch - 1) as f32 + batch as f32 / batches.max(1) as f32;
            ui.add(
                egui::ProgressBar::new(done / planned.max(1) as f32).text(format!(
                    "epoch {epoch} of {planned} — step {batch}/{batches}"
                )),
            );
        } else if self.is_running() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Starting…");
            });
        }
        if let Some(end) = &self.end {
            ui.label(end);
        }
        for w in &self.warnings {
            ui.colored_label(ui.visuals().warn_fg_color, w);
        }
        if let Some(m) = self.epochs.last() {
            ui.label(format!(
                "Epoch {}: discriminator loss {:.3}, generator loss {:.3}; the discriminator calls real pictures {:.0}% real and generated ones {:.0}%; the samples vary {:.0}% as much as real pictures.",
                m.epoch,
                m.d_loss,
                m.g_loss,
                m.d_real * 100.0,
                m.d_fake * 100.0,
                m.variety * 100.0
            ));
        }
        ui.columns(2, |cols| {
            let ui = &mut cols[0];
            ui.strong("Pictures from the same random starting points, after each epoch");
            match &self.grid {
                Some((epoch, t)) => {
                    ui.weak(format!("after epoch {epoch} (one row per class when the generator is told the class)"));
                    ui.image((t.id(), fit(t.size_vec2(), ui.available_width().min(420.0), 420.0)));
                }
                None => {
                    ui.weak("They appear here after the first epoch: noise at first, then shapes, then pictures.");
                }
            }
            let ui = &mut cols[1];
            let points = |f: fn(&GanEpoch) -> f64| -> Vec<[f64; 2]> {
                self.epochs.iter().map(|m| [m.epoch as f64, f(m)]).collect()
            };
            ui.strong("Losses (they should stay in balance, not fall to 0)");
            Plot::new("gan-losses")
                .height(160.0)
                .legend(Legend::default())
                .x_axis_label("epoch")
                .include_y(0.0)
                .allow_scroll(false)
                .show(ui, |p| {
                    p.line(Line::new("discriminator", PlotPoints::from(points(|m| m.d_loss))));
                    p.line(Line::new("generator", PlotPoints::from(points(|m| m.g_loss))));
                });
            ui.strong("What the discriminator says (probability of real)");
            Plot::new("gan-d")
                .height(160.0)
                .legend(Legend::default())
                .x_axis_label("epoch")
                .include_y(0.0)
                .include_y(1.0)
                .allow_scroll(false)
                .show(ui, |p| {
                    p.line(Line::new("D(real)", PlotPoints::from(points(|m| m.d_real))));
                    p.line(Line::new("D(fake)", PlotPoints::from(points(|m| m.d_fake))));
                });
        });
    }
}

/// Drawing pictures with a trained generator on the Use screen.
#[derive(Default)]
pub struct GanDrawer {
    painter: Option<(PathBuf, Painter)>,
    count: usize,
    class: Option<usize>,
    seed: u64,
    seed_b: u64,
    drawn: Option<(candle_core::Tensor, egui::TextureHandle)>,
    walk: Option<egui::TextureHandle>,
    message: Option<String>,
    /// A folder chosen ahead of the dialog (tests).
    pub answer: Option<PathBuf>,
}

impl GanDrawer {
    /// The last drawing's pictures, for tests.
    pub fn drawn(&self) -> Option<&candle_core::Tensor> {
        self.drawn.as_ref().map(|d| &d.0)
    }

    /// What the last save said.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The Use screen of a generating project.
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        let Some(run) = cx
            .runs()
            .iter()
            .find(|r| r.dir.join(gan::GENERATOR_FILE).is_file())
            .map(|r| r.dir.clone())
        else {
            ui.heading("Nothing to draw with yet");
            ui.label("Train the generator on the Train screen first.");
            return;
        };
        if self.painter.as_ref().is_none_or(|(dir, _)| dir != &run) {
            match Painter::load(&run) {
                Ok(p) => self.painter = Some((run.clone(), p)),
                Err(e) => {
                    ui.colored_label(
                        ui.visuals().error_fg_color,
                        format!("Could not load the generator: {e}"),
                    );
                    return;
                }
            }
            self.count = self.count.max(16);
        }
        let Some((_, painter)) = &self.painter else {
            return;
        };
        let ctx = ui.ctx().clone();
        ui.heading("Draw new pictures");
        ui.weak(format!(
            "With the generator of run {}.",
            run.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        ));
        let mut draw = false;
        ui.horizontal(|ui| {
            ui.label("How many");
            ui.add(egui::DragValue::new(&mut self.count).range(1..=DRAW_MAX));
            if painter.conditional() {
                ui.label("Class");
                let shown = self
                    .class
                    .and_then(|c| painter.classes().get(c).cloned())
                    .unwrap_or_else(|| "every class in turn".to_owned());
                egui::ComboBox::from_id_salt("gan-class")
                    .selected_text(shown)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut self.class, None, "every class in turn");
                        for (k, name) in painter.classes().iter().enumerate() {
                            ui.selectable_value(&mut self.class, Some(k), name);
                        }
                    });
            }
            ui.label("Seed")
                .on_hover_text("The same seed draws the same pictures.");
            ui.add(egui::DragValue::new(&mut self.seed));
            draw = ui.button("Draw").clicked();
        });
        if draw || self.drawn.is_none() {
            match painter.draw(self.count, self.class, self.seed) {
                Ok((x, _)) => {
                    let per_row = if painter.conditional() && self.class.is_none() {
                        painter.classes().len().clamp(1, 10)
                    } else {
                        8
                    };
                    if let Some(t) = grid_texture(&ctx, "gan-drawn", &x, per_row) {
                        self.drawn = Some((x, t));
                    }
                }
                Err(e) => self.message = Some(format!("Could not draw: {e}")),
            }
        }
        if let Some((x, t)) = &self.drawn {
            ui.image((
                t.id(),
                fit(t.size_vec2(), ui.available_width().min(480.0), 360.0),
            ));
            if ui.button("Save these pictures…").clicked() {
                let dest = self.answer.take().or_else(|| {
                    rfd::FileDialog::new()
                        .set_title("Save the pictures into this folder")
                        .pick_folder()
                });
                if let Some(dest) = dest {
                    self.message = Some(save_pictures(x, &dest));
                }
            }
        }
        if let Some(m) = &self.message {
            ui.label(m);
        }
        ui.separator();
        ui.strong("Walk between two starting points");
        ui.weak("Pictures on the straight line between the random numbers of two seeds: a smooth change means the generator has learned a space of pictures, not a list of copies.");
        // Drawn when asked (not on every frame of dragging a seed: the generator runs on this
        // thread).
        let mut walk = false;
        ui.horizontal(|ui| {
            ui.label("From seed");
            ui.add(egui::DragValue::new(&mut self.seed));
            ui.label("to seed");
            ui.add(egui::DragValue::new(&mut self.seed_b));
            walk = ui.button("Walk").clicked();
        });
        if walk || self.walk.is_none() {
            if self.seed_b == self.seed {
                self.seed_b = self.seed + 1;
            }
            if let Ok(x) = painter.interpolate(self.seed, self.seed_b, 10, self.class) {
                self.walk = grid_texture(&ctx, "gan-walk", &x, 10);
            }
        }
        if let Some(t) = &self.walk {
            ui.image((
                t.id(),
                fit(t.size_vec2(), ui.available_width().min(640.0), 200.0),
            ));
        }
    }
}

/// `size` scaled to fit `width` × `height`, keeping its proportions.
fn fit(size: egui::Vec2, width: f32, height: f32) -> egui::Vec2 {
    let scale = (width / size.x.max(1.0)).min(height / size.y.max(1.0));
    size * scale
}

/// Writes pictures `[N, C, H, W]` as PNG files into `dest`; the line to show.
fn save_pictures(x: &candle_core::Tensor, dest: &Path) -> String {
    let n = x.dim(0).unwrap_or(0);
    for i in 0..n {
        let file = dest.join(format!("generated_{i:03}.png"));
        let saved = gan::picture_image(x, i)
            .map_err(|e| e.to_string())
            .and_then(|img| img.save(&file).map_err(|e| e.to_string()));
        if let Err(e) = saved {
            return format!("Could not write '{}': {e}", file.display());
        }
    }
    format!("Saved {n} pictures in {}", dest.display())
}
