//! Writes the benchmark MNIST CSV (784 pixel columns 0..255, then the label; see
//! `../shared/bench/prep_data.py`) as PNG class folders: rows 0..3999 → `OUT/train/<digit>/`,
//! rows 4000..4999 → `OUT/test/<digit>/`, the same split the PyTorch and Keras programs use.
//!
//! `cargo run --release --example mnist_folders -- CSV OUT`

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(csv), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: mnist_folders CSV OUT".into());
    };
    let out = PathBuf::from(out);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&csv)?;
    let mut n = 0usize;
    for (row, record) in reader.records().enumerate() {
        let record = record?;
        if record.len() != 785 {
            return Err(format!("row {row} has {} columns, expected 785", record.len()).into());
        }
        let pixels: Vec<u8> = record
            .iter()
            .take(784)
            .map(|v| v.trim().parse::<u8>())
            .collect::<Result<_, _>>()?;
        let label = record.get(784).unwrap_or("0").trim();
        let part = if row < 4000 { "train" } else { "test" };
        let dir = out.join(part).join(label);
        std::fs::create_dir_all(&dir)?;
        let img = image::GrayImage::from_raw(28, 28, pixels).ok_or("bad row")?;
        img.save(dir.join(format!("{row:05}.png")))?;
        n += 1;
    }
    println!("wrote {n} images under {}", out.display());
    Ok(())
}
