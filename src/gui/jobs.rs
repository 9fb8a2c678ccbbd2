//! Heavy work off the UI thread: a [`Job`] runs a closure on a worker, reports progress and its
//! result through a channel, and wakes the UI (a repaint request) whenever it has news.

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

use crate::engine::CancelToken;

enum Message<T> {
    Progress { done: usize, total: usize },
    Done(Result<T, JobError>),
}

/// Why a job gave no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The user cancelled it (not a failure: nothing to show in red).
    #[error("cancelled")]
    Cancelled,
    /// It failed; the message says why, on one line.
    #[error("{0}")]
    Failed(String),
}

/// What a job's closure gets: its cancel token and a way to report progress.
pub struct JobContext {
    /// Set when the user cancels; the closure should stop soon after.
    pub cancel: CancelToken,
    progress: Box<dyn Fn(usize, usize) + Send + Sync>,
}

impl JobContext {
    /// Reports `done` of `total` steps.
    pub fn progress(&self, done: usize, total: usize) {
        (self.progress)(done, total);
    }
}

/// A running (or finished) background job.
pub struct Job<T> {
    rx: Receiver<Message<T>>,
    cancel: CancelToken,
    /// What it does, for the progress line ("Importing images").
    pub label: String,
    /// Steps done and in all, as last reported.
    pub progress: (usize, usize),
    started: std::time::Instant,
}

impl<T: Send + 'static> Job<T> {
    /// Starts `work` on a new thread; `ctx` is woken on progress and at the end.
    pub fn spawn(
        label: impl Into<String>,
        ctx: &egui::Context,
        work: impl FnOnce(&JobContext) -> anyhow::Result<T> + Send + 'static,
    ) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let cancel = CancelToken::new();
        let label = label.into();
        let job_ctx = JobContext {
            cancel: cancel.clone(),
            progress: progress_sender(tx.clone(), ctx.clone()),
        };
        let waker = ctx.clone();
        let report_failure = tx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("strata-{label}"))
            .spawn(move || {
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&job_ctx)));
                let result = match result {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(e)) if job_ctx.cancel.is_cancelled() || is_cancellation(&e) => {
                        Err(JobError::Cancelled)
                    }
                    Ok(Err(e)) => Err(JobError::Failed(one_line(&e))),
                    Err(_) => Err(JobError::Failed(
                        "an internal error stopped this task; please report it".to_owned(),
                    )),
                };
                let _ = tx.send(Message::Done(result));
                waker.request_repaint();
            });
        if let Err(e) = spawned {
            let _ = report_failure.send(Message::Done(Err(JobError::Failed(format!(
                "could not start a worker thread: {e}"
            )))));
        }
        Self {
            rx,
            cancel,
            label,
            progress: (0, 0),
            started: std::time::Instant::now(),
        }
    }
}

impl<T> Job<T> {
    /// Takes in progress reports; returns the result once the job has ended.
    pub fn poll(&mut self) -> Option<Result<T, JobError>> {
        while let Ok(message) = self.rx.try_recv() {
            match message {
                Message::Progress { done, total } => self.progress = (done, total),
                Message::Done(result) => return Some(result),
            }
        }
        None
    }

    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.cancel.cancel("cancelled by the user");
    }

    /// Fraction done in [0, 1], when known.
    pub fn fraction(&self) -> Option<f32> {
        let (done, total) = self.progress;
        (total > 0).then(|| done as f32 / total as f32)
    }

    /// Seconds since the job started.
    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

fn progress_sender<T: Send + 'static>(
    tx: Sender<Message<T>>,
    ctx: egui::Context,
) -> Box<dyn Fn(usize, usize) + Send + Sync> {
    // Reports can come from many rayon threads; the channel is the only shared state.
    let last = std::sync::Mutex::new(std::time::Instant::now());
    Box::new(move |done, total| {
        let due = last.lock().map_or(true, |mut t| {
            if t.elapsed().as_millis() >= 30 || done == total {
                *t = std::time::Instant::now();
                true
            } else {
                false
            }
        });
        if due {
            let _ = tx.send(Message::Progress { done, total });
            ctx.request_repaint();
        }
    })
}

/// Whether an error is an import stopped on request.
fn is_cancellation(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<crate::data::DataError>(),
            Some(crate::data::DataError::Cancelled)
        )
    })
}

/// An error and its cause on one line, as shown in the status bar.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}
