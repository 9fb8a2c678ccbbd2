//! Draws a layer's settings in the inspector. The layer describes them as data
//! (`LayerKind::settings`); this file only turns each kind of setting into a widget.

use eframe::egui::{self, RichText};

use crate::layers::{freeze_words, Layer, Setting, SettingValue, TrainedModel};
use crate::model::{shape_label, Activation, Graph, Padding};
use crate::pretrained::Backbone;
use crate::workflow;

use super::weights_download::{download_weights_ui, is_downloading};

/// The settings grid of `layer`; `input_shape` is what the data gives (the Input offers to match
/// it).
pub fn layer_settings_ui(ui: &mut egui::Ui, layer: &mut Layer, input_shape: &[usize]) {
    egui::Grid::new("layer-settings")
        .num_columns(2)
        .show(ui, |ui| {
            let settings = layer.kind_mut().settings();
            if settings.is_empty() {
                ui.weak("No settings.");
                ui.end_row();
            }
            for (row, setting) in settings.into_iter().enumerate() {
                setting_row_ui(ui, row, setting, input_shape);
            }
        });
}

fn setting_row_ui(ui: &mut egui::Ui, row: usize, setting: Setting<'_>, input_shape: &[usize]) {
    let label = ui.label(setting.label);
    if !setting.hint.is_empty() {
        label.on_hover_text(setting.hint);
    }
    match setting.value {
        SettingValue::Count { value, min, max } => {
            ui.add(egui::DragValue::new(value).range(min..=max));
        }
        SettingValue::Fraction { value, min, max } => {
            ui.add(egui::Slider::new(value, min..=max));
        }
        SettingValue::Number {
            value,
            min,
            max,
            speed,
        } => {
            ui.add(egui::DragValue::new(value).range(min..=max).speed(speed));
        }
        SettingValue::Activation(activation) => {
            egui::ComboBox::from_id_salt(("layer-activation", row))
                .selected_text(activation.label())
                .show_ui(ui, |ui| {
                    for a in Activation::ALL {
                        ui.selectable_value(activation, a, a.label());
                    }
                });
        }
        SettingValue::Padding(padding) => {
            ui.horizontal(|ui| {
                ui.radio_value(padding, Padding::Valid, "valid");
                ui.radio_value(padding, Padding::Same, "same");
            });
        }
        SettingValue::Toggle { value, text } => {
            let checkbox = ui.checkbox(value, text);
            if !setting.hint.is_empty() {
                checkbox.on_hover_text(setting.hint);
            }
        }
        SettingValue::Shape(shape) => {
            ui.label(shape_label(shape));
            if shape.as_slice() != input_shape {
                ui.end_row();
                ui.label("");
                if ui
                    .button(format!("Match the data ({})", shape_label(input_shape)))
                    .clicked()
                {
                    *shape = input_shape.to_vec();
                }
            }
        }
        SettingValue::Fact(text) => {
            ui.label(text);
        }
        SettingValue::WeightsFile { path, backbone } => weights_file_ui(ui, path, backbone),
        SettingValue::TrainedRun { run, cut, part } => trained_run_ui(ui, run, cut, part),
        SettingValue::TrainBlocks { value, units, word } => {
            ui.vertical(|ui| {
                ui.add(
                    egui::Slider::new(value, 0..=units)
                        .text(word)
                        .clamping(egui::SliderClamping::Always),
                );
                ui.weak(freeze_words(units, word, *value));
            });
        }
    }
    ui.end_row();
}

