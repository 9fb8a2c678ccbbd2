//! Downloading a pretrained network's weights from the inspector: the button, the progress bar
//! with Cancel, and the result. The download runs as a [`Job`]; its state is kept in egui's
//! memory per architecture, so it goes on while the inspector shows another layer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use eframe::egui::{self, RichText};

use super::jobs::{Job, JobError};
use crate::pretrained::{catalogue, Backbone};

#[derive(Default)]
struct Download {
    job: Option<Job<PathBuf>>,
    /// The last attempt's failure, in words.
    failed: Option<String>,
}

/// Shared so egui's memory can hold it (it needs `Clone`); only this file touches it.
#[derive(Clone, Default)]
struct DownloadSlot(Arc<Mutex<Download>>);

/// Whether a download of `backbone`'s weights was started here and its result not yet taken by
/// [`download_weights_ui`].
pub fn is_downloading(ui: &egui::Ui, backbone: Backbone) -> bool {
    let Some(entry) = catalogue::entry(backbone) else {
        return false;
    };
    let id = egui::Id::new(("weights-download", entry.name));
    ui.data(|d| d.get_temp::<DownloadSlot>(id))
        .is_some_and(|slot| slot.0.lock().is_ok_and(|s| s.job.is_some()))
}

/// The Download button (or its progress) for `backbone`'s weights; returns the weights file once
/// a download has finished.
pub fn download_weights_ui(ui: &mut egui::Ui, backbone: Backbone) -> Option<PathBuf> {
    let entry = catalogue::entry(backbone)?;
    let id = egui::Id::new(("weights-download", entry.name));
    let slot = ui.data_mut(|d| d.get_temp_mut_or_default::<DownloadSlot>(id).clone());
    let Ok(mut state) = slot.0.lock() else {
        return None;
    };
    let mut finished = None;
    if let Some(job) = state.job.as_mut() {
        match job.poll() {
            None => {
                let fraction = job.fraction().unwrap_or(0.0);
                let mb = |f: f32| f * entry.size as f32 / 1e6;
                ui.horizontal(|ui| {
                    ui.add(
                        egui::ProgressBar::new(fraction)
                            .desired_width(150.0)
                            .text(format!("{:.1} of {:.1} MB", mb(fraction), mb(1.0))),
                    );
                    if ui.button("Cancel").clicked() {
                        job.cancel();
                    }
                });
                return None;
            }
            Some(Ok(path)) => finished = Some(path),
            Some(Err(JobError::Cancelled)) => {
                state.failed = Some(
                    "Download cancelled; what arrived is kept, and the next download continues from there."
                        .to_owned(),
                );
            }
            Some(Err(JobError::Failed(why))) => state.failed = Some(why),
        }
        state.job = None;
    }
    if finished.is_some() {
        state.failed = None;
        return finished;
    }
    if ui
        .button(format!(
            "Download {} ({})",
            backbone.label(),
            entry.size_text()
        ))
        .on_hover_text(format!(
            "From {}, {}; licence: {}. Checked against its SHA-256 before use and kept in {}.",
            entry.host(),
            entry.source,
            entry.licence,
            catalogue::download_folder()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "your data folder".to_owned())
        ))
        .clicked()
    {
        state.failed = None;
        let entry = entry.clone();
        state.job = Some(Job::spawn(
            format!("Downloading {}", backbone.label()),
            ui.ctx(),
            move |ctx| {
                let report = |done: u64, total: u64| ctx.progress(done as usize, total as usize);
                Ok(catalogue::install(&entry, &ctx.cancel, &report)?)
            },
        ));
    }
    if let Some(why) = &state.failed {
        ui.add(egui::Label::new(RichText::new(why).color(ui.visuals().error_fg_color)).wrap());
    }
    None
}
