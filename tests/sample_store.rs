//! The sample store on real files: pictures, clips, token ids and table rows read back bit for
//! bit as prepared, only changed files prepared again, a store cut short rebuilt with a note, the
//! data folder never written to, and training that gives the same weights with and without the
//! store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{assert_same_weights, only_run, text, weights};
use strata::data::{
    import_audio_folder, import_image_folder, read_text_folder, ImageDataset, ImportOptions,
    TextDataset, Vocabulary,
};

fn sample_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample_data")
        .join(name)
}

/// A copy of sample folder `name` (two classes, `per_class` files each) in `dir`.
fn copy_of(name: &str, dir: &Path, per_class: usize) -> PathBuf {
    let root = dir.join(name);
    let source = sample_data(name);
    let mut classes: Vec<PathBuf> = std::fs::read_dir(&source)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    for class in classes.iter().take(2) {
        let target = root.join(class.file_name().unwrap());
        std::fs::create_dir_all(&target).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(class)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files.iter().take(per_class) {
            std::fs::copy(file, target.join(file.file_name().unwrap())).unwrap();
        }
    }
    root
}

fn assert_same_samples(stored: &ImageDataset, memory: &ImageDataset) {
    assert!(stored.stored.is_some(), "the store was not used");
    assert!(stored.pixels.is_empty());
    assert!(memory.stored.is_none());
    assert_eq!(stored.len(), memory.len());
    assert_eq!(stored.labels, memory.labels);
    assert_eq!(stored.paths, memory.paths);
    assert_eq!(stored.classes, memory.classes);
    for i in 0..memory.len() {
        assert_eq!(stored.sample(i), memory.sample(i), "sample {i}");
    }
}

/// Every file's bytes and modification time under `root`.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let meta = e.metadata().unwrap();
            (
                e.path().to_owned(),
                std::fs::read(e.path()).unwrap(),
                meta.modified().unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn store_file(cache: &Path) -> PathBuf {
    std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "samples"))
        .expect("a store file")
}

#[test]
fn pictures_round_trip_changed_files_are_read_again_and_a_cut_store_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let root = copy_of("shapes", dir.path(), 12);
    let cache = dir.path().join("cache");
    let options = ImportOptions {
        width: 20,
        height: 16,
        channels: 3,
    };
    let before = snapshot(&root);
    let (memory, _) = import_image_folder(&root, &options, None, None, None).unwrap();
    let (first, report) = import_image_folder(&root, &options, Some(&cache), None, None).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_same_samples(&first, &memory);
    // Opened again: the same samples, the store not grown (nothing decoded into new records).
    let size = std::fs::metadata(store_file(&cache)).unwrap().len();
    assert_eq!(size, 24 * 3 * 16 * 20);
    let (again, _) = import_image_folder(&root, &options, Some(&cache), None, None).unwrap();
    assert_same_samples(&again, &memory);
    assert_eq!(std::fs::metadata(store_file(&cache)).unwrap().len(), size);
    assert_eq!(snapshot(&root), before, "the data folder was written to");

    // One picture replaced by another class's: only it is decoded again, into a new record.
    let classes: Vec<&str> = memory.classes.iter().map(String::as_str).collect();
    let changed = &memory.paths[0];
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::copy(&memory.paths[memory.len() - 1], changed).unwrap();
    let (memory_after, _) = import_image_folder(&root, &options, None, None, None).unwrap();
    let (after, _) = import_image_folder(&root, &options, Some(&cache), None, None).unwrap();
    assert_same_samples(&after, &memory_after);
    assert_eq!(after.sample(0), memory.sample(memory.len() - 1));
    assert_eq!(
        std::fs::metadata(store_file(&cache)).unwrap().len(),
        size + 3 * 16 * 20,
        "only the changed picture should be added ({classes:?})"
    );
    // The data set opened before the change still reads what it imported.
    assert_same_samples(&again, &memory);

    // Cut short (a crash, a full disk): prepared again, with a note.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(store_file(&cache))
        .unwrap();
    file.set_len(size / 2).unwrap();
    drop(file);
    let (rebuilt, report) = import_image_folder(&root, &options, Some(&cache), None, None).unwrap();
    assert!(
        report.warnings.iter().any(|w| w.contains("cut short")),
        "{:?}",
        report.warnings
    );
    assert_same_samples(&rebuilt, &memory_after);
    // A different size is a different store; both stay.
    let small = ImportOptions {
        width: 8,
        height: 8,
        channels: 1,
    };
    let (memory_small, _) = import_image_folder(&root, &small, None, None, None).unwrap();
    let (stored_small, _) = import_image_folder(&root, &small, Some(&cache), None, None).unwrap();
    assert_same_samples(&stored_small, &memory_small);
    let stores = std::fs::read_dir(&cache)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "samples")
        })
        .count();
    assert_eq!(stores, 2);
    assert_eq!(strata::data::store::usage(&cache).folders, 1, "one folder");
}