/// A pretrained network's weights file: typed, or chosen in a dialog; where to get it when
/// missing.
fn weights_file_ui(ui: &mut egui::Ui, weights: &mut String, backbone: Backbone) {
    ui.vertical(|ui| {
        let shown = weights.clone();
        ui.add(egui::TextEdit::singleline(weights).desired_width(220.0))
            .on_hover_text(shown);
        if ui
            .button("Choose weights file…")
            .on_hover_text(backbone.provided_by())
            .clicked()
        {
            if let Some(file) = rfd::FileDialog::new()
                .set_title(format!("Weights for {}", backbone.label()))
                .add_filter("Weights", &["pth", "pt", "bin", "safetensors"])
                .pick_file()
            {
                *weights = file.display().to_string();
            }
        }
        let path = std::path::Path::new(weights.as_str());
        if weights.trim().is_empty() || !path.is_file() {
            let what = if weights.trim().is_empty() {
                "No file chosen yet."
            } else {
                "This file does not exist."
            };
            ui.colored_label(ui.visuals().warn_fg_color, what);
            // A download started here fills the field when it ends; otherwise a file found in
            // the usual folders is offered.
            let found = (!is_downloading(ui, backbone))
                .then(|| crate::pretrained::find_weights(backbone))
                .flatten();
            if let Some(found) = found {
                if ui
                    .button("Use the one on this computer")
                    .on_hover_text(found.display().to_string())
                    .clicked()
                {
                    *weights = found.display().to_string();
                }
            } else if crate::pretrained::catalogue::entry(backbone).is_some() {
                if let Some(file) = download_weights_ui(ui, backbone) {
                    *weights = file.display().to_string();
                }
                ui.add(
                    egui::Label::new(
                        RichText::new(format!("Or by hand: {}.", backbone.provided_by())).weak(),
                    )
                    .wrap(),
                );
            } else {
                ui.add(
                    egui::Label::new(
                        RichText::new(format!("Where to get it: {}.", backbone.provided_by()))
                            .color(ui.visuals().warn_fg_color),
                    )
                    .wrap(),
                );
            }
        }
    });
}

/// A reused part of an earlier run's model: the run folder and where to cut it.
fn trained_run_ui(ui: &mut egui::Ui, run: &mut String, cut: &mut String, part: &mut Graph) {
    // The run's model is read when the run or the cut changes (and its layer names while the
    // list is open).
    let reload = |run: &str, cut: Option<&str>| -> anyhow::Result<TrainedModel> {
        workflow::trained_model_layer(std::path::Path::new(run), cut)
    };
    let problem_id = egui::Id::new("trained-model-problem");
    ui.vertical(|ui| {
        ui.label(if run.is_empty() { "none chosen" } else { run.as_str() });
        if ui
            .button("Choose a trained run…")
            .on_hover_text("A folder inside a project's .runs folder (one per training run); its best checkpoint is reused.")
            .clicked()
        {
            if let Some(dir) = rfd::FileDialog::new()
                .set_title("Choose a training run folder")
                .pick_folder()
            {
                ui.data_mut(|d| d.remove::<String>(problem_id));
                match reload(&dir.display().to_string(), None) {
                    Ok(found) => (*run, *cut, *part) = (found.run, found.cut, found.part),
                    Err(e) => {
                        ui.data_mut(|d| d.insert_temp(problem_id, format!("{e:#}")));
                    }
                }
            }
        }
        if let Some(problem) = ui.data(|d| d.get_temp::<String>(problem_id)) {
            ui.colored_label(ui.visuals().error_fg_color, problem);
        }
    });
    if run.is_empty() {
        return;
    }
    ui.end_row();
    ui.label("Cut after").on_hover_text(
        "The reused part ends with this layer; what came after it in the old model is left out.",
    );
    let mut chosen = cut.clone();
    egui::ComboBox::from_id_salt("trained-model-cut")
        .selected_text(cut.as_str())
        .show_ui(ui, |ui| {
            for name in workflow::run_layer_names(std::path::Path::new(run.as_str())) {
                ui.selectable_value(&mut chosen, name.clone(), name);
            }
        });
    if chosen != *cut {
        if let Ok(found) = reload(run, Some(&chosen)) {
            (*cut, *part) = (found.cut, found.part);
        }
    }
}
