//! `strata audit`: the data check (likely wrong labels, duplicates across the split, outliers,
//! class imbalance), and leaving samples out or relabelling them in the project file (the data
//! folder is never written).

use std::io::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::{load_project, prepare};
use crate::audit::{self, Audit, AuditOptions};

/// Findings of each kind printed at most (all with `--json`).
const SHOWN: usize = 15;

/// What `strata audit` was asked.
pub(super) struct AuditArgs<'a> {
    pub project: &'a Path,
    pub folds: usize,
    pub json: bool,
    pub exclude: &'a [String],
    pub relabel: &'a [String],
    pub restore: &'a [String],
}

/// `strata audit`.
pub(super) fn cmd_audit(args: &AuditArgs<'_>) -> Result<()> {
    let mut project = load_project(args.project)?;
    if !(args.exclude.is_empty() && args.relabel.is_empty() && args.restore.is_empty()) {
        let edits = &mut project.data.edits;
        for key in args.exclude {
            edits.relabeled.remove(key);
            edits.excluded.insert(key.clone());
        }
        for pair in args.relabel {
            let (key, class) = pair
                .rsplit_once('=')
                .ok_or_else(|| anyhow!("--relabel takes KEY=CLASS, e.g. circle/c_01.png=square"))?;
            edits.excluded.remove(key);
            edits.relabeled.insert(key.to_owned(), class.to_owned());
        }
        for key in args.restore {
            let known = edits.excluded.remove(key) | edits.relabeled.remove(key).is_some();
            if !known {
                bail!("'{key}' is neither left out nor relabelled");
            }
        }
        let summary = edits.summary();
        project.save(args.project)?;
        outln!(
            "Saved in {}: {summary}. They apply from the next import or training; the data files are unchanged.",
            args.project.display()
        );
        return Ok(());
    }
    let data = prepare(&project, args.json)?;
    let options = AuditOptions {
        folds: args.folds.max(2),
        seed: project.data.split_seed,
    };
    let found = audit::audit(
        &data.dataset,
        &data.split,
        &project.data.path,
        options,
        audit::project_checker(&project, &data.dataset),
        None,
        None,
    )?;
    if args.json {
        outln!("{}", serde_json::to_string(&found)?);
        return Ok(());
    }
    print_audit(&found, data.dataset.kind().unit(), data.split.train.len())?;
    if !project.data.edits.is_empty() {
        outln!(
            "\nAlready applied from the project file: {}.",
            project.data.edits.summary()
        );
    }
    outln!(
        "\nTo leave a sample out: strata audit {p} --exclude KEY; to relabel it: --relabel KEY=CLASS; to undo: --restore KEY",
        p = args.project.display()
    );
    Ok(())
}

fn print_audit(a: &Audit, unit: &str, train: usize) -> Result<()> {
    outln!("Checked {} {unit}.", a.samples);
    outln!(
        "\nDuplicates: {} pair(s), {} across the split{}",
        a.duplicate_pairs,
        a.leaking_pairs,
        if a.leaking_pairs > 0 {
            " — leakage: the same sample in training and in validation/test makes those scores too good"
        } else {
            ""
        }
    );
    for d in a.duplicates.iter().take(SHOWN) {
        outln!(
            "  {} ({}) {} {} ({}){}",
            d.keys.0,
            d.parts.0.label(),
            if d.exact { "=" } else { "≈" },
            d.keys.1,
            d.parts.1.label(),
            if d.same_label {
                ""
            } else {
                ", different labels"
            }
        );
    }
    match a.checker_accuracy {
        Some(acc) => outln!(
            "\nLikely wrong labels: {} of {train} training {unit} (checked by {}; it got {:.1}% right on {unit} it had not seen)",
            a.label_issues.len(),
            a.checker,
            acc * 100.0
        ),
        None => outln!("\nLabels were not checked (too few training {unit}, or no classes)."),
    }
    for l in a.label_issues.iter().take(SHOWN) {
        outln!(
            "  {}: labelled {}, looks like {} ({:.0}% vs {:.0}%)",
            l.key,
            l.given,
            l.suggested,
            l.given_probability * 100.0,
            l.suggested_probability * 100.0
        );
    }
    outln!("\nOutliers (far from every class): {}", a.outliers.len());
    for o in a.outliers.iter().take(SHOWN) {
        outln!(
            "  {} ({}): {:.1}× the usual distance",
            o.key,
            o.class,
            o.distance_ratio
        );
    }
    if !a.class_counts.is_empty() {
        let counts: Vec<String> = a
            .class_counts
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        outln!("\nClasses: {}", counts.join(", "));
    }
    if let Some(i) = &a.imbalance {
        outln!(
            "Imbalanced: '{}' has {} {unit}, '{}' only {}; the model will lean towards the larger class (add {unit} to the small one, or judge it by its per-class recall)",
            i.largest.0,
            i.largest.1,
            i.smallest.0,
            i.smallest.1
        );
    }
    Ok(())
}
