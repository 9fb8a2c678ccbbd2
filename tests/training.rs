//! The training loop: it learns, repeats exactly with the same seed, reports every step as events,
//! honours cancellation and early stopping, and covers per-sample, mini-batch and full-batch SGD.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Mutex;

use strata::data::{stratified_split, ImageDataset};
use strata::engine::{self, CancelToken, PreparedData, RunOutcome, TrainEvent};
use strata::model;
use strata::project::{DataSettings, OptimizerKind, Project};

/// Two classes of 8×8 images: a bright bar on the left half or on the right half, with noise.
fn bars(n_per_class: usize) -> ImageDataset {
    let mut ds = ImageDataset {
        classes: vec!["left".into(), "right".into()],
        channels: 1,
        height: 8,
        width: 8,
        ..ImageDataset::default()
    };
    let mut state = 12345u32;
    let mut noise = || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        ((state >> 16) % 60) as u8
    };
    for label in 0..2 {
        for i in 0..n_per_class {
            let col = if label == 0 { i % 4 } else { 4 + i % 4 };
            for _y in 0..8 {
                for x in 0..8 {
                    ds.pixels
                        .push(if x == col { 200 + noise() / 2 } else { noise() });
                }
            }
            ds.labels.push(label);
            ds.paths.push(format!("{label}/{i}.png").into());
        }
    }
    ds
}

fn prepared(n: usize) -> PreparedData {
    let dataset = bars(n);
    let split = stratified_split(&dataset.labels, 0.2, 0.0, 1);
    PreparedData {
        dataset: std::sync::Arc::new(strata::data::Dataset::Images(dataset)),
        split,
    }
}

fn project(dir: &Path) -> Project {
    let mut p = Project::new(
        DataSettings {
            source: strata::project::Source::Image(strata::project::ImageSettings {
                width: 8,
                height: 8,
                channels: 1,
            }),
            ..DataSettings::new(dir.join("data"), strata::project::DataKind::Image)
        },
        model::mlp(&[1, 8, 8], 2),
    );
    p.training.epochs = 8;
    p.training.batch_size = 16;
    p.training.lr = 0.01;
    p
}

fn run(
    p: &Project,
    dir: &Path,
    data: &PreparedData,
    cancel: &CancelToken,
) -> (RunOutcome, Vec<TrainEvent>) {
    let events = Mutex::new(Vec::new());
    let sink = |e: TrainEvent| events.lock().unwrap().push(e);
    let outcome = engine::train(p, &dir.join("t.strata"), data, &sink, cancel);
    (outcome, events.into_inner().unwrap())
}

fn epochs(events: &[TrainEvent]) -> Vec<engine::EpochMetrics> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Epoch(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn learns_and_reports_events_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(60);
    let (outcome, events) = run(&project(dir.path()), dir.path(), &data, &CancelToken::new());
    assert!(
        matches!(outcome, RunOutcome::Finished { .. }),
        "{outcome:?}"
    );
    assert!(
        matches!(
            events[0],
            TrainEvent::Started {
                train_samples: 96,
                val_samples: 24,
                ..
            }
        ),
        "{:?}",
        events[0]
    );
    assert!(matches!(
        events.last(),
        Some(TrainEvent::Finished { epochs_run: 8, .. })
    ));
    assert!(events.iter().any(|e| matches!(e, TrainEvent::Batch(_))));
    assert!(events
        .iter()
        .any(|e| matches!(e, TrainEvent::Checkpoint { best: true, .. })));
    let m = epochs(&events);
    assert_eq!(m.len(), 8);
    assert!(m[7].val_accuracy.unwrap() >= 0.95, "{:?}", m[7]);
    assert!(m[7].train_loss < m[0].train_loss);
    // The best checkpoint loads and predicts as well as training reported.
    let RunOutcome::Finished { run_dir, .. } = outcome else {
        unreachable!()
    };
    let trained = engine::TrainedModel::load(&run_dir, &candle_core::Device::Cpu).unwrap();
    assert_eq!(trained.manifest.classes, vec!["left", "right"]);
    let probs = engine::predict(
        &trained.network,
        &data.dataset,
        &data.split.val,
        trained.manifest.training.loss,
        7,
    )
    .unwrap();
    let correct = probs
        .iter()
        .zip(&data.split.val)
        .filter(|(p, &i)| strata::eval::argmax(p).0 == data.dataset.labels()[i])
        .count();
    assert!(correct as f64 / data.split.val.len() as f64 >= 0.95);
    // Small batches run side by side on the threads; the samples keep their order: the same
    // probabilities as one sample at a time.
    let one_by_one = engine::predict(
        &trained.network,
        &data.dataset,
        &data.split.val,
        trained.manifest.training.loss,
        1,
    )
    .unwrap();
    assert_eq!(one_by_one.len(), probs.len());
    for (a, b) in probs.iter().zip(&one_by_one) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} against {b:?}");
        }
    }
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(30);
    let mut p = project(dir.path());
    p.training.epochs = 2;
    p.data.augmentation.max_shift = 0.1;
    p.model = model::Graph {
        nodes: {
            let mut n = model::mlp(&[1, 8, 8], 2).nodes;
            n.insert(
                3,
                model::Node::new(
                    "drop",
                    model::Layer::Dropout(strata::layers::Dropout { rate: 0.3 }),
                    &["dense1"],
                ),
            );
            n[4].inputs = vec!["drop".into()];
            n
        },
    };
    let a = epochs(&run(&p, dir.path(), &data, &CancelToken::new()).1);
    let b = epochs(&run(&p, dir.path(), &data, &CancelToken::new()).1);
    assert_eq!(
        a.iter().map(|m| m.train_loss).collect::<Vec<_>>(),
        b.iter().map(|m| m.train_loss).collect::<Vec<_>>()
    );
    assert_eq!(
        a.iter().map(|m| m.val_loss).collect::<Vec<_>>(),
        b.iter().map(|m| m.val_loss).collect::<Vec<_>>()
    );
    p.training.seed = 99;
    let c = epochs(&run(&p, dir.path(), &data, &CancelToken::new()).1);
    assert_ne!(a[0].train_loss, c[0].train_loss);
}

