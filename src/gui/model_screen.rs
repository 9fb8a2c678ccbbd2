//! The Model screen: the visual layer editor (egui-snarl), a palette grouped by kind, the
//! parameter inspector, templates, undo/redo and the Keras-style summary. The editor only shows
//! the project's graph and turns gestures into [`Command`]s; the rules live in `model`.

use eframe::egui::{self, Color32, RichText};
use egui_snarl::ui::{SnarlStyle, SnarlWidget};
use egui_snarl::Snarl;

use super::app::{AfterImport, AppCommand, Shared, TemplateChoice};
use super::document::Command;
use super::graph_editor::{
    build_snarl, fit_transform, group_digits, summary_ui, GraphView, Viewer, NODE_SIZE,
};
use crate::model::{self, shape_label, DataFit, Graph, Layer};

use crate::project::{Source, Task};
use crate::workflow;

/// The Model screen's own state: the editor's view of the graph, the selection, the name being
/// typed.
#[derive(Default)]
pub struct ModelScreen {
    snarl: Snarl<String>,
    built: Option<u64>,
    /// The selected node's name.
    pub selected: Option<String>,
    rename: String,
    /// Zoom the editor's view to fit all layers once this frame's edits are drawn (view state,
    /// like a scroll-to request).
    zoom_to_fit: bool,
    /// The nodes selected in the editor last frame.
    editor_selection: Vec<String>,
}

impl ModelScreen {
    /// A transfer template: the data is set up the way the pretrained network reads it (and
    /// imported again when that changes) and the weights file is found in the usual folders.
    fn apply_transfer_template(
        &mut self,
        cx: &mut Shared,
        name: &'static str,
        label: &str,
        fit: &DataFit,
    ) {
        let Some(doc) = cx.doc() else { return };
        let mut data = doc.project.data.clone();
        let weights = match workflow::adapt_data_to_template(name, &mut data, None, false) {
            Ok(w) => w,
            Err(e) => {
                cx.error(format!(
                    "{e}. You can also add the network from the palette's Pretrained group and choose its weights file in the inspector."
                ));
                return;
            }
        };
        if let Source::Text(text) = &data.source {
            if text.sequence_length.is_none() && data != doc.project.data {
                // The length comes from reading the texts again: the template is sized to them
                // once they are imported.
                cx.edit(Command::SetData(data));
                cx.send(AppCommand::StartImport(AfterImport {
                    fit_template: Some(TemplateChoice::Transfer(name)),
                    train: false,
                }));
                return;
            }
        }
        let shape = match &data.source {
            Source::Image(image) => vec![
                usize::from(image.channels),
                image.height as usize,
                image.width as usize,
            ],
            Source::Text(text) => vec![text.sequence_length.unwrap_or(0)],
            _ => fit.shape.clone(),
        };
        let Some(mut graph) = model::template(
            name,
            &DataFit {
                shape,
                ..fit.clone()
            },
        ) else {
            return;
        };
        if let Some(w) = &weights {
            graph.set_pretrained_weights(w);
        }
        if data != doc.project.data {
            cx.edit(Command::SetData(data));
            cx.send(AppCommand::StartImport(AfterImport::default()));
        }
        cx.edit(Command::ReplaceModel {
            graph,
            what: format!("{label} template"),
        });
        self.zoom_to_fit = true;
    }

