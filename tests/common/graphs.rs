//! Graphs of every layer kind in every arrangement, and every template, with random weights and
//! inputs: what the export tests (ONNX, PyTorch) run next to Strata.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use strata::engine::Network;
use strata::layers::{
    ActivationLayer, Add, AvgPool1d, AvgPool2d, BatchNorm, Concat, Conv1d, Conv2d, ConvTranspose2d,
    Dense, Dropout, Embedding, Flatten, GlobalAvgPool, GlobalMaxPool, Gru, Input, Lstm, MaxPool1d,
    MaxPool2d, Reshape,
};
use strata::model::{template, Activation, DataFit, Graph, Layer, Node, Padding};
use strata::project::Task;

/// Samples per check.
pub const SAMPLES: usize = 24;

/// One graph to export and compare.
pub struct Case {
    /// What it is, for messages.
    pub what: String,
    /// The graph.
    pub graph: Graph,
    /// The vocabulary when the input is token ids.
    pub vocab: Option<usize>,
}

/// The cases a builder hands to `agrees` (what, graph, vocabulary).
fn collect(build: impl FnOnce(&mut dyn FnMut(&str, &Graph, Option<usize>))) -> Vec<Case> {
    let mut cases = Vec::new();
    build(&mut |what: &str, graph: &Graph, vocab: Option<usize>| {
        cases.push(Case {
            what: what.to_owned(),
            graph: graph.clone(),
            vocab,
        })
    });
    cases
}