#[test]
fn cancel_stops_with_a_cancelled_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(30);
    let cancel = CancelToken::new();
    cancel.cancel("the user pressed Stop");
    let (outcome, events) = run(&project(dir.path()), dir.path(), &data, &cancel);
    assert_eq!(outcome, RunOutcome::Cancelled);
    match events.last() {
        Some(TrainEvent::Cancelled { message }) => assert_eq!(message, "the user pressed Stop"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn early_stopping_ends_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(30);
    let mut p = project(dir.path());
    // A learning rate so high the validation loss cannot keep improving.
    p.training.lr = 0.5;
    p.training.optimizer = OptimizerKind::Adam;
    p.training.epochs = 40;
    p.training.early_stopping_patience = Some(2);
    let (_, events) = run(&p, dir.path(), &data, &CancelToken::new());
    let finished = events.iter().find_map(|e| match e {
        TrainEvent::Finished {
            epochs_run,
            stopped_early,
            best_epoch,
            ..
        } => Some((*epochs_run, *stopped_early, *best_epoch)),
        _ => None,
    });
    let (epochs_run, stopped_early, best_epoch) = finished.unwrap_or_else(|| panic!("{events:?}"));
    assert!(stopped_early && epochs_run < 40, "{events:?}");
    assert_eq!(epochs_run, best_epoch + 2);
}

#[test]
fn per_sample_mini_batch_and_full_batch_sgd_all_learn() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(40);
    for (optimizer, batch, lr, epochs_n) in [
        (OptimizerKind::Sgd, 1, 0.01, 3),      // per-sample SGD
        (OptimizerKind::Momentum, 8, 0.02, 6), // mini-batch with momentum
        (OptimizerKind::Sgd, 10_000, 0.5, 40), // full-batch gradient descent
        (OptimizerKind::AdamW, 16, 0.01, 8),
    ] {
        let mut p = project(dir.path());
        p.training.optimizer = optimizer;
        p.training.batch_size = batch;
        p.training.lr = lr;
        p.training.epochs = epochs_n;
        let (outcome, events) = run(&p, dir.path(), &data, &CancelToken::new());
        assert!(
            matches!(outcome, RunOutcome::Finished { .. }),
            "{optimizer:?}: {outcome:?}"
        );
        if let Some(TrainEvent::Started {
            batches_per_epoch, ..
        }) = events.first()
        {
            let expected = if batch == 1 {
                64
            } else {
                64usize.div_ceil(batch.min(64))
            };
            assert_eq!(*batches_per_epoch, expected, "{optimizer:?} batch {batch}");
        }
        let m = epochs(&events);
        let acc = m.last().unwrap().val_accuracy.unwrap();
        assert!(
            acc >= 0.9,
            "{optimizer:?} batch {batch}: val accuracy {acc}"
        );
    }
}

#[test]
fn mistakes_in_the_setup_fail_with_a_message_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(10);
    let mut p = project(dir.path());
    p.model = model::mlp(&[1, 8, 8], 3);
    let (outcome, events) = run(&p, dir.path(), &data, &CancelToken::new());
    let RunOutcome::Failed(message) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(message.contains("set its units to 2"), "{message}");
    assert!(matches!(events.last(), Some(TrainEvent::Failed { .. })));

    p.model = model::mlp(&[3, 8, 8], 2);
    let (outcome, _) = run(&p, dir.path(), &data, &CancelToken::new());
    assert!(matches!(outcome, RunOutcome::Failed(m) if m.contains("Input expects 3×8×8")));
}

#[test]
fn a_panic_inside_the_run_becomes_a_failed_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(10);
    let events = Mutex::new(Vec::new());
    // A sink that panics on the first event stands in for any bug inside the worker.
    let sink = |e: TrainEvent| {
        let first = events.lock().unwrap().is_empty();
        events.lock().unwrap().push(e);
        if first {
            panic!("boom");
        }
    };
    let outcome = engine::train(
        &project(dir.path()),
        &dir.path().join("t.strata"),
        &data,
        &sink,
        &CancelToken::new(),
    );
    let RunOutcome::Failed(message) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(message.contains("internal error (boom)"), "{message}");
    let events = events.into_inner().unwrap();
    assert!(
        matches!(events.last(), Some(TrainEvent::Failed { .. })),
        "{events:?}"
    );
}

