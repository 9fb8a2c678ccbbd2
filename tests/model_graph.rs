//! Shape inference, parameter counts and validation messages of the model graph.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use strata::model::{self, Activation, Graph, Layer, Node, Padding};

fn conv(filters: usize, kernel: usize, stride: usize, padding: Padding) -> Layer {
    Layer::Conv2d(strata::layers::Conv2d {
        filters,
        kernel,
        stride,
        padding,
        activation: Activation::Relu,
    })
}

fn dense(units: usize) -> Layer {
    Layer::Dense(strata::layers::Dense {
        units,
        activation: Activation::Relu,
    })
}

fn input(shape: &[usize]) -> Node {
    Node::new(
        "input",
        Layer::Input(strata::layers::Input {
            shape: shape.to_vec(),
        }),
        &[],
    )
}

#[test]
fn keras_mlp_template_has_keras_shapes_and_params() {
    let g = model::mlp(&[1, 28, 28], 10);
    let c = g.validate().unwrap();
    // Keras: Flatten 784, Dense 128 → 100,480 params, Dense 10 → 1,290; total 101,770.
    let params: Vec<usize> = c.order.iter().map(|&i| c.info[i].params).collect();
    assert_eq!(params, vec![0, 0, 100_480, 1_290]);
    assert_eq!(c.total_params(), 101_770);
    assert_eq!(c.output_shape(), &[10]);
    let out = g.node("output").unwrap();
    assert_eq!(
        out.layer,
        Layer::Dense(strata::layers::Dense {
            units: 10,
            activation: Activation::Softmax
        })
    );
    let summary = g.summary().unwrap();
    assert!(summary.contains("dense1 (Dense)"), "{summary}");
    assert!(summary.contains("Total params: 101770"), "{summary}");
}

#[test]
fn cnn_template_matches_pytorch_shapes() {
    let g = model::cnn(&[1, 28, 28], 10);
    let c = g.validate().unwrap();
    let shape = |name: &str| {
        let i = g.nodes.iter().position(|n| n.name == name).unwrap();
        c.info[i].output_shape.clone()
    };
    assert_eq!(shape("conv1"), vec![32, 26, 26]);
    assert_eq!(shape("pool1"), vec![32, 13, 13]);
    assert_eq!(shape("conv2"), vec![64, 11, 11]);
    assert_eq!(shape("pool2"), vec![64, 5, 5]);
    assert_eq!(shape("flatten"), vec![1600]);
    // torch: 320 + 18,496 + 204,928 + 1,290 = 225,034
    assert_eq!(c.total_params(), 225_034);
    // The output layer follows the number of classes found.
    assert_eq!(
        model::cnn(&[3, 32, 32], 4)
            .validate()
            .unwrap()
            .output_shape(),
        &[4]
    );
}

#[test]
fn convolution_and_pooling_arithmetic() {
    let cases = [
        (conv(8, 3, 1, Padding::Same), vec![3, 9, 7], vec![8, 9, 7]),
        (conv(8, 3, 2, Padding::Same), vec![3, 9, 7], vec![8, 5, 4]),
        (conv(8, 4, 2, Padding::Same), vec![3, 9, 7], vec![8, 5, 4]),
        (conv(8, 3, 2, Padding::Valid), vec![3, 9, 7], vec![8, 4, 3]),
        (
            Layer::MaxPool2d(strata::layers::MaxPool2d {
                kernel: 3,
                stride: 2,
            }),
            vec![4, 9, 7],
            vec![4, 4, 3],
        ),
        (
            Layer::AvgPool2d(strata::layers::AvgPool2d {
                kernel: 2,
                stride: 1,
            }),
            vec![4, 5, 5],
            vec![4, 4, 4],
        ),
        (
            Layer::GlobalAvgPool(strata::layers::GlobalAvgPool {}),
            vec![6, 5, 5],
            vec![6],
        ),
        (
            Layer::BatchNorm(strata::layers::BatchNorm {
                momentum: 0.1,
                epsilon: 1e-5,
            }),
            vec![6, 5, 5],
            vec![6, 5, 5],
        ),
    ];
    for (layer, in_shape, want) in cases {
        let g = Graph {
            nodes: vec![input(&in_shape), Node::new("x", layer.clone(), &["input"])],
        };
        let c = g.validate().unwrap_or_else(|e| panic!("{layer:?}: {e:?}"));
        assert_eq!(c.info[1].output_shape, want, "{layer:?} on {in_shape:?}");
    }
}

