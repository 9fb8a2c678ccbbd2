//! Writes a large folder of generated colour photos for the scale benchmark
//! (`scripts/bench_scale.sh`): `COUNT` JPEGs of `SIDE`×`SIDE` pixels in ten class folders, each a
//! coloured disc, square or stripe pattern (the class sets hue and shape) over a noisy
//! gradient. Deterministic per file (the seed is the file's number), written in parallel; files
//! already there are kept, so an interrupted run continues.
//!
//! `cargo run --release --example make_scale_images -- OUT_DIR [COUNT] [SIDE]`

use std::path::PathBuf;

use image::{ImageBuffer, Rgb};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

const CLASSES: usize = 10;

fn picture(index: usize, side: u32) -> ImageBuffer<Rgb<u8>, Vec<u8>> {
    let class = index % CLASSES;
    let mut rng = rand::rngs::StdRng::seed_from_u64(index as u64);
    let hue = class as f32 / CLASSES as f32;
    let channel = |phase: f32| 255.0 * (0.5 + 0.5 * (std::f32::consts::TAU * (hue + phase)).cos());
    let colour = [channel(0.0), channel(0.33), channel(0.67)];
    let s = side as f32;
    let (cx, cy) = (
        rng.random_range(0.3..0.7) * s,
        rng.random_range(0.3..0.7) * s,
    );
    let radius = rng.random_range(0.15..0.3) * s;
    let tilt: f32 = rng.random_range(0.0..1.0);
    let background: f32 = rng.random_range(40.0..140.0);
    ImageBuffer::from_fn(side, side, |x, y| {
        let (u, v) = (x as f32 - cx, y as f32 - cy);
        let on = match class % 3 {
            0 => u * u + v * v <= radius * radius,
            1 => u.abs() <= radius && v.abs() <= radius,
            _ => ((u * tilt + v) / (0.2 * radius)).sin() > 0.3 && u.abs() < 1.5 * radius,
        };
        let noise: f32 = rng.random_range(-20.0..20.0);
        let base = background + 0.2 * (x as f32 + y as f32) * 224.0 / s;
        let value = |c: usize| {
            let v = if on { colour[c] } else { base } + noise;
            v.clamp(0.0, 255.0) as u8
        };
        Rgb([value(0), value(1), value(2)])
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: make_scale_images OUT_DIR [COUNT] [SIDE]")?,
    );
    let count: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let side: u32 = args.next().map_or(Ok(224), |a| a.parse())?;
    for class in 0..CLASSES {
        std::fs::create_dir_all(out.join(format!("class_{class}")))?;
    }
    (0..count).into_par_iter().try_for_each(|i| {
        let path = out
            .join(format!("class_{}", i % CLASSES))
            .join(format!("{i:06}.jpg"));
        if path.exists() {
            return Ok(());
        }
        let tmp = path.with_extension("jpg.part");
        picture(i, side)
            .save_with_format(&tmp, image::ImageFormat::Jpeg)
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(image::ImageError::IoError))
            .map_err(|e| format!("{}: {e}", path.display()))
    })?;
    println!("{count} pictures of {side}×{side} in {}", out.display());
    Ok(())
}
