//! The model graph: named nodes wired into a DAG, with shape inference and validation.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

use super::layer::Padding;
use crate::layers::Layer;

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
    /// Each node's index (into `nodes`) by its name.
    pub fn index_by_name(&self) -> HashMap<&str, usize> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect()
    }

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

    /// The shape the Input layer declares, if the graph has one that is valid.
    pub fn declared_input_shape(&self) -> Option<Shape> {
        let node = self.nodes.iter().find(|n| n.layer.is_input())?;
        infer(node, &[]).ok().map(|(shape, _)| shape)
    }

    /// The nodes `cut` depends on, and `cut` itself, in their order here: the part of a trained
    /// model that another model reuses.
    pub fn cut_at(&self, cut: &str) -> Result<Graph, GraphError> {
        let mut keep = std::collections::HashSet::new();
        let mut todo = vec![cut.to_owned()];
        while let Some(name) = todo.pop() {
            let node = self.node(&name).ok_or_else(|| {
                GraphError::whole(format!("the model has no layer named '{name}'"))
            })?;
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
            .filter(|n| n.layer.kind().has_weights())
            .map(|n| n.name.as_str())
            .collect()
    }

    /// Parameters of the frozen blocks of pretrained or reused parts (they do not train).
    pub fn frozen_params(&self, checked: &CheckedGraph) -> usize {
        (0..self.nodes.len())
            .map(|i| {
                let input = self.input_shape(checked, i);
                self.nodes[i].layer.kind().frozen_param_count(input)
            })
            .sum()
    }

    /// Sets how many of the last blocks of every pretrained or reused part train.
    pub fn set_train_blocks(&mut self, blocks: usize) {
        for node in &mut self.nodes {
            node.layer.kind_mut().set_train_blocks(blocks);
        }
    }

    /// Points every pretrained node at `file` (for `--weights` and the inspector's choice).
    pub fn set_pretrained_weights(&mut self, file: &std::path::Path) {
        let file = file.display().to_string();
        for node in &mut self.nodes {
            node.layer.kind_mut().set_weights_file(&file);
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
            .filter(|&i| self.nodes[i].layer.is_input())
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
                Err(error) => errors.push(error),
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
    pub fn node_shapes(&self) -> Vec<Result<NodeInfo, GraphError>> {
        let index: HashMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut out: Vec<Option<Result<NodeInfo, GraphError>>> = vec![None; self.nodes.len()];
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
                    out[i] = Some(Err(GraphError::at(
                        node,
                        if n == 0 {
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
                        },
                    )));
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
                    out[i] = Some(Err(GraphError::at(node, message)));
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
            .zip(&self.nodes)
            .map(|(o, node)| {
                o.unwrap_or_else(|| {
                    Err(GraphError::at(
                        node,
                        "Part of a loop: data must flow one way.",
                    ))
                })
            })
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

/// Shape inference and parameter count of one node, asked of its layer.
fn infer(node: &Node, inputs: &[(&str, Shape)]) -> Result<(Shape, usize), GraphError> {
    let kind = node.layer.kind();
    let cx = crate::layers::InferCx {
        name: &node.name,
        kind: kind.label(),
        inputs,
    };
    let shape = kind.infer(&cx)?;
    let input = inputs.first().map_or(&[][..], |(_, s)| s.as_slice());
    Ok((shape, kind.param_count(input)))
}
