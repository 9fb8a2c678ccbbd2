//! Ready-made graphs to start from.

use super::graph::{Graph, Node};
use super::layer::{Activation, Layer, Padding};
use crate::project::Task;

/// The templates users can pick, by CLI name.
pub const TEMPLATE_NAMES: &[&str] = &["mlp", "cnn", "tabular-mlp"];

/// Builds a template by name for the given per-sample input shape; the last layer gives one
/// probability per class, or one number for regression.
pub fn template(name: &str, input_shape: &[usize], task: Task, classes: usize) -> Option<Graph> {
    let mut graph = match name {
        "mlp" => mlp(input_shape, classes),
        "cnn" => cnn(input_shape, classes),
        "tabular-mlp" => tabular_mlp(input_shape, classes),
        _ => return None,
    };
    if task == Task::Regress {
        if let Some(Node {
            layer: Layer::Dense { units, activation },
            ..
        }) = graph.nodes.last_mut()
        {
            *units = 1;
            *activation = Activation::Linear;
        }
    }
    Some(graph)
}

/// For tables of encoded columns: Dense 64 ReLU → Dropout 0.1 → Dense 32 ReLU → Dense N softmax.
pub fn tabular_mlp(input_shape: &[usize], classes: usize) -> Graph {
    let dense = |units| Layer::Dense {
        units,
        activation: Activation::Relu,
    };
    Graph {
        nodes: vec![
            Node::new(
                "input",
                Layer::Input {
                    shape: input_shape.to_vec(),
                },
                &[],
            ),
            Node::new("dense1", dense(64), &["input"]),
            Node::new("dropout", Layer::Dropout { rate: 0.1 }, &["dense1"]),
            Node::new("dense2", dense(32), &["dropout"]),
            Node::new(
                "output",
                Layer::Dense {
                    units: classes,
                    activation: Activation::Softmax,
                },
                &["dense2"],
            ),
        ],
    }
}

/// The Keras getting-started model: Flatten → Dense 128 ReLU → Dense N softmax.
pub fn mlp(input_shape: &[usize], classes: usize) -> Graph {
    Graph {
        nodes: vec![
            Node::new(
                "input",
                Layer::Input {
                    shape: input_shape.to_vec(),
                },
                &[],
            ),
            Node::new("flatten", Layer::Flatten, &["input"]),
        ]
        .into_iter()
        .chain(classifier_head("flatten", classes))
        .collect(),
    }
}

/// Dense 128 ReLU → Dense `classes` softmax, fed by `from`: the head both templates end in.
fn classifier_head(from: &str, classes: usize) -> [Node; 2] {
    [
        Node::new(
            "dense1",
            Layer::Dense {
                units: 128,
                activation: Activation::Relu,
            },
            &[from],
        ),
        Node::new(
            "output",
            Layer::Dense {
                units: classes,
                activation: Activation::Softmax,
            },
            &["dense1"],
        ),
    ]
}

/// A small convolutional network: two Conv/MaxPool stages, then Dense 128 and the class layer.
pub fn cnn(input_shape: &[usize], classes: usize) -> Graph {
    let conv = |filters| Layer::Conv2d {
        filters,
        kernel: 3,
        stride: 1,
        padding: Padding::Valid,
        activation: Activation::Relu,
    };
    let pool = Layer::MaxPool2d {
        kernel: 2,
        stride: 2,
    };
    Graph {
        nodes: vec![
            Node::new(
                "input",
                Layer::Input {
                    shape: input_shape.to_vec(),
                },
                &[],
            ),
            Node::new("conv1", conv(32), &["input"]),
            Node::new("pool1", pool.clone(), &["conv1"]),
            Node::new("conv2", conv(64), &["pool1"]),
            Node::new("pool2", pool, &["conv2"]),
            Node::new("flatten", Layer::Flatten, &["pool2"]),
        ]
        .into_iter()
        .chain(classifier_head("flatten", classes))
        .collect(),
    }
}
