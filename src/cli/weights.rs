//! `strata weights list|download|path`: the weights catalogue from the command line.

use std::io::{IsTerminal as _, Write as _};

use anyhow::{anyhow, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::CancelToken;
use crate::pretrained::{self, catalogue};

/// What `strata weights` does.
#[derive(Subcommand, Debug)]
pub enum WeightsAction {
    /// List the pretrained networks Strata can download: size, licence, where each one is.
    List,
    /// Download a network's weights (checksum verified; an interrupted download continues).
    Download {
        /// Its name from `strata weights list`, e.g. efficientnet-lite0 or minilm-l6.
        name: String,
        /// Put it in this folder instead of your data folder (a shared drive, a package being
        /// built); downloaded even when a copy exists elsewhere.
        #[arg(long)]
        into: Option<std::path::PathBuf>,
    },
    /// Print where a network's weights file is (exit code 1 when it is nowhere).
    Path {
        /// Its name from `strata weights list`.
        name: String,
    },
}

pub(super) fn run(action: WeightsAction) -> Result<()> {
    match action {
        WeightsAction::List => list(),
        WeightsAction::Download { name, into } => download(&name, into.as_deref()),
        WeightsAction::Path { name } => path(&name),
    }
}

fn lookup(name: &str) -> Result<&'static catalogue::Entry> {
    catalogue::find(name).ok_or_else(|| {
        let names: Vec<&str> = catalogue::CATALOGUE.iter().map(|e| e.name).collect();
        anyhow!(
            "'{name}' is not in the weights catalogue; it has {}",
            names.join(", ")
        )
    })
}

fn list() -> Result<()> {
    outln!(
        "{:<20} {:<24} {:>7}  {:<42} where",
        "name",
        "network",
        "size",
        "licence"
    );
    for e in catalogue::CATALOGUE {
        let at = pretrained::find_weights(e.backbone)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "not downloaded".to_owned());
        outln!(
            "{:<20} {:<24} {:>7}  {:<42} {at}",
            e.name,
            e.backbone.label(),
            e.size_text(),
            e.licence
        );
    }
    if let Some(folder) = catalogue::download_folder() {
        outln!("\nDownloads are kept in {}.", folder.display());
    }
    outln!("ResNet-18/34/50: no redistributable file is in the catalogue; choose a torchvision or timm file you have.");
    Ok(())
}

fn download(name: &str, into: Option<&std::path::Path>) -> Result<()> {
    let entry = lookup(name)?;
    if into.is_none() {
        if let Some(found) = pretrained::find_weights(entry.backbone) {
            outln!(
                "{} is already here: {}",
                entry.backbone.label(),
                found.display()
            );
            return Ok(());
        }
    }
    eprintln!(
        "Downloading {} ({}, {}) from {}",
        entry.backbone.label(),
        entry.size_text(),
        entry.licence,
        entry.host()
    );
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(entry.size);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let cancel = CancelToken::new();
    let progress = |done, _| bar.set_position(done);
    let result = match into {
        Some(folder) => catalogue::download(
            entry,
            &catalogue::source_url(entry),
            folder,
            &cancel,
            &progress,
        ),
        None => catalogue::install(entry, &cancel, &progress),
    };
    bar.finish_and_clear();
    let file = result?;
    outln!(
        "Downloaded and verified (SHA-256 {}…): {}",
        &entry.sha256[..12],
        file.display()
    );
    Ok(())
}

fn path(name: &str) -> Result<()> {
    let entry = lookup(name)?;
    match pretrained::find_weights(entry.backbone) {
        Some(p) => {
            outln!("{}", p.display());
            Ok(())
        }
        None => Err(anyhow!(
            "the {} weights are not on this computer; `strata weights download {}` fetches them ({})",
            entry.backbone.label(),
            entry.name,
            entry.size_text()
        )),
    }
}
