//! The Model screen: the visual layer editor (egui-snarl), a palette grouped by kind, the
//! parameter inspector, templates, undo/redo and the Keras-style summary. The editor only shows
//! the project's graph and turns gestures into [`Command`]s; the rules live in `model`.

use eframe::egui::{self, Color32, RichText};
use egui_snarl::ui::{PinInfo, SnarlStyle, SnarlViewer, SnarlWidget};
use egui_snarl::{InPin, NodeId, OutPin, Snarl};

use super::app::StrataApp;
use super::document::Command;
use crate::model::{self, shape_label, DataFit, Graph, Layer, NodeInfo};

use crate::project::{Source, Task};
use crate::workflow;

/// State of the editor between frames.
#[derive(Default)]
pub struct ModelState {
    snarl: Snarl<String>,
    built: Option<u64>,
    /// The selected node's name.
    pub selected: Option<String>,
    rename: String,
    /// Replace the model by a template sized to the data once the first import finishes.
    pub fit_template_after_import: bool,
    /// That template is this transfer template (the start page asked for transfer learning).
    pub transfer_template: Option<&'static str>,
    /// Zoom the view to fit all layers on the next frame.
    fit_pending: bool,
    /// The nodes selected in the editor last frame.
    editor_selection: Vec<String>,
}

/// Per-node view data shared by the editor and the inspector.
struct GraphView {
    shapes: Vec<Result<NodeInfo, model::GraphError>>,
    /// Whole-graph validation problems (by node name; empty name = whole graph).
    problems: Vec<model::GraphError>,
    total_params: Option<usize>,
    /// Of those, the parameters of frozen parts.
    frozen_params: usize,
    /// Node indices inputs-first (graph order while the graph is invalid), for the summary.
    order: Vec<usize>,
}

impl GraphView {
    fn new(graph: &Graph) -> Self {
        let shapes = graph.node_shapes();
        let (problems, total_params, frozen_params, order) = match graph.validate() {
            Ok(checked) => (
                Vec::new(),
                Some(checked.total_params()),
                graph.frozen_params(&checked),
                checked.order,
            ),
            Err(errors) => (errors, None, 0, (0..graph.nodes.len()).collect()),
        };
        Self {
            shapes,
            problems,
            total_params,
            frozen_params,
            order,
        }
    }

    /// The problem to show on node `i`, if any.
    fn problem(&self, graph: &Graph, i: usize) -> Option<String> {
        let name = graph.nodes.get(i).map(|n| n.name.as_str())?;
        if let Some(e) = self.problems.iter().find(|e| e.node == name) {
            return Some(e.message.clone());
        }
        match self.shapes.get(i) {
            Some(Err(error)) => Some(error.message.clone()),
            _ => None,
        }
    }
}

struct Viewer<'a> {
    /// A view transform to apply once (zoom to fit).
    fit: Option<egui::emath::TSTransform>,
    graph: &'a Graph,
    view: &'a GraphView,
    commands: &'a mut Vec<Command>,
    input_shape: &'a [usize],
}

impl Viewer<'_> {
    fn index(&self, name: &str) -> Option<usize> {
        self.graph.nodes.iter().position(|n| n.name == name)
    }
}

