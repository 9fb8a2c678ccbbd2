//! Continuing an interrupted run (killed, crashed, stopped): with every last checkpoint the run
//! also writes its whole training state — weights, the optimizer's moments and step count, the
//! epochs done, the best epoch so far and the curves — into one file, written atomically, so a
//! run continues from it exactly as if it had never stopped. The data order and every random
//! draw of an epoch come from the run's seed and the epoch number alone (see `train`), so
//! nothing else needs saving.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::events::EpochMetrics;
use super::network::{Network, NetworkError};
use super::optim::Optimizer;
use super::runs::{self, RunManifest};
use crate::model::Graph;

/// The training state file inside the last checkpoint's folder.
pub const STATE_FILE: &str = "resume.safetensors";
/// Key of the state's JSON in the file's metadata.
const STATE_KEY: &str = "strata.training_state";
const WEIGHT_PREFIX: &str = "model/";
const FIRST_PREFIX: &str = "optimizer.first/";
const SECOND_PREFIX: &str = "optimizer.second/";

/// Where a run stands after its last finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Epochs finished.
    pub epoch: usize,
    /// Optimizer updates made.
    pub optimizer_steps: i32,
    /// The best epoch so far: number, its (validation) loss and score.
    pub best: Option<(usize, f64, f64)>,
    /// Epochs since the best one (for early stopping).
    pub since_best: usize,
    /// The metrics of every finished epoch.
    pub history: Vec<EpochMetrics>,
}

/// Saves the training state of `run_dir` after an epoch (one file, atomically).
pub fn save_state(
    run_dir: &Path,
    net: &Network,
    optimizer: &Optimizer,
    state: &TrainingState,
) -> Result<(), NetworkError> {
    let fail = |e: String| {
        NetworkError::Weights(format!(
            "could not save the training state in '{}': {e}",
            run_dir.display()
        ))
    };
    let mut tensors: HashMap<String, Tensor> = net
        .vars()
        .iter()
        .map(|v| {
            (
                format!("{WEIGHT_PREFIX}{}", v.name),
                v.var.as_tensor().clone(),
            )
        })
        .collect();
    let trainable: Vec<&str> = net
        .vars()
        .iter()
        .filter(|v| v.trainable)
        .map(|v| v.name.as_str())
        .collect();
    let (first, second) = optimizer.moments().map_err(|e| fail(e.to_string()))?;
    for (prefix, moments) in [(FIRST_PREFIX, first), (SECOND_PREFIX, second)] {
        for (name, m) in trainable.iter().zip(moments) {
            if !m.is_empty() {
                let t = Tensor::from_slice(&m, m.len(), &Device::Cpu)
                    .map_err(|e| fail(e.to_string()))?;
                tensors.insert(format!("{prefix}{name}"), t);
            }
        }
    }
    let json = serde_json::to_string(state).map_err(|e| fail(e.to_string()))?;
    let metadata = HashMap::from([(STATE_KEY.to_owned(), json)]);
    let dir = run_dir.join(runs::LAST_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
    let tensors = tensors.into_iter().collect();
    crate::tensor_file::write(&dir.join(STATE_FILE), tensors, Some(metadata)).map_err(fail)
}

/// Reads only the state's description of a run (not its tensors): what the runs list shows.
/// `None` when the run has no state file or it cannot be read.
pub fn read_state(run_dir: &Path) -> Option<TrainingState> {
    let path = run_dir.join(runs::LAST_DIR).join(STATE_FILE);
    let mut file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len).ok()?;
    let len = u64::from_le_bytes(len);
    // The header's length is checked against the file before anything is allocated for it.
    if len > size.saturating_sub(8) || len > 64 * 1024 * 1024 {
        return None;
    }
    let mut header = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact(&mut header).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    let json = header.get("__metadata__")?.get(STATE_KEY)?.as_str()?;
    serde_json::from_str(json).ok()
}

