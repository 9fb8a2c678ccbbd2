//! How much memory a training run will need, estimated before it starts, so a run that cannot fit
//! is caught with a plain-words warning instead of the machine swapping or the process dying.

use crate::layers::MemoryCx;
use crate::model::{CheckedGraph, Graph};
use crate::project::OptimizerKind;

/// The parts of a run's memory, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Weights, and the gradients of those that train.
    pub parameters: u64,
    /// Optimizer state (momentum, Adam's two moments) of the weights that train.
    pub optimizer: u64,
    /// Layer outputs kept for the backward pass, their gradients, and the convolution scratch
    /// buffers, at the run's batch size; or, when larger, the outputs of the validation pass,
    /// which runs [`INFERENCE_BATCH`] samples at a time.
    pub activations: u64,
    /// A frozen pretrained part's working values while it computes features: needed in the
    /// first epoch and for samples its feature cache does not hold yet, not once every sample's
    /// features are cached (then the run needs that much less).
    pub features: u64,
    /// The imported data set (8-bit pixels).
    pub data: u64,
}

/// Bytes of one f32.
const F32: u64 = 4;

/// Samples per batch when nothing is learned (validation after each epoch, evaluation,
/// predictions).
pub const INFERENCE_BATCH: usize = 256;

/// Input values per batch up to which inference batches run side by side on the CPU (one per
/// thread): 1 MB of numbers, a few hundred small pictures or table rows.
pub const PARALLEL_VALUES: usize = 1 << 18;

/// How much of a frozen part's working set the process holds while computing features, in
/// percent: the pages the allocator keeps after the previous chunk freed them count too.
const FEATURES_HELD_PERCENT: u64 = 150;

/// Fixed cost of the process itself (code, allocator, thread stacks, import buffers): what a
/// `strata train` run measured beyond its estimate, at batch sizes 64 to 2,048.
const BASELINE: u64 = 80 << 20;

