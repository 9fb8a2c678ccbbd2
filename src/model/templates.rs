//! Ready-made graphs to start from.

use super::graph::{Graph, Node};
use super::layer::{Activation, Padding};
use crate::layers::{
    BatchNorm, Conv2d, ConvTranspose2d, Dense, Dropout, Flatten, Input, Layer, Reshape,
};
use crate::pretrained::{self, Backbone};
use crate::project::{DataKind, Task};

/// The templates users can pick, by CLI name.
pub const TEMPLATE_NAMES: &[&str] = &[
    "mlp",
    "cnn",
    "tabular-mlp",
    "text-cnn",
    "text-lstm",
    "text-bow",
    "text-tfidf",
    "tabular-linear",
    "audio-cnn",
    "transfer-image",
    "transfer-text",
    "transfer-text-bow",
];

/// What a template is sized to: the data's per-sample shape and what the model predicts.
#[derive(Clone, Debug, PartialEq)]
pub struct DataFit {
    /// Per-sample input shape.
    pub shape: Vec<usize>,
    /// Classes or a number.
    pub task: Task,
    /// Number of classes (classification).
    pub classes: usize,
    /// Tokens an Embedding must know (texts).
    pub vocab: Option<usize>,
}

/// The template a new project starts from, for both front ends: a CNN for colour images or
/// images larger than MNIST's 28 pixels, the Keras MLP for small grayscale ones, and each other
/// kind of data's own.
pub fn default_template(kind: DataKind, fit: &DataFit) -> &'static str {
    match kind {
        DataKind::Tabular => "tabular-mlp",
        // The bag of words and pairs beat the text CNN trained plainly on both text sets of
        // BENCHMARKS.md §12 (the debates 0.764 vs 0.729, Rotten Tomatoes 0.768 vs 0.764).
        DataKind::Text => "text-tfidf",
        DataKind::Audio => "audio-cnn",
        DataKind::Image => match fit.shape.as_slice() {
            [c, _, w] if *c >= 3 || *w > 28 => "cnn",
            _ => "mlp",
        },
    }
}

/// Builds a template by name, sized to the data; the last layer gives one probability per class,
/// or one number for regression.
pub fn template(name: &str, fit: &DataFit) -> Option<Graph> {
    let (input_shape, classes) = (fit.shape.as_slice(), fit.classes);
    let mut graph = match name {
        "mlp" => mlp(input_shape, classes),
        "cnn" => cnn(input_shape, classes),
        "tabular-mlp" => tabular_mlp(input_shape, classes),
        "text-cnn" => text_cnn(input_shape, fit.vocab.unwrap_or(20_000), classes),
        "text-lstm" => text_lstm(input_shape, fit.vocab.unwrap_or(20_000), classes),
        "text-bow" => text_bow(input_shape, fit.vocab.unwrap_or(20_000), classes),
        "text-tfidf" => text_tfidf(input_shape, fit.vocab.unwrap_or(20_000), classes),
        "tabular-linear" => tabular_linear(input_shape, classes),
        "audio-cnn" => audio_cnn(input_shape, classes),
        "transfer-image" => transfer(input_shape, Backbone::EfficientNetLite0, 0.2, classes),
        "transfer-text" => transfer(input_shape, Backbone::MiniLmL6, 0.1, classes),
        "transfer-text-bow" => transfer_text_bow(input_shape, fit.vocab.unwrap_or(30_522), classes),
        _ => return None,
    };
    if fit.task == Task::Regress {
        // The output layer fits itself to predicting one number (one linear unit).
        if let Some(last) = graph.nodes.last_mut() {
            if let Some(fix) = last.layer.kind().fit_to_data(&last.name, fit, true) {
                if let Some(layer) = fix.replacement {
                    last.layer = layer;
                }
            }
        }
    }
    Some(graph)
}

/// Transfer learning: a frozen pretrained network (its weights file found in the usual places, see
/// [`pretrained::find_weights`], or chosen later) → Dropout → Dense N softmax.
pub fn transfer(input_shape: &[usize], backbone: Backbone, dropout: f32, classes: usize) -> Graph {
    let weights = pretrained::find_weights(backbone)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Graph {
        nodes: vec![
            input_node(input_shape),
            Node::new(
                "pretrained",
                Layer::Pretrained(crate::layers::Pretrained {
                    backbone,
                    weights,
                    train_blocks: 0,
                }),
                &["input"],
            ),
            Node::new(
                "dropout",
                Layer::Dropout(crate::layers::Dropout { rate: dropout }),
                &["pretrained"],
            ),
            output_node("dropout", classes),
        ],
    }
}

