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
        Layer::Embedding(strata::layers::Embedding { vocab, .. }) => Some(vocab),
        _ => None,
    };
    let mut nodes = vec![
        Node::new(
            "input",
            Layer::Input(strata::layers::Input {
                shape: in_shape.to_vec(),
            }),
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
    Layer::Conv2d(strata::layers::Conv2d {
        filters: 3,
        kernel,
        stride,
        padding,
        activation: Activation::Tanh,
    })
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
            Layer::Dense(strata::layers::Dense {
                units: 4,
                activation,
            }),
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
fn transposed_convolution_and_reshape_gradients() {
    for (kernel, stride, crop) in [(4, 2, 1), (3, 1, 0), (3, 2, 0), (2, 2, 0)] {
        check_layer(
            &format!("conv transpose {kernel}/{stride} crop {crop}"),
            Layer::ConvTranspose2d(strata::layers::ConvTranspose2d {
                filters: 3,
                kernel,
                stride,
                crop,
                activation: Activation::Tanh,
            }),
            &[2, 4, 5],
            vec![],
        );
    }
    check_layer(
        "reshape",
        Layer::Reshape(strata::layers::Reshape {
            channels: 2,
            height: 3,
            width: 4,
        }),
        &[24],
        vec![],
    );
}

#[test]
fn pooling_gradients() {
    check_layer(
        "max pool 2/2 odd",
        Layer::MaxPool2d(strata::layers::MaxPool2d {
            kernel: 2,
            stride: 2,
        }),
        &[2, 5, 5],
        vec![],
    );
    check_layer(
        "max pool 3/2 overlapping",
        Layer::MaxPool2d(strata::layers::MaxPool2d {
            kernel: 3,
            stride: 2,
        }),
        &[2, 7, 5],
        vec![],
    );
    check_layer(
        "avg pool 3/1",
        Layer::AvgPool2d(strata::layers::AvgPool2d {
            kernel: 3,
            stride: 1,
        }),
        &[2, 5, 4],
        vec![],
    );
    check_layer(
        "global avg pool",
        Layer::GlobalAvgPool(strata::layers::GlobalAvgPool {}),
        &[3, 4, 5],
        vec![],
    );
}

#[test]
fn shape_and_regularization_layer_gradients() {
    check_layer(
        "flatten",
        Layer::Flatten(strata::layers::Flatten {}),
        &[2, 3, 3],
        vec![],
    );
    check_layer(
        "dropout (inference is identity)",
        Layer::Dropout(strata::layers::Dropout { rate: 0.5 }),
        &[6],
        vec![],
    );
    check_layer(
        "batchnorm flat",
        Layer::BatchNorm(strata::layers::BatchNorm {
            momentum: 0.1,
            epsilon: 1e-5,
        }),
        &[4],
        vec![],
    );
    check_layer(
        "batchnorm image",
        Layer::BatchNorm(strata::layers::BatchNorm {
            momentum: 0.1,
            epsilon: 1e-5,
        }),
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
            Layer::Activation(strata::layers::ActivationLayer { function }),
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
                Layer::Dense(strata::layers::Dense {
                    units: 4,
                    activation: Activation::Tanh,
                }),
                &["input"],
            ),
            Node::new("merge", layer, &["layer", "other"]),
        ]
    };
    check_layer(
        "add",
        Layer::Dense(strata::layers::Dense {
            units: 4,
            activation: Activation::Sigmoid,
        }),
        &[3],
        extra(Layer::Add(strata::layers::Add {})),
    );
    check_layer(
        "concat",
        Layer::Dense(strata::layers::Dense {
            units: 4,
            activation: Activation::Sigmoid,
        }),
        &[3],
        extra(Layer::Concat(strata::layers::Concat {})),
    );
}