impl SnarlViewer<String> for Viewer<'_> {
    fn title(&mut self, node: &String) -> String {
        node.clone()
    }

    fn current_transform(
        &mut self,
        to_global: &mut egui::emath::TSTransform,
        _snarl: &mut Snarl<String>,
    ) {
        if let Some(fit) = self.fit.take() {
            *to_global = fit;
        }
    }

    fn show_header(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut egui::Ui,
        snarl: &mut Snarl<String>,
    ) {
        let name = snarl[node].clone();
        let Some(i) = self.index(&name) else { return };
        let layer = &self.graph.nodes[i].layer;
        ui.label(RichText::new(layer.kind_label()).strong())
            .on_hover_text(layer.help());
        ui.weak(name);
    }

    fn node_frame(
        &mut self,
        default: egui::Frame,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        snarl: &Snarl<String>,
    ) -> egui::Frame {
        let broken = self
            .index(&snarl[node])
            .is_some_and(|i| self.view.problem(self.graph, i).is_some());
        if broken {
            default.stroke(egui::Stroke::new(2.0, Color32::from_rgb(220, 60, 60)))
        } else {
            default
        }
    }

    fn inputs(&mut self, node: &String) -> usize {
        match self.index(node).map(|i| &self.graph.nodes[i]) {
            Some(n) => match n.layer.arity() {
                (0, 0) => 0,
                (_, 1) => 1,
                _ => n.inputs.len() + 1, // Always one free slot to connect another branch.
            },
            None => 0,
        }
    }

    fn show_input(
        &mut self,
        pin: &InPin,
        ui: &mut egui::Ui,
        snarl: &mut Snarl<String>,
    ) -> impl egui_snarl::ui::SnarlPin + 'static {
        let name = snarl[pin.id.node].clone();
        let connected = self
            .index(&name)
            .and_then(|i| self.graph.nodes[i].inputs.get(pin.id.input))
            .is_some();
        if connected {
            ui.weak("in");
            PinInfo::circle().with_fill(Color32::from_rgb(90, 160, 230))
        } else {
            ui.weak("in (free)");
            PinInfo::circle().with_fill(Color32::GRAY)
        }
    }

    fn outputs(&mut self, _node: &String) -> usize {
        1
    }

    fn show_output(
        &mut self,
        pin: &OutPin,
        ui: &mut egui::Ui,
        snarl: &mut Snarl<String>,
    ) -> impl egui_snarl::ui::SnarlPin + 'static {
        let _ = (pin, ui, snarl);
        PinInfo::circle().with_fill(Color32::from_rgb(90, 160, 230))
    }

    fn has_body(&mut self, _node: &String) -> bool {
        true
    }

    fn show_body(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut egui::Ui,
        snarl: &mut Snarl<String>,
    ) {
        let Some(i) = self.index(&snarl[node]) else {
            return;
        };
        ui.vertical(|ui| {
            ui.set_max_width(190.0);
            ui.label(self.graph.nodes[i].layer.kind().settings_line());
            if let Some(Ok(info)) = self.view.shapes.get(i) {
                ui.label(format!("output {}", shape_label(&info.output_shape)));
                ui.weak(format!("{} parameters", group_digits(info.params)));
            }
            if let Some(problem) = self.view.problem(self.graph, i) {
                ui.add(
                    egui::Label::new(RichText::new(problem).color(Color32::from_rgb(230, 80, 80)))
                        .wrap(),
                );
            }
        });
    }

    fn has_on_hover_popup(&mut self, _node: &String) -> bool {
        true
    }

    fn show_on_hover_popup(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut egui::Ui,
        snarl: &mut Snarl<String>,
    ) {
        if let Some(i) = self.index(&snarl[node]) {
            ui.set_max_width(320.0);
            ui.label(self.graph.nodes[i].layer.help());
        }
    }

    fn connect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<String>) {
        self.commands.push(Command::Connect {
            from: snarl[from.id.node].clone(),
            to: snarl[to.id.node].clone(),
            slot: to.id.input,
        });
    }

    fn disconnect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<String>) {
        self.commands.push(Command::Disconnect {
            from: snarl[from.id.node].clone(),
            to: snarl[to.id.node].clone(),
        });
    }

    fn drop_inputs(&mut self, pin: &InPin, snarl: &mut Snarl<String>) {
        for remote in &pin.remotes {
            self.commands.push(Command::Disconnect {
                from: snarl[remote.node].clone(),
                to: snarl[pin.id.node].clone(),
            });
        }
    }

    fn drop_outputs(&mut self, pin: &OutPin, snarl: &mut Snarl<String>) {
        for remote in &pin.remotes {
            self.commands.push(Command::Disconnect {
                from: snarl[pin.id.node].clone(),
                to: snarl[remote.node].clone(),
            });
        }
    }

    fn has_graph_menu(&mut self, _pos: egui::Pos2, _snarl: &mut Snarl<String>) -> bool {
        true
    }

    fn show_graph_menu(&mut self, pos: egui::Pos2, ui: &mut egui::Ui, _snarl: &mut Snarl<String>) {
        ui.label("Add a layer here");
        for (group, layers) in Layer::palette(self.input_shape) {
            ui.menu_button(group, |ui| {
                for layer in layers {
                    if ui
                        .button(layer.kind().palette_label())
                        .on_hover_text(layer.help())
                        .clicked()
                    {
                        let mut layer = layer.clone();
                        layer.kind_mut().when_added();
                        self.commands.push(Command::AddNode {
                            layer,
                            position: [pos.x, pos.y],
                            after: None,
                        });
                        ui.close();
                    }
                }
            });
        }
    }

    fn has_node_menu(&mut self, _node: &String) -> bool {
        true
    }

    fn show_node_menu(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut egui::Ui,
        snarl: &mut Snarl<String>,
    ) {
        let name = snarl[node].clone();
        if ui.button("Duplicate").clicked() {
            self.commands.push(Command::DuplicateNode(name.clone()));
            ui.close();
        }
        if ui.button("Delete").clicked() {
            self.commands.push(Command::RemoveNode(name));
            ui.close();
        }
    }
}

