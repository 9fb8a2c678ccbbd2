//! The Model screen: the visual layer editor (egui-snarl), a palette grouped by kind, the
//! parameter inspector, templates, undo/redo and the Keras-style summary. The editor only shows
//! the project's graph and turns gestures into [`Command`]s; the rules live in `model`.

use eframe::egui::{self, Color32, RichText};
use egui_snarl::ui::{PinInfo, SnarlStyle, SnarlViewer, SnarlWidget};
use egui_snarl::{InPin, NodeId, OutPin, Snarl};

use super::app::StrataApp;
use super::document::Command;
use crate::model::{self, shape_label, Activation, DataFit, Graph, Layer, NodeInfo, Padding};
use crate::pretrained::{self, Backbone};
use crate::project::{DataKind, Task};
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

/// Palette groups and the layers they offer (with sensible starting settings).
fn palette(input_shape: &[usize]) -> Vec<(&'static str, Vec<Layer>)> {
    vec![
        (
            "Core",
            vec![
                Layer::Input {
                    shape: input_shape.to_vec(),
                },
                Layer::Dense {
                    units: 64,
                    activation: Activation::Relu,
                },
                Layer::Flatten,
                Layer::Dropout { rate: 0.25 },
            ],
        ),
        (
            "Convolution",
            vec![Layer::Conv2d {
                filters: 32,
                kernel: 3,
                stride: 1,
                padding: Padding::Valid,
                activation: Activation::Relu,
            }],
        ),
        (
            "Pooling",
            vec![
                Layer::MaxPool2d {
                    kernel: 2,
                    stride: 2,
                },
                Layer::AvgPool2d {
                    kernel: 2,
                    stride: 2,
                },
                Layer::GlobalAvgPool,
            ],
        ),
        (
            "Sequence",
            vec![
                Layer::Embedding {
                    vocab: 10_000,
                    dim: 64,
                },
                Layer::Conv1d {
                    filters: 64,
                    kernel: 5,
                    stride: 1,
                    padding: Padding::Same,
                    activation: Activation::Relu,
                },
                Layer::MaxPool1d { kernel: 2 },
                Layer::AvgPool1d { kernel: 2 },
                Layer::GlobalMaxPool,
                Layer::Lstm {
                    units: 64,
                    return_sequences: false,
                    bidirectional: false,
                },
                Layer::Gru {
                    units: 64,
                    return_sequences: false,
                    bidirectional: false,
                },
            ],
        ),
        (
            "Normalization",
            vec![Layer::BatchNorm {
                momentum: 0.1,
                epsilon: 1e-5,
            }],
        ),
        (
            "Activation",
            [
                Activation::Relu,
                Activation::LeakyRelu,
                Activation::Sigmoid,
                Activation::Tanh,
                Activation::Softmax,
                Activation::Gelu,
            ]
            .into_iter()
            .map(|function| Layer::Activation { function })
            .collect(),
        ),
        ("Merge", vec![Layer::Add, Layer::Concat]),
        (
            "Pretrained",
            Backbone::ALL
                .into_iter()
                .map(|backbone| Layer::Pretrained {
                    backbone,
                    // Looked up when the layer is added (`with_found_weights`), not every frame.
                    weights: String::new(),
                    train_blocks: 0,
                })
                .chain(std::iter::once(Layer::TrainedModel {
                    run: String::new(),
                    cut: String::new(),
                    part: Graph::default(),
                    train_blocks: 0,
                }))
                .collect(),
        ),
    ]
}

/// A palette entry as it is added: a pretrained network gets the weights file found in the usual
/// folders, if any (a file-system lookup, so done on the click, not while drawing).
fn with_found_weights(layer: Layer) -> Layer {
    match layer {
        Layer::Pretrained {
            backbone,
            weights,
            train_blocks,
        } if weights.is_empty() => Layer::Pretrained {
            backbone,
            weights: pretrained::find_weights(backbone)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            train_blocks,
        },
        other => other,
    }
}

/// A palette entry's name: the layer kind, or which pretrained network.
fn palette_label(layer: &Layer) -> String {
    match layer {
        Layer::Pretrained { backbone, .. } => backbone.label().to_owned(),
        Layer::TrainedModel { .. } => "Trained model (earlier run)".to_owned(),
        other => other.kind_label().to_owned(),
    }
}

