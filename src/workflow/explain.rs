//! Explaining a trained run's answer for one sample, as both front ends ask for it: the
//! explanation is computed once and kept with the run (`explanations/` in the run's folder,
//! keyed by the sample's input values, the method and the run's weights), so asking again, or
//! from the other front end, is instant.

use std::path::{Path, PathBuf};

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::data::Dataset;
use crate::engine::TrainedModel;
use crate::explain::{self, Explanation, Method};

/// Folder inside a run where explanations are kept.
pub const EXPLANATIONS_DIR: &str = "explanations";

/// What to explain about one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExplainAsk {
    /// The method (`None`: the kind's default).
    pub method: Option<Method>,
    /// The class (`None`: the predicted one).
    pub class: Option<usize>,
    /// Whether to run the sanity checks.
    pub checks: bool,
}

/// Explains `trained`'s answer for sample `index` of `dataset`, reading and keeping the result
/// in `run_dir`'s explanations when a run folder is given.
pub fn explain_sample(
    run_dir: Option<&Path>,
    trained: &TrainedModel,
    dataset: &Dataset,
    index: usize,
    ask: ExplainAsk,
) -> Result<Explanation> {
    let cache = run_dir.and_then(|dir| cache_file(dir, dataset, index, ask));
    if let Some(found) = cache.as_deref().and_then(read_cached) {
        return Ok(found);
    }
    let explanation = explain::explain(&explain::Request {
        network: &trained.network,
        loss: trained.manifest.training.loss,
        dataset,
        index,
        method: ask.method,
        class: ask.class,
        checks: ask.checks,
    })?;
    if let Some(file) = cache {
        if let (Some(dir), Ok(bytes)) = (file.parent(), serde_json::to_vec(&explanation)) {
            if std::fs::create_dir_all(dir).is_ok() {
                crate::files::write_cache(&file, &bytes);
            }
        }
    }
    Ok(explanation)
}

fn read_cached(file: &Path) -> Option<Explanation> {
    serde_json::from_slice(&std::fs::read(file).ok()?).ok()
}

/// The cache file for this sample and question: a digest of the input values, the question and
/// the run's best weights (size and modification time), so a resumed run explains afresh.
fn cache_file(run_dir: &Path, dataset: &Dataset, index: usize, ask: ExplainAsk) -> Option<PathBuf> {
    let values = explain::sample_input(dataset, index).ok()?;
    let weights = run_dir
        .join(crate::engine::runs::BEST_DIR)
        .join(crate::engine::runs::WEIGHTS_FILE);
    let meta = std::fs::metadata(&weights).ok()?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut h = Sha256::new();
    h.update(b"strata-explanation-4");
    h.update(format!(
        "{:?}|{:?}|{}|{}|{modified}",
        ask.method,
        ask.class,
        ask.checks,
        meta.len()
    ));
    for v in values {
        h.update(v.to_le_bytes());
    }
    let digest = h.finalize();
    let name: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    Some(run_dir.join(EXPLANATIONS_DIR).join(format!("{name}.json")))
}
