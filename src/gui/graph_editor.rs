//! The layer editor's view of the graph (egui-snarl): nodes drawn with their shapes, parameter
//! counts and problems, wires turned into [`Command`]s, the right-click palette; and the
//! Keras-style summary. The rules live in `model`; this file only shows them.

use eframe::egui::{self, Color32, RichText};
use egui_snarl::ui::{PinInfo, SnarlViewer};
use egui_snarl::{InPin, NodeId, OutPin, Snarl};

use super::document::Command;
use crate::model::{self, shape_label, Graph, Layer, NodeInfo};

/// Per-node view data shared by the editor and the inspector.
pub(super) struct GraphView {
    pub(super) shapes: Vec<Result<NodeInfo, model::GraphError>>,
    /// Whole-graph validation problems (by node name; empty name = whole graph).
    pub(super) problems: Vec<model::GraphError>,
    pub(super) total_params: Option<usize>,
    /// Of those, the parameters of frozen parts.
    pub(super) frozen_params: usize,
    /// Node indices inputs-first (graph order while the graph is invalid), for the summary.
    pub(super) order: Vec<usize>,
}

impl GraphView {
    pub(super) fn new(graph: &Graph) -> Self {
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
    pub(super) fn problem(&self, graph: &Graph, i: usize) -> Option<String> {
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

pub(super) struct Viewer<'a> {
    /// A view transform to apply once (zoom to fit).
    pub(super) fit: Option<egui::emath::TSTransform>,
    pub(super) graph: &'a Graph,
    pub(super) view: &'a GraphView,
    pub(super) commands: &'a mut Vec<Command>,
    pub(super) input_shape: &'a [usize],
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
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn summary_ui(ui: &mut egui::Ui, graph: &Graph, view: &GraphView) {
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
pub(super) const NODE_SIZE: egui::Vec2 = egui::vec2(250.0, 130.0);

/// The view transform that shows every node inside `view` (never zooming in past 100 %).
pub(super) fn fit_transform(
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

pub(super) fn build_snarl(
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
