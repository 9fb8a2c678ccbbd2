//! Automatic training: a few sensible candidates for the project's kind of data (templates,
//! learning rates, weight decay, augmentation), trained side by side with successive halving —
//! every candidate trains a quarter of the epochs, the better half continues to half of them,
//! the best one to the end — chosen by validation score only, never the test split. The budget
//! decides how many candidates start; once it is spent only the leader goes on, to the end of its
//! epochs, so the model is never one stopped at the first rung. Every
//! candidate stays a run (the ones stopped early can be resumed); the winner becomes the project's
//! model, its settings the project's, so the normal screens show and edit them.
//!
//! When the time budget allows, the winner is then trained once more from the start with the same
//! settings and as many epochs as its best one, learning from the validation samples too
//! (`learn_from_validation`): on small data sets those are a sixth more examples, which is worth
//! several points (breast cancer: 0.956 → 0.974 test accuracy for the same linear model). That
//! run, not the candidate, becomes the model; the test split stays untouched throughout.
//!
//! A stopped candidate is an interrupted run: continuing it uses the engine's resume, which gives
//! the same weights as a run that never stopped, so the search is repeatable from the seed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::engine::{self, CancelToken, EventSink, PreparedData, RunOutcome, TrainEvent};
use crate::model::{template, DataFit, Graph};
use crate::project::{DataKind, Project, Task};

/// One setting of the search.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// In words: "cnn, learning rate 0.003".
    pub name: String,
    /// The project as this candidate trains it (model and training settings).
    pub project: Project,
    /// Which import of the data it trains on.
    pub reads: Reads,
}

impl Candidate {
    /// Judged and kept at its last epoch rather than its best: a linear model trained on all rows
    /// per step settles on its optimum, where its weight penalty, not an early epoch, keeps it
    /// general (breast cancer: stopped at the lowest validation loss, epoch 27, it scored 0.947;
    /// at its optimum 0.974, as scikit-learn's logistic regression).
    pub fn to_convergence(&self) -> bool {
        self.project.training.batch_size == FULL_BATCH
    }
}

/// Which import of the data a candidate trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// The project's.
    Project,
    /// The texts read with the sentence encoder's tokenizer (imported once more that way).
    EncoderTokens,
    /// The texts read as words and marks for the bag of words (imported once more that way).
    WordsAndMarks,
}

/// How a candidate did.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateResult {
    /// What it was.
    pub name: String,
    /// Its run folder.
    pub run_dir: PathBuf,
    /// Epochs it trained.
    pub epochs: usize,
    /// Its best validation score (accuracy or R²) so far.
    pub best_val: Option<f64>,
    /// Its lowest validation loss so far.
    pub best_val_loss: Option<f64>,
    /// The epoch with that loss (0: none yet).
    pub best_epoch: usize,
    /// Cross-validated: the standard error of that loss over the folds.
    pub loss_error: Option<f64>,
    /// Seconds it trained in all.
    pub seconds: f64,
    /// Whether it was stopped because others were better.
    pub stopped_early: bool,
    /// Whether `best_val`, `best_val_loss` and `best_epoch` are averages over cross-validation
    /// folds rather than the validation split's.
    pub cross_validated: bool,
}

/// What the search reports while it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum AutoEvent {
    /// A candidate starts (or continues) training up to `epochs`.
    Training {
        /// Round (1-based) and rounds in all.
        round: (usize, usize),
        /// Which candidate.
        name: String,
        /// Up to which epoch.
        epochs: usize,
    },
    /// A candidate's epoch ended.
    Epoch {
        /// Which candidate.
        name: String,
        /// The epoch's numbers.
        metrics: engine::EpochMetrics,
    },
    /// The winner trains once more, from the start, learning from the validation samples too.
    Retraining {
        /// Which candidate.
        name: String,
        /// For how many epochs.
        epochs: usize,
    },
    /// A candidate trains on one fold of the training and validation samples (small data sets).
    CrossValidating {
        /// Which candidate.
        name: String,
        /// Fold (1-based) and folds in all.
        fold: (usize, usize),
    },
    /// A round ended; the names that go on.
    RoundDone {
        /// Which round.
        round: usize,
        /// Candidates that continue.
        kept: Vec<String>,
    },
}

/// The outcome: every candidate and the winner (an index into `candidates`).
#[derive(Clone, Debug, PartialEq)]
pub struct AutoOutcome {
    /// Every candidate, in the order they were tried.
    pub candidates: Vec<CandidateResult>,
    /// The chosen one (by validation score).
    pub winner: usize,
    /// The winner trained again on the training and validation samples: the model, when the
    /// budget allowed it.
    pub retrained: Option<CandidateResult>,
    /// Seconds the search took.
    pub seconds: f64,
    /// Whether the time budget cut the search short.
    pub over_budget: bool,
}

