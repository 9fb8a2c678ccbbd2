//! The model graph: named nodes wired into a DAG, with shape inference and validation.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::layer::{Layer, Padding};

/// Per-sample shape (no batch axis), e.g. `[64, 5, 5]` for 64 channels of 5×5.
pub type Shape = Vec<usize>;

/// Formats a shape the way users read it: `64×5×5`.
pub fn shape_label(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

/// One named layer and the names of the nodes feeding it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Unique name; also the prefix of this node's weights (`fc1.weight`).
    pub name: String,
    /// What the node computes.
    pub layer: Layer,
    /// Names of the nodes whose outputs feed this one, in order.
    #[serde(default)]
    pub inputs: Vec<String>,
}

impl Node {
    /// A node fed by the given inputs.
    pub fn new(name: impl Into<String>, layer: Layer, inputs: &[&str]) -> Self {
        Self {
            name: name.into(),
            layer,
            inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// A directed acyclic graph of layers with one input node and one output node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// The nodes, in any order.
    pub nodes: Vec<Node>,
}

/// A problem with the graph, tied to the node where it shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GraphError {
    /// Name of the node the problem belongs to (empty for whole-graph problems).
    pub node: String,
    /// Plain-words description including what to do.
    pub message: String,
}

impl GraphError {
    fn at(node: &Node, message: impl Into<String>) -> Self {
        Self {
            node: node.name.clone(),
            message: message.into(),
        }
    }

    fn whole(message: impl Into<String>) -> Self {
        Self {
            node: String::new(),
            message: message.into(),
        }
    }
}

/// What shape inference learned about one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Output shape per sample.
    pub output_shape: Shape,
    /// Number of trainable parameters.
    pub params: usize,
}

/// A graph that passed validation: nodes in evaluation order with their shapes.
#[derive(Clone, Debug)]
pub struct CheckedGraph {
    /// Node indices (into `Graph::nodes`) in an order where inputs come first.
    pub order: Vec<usize>,
    /// Per node (same indexing as `Graph::nodes`): shape and parameter count.
    pub info: Vec<NodeInfo>,
    /// Index of the input node.
    pub input: usize,
    /// Index of the output node.
    pub output: usize,
}

impl CheckedGraph {
    /// Total trainable parameters.
    pub fn total_params(&self) -> usize {
        self.info.iter().map(|i| i.params).sum()
    }

    /// Output shape of the whole model.
    pub fn output_shape(&self) -> &[usize] {
        &self.info[self.output].output_shape
    }
}

