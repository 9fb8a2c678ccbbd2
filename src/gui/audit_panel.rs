//! "Check the data" on the Data screen: the data check run on a worker over the imported data,
//! its findings with thumbnails or text, and one click to leave a sample out or give it the
//! suggested class. Choices go into the project file (undoable) and apply from the next import;
//! the data folder is never written.

use std::sync::Arc;

use eframe::egui::{self, Color32, RichText};

use super::app::{AfterImport, AppCommand, Shared};
use super::document::Command;
use super::jobs::{Job, JobError};
use crate::audit::{self, Audit, AuditOptions};
use crate::engine::PreparedData;
use crate::project::SampleEdits;

/// Findings of each kind listed on screen.
const LISTED: usize = 30;

/// State of the data check.
#[derive(Default)]
pub struct AuditPanel {
    job: Option<Job<Audit>>,
    /// The last result and the data it is about.
    result: Option<(Arc<PreparedData>, Arc<Audit>)>,
    failed: Option<String>,
    /// Whether the findings window is open.
    open: bool,
}

/// What a finding's buttons ask.
enum Choice {
    Exclude(String),
    Relabel(String, String),
    Restore(String),
}

impl AuditPanel {
    /// Whether the check is running.
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    /// The last result, when it is about the data now loaded.
    pub fn result(&self) -> Option<&Audit> {
        self.result.as_ref().map(|(_, a)| a.as_ref())
    }

    fn start(&mut self, cx: &Shared, prepared: Arc<PreparedData>) {
        let Some(loaded) = cx.data() else {
            return;
        };
        let root = loaded.settings.path.clone();
        let seed = loaded.settings.split_seed;
        let project = cx.project().cloned();
        let ctx = cx.waker();
        self.failed = None;
        let data = prepared.clone();
        self.job = Some(Job::spawn("Checking the data", &ctx, move |job| {
            let progress = |d: usize, t: usize| job.progress(d, t);
            let found = audit::audit(
                &data.dataset,
                &data.split,
                &root,
                AuditOptions { folds: 5, seed },
                project
                    .as_ref()
                    .and_then(|p| audit::project_checker(p, &data.dataset)),
                Some(job.cancel.flag()),
                Some(&progress),
            )?;
            Ok(found)
        }));
        self.result = self
            .result
            .take()
            .filter(|(p, _)| Arc::ptr_eq(p, &prepared));
    }

    /// Draws the check's line at the top of the data view (button, progress, what was chosen)
    /// and, once it has run, the findings in their own window.
    pub fn audit_ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared, prepared: &Arc<PreparedData>) {
        if let Some(job) = &mut self.job {
            if let Some(result) = job.poll() {
                self.job = None;
                match result {
                    Ok(found) => {
                        self.result = Some((prepared.clone(), Arc::new(found)));
                        self.open = true;
                    }
                    Err(JobError::Cancelled) => {}
                    Err(JobError::Failed(e)) => self.failed = Some(e),
                }
            }
        }
        let unit = prepared.dataset.kind().unit();
        let found = self
            .result
            .as_ref()
            .filter(|(p, _)| Arc::ptr_eq(p, prepared))
            .map(|(_, a)| a.clone());
        ui.horizontal_wrapped(|ui| {
            if let Some(job) = &self.job {
                ui.spinner();
                let (done, total) = job.progress;
                ui.label(format!(
                    "Checking the data… cross-validating the label checker, fold {} of {}",
                    (done + 1).min(total.max(1)),
                    total.max(1)
                ));
                if ui.button("Cancel").clicked() {
                    job.cancel();
                }
            } else {
                if ui
                    .button("Check the data")
                    .on_hover_text(format!(
                        "Looks for labels that seem wrong, the same sample twice (above all once \
                         in training and once in validation or test, which makes the scores look \
                         better than they are), samples unlike any class, and classes of very \
                         different sizes. Runs on the imported {unit}; from seconds to a minute."
                    ))
                    .clicked()
                {
                    self.start(cx, prepared.clone());
                }
                match &found {
                    Some(f) => {
                        ui.label(summary(f, unit));
                        if !self.open && ui.button("Show the findings").clicked() {
                            self.open = true;
                        }
                    }
                    None => {
                        ui.weak(
                            "Finds likely wrong labels, duplicates across the split, outliers \
                             and imbalanced classes",
                        );
                    }
                }
            }
        });
        if let Some(e) = &self.failed {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("The check failed: {e}"),
            );
        }
        pending_ui(ui, cx);
        let Some(found) = found else {
            return;
        };
        let edits = cx
            .project()
            .map(|p| p.data.edits.clone())
            .unwrap_or_default();
        let mut choices = Vec::new();
        let mut open = self.open;
        egui::Window::new("Data check")
            .id(egui::Id::new("data-check-window"))
            .open(&mut open)
            .default_width(520.0)
            .default_height(560.0)
            .default_pos(ui.ctx().content_rect().right_top() + egui::vec2(-560.0, 80.0))
            .show(ui.ctx(), |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    findings_ui(ui, cx, prepared, &found, &edits, &mut choices);
                });
            });
        self.open = open;
        if !choices.is_empty() {
            apply(cx, choices);
        }
    }
}