#[test]
fn batchnorm_in_training_uses_batch_statistics_and_updates_running_ones() {
    let graph = Graph {
        nodes: vec![
            Node::new(
                "input",
                Layer::Input(strata::layers::Input { shape: vec![2] }),
                &[],
            ),
            Node::new(
                "bn",
                Layer::BatchNorm(strata::layers::BatchNorm {
                    momentum: 0.5,
                    epsilon: 1e-5,
                }),
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
                Layer::Input(strata::layers::Input {
                    shape: vec![10_000],
                }),
                &[],
            ),
            Node::new(
                "drop",
                Layer::Dropout(strata::layers::Dropout { rate: 0.3 }),
                &["input"],
            ),
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
    Layer::Conv1d(strata::layers::Conv1d {
        filters: 3,
        kernel,
        stride,
        padding,
        activation: Activation::Tanh,
    })
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
        Layer::MaxPool1d(strata::layers::MaxPool1d { kernel: 2 }),
        &[2, 7],
        vec![],
    );
    check_layer(
        "avg pool 1d",
        Layer::AvgPool1d(strata::layers::AvgPool1d { kernel: 3 }),
        &[2, 7],
        vec![],
    );
    check_layer(
        "global max pool",
        Layer::GlobalMaxPool(strata::layers::GlobalMaxPool {}),
        &[3, 6],
        vec![],
    );
    check_layer(
        "global avg pool over a sequence",
        Layer::GlobalAvgPool(strata::layers::GlobalAvgPool {}),
        &[3, 6],
        vec![],
    );
    // The embedding's table, through a convolution so every row used gets a distinct gradient.
    check_layer(
        "embedding",
        Layer::Embedding(strata::layers::Embedding { vocab: 7, dim: 3 }),
        &[6],
        vec![Node::new("conv", conv1d(3, 1, Padding::Same), &["layer"])],
    );
}

#[test]
fn recurrent_gradients() {
    for (return_sequences, bidirectional) in [(false, false), (true, true)] {
        check_layer(
            &format!("lstm seq={return_sequences} bi={bidirectional}"),
            Layer::Lstm(strata::layers::Lstm {
                units: 3,
                return_sequences,
                bidirectional,
            }),
            &[2, 4],
            vec![],
        );
        check_layer(
            &format!("gru seq={return_sequences} bi={bidirectional}"),
            Layer::Gru(strata::layers::Gru {
                units: 3,
                return_sequences,
                bidirectional,
            }),
            &[2, 4],
            vec![],
        );
    }
}

/// Output and gradients of a recurrent layer with fixed weights, against PyTorch (2.x) values
/// written below, computed by this snippet (`y` is the layer's output in Strata's channels-first
/// layout, `m` the same irregular weights as `objective`):
///
/// ```python
/// def ref(kind, bidir, ret_seq, B=2, C=2, L=4, H=3):
///     mod = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(C, H, batch_first=True, bidirectional=bidir)
///     names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
///     if bidir: names += [n + "_reverse" for n in names]
///     with torch.no_grad():
///         for k, n in enumerate(names):
///             p = getattr(mod, n)
///             p.copy_(torch.tensor([0.5 * math.sin(0.37 * i + k) for i in range(p.numel())]).reshape(p.shape))
///     x = torch.tensor([0.8 * math.cos(0.53 * i) for i in range(B * C * L)]).reshape(B, C, L).requires_grad_()
///     out, h = mod(x.transpose(1, 2))
///     last = h if kind == "gru" else h[0]
///     y = out.transpose(1, 2) if ret_seq else (torch.cat([last[0], last[1]], 1) if bidir else last[0])
///     m = torch.tensor([((i * 7 + 3) % 13) / 6 - 1 for i in range(y.numel())]).reshape(y.shape)
///     (y * m).sum().backward()
///     # print y, x.grad, mod.weight_hh_l0.grad[:6], mod.weight_ih_l0_reverse.grad[:4]
/// ```
fn check_against_pytorch(
    layer: Layer,
    y: &[f32],
    dx: &[f32],
    dw_hh: &[f32],
    dw_ih_reverse: &[f32],
) {
    let (b, c, l) = (2usize, 2usize, 4usize);
    let graph = Graph {
        nodes: vec![
            Node::new(
                "input",
                Layer::Input(strata::layers::Input { shape: vec![c, l] }),
                &[],
            ),
            Node::new("rnn", layer, &["input"]),
        ],
    };
    let dev = Device::Cpu;
    let net = Network::new(&graph, &dev, &mut rng()).unwrap();
    let order = [
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
        "weight_ih_reverse",
        "weight_hh_reverse",
        "bias_ih_reverse",
        "bias_hh_reverse",
    ];
    for (k, name) in order.iter().enumerate() {
        if let Some(v) = net.vars().iter().find(|v| v.name == format!("rnn.{name}")) {
            let n = v.var.elem_count();
            let vals: Vec<f32> = (0..n)
                .map(|i| 0.5 * (0.37 * i as f32 + k as f32).sin())
                .collect();
            v.var
                .set(&Tensor::from_vec(vals, v.var.shape(), &dev).unwrap())
                .unwrap();
        }
    }
    let x0: Vec<f32> = (0..b * c * l)
        .map(|i| 0.8 * (0.53 * i as f32).cos())
        .collect();
    let x = Var::from_vec(x0, (b, c, l), &dev).unwrap();
    let out = net.forward(x.as_tensor(), false, &mut rng()).unwrap();
    let got: Vec<f32> = out.pre_activation.flatten_all().unwrap().to_vec1().unwrap();
    let close = |what: &str, got: &[f32], want: &[f32]| {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 2e-5, "{what}[{i}]: {g} vs PyTorch {w}");
        }
    };
    close("output", &got, y);
    let grads = objective(&net, x.as_tensor()).backward().unwrap();
    let grad_of = |t: &Tensor| -> Vec<f32> {
        grads
            .get(t)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    close("d/dx", &grad_of(x.as_tensor()), dx);
    let var = |name: &str| {
        net.vars()
            .iter()
            .find(|v| v.name == name)
            .unwrap()
            .var
            .as_tensor()
            .clone()
    };
    close(
        "d/dweight_hh",
        &grad_of(&var("rnn.weight_hh"))[..dw_hh.len()],
        dw_hh,
    );
    if !dw_ih_reverse.is_empty() {
        close(
            "d/dweight_ih_reverse",
            &grad_of(&var("rnn.weight_ih_reverse"))[..dw_ih_reverse.len()],
            dw_ih_reverse,
        );
    }
}