#[test]
fn skip_connections_add_and_concat() {
    let g = Graph {
        nodes: vec![
            input(&[3, 8, 8]),
            Node::new("a", conv(4, 3, 1, Padding::Same), &["input"]),
            Node::new("b", conv(4, 1, 1, Padding::Same), &["input"]),
            Node::new("sum", Layer::Add(strata::layers::Add {}), &["a", "b"]),
            Node::new(
                "cat",
                Layer::Concat(strata::layers::Concat {}),
                &["sum", "input"],
            ),
            Node::new(
                "gap",
                Layer::GlobalAvgPool(strata::layers::GlobalAvgPool {}),
                &["cat"],
            ),
            Node::new("out", dense(2), &["gap"]),
        ],
    };
    let c = g.validate().unwrap();
    assert_eq!(c.info[4].output_shape, vec![7, 8, 8]);
    assert_eq!(c.output_shape(), &[2]);
    // Inputs always come before the node in evaluation order.
    let pos = |i: usize| c.order.iter().position(|&j| j == i).unwrap();
    assert!(pos(1) < pos(3) && pos(2) < pos(3) && pos(3) < pos(4));
}

fn messages(g: &Graph) -> Vec<String> {
    g.validate()
        .unwrap_err()
        .into_iter()
        .map(|e| e.message)
        .collect()
}

#[test]
fn dense_on_image_says_insert_flatten() {
    let g = Graph {
        nodes: vec![
            input(&[1, 28, 28]),
            Node::new("conv1", conv(64, 3, 1, Padding::Valid), &["input"]),
            Node::new(
                "pool2",
                Layer::MaxPool2d(strata::layers::MaxPool2d {
                    kernel: 5,
                    stride: 5,
                }),
                &["conv1"],
            ),
            Node::new("fc1", dense(10), &["pool2"]),
        ],
    };
    let errors = g.validate().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].node, "fc1");
    assert_eq!(
        errors[0].message,
        "Dense 'fc1' needs a flat input; insert Flatten after 'pool2' (shape 64×5×5)."
    );
}