/// Every case below.
pub fn all() -> Vec<Case> {
    [
        dense_and_every_activation(),
        convolutions_with_either_padding_and_stride(),
        pools_drop_what_a_window_does_not_cover(),
        batch_norm_dropout_and_flatten(),
        generator_layers(),
        add_and_concat_join_branches(),
        embedding_reads_token_ids_and_clips_unknown_ones(),
        lstm_and_gru_in_every_arrangement(),
        every_template_of_strata_s_own_layers(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// A network with fresh weights whose biases and batch-norm parameters and statistics are also
/// random (so none of them is a no-op that would hide a mistake).
pub fn network(graph: &Graph) -> Network {
    let net = Network::new(graph, &Device::Cpu, &mut rng(1)).unwrap();
    let mut r = rng(2);
    for v in net.vars() {
        let t = v.var.as_tensor();
        let positive =
            v.name.ends_with("running_var") || v.name.ends_with(".weight") && t.rank() == 1;
        let values: Vec<f32> = (0..t.elem_count())
            .map(|_| {
                if positive {
                    r.random_range(0.5..1.5)
                } else if t.rank() == 1 {
                    r.random_range(-0.5..0.5)
                } else {
                    // Keep the weights' scale, change their values.
                    let limit =
                        (3.0 / t.dims()[1..].iter().product::<usize>().max(1) as f32).sqrt();
                    r.random_range(-limit..limit)
                }
            })
            .collect();
        v.var
            .set(&Tensor::from_vec(values, t.shape(), &Device::Cpu).unwrap())
            .unwrap();
    }
    net
}

/// Random inputs `[SAMPLES, …shape]`: token ids (some beyond the vocabulary) for texts, values in
/// [-1, 2) otherwise.
pub fn inputs(shape: &[usize], vocab: Option<usize>) -> Tensor {
    let dims: Vec<usize> = std::iter::once(SAMPLES)
        .chain(shape.iter().copied())
        .collect();
    let n: usize = dims.iter().product();
    let mut r = rng(3);
    let values: Vec<f32> = match vocab {
        Some(v) => (0..n).map(|_| r.random_range(0..v + 3) as f32).collect(),
        None => (0..n).map(|_| r.random_range(-1.0..2.0)).collect(),
    };
    Tensor::from_vec(values, dims, &Device::Cpu).unwrap()
}

pub fn input(shape: &[usize]) -> Node {
    Node::new(
        "input",
        Layer::Input(Input {
            shape: shape.to_vec(),
        }),
        &[],
    )
}

/// Input → `layers` in a chain (each reading the one before).
pub fn chain(shape: &[usize], layers: Vec<Layer>) -> Graph {
    let mut nodes = vec![input(shape)];
    for (i, layer) in layers.into_iter().enumerate() {
        let from = nodes[i].name.clone();
        nodes.push(Node::new(format!("layer{i}"), layer, &[&from]));
    }
    Graph { nodes }
}

pub fn dense(units: usize, activation: Activation) -> Layer {
    Layer::Dense(Dense { units, activation })
}

pub fn conv2d(filters: usize, kernel: usize, stride: usize, padding: Padding) -> Layer {
    Layer::Conv2d(Conv2d {
        filters,
        kernel,
        stride,
        padding,
        activation: Activation::Relu,
    })
}

pub fn conv1d(filters: usize, kernel: usize, stride: usize, padding: Padding) -> Layer {
    Layer::Conv1d(Conv1d {
        filters,
        kernel,
        stride,
        padding,
        activation: Activation::Tanh,
    })
}

pub fn dense_and_every_activation() -> Vec<Case> {
    collect(|agrees| {
        for act in Activation::ALL {
            agrees(
                &format!("Dense with {act:?}"),
                &chain(&[7], vec![dense(5, act)]),
                None,
            );
            agrees(
                &format!("Activation layer {act:?}"),
                &chain(
                    &[7],
                    vec![
                        dense(6, Activation::Linear),
                        Layer::Activation(ActivationLayer { function: act }),
                        dense(4, Activation::Softmax),
                    ],
                ),
                None,
            );
        }
    })
}

pub fn convolutions_with_either_padding_and_stride() -> Vec<Case> {
    collect(|agrees| {
        for padding in [Padding::Valid, Padding::Same] {
            for stride in [1, 2] {
                for kernel in [1, 3, 4] {
                    agrees(
                        &format!("Conv2d {kernel}×{kernel} stride {stride} {padding:?}"),
                        &chain(&[3, 9, 8], vec![conv2d(4, kernel, stride, padding)]),
                        None,
                    );
                    agrees(
                        &format!("Conv1d {kernel} stride {stride} {padding:?}"),
                        &chain(&[3, 11], vec![conv1d(4, kernel, stride, padding)]),
                        None,
                    );
                }
            }
        }
    })
}

pub fn pools_drop_what_a_window_does_not_cover() -> Vec<Case> {
    collect(|agrees| {
        for (kernel, stride) in [(2, 2), (3, 2), (3, 3), (2, 1)] {
            agrees(
                &format!("MaxPool2d {kernel}/{stride}"),
                &chain(
                    &[3, 9, 8],
                    vec![Layer::MaxPool2d(MaxPool2d { kernel, stride })],
                ),
                None,
            );
            agrees(
                &format!("AvgPool2d {kernel}/{stride}"),
                &chain(
                    &[3, 9, 8],
                    vec![Layer::AvgPool2d(AvgPool2d { kernel, stride })],
                ),
                None,
            );
            // A convolution followed by a max-pool is fused in Strata; the file has both.
            agrees(
                &format!("Conv2d + MaxPool2d {kernel}/{stride}"),
                &chain(
                    &[2, 10, 9],
                    vec![
                        conv2d(3, 3, 1, Padding::Same),
                        Layer::MaxPool2d(MaxPool2d { kernel, stride }),
                    ],
                ),
                None,
            );
        }
        for kernel in [1, 2, 3] {
            agrees(
                &format!("MaxPool1d {kernel}"),
                &chain(&[3, 11], vec![Layer::MaxPool1d(MaxPool1d { kernel })]),
                None,
            );
            agrees(
                &format!("AvgPool1d {kernel}"),
                &chain(&[3, 11], vec![Layer::AvgPool1d(AvgPool1d { kernel })]),
                None,
            );
        }
        for shape in [vec![4, 6, 5], vec![4, 9]] {
            agrees(
                &format!("GlobalAvgPool over {shape:?}"),
                &chain(&shape, vec![Layer::GlobalAvgPool(GlobalAvgPool {})]),
                None,
            );
            agrees(
                &format!("GlobalMaxPool over {shape:?}"),
                &chain(&shape, vec![Layer::GlobalMaxPool(GlobalMaxPool {})]),
                None,
            );
        }
    })
}

pub fn generator_layers() -> Vec<Case> {
    let mut cases = Vec::new();
    for (kernel, stride, crop) in [(4, 2, 1), (3, 1, 0), (3, 2, 1), (5, 2, 2)] {
        let graph = chain(
            &[12],
            vec![
                dense(2 * 3 * 3, Activation::Relu),
                Layer::Reshape(Reshape {
                    channels: 2,
                    height: 3,
                    width: 3,
                }),
                Layer::ConvTranspose2d(ConvTranspose2d {
                    filters: 3,
                    kernel,
                    stride,
                    crop,
                    activation: Activation::Sigmoid,
                }),
                Layer::Flatten(Flatten {}),
            ],
        );
        cases.push(Case {
            what: format!("Dense → Reshape → ConvTranspose2d {kernel}/{stride} crop {crop}"),
            graph,
            vocab: None,
        });
    }
    cases
}

pub fn batch_norm_dropout_and_flatten() -> Vec<Case> {
    collect(|agrees| {
        let bn = || {
            Layer::BatchNorm(BatchNorm {
                momentum: 0.1,
                epsilon: 1e-3,
            })
        };
        agrees(
            "BatchNorm on images",
            &chain(&[4, 5, 5], vec![bn(), Layer::Flatten(Flatten {})]),
            None,
        );
        agrees(
            "BatchNorm on vectors",
            &chain(&[6], vec![bn(), dense(3, Activation::Softmax)]),
            None,
        );
        agrees(
            "Dropout passes values through",
            &chain(
                &[6],
                vec![
                    dense(8, Activation::Relu),
                    Layer::Dropout(Dropout { rate: 0.5 }),
                    dense(3, Activation::Softmax),
                ],
            ),
            None,
        );
    })
}

pub fn add_and_concat_join_branches() -> Vec<Case> {
    collect(|agrees| {
        for join in [Layer::Add(Add {}), Layer::Concat(Concat {})] {
            let graph = Graph {
                nodes: vec![
                    input(&[2, 8, 8]),
                    Node::new("a", conv2d(4, 3, 1, Padding::Same), &["input"]),
                    Node::new("b", conv2d(4, 1, 1, Padding::Same), &["input"]),
                    Node::new("c", conv2d(4, 5, 1, Padding::Same), &["input"]),
                    Node::new("join", join.clone(), &["a", "b", "c"]),
                    Node::new("flat", Layer::Flatten(Flatten {}), &["join"]),
                    Node::new("out", dense(3, Activation::Softmax), &["flat"]),
                ],
            };
            agrees(join.kind_label(), &graph, None);
        }
    })
}

pub fn embedding_reads_token_ids_and_clips_unknown_ones() -> Vec<Case> {
    collect(|agrees| {
        agrees(
            "Embedding",
            &chain(
                &[12],
                vec![
                    Layer::Embedding(Embedding { vocab: 30, dim: 5 }),
                    Layer::GlobalAvgPool(GlobalAvgPool {}),
                    dense(3, Activation::Softmax),
                ],
            ),
            Some(30),
        );
    })
}

pub fn lstm_and_gru_in_every_arrangement() -> Vec<Case> {
    collect(|agrees| {
        for bidirectional in [false, true] {
            for return_sequences in [false, true] {
                let lstm = Layer::Lstm(Lstm {
                    units: 5,
                    return_sequences,
                    bidirectional,
                });
                let gru = Layer::Gru(Gru {
                    units: 4,
                    return_sequences,
                    bidirectional,
                });
                for layer in [lstm, gru] {
                    agrees(
                        &format!(
                            "{} (both directions {bidirectional}, every step {return_sequences})",
                            layer.kind_label()
                        ),
                        &chain(&[3, 7], vec![layer, Layer::Flatten(Flatten {})]),
                        None,
                    );
                }
            }
        }
        // Stacked: every step of one feeds the next.
        agrees(
            "stacked LSTM → GRU",
            &chain(
                &[12],
                vec![
                    Layer::Embedding(Embedding { vocab: 20, dim: 6 }),
                    Layer::Lstm(Lstm {
                        units: 5,
                        return_sequences: true,
                        bidirectional: true,
                    }),
                    Layer::Gru(Gru {
                        units: 4,
                        return_sequences: false,
                        bidirectional: false,
                    }),
                    dense(3, Activation::Softmax),
                ],
            ),
            Some(20),
        );
    })
}

pub fn every_template_of_strata_s_own_layers() -> Vec<Case> {
    collect(|agrees| {
        let fits = [
            ("mlp", vec![1, 28, 28], None, Task::Classify),
            ("cnn", vec![3, 32, 32], None, Task::Classify),
            ("cnn", vec![1, 28, 28], None, Task::Classify),
            ("tabular-mlp", vec![13], None, Task::Classify),
            ("tabular-mlp", vec![13], None, Task::Regress),
            ("text-cnn", vec![40], Some(200), Task::Classify),
            ("text-lstm", vec![40], Some(200), Task::Classify),
            ("text-bow", vec![40], Some(200), Task::Classify),
            ("text-tfidf", vec![40], Some(200), Task::Classify),
            ("tabular-linear", vec![13], None, Task::Classify),
            ("tabular-linear", vec![13], None, Task::Regress),
            ("audio-cnn", vec![1, 40, 101], None, Task::Classify),
        ];
        for (name, shape, vocab, task) in fits {
            let fit = DataFit {
                shape: shape.clone(),
                task,
                classes: if task == Task::Classify { 4 } else { 1 },
                vocab,
            };
            let graph = template(name, &fit).unwrap_or_else(|| panic!("no template {name}"));
            agrees(
                &format!("template {name} {shape:?} {task:?}"),
                &graph,
                vocab,
            );
        }
    })
}