/// The candidates for a project: its kind's templates and a small grid of learning rates,
/// weight decay or augmentation, sized to its data.
/// `small`: the data set is compared by cross-validation ([`CROSS_VALIDATE_BELOW`]).
pub fn candidates(project: &Project, fit: &DataFit, small: bool) -> Vec<Candidate> {
    let kind = project.data.kind();
    let mut out = Vec::new();
    let mut add = |template_name: &str, lr: f64, tweak: &dyn Fn(&mut Project) -> String| {
        let Some(graph) = template(template_name, fit) else {
            return;
        };
        let mut p = project.clone();
        p.model = graph;
        p.layout.clear();
        p.model_run = None;
        p.training.lr = lr;
        let extra = tweak(&mut p);
        out.push(Candidate {
            name: format!("{template_name}, learning rate {lr}{extra}"),
            project: p,
            reads: Reads::Project,
        });
    };
    let none = |_: &mut Project| String::new();
    match kind {
        DataKind::Image => {
            let small_gray =
                fit.shape.first() == Some(&1) && fit.shape.iter().skip(1).all(|&d| d <= 32);
            let templates: &[&str] = if small_gray {
                &["cnn", "mlp"]
            } else {
                &["cnn"]
            };
            for t in templates {
                for lr in [1e-3, 3e-3] {
                    add(t, lr, &none);
                }
            }
            if !small_gray {
                add("cnn", 1e-3, &|p: &mut Project| {
                    p.training.l2 = 1e-4;
                    ", L2 0.0001".to_owned()
                });
            }
        }
        DataKind::Text => {
            // Cheapest first, so a short budget still tries more than one kind of model (the
            // LSTM over 200-word statements took most of five minutes alone). The bag of words
            // learns slowly at small rates: only its larger ones.
            for lr in [3e-3, 1e-2] {
                add("text-bow", lr, &none);
            }
            for t in ["text-cnn", "text-lstm"] {
                for lr in [1e-3, 3e-3] {
                    add(t, lr, &none);
                }
            }
        }
        DataKind::Tabular => {
            // The linear model (logistic / ridge regression) only where candidates are compared by
            // cross-validation: chosen on diabetes' 53 validation rows alone it won there and lost
            // 5 points of test R² (BENCHMARKS.md §12).
            //
            // Trained on all rows at once (full batch) for 200 epochs at 0.2, it settles on its
            // optimum as scikit-learn's solvers do (diabetes: R² 0.3322 = ordinary least squares
            // to four digits; mini-batches of 32 at 0.01 stopped at 0.22), and the weight penalty
            // is chosen among three, as RidgeCV chooses its alpha.
            if small {
                for l2 in [1e-3, 1e-2, 1e-1] {
                    add("tabular-linear", 0.2, &|p: &mut Project| {
                        p.training.l2 = l2;
                        p.training.batch_size = FULL_BATCH;
                        p.training.epochs = 200;
                        p.training.early_stopping_patience = None;
                        format!(", L2 {l2}, all rows per step")
                    });
                }
            }
            for lr in [1e-3, 1e-2] {
                for l2 in [0.0, 1e-3] {
                    add("tabular-mlp", lr, &|p: &mut Project| {
                        p.training.l2 = l2;
                        if l2 > 0.0 {
                            format!(", L2 {l2}")
                        } else {
                            String::new()
                        }
                    });
                }
            }
        }
        DataKind::Audio => {
            for lr in [1e-3, 3e-3] {
                for augment in [false, true] {
                    add("audio-cnn", lr, &|p: &mut Project| {
                        if augment {
                            p.data.augmentation.max_time_shift = 0.1;
                            p.data.augmentation.noise_db = 30.0;
                            ", time shift and noise".to_owned()
                        } else {
                            p.data.augmentation.max_time_shift = 0.0;
                            p.data.augmentation.noise_db = 0.0;
                            String::new()
                        }
                    });
                }
            }
        }
    }
    out
}