impl MemoryEstimate {
    /// Estimates a run of `graph` at `batch_size` with `optimizer` over `data_bytes` of data,
    /// with a validation pass over `validation_samples` after each epoch (none without them).
    pub fn new(
        graph: &Graph,
        checked: &CheckedGraph,
        batch_size: usize,
        optimizer: OptimizerKind,
        data_bytes: u64,
        validation_samples: usize,
    ) -> Self {
        let params = checked.total_params() as u64 * F32;
        // Frozen pretrained blocks keep their weights only: no gradient, no optimizer state.
        let trained = params.saturating_sub(graph.frozen_params(checked) as u64 * F32);
        let states = match optimizer {
            OptimizerKind::Sgd => 0,
            OptimizerKind::Momentum => 1,
            OptimizerKind::Adam | OptimizerKind::AdamW => 2,
        };
        let batch = batch_size.max(1) as u64;
        let threads = rayon::current_num_threads() as u64;
        let mut activations = 0u64;
        let mut scratch = 0u64;
        let mut frozen = 0u64;
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
            frozen = frozen.max(memory.frozen_floats_per_sample);
        }
        // A frozen part computes its features a chunk at a time (in the first epoch, and for
        // samples its cache does not hold); validation batches of small inputs (texts) run side
        // by side, one per thread (as many as there are batches), each with its own chunk.
        let chunk = |samples: u64| frozen * samples.min(crate::layers::FROZEN_CHUNK as u64) * F32;
        let validation = validation_samples as u64;
        let val_batch = validation.min(INFERENCE_BATCH as u64);
        let side_by_side = if input * INFERENCE_BATCH as u64 <= PARALLEL_VALUES as u64 {
            threads.min(validation.div_ceil(INFERENCE_BATCH as u64))
        } else {
            1
        };
        // The allocator keeps a chunk's freed pages for a while (mimalloc's purge delay, which
        // makes training faster), so the next chunk's values partly land beside them: an
        // EfficientNet-Lite0 project on the sample shapes peaked 1.5–1.7 times this working set
        // above the rest of the run, 1.1 times with `MIMALLOC_PURGE_DELAY=0`.
        let features =
            chunk(batch).max(chunk(val_batch) * side_by_side) * FEATURES_HELD_PERCENT / 100;
        let inference = (input + largest[0] + largest[1]) * val_batch * F32;
        Self {
            parameters: params + trained,
            optimizer: states * trained,
            activations: activations.max(inference) + scratch,
            features,
            data: data_bytes,
        }
    }

    /// The whole estimate, including the process's own baseline.
    pub fn total(&self) -> u64 {
        BASELINE + self.parameters + self.optimizer + self.activations + self.features + self.data
    }

    /// One line for people: "about 148 MB (weights 2.4 MB, …)"; a frozen pretrained part's
    /// feature computing is named apart, as it is over once every sample's features are cached.
    pub fn describe(&self) -> String {
        let features = if self.features > 0 {
            format!(
                ", computing features {} until they are cached",
                human_bytes(self.features)
            )
        } else {
            String::new()
        };
        format!(
            "about {} (the program {}, weights and gradients {}, optimizer {}, layer outputs {}{features}, data {})",
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
        let e = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Adam, 1000, 1000);
        assert_eq!(e.parameters, 2 * 101_770 * 4);
        assert_eq!(e.optimizer, 2 * 101_770 * 4);
        // Outputs per sample: the input batch once (784), then flatten 784, dense 128 and
        // dense 10, each kept with its gradient and the gradient's accumulation buffer.
        let training = (784 + 3 * (784 + 128 + 10)) * 32 * 4;
        // Validation, 256 at a time: the input and the two largest outputs (flatten, dense 128).
        let validation = (784 + 784 + 128) * 256 * 4;
        assert_eq!(e.activations, validation);
        let big_batch = MemoryEstimate::new(&g, &checked, 512, OptimizerKind::Adam, 1000, 1000);
        assert_eq!(big_batch.activations, training * 16);
        assert_eq!(e.data, 1000);
        // Nothing pretrained: no feature computing, and the line does not mention it.
        assert_eq!(e.features, 0);
        assert!(!e.describe().contains("features"), "{}", e.describe());
        assert_eq!(
            e.total(),
            BASELINE + e.parameters + e.optimizer + e.activations + 1000
        );
        // SGD keeps no state; a bigger batch needs more.
        let sgd = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Sgd, 1000, 1000);
        assert_eq!(sgd.optimizer, 0);
        let big = MemoryEstimate::new(&g, &checked, 1024, OptimizerKind::Adam, 1000, 1000);
        assert!(big.activations == 2 * big_batch.activations);
        // Without a validation split only training counts.
        let no_val = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Adam, 1000, 0);
        assert_eq!(no_val.activations, training);
        // 300 validation samples: the first batch of 256 is the largest.
        let some_val = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Adam, 1000, 300);
        assert_eq!(some_val.activations, validation);
        // 100: validation's one batch of 100 stays below training's 32 samples' outputs.
        let few_val = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Adam, 1000, 100);
        assert_eq!(
            few_val.activations,
            training.max((784 + 784 + 128) * 100 * 4)
        );
    }

    #[test]
    fn frozen_pretrained_weights_take_no_gradient_or_optimizer_state() {
        use crate::pretrained::Backbone;
        let minilm = Backbone::MiniLmL6;
        let fit = model::DataFit {
            shape: vec![64],
            task: crate::project::Task::Classify,
            classes: 3,
            vocab: None,
        };
        let mut g = model::template("transfer-text", &fit).unwrap();
        g.set_pretrained_weights(std::path::Path::new("minilm.safetensors"));
        let all = minilm.parameter_count() as u64;
        // The head: 384 features → 3 classes.
        let head = 384 * 3 + 3;
        let checked = g.validate().unwrap();
        assert_eq!(checked.total_params() as u64, all + head);
        let frozen = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Adam, 0, 1000);
        assert_eq!(frozen.parameters, (all + 2 * head) * 4);
        assert_eq!(frozen.optimizer, 2 * head * 4);
        // Features are computed 32 texts at a time in the encoder's buffers: per token six
        // rows of 384 (hidden values, residual, queries, keys, values, attention output) and
        // the feed-forward's 1,536.
        // Validation's batches of 64 ids run side by side, one per thread.
        let working = 32 * 64 * (6 * 384 + 1536) * 4 * rayon::current_num_threads() as u64;
        assert_eq!(frozen.features, working * 3 / 2, "{frozen:?}");
        // 30 validation texts are one batch: nothing runs beside it, the training batch's
        // chunk is the working set.
        let one_batch = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Adam, 0, 30);
        let threads = rayon::current_num_threads() as u64;
        assert_eq!(
            one_batch.features,
            working / threads * 3 / 2,
            "{one_batch:?}"
        );
        assert!(frozen.activations < 2 << 20, "{frozen:?}");
        assert_eq!(
            frozen.total(),
            BASELINE + frozen.parameters + frozen.optimizer + frozen.activations + working * 3 / 2
        );
        // The line names that part apart, as it is over once the features are cached.
        let line = frozen.describe();
        let part = format!(
            "computing features {} until they are cached",
            human_bytes(working * 3 / 2)
        );
        assert!(line.contains(&part), "{line}");
        // Its last block training: that block's weights take gradients and moments too.
        g.set_train_blocks(1);
        let checked = g.validate().unwrap();
        let last = all - minilm.frozen_parameter_count(1) as u64;
        assert!(last > 0 && last < all / 4, "{last} of {all}");
        assert_eq!(g.frozen_params(&checked) as u64, all - last);
        let tuned = MemoryEstimate::new(&g, &checked, 32, OptimizerKind::Adam, 0, 1000);
        assert_eq!(tuned.parameters, (all + head + last + head) * 4);
        assert_eq!(tuned.optimizer, 2 * (head + last) * 4);
        // The last layer's values are kept for the backward pass, with their gradients: per
        // token 32 rows of 384 and 3 of 1,536, per head six 64×64 score matrices.
        let layer = 64 * (32 * 384 + 3 * 1536) + 6 * 12 * 64 * 64;
        let kept = 5 * layer / 2 * 32 * 4;
        assert_eq!(tuned.features, working * 3 / 2, "{tuned:?}");
        assert!(tuned.activations >= kept, "{tuned:?}");
        assert!(tuned.activations < kept + (2 << 20), "{tuned:?}");
        // Every block training: as a network trained from scratch.
        g.set_train_blocks(minilm.units());
        let checked = g.validate().unwrap();
        assert_eq!(g.frozen_params(&checked), 0);
    }

    #[test]
    fn pretrained_blocks_values_by_hand() {
        use crate::pretrained::Backbone;
        let image = [3, 224, 224];
        for b in [
            Backbone::EfficientNetLite0,
            Backbone::ResNet18,
            Backbone::ResNet50,
        ] {
            assert_eq!(b.unit_values(&image).len(), b.units(), "{b:?}");
        }
        assert_eq!(Backbone::MiniLmL6.unit_values(&[64]).len(), 7);
        assert!(Backbone::MiniLmL6.unit_values(&image).is_empty());
        // EfficientNet-Lite0's second block at 112×112: 16 maps in, expanded to 96, the
        // depthwise convolution's 96 at 56×56, projected to 24: its largest. Training, each
        // convolution's output comes with the batch norm's and activation's four more.
        let effnet = Backbone::EfficientNetLite0.unit_values(&image);
        let (input, convs) = (16 * 112 * 112, [96 * 112 * 112, 96 * 56 * 56, 24 * 56 * 56]);
        assert_eq!(effnet[2], input + 5 * convs.iter().sum::<u64>());
        assert_eq!(effnet.iter().max(), Some(&effnet[2]));
        // Frozen: the kernels' one output per convolution, plus the batch, its normalized copy
        // and the kernels' copy.
        let frozen = Backbone::EfficientNetLite0.frozen_values(&image);
        assert_eq!(
            frozen,
            input + convs.iter().sum::<u64>() + 3 * 3 * 224 * 224
        );
    }

    #[test]
    fn warning_names_the_batch_size_when_outputs_dominate() {
        let g = model::cnn(&[3, 128, 128], 10);
        let checked = g.validate().unwrap();
        let e = MemoryEstimate::new(&g, &checked, 512, OptimizerKind::Adam, 0, 1000);
        assert!(e.warning(Some(u64::MAX), 512).is_none());
        let w = e.warning(Some(100 << 20), 512).unwrap();
        assert!(w.contains("lower the batch size (now 512"), "{w}");
        assert!(e.warning(None, 512).is_none());
        assert_eq!(human_bytes(148_000_000), "148 MB");
        assert_eq!(human_bytes(2_400_000_000), "2.4 GB");
    }
}
