//! Every layer's gradients (with respect to its input and its weights) against central finite
//! differences, through the same `Network` code that trains models.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;
use strata::engine::Network;
use strata::model::{Activation, Graph, Layer, Node, Padding};

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(3)
}

/// Scalar objective: Σ output·w for fixed irregular weights w (final activation applied).
fn objective(net: &Network, x: &Tensor) -> Tensor {
    let out = net.forward(x, false, &mut rng()).unwrap();
    let y = strata::engine::activate(&out.pre_activation, out.activation).unwrap();
    let n = y.elem_count();
    let w: Vec<f32> = (0..n)
        .map(|i| ((i * 7 + 3) % 13) as f32 / 6.0 - 1.0)
        .collect();
    let w = Tensor::from_vec(w, y.shape(), y.device()).unwrap();
    y.mul(&w).unwrap().sum_all().unwrap()
}

fn value(net: &Network, x: &Tensor) -> f64 {
    f64::from(objective(net, x).to_scalar::<f32>().unwrap())
}

fn assert_close(what: &str, analytic: f32, numeric: f64) {
    let tol = 3e-2 * (1.0 + numeric.abs());
    assert!(
        (f64::from(analytic) - numeric).abs() < tol,
        "{what}: backprop {analytic} vs finite difference {numeric}"
    );
}