#[test]
fn clips_round_trip_with_their_lengths_and_rates() {
    let dir = tempfile::tempdir().unwrap();
    let root = copy_of("words", dir.path(), 4);
    let cache = dir.path().join("cache");
    let options = strata::workflow::audio_options(&strata::project::AudioSettings::default());
    let (memory, _) = import_audio_folder(&root, &options, None, None, None).unwrap();
    let (stored, _) = import_audio_folder(&root, &options, Some(&cache), None, None).unwrap();
    assert_same_samples(&stored.images, &memory.images);
    assert_eq!(stored.durations, memory.durations);
    assert_eq!(stored.sample_rates, memory.sample_rates);
    let (again, _) = import_audio_folder(&root, &options, Some(&cache), None, None).unwrap();
    assert_same_samples(&again.images, &memory.images);
    assert_eq!(again.durations, memory.durations);
}

/// A project made by `strata new PROJECT new_args` and `edit`ed, trained for 2 epochs, reopened
/// (`strata import` reads its data as opening it does) and evaluated, with its caches in `cache`
/// and the sample store `on` or `off`: the run's weights, evaluate's output and the reopened
/// data's sample count. Checks the store is used only when on and that reopening prepares
/// nothing into it again.
fn train_reopen_evaluate(
    project: &Path,
    cache: &Path,
    store: &str,
    new_args: &[&str],
    edit: impl FnOnce(&Path),
) -> (
    std::collections::HashMap<String, candle_core::Tensor>,
    String,
    u64,
) {
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(args)
            .env("STRATA_CACHE_DIR", cache)
            .env("STRATA_SAMPLE_STORE", store)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        o
    };
    let p = project.to_str().unwrap();
    run(&[&["new", p][..], new_args].concat());
    edit(project);
    run(&["train", p, "--epochs", "2"]);
    let kept = strata::data::store::usage(&cache.join("samples"));
    assert_eq!(
        kept.folders,
        usize::from(store == "on"),
        "{new_args:?}: {kept:?}"
    );
    let o = run(&["import", p, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(strata::data::store::usage(&cache.join("samples")), kept);
    let o = run(&["evaluate", p]);
    (
        weights(&only_run(project)),
        text(&o),
        report["samples"].as_u64().unwrap_or(0),
    )
}

/// The store is what `strata` uses; training reads the same pixels from it, so the weights are
/// the same bit for bit as with the pictures in memory (`STRATA_SAMPLE_STORE=off`).
#[test]
fn training_from_the_store_gives_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let root = copy_of("shapes", dir.path(), 20);
    let mut trained = Vec::new();
    for store in ["on", "off"] {
        let project = dir.path().join(format!("store-{store}.strata"));
        let cache = dir.path().join(format!("cache-{store}"));
        let new_args = [
            "--data",
            root.to_str().unwrap(),
            "--template",
            "cnn",
            "--image-size",
            "16x16",
        ];
        // With augmentation, so both ways of making a batch read from the store.
        let with_flips = |project: &Path| {
            let mut settings: serde_json::Value =
                serde_json::from_slice(&std::fs::read(project).unwrap()).unwrap();
            settings["data"]["augmentation"]["flip_horizontal"] = true.into();
            std::fs::write(project, serde_json::to_vec(&settings).unwrap()).unwrap();
        };
        let (w, evaluated, samples) =
            train_reopen_evaluate(&project, &cache, store, &new_args, with_flips);
        assert_eq!(samples, 40);
        trained.push((w, evaluated));
    }
    let ((a, eval_a), (b, eval_b)) = (&trained[0], &trained[1]);
    assert_same_weights(a, b);
    let accuracy = |o: &str| {
        o.lines()
            .find(|l| l.contains("ccuracy"))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert_eq!(accuracy(eval_a), accuracy(eval_b));
}

fn assert_same_texts(stored: &TextDataset, memory: &TextDataset) {
    assert!(stored.ids.is_stored(), "the store was not used");
    assert!(!memory.ids.is_stored());
    assert_eq!(stored.len(), memory.len());
    assert_eq!(stored.token_counts, memory.token_counts);
    assert_eq!(stored.unknown_tokens, memory.unknown_tokens);
    let bits = |t: &TextDataset, i| t.row(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for i in 0..memory.len() {
        assert_eq!(bits(stored, i), bits(memory, i), "text {i}");
        assert_eq!(stored.row(i).len(), memory.vocab.length);
    }
}

/// A folder of texts: each file's token ids in the store, only a changed file encoded again, a
/// cut store rebuilt with a note, another vocabulary another store.
#[test]
fn texts_round_trip_and_only_changed_files_are_encoded_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("reviews");
    let cache = dir.path().join("cache");
    for (class, words) in [("good", "great fine lovely"), ("bad", "awful poor dull")] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..6 {
            let text = format!("{words} number {i} {}", "again ".repeat(i));
            std::fs::write(root.join(class).join(format!("{i}.txt")), text).unwrap();
        }
    }
    let before = snapshot(&root);
    // The vocabulary of the texts as first read, kept while one of them changes (as a trained
    // model's is when it evaluates new texts).
    let vocab = Vocabulary::fit(
        read_text_folder(&root)
            .unwrap()
            .texts
            .iter()
            .map(String::as_str),
        strata::project::TokenizerKind::Words,
        100,
        8,
    );
    let import = |store: Option<&Path>, length: usize| {
        let raw = read_text_folder(&root).unwrap();
        let vocab = Vocabulary {
            length,
            ..vocab.clone()
        };
        TextDataset::stored(raw, vocab, store).unwrap()
    };
    let memory = import(None, 8);
    let stored = import(Some(&cache), 8);
    assert!(stored.raw.warnings.is_empty(), "{:?}", stored.raw.warnings);
    assert_same_texts(&stored, &memory);
    let size = std::fs::metadata(store_file(&cache)).unwrap().len();
    assert_eq!(size, 12 * 8 * 4);
    let again = import(Some(&cache), 8);
    assert_same_texts(&again, &memory);
    assert_eq!(std::fs::metadata(store_file(&cache)).unwrap().len(), size);
    assert_eq!(snapshot(&root), before, "the data folder was written to");

    // One text rewritten: only it is encoded again, into one new record.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(root.join("good/3.txt"), "dull poor number again").unwrap();
    let memory_after = import(None, 8);
    let after = import(Some(&cache), 8);
    assert_same_texts(&after, &memory_after);
    assert_eq!(
        std::fs::metadata(store_file(&cache)).unwrap().len(),
        size + 8 * 4
    );

    // Cut short: encoded again, with a note.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(store_file(&cache))
        .unwrap();
    file.set_len(size / 2 + 1).unwrap();
    drop(file);
    let rebuilt = import(Some(&cache), 8);
    assert!(
        rebuilt.raw.warnings.iter().any(|w| w.contains("cut short")),
        "{:?}",
        rebuilt.raw.warnings
    );
    assert_same_texts(&rebuilt, &memory_after);
    // Another sequence length is another store.
    let longer = import(Some(&cache), 12);
    assert_same_texts(&longer, &import(None, 12));
    assert_eq!(strata::data::store::usage(&cache).folders, 1);
}

/// Tables and texts from CSV files through `strata`, with the store and without: the same
/// weights and figures, the store reused when the project is opened again.
#[test]
fn tables_and_texts_train_the_same_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data");
    for data in ["houses.csv", "messages.csv"] {
        let mut trained = Vec::new();
        for store in ["on", "off"] {
            let project = dir.path().join(format!("{data}-{store}.strata"));
            let cache = dir.path().join(format!("cache-{data}-{store}"));
            let csv = samples.join(data);
            let (w, evaluated, _) = train_reopen_evaluate(
                &project,
                &cache,
                store,
                &["--data", csv.to_str().unwrap()],
                |_| {},
            );
            trained.push((w, evaluated));
        }
        let ((a, eval_a), (b, eval_b)) = (&trained[0], &trained[1]);
        assert_same_weights(a, b);
        let figures = |o: &str| {
            o.lines()
                .filter(|l| l.contains("ccuracy") || l.contains("R²") || l.contains("error"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert!(!figures(eval_a).is_empty(), "{data}: {eval_a}");
        assert_eq!(figures(eval_a), figures(eval_b), "{data}");
    }
}
