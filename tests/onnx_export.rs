//! ONNX export: every layer kind and every template is written as ONNX, read back by tract (a
//! second engine) and run next to Strata on random inputs: the same class on every sample and a
//! largest absolute difference of at most 1e-4.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use candle_core::{Device, Tensor};
use common::graphs::{self, chain, dense, inputs, network, rng, SAMPLES};
use rand::Rng;
use strata::engine::Network;
use strata::export::check::check;
use strata::export::onnx::{read_metadata, to_onnx};
use strata::layers::Dropout;
use strata::model::{Activation, Graph, Layer};

/// Largest difference allowed between tract's outputs and Strata's.
const TOLERANCE: f32 = 1e-4;
/// Exports `graph`, runs the file in tract and in Strata, and asserts they agree.
fn agrees(what: &str, graph: &Graph, vocab: Option<usize>) {
    let net = network(graph);
    let shape = net.checked().info[net.checked().input].output_shape.clone();
    let bytes = to_onnx(&net, &[("task".to_owned(), "test".to_owned())]).unwrap();
    let report = check(
        &bytes,
        &net,
        &inputs(&shape, vocab),
        "random inputs",
        true,
        TOLERANCE,
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(report.samples, SAMPLES, "{what}");
    assert!(report.passed(), "{what}: {}", report.line());
}

#[test]
fn dense_and_every_activation() {
    for case in graphs::dense_and_every_activation() {
        agrees(&case.what, &case.graph, case.vocab);
    }
}

#[test]
fn convolutions_with_either_padding_and_stride() {
    for case in graphs::convolutions_with_either_padding_and_stride() {
        agrees(&case.what, &case.graph, case.vocab);
    }
}

#[test]
fn pools_drop_what_a_window_does_not_cover() {
    for case in graphs::pools_drop_what_a_window_does_not_cover() {
        agrees(&case.what, &case.graph, case.vocab);
    }
}

#[test]
fn generator_layers() {
    for case in graphs::generator_layers() {
        agrees(&case.what, &case.graph, case.vocab);
    }
}

#[test]
fn batch_norm_dropout_and_flatten() {
    for case in graphs::batch_norm_dropout_and_flatten() {
        agrees(&case.what, &case.graph, case.vocab);
    }
}

#[test]
fn add_and_concat_join_branches() {
    for case in graphs::add_and_concat_join_branches() {
        agrees(&case.what, &case.graph, case.vocab);
    }
}

#[test]
fn embedding_reads_token_ids_and_clips_unknown_ones() {
    for case in graphs::embedding_reads_token_ids_and_clips_unknown_ones() {
        agrees(&case.what, &case.graph, case.vocab);
    }
}

#[test]
fn lstm_and_gru_in_every_arrangement() {
    for case in graphs::lstm_and_gru_in_every_arrangement() {
        agrees(&case.what, &case.graph, case.vocab);
    }
}

#[test]
fn every_template_of_strata_s_own_layers() {
    for case in graphs::every_template_of_strata_s_own_layers() {
        agrees(&case.what, &case.graph, case.vocab);
    }
}

#[test]
fn metadata_travels_in_the_file() {
    let net = network(&chain(&[4], vec![dense(2, Activation::Softmax)]));
    let meta = vec![
        ("classes".to_owned(), r#"["cat","dog"]"#.to_owned()),
        ("image.width".to_owned(), "28".to_owned()),
    ];
    let bytes = to_onnx(&net, &meta).unwrap();
    assert_eq!(read_metadata(&bytes).unwrap(), meta);
}

#[test]
fn a_wrong_file_is_caught() {
    // The check compares against Strata's network: weights changed after export must fail it.
    let graph = chain(&[6], vec![dense(3, Activation::Softmax)]);
    let net = network(&graph);
    let bytes = to_onnx(&net, &[]).unwrap();
    let other = Network::new(&graph, &Device::Cpu, &mut rng(99)).unwrap();
    let report = check(
        &bytes,
        &other,
        &inputs(&[6], None),
        "random inputs",
        true,
        TOLERANCE,
    )
    .unwrap();
    assert!(!report.passed(), "{}", report.line());
    assert!(report.max_abs_diff > 1e-3, "{}", report.line());
}

/// A weights file with random values for every tensor `backbone` reads (the test checks the
/// export's arithmetic, not ImageNet's).
fn random_weights(dir: &std::path::Path, backbone: strata::pretrained::Backbone) -> String {
    let mut r = rng(5);
    let tensors: std::collections::HashMap<String, Tensor> = backbone
        .params()
        .into_iter()
        .map(|spec| {
            let n: usize = spec.shape.iter().product();
            let values: Vec<f32> = (0..n).map(|_| r.random_range(-0.1..0.1)).collect();
            let t = Tensor::from_vec(values, spec.shape.clone(), &Device::Cpu).unwrap();
            (spec.name, t)
        })
        .collect();
    let path = dir.join(format!("{}.safetensors", backbone.id()));
    candle_core::safetensors::save(&tensors, &path).unwrap();
    path.display().to_string()
}

#[test]
fn pretrained_networks_export_as_their_own_operations() {
    use strata::layers::Pretrained;
    use strata::pretrained::Backbone;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (Backbone::EfficientNetLite0, vec![3, 64, 64], None),
        (Backbone::EfficientNetLite0, vec![1, 45, 37], None),
        (Backbone::ResNet18, vec![3, 64, 48], None),
        (Backbone::ResNet50, vec![3, 40, 40], None),
        (Backbone::MiniLmL6, vec![16], Some(30522)),
    ];
    for (backbone, shape, vocab) in cases {
        // The transfer templates' shape: the network (last block trainable, so no feature
        // cache), dropout, a softmax head.
        let graph = chain(
            &shape,
            vec![
                Layer::Pretrained(Pretrained {
                    backbone,
                    weights: random_weights(dir.path(), backbone),
                    train_blocks: 1,
                }),
                Layer::Dropout(Dropout { rate: 0.2 }),
                dense(5, Activation::Softmax),
            ],
        );
        let net = network(&graph);
        let bytes = to_onnx(&net, &[]).unwrap();
        let x = inputs(&shape, vocab);
        // Images in [0, 1] as the importer gives them.
        let x = if vocab.is_none() {
            ((x + 1.0).unwrap() / 3.0).unwrap()
        } else {
            x
        };
        let report = check(&bytes, &net, &x, "random inputs", true, 1e-3)
            .unwrap_or_else(|e| panic!("{backbone:?}: {e}"));
        assert!(report.passed(), "{backbone:?} {shape:?}: {}", report.line());
    }
}

/// The bag of words and pairs: ids of padding, unknown words and ids past the vocabulary are not
/// counted, pairs are slotted by the same arithmetic, and the counted idf travels as a weight.
#[test]
fn bag_of_words_counts_words_and_pairs_with_the_fitted_idf() {
    for pair_slots in [0, 64] {
        let graph = chain(
            &[15],
            vec![
                Layer::BagOfWords(strata::layers::BagOfWords {
                    vocab: 30,
                    pair_slots,
                }),
                dense(3, Activation::Softmax),
            ],
        );
        let net = network(&graph);
        let x = inputs(&[15], Some(30));
        let rows: Vec<Vec<f32>> = x.to_vec2().unwrap();
        let rows: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        net.fit_to_inputs(&rows).unwrap();
        let bytes = to_onnx(&net, &[]).unwrap();
        let report = check(&bytes, &net, &x, "random ids", true, TOLERANCE).unwrap();
        assert!(
            report.passed(),
            "{pair_slots} pair slots: {}",
            report.line()
        );
    }
}
