//! How much memory a training run will need, estimated before it starts, so a run that cannot fit
//! is caught with a plain-words warning instead of the machine swapping or the process dying.

use crate::layers::MemoryCx;
use crate::model::{CheckedGraph, Graph};
use crate::project::OptimizerKind;

/// The parts of a run's memory, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Weights and their gradients.
    pub parameters: u64,
    /// Optimizer state (momentum, Adam's two moments).
    pub optimizer: u64,
    /// Layer outputs kept for the backward pass, their gradients, and the convolution scratch
    /// buffers, at the run's batch size; or, when larger, the outputs of the validation pass,
    /// which runs [`INFERENCE_BATCH`] samples at a time.
    pub activations: u64,
    /// The imported data set (8-bit pixels).
    pub data: u64,
}

/// Bytes of one f32.
const F32: u64 = 4;

/// Samples per batch when nothing is learned (validation after each epoch, evaluation,
/// predictions).
pub const INFERENCE_BATCH: usize = 256;

/// Fixed cost of the process itself (code, allocator, thread stacks, import buffers): what a
/// `strata train` run measured beyond its estimate, at batch sizes 64 to 2,048.
const BASELINE: u64 = 80 << 20;

impl MemoryEstimate {
    /// Estimates a run of `graph` at `batch_size` with `optimizer` over `data_bytes` of data,
    /// with a validation pass after each epoch when `validates`.
    pub fn new(
        graph: &Graph,
        checked: &CheckedGraph,
        batch_size: usize,
        optimizer: OptimizerKind,
        data_bytes: u64,
        validates: bool,
    ) -> Self {
        let params = checked.total_params() as u64 * F32;
        let states = match optimizer {
            OptimizerKind::Sgd => 0,
            OptimizerKind::Momentum => 1,
            OptimizerKind::Adam | OptimizerKind::AdamW => 2,
        };
        let batch = batch_size.max(1) as u64;
        let threads = rayon::current_num_threads() as u64;
        let mut activations = 0u64;
        let mut scratch = 0u64;
        // Without a backward pass each output is dropped once the next layer has read it: the
        // input batch plus the two largest outputs at a time.
        let (mut input, mut largest) = (0u64, [0u64; 2]);
        let fused_pools = super::network::fusable_pools(graph, checked);
        for &i in &checked.order {
            let floats = checked.info[i].output_shape.iter().product::<usize>() as u64;
            if graph.nodes[i].layer.is_input() {
                input = floats;
            } else if fused_pools[i].is_some() {
                // A convolution fused with its pool never stores its own output.
            } else if floats > largest[0] {
                largest = [floats, largest[0]];
            } else {
                largest[1] = largest[1].max(floats);
            }
            let memory = graph.nodes[i].layer.kind().memory(&MemoryCx {
                input: graph.input_shape(checked, i),
                output: &checked.info[i].output_shape,
                fused_with_pool: fused_pools[i].is_some(),
            });
            activations += memory.floats_per_sample * batch * F32;
            scratch = scratch.max(memory.scratch_floats_per_thread * F32 * threads);
        }
        let inference = if validates {
            (input + largest[0] + largest[1]) * INFERENCE_BATCH as u64 * F32
        } else {
            0
        };
        Self {
            parameters: 2 * params,
            optimizer: states * params,
            activations: activations.max(inference) + scratch,
            data: data_bytes,
        }
    }

    /// The whole estimate, including the process's own baseline.
    pub fn total(&self) -> u64 {
        BASELINE + self.parameters + self.optimizer + self.activations + self.data
    }

    /// One line for people: "about 148 MB (weights 2.4 MB, …)".
    pub fn describe(&self) -> String {
        format!(
            "about {} (the program {}, weights and gradients {}, optimizer {}, layer outputs {}, data {})",
            human_bytes(self.total()),
            human_bytes(BASELINE),
            human_bytes(self.parameters),
            human_bytes(self.optimizer),
            human_bytes(self.activations),
            human_bytes(self.data)
        )
    }

    /// A warning when the run will not fit in `available` bytes (leaving a fifth for the rest of
    /// the system), with what to change.
    pub fn warning(&self, available: Option<u64>, batch_size: usize) -> Option<String> {
        let available = available?;
        let need = self.total();
        (need > available / 5 * 4).then(|| {
            let hint = if self.activations > self.parameters + self.optimizer && batch_size > 1 {
                format!(
                    "lower the batch size (now {batch_size}; the layer outputs take {})",
                    human_bytes(self.activations)
                )
            } else {
                "use a smaller model or smaller images".to_owned()
            };
            format!(
                "this run needs {} of memory but only {} is free; it may fail or make the computer very slow. To fit, {hint}",
                human_bytes(need),
                human_bytes(available)
            )
        })
    }
}

/// Memory the system can still give us, in bytes (Linux: `MemAvailable`; elsewhere unknown).
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// "148 MB", "2.4 GB", "512 kB", "300 bytes".
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e7 {
        format!("{:.0} MB", b / 1e6)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} kB", b / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    #[test]
    fn estimate_adds_up_the_parts_by_hand() {
        // The Keras example: 784·128 + 128 + 128·10 + 10 = 101,770 parameters.
        let g = model::mlp(&[1, 28, 28], 10);
        let checked = g.validate().unwrap();
        let e = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Adam, 1000, true);
        assert_eq!(e.parameters, 2 * 101_770 * 4);
        assert_eq!(e.optimizer, 2 * 101_770 * 4);
        // Outputs per sample: the input batch once (784), then flatten 784, dense 128 and
        // dense 10, each kept with its gradient and the gradient's accumulation buffer.
        let training = (784 + 3 * (784 + 128 + 10)) * 32 * 4;
        // Validation, 256 at a time: the input and the two largest outputs (flatten, dense 128).
        let validation = (784 + 784 + 128) * 256 * 4;
        assert_eq!(e.activations, validation);
        let big_batch = MemoryEstimate::new(&g, &checked, 512, OptimizerKind::Adam, 1000, true);
        assert_eq!(big_batch.activations, training * 16);
        assert_eq!(e.data, 1000);
        assert_eq!(
            e.total(),
            BASELINE + e.parameters + e.optimizer + e.activations + 1000
        );
        // SGD keeps no state; a bigger batch needs more.
        let sgd = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Sgd, 1000, true);
        assert_eq!(sgd.optimizer, 0);
        let big = MemoryEstimate::new(&g, &checked, 1024, OptimizerKind::Adam, 1000, true);
        assert!(big.activations == 2 * big_batch.activations);
        // Without a validation split only training counts.
        let no_val = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Adam, 1000, false);
        assert_eq!(no_val.activations, training);
    }

    #[test]
    fn warning_names_the_batch_size_when_outputs_dominate() {
        let g = model::cnn(&[3, 128, 128], 10);
        let checked = g.validate().unwrap();
        let e = MemoryEstimate::new(&g, &checked, 512, OptimizerKind::Adam, 0, true);
        assert!(e.warning(Some(u64::MAX), 512).is_none());
        let w = e.warning(Some(100 << 20), 512).unwrap();
        assert!(w.contains("lower the batch size (now 512"), "{w}");
        assert!(e.warning(None, 512).is_none());
        assert_eq!(human_bytes(148_000_000), "148 MB");
        assert_eq!(human_bytes(2_400_000_000), "2.4 GB");
    }
}
