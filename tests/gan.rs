//! Image generation (GANs) through the `strata` binary: a conditional DCGAN really learns what
//! each class looks like (light and dark pictures), every epoch leaves its numbers and a sample
//! grid, `strata generate` writes the pictures asked for (per class, repeatable by seed), and
//! impossible requests are refused with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{strata, text};

/// Two classes of 8×8 grayscale pictures: light (about 220) and dark (about 30), with noise.
fn light_and_dark(root: &Path) {
    let mut seed = 12345u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 41) as i32 - 20
    };
    for (class, level) in [("light", 220), ("dark", 30)] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..120 {
            let img = image::GrayImage::from_fn(8, 8, |_, _| {
                image::Luma([(level + noise()).clamp(0, 255) as u8])
            });
            img.save(dir.join(format!("{class}_{i:03}.png"))).unwrap();
        }
    }
}

fn mean_level(dir: &Path) -> (usize, f64) {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let total: f64 = files
        .iter()
        .map(|f| {
            let img = image::open(f).unwrap().to_luma8();
            assert_eq!(img.dimensions(), (8, 8));
            img.pixels().map(|p| f64::from(p[0])).sum::<f64>() / 64.0
        })
        .sum();
    (files.len(), total / files.len().max(1) as f64)
}

#[test]
fn a_conditional_gan_learns_each_class_and_draws_it_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("levels");
    light_and_dark(&data);
    let project = dir.path().join("levels.strata");
    let p = project.to_str().unwrap();
    let o = strata(&[
        "new",
        p,
        "--data",
        data.to_str().unwrap(),
        "--template",
        "cdcgan",
        "--image-size",
        "8x8",
        "--seed",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("draws any of 2 classes"), "{}", text(&o));
    let o = strata(&["train", p, "--epochs", "8", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let epochs: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "epoch")
        .collect();
    assert_eq!(epochs.len(), 8);
    for e in &epochs {
        for key in ["d_loss", "g_loss", "d_real", "d_fake", "variety"] {
            assert!(e[key].as_f64().unwrap().is_finite(), "{key} in {e}");
        }
        let grid = Path::new(e["samples"].as_str().unwrap());
        assert!(grid.is_file(), "{}", grid.display());
    }

    // Pictures of each class, asked for by name: light ones light, dark ones dark.
    let out = dir.path().join("drawn");
    for class in ["light", "dark"] {
        let o = strata(&[
            "generate",
            p,
            "--count",
            "12",
            "--out",
            out.to_str().unwrap(),
            "--class",
            class,
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let (n_light, light) = mean_level(&out.join("light"));
    let (n_dark, dark) = mean_level(&out.join("dark"));
    assert_eq!((n_light, n_dark), (12, 12));
    assert!(
        light > dark + 80.0,
        "light pictures average {light:.0}, dark ones {dark:.0}"
    );

    // The same seed draws the same pictures; another seed others.
    let again = dir.path().join("again");
    let other = dir.path().join("other");
    for (folder, seed) in [(&again, "0"), (&other, "5")] {
        let o = strata(&[
            "generate",
            p,
            "--count",
            "4",
            "--out",
            folder.to_str().unwrap(),
            "--seed",
            seed,
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let first = |root: &Path| std::fs::read(root.join("dark/generated_00000.png")).unwrap();
    let o = strata(&[
        "generate",
        p,
        "--count",
        "4",
        "--out",
        dir.path().join("again2").to_str().unwrap(),
        "--seed",
        "0",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(first(&again), first(&dir.path().join("again2")));
    assert_ne!(first(&again), first(&other));

    // Refusals name the reason.
    let o = strata(&[
        "generate",
        p,
        "--out",
        out.to_str().unwrap(),
        "--class",
        "purple",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no class 'purple'"), "{}", text(&o));
}

#[test]
fn impossible_requests_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("levels");
    light_and_dark(&data);
    // A size the templates cannot make.
    let o = strata(&[
        "new",
        dir.path().join("odd.strata").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--template",
        "dcgan",
        "--image-size",
        "10x10",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("multiples of 4"), "{}", text(&o));
    // --class on a generator that is not told the class.
    let p = dir.path().join("plain.strata");
    let o = strata(&[
        "new",
        p.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--template",
        "dcgan",
        "--image-size",
        "8x8",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["train", p.to_str().unwrap(), "--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&[
        "generate",
        p.to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
        "--class",
        "light",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not told the class"), "{}", text(&o));
    // Exporting is for classifiers; a generator's pictures come from `generate`.
    let o = strata(&[
        "export",
        p.to_str().unwrap(),
        "--out",
        dir.path().join("g.onnx").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("strata generate"), "{}", text(&o));
    // An unconditional generator writes into the folder itself.
    let o = strata(&[
        "generate",
        p.to_str().unwrap(),
        "--count",
        "3",
        "--out",
        dir.path().join("plain-out").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_dir(dir.path().join("plain-out"))
            .unwrap()
            .count(),
        3
    );
}