/// For texts, what the sentence means and which words it uses: the MiniLM sentence encoder
/// (frozen) side by side with the average of trained vectors of its word pieces, joined →
/// Dropout 0.1 → Dense N softmax. The encoder knows English from pretraining; the bag of words
/// learns the data set's own telling words (Rotten Tomatoes: 0.803 test accuracy, against 0.765
/// for the encoder alone and 0.781 for TF-IDF + a linear SVM — BENCHMARKS.md §12).
pub fn transfer_text_bow(input_shape: &[usize], vocab: usize, classes: usize) -> Graph {
    let mut graph = transfer(input_shape, Backbone::MiniLmL6, 0.1, classes);
    let words = [
        embedding_node(vocab),
        Node::new(
            "average",
            Layer::GlobalAvgPool(crate::layers::GlobalAvgPool {}),
            &["embedding"],
        ),
        Node::new(
            "concat",
            Layer::Concat(crate::layers::Concat {}),
            &["pretrained", "average"],
        ),
    ];
    if let Some(dropout) = graph.nodes.iter_mut().find(|n| n.name == "dropout") {
        dropout.inputs = vec!["concat".to_owned()];
    }
    let at = graph.nodes.len() - 2;
    graph.nodes.splice(at..at, words);
    graph
}

/// For texts: Embedding 64 → Conv1d 128 of 5 ReLU → GlobalMaxPool → Dropout 0.3 → Dense N
/// softmax (Kim's text CNN with one window size).
pub fn text_cnn(input_shape: &[usize], vocab: usize, classes: usize) -> Graph {
    Graph {
        nodes: vec![
            input_node(input_shape),
            embedding_node(vocab),
            Node::new(
                "conv1",
                Layer::Conv1d(crate::layers::Conv1d {
                    filters: 128,
                    kernel: 5,
                    stride: 1,
                    padding: Padding::Same,
                    activation: Activation::Relu,
                }),
                &["embedding"],
            ),
            Node::new(
                "pool",
                Layer::GlobalMaxPool(crate::layers::GlobalMaxPool {}),
                &["conv1"],
            ),
            Node::new(
                "dropout",
                Layer::Dropout(crate::layers::Dropout { rate: 0.3 }),
                &["pool"],
            ),
            output_node("dropout", classes),
        ],
    }
}

/// For texts, a bag of words: Embedding 64 → GlobalAvgPool → Dense N softmax — a linear model
/// over the average of the words' vectors (fastText's architecture without n-grams), often the
/// strongest model on small text sets.
pub fn text_bow(input_shape: &[usize], vocab: usize, classes: usize) -> Graph {
    Graph {
        nodes: vec![
            input_node(input_shape),
            embedding_node(vocab),
            Node::new(
                "average",
                Layer::GlobalAvgPool(crate::layers::GlobalAvgPool {}),
                &["embedding"],
            ),
            output_node("average", classes),
        ],
    }
}

/// The classic linear text model: each text as the TF-IDF of its words and word pairs (read with
/// punctuation marks as words, see `TokenizerKind::WordsAndMarks`) → Dense N softmax. Its
/// word weights are counted on the training texts; on small text sets it beats the embedding
/// models (BENCHMARKS.md §12).
pub fn text_tfidf(input_shape: &[usize], vocab: usize, classes: usize) -> Graph {
    Graph {
        nodes: vec![
            input_node(input_shape),
            Node::new(
                "bag_of_words",
                Layer::BagOfWords(crate::layers::BagOfWords {
                    vocab,
                    pair_slots: crate::layers::DEFAULT_PAIR_SLOTS,
                }),
                &["input"],
            ),
            output_node("bag_of_words", classes),
        ],
    }
}

/// For texts where order matters: Embedding 64 → bidirectional LSTM 64 → Dropout 0.3 → Dense N
/// softmax.
pub fn text_lstm(input_shape: &[usize], vocab: usize, classes: usize) -> Graph {
    Graph {
        nodes: vec![
            input_node(input_shape),
            embedding_node(vocab),
            Node::new(
                "lstm",
                Layer::Lstm(crate::layers::Lstm {
                    units: 64,
                    return_sequences: false,
                    bidirectional: true,
                }),
                &["embedding"],
            ),
            Node::new(
                "dropout",
                Layer::Dropout(crate::layers::Dropout { rate: 0.3 }),
                &["lstm"],
            ),
            output_node("dropout", classes),
        ],
    }
}

