//! Strata's side of the W1/W2 benchmark in `../shared/bench` (same data, model, batch, protocol):
//! the engine's own training step (batching, forward, loss, backward, fused Adam) on the MNIST CSV.
//!
//! ```text
//! cargo run --release --example bench_train -- --csv $CSV --workload w2 --batch 64 --tile 2 --warmup-samples 1280
//! cargo run --release --example bench_train -- --csv $CSV --workload w1 --mode acc --epochs 5
//! scripts/build_cuda.sh release --example bench_train   # then --device cuda (scripts/gpu_check.sh)
//! ```
//! Prints one JSON line: `train_sps`, `infer_sps`, `epoch_secs`, `peak_rss_mb`, `test_acc`…

use std::time::Instant;

use clap::Parser;
use rand::{seq::SliceRandom, SeedableRng};
use strata::data::{Dataset, ImageDataset};
use strata::engine::{predict, train_step, Network, Optimizer, OptimizerConfig};
use strata::model;
use strata::project::{LossKind, OptimizerKind};

/// The same allocator as the `strata` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    csv: String,
    #[arg(long, default_value = "w1")]
    workload: String,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value = "train")]
    mode: String,
    #[arg(long, default_value_t = 12)]
    tile: usize,
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    #[arg(long, default_value_t = 5000)]
    warmup_samples: usize,
    #[arg(long, default_value_t = 256)]
    infer_batch: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu or cuda (a CUDA build, scripts/build_cuda.sh; falls back to the CPU and says so).
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn load(csv: &str) -> Result<ImageDataset, Box<dyn std::error::Error>> {
    let mut ds = ImageDataset {
        classes: (0..10).map(|d| d.to_string()).collect(),
        channels: 1,
        height: 28,
        width: 28,
        ..ImageDataset::default()
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(csv)?;
    for record in reader.records() {
        let record = record?;
        for v in record.iter().take(784) {
            ds.pixels.push(v.trim().parse()?);
        }
        ds.labels
            .push(record.get(784).ok_or("short row")?.trim().parse()?);
        ds.paths.push(Default::default());
    }
    Ok(ds)
}

fn tiled(ds: &ImageDataset, tile: usize) -> Dataset {
    let mut out = ds.clone();
    for _ in 1..tile {
        out.pixels.extend_from_slice(&ds.pixels);
        out.labels.extend_from_slice(&ds.labels);
        out.paths.extend_from_slice(&ds.paths);
    }
    Dataset::Images(out)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    strata::engine::configure_cpu();
    let args = Args::parse();
    let all = load(&args.csv)?;
    let graph = match args.workload.as_str() {
        "w1" => model::mlp(&[1, 28, 28], 10),
        _ => model::cnn(&[1, 28, 28], 10),
    };
    let choice = match args.device.as_str() {
        "cuda" => strata::project::DeviceChoice::Cuda,
        _ => strata::project::DeviceChoice::Cpu,
    };
    let (device, device_words) = strata::engine::select_device(choice);
    eprintln!("device: {device_words}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let net = Network::new(&graph, &device, &mut rng)?;
    let mut opt = Optimizer::for_network(
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            l1: 0.0,
            l2: 0.0,
        },
        &net,
    );
    let mut prof = [0f64; 3];
    let mut train_epoch = |ds: &Dataset,
                           indices: &[usize],
                           limit: usize|
     -> Result<(f64, f64), Box<dyn std::error::Error>> {
        let mut order = indices.to_vec();
        order.shuffle(&mut rng);
        order.truncate(limit);
        let start = Instant::now();
        let mut last = 0.0;
        for chunk in order.chunks(args.batch) {
            let b = ds.batch(chunk, None, &device)?;
            let step = train_step(&net, &mut opt, &b, LossKind::CrossEntropy, 10, &mut rng)?;
            last = f64::from(step.loss);
            prof[0] += step.forward_secs;
            prof[1] += step.backward_secs;
            prof[2] += step.update_secs;
        }
        Ok((start.elapsed().as_secs_f64(), last))
    };
    let mut out = serde_json::json!({
        "framework": "strata", "version": env!("CARGO_PKG_VERSION"), "workload": args.workload,
        "batch": args.batch, "mode": args.mode, "threads": rayon::current_num_threads(),
    });
    if args.mode == "train" {
        let data = tiled(&all, args.tile);
        let indices: Vec<usize> = (0..data.len()).collect();
        train_epoch(&data, &indices, args.warmup_samples)?;
        let mut secs = Vec::new();
        let mut loss = 0.0;
        for _ in 0..args.epochs {
            let (s, l) = train_epoch(&data, &indices, usize::MAX)?;
            secs.push(s);
            loss = l;
        }
        let total: f64 = secs.iter().sum();
        let infer = tiled(&all, args.tile);
        let infer_idx: Vec<usize> = (0..infer.len()).collect();
        predict(
            &net,
            &infer,
            &infer_idx[..args.infer_batch * 4],
            LossKind::CrossEntropy,
            args.infer_batch,
        )?;
        let t0 = Instant::now();
        predict(
            &net,
            &infer,
            &infer_idx,
            LossKind::CrossEntropy,
            args.infer_batch,
        )?;
        let isecs = t0.elapsed().as_secs_f64();
        out["train_samples"] = (data.len() * args.epochs).into();
        out["epoch_secs"] = secs
            .iter()
            .map(|s| (s * 1e4).round() / 1e4)
            .collect::<Vec<_>>()
            .into();
        out["train_sps"] = ((data.len() * args.epochs) as f64 / total).round().into();
        out["infer_samples"] = infer.len().into();
        out["infer_sps"] = (infer.len() as f64 / isecs).round().into();
        out["last_loss"] = ((loss * 1e4).round() / 1e4).into();
    } else {
        let all = tiled(&all, 1);
        let train_idx: Vec<usize> = (0..4000.min(all.len())).collect();
        let test_idx: Vec<usize> = (4000..all.len()).collect();
        let mut loss = 0.0;
        for _ in 0..args.epochs {
            loss = train_epoch(&all, &train_idx, usize::MAX)?.1;
        }
        let probs = predict(
            &net,
            &all,
            &test_idx,
            LossKind::CrossEntropy,
            args.infer_batch,
        )?;
        let correct = probs
            .iter()
            .zip(&test_idx)
            .filter(|(p, &i)| strata::eval::argmax(p).0 == all.labels()[i])
            .count();
        out["epochs"] = args.epochs.into();
        out["test_acc"] =
            ((correct as f64 / test_idx.len().max(1) as f64 * 1e4).round() / 1e4).into();
        out["last_loss"] = ((loss * 1e4).round() / 1e4).into();
    }
    out["profile_secs_fwd_bwd_opt"] = prof
        .iter()
        .map(|p| (p * 1e3).round() / 1e3)
        .collect::<Vec<_>>()
        .into();
    out["peak_rss_mb"] = ((peak_rss_mb() * 10.0).round() / 10.0).into();
    println!("{out}");
    Ok(())
}
