//! The training engine: graph → candle network, the training loop and its events, optimizers,
//! losses, custom ops, devices, checkpoints and run folders. Knows nothing of front ends.

mod device;
mod events;
pub mod fused;
pub mod gan;
mod memory;
pub(crate) mod network;
pub mod ops;
mod optim;
pub mod privacy;
pub(crate) mod recurrent;
pub mod resume;
pub mod runs;
mod train;

pub use device::{configure_cpu, flush_denormals, select_device};
pub use events::{BatchProgress, CancelToken, EpochMetrics, EventSink, Level, TrainEvent};
pub use memory::{available_memory, human_bytes, MemoryEstimate, INFERENCE_BATCH};
pub use network::{activate, NamedVar, Network, NetworkError, Output};
pub use optim::{Optimizer, OptimizerConfig, Param, MOMENTUM};
pub use runs::{latest_run, RunManifest, TrainedModel};
pub use train::{
    batch_loss, inference_device, predict, probabilities, resume, resume_in_background,
    resume_project, train, train_in_background, train_step, PreparedData, RunOutcome, StepResult,
};
