//! The data check measured on real digits (BENCHMARKS.md §13): MNIST digits from the benchmark
//! CSV written as class folders, 5 % of them in a wrong class folder (seeded), and 100 test
//! images copied back into the folder — half resized to 40×40, half re-saved as JPEG. Prints how
//! many flipped labels the check ranks (precision, recall), how many copies it finds across the
//! split, and its false alarms on the clean folder.
//!
//! `cargo run --release --example audit_bench -- MNIST_CSV WORKDIR`

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use strata::audit::{self, AuditOptions};
use strata::project::{DataKind, DataSettings, ImageSettings, Project, Source};

const FLIPPED_SHARE: f64 = 0.05;
const COPIES: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(csv), Some(work)) = (args.next(), args.next()) else {
        return Err("usage: audit_bench MNIST_CSV WORKDIR".into());
    };
    let work = PathBuf::from(work);
    let digits = read_digits(Path::new(&csv))?;
    println!("{} digits read from {csv}", digits.len());

    // Clean folder: false alarms.
    let clean = work.join("clean");
    write_folder(&clean, &digits, &HashSet::new())?;
    let (found, secs) = run_audit(&clean)?;
    println!(
        "clean: {} images; {} duplicate pair(s) flagged ({:.2} % of images), {} label issue(s); checker {:.1} % out-of-fold; {secs:.1} s",
        found.samples,
        found.duplicate_pairs,
        100.0 * found.duplicate_pairs as f64 / found.samples as f64,
        found.label_issues.len(),
        100.0 * found.checker_accuracy.unwrap_or(0.0),
    );

    // Noisy folder: 5 % flipped, then copies of test images.
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let mut rows: Vec<usize> = (0..digits.len()).collect();
    rows.shuffle(&mut rng);
    let flipped: HashSet<usize> = rows
        .iter()
        .copied()
        .take((digits.len() as f64 * FLIPPED_SHARE) as usize)
        .collect();
    let noisy = work.join("noisy");
    let wrong = write_folder(&noisy, &digits, &flipped)?;
    let settings = settings(&noisy);
    let (prepared, _) = strata::workflow::prepare(&settings, None, None)?;
    let images = prepared.dataset.images().ok_or("not images")?;
    let mut planted = Vec::new();
    for &i in &prepared.split.test {
        if planted.len() == COPIES {
            break;
        }
        let path = &images.paths[i];
        let row: usize = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
            .ok_or("unexpected file name")?;
        if flipped.contains(&row) {
            continue;
        }
        let original = image::open(path)?.to_luma8();
        let folder = path.parent().ok_or("no folder")?;
        let copy = if planted.len() % 2 == 0 {
            let bigger =
                image::imageops::resize(&original, 40, 40, image::imageops::FilterType::Triangle);
            let p = folder.join(format!("copy_{row:05}.png"));
            bigger.save(&p)?;
            p
        } else {
            let p = folder.join(format!("copy_{row:05}.jpg"));
            let file = std::fs::File::create(&p)?;
            JpegEncoder::new_with_quality(file, 85).encode_image(&original)?;
            p
        };
        planted.push((key(&noisy, path), key(&noisy, &copy)));
    }
    let (found, secs) = run_audit(&noisy)?;
    // Labels: flipped samples in the training part.
    let (prepared, _) = strata::workflow::prepare(&settings, None, None)?;
    let images = prepared.dataset.images().ok_or("not images")?;
    let train_keys: HashSet<String> = prepared
        .split
        .train
        .iter()
        .map(|&i| key(&noisy, &images.paths[i]))
        .collect();
    let flipped_train: HashSet<&String> =
        wrong.iter().filter(|k| train_keys.contains(*k)).collect();
    let flagged: Vec<&String> = found.label_issues.iter().map(|l| &l.key).collect();
    let hits = flagged
        .iter()
        .filter(|k| flipped_train.contains(*k))
        .count();
    let top: Vec<&&String> = flagged.iter().take(flipped_train.len()).collect();
    let top_hits = top.iter().filter(|k| flipped_train.contains(**k)).count();
    println!(
        "noisy: {} images, {} flipped in training; flagged {} — precision {:.3}, recall {:.3}; top {}: precision {:.3}; checker {:.1} % out-of-fold; {secs:.1} s",
        found.samples,
        flipped_train.len(),
        flagged.len(),
        hits as f64 / flagged.len().max(1) as f64,
        hits as f64 / flipped_train.len().max(1) as f64,
        top.len(),
        top_hits as f64 / top.len().max(1) as f64,
        100.0 * found.checker_accuracy.unwrap_or(0.0),
    );
    // Copies: each planted pair found, and those across the split.
    let pairs: HashSet<(String, String)> = found
        .duplicates
        .iter()
        .flat_map(|d| {
            [
                (d.keys.0.clone(), d.keys.1.clone()),
                (d.keys.1.clone(), d.keys.0.clone()),
            ]
        })
        .collect();
    let leaks: HashSet<(String, String)> = found
        .duplicates
        .iter()
        .filter(|d| d.leaks())
        .flat_map(|d| {
            [
                (d.keys.0.clone(), d.keys.1.clone()),
                (d.keys.1.clone(), d.keys.0.clone()),
            ]
        })
        .collect();
    let parts = audit::parts(&prepared.split, images.len());
    let part_of = |k: &String| {
        images
            .paths
            .iter()
            .position(|p| key(&noisy, p) == *k)
            .and_then(|i| parts.get(i).copied())
    };
    let crossing: Vec<&(String, String)> = planted
        .iter()
        .filter(|(a, b)| part_of(a) != part_of(b))
        .collect();
    let found_all = planted.iter().filter(|p| pairs.contains(*p)).count();
    let found_crossing = crossing
        .iter()
        .filter(|(a, b)| leaks.contains(&(a.clone(), b.clone())))
        .count();
    if std::env::var("AUDIT_DEBUG").is_ok() {
        for (a, b) in &planted {
            let find = |k: &String| images.paths.iter().position(|p| key(&noisy, p) == *k);
            if let (Some(i), Some(j)) = (find(a), find(b)) {
                let (bits, r, diff) = audit::likeness(images, i, j);
                eprintln!(
                    "{a} {b}: {bits} bits, r {r:.4}, difference {diff:.4}, found {}",
                    pairs.contains(&(a.clone(), b.clone()))
                );
            }
        }
    }
    let other_pairs = found.duplicate_pairs.saturating_sub(found_all);
    println!(
        "copies: {found_all}/{} planted pairs found; {found_crossing}/{} of those across the split found as leaks; {other_pairs} other pair(s) flagged",
        planted.len(),
        crossing.len(),
    );
    Ok(())
}

