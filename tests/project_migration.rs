//! Format-version-1 projects (every kind's data settings in one flat list) open, keep every
//! choice, and are saved as version 2 (per-kind settings).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use strata::project::{DataKind, Project, Task, TokenizerKind, FORMAT_VERSION};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/projects")
        .join(name)
}

/// Opens `file`, saves it elsewhere and opens that again: the same project, now version 2.
fn round_trip(file: &Path) -> Project {
    let project = Project::load(file).unwrap();
    assert_eq!(project.format_version, FORMAT_VERSION);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved.strata");
    project.save(&saved).unwrap();
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains("\"format_version\": 2"), "{text}");
    assert!(text.contains("\"source\""), "{text}");
    assert!(!text.contains("image_width"), "{text}");
    let again = Project::load(&saved).unwrap();
    assert_eq!(again.data.source, project.data.source);
    assert_eq!(again.model, project.model);
    assert_eq!(again.training, project.training);
    project
}

#[test]
fn the_version_1_sample_project_opens_and_is_saved_as_version_2() {
    let project = round_trip(&fixture("shapes_v1.strata"));
    assert_eq!(project.data.kind(), DataKind::Image);
    let image = project.data.image().unwrap();
    assert_eq!((image.width, image.height, image.channels), (28, 28, 1));
    assert!(project.data.path.ends_with("sample_data/shapes"));
    assert!(
        project.data.path.is_dir(),
        "{}",
        project.data.path.display()
    );
    // The bundled sample is already version 2 and reads the same way.
    let current =
        Project::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/shapes.strata"))
            .unwrap();
    assert_eq!(current.data.source, project.data.source);
    assert_eq!(current.model, project.model);
}

/// A version-1 project of each other kind, as version 1 wrote them (every field present, with
/// the placeholder values of the kinds the data is not).
fn v1(kind: &str) -> String {
    format!(
        r#"{{
  "format_version": 1,
  "data": {{
    "path": "data",
    "kind": "{kind}",
    "target": "",
    "text_column": "",
    "tokenizer": "words",
    "tokenizer_file": "",
    "vocab_size": 20000,
    "sequence_length": 0,
    "task": "classify",
    "image_width": 28,
    "image_height": 28,
    "channels": 1,
    "clip_seconds": 1.0,
    "mel_bands": 40,
    "window_ms": 25.0,
    "hop_ms": 10.0,
    "mfcc": 0,
    "val_fraction": 0.2,
    "test_fraction": 0.1,
    "split_seed": 7,
    "augmentation": {{}}
  }},
  "model": {{ "nodes": [] }},
  "training": {{}}
}}"#
    )
}

#[test]
fn version_1_projects_of_every_kind_keep_their_choices() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        file
    };

    let table = write(
        "table.strata",
        v1("tabular")
            .replace(
                "\"target\": \"\",\n    \"text_column\"",
                "\"target\": \"price_k\",\n    \"text_column\"",
            )
            .replace("\"task\": \"classify\"", "\"task\": \"regress\""),
    );
    let project = round_trip(&table);
    assert_eq!(project.data.kind(), DataKind::Tabular);
    assert_eq!(project.data.task(), Task::Regress);
    assert_eq!(project.data.table().unwrap().target, "price_k");
    assert_eq!(
        (
            project.data.val_fraction,
            project.data.test_fraction,
            project.data.split_seed
        ),
        (0.2, 0.1, 7)
    );

    let texts = write(
        "texts.strata",
        v1("text")
            .replace("\"target\": \"\"", "\"target\": \"label\"")
            .replace("\"text_column\": \"\"", "\"text_column\": \"body\"")
            .replace("\"sequence_length\": 0", "\"sequence_length\": 48")
            .replace("\"tokenizer\": \"words\"", "\"tokenizer\": \"characters\""),
    );
    let project = round_trip(&texts);
    let text = project.data.text().unwrap();
    assert_eq!(
        (text.text_column.as_str(), text.label_column.as_str()),
        ("body", "label")
    );
    assert_eq!(text.sequence_length, Some(48));
    assert_eq!(text.tokenizer, TokenizerKind::Characters);
    assert_eq!(project.data.task(), Task::Classify);

    // Version 1's "0 = found on import" is version 2's "not set".
    let found = round_trip(&write("found.strata", v1("text")));
    assert_eq!(found.data.text().unwrap().sequence_length, None);

    let clips = write(
        "clips.strata",
        v1("audio")
            .replace("\"clip_seconds\": 1.0", "\"clip_seconds\": 0.5")
            .replace("\"mfcc\": 0", "\"mfcc\": 13"),
    );
    let project = round_trip(&clips);
    let audio = project.data.audio().unwrap();
    assert_eq!(
        (audio.clip_seconds, audio.mfcc, audio.mel_bands),
        (0.5, 13, 40)
    );
    assert!(project.data.image().is_none());
}
