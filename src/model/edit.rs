//! The rules of editing a model graph, for every front end: one Input, how many inputs a layer
//! takes, unique names, wires that follow a rename. The app's document commands and any other
//! editor call these; the graph stays valid data whatever is clicked.

use super::graph::{Graph, Node};
use crate::layers::Layer;

/// Why an edit was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// No node has that name.
    #[error("there is no layer called '{0}'")]
    NoSuchLayer(String),
    /// A second Input layer.
    #[error("the model already has an Input layer; a model has exactly one")]
    SecondInput,
    /// Duplicating the Input layer.
    #[error("a model has exactly one Input layer; it cannot be duplicated")]
    DuplicateInput,
    /// An empty name.
    #[error("a layer needs a name")]
    EmptyName,
    /// A name another node has.
    #[error("another layer is already called '{0}'")]
    NameTaken(String),
    /// A wire from a node into itself.
    #[error("a layer cannot feed itself")]
    SelfLoop,
    /// A wire into the Input layer.
    #[error("'{0}' is the Input layer: nothing can be connected into it")]
    IntoInput(String),
    /// A wire that is already there.
    #[error("'{from}' is already connected to '{to}'")]
    AlreadyConnected {
        /// Source node.
        from: String,
        /// Destination node.
        to: String,
    },
}

/// A node name not used yet: `base`, `base_2`, `base_3`…
pub fn unique_name(graph: &Graph, base: &str) -> String {
    if graph.node(base).is_none() {
        return base.to_owned();
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| graph.node(n).is_none())
        .unwrap_or_else(|| base.to_owned())
}

/// Default node name for a layer kind: "dense", "conv2d", "relu"…
pub fn base_name(layer: &Layer) -> String {
    layer.kind_label().to_lowercase()
}

fn node_mut<'a>(graph: &'a mut Graph, name: &str) -> Result<&'a mut Node, EditError> {
    graph
        .nodes
        .iter_mut()
        .find(|n| n.name == name)
        .ok_or_else(|| EditError::NoSuchLayer(name.to_owned()))
}

impl Graph {
    /// Adds a layer, optionally after an existing node: it is fed by that node and takes over
    /// feeding the single-input layers that node fed. Returns the new node's name.
    pub fn add_layer(&mut self, layer: Layer, after: Option<&str>) -> Result<String, EditError> {
        if layer.is_input() && self.nodes.iter().any(|n| n.layer.is_input()) {
            return Err(EditError::SecondInput);
        }
        if let Some(from) = after {
            if self.node(from).is_none() {
                return Err(EditError::NoSuchLayer(from.to_owned()));
            }
        }
        let name = unique_name(self, &base_name(&layer));
        if let Some(from) = after {
            for node in &mut self.nodes {
                if node.layer.arity().1 == 1 && node.inputs == [from] {
                    node.inputs = vec![name.clone()];
                }
            }
        }
        self.nodes.push(Node {
            name: name.clone(),
            layer,
            inputs: after.into_iter().map(str::to_owned).collect(),
        });
        Ok(name)
    }

    /// Removes a node and every wire to it.
    pub fn remove_layer(&mut self, name: &str) -> Result<(), EditError> {
        let before = self.nodes.len();
        self.nodes.retain(|n| n.name != name);
        if self.nodes.len() == before {
            return Err(EditError::NoSuchLayer(name.to_owned()));
        }
        for node in &mut self.nodes {
            node.inputs.retain(|i| i != name);
        }
        Ok(())
    }

    /// Copies a node's settings (not its wires) into a new node; returns its name.
    pub fn duplicate_layer(&mut self, name: &str) -> Result<String, EditError> {
        let node = self
            .node(name)
            .cloned()
            .ok_or_else(|| EditError::NoSuchLayer(name.to_owned()))?;
        if node.layer.is_input() {
            return Err(EditError::DuplicateInput);
        }
        let new_name = unique_name(self, name);
        self.nodes.push(Node {
            name: new_name.clone(),
            layer: node.layer,
            inputs: Vec::new(),
        });
        Ok(new_name)
    }

    /// Changes a node's layer settings.
    pub fn set_layer(&mut self, name: &str, layer: Layer) -> Result<(), EditError> {
        node_mut(self, name)?.layer = layer;
        Ok(())
    }

    /// Renames a node; wires follow. Returns the new name as stored (trimmed).
    pub fn rename_layer(&mut self, from: &str, to: &str) -> Result<String, EditError> {
        let to = to.trim().to_owned();
        if to.is_empty() {
            return Err(EditError::EmptyName);
        }
        if to != from && self.node(&to).is_some() {
            return Err(EditError::NameTaken(to));
        }
        node_mut(self, from)?.name = to.clone();
        for node in &mut self.nodes {
            for input in &mut node.inputs {
                if input == from {
                    *input = to.clone();
                }
            }
        }
        Ok(to)
    }

    /// Wires `from`'s output into `to`'s input number `slot` (replacing what was there; a
    /// single-input layer's one input is replaced whatever the slot).
    pub fn connect(&mut self, from: &str, to: &str, slot: usize) -> Result<(), EditError> {
        if from == to {
            return Err(EditError::SelfLoop);
        }
        if self.node(from).is_none() {
            return Err(EditError::NoSuchLayer(from.to_owned()));
        }
        let node = node_mut(self, to)?;
        let (_, max) = node.layer.arity();
        if max == 0 {
            return Err(EditError::IntoInput(to.to_owned()));
        }
        if max == 1 {
            node.inputs = vec![from.to_owned()];
        } else if node.inputs.iter().any(|i| i == from) {
            return Err(EditError::AlreadyConnected {
                from: from.to_owned(),
                to: to.to_owned(),
            });
        } else if slot < node.inputs.len() {
            node.inputs[slot] = from.to_owned();
        } else {
            node.inputs.push(from.to_owned());
        }
        Ok(())
    }

    /// Removes the wire from `from` into `to`.
    pub fn disconnect(&mut self, from: &str, to: &str) -> Result<(), EditError> {
        node_mut(self, to)?.inputs.retain(|i| i != from);
        Ok(())
    }
}