    /// Draws the Model screen.
    pub fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Shared) {
        let Some(doc) = cx.doc() else { return };
        let graph = doc.shown_graph().clone();
        let layout = doc.shown_layout().clone();
        let generating = doc.project.generator.is_some();
        let showing_generator = doc.editing_generator;
        let revision = doc.revision;
        let (can_undo, can_redo) = (doc.can_undo(), doc.can_redo());
        let view = GraphView::new(&graph);
        let input_shape = data_shape(cx);
        let fit = DataFit {
            shape: input_shape.clone(),
            ..data_fit(cx)
        };

        if generating {
            ui.horizontal_wrapped(|ui| {
                ui.label("This project generates pictures with two networks:");
                let mut show = showing_generator;
                ui.selectable_value(&mut show, true, "Generator")
                    .on_hover_text("Turns random numbers (and the class asked for, when it is told one) into a picture.");
                ui.selectable_value(&mut show, false, "Discriminator")
                    .on_hover_text("Tells real pictures from generated ones (with one plane per class after the picture, when it is told the class).");
                if show != showing_generator {
                    cx.edit(Command::ShowGenerator(show));
                }
                ui.weak("Both are edited here with the same palette; the Train screen trains them in turn.");
            });
        }
        // Toolbar (classifier templates; a generating project keeps its two networks).
        ui.horizontal_wrapped(|ui| {
            if !generating {
                ui.label("Start from:");
            }
            let templates: [(&str, &str, &'static str); 11] = [
                (
                    "MLP (Keras example)",
                    "Flatten, Dense 128 ReLU, Dense softmax: the model every Keras tutorial starts with",
                    "mlp",
                ),
                (
                    "CNN",
                    "Two convolution + pooling stages, then a Dense classifier: the usual choice for images",
                    "cnn",
                ),
                (
                    "Table MLP",
                    "Dense 64, Dropout, Dense 32, output: for tables of numbers and categories",
                    "tabular-mlp",
                ),
                (
                    "Table linear",
                    "The output layer straight on the columns: logistic regression (linear regression for a number), a strong baseline for small tables",
                    "tabular-linear",
                ),
                (
                    "Text CNN",
                    "Embedding, Conv1d over 5-word windows, GlobalMaxPool, Dropout, Dense: for texts",
                    "text-cnn",
                ),
                (
                    "Text LSTM",
                    "Embedding, LSTM reading both ways, Dropout, Dense: for texts where word order matters",
                    "text-lstm",
                ),
                (
                    "Text bag of words",
                    "Embedding, the average of the word vectors, Dense: a linear model over the words (like fastText), often the best on small text sets",
                    "text-bow",
                ),
                (
                    "Text TF-IDF (words and pairs)",
                    "How often each word and each pair of neighbouring words appears, rare ones weighing more (TF-IDF), then one Dense layer: the classic linear text model, often the best on a few hundred or thousand texts. Texts are read again with punctuation marks as words.",
                    "text-tfidf",
                ),
                (
                    "Transfer (images)",
                    "EfficientNet-Lite0 trained on ImageNet (frozen), Dropout, Dense: learns new image classes from a few dozen examples each. Images are imported at 224×224 in colour.",
                    "transfer-image",
                ),
                (
                    "Transfer (texts)",
                    "The MiniLM sentence encoder (frozen), Dropout, Dense: understands texts from the start. Texts are read with its own tokenizer.",
                    "transfer-text",
                ),
                (
                    "Transfer + words (texts)",
                    "The MiniLM sentence encoder (frozen) side by side with a bag of its word pieces, joined, Dropout, Dense: what a text means and which words it uses; the strongest text model here. Texts are read with the encoder's tokenizer.",
                    "transfer-text-bow",
                ),
            ];
            for (label, hint, name) in templates.into_iter().filter(|_| !generating) {
                if ui.button(label).on_hover_text(hint).clicked() {
                    if workflow::template_adapts_data(name) {
                        self.apply_transfer_template(cx, name, label, &fit);
                    } else if let Some(graph) = model::template(name, &fit) {
                        cx.edit(Command::ReplaceModel {
                            graph,
                            what: format!("{label} template"),
                        });
                        self.zoom_to_fit = true;
                    }
                }
            }
            if !generating {
                ui.separator();
            }
            let undo = ui
                .add_enabled(can_undo, egui::Button::new("Undo"))
                .on_hover_text("Ctrl+Z")
                .clicked();
            let redo = ui
                .add_enabled(can_redo, egui::Button::new("Redo"))
                .on_hover_text("Ctrl+Shift+Z")
                .clicked();
            if undo {
                cx.send(AppCommand::Undo);
            } else if redo {
                cx.send(AppCommand::Redo);
            }
            if ui
                .button("Tidy up")
                .on_hover_text("Arrange the layers automatically and fit them in view (double-clicking the background also fits the view)")
                .clicked()
            {
                cx.edit(Command::AutoLayout);
                self.zoom_to_fit = true;
            }
            ui.separator();
            match view.total_params {
                Some(total) => {
                    ui.label(
                        RichText::new(if view.frozen_params > 0 {
                            format!(
                                "✔ Ready to train — {} parameters, {} of them frozen",
                                group_digits(total),
                                group_digits(view.frozen_params)
                            )
                        } else {
                            format!("✔ Ready to train — {} parameters", group_digits(total))
                        })
                        .color(Color32::from_rgb(60, 170, 90)),
                    );
                }
                None => {
                    ui.label(
                        RichText::new(format!(
                            "✖ {} problem(s) to fix before training",
                            view.problems.len()
                        ))
                        .color(ui.visuals().error_fg_color),
                    );
                }
            }
        });
        for e in view.problems.iter().filter(|e| e.node.is_empty()) {
            ui.colored_label(ui.visuals().error_fg_color, &e.message);
        }
        if let Some((message, fixes)) = data_mismatch(cx) {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().warn_fg_color, message);
                if ui.button("Fit the model to the data").clicked() {
                    cx.edit_all(fixes);
                }
            });
        }
        ui.separator();

        // Palette.
        egui::Panel::left("palette")
            .resizable(false)
            .default_size(150.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    ui.strong("Layers");
                    ui.weak("Click to add after the selected layer; hover for what it does.");
                    for (group, layers) in Layer::palette(&input_shape) {
                        egui::CollapsingHeader::new(group)
                            .default_open(true)
                            .show(ui, |ui| {
                                for layer in layers {
                                    let label = format!("Add {}", layer.kind().palette_label());
                                    if ui.button(label).on_hover_text(layer.help()).clicked() {
                                        let mut layer = layer;
                                        layer.kind_mut().when_added();
                                        self.add_layer(cx, layer, &graph, &layout);
                                    }
                                }
                            });
                    }
                });
            });

        // Inspector and summary.
        egui::Panel::right("inspector")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.inspector_ui(ui, cx, &graph, &view, &input_shape);
                    ui.separator();
                    ui.strong("All layers");
                    for node in &graph.nodes {
                        let selected = self.selected.as_deref() == Some(node.name.as_str());
                        if ui
                            .selectable_label(
                                selected,
                                format!("{} ({})", node.name, node.layer.kind_label()),
                            )
                            .clicked()
                        {
                            self.selected = Some(node.name.clone());
                            self.rename = node.name.clone();
                        }
                    }
                    ui.separator();
                    egui::CollapsingHeader::new("Summary (like Keras model.summary())")
                        .default_open(true)
                        .show(ui, |ui| summary_ui(ui, &graph, &view));
                });
            });

        // The node editor.
        egui::CentralPanel::default().show(ui, |ui| {
            if self.built != Some(revision) {
                if self.built.is_none() {
                    self.zoom_to_fit = true;
                }
                self.snarl = build_snarl(&graph, &layout);
                self.built = Some(revision);
            }
            // Fit once the edits queued this frame (a new template) have been applied.
            let fit = if !cx.has_edits() && self.zoom_to_fit {
                self.zoom_to_fit = false;
                fit_transform(&layout, ui.available_rect_before_wrap())
            } else {
                None
            };
            let mut style = SnarlStyle::new();
            style.centering = Some(true);
            style.collapsible = Some(false);
            let widget = SnarlWidget::new().id_salt("layer-editor").style(style);
            let mut commands = Vec::new();
            let mut viewer = Viewer {
                fit,
                graph: &graph,
                view: &view,
                commands: &mut commands,
                input_shape: &input_shape,
            };
            widget.show(&mut self.snarl, &mut viewer, ui);
            let selected: Vec<String> = widget
                .get_selected_nodes(ui)
                .into_iter()
                .filter_map(|id| self.snarl.get_node(id).cloned())
                .collect();
            // Follow clicks in the editor only when its selection changes, so a pick from the
            // layer list (or a newly added layer) is not overridden by an older editor click.
            if selected != self.editor_selection {
                if let [one] = selected.as_slice() {
                    self.selected = Some(one.clone());
                    self.rename = one.clone();
                }
                self.editor_selection = selected;
            }
            let moved: Vec<(String, [f32; 2])> = self.snarl
                .nodes_pos()
                .filter_map(|(pos, name)| {
                    let old = layout.get(name);
                    let moved = old.is_none_or(|[x, y]| (x - pos.x).abs() > 0.5 || (y - pos.y).abs() > 0.5);
                    moved.then(|| (name.clone(), [pos.x, pos.y]))
                })
                .collect();
            if !moved.is_empty() {
                commands.push(Command::MoveNodes(moved));
            }
            if graph.nodes.is_empty() {
                ui.centered_and_justified(|ui| {
                    ui.label("The model is empty: pick a template above or add an Input layer from the palette.");
                });
            }
            cx.edit_all(commands);
        });

        // Delete key removes the selected layer (when no text field has focus).
        let delete = ui.ctx().input(|i| i.key_pressed(egui::Key::Delete))
            && !ui.ctx().egui_wants_keyboard_input();
        if delete {
            if let Some(name) = self.selected.take() {
                cx.edit(Command::RemoveNode(name));
            }
        }
    }

    fn add_layer(
        &mut self,
        cx: &mut Shared,
        layer: Layer,
        graph: &Graph,
        layout: &std::collections::BTreeMap<String, [f32; 2]>,
    ) {
        let after = self
            .selected
            .clone()
            .filter(|s| graph.node(s).is_some())
            .filter(|_| !layer.is_input());
        let mut position = match after.as_ref().and_then(|a| layout.get(a)) {
            Some([x, y]) => [x + 260.0, *y],
            None => {
                let max_x = layout.values().map(|p| p[0]).fold(0.0f32, f32::max);
                [max_x + 260.0, 40.0]
            }
        };
        // Never on top of another layer: step down until the spot is free.
        let taken = |[x, y]: [f32; 2]| {
            layout
                .values()
                .any(|p| (p[0] - x).abs() < NODE_SIZE.x && (p[1] - y).abs() < NODE_SIZE.y)
        };
        while taken(position) {
            position[1] += NODE_SIZE.y + 20.0;
        }
        // The name the command will give it, so the new layer is selected.
        let name = model::edit::unique_name(graph, &model::edit::base_name(&layer));
        // One command (one undo step): the new layer goes between the selected one and what it fed.
        cx.edit(Command::AddNode {
            layer,
            position,
            after,
        });
        self.selected = Some(name.clone());
        self.rename = name;
    }

    fn inspector_ui(
        &mut self,
        ui: &mut egui::Ui,
        cx: &mut Shared,
        graph: &Graph,
        view: &GraphView,
        input_shape: &[usize],
    ) {
        let Some(name) = self.selected.clone() else {
            ui.strong("Inspector");
            ui.weak("Select a layer (click it in the editor or in the list below) to change its settings.");
            return;
        };
        let Some(i) = graph.nodes.iter().position(|n| n.name == name) else {
            // A layer added this frame exists from the next one on.
            ui.weak("Select a layer to change its settings.");
            return;
        };
        let node = &graph.nodes[i];
        ui.strong(format!("{} layer", node.layer.kind_label()));
        ui.add(egui::Label::new(RichText::new(node.layer.help()).italics()).wrap());
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.label("Name");
            let edit = ui.text_edit_singleline(&mut self.rename);
            if edit.lost_focus() && self.rename != name {
                let to = self.rename.clone();
                cx.edit(Command::RenameNode {
                    from: name.clone(),
                    to: to.clone(),
                });
                self.selected = Some(to.trim().to_owned());
            }
        });
        let mut layer = node.layer.clone();
        super::layer_settings::layer_settings_ui(ui, &mut layer, input_shape);
        if layer != node.layer {
            cx.edit(Command::SetLayer {
                name: name.clone(),
                layer,
            });
        }
        if let Some(Ok(info)) = view.shapes.get(i) {
            ui.label(format!("Output: {}", shape_label(&info.output_shape)));
            ui.label(format!("Parameters: {}", group_digits(info.params)));
        }
        if let Some(problem) = view.problem(graph, i) {
            ui.colored_label(ui.visuals().error_fg_color, problem);
        }
        ui.horizontal(|ui| {
            if ui.button("Duplicate").clicked() {
                cx.edit(Command::DuplicateNode(name.clone()));
            }
            if ui
                .button("Delete layer")
                .on_hover_text("Delete key")
                .clicked()
            {
                cx.edit(Command::RemoveNode(name.clone()));
                self.selected = None;
            }
        });
    }
}