/// The findings in one line.
fn summary(found: &Audit, unit: &str) -> String {
    format!(
        "Checked {} {unit}: {} duplicate pair(s) ({} across the split), {} likely wrong \
         label(s), {} outlier(s){}",
        found.samples,
        found.duplicate_pairs,
        found.leaking_pairs,
        found.label_issues.len(),
        found.outliers.len(),
        if found.imbalance.is_some() {
            ", imbalanced classes"
        } else {
            ""
        }
    )
}

/// "N changes not applied yet" with the button that imports again.
fn pending_ui(ui: &mut egui::Ui, cx: &mut Shared) {
    let (Some(project), Some(loaded)) = (cx.project(), cx.data()) else {
        return;
    };
    if project.data.edits == loaded.settings.edits {
        if !project.data.edits.is_empty() {
            ui.weak(format!(
                "Applied: {} (kept in the project file; the files are unchanged).",
                project.data.edits.summary()
            ));
        }
        return;
    }
    let mut import = false;
    ui.horizontal(|ui| {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!(
                "Chosen: {}. They apply from the next import.",
                project.data.edits.summary()
            ),
        );
        import = ui.button("Import again to apply").clicked();
    });
    if import {
        cx.send(AppCommand::StartImport(AfterImport {
            fit_template: None,
            train: false,
        }));
    }
}

/// Records the choices in the project's data settings (one undoable edit).
fn apply(cx: &mut Shared, choices: Vec<Choice>) {
    let Some(project) = cx.project() else {
        return;
    };
    let mut data = project.data.clone();
    for choice in choices {
        match choice {
            Choice::Exclude(key) => {
                data.edits.relabeled.remove(&key);
                data.edits.excluded.insert(key);
            }
            Choice::Relabel(key, class) => {
                data.edits.excluded.remove(&key);
                data.edits.relabeled.insert(key, class);
            }
            Choice::Restore(key) => {
                data.edits.excluded.remove(&key);
                data.edits.relabeled.remove(&key);
            }
        }
    }
    cx.edit(Command::SetData(data));
}

