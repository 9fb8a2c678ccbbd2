//! Texts end to end: CSV and folder importers on good and broken files (each bad row or file
//! reported, nothing panics), a vocabulary from the training texts only, a text CNN that really
//! learns on `sample_data/messages.csv`, and the CLI path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{strata, text};
use std::path::{Path, PathBuf};
use std::process::Command;

use strata::engine::{self, CancelToken, RunOutcome, TrainEvent};
use strata::model;
use strata::project::{DataKind, DataSettings, Project, TokenizerKind};
use strata::workflow;

fn messages() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/messages.csv")
}

fn settings(path: &Path) -> DataSettings {
    DataSettings {
        val_fraction: 0.2,
        test_fraction: 0.1,
        ..DataSettings::new(path.to_owned(), DataKind::Text)
    }
}

#[test]
fn csv_texts_with_bad_rows_reported_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(
        &csv,
        "\u{feff}id;review;sentiment\n\
         1;\"Good, really \"\"good\"\"\nfilm\";pos\n\
         2;;neg\n\
         3;Dull and slow;\n\
         4;Too long\n\
         5;Lovely;pos\n\
         6;\"Never closed;neg\n\
         7;Fine again;pos\n",
    )
    .unwrap();
    let (prepared, report) = workflow::prepare(&settings(&csv), None, None).unwrap();
    let texts = prepared.dataset.texts().unwrap();
    // The text column is found by name ("review"), the label by name ("sentiment").
    assert_eq!(
        texts.raw.columns,
        Some(("review".to_owned(), "sentiment".to_owned()))
    );
    // The row after the unclosed quote is read on its own, not swallowed.
    assert_eq!(
        texts.raw.texts,
        ["Good, really \"good\"\nfilm", "Lovely", "Fine again"]
    );
    let lines: Vec<usize> = report.skipped_rows.iter().map(|s| s.line).collect();
    assert_eq!(lines, [4, 5, 6, 8], "{:?}", report.skipped_rows);
    assert!(report.skipped_rows[0]
        .reason
        .contains("text ('review') is empty"));
    assert!(report.skipped_rows[1]
        .reason
        .contains("label ('sentiment') is empty"));
    assert!(report.skipped_rows[2].reason.contains("has 2 fields"));
    assert!(report.skipped_rows[3].reason.contains("never closed"));
    assert!(report.warnings.iter().any(|w| w.contains("only one class")));
    // Named columns that do not exist are refused by name.
    let mut s = settings(&csv);
    s.text_mut().unwrap().text_column = "body".to_owned();
    let err = workflow::prepare(&s, None, None).err().unwrap().to_string();
    assert!(err.contains("no column 'body'"), "{err}");
}

#[test]
fn class_folders_of_text_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    for class in ["ham", "spam"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..12 {
            std::fs::write(
                root.join(class).join(format!("{i}.txt")),
                format!("{class} message number {i}"),
            )
            .unwrap();
        }
    }
    let mut utf16 = vec![0xFF, 0xFE];
    for u in "win a prize".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    std::fs::write(root.join("spam/utf16.txt"), utf16).unwrap();
    std::fs::write(root.join("ham/latin1.txt"), b"caf\xe9 at noon").unwrap();
    std::fs::write(root.join("ham/empty.txt"), b"  \n").unwrap();
    std::fs::write(root.join("ham/binary.txt"), b"\x00\x01\x02abc").unwrap();
    std::fs::write(root.join("spam/photo.png"), b"\x89PNG").unwrap();
    std::fs::write(root.join("stray.txt"), b"not in a class").unwrap();
    let (prepared, report) = workflow::prepare(&settings(&root), None, None).unwrap();
    assert_eq!(prepared.dataset.classes(), ["ham", "spam"]);
    assert_eq!(prepared.dataset.len(), 26);
    let texts = prepared.dataset.texts().unwrap();
    assert!(texts.raw.texts.iter().any(|t| t == "win a prize"));
    assert!(texts.raw.texts.iter().any(|t| t == "café at noon"));
    let why = |name: &str| {
        report
            .skipped
            .iter()
            .find(|s| s.path.ends_with(name))
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{name} not reported: {:?}", report.skipped))
    };
    assert!(why("empty.txt").contains("empty"));
    assert!(why("binary.txt").contains("binary"));
    assert!(why("photo.png").contains("not a text file"));
    assert!(why("stray.txt").contains("not inside a class folder"));
    // The same folder is found to hold texts.
    assert_eq!(workflow::detect_kind(&root), DataKind::Text);
    assert_eq!(workflow::detect_kind(&messages()), DataKind::Text);
    let houses = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/houses.csv");
    assert_eq!(workflow::detect_kind(&houses), DataKind::Tabular);
}

