//! `kill -9` at random moments: `strata train` (new runs and resumed ones) is killed mid-epoch,
//! mid-checkpoint or mid-write many times over, and after every kill the project opens, every run
//! that finished an epoch has loadable checkpoints and a readable metrics file, and an
//! interrupted run resumes. The end: the last interrupted run resumes to its last epoch and is
//! evaluated. `STRATA_KILLS` sets the number of kills (8 by default; `scripts/kill_harness.sh`
//! runs 50 and also kills the app).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{strata, text};
use strata::engine::{self, runs, Network};
use strata::model::Graph;
use strata::project::Project;

/// Checks what a kill may have left: the project opens, each run with a description has a
/// readable metrics file, and each run that finished an epoch loads its checkpoints. Returns the
/// number of finished epochs over all runs.
fn check_after_kill(project: &Path, round: usize) -> usize {
    Project::load(project).unwrap_or_else(|e| panic!("round {round}: project unreadable: {e}"));
    let mut epochs = 0;
    let Ok(dirs) = std::fs::read_dir(Project::runs_dir(project)) else {
        return 0;
    };
    for dir in dirs.flatten().map(|e| e.path()) {
        if !dir.join(runs::MANIFEST_FILE).exists() {
            // Killed between creating the folder and describing the run: nothing in it.
            let inside: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .collect();
            assert!(
                inside.is_empty(),
                "round {round}: {inside:?} without a run description"
            );
            continue;
        }
        runs::read_manifest(&dir).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let history = if dir.join(runs::METRICS_FILE).exists() {
            runs::read_metrics(&dir).unwrap_or_else(|e| panic!("round {round}: {e}"))
        } else {
            Vec::new()
        };
        epochs += history.len();
        // An epoch is finished once its training state is written (after its metrics and
        // checkpoints); the epoch before the last one listed in the metrics always is.
        let must_load = engine::resume::read_state(&dir).is_some() || history.len() >= 2;
        if must_load {
            for sub in [runs::LAST_DIR, runs::BEST_DIR] {
                let graph: Graph = serde_json::from_str(
                    &std::fs::read_to_string(dir.join(sub).join(runs::GRAPH_FILE)).unwrap(),
                )
                .unwrap();
                Network::load(
                    &graph,
                    &dir.join(sub).join(runs::WEIGHTS_FILE),
                    &candle_core::Device::Cpu,
                )
                .unwrap_or_else(|e| panic!("round {round}: {sub} of {}: {e}", dir.display()));
            }
        }
        if let Some(state) = engine::resume::read_state(&dir) {
            assert!(
                state.epoch <= history.len(),
                "round {round}: state ahead of metrics"
            );
        }
    }
    epochs
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with('.') && name.ends_with(".tmp")
        })
        .collect()
}

#[test]
fn kill_nine_never_loses_a_project_or_a_finished_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("shapes.strata");
    let p = project.to_str().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/shapes");
    let o = strata(&[
        "new",
        p,
        "--data",
        data.to_str().unwrap(),
        "--template",
        "cnn",
        "--image-size",
        "20x20",
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let mut settings = Project::load(&project).unwrap();
    settings.training.epochs = 40;
    settings.training.batch_size = 8;
    settings.save(&project).unwrap();

    let kills: usize = std::env::var("STRATA_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mut state = 0x9E37_79B9u64;
    let mut random = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut resumed = 0;
    for round in 0..kills {
        // Every other round continues the newest interrupted run instead of starting one.
        let resume = round % 2 == 1 && engine::resume::latest_interrupted(&project).is_some();
        let args: Vec<&str> = if resume {
            vec!["train", p, "--resume"]
        } else {
            vec!["train", p]
        };
        resumed += usize::from(resume);
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // From the import through the first epochs and their checkpoints.
        std::thread::sleep(Duration::from_millis(150 + random(2500)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        check_after_kill(&project, round);
    }
    // One more kill, right after the second epoch is reported, so the end does not depend on
    // where the random kills fell.
    train_and_kill_after_epoch(p, 2);
    check_after_kill(&project, kills);
    // The next start tidies what the kills left, and the newest interrupted run continues to its
    // last epoch, in its own folder.
    let (run_dir, before) =
        engine::resume::latest_interrupted(&project).expect("an interrupted run");
    assert!(before.state.epoch >= 1);
    let o = strata(&["train", p, "--resume", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        temp_files(dir.path()).is_empty(),
        "{:?}",
        temp_files(dir.path())
    );
    let history = runs::read_metrics(&run_dir).unwrap();
    assert_eq!(history.len(), 40);
    let epochs: Vec<usize> = history.iter().map(|m| m.epoch).collect();
    assert_eq!(epochs, (1..=40).collect::<Vec<_>>());
    assert!(runs::read_manifest(&run_dir).unwrap().finished);
    let o = strata(&["evaluate", p]);
    assert!(o.status.success(), "{}", text(&o));
    eprintln!("{kills} kills ({resumed} of resumed runs); the last run resumed from epoch {} and finished", before.state.epoch);
}

/// Runs `strata train` and kills it with SIGKILL once it has reported epoch `after`.
fn train_and_kill_after_epoch(project: &str, after: usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["train", project, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let marker = format!("\"epoch\":{after},");
    for line in std::io::BufRead::lines(stdout) {
        let line = line.unwrap();
        if line.contains("\"event\":\"epoch\"") && line.contains(&marker) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_killed_run_resumed_from_the_cli_gives_the_same_losses() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/shapes");
    let metrics = |project: &Path| -> Vec<String> {
        let (run, _) = runs::list_runs(project)
            .into_iter()
            .map(|r| (r.dir.clone(), r))
            .next()
            .unwrap();
        // Every column but the speed and the clock: the losses and scores as written.
        std::fs::read_to_string(run.join(runs::METRICS_FILE))
            .unwrap()
            .lines()
            .map(|l| l.split(',').take(5).collect::<Vec<_>>().join(","))
            .collect()
    };
    let mut results = Vec::new();
    for (name, interrupted) in [("whole", false), ("killed", true)] {
        let project = dir.path().join(format!("{name}.strata"));
        let p = project.to_str().unwrap();
        let o = strata(&[
            "new",
            p,
            "--data",
            data.to_str().unwrap(),
            "--template",
            "cnn",
            "--image-size",
            "20x20",
            "--seed",
            "9",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let mut settings = Project::load(&project).unwrap();
        settings.training.epochs = 5;
        settings.save(&project).unwrap();
        if interrupted {
            train_and_kill_after_epoch(p, 2);
            let o = strata(&["train", p, "--resume"]);
            assert!(o.status.success(), "{}", text(&o));
            assert!(text(&o).contains("Resuming after epoch"), "{}", text(&o));
        } else {
            let o = strata(&["train", p]);
            assert!(o.status.success(), "{}", text(&o));
        }
        results.push(metrics(&project));
    }
    assert_eq!(results[0].len(), 6); // header + 5 epochs
    assert_eq!(results[0], results[1]);
}
