//! The Train screen's runs table: every run of the project with its status, scores, time, size
//! and the settings that differ (highlighted); per run its curves, a comparison, making it the
//! project's model, resuming. Sorting and the rows come from `workflow::runs_table`.

use eframe::egui::{self, RichText};

use super::{format_secs, TrainScreen};
use crate::engine;
use crate::gui::app::{AppCommand, Shared};
use crate::workflow;

impl TrainScreen {
    /// The runs table: status, scores, time, size, the settings that differ (highlighted), and
    /// per run: its curves, a comparison, making it the project's model, resuming.
    pub(super) fn runs_table(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        use workflow::runs_table::{differing_settings, run_rows, sort_rows, SortBy};
        let mut rows = run_rows(cx.runs(), cx.newest_model_run().as_deref());
        sort_rows(&mut rows, self.sort);
        let differ = differing_settings(&rows);
        let score = rows.first().map_or("accuracy", |r| r.task.score_name());
        let running = self.is_running();
        let mut show = None;
        let mut compare = None;
        let mut resume = None;
        let mut make_model = None;
        // Wider than the window when there are many differing settings: scrolled sideways rather
        // than cut off at the window's edge, with a solid scroll bar below the last row (a
        // floating one lies over the last row's buttons).
        ui.scope(|ui| {
        ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
        egui::ScrollArea::horizontal()
            .id_salt("past-runs-scroll")
            .show(ui, |ui| {
        egui::Grid::new("past-runs")
            .striped(true)
            .num_columns(8)
            .show(ui, |ui| {
                let mut header = |ui: &mut egui::Ui, text: String, by: Option<SortBy>| match by {
                    Some(by) => {
                        let marked = if self.sort == by { format!("{text} ⏷") } else { text };
                        if ui
                            .add(egui::Button::new(RichText::new(marked).strong()).frame(false))
                            .on_hover_text("Sort by this column")
                            .clicked()
                        {
                            self.sort = by;
                        }
                    }
                    None => {
                        ui.strong(text);
                    }
                };
                header(ui, "Run".to_owned(), Some(SortBy::Newest));
                header(ui, "Epochs".to_owned(), None);
                header(ui, format!("Best val. {score}"), Some(SortBy::Validation));
                header(ui, format!("Test {score}"), Some(SortBy::Test));
                header(ui, "Time".to_owned(), Some(SortBy::Time));
                header(ui, "Size".to_owned(), Some(SortBy::Size));
                header(ui, String::new(), None);
                ui.strong(if differ.is_empty() {
                    "Settings: the same in every run"
                } else {
                    "Settings that differ"
                })
                .on_hover_text("Every setting of a run: hover over its name");
                ui.end_row();
                for row in &rows {
                    ui.horizontal(|ui| {
                        if row.is_model {
                            ui.label(RichText::new("★").color(ui.visuals().warn_fg_color))
                                .on_hover_text("The project's model: Evaluate, Use and Export use this run");
                        }
                        let all: Vec<String> = row
                            .settings
                            .iter()
                            .map(|(name, value)| format!("{name}: {value}"))
                            .collect();
                        ui.vertical(|ui| {
                            ui.add(egui::Label::new(&row.id).extend())
                                .on_hover_text(all.join("\n"));
                            if let Some(label) = &row.label {
                                ui.add(egui::Label::new(RichText::new(label).weak()).extend());
                            }
                        });
                    });
                    let this_run = running && self.run_dir.as_ref() == Some(&row.dir);
                    if this_run {
                        ui.label("training now");
                    } else if row.status.starts_with("interrupted") {
                        ui.label(format!("{} of {}, stopped", row.epochs, row.planned_epochs))
                            .on_hover_text("Stopped before its last epoch (by you, a crash, or automatic training); Resume continues it");
                    } else if row.status == "finished" {
                        ui.label(row.epochs.to_string());
                    } else {
                        ui.label(format!("{} ({})", row.epochs, row.status));
                    }
                    let fmt = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| row.task.format_score(v));
                    ui.label(match row.best_epoch {
                        Some(epoch) if row.best_val.is_some() => {
                            format!("{} (epoch {epoch})", fmt(row.best_val))
                        }
                        _ => "—".to_owned(),
                    });
                    ui.label(fmt(row.test)).on_hover_text(if row.test.is_some() {
                        "On the test split, from the last time this run was evaluated"
                    } else {
                        "Not evaluated yet: choose the run on the Evaluate screen"
                    });
                    ui.label(row.seconds.map_or_else(|| "—".to_owned(), format_secs));
                    ui.label(row.model_bytes.map_or_else(|| "—".to_owned(), engine::human_bytes));
                    ui.horizontal(|ui| {
                        if row.status.starts_with("interrupted")
                            && !this_run
                            && ui
                                .add_enabled(!running, egui::Button::new("Resume").small())
                                .on_hover_text("Continue this run from its last finished epoch, with the settings it started with; the result is the same as if it had never stopped")
                                .clicked()
                        {
                            resume = Some(row.dir.clone());
                        }
                        if ui
                            .small_button("Curves")
                            .on_hover_text("Show this run's curves above")
                            .clicked()
                        {
                            show = Some(row.dir.clone());
                        }
                        if ui
                            .small_button("Compare")
                            .on_hover_text("Draw this run's curves dashed over the ones shown")
                            .clicked()
                        {
                            compare = Some(row.dir.clone());
                        }
                        if !row.is_model
                            && row.model_bytes.is_some()
                            && ui
                                .small_button("Use as the model")
                                .on_hover_text("Evaluate, Use and Export use this run from now on")
                                .clicked()
                        {
                            make_model = Some(row.id.clone());
                        }
                    });
                    // Wrapped at a readable width (the table scrolls sideways).
                    let width = ui.available_width().clamp(260.0, 420.0);
                    ui.allocate_ui_with_layout(
                        egui::vec2(width, 0.0),
                        egui::Layout::left_to_right(egui::Align::Min).with_main_wrap(true),
                        |ui| {
                            for (name, value) in &row.settings {
                                let text = format!("{name} {value}");
                                if differ.contains(name) {
                                    ui.label(RichText::new(text).strong().color(ui.visuals().warn_fg_color));
                                }
                            }
                        },
                    );
                    ui.end_row();
                }
            });
            });
        });
        if let Some(dir) = show {
            self.shown_run = Some(dir);
        }
        if let Some(dir) = compare {
            self.compare_run = Some(dir);
        }
        if let Some(dir) = resume {
            cx.send(AppCommand::ResumeTraining(dir));
        }
        if let Some(id) = make_model {
            cx.send(AppCommand::SetModelRun(id));
        }
    }
}