/// For spectrograms: three Conv 3×3 "same" ReLU + MaxPool 2 stages (16, 32, 64 filters) →
/// Flatten → Dropout 0.3 → Dense N softmax. It flattens rather than averaging over the whole
/// spectrogram because where a sound sits in pitch is what tells many classes apart.
pub fn audio_cnn(input_shape: &[usize], classes: usize) -> Graph {
    let conv = |filters| {
        Layer::Conv2d(crate::layers::Conv2d {
            filters,
            kernel: 3,
            stride: 1,
            padding: Padding::Same,
            activation: Activation::Relu,
        })
    };
    let pool = || {
        Layer::MaxPool2d(crate::layers::MaxPool2d {
            kernel: 2,
            stride: 2,
        })
    };
    Graph {
        nodes: vec![
            input_node(input_shape),
            Node::new("conv1", conv(16), &["input"]),
            Node::new("pool1", pool(), &["conv1"]),
            Node::new("conv2", conv(32), &["pool1"]),
            Node::new("pool2", pool(), &["conv2"]),
            Node::new("conv3", conv(64), &["pool2"]),
            Node::new("pool3", pool(), &["conv3"]),
            Node::new(
                "flatten",
                Layer::Flatten(crate::layers::Flatten {}),
                &["pool3"],
            ),
            Node::new(
                "dropout",
                Layer::Dropout(crate::layers::Dropout { rate: 0.3 }),
                &["flatten"],
            ),
            output_node("dropout", classes),
        ],
    }
}

/// For tables, the linear model: Dense N softmax straight on the encoded columns (logistic
/// regression; linear regression for numbers).
pub fn tabular_linear(input_shape: &[usize], classes: usize) -> Graph {
    Graph {
        nodes: vec![input_node(input_shape), output_node("input", classes)],
    }
}

/// For tables of encoded columns: Dense 64 ReLU → Dropout 0.1 → Dense 32 ReLU → Dense N softmax.
pub fn tabular_mlp(input_shape: &[usize], classes: usize) -> Graph {
    let dense = |units| {
        Layer::Dense(crate::layers::Dense {
            units,
            activation: Activation::Relu,
        })
    };
    Graph {
        nodes: vec![
            input_node(input_shape),
            Node::new("dense1", dense(64), &["input"]),
            Node::new(
                "dropout",
                Layer::Dropout(crate::layers::Dropout { rate: 0.1 }),
                &["dense1"],
            ),
            Node::new("dense2", dense(32), &["dropout"]),
            output_node("dense2", classes),
        ],
    }
}

/// The Keras getting-started model: Flatten → Dense 128 ReLU → Dense N softmax.
pub fn mlp(input_shape: &[usize], classes: usize) -> Graph {
    Graph {
        nodes: vec![
            input_node(input_shape),
            Node::new(
                "flatten",
                Layer::Flatten(crate::layers::Flatten {}),
                &["input"],
            ),
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
            Layer::Dense(crate::layers::Dense {
                units: 128,
                activation: Activation::Relu,
            }),
            &[from],
        ),
        output_node("dense1", classes),
    ]
}

/// A small convolutional network: two Conv/MaxPool stages, then Dense 128 and the class layer.
pub fn cnn(input_shape: &[usize], classes: usize) -> Graph {
    let conv = |filters| {
        Layer::Conv2d(crate::layers::Conv2d {
            filters,
            kernel: 3,
            stride: 1,
            padding: Padding::Valid,
            activation: Activation::Relu,
        })
    };
    let pool = Layer::MaxPool2d(crate::layers::MaxPool2d {
        kernel: 2,
        stride: 2,
    });
    Graph {
        nodes: vec![
            input_node(input_shape),
            Node::new("conv1", conv(32), &["input"]),
            Node::new("pool1", pool.clone(), &["conv1"]),
            Node::new("conv2", conv(64), &["pool1"]),
            Node::new("pool2", pool, &["conv2"]),
            Node::new(
                "flatten",
                Layer::Flatten(crate::layers::Flatten {}),
                &["pool2"],
            ),
        ]
        .into_iter()
        .chain(classifier_head("flatten", classes))
        .collect(),
    }
}

/// The 64-wide word-vector layer the text templates start with.
fn embedding_node(vocab: usize) -> Node {
    Node::new(
        "embedding",
        Layer::Embedding(crate::layers::Embedding { vocab, dim: 64 }),
        &["input"],
    )
}

/// The Input node every template starts with.
fn input_node(shape: &[usize]) -> Node {
    Node::new(
        "input",
        Layer::Input(crate::layers::Input {
            shape: shape.to_vec(),
        }),
        &[],
    )
}

/// The last layer every template ends in: Dense with one softmax output per class, fed by `from`.
fn output_node(from: &str, classes: usize) -> Node {
    Node::new(
        "output",
        Layer::Dense(crate::layers::Dense {
            units: classes,
            activation: Activation::Softmax,
        }),
        &[from],
    )
}