#[test]
fn an_interrupted_run_resumes_exactly_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(40);
    let mut p = project(dir.path());
    p.training.epochs = 6;
    p.training.optimizer = OptimizerKind::Adam;
    p.training.lr = 0.003;
    // Every kind of state a run carries: convolution weights, batch-norm running statistics,
    // dropout draws, Adam's moments.
    let node = |name: &str, layer, from: &str| model::Node::new(name, layer, &[from]);
    let mut nodes = model::mlp(&[1, 8, 8], 2).nodes;
    nodes.truncate(1);
    nodes.extend([
        node(
            "conv",
            model::Layer::Conv2d(strata::layers::Conv2d {
                filters: 4,
                kernel: 3,
                stride: 1,
                padding: model::Padding::Same,
                activation: model::Activation::Relu,
            }),
            "input",
        ),
        node(
            "norm",
            model::Layer::BatchNorm(strata::layers::BatchNorm {
                momentum: 0.1,
                epsilon: 1e-5,
            }),
            "conv",
        ),
        node(
            "flatten",
            model::Layer::Flatten(strata::layers::Flatten {}),
            "norm",
        ),
        node(
            "dropout",
            model::Layer::Dropout(strata::layers::Dropout { rate: 0.3 }),
            "flatten",
        ),
        node(
            "output",
            model::Layer::Dense(strata::layers::Dense {
                units: 2,
                activation: model::Activation::Softmax,
            }),
            "dropout",
        ),
    ]);
    p.model = model::Graph { nodes };
    p.model.validate().unwrap();
    let (whole, events) = run(&p, dir.path(), &data, &CancelToken::new());
    let RunOutcome::Finished {
        run_dir: whole_dir, ..
    } = whole
    else {
        panic!("{whole:?}")
    };
    let expected = epochs(&events);
    assert_eq!(expected.len(), 6);

    // The same run, stopped during epoch 4 (as a kill or the Stop button would).
    let cancel = CancelToken::new();
    let events = Mutex::new(Vec::new());
    let sink = |e: TrainEvent| {
        if matches!(&e, TrainEvent::Epoch(m) if m.epoch == 3) {
            cancel.cancel("stopped by the test");
        }
        events.lock().unwrap().push(e);
    };
    let project_path = dir.path().join("t.strata");
    assert_eq!(
        engine::train(&p, &project_path, &data, &sink, &cancel),
        RunOutcome::Cancelled
    );
    let run_dir = events
        .into_inner()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            TrainEvent::Started { run_dir, .. } => Some(run_dir.clone()),
            _ => None,
        })
        .unwrap();
    let interrupted = engine::resume::interrupted(&run_dir).unwrap();
    assert_eq!(interrupted.state.epoch, 3);
    assert_eq!(
        engine::resume::latest_interrupted(&project_path).map(|(d, _)| d),
        Some(run_dir.clone())
    );

    // Resumed from the project as it is now (its settings edited meanwhile do not matter).
    let mut edited = p.clone();
    edited.training.lr = 0.5;
    edited.training.epochs = 2;
    let resumed = engine::resume_project(&edited, &interrupted);
    let events = Mutex::new(Vec::new());
    let sink = |e: TrainEvent| events.lock().unwrap().push(e);
    let outcome = engine::resume(
        &resumed,
        &project_path,
        &run_dir,
        &data,
        &sink,
        &CancelToken::new(),
    );
    assert!(
        matches!(outcome, RunOutcome::Finished { .. }),
        "{outcome:?}"
    );
    let events = events.into_inner().unwrap();
    assert!(matches!(
        events.first(),
        Some(TrainEvent::Started {
            resumed_from: 3,
            ..
        })
    ));
    let got = epochs(&events);
    assert_eq!(got.len(), 6);
    for (a, b) in expected.iter().zip(&got) {
        assert_eq!(a.epoch, b.epoch);
        // Bit-identical: the same data order, dropout and optimizer state.
        assert_eq!(
            a.train_loss.to_bits(),
            b.train_loss.to_bits(),
            "epoch {}",
            a.epoch
        );
        assert_eq!(a.val_loss.map(f64::to_bits), b.val_loss.map(f64::to_bits));
        assert_eq!(a.train_accuracy, b.train_accuracy);
    }
    for sub in ["last", "best"] {
        let read = |d: &Path| std::fs::read(d.join(sub).join("model.safetensors")).unwrap();
        assert!(read(&whole_dir) == read(&run_dir), "{sub} weights differ");
    }
    let metrics = engine::runs::read_metrics(&run_dir).unwrap();
    assert_eq!(metrics.len(), 6);
    // Finished now: nothing left to resume.
    assert!(engine::resume::interrupted(&run_dir).is_err());
    assert!(engine::resume::latest_interrupted(&project_path).is_none());
}