impl Graph {
    /// Node by name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Per-sample shape arriving at node `i`'s first input (empty for the Input node).
    pub fn input_shape<'a>(&self, checked: &'a CheckedGraph, i: usize) -> &'a [usize] {
        self.nodes[i]
            .inputs
            .first()
            .and_then(|n| self.nodes.iter().position(|m| &m.name == n))
            .map_or(&[], |j| checked.info[j].output_shape.as_slice())
    }

    /// The nodes `cut` depends on, and `cut` itself, in their order here: the part of a trained
    /// model that another model reuses.
    pub fn cut_at(&self, cut: &str) -> Result<Graph, String> {
        let mut keep = std::collections::HashSet::new();
        let mut todo = vec![cut.to_owned()];
        while let Some(name) = todo.pop() {
            let node = self
                .node(&name)
                .ok_or_else(|| format!("the model has no layer named '{name}'"))?;
            if keep.insert(name) {
                todo.extend(node.inputs.iter().cloned());
            }
        }
        Ok(Graph {
            nodes: self
                .nodes
                .iter()
                .filter(|n| keep.contains(&n.name))
                .cloned()
                .collect(),
        })
    }

    /// The nodes with weights, in the graph's order (the "blocks" of a reused model).
    pub fn weighted_nodes(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| {
                !matches!(
                    n.layer,
                    Layer::Input { .. }
                        | Layer::MaxPool2d { .. }
                        | Layer::AvgPool2d { .. }
                        | Layer::GlobalAvgPool
                        | Layer::GlobalMaxPool
                        | Layer::MaxPool1d { .. }
                        | Layer::AvgPool1d { .. }
                        | Layer::Flatten
                        | Layer::Dropout { .. }
                        | Layer::Activation { .. }
                        | Layer::Add
                        | Layer::Concat
                )
            })
            .map(|n| n.name.as_str())
            .collect()
    }

    /// Parameters of frozen pretrained or reused parts (they do not train).
    pub fn frozen_params(&self, checked: &CheckedGraph) -> usize {
        self.nodes
            .iter()
            .zip(&checked.info)
            .filter(|(n, _)| {
                matches!(
                    n.layer,
                    Layer::Pretrained {
                        train_blocks: 0,
                        ..
                    } | Layer::TrainedModel {
                        train_blocks: 0,
                        ..
                    }
                )
            })
            .map(|(_, info)| info.params)
            .sum()
    }

    /// Sets how many of the last blocks of every pretrained or reused part train.
    pub fn set_train_blocks(&mut self, blocks: usize) {
        for node in &mut self.nodes {
            if let Layer::Pretrained { train_blocks, .. }
            | Layer::TrainedModel { train_blocks, .. } = &mut node.layer
            {
                *train_blocks = blocks;
            }
        }
    }

    /// Points every pretrained node at `file` (for `--weights` and the inspector's choice).
    pub fn set_pretrained_weights(&mut self, file: &std::path::Path) {
        for node in &mut self.nodes {
            if let Layer::Pretrained { weights, .. } = &mut node.layer {
                *weights = file.display().to_string();
            }
        }
    }

    /// Checks names, wiring, cycles and shapes; returns every problem found.
    pub fn validate(&self) -> Result<CheckedGraph, Vec<GraphError>> {
        let mut errors = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.name.trim().is_empty() {
                errors.push(GraphError::at(
                    node,
                    format!(
                        "A {} layer has no name; give it one.",
                        node.layer.kind_label()
                    ),
                ));
            } else if index.insert(node.name.as_str(), i).is_some() {
                errors.push(GraphError::at(
                    node,
                    format!(
                        "Two layers are called '{}'; layer names must be unique.",
                        node.name
                    ),
                ));
            }
        }
        if self.nodes.is_empty() {
            return Err(vec![GraphError::whole(
                "The model is empty: add an Input layer and at least one layer after it.",
            )]);
        }
        for node in &self.nodes {
            let (min, max) = node.layer.arity();
            let n = node.inputs.len();
            if n < min || n > max {
                let want = match (min, max) {
                    (0, 0) => "no inputs".to_owned(),
                    (1, 1) => "exactly one input".to_owned(),
                    (a, usize::MAX) => format!("at least {a} inputs"),
                    (a, b) => format!("{a} to {b} inputs"),
                };
                errors.push(GraphError::at(
                    node,
                    format!(
                        "{} '{}' needs {want} but has {n}{}.",
                        node.layer.kind_label(),
                        node.name,
                        if n == 0 {
                            "; connect a layer to it"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            for input in &node.inputs {
                if !index.contains_key(input.as_str()) {
                    errors.push(GraphError::at(
                        node,
                        format!(
                            "{} '{}' is connected to '{input}', which does not exist.",
                            node.layer.kind_label(),
                            node.name
                        ),
                    ));
                }
            }
        }
        let inputs: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].layer, Layer::Input { .. }))
            .collect();
        if inputs.len() != 1 {
            errors.push(GraphError::whole(format!(
                "The model needs exactly one Input layer; it has {}.",
                inputs.len()
            )));
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        // Consumers, to find the output and unused nodes.
        let mut used: HashSet<usize> = HashSet::new();
        for node in &self.nodes {
            for input in &node.inputs {
                if let Some(&i) = index.get(input.as_str()) {
                    used.insert(i);
                }
            }
        }
        let sinks: Vec<usize> = (0..self.nodes.len())
            .filter(|i| !used.contains(i))
            .collect();
        if sinks.len() != 1 {
            let names: Vec<String> = sinks
                .iter()
                .map(|&i| format!("'{}'", self.nodes[i].name))
                .collect();
            return Err(vec![GraphError::whole(format!(
                "The model must end in exactly one layer, but {} have nothing after them: {}. Connect or delete the extra ones.",
                names.len(),
                names.join(", ")
            ))]);
        }
        let output = sinks[0];

        // Topological order (Kahn), reporting cycles.
        let mut pending: Vec<usize> = self.nodes.iter().map(|n| n.inputs.len()).collect();
        let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for input in &node.inputs {
                if let Some(&j) = index.get(input.as_str()) {
                    consumers[j].push(i);
                }
            }
        }
        let mut ready: Vec<usize> = (0..self.nodes.len()).filter(|&i| pending[i] == 0).collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(i) = ready.pop() {
            order.push(i);
            for &c in &consumers[i] {
                pending[c] -= 1;
                if pending[c] == 0 {
                    ready.push(c);
                }
            }
        }
        if order.len() != self.nodes.len() {
            let stuck: Vec<String> = (0..self.nodes.len())
                .filter(|&i| pending[i] > 0)
                .map(|i| format!("'{}'", self.nodes[i].name))
                .collect();
            return Err(vec![GraphError::whole(format!(
                "The connections form a loop through {}; data must flow one way from Input to the output.",
                stuck.join(", ")
            ))]);
        }
        let input = inputs[0];
        if let Some(orphan) = self
            .nodes
            .iter()
            .enumerate()
            .find(|(i, n)| *i != input && n.inputs.is_empty())
        {
            errors.push(GraphError::at(
                orphan.1,
                format!("'{}' is not connected to anything.", orphan.1.name),
            ));
        }

        // Shapes, in order.
        let mut info: Vec<Option<NodeInfo>> = vec![None; self.nodes.len()];
        for &i in &order {
            let node = &self.nodes[i];
            let mut in_shapes = Vec::new();
            let mut ok = true;
            for input in &node.inputs {
                match index.get(input.as_str()).and_then(|&j| info[j].as_ref()) {
                    Some(s) => in_shapes.push((input.as_str(), s.output_shape.clone())),
                    None => ok = false,
                }
            }
            if !ok {
                continue; // An upstream problem was already reported.
            }
            match infer(node, &in_shapes) {
                Ok((output_shape, params)) => {
                    info[i] = Some(NodeInfo {
                        name: node.name.clone(),
                        output_shape,
                        params,
                    });
                }
                Err(message) => errors.push(GraphError::at(node, message)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let info: Vec<NodeInfo> = info.into_iter().flatten().collect();
        Ok(CheckedGraph {
            order,
            info,
            input,
            output,
        })
    }

    /// Best-effort shape inference for an editor: the shape and parameter count of every node
    /// whose inputs are wired and valid, even when other parts of the graph are broken, plus the
    /// problem of each node that could not be inferred (same indexing as `nodes`).
    pub fn node_shapes(&self) -> Vec<Result<NodeInfo, String>> {
        let index: HashMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut out: Vec<Option<Result<NodeInfo, String>>> = vec![None; self.nodes.len()];
        // Repeated passes settle every node reachable from the input; a node on a loop or fed by
        // an unfinished one stays unsettled.
        let mut changed = true;
        while changed {
            changed = false;
            for (i, node) in self.nodes.iter().enumerate() {
                if out[i].is_some() {
                    continue;
                }
                let (min, max) = node.layer.arity();
                let n = node.inputs.len();
                if n < min || n > max {
                    out[i] = Some(Err(if n == 0 {
                        "Not connected: drag a wire into it.".to_owned()
                    } else {
                        format!(
                            "Has {n} inputs; it takes {min}{}.",
                            if max == min {
                                String::new()
                            } else {
                                " or more".to_owned()
                            }
                        )
                    }));
                    changed = true;
                    continue;
                }
                let mut in_shapes = Vec::new();
                let mut blocked = None;
                for input in &node.inputs {
                    match index.get(input.as_str()).map(|&j| &out[j]) {
                        None => {
                            blocked = Some(format!("Connected to '{input}', which does not exist."))
                        }
                        Some(Some(Ok(info))) => {
                            in_shapes.push((input.as_str(), info.output_shape.clone()))
                        }
                        Some(Some(Err(_))) => {
                            blocked = Some(format!("Waiting for '{input}' to be fixed."))
                        }
                        Some(None) => {
                            in_shapes.clear();
                            break;
                        }
                    }
                }
                if let Some(message) = blocked {
                    out[i] = Some(Err(message));
                    changed = true;
                } else if in_shapes.len() == node.inputs.len() {
                    out[i] = Some(
                        infer(node, &in_shapes).map(|(output_shape, params)| NodeInfo {
                            name: node.name.clone(),
                            output_shape,
                            params,
                        }),
                    );
                    changed = true;
                }
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err("Part of a loop: data must flow one way.".to_owned())))
            .collect()
    }

    /// Keras-style `model.summary()` text: layer, type, output shape, parameters, total.
    pub fn summary(&self) -> Result<String, Vec<GraphError>> {
        let checked = self.validate()?;
        let mut rows = vec![(
            "Layer (type)".to_owned(),
            "Output shape".to_owned(),
            "Param #".to_owned(),
        )];
        for &i in &checked.order {
            let node = &self.nodes[i];
            let info = &checked.info[i];
            rows.push((
                format!("{} ({})", node.name, node.layer.kind_label()),
                shape_label(&info.output_shape),
                info.params.to_string(),
            ));
        }
        let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0) + 2;
        let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0) + 2;
        let w2 = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
        let line = "─".repeat(w0 + w1 + w2);
        let mut out = String::new();
        for (k, (a, b, c)) in rows.iter().enumerate() {
            out.push_str(&format!("{a:<w0$}{b:<w1$}{c:>w2$}\n"));
            if k == 0 {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out.push_str(&line);
        out.push('\n');
        out.push_str(&format!("Total params: {}\n", checked.total_params()));
        // Keras also tells what will not train: frozen pretrained or reused parts.
        let frozen = self.frozen_params(&checked);
        if frozen > 0 {
            out.push_str(&format!(
                "Trainable params: {}\nNon-trainable params: {frozen} (frozen)\n",
                checked.total_params() - frozen
            ));
        }
        Ok(out)
    }
}

/// Output size of a windowed operation along one axis, or `None` when the window does not fit.
pub fn window_out(input: usize, kernel: usize, stride: usize, padding: Padding) -> Option<usize> {
    match padding {
        Padding::Valid => (input >= kernel).then(|| (input - kernel) / stride + 1),
        Padding::Same => Some(input.div_ceil(stride)),
    }
}

/// Channels and length of a sequence-shaped input (C×L), or what is wrong.
fn sequence_input(
    first: Option<&(&str, Shape)>,
    kind: &str,
    name: &str,
) -> Result<(usize, usize), String> {
    match first {
        Some((_, s)) if s.len() == 2 => Ok((s[0], s[1])),
        Some((from, s)) => Err(format!(
            "{kind} '{name}' needs a sequence (channels×length, e.g. after an Embedding), but '{from}' gives {}.",
            shape_label(s)
        )),
        None => Err(format!("{kind} '{name}' has no input.")),
    }
}

fn infer(node: &Node, inputs: &[(&str, Shape)]) -> Result<(Shape, usize), String> {
    let kind = node.layer.kind_label();
    let name = &node.name;
    let first = inputs.first();
    let image_input = |what: &str| -> Result<(usize, usize, usize), String> {
        match first {
            Some((_, s)) if s.len() == 3 => Ok((s[0], s[1], s[2])),
            Some((from, s)) => Err(format!(
                "{kind} '{name}' {what} needs an image-shaped input (channels×height×width), but '{from}' gives {}.",
                shape_label(s)
            )),
            None => Err(format!("{kind} '{name}' has no input.")),
        }
    };
    match &node.layer {
        Layer::Input { shape } => {
            if shape.is_empty() || shape.contains(&0) {
                return Err(format!(
                    "Input '{name}' has shape {}; every size must be at least 1.",
                    shape_label(shape)
                ));
            }
            Ok((shape.clone(), 0))
        }
        Layer::Dense { units, .. } => {
            if *units == 0 {
                return Err(format!("Dense '{name}' needs at least 1 unit."));
            }
            let Some((from, s)) = first else {
                return Err(format!("Dense '{name}' has no input."));
            };
            if s.len() != 1 {
                return Err(format!(
                    "Dense '{name}' needs a flat input; insert Flatten after '{from}' (shape {}).",
                    shape_label(s)
                ));
            }
            Ok((vec![*units], s[0] * units + units))
        }
        Layer::Conv2d {
            filters,
            kernel,
            stride,
            padding,
            ..
        } => {
            if *filters == 0 || *kernel == 0 || *stride == 0 {
                return Err(format!(
                    "Conv2d '{name}' needs filters, kernel size and stride of at least 1."
                ));
            }
            let (c, h, w) = image_input("")?;
            let (Some(oh), Some(ow)) = (
                window_out(h, *kernel, *stride, *padding),
                window_out(w, *kernel, *stride, *padding),
            ) else {
                return Err(format!(
                    "Conv2d '{name}' has a {kernel}×{kernel} kernel but its input is only {h}×{w}; use a smaller kernel, 'same' padding, or less pooling before it."
                ));
            };
            Ok((
                vec![*filters, oh, ow],
                c * kernel * kernel * filters + filters,
            ))
        }
        Layer::MaxPool2d { kernel, stride } | Layer::AvgPool2d { kernel, stride } => {
            if *kernel == 0 || *stride == 0 {
                return Err(format!(
                    "{kind} '{name}' needs a window size and stride of at least 1."
                ));
            }
            let (c, h, w) = image_input("")?;
            let (Some(oh), Some(ow)) = (
                window_out(h, *kernel, *stride, Padding::Valid),
                window_out(w, *kernel, *stride, Padding::Valid),
            ) else {
                return Err(format!(
                    "{kind} '{name}' has a {kernel}×{kernel} window but its input is only {h}×{w}; use a smaller window or remove this pooling layer."
                ));
            };
            Ok((vec![c, oh, ow], 0))
        }
        Layer::GlobalAvgPool | Layer::GlobalMaxPool => match first {
            Some((_, s)) if s.len() >= 2 => Ok((vec![s[0]], 0)),
            Some((from, s)) => Err(format!(
                "{kind} '{name}' needs channels over positions (a sequence or an image), but '{from}' gives {}.",
                shape_label(s)
            )),
            None => Err(format!("{kind} '{name}' has no input.")),
        },
        Layer::TrainedModel { run, cut, part, .. } => {
            if run.trim().is_empty() || part.nodes.is_empty() {
                return Err(format!(
                    "'{name}' needs a trained model: choose a run in the inspector."
                ));
            }
            let checked = part.validate().map_err(|errors| {
                format!(
                    "'{name}': the reused model has problems: {}",
                    errors
                        .iter()
                        .map(|e| e.message.clone())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })?;
            let wants = &checked.info[checked.input].output_shape;
            match first {
                Some((_, s)) if s == wants => {
                    let out = part
                        .nodes
                        .iter()
                        .position(|n| &n.name == cut)
                        .map_or_else(|| checked.output_shape().to_vec(), |i| {
                            checked.info[i].output_shape.clone()
                        });
                    Ok((out, checked.total_params()))
                }
                Some((from, s)) => Err(format!(
                    "'{name}' was trained on inputs of {} but '{from}' gives {}; set the import settings to match the earlier model.",
                    shape_label(wants),
                    shape_label(s)
                )),
                None => Err(format!("{kind} '{name}' has no input.")),
            }
        }
        Layer::Pretrained {
            backbone, weights, ..
        } => match first {
            _ if weights.trim().is_empty() => Err(format!(
                "'{name}' ({}) needs its weights file: choose it in the inspector ({}).",
                backbone.label(),
                backbone.provided_by()
            )),
            Some((_, s)) => backbone
                .output_shape(s)
                .map(|out| (out, backbone.parameter_count()))
                .map_err(|e| format!("'{name}': {e}.")),
            None => Err(format!("{kind} '{name}' has no input.")),
        },
        Layer::Embedding { vocab, dim } => {
            if *vocab == 0 || *dim == 0 {
                return Err(format!(
                    "Embedding '{name}' needs a vocabulary and a vector length of at least 1."
                ));
            }
            match first {
                Some((_, s)) if s.len() == 1 => Ok((vec![*dim, s[0]], vocab * dim)),
                Some((from, s)) => Err(format!(
                    "Embedding '{name}' reads a sequence of token ids, but '{from}' gives {}; put it right after the Input of a text project.",
                    shape_label(s)
                )),
                None => Err(format!("Embedding '{name}' has no input.")),
            }
        }
        Layer::Conv1d {
            filters,
            kernel,
            stride,
            padding,
            ..
        } => {
            if *filters == 0 || *kernel == 0 || *stride == 0 {
                return Err(format!(
                    "Conv1d '{name}' needs filters, kernel size and stride of at least 1."
                ));
            }
            let (c, l) = sequence_input(first, kind, name)?;
            let Some(out) = window_out(l, *kernel, *stride, *padding) else {
                return Err(format!(
                    "Conv1d '{name}' has a window of {kernel} but its input is only {l} long; use a smaller window, 'same' padding, or less pooling before it."
                ));
            };
            Ok((vec![*filters, out], c * kernel * filters + filters))
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
            if *units == 0 {
                return Err(format!("{kind} '{name}' needs at least 1 unit."));
            }
            let (c, l) = sequence_input(first, kind, name)?;
            let gates = if matches!(node.layer, Layer::Lstm { .. }) { 4 } else { 3 };
            let directions = if *bidirectional { 2 } else { 1 };
            let per_direction = gates * units * (c + units) + 2 * gates * units;
            let out = units * directions;
            let shape = if *return_sequences {
                vec![out, l]
            } else {
                vec![out]
            };
            Ok((shape, per_direction * directions))
        }
        Layer::MaxPool1d { kernel } | Layer::AvgPool1d { kernel } => {
            if *kernel == 0 {
                return Err(format!("{kind} '{name}' needs a window of at least 1."));
            }
            let (c, l) = sequence_input(first, kind, name)?;
            if l < *kernel {
                return Err(format!(
                    "{kind} '{name}' has a window of {kernel} but its input is only {l} long; use a smaller window or remove this pooling layer."
                ));
            }
            Ok((vec![c, l / kernel], 0))
        }
        Layer::Flatten => {
            let Some((_, s)) = first else {
                return Err(format!("Flatten '{name}' has no input."));
            };
            Ok((vec![s.iter().product()], 0))
        }
        Layer::Dropout { rate } => {
            if !(0.0..1.0).contains(rate) {
                return Err(format!(
                    "Dropout '{name}' has rate {rate}; it must be at least 0 and below 1 (0.5 drops half)."
                ));
            }
            Ok((first.map(|f| f.1.clone()).unwrap_or_default(), 0))
        }
        Layer::BatchNorm { momentum, epsilon } => {
            if !(0.0..=1.0).contains(momentum) || *epsilon <= 0.0 {
                return Err(format!(
                    "BatchNorm '{name}' needs a momentum between 0 and 1 and a positive epsilon."
                ));
            }
            let Some((_, s)) = first else {
                return Err(format!("BatchNorm '{name}' has no input."));
            };
            if s.len() != 1 && s.len() != 3 {
                return Err(format!(
                    "BatchNorm '{name}' works on flat or image-shaped inputs, not {}.",
                    shape_label(s)
                ));
            }
            Ok((s.clone(), 2 * s[0]))
        }
        Layer::Activation { .. } => Ok((first.map(|f| f.1.clone()).unwrap_or_default(), 0)),
        Layer::Add => {
            let Some((from0, s0)) = first else {
                return Err(format!("Add '{name}' has no inputs."));
            };
            for (from, s) in &inputs[1..] {
                if s != s0 {
                    return Err(format!(
                        "Add '{name}' needs inputs of the same shape, but '{from0}' gives {} and '{from}' gives {}.",
                        shape_label(s0),
                        shape_label(s)
                    ));
                }
            }
            Ok((s0.clone(), 0))
        }
        Layer::Concat => {
            let Some((from0, s0)) = first else {
                return Err(format!("Concat '{name}' has no inputs."));
            };
            let mut channels = s0[0];
            for (from, s) in &inputs[1..] {
                if s.len() != s0.len() || s[1..] != s0[1..] {
                    return Err(format!(
                        "Concat '{name}' joins along the first axis, so the other sizes must match, but '{from0}' gives {} and '{from}' gives {}.",
                        shape_label(s0),
                        shape_label(s)
                    ));
                }
                channels += s[0];
            }
            let mut out = s0.clone();
            out[0] = channels;
            Ok((out, 0))
        }
    }
}
