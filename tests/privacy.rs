//! Differential privacy (DP-SGD): each example's gradient against the batch's, clipping bounding
//! every step, BatchNorm refused with its reason, and private training of the sample data through
//! the CLI reporting ε per epoch and the guarantee in the run's record and in `strata evaluate`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use candle_core::{Device, Tensor};
use common::graphs::{chain, dense, network, rng};
use common::{strata, text};
use rand::Rng;
use strata::data::Batch;
use strata::engine::privacy::{per_example_gradients, PrivacySettings, PrivatePlan};
use strata::engine::{batch_loss, Optimizer, OptimizerConfig};
use strata::layers::BatchNorm;
use strata::model::{Activation, Layer};
use strata::project::{LossKind, OptimizerKind};

fn small_batch() -> Batch {
    let mut r = rng(7);
    let values: Vec<f32> = (0..5 * 7).map(|_| r.random_range(-1.0..1.0)).collect();
    Batch {
        inputs: Tensor::from_vec(values, (5, 7), &Device::Cpu).unwrap(),
        labels: Tensor::new(&[0u32, 2, 1, 1, 0], &Device::Cpu).unwrap(),
    }
}

fn weights(net: &strata::engine::Network) -> Vec<f32> {
    net.vars()
        .iter()
        .filter(|v| v.trainable)
        .flat_map(|v| {
            v.var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

#[test]
fn per_example_gradients_add_up_to_the_batch_gradient() {
    let graph = chain(
        &[7],
        vec![dense(6, Activation::Tanh), dense(3, Activation::Softmax)],
    );
    let net = network(&graph);
    let batch = small_batch();
    let each = per_example_gradients(&net, &batch, LossKind::CrossEntropy, 3, &mut rng(1)).unwrap();
    assert_eq!(each.len(), 5);
    // The batch loss is the mean over its examples: its gradient is the mean of theirs.
    let out = net.forward(&batch.inputs, true, &mut rng(1)).unwrap();
    let loss = batch_loss(&out, &batch.labels, LossKind::CrossEntropy, 3).unwrap();
    let whole = loss.backward().unwrap();
    for v in net.vars().iter().filter(|v| v.trainable) {
        let t = v.var.as_tensor();
        let want = (whole.get(t).unwrap() * 5.0).unwrap();
        let mut sum = each[0].0.get(t).unwrap().clone();
        for (g, _, _) in &each[1..] {
            sum = (sum + g.get(t).unwrap()).unwrap();
        }
        let diff = (sum - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{}: {diff}", v.name);
        // And one example's gradient is not the batch's.
        let one = each[0].0.get(t).unwrap();
        let apart = (one - whole.get(t).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(apart > 1e-6, "{}", v.name);
    }
}

#[test]
fn clipping_bounds_every_step_and_noise_moves_the_weights() {
    let graph = chain(
        &[7],
        vec![dense(6, Activation::Relu), dense(3, Activation::Softmax)],
    );
    let batch = small_batch();
    let step = |sigma: f64| {
        let net = network(&graph);
        let plan = PrivatePlan {
            sigma,
            clip: 0.01,
            delta: 1e-5,
            q: 0.05,
            samples: 100,
            steps_per_epoch: 20,
            target: None,
        };
        let mut optimizer = Optimizer::for_network(
            OptimizerConfig {
                kind: OptimizerKind::Sgd,
                lr: 1.0,
                l1: 0.0,
                l2: 0.0,
            },
            &net,
        );
        let before = weights(&net);
        let result = plan
            .step(
                &net,
                &mut optimizer,
                &batch,
                LossKind::CrossEntropy,
                3,
                &mut rng(2),
            )
            .unwrap();
        assert!(result.loss.is_finite());
        let after = weights(&net);
        before
            .iter()
            .zip(&after)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    // Five examples, each clipped to 0.01, over an expected batch of 5, at learning rate 1:
    // the step is at most 0.01 long.
    let quiet = step(1e-9);
    assert!(quiet > 0.0 && quiet <= 0.01 + 1e-6, "step {quiet}");
    // Noise σ = 1 over 57 weights adds about √57 · 0.01 / 5 ≈ 0.015.
    let noisy = step(1.0);
    assert!(noisy > quiet, "noisy {noisy} vs {quiet}");
}

#[test]
fn batch_norm_is_refused_with_the_reason() {
    let graph = chain(
        &[7],
        vec![
            dense(6, Activation::Relu),
            Layer::BatchNorm(BatchNorm {
                momentum: 0.1,
                epsilon: 1e-5,
            }),
            dense(3, Activation::Softmax),
        ],
    );
    let err = PrivatePlan::new(&PrivacySettings::default(), &graph, 100, 10, 5).unwrap_err();
    assert!(err.contains("BatchNorm") && err.contains("leak"), "{err}");
    // A budget that cannot be met says what to change.
    let graph = chain(&[7], vec![dense(3, Activation::Softmax)]);
    let tiny = PrivacySettings {
        target_epsilon: Some(1e-4),
        ..Default::default()
    };
    let err = PrivatePlan::new(&tiny, &graph, 100, 50, 500).unwrap_err();
    assert!(err.contains("cannot be reached"), "{err}");
}

fn epsilons(stdout: &[u8]) -> Vec<f64> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "epoch")
        .map(|e| e["epsilon"].as_f64().expect("epoch events carry epsilon"))
        .collect()
}

#[test]
fn private_training_reports_epsilon_and_the_guarantee() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("shapes.strata");
    let p = project.to_str().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/shapes");
    let o = strata(&[
        "new",
        p,
        "--data",
        data.to_str().unwrap(),
        "--template",
        "cnn",
        "--image-size",
        "28x28",
        "--seed",
        "2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // A target ε: the noise is chosen to stay within it.
    let o = strata(&[
        "train",
        p,
        "--epochs",
        "8",
        "--batch-size",
        "32",
        "--lr",
        "0.003",
        "--dp-epsilon",
        "8",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let eps = epsilons(&o.stdout);
    assert_eq!(eps.len(), 8);
    assert!(eps.windows(2).all(|w| w[0] < w[1]), "{eps:?}");
    assert!(eps[7] <= 8.0 && eps[7] > 7.0, "{eps:?}");
    let o = strata(&["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!((report["privacy"]["epsilon"].as_f64().unwrap() - eps[7]).abs() < 1e-9);
    // Private training still learns the four shapes (chance is 0.25; 0.48 seen).
    assert!(report["accuracy"].as_f64().unwrap() > 0.35, "{report}");
    let o = strata(&["evaluate", p]);
    assert!(
        text(&o).contains("Trained with differential privacy: ε ="),
        "{}",
        text(&o)
    );
    // A noise multiplier instead: ε follows from it; more noise spends less.
    let o = strata(&[
        "train",
        p,
        "--epochs",
        "4",
        "--batch-size",
        "32",
        "--dp-noise",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let quieter = epsilons(&o.stdout);
    assert!(quieter[3] < eps[3], "{quieter:?} vs {eps:?}");
}