#[test]
fn invalid_graphs_get_plain_messages() {
    // Kernel larger than the input.
    let g = Graph {
        nodes: vec![
            input(&[1, 4, 4]),
            Node::new("c", conv(2, 5, 1, Padding::Valid), &["input"]),
        ],
    };
    assert!(
        messages(&g)[0].contains("kernel but its input is only 4×4"),
        "{:?}",
        messages(&g)
    );

    // Add with mismatched shapes.
    let g = Graph {
        nodes: vec![
            input(&[4]),
            Node::new("a", dense(3), &["input"]),
            Node::new("b", dense(5), &["input"]),
            Node::new("s", Layer::Add(strata::layers::Add {}), &["a", "b"]),
        ],
    };
    assert_eq!(
        messages(&g),
        vec!["Add 's' needs inputs of the same shape, but 'a' gives 3 and 'b' gives 5."]
    );

    // A wire to a node that does not exist; a duplicate name; a loop; two outputs; no input.
    let g = Graph {
        nodes: vec![input(&[4]), Node::new("a", dense(3), &["nowhere"])],
    };
    assert!(messages(&g)[0].contains("'nowhere', which does not exist"));
    let g = Graph {
        nodes: vec![
            input(&[4]),
            Node::new("a", dense(3), &["input"]),
            Node::new("a", dense(3), &["input"]),
        ],
    };
    assert!(messages(&g)[0].contains("Two layers are called 'a'"));
    let g = Graph {
        nodes: vec![
            input(&[4]),
            Node::new("a", Layer::Add(strata::layers::Add {}), &["input", "b"]),
            Node::new("b", dense(4), &["a"]),
            Node::new("c", dense(2), &["b"]),
        ],
    };
    assert!(messages(&g)[0].contains("loop"), "{:?}", messages(&g));
    let g = Graph {
        nodes: vec![
            input(&[4]),
            Node::new("a", dense(3), &["input"]),
            Node::new("b", dense(3), &["input"]),
        ],
    };
    assert!(
        messages(&g)[0].contains("exactly one layer"),
        "{:?}",
        messages(&g)
    );
    let g = Graph {
        nodes: vec![Node::new("a", dense(3), &[])],
    };
    assert!(messages(&g).iter().any(|m| m.contains("exactly one Input")));
    assert!(messages(&Graph::default())[0].contains("empty"));

    // Bad parameters.
    let g = Graph {
        nodes: vec![
            input(&[4]),
            Node::new(
                "d",
                Layer::Dropout(strata::layers::Dropout { rate: 1.5 }),
                &["input"],
            ),
        ],
    };
    assert!(messages(&g)[0].contains("Dropout 'd' has rate 1.5"));
    let g = Graph {
        nodes: vec![input(&[4]), Node::new("d", dense(0), &["input"])],
    };
    assert!(messages(&g)[0].contains("at least 1 unit"));
    let g = Graph {
        nodes: vec![
            input(&[4]),
            Node::new("c", conv(2, 3, 1, Padding::Valid), &["input"]),
        ],
    };
    assert!(
        messages(&g)[0].contains("needs an image-shaped input"),
        "{:?}",
        messages(&g)
    );
}

#[test]
fn graph_round_trips_through_json() {
    let g = model::cnn(&[3, 32, 32], 5);
    let json = serde_json::to_string(&g).unwrap();
    assert!(json.contains("\"type\":\"conv2d\""), "{json}");
    let back: Graph = serde_json::from_str(&json).unwrap();
    assert_eq!(back, g);
}

#[test]
fn node_shapes_keep_the_valid_part_of_a_broken_graph() {
    // Flatten removed: dense1 loses its input; everything before it still has shapes.
    let mut g = strata::model::cnn(&[1, 28, 28], 10);
    g.nodes.retain(|n| n.name != "flatten");
    for n in &mut g.nodes {
        n.inputs.retain(|i| i != "flatten");
    }
    let shapes = g.node_shapes();
    let at = |name: &str| &shapes[g.nodes.iter().position(|n| n.name == name).unwrap()];
    assert_eq!(at("pool2").as_ref().unwrap().output_shape, [64, 5, 5]);
    assert_eq!(at("conv2").as_ref().unwrap().params, 18_496);
    assert!(at("dense1")
        .as_ref()
        .unwrap_err()
        .message
        .contains("Not connected"));
    assert!(at("output")
        .as_ref()
        .unwrap_err()
        .message
        .contains("dense1"));

    // Wired straight into Dense: the node gets the plain-words reason.
    let dense1 = g.nodes.iter_mut().find(|n| n.name == "dense1").unwrap();
    dense1.inputs = vec!["pool2".to_owned()];
    let shapes = g.node_shapes();
    let i = g.nodes.iter().position(|n| n.name == "dense1").unwrap();
    assert!(shapes[i].as_ref().unwrap_err().message.contains("Flatten"));

    // A valid graph: same shapes as validate().
    let g = strata::model::cnn(&[1, 28, 28], 10);
    let checked = g.validate().unwrap();
    for (s, info) in g.node_shapes().iter().zip(&checked.info) {
        assert_eq!(s.as_ref().unwrap(), info);
    }
}
