//! What a training run tells the outside world, where it goes, and how to stop it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// How much a message matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Good to know (how the run works); nothing to fix.
    Note,
    /// Something may be wrong or will not work as expected.
    Warning,
}

/// Metrics of one finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch (while the weights were changing); R² for regression.
    pub train_accuracy: f64,
    /// Validation loss, when there is a validation split.
    pub val_loss: Option<f64>,
    /// Validation accuracy (R² for regression), when there is a validation split.
    pub val_accuracy: Option<f64>,
    /// Training throughput of the epoch.
    pub samples_per_sec: f64,
    /// Seconds since the run started.
    pub elapsed_secs: f64,
    /// With differential privacy: ε spent after this epoch (at the run's δ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
}

/// Progress inside an epoch, as the progress bar and the Train screen show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct BatchProgress {
    /// 1-based epoch.
    pub epoch: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Mean training loss so far this epoch.
    pub loss: f64,
    /// Training accuracy so far this epoch.
    pub accuracy: f64,
    /// Throughput so far this epoch.
    pub samples_per_sec: f64,
    /// Estimated seconds until the last epoch ends.
    pub eta_secs: f64,
}

/// An event of a training run, in the order they happen.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    /// The run began.
    Started {
        /// Identifier of the run (its folder name).
        run_id: String,
        /// Where the run's files go.
        run_dir: PathBuf,
        /// Epochs done before this start (0 for a new run; an interrupted run continues after
        /// them, and their metrics follow as `epoch` events).
        resumed_from: usize,
        /// The device used and why.
        device: String,
        /// Training samples.
        train_samples: usize,
        /// Validation samples.
        val_samples: usize,
        /// Epochs planned.
        epochs: usize,
        /// Batches per epoch.
        batches_per_epoch: usize,
        /// Trainable parameters.
        params: usize,
        /// Estimated memory the run needs, in words ("about 148 MB (weights …)").
        memory: String,
    },
    /// Progress inside an epoch (sent a few times per second at most).
    Batch(BatchProgress),
    /// An epoch finished.
    Epoch(EpochMetrics),
    /// Weights were written.
    Checkpoint {
        /// Epoch whose weights these are.
        epoch: usize,
        /// The weights file.
        path: PathBuf,
        /// Whether this is the new best checkpoint.
        best: bool,
    },
    /// Something the user should know that does not stop the run.
    Warning {
        /// How much it matters.
        level: Level,
        /// Plain-words message.
        message: String,
    },
    /// The run ended normally (all epochs or early stopping).
    Finished {
        /// Where the run's files are.
        run_dir: PathBuf,
        /// Epoch of the best checkpoint.
        best_epoch: usize,
        /// Its validation loss (training loss without a validation split).
        best_loss: f64,
        /// Its validation accuracy (training accuracy without a validation split).
        best_accuracy: f64,
        /// Epochs actually run.
        epochs_run: usize,
        /// Whether early stopping ended the run.
        stopped_early: bool,
    },
    /// The run could not go on.
    Failed {
        /// What went wrong and what to do.
        message: String,
    },
    /// The run was stopped on request.
    Cancelled {
        /// Why.
        message: String,
    },
}

impl TrainEvent {
    /// Whether this event ends the run.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Finished { .. } | Self::Failed { .. } | Self::Cancelled { .. }
        )
    }
}

/// Receives the events of a run (a channel for the GUI, a printer for the CLI, a vector in tests).
pub trait EventSink: Send + Sync {
    /// Called for every event, on the training thread.
    fn emit(&self, event: TrainEvent);
}

impl EventSink for crossbeam_channel::Sender<TrainEvent> {
    fn emit(&self, event: TrainEvent) {
        let _ = self.send(event); // A receiver that went away no longer wants events.
    }
}

impl<F: Fn(TrainEvent) + Send + Sync> EventSink for F {
    fn emit(&self, event: TrainEvent) {
        self(event);
    }
}

/// A cloneable stop (and pause) request, checked after every batch.
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    flag: AtomicBool,
    paused: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests a stop, with a reason shown to the user.
    pub fn cancel(&self, reason: impl Into<String>) {
        if let Ok(mut r) = self.inner.reason.lock() {
            r.get_or_insert(reason.into());
        }
        self.inner.flag.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested.
    pub fn is_cancelled(&self) -> bool {
        self.inner.flag.load(Ordering::Relaxed)
    }

    /// Pauses (`true`) or resumes (`false`) the run; a paused run waits before its next batch.
    pub fn set_paused(&self, paused: bool) {
        self.inner.paused.store(paused, Ordering::SeqCst);
    }

    /// Whether a pause was requested (and not yet resumed).
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::Relaxed)
    }

    /// The flag itself, for code that takes a plain `AtomicBool` (importers).
    pub fn flag(&self) -> &AtomicBool {
        &self.inner.flag
    }

    /// The reason given, if any.
    pub fn reason(&self) -> String {
        self.inner
            .reason
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_else(|| "stopped by the user".to_owned())
    }
}