/// Texts read the way the MiniLM sentence encoder reads them (its tokenizer, the length that
/// covers 95 % of the training texts), when its weights are installed and the project does not
/// read them so already: the data settings and the data, imported once more. The split is the
/// project's (drawn from the labels and the seed alone).
fn encoder_data(project: &Project) -> Result<Option<(crate::project::DataSettings, PreparedData)>> {
    use crate::project::TokenizerKind;
    let uses_file = project
        .data
        .text()
        .is_some_and(|t| t.tokenizer == TokenizerKind::File);
    if uses_file || crate::pretrained::find_weights(crate::pretrained::Backbone::MiniLmL6).is_none()
    {
        return Ok(None);
    }
    let mut settings = project.data.clone();
    super::adapt_data_to_template("transfer-text-bow", &mut settings, None, false)?;
    if let Some(text) = settings.text_mut() {
        text.sequence_length = None;
    }
    let (prepared, _) = super::prepare(&settings, None, None)?;
    let length = prepared.dataset.texts().map(|t| t.vocab.length);
    if let (Some(text), Some(length)) = (settings.text_mut(), length) {
        text.sequence_length = Some(length);
    }
    Ok(Some((settings, prepared)))
}

/// The bag of words and word pairs (`text-tfidf`) on the texts read as words and marks: a linear
/// model over tens of thousands of values, so the weight penalty matters: none, and the two at
/// which scikit-learn's logistic regression did best on the debates' folds (C = 10 and 30 for 900
/// texts). Up to 100 epochs: it learns in seconds and its best epoch came after 30.
fn tfidf_candidates(
    project: &Project,
    project_fit: &DataFit,
    others: &OtherReadings,
) -> Vec<Candidate> {
    // Without a second import the project reads words and marks already.
    let (settings, reads, fit) = match &others.marks {
        Some((settings, prepared)) => (settings, Reads::WordsAndMarks, prepared.dataset.fit()),
        None => (&project.data, Reads::Project, project_fit.clone()),
    };
    [0.0, 3e-5, 1e-4]
        .into_iter()
        .filter_map(|l2| {
            let graph = template("text-tfidf", &fit)?;
            let mut p = project.clone();
            p.model = graph;
            p.layout.clear();
            p.model_run = None;
            p.training.lr = 1e-2;
            p.training.l2 = l2;
            p.training.epochs = p.training.epochs.max(100);
            p.data = settings.clone();
            let penalty = if l2 > 0.0 {
                format!(", L2 {l2}")
            } else {
                String::new()
            };
            Some(Candidate {
                name: format!("text-tfidf, learning rate 0.01{penalty}"),
                project: p,
                reads,
            })
        })
        .collect()
}

/// The sentence encoder's candidates on `data` (read with its tokenizer, `settings`): the encoder
/// with a bag of its word pieces, and the encoder alone; both frozen, so they share its features
/// (computed once, cached on disk), at learning rate 0.003.
fn encoder_candidates(
    project: &Project,
    settings: &crate::project::DataSettings,
    data: &PreparedData,
) -> Vec<Candidate> {
    let fit = data.dataset.fit();
    ["transfer-text-bow", "transfer-text"]
        .into_iter()
        .filter_map(|name| {
            let graph = template(name, &fit)?;
            let mut p = project.clone();
            p.model = graph;
            p.layout.clear();
            p.model_run = None;
            // 0.003: the bag of word pieces learns slowly at 0.001 and lost the first round of
            // halving (2 epochs: validation 0.75 against 0.794 at 0.003).
            p.training.lr = 3e-3;
            p.data = settings.clone();
            Some(Candidate {
                name: format!("{name}, learning rate 0.003"),
                project: p,
                reads: Reads::EncoderTokens,
            })
        })
        .collect()
}

/// The data a candidate trains on: the project's, or the texts read with the sentence encoder's
/// tokenizer, or as words and marks.
fn data_for<'a>(
    cand: &Candidate,
    data: &'a PreparedData,
    others: &'a OtherReadings,
) -> &'a PreparedData {
    let other = match cand.reads {
        Reads::Project => None,
        Reads::EncoderTokens => others.encoder.as_ref(),
        Reads::WordsAndMarks => others.marks.as_ref(),
    };
    other.map_or(data, |(_, prepared)| prepared)
}

/// The data imported once more for candidates that read it their own way: its settings and the
/// data.
#[derive(Default)]
struct OtherReadings {
    encoder: Option<(crate::project::DataSettings, PreparedData)>,
    marks: Option<(crate::project::DataSettings, PreparedData)>,
}

/// Texts read as words and marks for the bag of words (`text-tfidf`), when the project reads
/// them otherwise: the data settings and the data, imported once more (same split).
fn marks_data(project: &Project) -> Result<Option<(crate::project::DataSettings, PreparedData)>> {
    let mut settings = project.data.clone();
    super::adapt_data_to_template("text-tfidf", &mut settings, None, false)?;
    if settings == project.data {
        return Ok(None);
    }
    let (prepared, _) = super::prepare(&settings, None, None)?;
    super::record_found_settings(&mut settings, &prepared.dataset);
    Ok(Some((settings, prepared)))
}