/// "frozen", "last 2 of 18 blocks train", "all 7 layers train".
fn freeze_words(units: usize, word: &str, train_blocks: usize) -> String {
    match train_blocks {
        0 => "frozen".to_owned(),
        n if n >= units => format!("all {units} {word} train"),
        n => format!("last {n} of {units} {word} train"),
    }
}

/// The freeze control: a slider over the blocks and what it means in words.
fn freeze_ui(ui: &mut egui::Ui, units: usize, word: &str, train_blocks: &mut usize) {
    ui.label("Train")
        .on_hover_text("Frozen: this part stays as it is and only the layers after it learn — fast (its features are computed once and cached) and best with little data. Training its last blocks too adapts it more to your data: slower, with more risk of overfitting.");
    ui.vertical(|ui| {
        ui.add(
            egui::Slider::new(train_blocks, 0..=units)
                .text(word)
                .clamping(egui::SliderClamping::Always),
        );
        ui.weak(freeze_words(units, word, *train_blocks));
    });
    ui.end_row();
}

const ACTIVATIONS: [Activation; 7] = [
    Activation::Linear,
    Activation::Relu,
    Activation::LeakyRelu,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Softmax,
    Activation::Gelu,
];

/// Per-node view data shared by the editor and the inspector.
struct GraphView {
    shapes: Vec<Result<NodeInfo, String>>,
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
            Some(Err(message)) => Some(message.clone()),
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
            ui.label(layer_settings_line(&self.graph.nodes[i].layer));
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
        for (group, layers) in palette(self.input_shape) {
            ui.menu_button(group, |ui| {
                for layer in layers {
                    if ui
                        .button(palette_label(&layer))
                        .on_hover_text(layer.help())
                        .clicked()
                    {
                        self.commands.push(Command::AddNode {
                            layer: with_found_weights(layer),
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

/// " stride 2 same" for a convolution's non-default stride and padding; empty for the defaults.
fn stride_and_padding(stride: usize, padding: Padding) -> String {
    let mut out = String::new();
    if stride > 1 {
        out.push_str(&format!(" stride {stride}"));
    }
    if padding == Padding::Same {
        out.push_str(" same");
    }
    out
}

/// The layer's own settings in a few words, e.g. "32 filters 3×3, ReLU".
fn layer_settings_line(layer: &Layer) -> String {
    match layer {
        Layer::Input { shape } => format!("shape {}", shape_label(shape)),
        Layer::Dense { units, activation } => format!("{units} units, {}", activation.label()),
        Layer::Conv2d {
            filters,
            kernel,
            stride,
            padding,
            activation,
        } => format!(
            "{filters} filters {kernel}×{kernel}{}, {}",
            stride_and_padding(*stride, *padding),
            activation.label()
        ),
        Layer::MaxPool2d { kernel, stride } | Layer::AvgPool2d { kernel, stride } => {
            format!("window {kernel}×{kernel}, step {stride}")
        }
        Layer::Embedding { vocab, dim } => format!("{vocab} tokens, {dim} numbers each"),
        Layer::Conv1d {
            filters,
            kernel,
            stride,
            padding,
            activation,
        } => format!(
            "{filters} filters of {kernel}{}, {}",
            stride_and_padding(*stride, *padding),
            activation.label()
        ),
        Layer::MaxPool1d { kernel } | Layer::AvgPool1d { kernel } => format!("window {kernel}"),
        Layer::Lstm {
            units,
            return_sequences,
            bidirectional,
        }
        | Layer::Gru {
            units,
            return_sequences,
            bidirectional,
        } => format!(
            "{units} units{}{}",
            if *bidirectional {
                ", both directions"
            } else {
                ""
            },
            if *return_sequences {
                ", every step"
            } else {
                ""
            }
        ),
        Layer::Dropout { rate } => format!("drops {:.0}%", rate * 100.0),
        Layer::BatchNorm { momentum, .. } => format!("momentum {momentum}"),
        Layer::Pretrained {
            backbone,
            train_blocks,
            ..
        } => format!(
            "{}, {}",
            backbone.label(),
            freeze_words(backbone.units(), backbone.unit_word(), *train_blocks)
        ),
        Layer::TrainedModel {
            cut,
            part,
            train_blocks,
            ..
        } if !cut.is_empty() => format!(
            "up to '{cut}', {}",
            freeze_words(part.weighted_nodes().len(), "layers", *train_blocks)
        ),
        Layer::TrainedModel { .. } => "no run chosen".to_owned(),
        Layer::GlobalAvgPool
        | Layer::GlobalMaxPool
        | Layer::Flatten
        | Layer::Activation { .. }
        | Layer::Add
        | Layer::Concat => String::new(),
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
            .and_then(|p| {
                p.model.nodes.iter().find_map(|n| match &n.layer {
                    Layer::Input { shape } => Some(shape.clone()),
                    _ => None,
                })
            })
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

    /// When the imported data and the model disagree (input shape, number of classes): what is
    /// wrong and the edits that fix it.
    pub(super) fn data_mismatch(&self) -> Option<(String, Vec<Command>)> {
        let data = self.data.as_ref()?;
        let graph = &self.project()?.model;
        let shape = data.prepared.dataset.shape();
        let (task, outputs) = (
            data.prepared.dataset.task(),
            data.prepared.dataset.outputs(),
        );
        let mut problems = Vec::new();
        let mut fixes = Vec::new();
        if let Some(input) = graph
            .nodes
            .iter()
            .find(|n| matches!(n.layer, Layer::Input { .. }))
        {
            if let Layer::Input { shape: have } = &input.layer {
                if *have != shape {
                    problems.push(format!(
                        "the Input layer expects {} but the data gives {}",
                        shape_label(have),
                        shape_label(&shape)
                    ));
                    fixes.push(Command::SetLayer {
                        name: input.name.clone(),
                        layer: Layer::Input {
                            shape: shape.clone(),
                        },
                    });
                }
            }
        }
        if let Some(vocab) = data.prepared.dataset.vocab_size() {
            for node in &graph.nodes {
                if let Layer::Embedding { vocab: known, dim } = node.layer {
                    if known < vocab {
                        problems.push(format!(
                            "the Embedding '{}' knows {known} tokens but the texts have {vocab}",
                            node.name
                        ));
                        fixes.push(Command::SetLayer {
                            name: node.name.clone(),
                            layer: Layer::Embedding { vocab, dim },
                        });
                    }
                }
            }
        }
        if let Ok(checked) = graph.validate() {
            let out = &graph.nodes[checked.output];
            if let Layer::Dense { units, activation } = &out.layer {
                let wanted_activation = match task {
                    Task::Classify => *activation,
                    Task::Regress => Activation::Linear,
                };
                let fits = *units == outputs && *activation == wanted_activation;
                if !fits && (task == Task::Regress || outputs >= 2) {
                    problems.push(match task {
                        Task::Classify => format!(
                            "the last layer '{}' gives {units} values but the data has {outputs} classes",
                            out.name
                        ),
                        Task::Regress => format!(
                            "the last layer '{}' should give one number with a linear activation to predict a number",
                            out.name
                        ),
                    });
                    fixes.push(Command::SetLayer {
                        name: out.name.clone(),
                        layer: Layer::Dense {
                            units: outputs,
                            activation: wanted_activation,
                        },
                    });
                }
            }
        }
        (!problems.is_empty()).then(|| {
            (
                format!("The model does not fit the data: {}.", problems.join("; ")),
                fixes,
            )
        })
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
        let shape = match data.kind {
            DataKind::Image => vec![
                usize::from(data.channels),
                data.image_height as usize,
                data.image_width as usize,
            ],
            DataKind::Text => vec![data.sequence_length],
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
                    for (group, layers) in palette(&input_shape) {
                        egui::CollapsingHeader::new(group)
                            .default_open(true)
                            .show(ui, |ui| {
                                for layer in layers {
                                    let label = format!("Add {}", palette_label(&layer));
                                    if ui.button(label).on_hover_text(layer.help()).clicked() {
                                        self.add_layer(with_found_weights(layer), &graph, &layout);
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
            .filter(|_| !matches!(layer, Layer::Input { .. }));
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
        let name = super::document::unique_name(graph, &super::document::base_name(&layer));
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
        layer_settings_ui(ui, &mut layer, input_shape);
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

fn activation_combo(ui: &mut egui::Ui, id: &str, activation: &mut Activation) {
    egui::ComboBox::from_id_salt(id)
        .selected_text(activation.label())
        .show_ui(ui, |ui| {
            for a in ACTIVATIONS {
                ui.selectable_value(activation, a, a.label());
            }
        });
}

fn layer_settings_ui(ui: &mut egui::Ui, layer: &mut Layer, input_shape: &[usize]) {
    egui::Grid::new("layer-settings")
        .num_columns(2)
        .show(ui, |ui| match layer {
            Layer::Input { shape } => {
                ui.label("Shape");
                ui.label(shape_label(shape));
                ui.end_row();
                if shape.as_slice() != input_shape {
                    ui.label("");
                    if ui
                        .button(format!("Match the data ({})", shape_label(input_shape)))
                        .clicked()
                    {
                        *shape = input_shape.to_vec();
                    }
                    ui.end_row();
                }
            }
            Layer::Dense { units, activation } => {
                ui.label("Units")
                    .on_hover_text("How many outputs (neurons) the layer has.");
                ui.add(egui::DragValue::new(units).range(1..=65536));
                ui.end_row();
                ui.label("Activation");
                activation_combo(ui, "dense-activation", activation);
                ui.end_row();
            }
            Layer::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                activation,
            } => {
                ui.label("Filters")
                    .on_hover_text("How many different patterns the layer looks for.");
                ui.add(egui::DragValue::new(filters).range(1..=4096));
                ui.end_row();
                ui.label("Kernel size")
                    .on_hover_text("Width and height of each filter in pixels.");
                ui.add(egui::DragValue::new(kernel).range(1..=15));
                ui.end_row();
                ui.label("Stride")
                    .on_hover_text("Step between filter positions; 2 halves the image size.");
                ui.add(egui::DragValue::new(stride).range(1..=8));
                ui.end_row();
                ui.label("Padding").on_hover_text(
                    "Valid: no border, the image shrinks. Same: zero border, the size stays.",
                );
                ui.horizontal(|ui| {
                    ui.radio_value(padding, Padding::Valid, "valid");
                    ui.radio_value(padding, Padding::Same, "same");
                });
                ui.end_row();
                ui.label("Activation");
                activation_combo(ui, "conv-activation", activation);
                ui.end_row();
            }
            Layer::MaxPool2d { kernel, stride } | Layer::AvgPool2d { kernel, stride } => {
                ui.label("Window");
                ui.add(egui::DragValue::new(kernel).range(1..=8));
                ui.end_row();
                ui.label("Step");
                ui.add(egui::DragValue::new(stride).range(1..=8));
                ui.end_row();
            }
            Layer::Embedding { vocab, dim } => {
                ui.label("Vocabulary")
                    .on_hover_text("How many different tokens (words or characters) it knows; set by the data's vocabulary.");
                ui.add(egui::DragValue::new(vocab).range(2..=1_000_000));
                ui.end_row();
                ui.label("Vector length")
                    .on_hover_text("How many learned numbers describe each token.");
                ui.add(egui::DragValue::new(dim).range(1..=1024));
                ui.end_row();
            }
            Layer::Conv1d {
                filters,
                kernel,
                stride,
                padding,
                activation,
            } => {
                ui.label("Filters")
                    .on_hover_text("How many different patterns the layer looks for.");
                ui.add(egui::DragValue::new(filters).range(1..=4096));
                ui.end_row();
                ui.label("Window")
                    .on_hover_text("How many neighbouring positions (e.g. words) each filter sees.");
                ui.add(egui::DragValue::new(kernel).range(1..=31));
                ui.end_row();
                ui.label("Stride");
                ui.add(egui::DragValue::new(stride).range(1..=8));
                ui.end_row();
                ui.label("Padding").on_hover_text(
                    "Valid: no border, the sequence shrinks. Same: zero border, the length stays.",
                );
                ui.horizontal(|ui| {
                    ui.radio_value(padding, Padding::Valid, "valid");
                    ui.radio_value(padding, Padding::Same, "same");
                });
                ui.end_row();
                ui.label("Activation");
                activation_combo(ui, "conv1d-activation", activation);
                ui.end_row();
            }
            Layer::MaxPool1d { kernel } | Layer::AvgPool1d { kernel } => {
                ui.label("Window");
                ui.add(egui::DragValue::new(kernel).range(1..=16));
                ui.end_row();
            }
            Layer::Lstm {
                units,
                return_sequences,
                bidirectional,
            }
            | Layer::Gru {
                units,
                return_sequences,
                bidirectional,
            } => {
                ui.label("Units")
                    .on_hover_text("Size of the memory carried from step to step.");
                ui.add(egui::DragValue::new(units).range(1..=1024));
                ui.end_row();
                ui.label("Directions");
                ui.checkbox(bidirectional, "also read backwards")
                    .on_hover_text("A second layer reads the sequence from the end; both outputs are joined.");
                ui.end_row();
                ui.label("Output");
                ui.checkbox(return_sequences, "every step")
                    .on_hover_text("On: the output of every step (to stack another LSTM/GRU or pool over time). Off: only the memory after the last step.");
                ui.end_row();
            }
            Layer::Dropout { rate } => {
                ui.label("Rate")
                    .on_hover_text("Fraction of values switched off while training.");
                ui.add(egui::Slider::new(rate, 0.0..=0.9));
                ui.end_row();
            }
            Layer::BatchNorm { momentum, epsilon } => {
                ui.label("Momentum");
                ui.add(
                    egui::DragValue::new(momentum)
                        .range(0.001..=1.0)
                        .speed(0.01),
                );
                ui.end_row();
                ui.label("Epsilon");
                ui.add(egui::DragValue::new(epsilon).range(1e-8..=0.1).speed(1e-5));
                ui.end_row();
            }
            Layer::Activation { function } => {
                ui.label("Function");
                activation_combo(ui, "activation-function", function);
                ui.end_row();
            }
            Layer::Pretrained {
                backbone,
                weights,
                train_blocks,
            } => pretrained_settings_ui(ui, *backbone, weights, train_blocks),
            Layer::TrainedModel {
                run,
                cut,
                part,
                train_blocks,
            } => trained_model_settings_ui(ui, run, cut, part, train_blocks),
            Layer::GlobalAvgPool
            | Layer::GlobalMaxPool
            | Layer::Flatten
            | Layer::Add
            | Layer::Concat => {
                ui.weak("No settings.");
                ui.end_row();
            }
        });
}

/// A pretrained node: what it reads and gives, its weights file and how much of it trains.
fn pretrained_settings_ui(
    ui: &mut egui::Ui,
    backbone: Backbone,
    weights: &mut String,
    train_blocks: &mut usize,
) {
    ui.label("Network");
    ui.label(backbone.label());
    ui.end_row();
    ui.label("Reads");
    ui.label(backbone.normalization());
    ui.end_row();
    ui.label("Gives");
    ui.label(format!("{} features per sample", backbone.features()));
    ui.end_row();
    ui.label("Weights file")
        .on_hover_text("The pretrained weights (.pth or .safetensors). Strata reads the numbers only; nothing in the file is run.");
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
            ui.add(
                egui::Label::new(
                    RichText::new(format!(
                        "{what} Where to get it: {}.",
                        backbone.provided_by()
                    ))
                    .color(ui.visuals().warn_fg_color),
                )
                .wrap(),
            );
        }
    });
    ui.end_row();
    freeze_ui(ui, backbone.units(), backbone.unit_word(), train_blocks);
}

/// A reused part of an earlier run's model: the run, where to cut, how much trains.
fn trained_model_settings_ui(
    ui: &mut egui::Ui,
    run: &mut String,
    cut: &mut String,
    part: &mut Graph,
    train_blocks: &mut usize,
) {
    // The run's model is read when the run or the cut changes (and its layer names while the
    // list is open).
    let reload = |run: &str, cut: Option<&str>| {
        workflow::trained_model_layer(std::path::Path::new(run), cut)
    };
    let problem_id = egui::Id::new("trained-model-problem");
    ui.label("Run");
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
                    Ok(Layer::TrainedModel {
                        run: r,
                        cut: c,
                        part: p,
                        ..
                    }) => (*run, *cut, *part) = (r, c, p),
                    Ok(_) => {}
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
    ui.end_row();
    if run.is_empty() {
        return;
    }
    ui.label("Cut after").on_hover_text(
        "The reused part ends with this layer; what came after it in the old model is left out.",
    );
    let mut chosen = cut.clone();
    egui::ComboBox::from_id_salt("trained-model-cut")
        .selected_text(cut.as_str())
        .show_ui(ui, |ui| {
            let names = std::fs::read_to_string(
                std::path::Path::new(run.as_str())
                    .join(crate::engine::runs::BEST_DIR)
                    .join(crate::engine::runs::GRAPH_FILE),
            )
            .ok()
            .and_then(|t| serde_json::from_str::<Graph>(&t).ok())
            .map(|g| g.nodes.into_iter().map(|n| n.name).collect::<Vec<_>>())
            .unwrap_or_default();
            for name in names {
                ui.selectable_value(&mut chosen, name.clone(), name);
            }
        });
    ui.end_row();
    if chosen != *cut {
        if let Ok(Layer::TrainedModel {
            cut: c, part: p, ..
        }) = reload(run, Some(&chosen))
        {
            (*cut, *part) = (c, p);
        }
    }
    freeze_ui(ui, part.weighted_nodes().len(), "layers", train_blocks);
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