/// The data's per-sample shape, or the model's Input shape before any import.
fn data_shape(cx: &Shared) -> Vec<usize> {
    if let Some(data) = cx.data() {
        return data.prepared.dataset.shape();
    }
    cx.project()
        .and_then(|p| p.model.declared_input_shape())
        .unwrap_or_else(|| vec![1, 28, 28])
}

/// What templates are sized to: the data's shape, task, classes (10 before any import) and
/// vocabulary.
fn data_fit(cx: &Shared) -> DataFit {
    let Some(data) = cx.data() else {
        return DataFit {
            shape: data_shape(cx),
            task: Task::Classify,
            classes: 10,
            vocab: None,
        };
    };
    let mut fit = data.prepared.dataset.fit();
    if fit.classes < 2 {
        fit.classes = 10;
    }
    fit
}

/// When the imported data and the model disagree (input shape, number of classes, an
/// Embedding's vocabulary): what is wrong and the edits that fix it (`model::check_fit`).
pub(super) fn data_mismatch(cx: &Shared) -> Option<(String, Vec<Command>)> {
    let data = cx.data()?;
    if cx.generates_pictures() {
        // A generator and a discriminator do not classify the data; their shapes are checked
        // when training starts.
        return None;
    }
    let graph = &cx.project()?.model;
    let fixes = model::check_fit(&data.prepared.dataset.fit(), graph);
    if fixes.is_empty() {
        return None;
    }
    let problems: Vec<&str> = fixes.iter().map(|f| f.problem.as_str()).collect();
    let message = format!("The model does not fit the data: {}.", problems.join("; "));
    let commands = fixes
        .iter()
        .filter_map(|f| {
            f.replacement.clone().map(|layer| Command::SetLayer {
                name: f.node.clone(),
                layer,
            })
        })
        .collect();
    Some((message, commands))
}