fn settings(folder: &Path) -> DataSettings {
    DataSettings {
        source: Source::Image(ImageSettings {
            width: 28,
            height: 28,
            channels: 1,
        }),
        ..DataSettings::new(folder.to_owned(), DataKind::Image)
    }
}

fn run_audit(folder: &Path) -> Result<(audit::Audit, f64), Box<dyn std::error::Error>> {
    let settings = settings(folder);
    let (prepared, _) = strata::workflow::prepare(&settings, None, None)?;
    let fit = prepared.dataset.fit();
    let graph = strata::model::template("mlp", &fit).ok_or("no mlp template")?;
    let project = Project::new(settings.clone(), graph);
    let started = Instant::now();
    let found = audit::audit(
        &prepared.dataset,
        &prepared.split,
        folder,
        AuditOptions {
            folds: 5,
            seed: settings.split_seed,
        },
        audit::project_checker(&project, &prepared.dataset),
        None,
        None,
    )?;
    Ok((found, started.elapsed().as_secs_f64()))
}

fn key(root: &Path, path: &Path) -> String {
    strata::workflow::sample_key(root, &path.display().to_string())
}

/// A digit: 784 pixels and its label.
type Digit = (Vec<u8>, u8);

/// Rows of 784 pixels and a label.
fn read_digits(csv: &Path) -> Result<Vec<Digit>, Box<dyn std::error::Error>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(csv)?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record?;
        let pixels: Vec<u8> = record
            .iter()
            .take(784)
            .map(|v| v.trim().parse::<u8>())
            .collect::<Result<_, _>>()?;
        let label: u8 = record.get(784).unwrap_or("0").trim().parse()?;
        out.push((pixels, label));
    }
    Ok(out)
}

/// Writes every digit as `FOLDER/<class>/<row>.png`; rows in `flipped` go into another class's
/// folder (seeded). Returns the keys of the flipped files.
fn write_folder(
    folder: &Path,
    digits: &[Digit],
    flipped: &HashSet<usize>,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    if folder.exists() {
        std::fs::remove_dir_all(folder)?;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut wrong = Vec::new();
    for (row, (pixels, label)) in digits.iter().enumerate() {
        let class = if flipped.contains(&row) {
            (label + rng.random_range(1..10u8)) % 10
        } else {
            *label
        };
        let dir = folder.join(class.to_string());
        std::fs::create_dir_all(&dir)?;
        let img = image::GrayImage::from_raw(28, 28, pixels.clone()).ok_or("bad row")?;
        let path = dir.join(format!("{row:05}.png"));
        img.save(&path)?;
        if flipped.contains(&row) {
            wrong.push(key(folder, &path));
        }
    }
    Ok(wrong)
}