#[test]
fn lstm_and_gru_match_pytorch() {
    check_against_pytorch(
        Layer::Lstm(strata::layers::Lstm {
            units: 3,
            return_sequences: true,
            bidirectional: true,
        }),
        &[
            -0.180872, -0.258698, -0.261543, -0.242160, -0.218670, -0.238784, -0.212084, -0.177879,
            -0.204896, -0.176158, -0.144319, -0.119169, 0.227164, 0.214350, 0.177112, 0.108212,
            0.161459, 0.159729, 0.141173, 0.088341, 0.081391, 0.088018, 0.080053, 0.049535,
            -0.220607, -0.355597, -0.413031, -0.422339, -0.226441, -0.327472, -0.370090, -0.369100,
            -0.159937, -0.170259, -0.175147, -0.175616, 0.236034, 0.202323, 0.165943, 0.111411,
            0.122184, 0.105479, 0.085027, 0.055284, -0.081317, -0.075552, -0.054569, -0.029365,
        ],
        &[
            -0.047261, -0.023511, 0.011227, 0.106966, -0.034075, -0.066034, 0.005061, 0.048333,
            -0.045843, -0.025113, -0.070827, -0.059225, -0.084051, -0.123757, -0.059050, -0.134233,
        ],
        &[
            0.039520, 0.037730, 0.025620, 0.050001, 0.051345, 0.031277, -0.039168, -0.038472,
            -0.025923, 0.034114, 0.031583, 0.020387, 0.032962, 0.033526, 0.018955, -0.021292,
            -0.020753, -0.013997,
        ],
        &[
            0.006770, -0.004981, 0.048468, -0.027137, -0.012867, 0.012912, 0.009344, -0.003223,
        ],
    );
    check_against_pytorch(
        Layer::Gru(strata::layers::Gru {
            units: 3,
            return_sequences: false,
            bidirectional: false,
        }),
        &[
            -0.547114, -0.489024, -0.330731, -0.754379, -0.764912, -0.334563,
        ],
        &[
            -0.005239, -0.014357, -0.029182, -0.038677, -0.002891, -0.008892, -0.018168, -0.034481,
            0.001779, 0.012175, 0.024742, -0.100144, -0.005214, 0.004275, 0.008711, 0.015833,
        ],
        &[
            -0.013271, -0.012956, -0.015082, 0.022835, 0.023134, 0.018663, -0.034022, -0.035860,
            -0.012443, -0.046001, -0.047488, -0.023669, 0.020886, 0.020906, 0.011910, -0.004659,
            -0.004739, -0.002758,
        ],
        &[],
    );
    check_against_pytorch(
        Layer::Gru(strata::layers::Gru {
            units: 3,
            return_sequences: false,
            bidirectional: true,
        }),
        &[
            -0.547114, -0.489024, -0.330731, 0.347491, 0.387383, 0.275069, -0.754379, -0.764912,
            -0.334563, 0.399074, 0.217430, -0.024739,
        ],
        &[
            -0.028389, -0.020531, -0.025685, -0.031090, -0.091599, -0.075095, -0.068139, -0.072939,
            0.013986, 0.011830, 0.032755, 0.066526, 0.050716, 0.042619, 0.055059, 0.096089,
        ],
        &[
            -0.039106, -0.039965, -0.028512, -0.000412, -0.001129, 0.007317, 0.004060, 0.003748,
            0.004710, 0.005930, 0.006909, 0.006006, 0.038653, 0.039497, 0.021479, -0.003031,
            -0.003044, -0.002008,
        ],
        &[
            -0.006742, 0.004665, -0.001530, 0.000604, 0.013293, 0.002418, -0.022499, 0.135906,
        ],
    );
}
