//! Records build information (git commit, device features, date) for `strata --version` and the
//! About dialog. Never fails the build: missing facts become "unknown".

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=10", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    let mut features = vec!["cpu"];
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        features.push("cuda");
    }
    if std::env::var_os("CARGO_FEATURE_METAL").is_some() {
        features.push("metal");
    }
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=STRATA_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=STRATA_FEATURES={}", features.join("+"));
    println!("cargo:rustc-env=STRATA_BUILD_DATE={date}");
    windows_resources();
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-changed=build.rs");
}

/// On Windows targets: the icon and version resource Explorer shows. Skipped everywhere else, so
/// Linux and macOS builds do not pay for it.
#[cfg(windows)]
fn windows_resources() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let mut res = winresource::WindowsResource::new();
    res.set_icon("assets/icon.ico")
        .set("ProductName", "Strata")
        .set("FileDescription", "Strata — no-code deep learning studio");
    if let Err(e) = res.compile() {
        // An icon is not worth a failed build; say why it is missing.
        println!("cargo:warning=could not embed the Windows icon and version resource: {e}");
    }
    println!("cargo:rerun-if-changed=assets/icon.ico");
}

#[cfg(not(windows))]
fn windows_resources() {}