#[test]
fn the_vocabulary_comes_from_training_texts_only() {
    let (prepared, _) = workflow::prepare(&settings(&messages()), None, None).unwrap();
    let texts = prepared.dataset.texts().unwrap();
    let vocab = &texts.vocab;
    let in_training: std::collections::HashSet<String> = prepared
        .split
        .train
        .iter()
        .flat_map(|&i| strata::data::tokenize(vocab.tokenizer, &texts.raw.texts[i]))
        .collect();
    assert!(vocab.tokens[2..].iter().all(|t| in_training.contains(t)));
    assert_eq!(vocab.tokens[vocab.pad_id], "<pad>");
    // New text data reads words and marks; automatic length: the 99th percentile of training
    // lengths for them (95th for words alone), at least 8.
    assert_eq!(vocab.tokenizer, TokenizerKind::WordsAndMarks);
    assert!((8..=20).contains(&vocab.length), "{}", vocab.length);
    assert_eq!(prepared.dataset.shape(), [vocab.length]);
    // Characters: a small vocabulary, longer sequences.
    let mut s = settings(&messages());
    s.text_mut().unwrap().tokenizer = TokenizerKind::Characters;
    let (chars, _) = workflow::prepare(&s, None, None).unwrap();
    let c = chars.dataset.texts().unwrap();
    assert!(c.vocab.size() < 60 && c.vocab.length > vocab.length * 3);
}

fn train(project: &Project, path: &Path, data: &engine::PreparedData) -> f64 {
    let best = std::sync::Mutex::new(None);
    let sink = |e: TrainEvent| {
        if let TrainEvent::Finished { best_accuracy, .. } = e {
            *best.lock().unwrap() = Some(best_accuracy);
        }
    };
    let outcome = engine::train(project, path, data, &sink, &CancelToken::new());
    assert!(
        matches!(outcome, RunOutcome::Finished { .. }),
        "{outcome:?}"
    );
    best.into_inner().unwrap().unwrap()
}

