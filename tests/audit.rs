//! The data check from the command line: a table with a row repeated across the split and
//! labels flipped, a text CSV with a repeated text; leaving samples out and relabelling them is
//! kept in the project file, applied on the next import, and undone with --restore; the data
//! file is never written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{strata, text};

fn audit_json(project: &str) -> serde_json::Value {
    let o = strata(&["audit", project, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_table_with_copies_and_flipped_labels() {
    let dir = tempfile::tempdir().unwrap();
    // Two well separated classes; rows 2 and 3 repeat row 1; three labels flipped.
    let mut csv = String::from("x,y,label\n");
    let mut state = 5u32;
    let mut next = || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        f64::from((state >> 8) % 10_000) / 10_000.0
    };
    for i in 0..300 {
        let class = i % 2;
        let (x, y) = (next() + 3.0 * class as f64, next() - 3.0 * class as f64);
        let label = if [10, 20, 31].contains(&i) {
            ["b", "a"][class]
        } else {
            ["a", "b"][class]
        };
        if i == 1 || i == 2 {
            csv.push_str("0.500,0.250,a\n");
        } else {
            csv.push_str(&format!("{x:.3},{y:.3},{label}\n"));
        }
    }
    csv.push_str("0.500,0.250,a\n");
    let table = dir.path().join("t.csv");
    std::fs::write(&table, &csv).unwrap();
    let pp = dir.path().join("t.strata");
    let p = pp.to_str().unwrap();
    let o = strata(&[
        "new",
        p,
        "--data",
        table.to_str().unwrap(),
        "--target",
        "label",
    ]);
    assert!(o.status.success(), "{}", text(&o));

    let found = audit_json(p);
    assert_eq!(found["samples"], 301);
    // Lines 3, 4 and 302 hold the same row: two pairs (each later one with the first).
    assert_eq!(found["duplicate_pairs"], 2, "{found}");
    let flagged: Vec<&str> = found["label_issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    // Flipped rows 10, 20, 31 are lines 12, 22, 33; those in the training part are found.
    let flipped_found = ["line 12", "line 22", "line 33"]
        .iter()
        .filter(|k| flagged.contains(k))
        .count();
    assert!(flipped_found >= 2, "{flagged:?}");
    assert!(flagged.len() <= 6, "few false alarms: {flagged:?}");
    let issue = &found["label_issues"][0];
    assert_ne!(issue["given"], issue["suggested"]);

    // Leave one copy out and relabel one flipped row: kept in the project, applied on import.
    let o = strata(&[
        "audit",
        p,
        "--exclude",
        "line 302",
        "--relabel",
        "line 12=a",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("1 sample(s) left out, 1 relabelled"),
        "{}",
        text(&o)
    );
    let after = audit_json(p);
    assert_eq!(after["samples"], 300);
    assert_eq!(after["duplicate_pairs"], 1);
    let still: Vec<&str> = after["label_issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert!(!still.contains(&"line 12"), "{still:?}");
    let o = strata(&["audit", p]);
    assert!(
        text(&o)
            .contains("Already applied from the project file: 1 sample(s) left out, 1 relabelled"),
        "{}",
        text(&o)
    );
    // Undo.
    let o = strata(&["audit", p, "--restore", "line 302", "--restore", "line 12"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(audit_json(p)["samples"], 301);
    let o = strata(&["audit", p, "--restore", "line 7"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("neither left out nor relabelled"),
        "{}",
        text(&o)
    );
    // The table itself was never written.
    assert_eq!(std::fs::read_to_string(&table).unwrap(), csv);
}

#[test]
fn repeated_texts_are_found_whatever_their_case_and_punctuation() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("text,label\n");
    for i in 0..60 {
        let (word, label) = if i % 2 == 0 {
            ("sunny", "good")
        } else {
            ("rainy", "bad")
        };
        csv.push_str(&format!("\"day {i} was {word}\",{label}\n"));
    }
    csv.push_str("\"DAY 4 was sunny!!\",good\n");
    let texts = dir.path().join("texts.csv");
    std::fs::write(&texts, &csv).unwrap();
    let pp = dir.path().join("texts.strata");
    let p = pp.to_str().unwrap();
    let o = strata(&[
        "new",
        p,
        "--data",
        texts.to_str().unwrap(),
        "--kind",
        "text",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let found = audit_json(p);
    assert_eq!(found["duplicate_pairs"], 1, "{found}");
    let pair = &found["duplicates"][0];
    assert_eq!(pair["keys"][0], "line 6");
    assert_eq!(pair["keys"][1], "line 62");
    let o = strata(&["audit", p]);
    assert!(text(&o).contains("line 6"), "{}", text(&o));
}