/// Puts the saved state of `run_dir` into a freshly built `net` and `optimizer` (built from the
/// run's graph and settings) and returns where the run stands.
pub fn load_state(
    run_dir: &Path,
    net: &Network,
    optimizer: &mut Optimizer,
) -> Result<TrainingState, NetworkError> {
    let path = run_dir.join(runs::LAST_DIR).join(STATE_FILE);
    let damaged = |what: String| {
        NetworkError::Weights(format!(
            "the training state in '{}' cannot be used ({what}); start a new run",
            path.display()
        ))
    };
    let mut file = crate::tensor_file::TensorFile::open(&path).map_err(damaged)?;
    let state: TrainingState = file
        .metadata()
        .and_then(|m| m.get(STATE_KEY))
        .ok_or_else(|| damaged("it has no training state".to_owned()))
        .and_then(|json| serde_json::from_str(json).map_err(|e| damaged(e.to_string())))?;
    // One tensor at a time (a pretrained part's weights are in here too).
    for v in net.vars() {
        let t = file
            .read(&format!("{WEIGHT_PREFIX}{}", v.name))
            .map_err(damaged)?
            .ok_or_else(|| damaged(format!("'{}' is missing", v.name)))?;
        if t.dims() != v.var.dims() {
            return Err(damaged(format!("'{}' has another shape", v.name)));
        }
        v.var.set(&t.to_device(net.device())?)?;
    }
    let mut moments = |prefix: &str| -> Result<Vec<Vec<f32>>, NetworkError> {
        net.vars()
            .iter()
            .filter(|v| v.trainable)
            .map(
                |v| match file.read(&format!("{prefix}{}", v.name)).map_err(damaged)? {
                    Some(t) => Ok(t.flatten_all()?.to_vec1::<f32>()?),
                    None => Ok(Vec::new()),
                },
            )
            .collect()
    };
    optimizer
        .restore(
            state.optimizer_steps,
            moments(FIRST_PREFIX)?,
            moments(SECOND_PREFIX)?,
        )
        .map_err(damaged)?;
    Ok(state)
}

/// An interrupted run that can continue: its description, where it stopped and its graph.
#[derive(Clone, Debug)]
pub struct Interrupted {
    /// What the run was trained with.
    pub manifest: RunManifest,
    /// Where it stands.
    pub state: TrainingState,
    /// The model it trains.
    pub graph: Graph,
}

/// Whether `run_dir` holds a run that stopped before its last epoch and can continue, and why
/// not when it cannot (in words for people).
pub fn interrupted(run_dir: &Path) -> Result<Interrupted, String> {
    let manifest = runs::read_manifest(run_dir).map_err(|e| e.to_string())?;
    if manifest.finished {
        return Err(format!(
            "the run '{}' has finished; it cannot be resumed",
            manifest.run_id
        ));
    }
    let state = read_state(run_dir).ok_or_else(|| {
        format!(
            "the run '{}' stopped before finishing an epoch (or was made by an older Strata), so there is nothing to resume; start a new run",
            manifest.run_id
        )
    })?;
    if state.epoch >= manifest.training.epochs {
        return Err(format!(
            "the run '{}' has done all its {} epochs",
            manifest.run_id, manifest.training.epochs
        ));
    }
    let graph_path = run_dir.join(runs::LAST_DIR).join(runs::GRAPH_FILE);
    let graph = std::fs::read_to_string(&graph_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        .map_err(|e| {
            format!(
                "the run's model in '{}' cannot be read: {e}",
                graph_path.display()
            )
        })?;
    Ok(Interrupted {
        manifest,
        state,
        graph,
    })
}

/// The newest interrupted run of the project at `project_path`, if any.
pub fn latest_interrupted(project_path: &Path) -> Option<(std::path::PathBuf, Interrupted)> {
    runs::list_runs(project_path)
        .into_iter()
        .find_map(|r| interrupted(&r.dir).ok().map(|i| (r.dir, i)))
}