#[test]
fn the_text_cnn_learns_the_messages() {
    let dir = tempfile::tempdir().unwrap();
    let data = settings(&messages());
    let (prepared, _) = workflow::prepare(&data, None, None).unwrap();
    let graph = model::template("text-cnn", &prepared.dataset.fit()).unwrap();
    let mut project = Project::new(data, graph.clone());
    project.training.epochs = 12;
    let path = dir.path().join("messages.strata");
    let accuracy = train(&project, &path, &prepared);
    assert!(accuracy > 0.9, "validation accuracy {accuracy}");

    let trained = engine::TrainedModel::load(
        &engine::latest_run(&path).unwrap(),
        &engine::inference_device(),
    )
    .unwrap();
    let result = workflow::predict_texts(
        &trained,
        vec![
            "When will the kettle be back in stock?".to_owned(),
            "The lamp broke and support never answered.".to_owned(),
        ],
    )
    .unwrap();
    let said: Vec<&str> = result
        .predictions
        .iter()
        .map(|p| trained.manifest.classes[p.predicted].as_str())
        .collect();
    assert_eq!(said, ["question", "complaint"]);

    // The recurrent template learns them too.
    let lstm = model::template("text-lstm", &prepared.dataset.fit()).unwrap();
    let mut lstm_project = Project::new(settings(&messages()), lstm);
    lstm_project.training.epochs = 15;
    lstm_project.training.lr = 0.003;
    let accuracy = train(&lstm_project, &dir.path().join("lstm.strata"), &prepared);
    assert!(accuracy > 0.9, "LSTM validation accuracy {accuracy}");

    // An Embedding smaller than the vocabulary is refused with the fix.
    let mut small = project.clone();
    if let Some(node) = small.model.nodes.iter_mut().find(|n| n.name == "embedding") {
        node.layer = model::Layer::Embedding(strata::layers::Embedding { vocab: 5, dim: 8 });
    }
    let outcome = engine::train(
        &small,
        &path,
        &prepared,
        &|_e: TrainEvent| {},
        &CancelToken::new(),
    );
    match outcome {
        RunOutcome::Failed(m) => assert!(m.contains("set its vocabulary to"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cli_new_train_evaluate_predict_texts() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("messages.strata");
    let p = project.to_str().unwrap();
    let o = strata(&["new", p, "--data", messages().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("'text-tfidf' model (3 classes)"),
        "{}",
        text(&o)
    );
    let saved = Project::load(&project).unwrap();
    assert_eq!(saved.data.kind(), DataKind::Text);
    let found = saved.data.text().unwrap();
    assert_eq!(
        (found.text_column.as_str(), found.label_column.as_str()),
        ("text", "label")
    );
    assert!(found.sequence_length.unwrap() >= 8);

    let o = strata(&["train", p, "--epochs", "12"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["accuracy"].as_f64().unwrap() > 0.8, "{report}");

    let lines = dir.path().join("new.txt");
    std::fs::write(
        &lines,
        "Is the jacket waterproof?\n\nMy chair is wonderful, thank you.\n",
    )
    .unwrap();
    let o = strata(&["predict", p, lines.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let preds = out["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 2);
    assert!(preds[1]["source"]
        .as_str()
        .unwrap()
        .ends_with("new.txt line 3"));
    assert_eq!(preds[0]["class"], "question");

    // As ONNX: checked on the test texts; the vocabulary and sequence length travel inside.
    let onnx = dir.path().join("messages.onnx");
    let o = strata(&["export", p, "--out", onnx.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["checked_on"], "test samples", "{out}");
    assert_eq!(out["same_class"], out["checked_samples"], "{out}");
    let meta = common::onnx_metadata(&onnx);
    assert_eq!(meta["input.kind"], "text");
    assert_eq!(meta["text.tokenizer"], "words_and_marks");
    assert_eq!(
        meta["text.sequence_length"],
        found.sequence_length.unwrap().to_string()
    );
    let vocabulary: Vec<String> = serde_json::from_str(&meta["text.vocabulary"]).unwrap();
    assert!(vocabulary.iter().any(|t| t == "jacket"), "{vocabulary:?}");
}

#[test]
fn a_tokenizer_json_file_end_to_end() {
    // A WordPiece tokenizer.json whose vocabulary is the messages' words, as a pretrained model
    // would ship one.
    let dir = tempfile::tempdir().unwrap();
    let (words, _) = workflow::prepare(&settings(&messages()), None, None).unwrap();
    let mut vocab = serde_json::Map::new();
    for (i, t) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].iter().enumerate() {
        vocab.insert((*t).to_owned(), i.into());
    }
    for t in &words.dataset.texts().unwrap().vocab.tokens[2..] {
        let id = vocab.len();
        vocab.insert(t.clone(), id.into());
    }
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    });
    let file = dir.path().join("tokenizer.json");
    std::fs::write(&file, tokenizer.to_string()).unwrap();

    let project = dir.path().join("wp.strata");
    let p = project.to_str().unwrap();
    let o = strata(&[
        "new",
        p,
        "--data",
        messages().to_str().unwrap(),
        "--tokenizer-file",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["train", p, "--epochs", "12"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["accuracy"].as_f64().unwrap() > 0.8, "{report}");
    // The run keeps the tokenizer: predictions work after the file is gone.
    std::fs::remove_file(&file).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["predict", p, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Does the printer come in another colour?\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("question"));
}

#[test]
fn a_tokenizer_whose_template_uses_an_undefined_token_is_refused() {
    // Found by libFuzzer: the tokenizers crate panics when such a file first encodes a text.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions/tokenizer/panic-undefined-special-token.json");
    let err = strata::data::Vocabulary::from_tokenizer_file(&path, 16)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("without defining it"), "{err}");
    // And one whose decoder is not valid JSON (the crate panicked instead of saying so).
    let path = path.with_file_name("panic-invalid-json-in-decoder.json");
    let err = strata::data::Vocabulary::from_tokenizer_file(&path, 16)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cannot be read") || err.contains("can be read"),
        "{err}"
    );
}

/// The bag of words and word pairs as a new user picks it: the texts are read again as words and
/// marks, the word weights (idf) are counted on the training texts and saved with the run, it
/// learns the sample messages, and predictions of the saved model are those of the trained one.
#[test]
fn cli_text_tfidf_template_reads_words_and_marks_and_learns() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("tfidf.strata");
    let p = project.to_str().unwrap();
    let o = strata(&[
        "new",
        p,
        "--data",
        messages().to_str().unwrap(),
        "--template",
        "text-tfidf",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let saved = Project::load(&project).unwrap();
    let found = saved.data.text().unwrap();
    assert_eq!(found.tokenizer, TokenizerKind::WordsAndMarks);
    let kinds: Vec<&str> = saved
        .model
        .nodes
        .iter()
        .map(|n| n.layer.kind().label())
        .collect();
    assert_eq!(kinds, ["Input", "BagOfWords", "Dense"]);

    let o = strata(&["train", p, "--epochs", "40", "--lr", "0.01", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["evaluate", p, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["accuracy"].as_f64().unwrap() > 0.8, "{report}");

    // The idf was counted (not the 1.0 every slot starts at) and saved with the weights: common
    // words weigh less than rare ones.
    let run = engine::runs::model_run(&project, &Project::load(&project).unwrap()).unwrap();
    let weights = candle_core::safetensors::load(
        run.join(engine::runs::BEST_DIR)
            .join(engine::runs::WEIGHTS_FILE),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let idf = weights["bag_of_words.idf"].to_vec1::<f32>().unwrap();
    let (min, max) = idf
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(min >= 1.0 && max > min + 1.0, "idf from {min} to {max}");

    // Predictions come from the saved model (idf included): the same answer twice, and the
    // question read as a question.
    let lines = dir.path().join("new.txt");
    std::fs::write(&lines, "Is the jacket waterproof?\n").unwrap();
    let first = strata(&["predict", p, lines.to_str().unwrap(), "--json"]);
    assert!(first.status.success(), "{}", text(&first));
    let again = strata(&["predict", p, lines.to_str().unwrap(), "--json"]);
    assert_eq!(first.stdout, again.stdout);
    let out: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(out["predictions"][0]["class"], "question", "{out}");
}