/// Follows one candidate's training: stops it after `stop_after` epochs or when the whole search
/// is stopped, keeps its run folder and epochs, and forwards the epochs to `report` (not for
/// cross-validation folds).
struct CandidateSink<'a> {
    name: String,
    stop_after: usize,
    cancel: CancelToken,
    /// The whole search's token: stopping it stops the candidate training now.
    outer: &'a CancelToken,
    report: Option<&'a (dyn Fn(AutoEvent) + Sync)>,
    run_dir: std::sync::Mutex<Option<PathBuf>>,
    history: std::sync::Mutex<Vec<engine::EpochMetrics>>,
}

impl<'a> CandidateSink<'a> {
    fn new(
        name: &str,
        stop_after: usize,
        outer: &'a CancelToken,
        report: Option<&'a (dyn Fn(AutoEvent) + Sync)>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            stop_after,
            cancel: CancelToken::new(),
            outer,
            report,
            run_dir: std::sync::Mutex::new(None),
            history: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// After training: the failure or the search's stop as an error, else the run folder it
    /// started (none when it continued one) and its epochs.
    fn ended(self, outcome: RunOutcome) -> Result<(Option<PathBuf>, Vec<engine::EpochMetrics>)> {
        if let RunOutcome::Failed(message) = outcome {
            bail!("the candidate '{}' failed: {message}", self.name);
        }
        if self.outer.is_cancelled() {
            bail!("automatic training was stopped: {}", self.outer.reason());
        }
        Ok((
            self.run_dir.into_inner().ok().flatten(),
            self.history.into_inner().unwrap_or_default(),
        ))
    }
}

impl EventSink for CandidateSink<'_> {
    fn emit(&self, event: TrainEvent) {
        if self.outer.is_cancelled() {
            self.cancel.cancel(self.outer.reason());
        }
        match event {
            TrainEvent::Started { run_dir, .. } => {
                if let Ok(mut d) = self.run_dir.lock() {
                    *d = Some(run_dir);
                }
            }
            TrainEvent::Epoch(m) => {
                if m.epoch >= self.stop_after {
                    self.cancel.cancel("another candidate did better");
                }
                if let Ok(mut h) = self.history.lock() {
                    h.push(m.clone());
                }
                if let Some(report) = self.report {
                    report(AutoEvent::Epoch {
                        name: self.name.clone(),
                        metrics: m,
                    });
                }
            }
            _ => {}
        }
    }
}

/// Below this many training + validation rows or texts, table and text candidates are compared
/// by k-fold cross-validation: the validation split alone holds a few dozen rows there (breast
/// cancer: 68; the debates: 90 statements), so a few samples more or less decide between
/// candidates and their best epoch. (Pictures and sounds keep successive halving on the
/// validation split.)
pub const CROSS_VALIDATE_BELOW: usize = 2_000;
/// A batch size larger than any data set compared by cross-validation: every row in one step
/// (the training loop clamps it to the training rows); the Train screen's largest.
const FULL_BATCH: usize = 100_000;
/// Folds of that cross-validation.
pub const FOLDS: usize = 5;

/// A candidate's numbers over the cross-validation folds.
struct CrossValidated {
    /// Mean validation score at `epoch`.
    score: Option<f64>,
    /// Mean validation loss at `epoch`.
    loss: f64,
    /// The epoch judged (1-based).
    epoch: usize,
    /// The loss's standard error over the folds.
    error: f64,
}