/// The two networks of an image-generating project (`dcgan`, or `cdcgan` told the class), sized to
/// pictures of `image` (channels × height × width; height and width multiples of 4) with
/// `classes` classes: the generator (`noise` random numbers, then the one-hot class when
/// conditional → Dense → Reshape → two transposed convolutions doubling the size, sigmoid pixels)
/// and the discriminator (the picture, plus one plane per class when conditional → two strided
/// convolutions → one sigmoid "real" score). `None` for another name or a size it cannot make.
pub fn gan_templates(
    name: &str,
    image: &[usize],
    classes: usize,
    noise: usize,
) -> Option<(Graph, Graph)> {
    let conditional = match name {
        "dcgan" => false,
        "cdcgan" => true,
        _ => return None,
    };
    let &[c, h, w] = image else {
        return None;
    };
    if h % 4 != 0 || w % 4 != 0 || h == 0 || w == 0 {
        return None;
    }
    let extra = if conditional { classes } else { 0 };
    let (h4, w4) = (h / 4, w / 4);
    let generator = Graph {
        nodes: vec![
            Node::new(
                "noise",
                Layer::Input(Input {
                    shape: vec![noise + extra],
                }),
                &[],
            ),
            Node::new(
                "project",
                Layer::Dense(Dense {
                    units: 128 * h4 * w4,
                    activation: Activation::Relu,
                }),
                &["noise"],
            ),
            Node::new(
                "reshape",
                Layer::Reshape(Reshape {
                    channels: 128,
                    height: h4,
                    width: w4,
                }),
                &["project"],
            ),
            Node::new("norm1", Layer::BatchNorm(batch_norm()), &["reshape"]),
            Node::new(
                "up1",
                Layer::ConvTranspose2d(ConvTranspose2d {
                    filters: 64,
                    kernel: 4,
                    stride: 2,
                    crop: 1,
                    activation: Activation::Relu,
                }),
                &["norm1"],
            ),
            Node::new("norm2", Layer::BatchNorm(batch_norm()), &["up1"]),
            Node::new(
                "image",
                Layer::ConvTranspose2d(ConvTranspose2d {
                    filters: c,
                    kernel: 4,
                    stride: 2,
                    crop: 1,
                    activation: Activation::Sigmoid,
                }),
                &["norm2"],
            ),
        ],
    };
    let strided = |filters: usize| {
        Layer::Conv2d(Conv2d {
            filters,
            kernel: 4,
            stride: 2,
            padding: Padding::Same,
            activation: Activation::LeakyRelu,
        })
    };
    let discriminator = Graph {
        nodes: vec![
            Node::new(
                "picture",
                Layer::Input(Input {
                    shape: vec![c + extra, h, w],
                }),
                &[],
            ),
            Node::new("conv1", strided(64), &["picture"]),
            Node::new("conv2", strided(128), &["conv1"]),
            Node::new("flatten", Layer::Flatten(Flatten {}), &["conv2"]),
            Node::new("drop", Layer::Dropout(Dropout { rate: 0.3 }), &["flatten"]),
            Node::new(
                "real",
                Layer::Dense(Dense {
                    units: 1,
                    activation: Activation::Sigmoid,
                }),
                &["drop"],
            ),
        ],
    };
    Some((generator, discriminator))
}

fn batch_norm() -> BatchNorm {
    BatchNorm {
        momentum: 0.1,
        epsilon: 1e-5,
    }
}

#[cfg(test)]
mod gan_tests {
    use super::*;

    #[test]
    fn gan_templates_fit_their_pictures() {
        for (image, classes) in [([1, 28, 28], 10), ([3, 32, 32], 4), ([1, 8, 8], 2)] {
            for (name, conditional) in [("dcgan", false), ("cdcgan", true)] {
                let (g, d) = gan_templates(name, &image, classes, 16).unwrap();
                let g = g.validate().unwrap();
                let d = d.validate().unwrap();
                let extra = if conditional { classes } else { 0 };
                assert_eq!(g.info[g.input].output_shape, vec![16 + extra]);
                assert_eq!(g.output_shape(), image.as_slice());
                let mut d_in = image.to_vec();
                d_in[0] += extra;
                assert_eq!(d.info[d.input].output_shape, d_in);
                assert_eq!(d.output_shape(), &[1]);
            }
        }
        assert!(gan_templates("dcgan", &[1, 30, 30], 2, 16).is_none());
        assert!(gan_templates("cnn", &[1, 28, 28], 2, 16).is_none());
    }
}