fn check_layer(name: &str, layer: Layer, in_shape: &[usize], extra: Vec<Node>) {
    // Token ids are whole numbers and get no gradient: only the layer's weights are checked.
    let ids = match layer {
        Layer::Embedding { vocab, .. } => Some(vocab),
        _ => None,
    };
    let mut nodes = vec![
        Node::new(
            "input",
            Layer::Input {
                shape: in_shape.to_vec(),
            },
            &[],
        ),
        Node::new("layer", layer, &["input"]),
    ];
    nodes.extend(extra);
    let graph = Graph { nodes };
    let dev = Device::Cpu;
    let net = Network::new(&graph, &dev, &mut rng()).unwrap();
    // Nudge biases and norm parameters away from 0/1 so their gradients are exercised fully.
    for v in net.vars() {
        if v.trainable && !v.name.ends_with("weight") || v.name.contains("running") {
            let n = v.var.elem_count();
            let vals: Vec<f32> = (0..n).map(|i| 0.1 + 0.05 * i as f32).collect();
            let vals = if v.name.contains("running_var") {
                vals.iter().map(|x| x + 1.0).collect()
            } else {
                vals
            };
            v.var
                .set(&Tensor::from_vec(vals, v.var.shape(), &dev).unwrap())
                .unwrap();
        }
    }
    let mut shape = vec![2];
    shape.extend_from_slice(in_shape);
    let count: usize = shape.iter().product();
    let x0: Vec<f32> = match ids {
        Some(vocab) => (0..count).map(|i| ((i * 5 + 2) % vocab) as f32).collect(),
        None => (0..count)
            .map(|i| (((i * 31 + 7) % 17) as f32 - 8.0) * 0.11 + 0.03) // never exactly on ReLU's kink
            .collect(),
    };
    let x = Var::from_vec(x0.clone(), shape.as_slice(), &dev).unwrap();
    let grads = objective(&net, x.as_tensor()).backward().unwrap();
    let eps = 1e-2f32;

    let gx = match ids {
        Some(_) => Vec::new(),
        None => grads
            .get(x.as_tensor())
            .expect("input gradient")
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
    };
    for i in (0..gx.len()).step_by((count / 12).max(1)) {
        let at = |d: f32| {
            let mut v = x0.clone();
            v[i] += d;
            value(&net, &Tensor::from_vec(v, shape.as_slice(), &dev).unwrap())
        };
        assert_close(
            &format!("{name} d/dx[{i}]"),
            gx[i],
            (at(eps) - at(-eps)) / (2.0 * f64::from(eps)),
        );
    }
    for v in net.vars().iter().filter(|v| v.trainable) {
        let g = grads
            .get(v.var.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient for {}", v.name));
        let g = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let w0 = v.var.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for i in (0..w0.len()).step_by((w0.len() / 8).max(1)) {
            let at = |d: f32| {
                let mut w = w0.clone();
                w[i] += d;
                v.var
                    .set(&Tensor::from_vec(w, v.var.shape(), &dev).unwrap())
                    .unwrap();
                let r = value(&net, x.as_tensor());
                v.var
                    .set(&Tensor::from_vec(w0.clone(), v.var.shape(), &dev).unwrap())
                    .unwrap();
                r
            };
            assert_close(
                &format!("{name} d/d{}[{i}]", v.name),
                g[i],
                (at(eps) - at(-eps)) / (2.0 * f64::from(eps)),
            );
        }
    }
}

fn conv(kernel: usize, stride: usize, padding: Padding) -> Layer {
    Layer::Conv2d {
        filters: 3,
        kernel,
        stride,
        padding,
        activation: Activation::Tanh,
    }
}

#[test]
fn dense_gradients() {
    for activation in [
        Activation::Linear,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softmax,
        Activation::Gelu,
        Activation::LeakyRelu,
    ] {
        check_layer(
            &format!("dense {activation:?}"),
            Layer::Dense {
                units: 4,
                activation,
            },
            &[5],
            vec![],
        );
    }
}

#[test]
fn conv2d_gradients() {
    check_layer("conv valid", conv(3, 1, Padding::Valid), &[2, 5, 6], vec![]);
    check_layer("conv same", conv(3, 1, Padding::Same), &[2, 5, 6], vec![]);
    check_layer(
        "conv stride 2 same (asymmetric pad)",
        conv(2, 2, Padding::Same),
        &[2, 5, 5],
        vec![],
    );
    check_layer(
        "conv stride 2 valid",
        conv(3, 2, Padding::Valid),
        &[1, 7, 6],
        vec![],
    );
}

#[test]
fn pooling_gradients() {
    check_layer(
        "max pool 2/2 odd",
        Layer::MaxPool2d {
            kernel: 2,
            stride: 2,
        },
        &[2, 5, 5],
        vec![],
    );
    check_layer(
        "max pool 3/2 overlapping",
        Layer::MaxPool2d {
            kernel: 3,
            stride: 2,
        },
        &[2, 7, 5],
        vec![],
    );
    check_layer(
        "avg pool 3/1",
        Layer::AvgPool2d {
            kernel: 3,
            stride: 1,
        },
        &[2, 5, 4],
        vec![],
    );
    check_layer("global avg pool", Layer::GlobalAvgPool, &[3, 4, 5], vec![]);
}

#[test]
fn shape_and_regularization_layer_gradients() {
    check_layer("flatten", Layer::Flatten, &[2, 3, 3], vec![]);
    check_layer(
        "dropout (inference is identity)",
        Layer::Dropout { rate: 0.5 },
        &[6],
        vec![],
    );
    check_layer(
        "batchnorm flat",
        Layer::BatchNorm {
            momentum: 0.1,
            epsilon: 1e-5,
        },
        &[4],
        vec![],
    );
    check_layer(
        "batchnorm image",
        Layer::BatchNorm {
            momentum: 0.1,
            epsilon: 1e-5,
        },
        &[3, 2, 2],
        vec![],
    );
    for function in [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softmax,
        Activation::Gelu,
    ] {
        check_layer(
            &format!("activation {function:?}"),
            Layer::Activation { function },
            &[7],
            vec![],
        );
    }
}

#[test]
fn merge_layer_gradients() {
    let extra = |layer: Layer| {
        vec![
            Node::new(
                "other",
                Layer::Dense {
                    units: 4,
                    activation: Activation::Tanh,
                },
                &["input"],
            ),
            Node::new("merge", layer, &["layer", "other"]),
        ]
    };
    check_layer(
        "add",
        Layer::Dense {
            units: 4,
            activation: Activation::Sigmoid,
        },
        &[3],
        extra(Layer::Add),
    );
    check_layer(
        "concat",
        Layer::Dense {
            units: 4,
            activation: Activation::Sigmoid,
        },
        &[3],
        extra(Layer::Concat),
    );
}

#[test]
fn batchnorm_in_training_uses_batch_statistics_and_updates_running_ones() {
    let graph = Graph {
        nodes: vec![
            Node::new("input", Layer::Input { shape: vec![2] }, &[]),
            Node::new(
                "bn",
                Layer::BatchNorm {
                    momentum: 0.5,
                    epsilon: 1e-5,
                },
                &["input"],
            ),
        ],
    };
    let net = Network::new(&graph, &Device::Cpu, &mut rng()).unwrap();
    let x = Tensor::new(&[[1f32, 10.0], [3.0, 30.0]], &Device::Cpu).unwrap();
    let y = net
        .forward(&x, true, &mut rng())
        .unwrap()
        .pre_activation
        .to_vec2::<f32>()
        .unwrap();
    // Batch mean [2, 20], biased variance [1, 100]: normalised values are ±1.
    for (got, want) in y.iter().flatten().zip([-1.0f32, -1.0, 1.0, 1.0]) {
        assert!((got - want).abs() < 1e-3, "{y:?}");
    }
    let mean = net
        .vars()
        .iter()
        .find(|v| v.name == "bn.running_mean")
        .unwrap();
    // running = 0.5·0 + 0.5·[2, 20]
    assert_eq!(mean.var.to_vec1::<f32>().unwrap(), vec![1.0, 10.0]);
    let var = net
        .vars()
        .iter()
        .find(|v| v.name == "bn.running_var")
        .unwrap();
    // Unbiased batch variance [2, 200]: running = 0.5·1 + 0.5·[2, 200]
    assert_eq!(var.var.to_vec1::<f32>().unwrap(), vec![1.5, 100.5]);
}

#[test]
fn dropout_is_active_only_in_training_and_keeps_the_mean() {
    let graph = Graph {
        nodes: vec![
            Node::new(
                "input",
                Layer::Input {
                    shape: vec![10_000],
                },
                &[],
            ),
            Node::new("drop", Layer::Dropout { rate: 0.3 }, &["input"]),
        ],
    };
    let net = Network::new(&graph, &Device::Cpu, &mut rng()).unwrap();
    let x = Tensor::ones((1, 10_000), candle_core::DType::F32, &Device::Cpu).unwrap();
    let eval = net.forward(&x, false, &mut rng()).unwrap().pre_activation;
    assert_eq!(
        eval.sum_all().unwrap().to_scalar::<f32>().unwrap(),
        10_000.0
    );
    let train = net
        .forward(&x, true, &mut rng())
        .unwrap()
        .pre_activation
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let zeros = train.iter().filter(|v| **v == 0.0).count();
    assert!((2_700..3_300).contains(&zeros), "{zeros} zeros");
    let mean = train.iter().sum::<f32>() / 10_000.0;
    assert!((mean - 1.0).abs() < 0.05, "{mean}");
}

fn conv1d(kernel: usize, stride: usize, padding: Padding) -> Layer {
    Layer::Conv1d {
        filters: 3,
        kernel,
        stride,
        padding,
        activation: Activation::Tanh,
    }
}

#[test]
fn sequence_layer_gradients() {
    check_layer(
        "conv1d valid",
        conv1d(3, 1, Padding::Valid),
        &[2, 9],
        vec![],
    );
    check_layer("conv1d same", conv1d(5, 1, Padding::Same), &[2, 9], vec![]);
    check_layer(
        "conv1d stride 2 same, even window (asymmetric pad)",
        conv1d(4, 2, Padding::Same),
        &[3, 7],
        vec![],
    );
    check_layer(
        "max pool 1d",
        Layer::MaxPool1d { kernel: 2 },
        &[2, 7],
        vec![],
    );
    check_layer(
        "avg pool 1d",
        Layer::AvgPool1d { kernel: 3 },
        &[2, 7],
        vec![],
    );
    check_layer("global max pool", Layer::GlobalMaxPool, &[3, 6], vec![]);
    check_layer(
        "global avg pool over a sequence",
        Layer::GlobalAvgPool,
        &[3, 6],
        vec![],
    );
    // The embedding's table, through a convolution so every row used gets a distinct gradient.
    check_layer(
        "embedding",
        Layer::Embedding { vocab: 7, dim: 3 },
        &[6],
        vec![Node::new("conv", conv1d(3, 1, Padding::Same), &["layer"])],
    );
}
