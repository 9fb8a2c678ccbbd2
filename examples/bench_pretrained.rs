//! Strata's side of the pretrained-network speed comparison (`scripts/bench_pretrained.sh`, with
//! `scripts/bench_pretrained_torch.py` as PyTorch's side): the frozen backbone's forward pass, as
//! a transfer project computes its features, on batches of made-up inputs (seeded; decoding and
//! resizing are not timed, on either side).
//!
//! ```text
//! cargo run --release --example bench_pretrained -- --backbone efficientnet-lite0 --weights W.pth
//! cargo run --release --example bench_pretrained -- --backbone minilm-l6 --weights model.safetensors
//! ```
//! Prints one JSON line: `per_sec` (images or texts per second over the median batch: each batch
//! is timed alone, so a burst of time taken by the host, common on shared virtual machines, skews
//! one batch and not the figure), `per_sec_all` (over all batches together), `batch`, `batches`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use clap::Parser;
use rand::{Rng, SeedableRng};
use strata::pretrained::{weights, Backbone};

/// The same allocator as the `strata` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// efficientnet-lite0 or minilm-l6.
    #[arg(long)]
    backbone: String,
    /// The weights file (as the tests fetch it).
    #[arg(long)]
    weights: PathBuf,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Timed batches, after one untimed.
    #[arg(long, default_value_t = 8)]
    batches: usize,
    /// Image side (images) or tokens per text (texts).
    #[arg(long)]
    size: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // As the `strata` binary starts: its thread pool, denormal numbers flushed to zero.
    strata::engine::configure_cpu();
    let backbone = match args.backbone.as_str() {
        "efficientnet-lite0" => Backbone::EfficientNetLite0,
        "minilm-l6" => Backbone::MiniLmL6,
        other => return Err(format!("unknown backbone '{other}'").into()),
    };
    let (_, file) = weights::read(&args.weights)?;
    let tensors: HashMap<String, Tensor> = backbone.select(file)?;
    let p = |name: &str| {
        tensors
            .get(name)
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("weight '{name}' is missing")))
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let image = backbone.id() != Backbone::MiniLmL6.id();
    let size = args.size.unwrap_or(if image { 224 } else { 64 });
    let batch = |rng: &mut rand::rngs::StdRng| -> candle_core::Result<Tensor> {
        if image {
            let n = args.batch * 3 * size * size;
            let v: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
            Tensor::from_vec(v, (args.batch, 3, size, size), &Device::Cpu)
        } else {
            // Word-piece ids past the special tokens, no padding.
            let n = args.batch * size;
            let v: Vec<f32> = (0..n)
                .map(|_| rng.random_range(1000..30_000) as f32)
                .collect();
            Tensor::from_vec(v, (args.batch, size), &Device::Cpu)
        }
    };
    let warm = batch(&mut rng)?;
    backbone.forward(&warm, 0, &p)?;
    let inputs = (0..args.batches)
        .map(|_| batch(&mut rng))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let mut secs = Vec::with_capacity(inputs.len());
    for x in &inputs {
        let start = Instant::now();
        let features = backbone.forward(x, 0, &p)?;
        std::hint::black_box(features.sum_all()?.to_scalar::<f32>()?);
        secs.push(start.elapsed().as_secs_f64());
    }
    let all = args.batch as f64 * secs.len() as f64 / secs.iter().sum::<f64>();
    secs.sort_by(f64::total_cmp);
    let median = match secs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => secs[n / 2],
        n => (secs[n / 2 - 1] + secs[n / 2]) / 2.0,
    };
    let per_sec = args.batch as f64 / median;
    println!(
        "{{\"who\": \"strata\", \"backbone\": \"{}\", \"size\": {size}, \"batch\": {}, \"batches\": {}, \"threads\": {}, \"per_sec\": {per_sec:.2}, \"per_sec_all\": {all:.2}}}",
        args.backbone,
        args.batch,
        args.batches,
        rayon::current_num_threads()
    );
    Ok(())
}