/// The candidate's validation loss and score averaged over [`FOLDS`] folds of the training and
/// validation samples (stratified by class), at the epoch where the averaged loss is lowest (the
/// last one for a candidate trained to convergence); `None` when `deadline` passed before the
/// last fold. The folds' runs live in a scratch folder inside the project's runs folder and are
/// removed afterwards.
fn cross_validate(
    project_path: &Path,
    cand: &Candidate,
    data: &PreparedData,
    report: &(dyn Fn(AutoEvent) + Sync),
    cancel: &CancelToken,
    deadline: Option<Instant>,
) -> Result<Option<CrossValidated>> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let labels = data.dataset.labels();
    let mut pool: Vec<usize> = data
        .split
        .train
        .iter()
        .chain(&data.split.val)
        .copied()
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(cand.project.training.seed);
    pool.shuffle(&mut rng);
    // Class by class, so every fold keeps the class proportions.
    pool.sort_by_key(|&i| labels.get(i).copied().unwrap_or(0));
    let scratch = Project::runs_dir(project_path).join(".cross-validation");
    let fold_path = scratch.join("fold.strata");
    let mut p = cand.project.clone();
    p.training.early_stopping_patience = None;
    p.training.learn_from_validation = false;
    let mut curves: Vec<Vec<engine::EpochMetrics>> = Vec::new();
    let outcome = (|| -> Result<bool> {
        for fold in 0..FOLDS {
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Ok(false);
            }
            report(AutoEvent::CrossValidating {
                name: cand.name.clone(),
                fold: (fold + 1, FOLDS),
            });
            let (mut train, mut val) = (Vec::new(), Vec::new());
            for (position, &i) in pool.iter().enumerate() {
                if position % FOLDS == fold {
                    val.push(i);
                } else {
                    train.push(i);
                }
            }
            let fold_data = PreparedData {
                dataset: data.dataset.clone(),
                split: crate::data::Split {
                    train,
                    val,
                    test: Vec::new(),
                },
            };
            let sink = CandidateSink::new(&cand.name, usize::MAX, cancel, None);
            let stop = sink.cancel.clone();
            let outcome = engine::train(&p, &fold_path, &fold_data, &sink, &stop);
            curves.push(sink.ended(outcome)?.1);
        }
        Ok(true)
    })();
    // Scratch runs only: never the user's data. A failure to remove them loses nothing.
    let _ = std::fs::remove_dir_all(&scratch);
    if !outcome? {
        return Ok(None);
    }
    let epochs = curves.iter().map(Vec::len).min().unwrap_or(0);
    let mean = |epoch: usize, f: &dyn Fn(&engine::EpochMetrics) -> Option<f64>| {
        let values: Vec<f64> = curves.iter().filter_map(|c| f(&c[epoch])).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let best = if cand.to_convergence() {
        let last = epochs.saturating_sub(1);
        mean(last, &|m| m.val_loss).map(|l| (last, l))
    } else {
        (0..epochs)
            .filter_map(|e| mean(e, &|m| m.val_loss).map(|l| (e, l)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    let Some((epoch, loss)) = best else {
        bail!("the candidate '{}' gave no validation loss", cand.name);
    };
    let losses: Vec<f64> = curves.iter().filter_map(|c| c[epoch].val_loss).collect();
    let n = losses.len() as f64;
    let spread = losses.iter().map(|l| (l - loss).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Ok(Some(CrossValidated {
        score: mean(epoch, &|m| m.val_accuracy),
        loss,
        epoch: epoch + 1,
        error: (spread / n.max(1.0)).sqrt(),
    }))
}

/// Higher is better: the best validation score, ties broken by the lower validation loss. Cross-
/// validated candidates (small tables) are ranked by their loss first: the cross-entropy or squared
/// error changes smoothly, whereas on a few hundred rows two or three rows flip the accuracy
/// (breast cancer: 98.2 % vs 97.8 % is two rows of 455).
fn rank_key(r: &CandidateResult) -> (f64, f64) {
    let score = r.best_val.unwrap_or(f64::NEG_INFINITY);
    let loss = -r.best_val_loss.unwrap_or(f64::INFINITY);
    if r.cross_validated {
        (loss, score)
    } else {
        (score, loss)
    }
}

/// Runs the search on `data` (the project's data, imported and split) within `budget`. Training
/// failures of one candidate end the search with their message.
pub fn train_automatically(
    project_path: &Path,
    project: &Project,
    data: &PreparedData,
    budget: Duration,
    report: &(dyn Fn(AutoEvent) + Sync),
    cancel: &CancelToken,
) -> Result<AutoOutcome> {
    let fit = data.dataset.fit();
    let pool = data.split.train.len() + data.split.val.len();
    let cross_validated = matches!(project.data.kind(), DataKind::Tabular | DataKind::Text)
        && !data.split.val.is_empty()
        && pool < CROSS_VALIDATE_BELOW;
    let mut list = candidates(project, &fit, cross_validated);
    let mut others = OtherReadings::default();
    if project.data.kind() == DataKind::Text {
        others.marks = marks_data(project)?;
        others.encoder = encoder_data(project)?;
    }
    if let Some((settings, prepared)) = &others.encoder {
        let mut encoder = encoder_candidates(project, settings, prepared);
        if cross_validated {
            // Last on small text sets: six runs of the encoder's candidates take most of five
            // minutes there (the debates: 400 s), and the bag of words wins them.
            list.append(&mut encoder);
        } else {
            // First: the strongest on long text sets (BENCHMARKS.md §12), and the slowest to
            // start (the encoder's features), so a short budget still gets to it.
            encoder.append(&mut list);
            list = encoder;
        }
    }
    if project.data.kind() == DataKind::Text {
        // Before everything: the bag of words and pairs takes seconds and is the strongest on
        // small text sets.
        let mut first = tfidf_candidates(project, &fit, &others);
        first.append(&mut list);
        list = first;
    }
    if list.is_empty() {
        bail!("no candidate models fit this data");
    }
    let started = Instant::now();
    let total = project.training.epochs.max(2);
    // Rungs: a quarter, a half, all of the epochs (fewer when the runs are short); small data sets
    // are cross-validated instead, every candidate to the end.
    let mut rungs = if cross_validated {
        vec![total]
    } else {
        vec![(total / 4).max(1), (total / 2).max(1), total]
    };
    rungs.dedup();
    let rounds = rungs.len();
    let mut results: Vec<Option<CandidateResult>> = vec![None; list.len()];
    let mut alive: Vec<usize> = (0..list.len()).collect();
    let mut over_budget = false;
    for (round, &epochs) in rungs.iter().enumerate() {
        for &i in &alive {
            if cancel.is_cancelled() {
                bail!("automatic training was cancelled");
            }
            let cand = &list[i];
            let data = data_for(cand, data, &others);
            let previous = results[i].as_ref().map(|r| r.run_dir.clone());
            // Past the budget no new candidate starts (those left are not tried).
            if previous.is_none()
                && started.elapsed() > budget
                && results.iter().any(Option::is_some)
            {
                over_budget = true;
                continue;
            }
            // A run that early stopping already ended has nothing left to train.
            if previous
                .as_ref()
                .and_then(|d| engine::runs::read_manifest(d).ok())
                .is_some_and(|m| m.finished)
            {
                continue;
            }
            report(AutoEvent::Training {
                round: (round + 1, rounds),
                name: cand.name.clone(),
                epochs,
            });
            let stop_after = if epochs >= total { usize::MAX } else { epochs };
            let sink = CandidateSink::new(&cand.name, stop_after, cancel, Some(report));
            let stop = sink.cancel.clone();
            let outcome = match &previous {
                None => engine::train(&cand.project, project_path, data, &sink, &stop),
                Some(dir) => {
                    let interrupted = engine::resume::interrupted(dir)
                        .map_err(|e| anyhow::anyhow!("could not continue '{}': {e}", cand.name))?;
                    let p = engine::resume_project(&cand.project, &interrupted);
                    engine::resume(&p, project_path, dir, data, &sink, &stop)
                }
            };
            let (new_run, _) = sink.ended(outcome)?;
            if let Some(dir) = &new_run {
                label_run(dir, &cand.name);
            }
            let run_dir = new_run
                .or(previous)
                .ok_or_else(|| anyhow::anyhow!("the candidate '{}' did not start", cand.name))?;
            let mut result = result_of(&cand.name, run_dir);
            if cross_validated {
                // Past the budget, a candidate's folds stop once another candidate has all of
                // its own (a text CNN's five folds took seven minutes on the debates); it stays a
                // run but is not compared.
                let deadline = results
                    .iter()
                    .flatten()
                    .any(|r| r.cross_validated)
                    .then_some(started + budget);
                match cross_validate(project_path, cand, data, report, cancel, deadline)? {
                    Some(cv) => {
                        result.best_val = cv.score;
                        result.best_val_loss = Some(cv.loss);
                        result.best_epoch = cv.epoch;
                        result.loss_error = Some(cv.error);
                        result.cross_validated = true;
                    }
                    None => over_budget = true,
                }
            }
            results[i] = Some(result);
            if started.elapsed() > budget {
                over_budget = true;
            }
        }
        if round + 1 == rounds {
            break;
        }
        // The better half goes on; once the budget is spent, only the leader, to the end of its
        // epochs: a winner stopped at the first rung is a model trained for a quarter of its
        // epochs (the 2016 debates: 0.564 test accuracy after two epochs, where the plain
        // defaults reach 0.72).
        alive.sort_by(|&a, &b| {
            let (ka, kb) = (
                results[a].as_ref().map(rank_key),
                results[b].as_ref().map(rank_key),
            );
            kb.partial_cmp(&ka).unwrap_or(std::cmp::Ordering::Equal)
        });
        let keep = if over_budget {
            1
        } else {
            alive.len().div_ceil(2).max(1)
        };
        alive.truncate(keep);
        report(AutoEvent::RoundDone {
            round: round + 1,
            kept: alive.iter().map(|&i| list[i].name.clone()).collect(),
        });
    }
    let candidates: Vec<CandidateResult> = results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.map(|mut r| {
                r.stopped_early = !alive.contains(&i);
                r
            })
        })
        .collect();
    // Compared by cross-validation, only candidates with all their folds count.
    let comparable = |r: &CandidateResult| !r.stopped_early && r.cross_validated == cross_validated;
    let winner = (0..candidates.len())
        .filter(|&i| comparable(&candidates[i]))
        .max_by(|&a, &b| {
            rank_key(&candidates[a])
                .partial_cmp(&rank_key(&candidates[b]))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .unwrap_or(0);
    let winner = if cross_validated {
        simplest_within_one_error(&candidates, winner, &list)
    } else {
        winner
    };
    let chosen = candidates
        .get(winner)
        .and_then(|best| Some((best, list.iter().find(|c| c.name == best.name)?)));
    // The winner learns from every sample when the time left allows it, or when it takes no more
    // than a tenth of the budget (the bag of words: seconds) even past the budget.
    let retrained = match chosen {
        Some((best, cand)) => retrain(
            project_path,
            cand,
            best,
            data_for(cand, data, &others),
            budget.saturating_sub(started.elapsed()).max(budget / 10),
            report,
            cancel,
        )?,
        None => None,
    };
    Ok(AutoOutcome {
        candidates,
        winner,
        retrained,
        seconds: started.elapsed().as_secs_f64(),
        over_budget,
    })
}

/// The one-standard-error rule (Breiman et al.; glmnet's `lambda.1se`): among the cross-validated
/// candidates whose loss is within one standard error of the best one's, the one with the fewest
/// weights. Differences smaller than the folds' own spread are noise; the simpler model is the
/// safer bet on new rows (diabetes: the MLP won the folds by less than their spread and lost
/// 0.09 of test R² to the linear model).
fn simplest_within_one_error(
    results: &[CandidateResult],
    best: usize,
    list: &[Candidate],
) -> usize {
    let Some(b) = results.get(best) else {
        return best;
    };
    let limit = b.best_val_loss.unwrap_or(f64::INFINITY) + b.loss_error.unwrap_or(0.0);
    let weights = |r: &CandidateResult| {
        list.iter()
            .find(|c| c.name == r.name)
            .and_then(|c| c.project.model.validate().ok())
            .map_or(usize::MAX, |g| g.total_params())
    };
    (0..results.len())
        .filter(|&i| {
            results[i].cross_validated && results[i].best_val_loss.is_some_and(|l| l <= limit)
        })
        .min_by(|&a, &b| {
            weights(&results[a]).cmp(&weights(&results[b])).then(
                results[a]
                    .best_val_loss
                    .partial_cmp(&results[b].best_val_loss)
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
        })
        .unwrap_or(best)
}

/// Names a candidate's run in its description, for the runs table. Only a label: a run folder
/// that cannot be rewritten keeps training and scoring as before, so a failure is let go.
fn label_run(run_dir: &Path, name: &str) {
    if let Ok(mut manifest) = engine::runs::read_manifest(run_dir) {
        manifest.label = Some(name.to_owned());
        let _ = engine::runs::write_manifest(run_dir, &manifest);
    }
}

/// A candidate's numbers from its run folder: its best epoch by validation loss (training loss
/// when it has no validation samples).
fn result_of(name: &str, run_dir: PathBuf) -> CandidateResult {
    let history = engine::runs::read_metrics(&run_dir).unwrap_or_default();
    let best = history.iter().min_by(|a, b| {
        let key = |m: &engine::EpochMetrics| m.val_loss.unwrap_or(m.train_loss);
        key(a).total_cmp(&key(b))
    });
    CandidateResult {
        name: name.to_owned(),
        run_dir,
        epochs: history.len(),
        best_val: best.and_then(|b| b.val_accuracy),
        best_val_loss: best.and_then(|b| b.val_loss),
        best_epoch: best.map_or(0, |b| b.epoch),
        seconds: history.last().map_or(0.0, |m| m.elapsed_secs),
        stopped_early: false,
        cross_validated: false,
        loss_error: None,
    }
}

/// Trains the winner once more from the start, for as many epochs as its best one, learning from
/// the validation samples too; `None` when there are none or it would not fit in `left`.
fn retrain(
    project_path: &Path,
    cand: &Candidate,
    best: &CandidateResult,
    data: &PreparedData,
    left: Duration,
    report: &(dyn Fn(AutoEvent) + Sync),
    cancel: &CancelToken,
) -> Result<Option<CandidateResult>> {
    let (train, val) = (data.split.train.len(), data.split.val.len());
    if val == 0 || best.best_epoch == 0 || best.epochs == 0 {
        return Ok(None);
    }
    let epochs = if cand.to_convergence() {
        cand.project.training.epochs
    } else {
        best.best_epoch
    };
    let per_epoch = best.seconds / best.epochs as f64 * (train + val) as f64 / train as f64;
    if per_epoch * epochs as f64 > left.as_secs_f64() {
        return Ok(None);
    }
    let mut p = cand.project.clone();
    p.training.epochs = epochs;
    p.training.early_stopping_patience = None;
    p.training.learn_from_validation = true;
    let name = format!("{}, retrained with the validation samples", cand.name);
    report(AutoEvent::Retraining {
        name: name.clone(),
        epochs,
    });
    let sink = CandidateSink::new(&name, usize::MAX, cancel, Some(report));
    let stop = sink.cancel.clone();
    let outcome = engine::train(&p, project_path, data, &sink, &stop);
    let run_dir = sink
        .ended(outcome)?
        .0
        .ok_or_else(|| anyhow::anyhow!("'{name}' did not start"))?;
    label_run(&run_dir, &name);
    Ok(Some(result_of(&name, run_dir)))
}

/// The project after the search: the winner's model and settings (as it trained among the
/// candidates, with its validation curve, so training again shows overfitting), and its run — the
/// retrained one when there is one — as the model.
pub fn adopt_winner(project: &Project, outcome: &AutoOutcome) -> Result<Project> {
    let chosen = engine::runs::read_manifest(&outcome.candidates[outcome.winner].run_dir)?;
    let model_dir = &outcome.model().run_dir;
    let model = engine::runs::read_manifest(model_dir)?;
    let graph: Graph = serde_json::from_str(&std::fs::read_to_string(
        model_dir
            .join(engine::runs::BEST_DIR)
            .join(engine::runs::GRAPH_FILE),
    )?)?;
    let mut p = project.clone();
    p.model = graph;
    p.layout.clear();
    p.training = chosen.training.clone();
    // Its data settings too (augmentation; for the sentence encoder's candidates, its tokenizer).
    p.data = crate::project::DataSettings {
        path: project.data.path.clone(),
        ..chosen.data
    };
    p.model_run = Some(model.run_id);
    Ok(p)
}

impl AutoOutcome {
    /// The run that is the model: the retrained winner, or the winner.
    pub fn model(&self) -> &CandidateResult {
        self.retrained
            .as_ref()
            .unwrap_or(&self.candidates[self.winner])
    }
}

/// "accuracy 97%" or "R² 0.91" for a candidate.
pub fn score_words(task: Task, r: &CandidateResult) -> String {
    let how = if r.cross_validated {
        "cross-validated"
    } else {
        "validation"
    };
    r.best_val.map_or_else(
        || "no validation score".to_owned(),
        |v| format!("{how} {} {}", task.score_name(), task.format_score(v)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(name: &str, template_name: &str) -> Candidate {
        let fit = DataFit {
            shape: vec![10],
            task: Task::Classify,
            classes: 2,
            vocab: None,
        };
        let graph = template(template_name, &fit).unwrap();
        Candidate {
            name: name.to_owned(),
            project: Project::new(crate::project::DataSettings::default(), graph),
            reads: Reads::Project,
        }
    }

    fn result(name: &str, loss: f64, error: f64) -> CandidateResult {
        CandidateResult {
            name: name.to_owned(),
            run_dir: PathBuf::new(),
            epochs: 10,
            best_val: Some(0.9),
            best_val_loss: Some(loss),
            best_epoch: 5,
            loss_error: Some(error),
            seconds: 1.0,
            stopped_early: false,
            cross_validated: true,
        }
    }

    #[test]
    fn the_smallest_model_within_one_standard_error_wins() {
        let list = [
            candidate("mlp", "tabular-mlp"),
            candidate("linear", "tabular-linear"),
        ];
        // The MLP's loss is lowest, the linear model's within its standard error: the linear one.
        let close = [result("mlp", 0.080, 0.010), result("linear", 0.088, 0.012)];
        assert_eq!(simplest_within_one_error(&close, 0, &list), 1);
        // Further than one standard error: the MLP stays.
        let far = [result("mlp", 0.080, 0.005), result("linear", 0.120, 0.012)];
        assert_eq!(simplest_within_one_error(&far, 0, &list), 0);
        // Cross-validated candidates rank by loss first, not by a two-row accuracy difference.
        let mut better_accuracy = result("mlp", 0.090, 0.01);
        better_accuracy.best_val = Some(0.99);
        assert!(rank_key(&result("linear", 0.080, 0.01)) > rank_key(&better_accuracy));
    }
}