fn findings_ui(
    ui: &mut egui::Ui,
    cx: &mut Shared,
    prepared: &Arc<PreparedData>,
    found: &Audit,
    edits: &SampleEdits,
    choices: &mut Vec<Choice>,
) {
    let unit = prepared.dataset.kind().unit();
    let good = Color32::from_rgb(40, 150, 60);
    let bad = ui.visuals().warn_fg_color;
    let line = |ui: &mut egui::Ui, ok: bool, text: String| {
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(if ok { good } else { bad }, if ok { "✔" } else { "⚠" });
            ui.label(text);
        });
    };
    ui.add_space(4.0);
    line(
        ui,
        found.leaking_pairs == 0,
        format!(
            "{} duplicate pair(s), {} across the split{}",
            found.duplicate_pairs,
            found.leaking_pairs,
            if found.leaking_pairs > 0 {
                " (leakage: leave one of each out)"
            } else {
                ""
            }
        ),
    );
    match found.checker_accuracy {
        Some(_) => line(
            ui,
            found.label_issues.is_empty(),
            format!(
                "{} likely wrong label(s) among the training {unit}",
                found.label_issues.len()
            ),
        ),
        None => line(
            ui,
            true,
            "Labels not checked (too few training samples or classes)".into(),
        ),
    }
    if let Some(acc) = found.checker_accuracy {
        ui.weak(format!(
            "Labels checked by {}; it got {:.1}% right on {unit} it had not seen.",
            found.checker,
            acc * 100.0
        ));
    }
    line(
        ui,
        found.outliers.is_empty(),
        format!("{} outlier(s) far from every class", found.outliers.len()),
    );
    match &found.imbalance {
        Some(i) => line(
            ui,
            false,
            format!(
                "Imbalanced classes: '{}' has {} {unit}, '{}' only {}; the model will lean \
                 towards the larger class",
                i.largest.0, i.largest.1, i.smallest.0, i.smallest.1
            ),
        ),
        None if !found.class_counts.is_empty() => line(ui, true, "Classes of similar size".into()),
        None => {}
    }

    let state = |key: &str| -> Option<String> {
        if edits.excluded.contains(key) {
            Some("left out".to_owned())
        } else {
            edits
                .relabeled
                .get(key)
                .map(|c| format!("relabelled as {c}"))
        }
    };
    let sample_ui = |ui: &mut egui::Ui, cx: &mut Shared, index: usize| {
        sample_preview_ui(ui, cx, prepared, index);
    };

    if !found.duplicates.is_empty() {
        egui::CollapsingHeader::new(format!(
            "Duplicates ({}, {} across the split)",
            found.duplicate_pairs, found.leaking_pairs
        ))
        .default_open(true)
        .show(ui, |ui| {
            for d in found.duplicates.iter().take(LISTED) {
                ui.horizontal(|ui| {
                    sample_ui(ui, cx, d.first);
                    ui.label(if d.exact { "=" } else { "≈" });
                    sample_ui(ui, cx, d.second);
                    ui.vertical(|ui| {
                        ui.label(format!(
                            "{} ({}) and {} ({})",
                            d.keys.0,
                            d.parts.0.label(),
                            d.keys.1,
                            d.parts.1.label()
                        ));
                        if d.leaks() {
                            ui.colored_label(bad, "In two parts of the split: leakage");
                        }
                        if !d.same_label {
                            ui.colored_label(bad, "Different labels");
                        }
                        edit_buttons_ui(ui, &d.keys.1, None, state(&d.keys.1), choices);
                    });
                });
            }
        });
    }
    if !found.label_issues.is_empty() {
        egui::CollapsingHeader::new(format!(
            "Likely wrong labels ({})",
            found.label_issues.len()
        ))
        .default_open(true)
        .show(ui, |ui| {
            for l in found.label_issues.iter().take(LISTED) {
                ui.horizontal(|ui| {
                    sample_ui(ui, cx, l.index);
                    ui.vertical(|ui| {
                        ui.label(&l.key);
                        ui.label(
                            RichText::new(format!(
                                "Labelled {}, looks like {} ({:.0}% vs {:.0}%)",
                                l.given,
                                l.suggested,
                                l.given_probability * 100.0,
                                l.suggested_probability * 100.0
                            ))
                            .strong(),
                        );
                        edit_buttons_ui(ui, &l.key, Some(&l.suggested), state(&l.key), choices);
                    });
                });
            }
        });
    }
    if !found.outliers.is_empty() {
        egui::CollapsingHeader::new(format!("Outliers ({})", found.outliers.len()))
            .default_open(false)
            .show(ui, |ui| {
                for o in found.outliers.iter().take(LISTED) {
                    ui.horizontal(|ui| {
                        sample_ui(ui, cx, o.index);
                        ui.vertical(|ui| {
                            ui.label(format!("{} ({})", o.key, o.class));
                            ui.weak(format!(
                                "{:.1}× farther from its nearest class than is usual",
                                o.distance_ratio
                            ));
                            edit_buttons_ui(ui, &o.key, None, state(&o.key), choices);
                        });
                    });
                }
            });
    }
}

/// "Leave out" (and "Relabel as …"), or what was chosen with "Undo".
fn edit_buttons_ui(
    ui: &mut egui::Ui,
    key: &str,
    suggested: Option<&str>,
    chosen: Option<String>,
    choices: &mut Vec<Choice>,
) {
    ui.horizontal(|ui| match chosen {
        Some(what) => {
            ui.weak(format!("{key}: {what}"));
            if ui.small_button("Undo").clicked() {
                choices.push(Choice::Restore(key.to_owned()));
            }
        }
        None => {
            if let Some(class) = suggested {
                if ui
                    .button(format!("Relabel as {class}"))
                    .on_hover_text("Kept in the project file; the file itself is not moved")
                    .clicked()
                {
                    choices.push(Choice::Relabel(key.to_owned(), class.to_owned()));
                }
            }
            if ui
                .button("Leave out")
                .on_hover_text(format!(
                    "Leave {key} out of training, validation and test (kept in the project \
                     file; the file itself is not touched)"
                ))
                .clicked()
            {
                choices.push(Choice::Exclude(key.to_owned()));
            }
        }
    });
}

/// A sample as a thumbnail (pictures, spectrograms) or its first words (texts).
fn sample_preview_ui(ui: &mut egui::Ui, cx: &mut Shared, prepared: &PreparedData, index: usize) {
    let dataset = &prepared.dataset;
    if let Some(images) = dataset.images() {
        let ctx = ui.ctx().clone();
        let salt = Arc::as_ptr(dataset) as usize;
        let texture = cx.thumbnails.get(&ctx, images, salt, index);
        super::widgets::thumbnail(ui, &texture, 56.0).on_hover_text(dataset.source(index));
    } else if let Some(text) = dataset.texts().and_then(|t| t.raw.texts.get(index)) {
        let short: String = text.chars().take(60).collect();
        ui.label(format!("“{short}”")).on_hover_text(text.as_str());
    }
}