/// 225034 → "225,034".
pub(super) fn group_digits(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl StrataApp {
    /// The data's per-sample shape, or the model's Input shape before any import.
    fn data_shape(&self) -> Vec<usize> {
        if let Some(data) = &self.data {
            return data.prepared.dataset.shape();
        }
        self.project()
            .and_then(|p| p.model.declared_input_shape())
            .unwrap_or_else(|| vec![1, 28, 28])
    }

    /// What templates are sized to: the data's shape, task, classes (10 before any import) and
    /// vocabulary.
    fn data_fit(&self) -> DataFit {
        let Some(data) = &self.data else {
            return DataFit {
                shape: self.data_shape(),
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
    pub(super) fn data_mismatch(&self) -> Option<(String, Vec<Command>)> {
        let data = self.data.as_ref()?;
        let graph = &self.project()?.model;
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

    /// A transfer template: the data is set up the way the pretrained network reads it (and
    /// imported again when that changes) and the weights file is found in the usual folders.
    fn apply_transfer_template(&mut self, name: &str, label: &str, fit: &DataFit) {
        let Some(doc) = &self.doc else { return };
        let mut data = doc.project.data.clone();
        let weights = match workflow::adapt_data_to_template(name, &mut data, None, false) {
            Ok(w) => w,
            Err(e) => {
                self.error(format!(
                    "{e}. You can also add the network from the palette's Pretrained group and choose its weights file in the inspector."
                ));
                return;
            }
        };
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
            self.command(Command::SetData(data));
            self.reimport_after_commands = true;
        }
        self.command(Command::ReplaceModel {
            graph,
            what: format!("{label} template"),
        });
        self.model.fit_pending = true;
    }

    pub(super) fn model_ui(&mut self, ui: &mut egui::Ui) {
        let Some(doc) = &self.doc else { return };
        let graph = doc.project.model.clone();
        let layout = doc.project.layout.clone();
        let revision = doc.revision;
        let (can_undo, can_redo) = (doc.can_undo(), doc.can_redo());
        let view = GraphView::new(&graph);
        let input_shape = self.data_shape();
        let fit = DataFit {
            shape: input_shape.clone(),
            ..self.data_fit()
        };

        // Toolbar.
        ui.horizontal_wrapped(|ui| {
            ui.label("Start from:");
            let templates: [(&str, &str, &str); 7] = [
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
                    "Transfer (images)",
                    "EfficientNet-Lite0 trained on ImageNet (frozen), Dropout, Dense: learns new image classes from a few dozen examples each. Images are imported at 224×224 in colour.",
                    "transfer-image",
                ),
                (
                    "Transfer (texts)",
                    "The MiniLM sentence encoder (frozen), Dropout, Dense: understands texts from the start. Texts are read with its own tokenizer.",
                    "transfer-text",
                ),
            ];
            for (label, hint, name) in templates {
                if ui.button(label).on_hover_text(hint).clicked() {
                    if workflow::template_backbone(name).is_some() {
                        self.apply_transfer_template(name, label, &fit);
                    } else if let Some(graph) = model::template(name, &fit) {
                        self.command(Command::ReplaceModel {
                            graph,
                            what: format!("{label} template"),
                        });
                        self.model.fit_pending = true;
                    }
                }
            }
            ui.separator();
            let undo = ui
                .add_enabled(can_undo, egui::Button::new("Undo"))
                .on_hover_text("Ctrl+Z")
                .clicked();
            let redo = ui
                .add_enabled(can_redo, egui::Button::new("Redo"))
                .on_hover_text("Ctrl+Shift+Z")
                .clicked();
            if let Some(doc) = &mut self.doc {
                if undo {
                    doc.undo();
                } else if redo {
                    doc.redo();
                }
            }
            if ui
                .button("Tidy up")
                .on_hover_text("Arrange the layers automatically and fit them in view (double-clicking the background also fits the view)")
                .clicked()
            {
                self.command(Command::AutoLayout);
                self.model.fit_pending = true;
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
        if let Some((message, fixes)) = self.data_mismatch() {
            ui.horizontal_wrapped(|ui| {
                ui.colored_label(ui.visuals().warn_fg_color, message);
                if ui.button("Fit the model to the data").clicked() {
                    self.pending.extend(fixes);
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
                                        self.add_layer(layer, &graph, &layout);
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
                    self.inspector_ui(ui, &graph, &view, &input_shape);
                    ui.separator();
                    ui.strong("All layers");
                    for node in &graph.nodes {
                        let selected = self.model.selected.as_deref() == Some(node.name.as_str());
                        if ui
                            .selectable_label(
                                selected,
                                format!("{} ({})", node.name, node.layer.kind_label()),
                            )
                            .clicked()
                        {
                            self.model.selected = Some(node.name.clone());
                            self.model.rename = node.name.clone();
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
            if self.model.built != Some(revision) {
                if self.model.built.is_none() {
                    self.model.fit_pending = true;
                }
                self.model.snarl = build_snarl(&graph, &layout);
                self.model.built = Some(revision);
            }
            // Fit once the edits queued this frame (a new template) have been applied.
            let fit = if self.pending.is_empty() && self.model.fit_pending {
                self.model.fit_pending = false;
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
            widget.show(&mut self.model.snarl, &mut viewer, ui);
            let selected: Vec<String> = widget
                .get_selected_nodes(ui)
                .into_iter()
                .filter_map(|id| self.model.snarl.get_node(id).cloned())
                .collect();
            // Follow clicks in the editor only when its selection changes, so a pick from the
            // layer list (or a newly added layer) is not overridden by an older editor click.
            if selected != self.model.editor_selection {
                if let [one] = selected.as_slice() {
                    self.model.selected = Some(one.clone());
                    self.model.rename = one.clone();
                }
                self.model.editor_selection = selected;
            }
            let moved: Vec<(String, [f32; 2])> = self
                .model
                .snarl
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
            self.pending.extend(commands);
        });

        // Delete key removes the selected layer (when no text field has focus).
        let delete = ui.ctx().input(|i| i.key_pressed(egui::Key::Delete))
            && !ui.ctx().egui_wants_keyboard_input();
        if delete {
            if let Some(name) = self.model.selected.take() {
                self.command(Command::RemoveNode(name));
            }
        }
    }

    fn add_layer(
        &mut self,
        layer: Layer,
        graph: &Graph,
        layout: &std::collections::BTreeMap<String, [f32; 2]>,
    ) {
        let after = self
            .model
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
        self.command(Command::AddNode {
            layer,
            position,
            after,
        });
        self.model.selected = Some(name.clone());
        self.model.rename = name;
    }

    fn inspector_ui(
        &mut self,
        ui: &mut egui::Ui,
        graph: &Graph,
        view: &GraphView,
        input_shape: &[usize],
    ) {
        let Some(name) = self.model.selected.clone() else {
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
            let edit = ui.text_edit_singleline(&mut self.model.rename);
            if edit.lost_focus() && self.model.rename != name {
                let to = self.model.rename.clone();
                self.command(Command::RenameNode {
                    from: name.clone(),
                    to: to.clone(),
                });
                self.model.selected = Some(to.trim().to_owned());
            }
        });
        let mut layer = node.layer.clone();
        super::layer_settings::layer_settings_ui(ui, &mut layer, input_shape);
        if layer != node.layer {
            self.command(Command::SetLayer {
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
                self.command(Command::DuplicateNode(name.clone()));
            }
            if ui
                .button("Delete layer")
                .on_hover_text("Delete key")
                .clicked()
            {
                self.command(Command::RemoveNode(name.clone()));
                self.model.selected = None;
            }
        });
    }
}

fn summary_ui(ui: &mut egui::Ui, graph: &Graph, view: &GraphView) {
    egui::Grid::new("model-summary")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            ui.strong("Layer (type)");
            ui.strong("Output shape");
            ui.strong("Param #");
            ui.end_row();
            for &i in &view.order {
                let node = &graph.nodes[i];
                ui.label(format!("{} ({})", node.name, node.layer.kind_label()));
                match view.shapes.get(i) {
                    Some(Ok(info)) => {
                        ui.label(shape_label(&info.output_shape));
                        ui.label(group_digits(info.params));
                    }
                    _ => {
                        ui.weak("?");
                        ui.weak("?");
                    }
                }
                ui.end_row();
            }
        });
    match view.total_params {
        Some(total) => {
            ui.strong(format!("Total params: {}", group_digits(total)));
            if view.frozen_params > 0 {
                ui.label(format!(
                    "Trainable params: {}",
                    group_digits(total - view.frozen_params)
                ));
                ui.label(format!(
                    "Non-trainable params: {} (frozen)",
                    group_digits(view.frozen_params)
                ));
            }
        }
        None => {
            ui.weak("Total params: fix the problems first");
        }
    };
}

/// Approximate size of a drawn node, for fitting the view.
const NODE_SIZE: egui::Vec2 = egui::vec2(250.0, 130.0);

/// The view transform that shows every node inside `view` (never zooming in past 100 %).
fn fit_transform(
    layout: &std::collections::BTreeMap<String, [f32; 2]>,
    view: egui::Rect,
) -> Option<egui::emath::TSTransform> {
    let mut bounds = egui::Rect::NOTHING;
    for [x, y] in layout.values() {
        let min = egui::pos2(*x, *y);
        bounds = bounds.union(egui::Rect::from_min_size(min, NODE_SIZE));
    }
    if !bounds.is_finite() || !view.is_finite() || view.width() < 10.0 {
        return None;
    }
    let bounds = bounds.expand(30.0);
    let scale = (view.width() / bounds.width())
        .min(view.height() / bounds.height())
        .clamp(0.2, 1.0);
    let translation = view.center().to_vec2() - bounds.center().to_vec2() * scale;
    Some(egui::emath::TSTransform::new(translation, scale))
}

fn build_snarl(
    graph: &Graph,
    layout: &std::collections::BTreeMap<String, [f32; 2]>,
) -> Snarl<String> {
    let mut snarl = Snarl::new();
    let mut ids = std::collections::HashMap::new();
    for (k, node) in graph.nodes.iter().enumerate() {
        let [x, y] = layout
            .get(&node.name)
            .copied()
            .unwrap_or([40.0 + 260.0 * k as f32, 40.0]);
        let id = snarl.insert_node(egui::pos2(x, y), node.name.clone());
        ids.insert(node.name.clone(), id);
    }
    for node in &graph.nodes {
        let Some(&to) = ids.get(&node.name) else {
            continue;
        };
        for (slot, input) in node.inputs.iter().enumerate() {
            if let Some(&from) = ids.get(input) {
                snarl.connect(
                    egui_snarl::OutPinId {
                        node: from,
                        output: 0,
                    },
                    egui_snarl::InPinId {
                        node: to,
                        input: slot,
                    },
                );
            }
        }
    }
    snarl
}
