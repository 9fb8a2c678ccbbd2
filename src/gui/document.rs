//! The open project and the one place it changes: every edit is a [`Command`] applied by
//! [`Document::apply`], which also keeps undo/redo and the "unsaved changes" mark.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::model::{EditError, Graph, Layer};
use crate::project::{DataSettings, Project, ProjectError, TrainingSettings};

/// An edit of the project.
#[derive(Clone, Debug)]
pub enum Command {
    /// New data settings (import options, split, augmentation).
    SetData(DataSettings),
    /// New training settings.
    SetTraining(TrainingSettings),
    /// Make a run (its folder name) the project's model; None: the newest run.
    SetModelRun(Option<String>),
    /// Replace the whole model (templates, auto-fit); `what` names it for the status line.
    ReplaceModel {
        /// The new graph.
        graph: Graph,
        /// Short description, e.g. "CNN template".
        what: String,
    },
    /// Add a layer at an editor position, optionally inserted after an existing node: it is fed
    /// by that node and takes over feeding the single-input layers that node fed.
    AddNode {
        /// The layer.
        layer: Layer,
        /// Editor position.
        position: [f32; 2],
        /// Node to insert it after.
        after: Option<String>,
    },
    /// Remove a node and every wire to it.
    RemoveNode(String),
    /// Copy a node (settings, not wires) next to it.
    DuplicateNode(String),
    /// Change a node's layer settings.
    SetLayer {
        /// Node name.
        name: String,
        /// New settings.
        layer: Layer,
    },
    /// Rename a node (wires follow).
    RenameNode {
        /// Current name.
        from: String,
        /// New name.
        to: String,
    },
    /// Wire `from`'s output into `to`'s input number `slot` (replacing what was there).
    Connect {
        /// Source node.
        from: String,
        /// Destination node.
        to: String,
        /// Input slot of the destination.
        slot: usize,
    },
    /// Remove the wire from `from` into `to`.
    Disconnect {
        /// Source node.
        from: String,
        /// Destination node.
        to: String,
    },
    /// Nodes were dragged in the editor.
    MoveNodes(Vec<(String, [f32; 2])>),
    /// Arrange the nodes left to right by depth.
    AutoLayout,
    /// Make the project an image generator with these two networks (the discriminator becomes
    /// the model).
    MakeGenerator {
        /// The generator.
        generator: crate::project::GeneratorSettings,
        /// The discriminator.
        discriminator: Graph,
    },
    /// For an image-generating project: edit the generator (true) or the discriminator (false).
    /// Changes what the editor shows, not the project.
    ShowGenerator(bool),
}

impl Command {
    /// Edits with the same key within a short time share one undo step (dragging a value or a
    /// node sends one command per frame).
    fn merge_key(&self) -> Option<String> {
        match self {
            Self::SetData(_) => Some("data".to_owned()),
            Self::SetTraining(_) => Some("training".to_owned()),
            Self::SetLayer { name, .. } => Some(format!("layer:{name}")),
            Self::MoveNodes(_) => Some("move".to_owned()),
            _ => None,
        }
    }
}

/// How long consecutive edits of the same kind merge into one undo step.
const MERGE_WINDOW: Duration = Duration::from_millis(1500);
/// Undo steps kept.
const UNDO_DEPTH: usize = 200;

/// Why the project was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// It has no file yet.
    #[error("choose where to save the project first")]
    NoFile,
    /// Writing failed.
    #[error(transparent)]
    Project(#[from] ProjectError),
}

/// An open project with its file, history and saved state.
pub struct Document {
    /// Where it is saved (None until "Save as").
    pub path: Option<PathBuf>,
    /// The project as edited.
    pub project: Project,
    saved: Project,
    undo: Vec<Project>,
    redo: Vec<Project>,
    last_edit: Option<(String, Instant)>,
    /// Increases with every change (edits, undo, redo), so views know when to rebuild.
    pub revision: u64,
    /// When the last change happened that autosave has not written yet.
    pub dirty_since: Option<Instant>,
    /// For an image-generating project: whether the editor shows the generator (else the
    /// discriminator, `project.model`).
    pub editing_generator: bool,
}

impl Document {
    /// A document over a project that is saved at `path` (or not saved yet).
    pub fn new(project: Project, path: Option<PathBuf>) -> Self {
        Self {
            path,
            saved: project.clone(),
            project,
            undo: Vec::new(),
            redo: Vec::new(),
            last_edit: None,
            revision: 0,
            dirty_since: None,
            editing_generator: false,
        }
    }

    /// Whether the project differs from what is on disk.
    pub fn is_dirty(&self) -> bool {
        self.project != self.saved || self.path.is_none()
    }

    /// File name for titles: "shapes.strata" or "Untitled".
    pub fn title(&self) -> String {
        self.path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Untitled".to_owned())
    }

    /// Whether there is something to undo / redo.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Whether there is something to redo.
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Applies an edit. Returns a message when the edit was refused (the project is unchanged).
    pub fn apply(&mut self, command: Command) -> Result<(), EditError> {
        if let Command::ShowGenerator(show) = command {
            self.editing_generator = show && self.project.generator.is_some();
            self.revision += 1;
            return Ok(());
        }
        let before = self.project.clone();
        let key = command.merge_key();
        // The generator is edited in the discriminator's place (swapped in and back out), so
        // every edit works the same on either network.
        let swap = self.editing_generator && self.project.generator.is_some();
        if swap {
            swap_networks(&mut self.project);
        }
        let applied = apply_to(&mut self.project, command);
        if swap {
            swap_networks(&mut self.project);
        }
        applied?;
        if self.project == before {
            return Ok(());
        }
        let merge = match (&key, &self.last_edit) {
            (Some(k), Some((last, at))) => k == last && at.elapsed() < MERGE_WINDOW,
            _ => false,
        };
        if !merge {
            self.undo.push(before);
            if self.undo.len() > UNDO_DEPTH {
                self.undo.remove(0);
            }
        }
        self.last_edit = key.map(|k| (k, Instant::now()));
        self.redo.clear();
        self.changed();
        Ok(())
    }

    /// Undoes the last edit.
    pub fn undo(&mut self) -> bool {
        match self.undo.pop() {
            Some(previous) => {
                let current = std::mem::replace(&mut self.project, previous);
                self.redo.push(current);
                self.last_edit = None;
                self.changed();
                true
            }
            None => false,
        }
    }

    /// Redoes the last undone edit.
    pub fn redo(&mut self) -> bool {
        match self.redo.pop() {
            Some(next) => {
                let current = std::mem::replace(&mut self.project, next);
                self.undo.push(current);
                self.last_edit = None;
                self.changed();
                true
            }
            None => false,
        }
    }

    fn changed(&mut self) {
        self.revision += 1;
        self.dirty_since = Some(Instant::now());
    }

    /// Writes the project to its file (atomically).
    pub fn save(&mut self) -> Result<PathBuf, SaveError> {
        let path = self.path.clone().ok_or(SaveError::NoFile)?;
        self.save_as(&path)?;
        Ok(path)
    }

    /// Writes the project to `path`, which becomes its file.
    pub fn save_as(&mut self, path: &Path) -> Result<(), SaveError> {
        self.project.save(path)?;
        self.path = Some(path.to_owned());
        self.saved = self.project.clone();
        self.dirty_since = None;
        Ok(())
    }
}

/// Exchanges the discriminator (`model`, `layout`) and the generator's graph and layout.
fn swap_networks(project: &mut Project) {
    if let Some(g) = project.generator.as_mut() {
        std::mem::swap(&mut project.model, &mut g.graph);
        std::mem::swap(&mut project.layout, &mut g.layout);
    }
}

impl Document {
    /// The network the editor shows: the generator when chosen, else the model.
    pub fn shown_graph(&self) -> &crate::model::Graph {
        match (&self.project.generator, self.editing_generator) {
            (Some(g), true) => &g.graph,
            _ => &self.project.model,
        }
    }

    /// Where the editor draws the shown network's nodes.
    pub fn shown_layout(&self) -> &std::collections::BTreeMap<String, [f32; 2]> {
        match (&self.project.generator, self.editing_generator) {
            (Some(g), true) => &g.layout,
            _ => &self.project.layout,
        }
    }
}

fn apply_to(project: &mut Project, command: Command) -> Result<(), EditError> {
    let graph = &mut project.model;
    match command {
        Command::SetData(data) => project.data = data,
        Command::SetTraining(training) => project.training = training,
        Command::SetModelRun(run) => project.model_run = run,
        Command::ReplaceModel { graph, .. } => {
            project.model = graph;
            project.layout.clear();
            auto_layout(project);
        }
        Command::AddNode {
            layer,
            position,
            after,
        } => {
            let name = graph.add_layer(layer, after.as_deref())?;
            project.layout.insert(name, position);
        }
        Command::RemoveNode(name) => {
            graph.remove_layer(&name)?;
            project.layout.remove(&name);
        }
        Command::DuplicateNode(name) => {
            let new_name = graph.duplicate_layer(&name)?;
            let [x, y] = project.layout.get(&name).copied().unwrap_or([0.0, 0.0]);
            project.layout.insert(new_name, [x + 30.0, y + 120.0]);
        }
        Command::SetLayer { name, layer } => graph.set_layer(&name, layer)?,
        Command::RenameNode { from, to } => {
            let to = graph.rename_layer(&from, &to)?;
            if let Some(pos) = project.layout.remove(&from) {
                project.layout.insert(to, pos);
            }
        }
        Command::Connect { from, to, slot } => graph.connect(&from, &to, slot)?,
        Command::Disconnect { from, to } => graph.disconnect(&from, &to)?,
        Command::MoveNodes(moves) => {
            for (name, pos) in moves {
                project.layout.insert(name, pos);
            }
        }
        Command::AutoLayout => {
            project.layout.clear();
            auto_layout(project);
        }
        Command::ShowGenerator(_) => {}
        Command::MakeGenerator {
            generator,
            discriminator,
        } => {
            project.model = discriminator;
            project.generator = Some(generator);
            project.layout.clear();
            auto_layout(project);
        }
    }
    Ok(())
}

/// Horizontal distance between layer columns in the editor.
const COLUMN_SPACING: f32 = 260.0;
/// Vertical distance between nodes of one column.
const ROW_SPACING: f32 = 150.0;
/// Columns per band before a long chain wraps to the next band.
const COLUMNS_PER_BAND: usize = 3;

/// Gives every node without a position one: columns by depth from the input, rows within a
/// column in graph order.
pub fn auto_layout(project: &mut Project) {
    let graph = &project.model;
    let mut depth: Vec<Option<usize>> = vec![None; graph.nodes.len()];
    let mut changed = true;
    let mut guard = 0;
    while changed && guard <= graph.nodes.len() {
        changed = false;
        guard += 1;
        for (i, node) in graph.nodes.iter().enumerate() {
            let d = if node.inputs.is_empty() {
                Some(0)
            } else {
                node.inputs
                    .iter()
                    .map(|input| {
                        graph
                            .nodes
                            .iter()
                            .position(|n| n.name == *input)
                            .and_then(|j| depth[j])
                    })
                    .try_fold(0usize, |acc, d| d.map(|d| acc.max(d + 1)))
            };
            if d.is_some() && depth[i] != d {
                depth[i] = d;
                changed = true;
            }
        }
    }
    // Long chains wrap into bands of a few columns so they fit a window.
    let mut rows: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut placed = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if project.layout.contains_key(&node.name) {
            continue;
        }
        let column = depth[i].unwrap_or(0);
        let row = rows.entry(column).or_insert(0);
        placed.push((node.name.clone(), column, *row));
        *row += 1;
    }
    let max_rows = rows.values().copied().max().unwrap_or(1).max(1);
    let band_height = max_rows as f32 * ROW_SPACING + 60.0;
    for (name, column, row) in placed {
        let band = column / COLUMNS_PER_BAND;
        let x = 40.0 + (column % COLUMNS_PER_BAND) as f32 * COLUMN_SPACING;
        let y = 40.0 + band as f32 * band_height + row as f32 * ROW_SPACING;
        project.layout.insert(name, [x, y]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    fn doc() -> Document {
        let project = Project::new(DataSettings::default(), model::cnn(&[1, 28, 28], 4));
        Document::new(project, Some(PathBuf::from("/tmp/never-written.strata")))
    }

    #[test]
    fn edits_undo_and_redo_in_order() {
        let mut d = doc();
        let n = d.project.model.nodes.len();
        d.apply(Command::AddNode {
            layer: Layer::Dropout(crate::layers::Dropout { rate: 0.5 }),
            position: [0.0, 0.0],
            after: Some("dense1".into()),
        })
        .unwrap();
        d.apply(Command::RemoveNode("flatten".into())).unwrap();
        assert_eq!(d.project.model.nodes.len(), n);
        assert!(d.project.model.node("flatten").is_none());
        assert!(d
            .project
            .model
            .nodes
            .iter()
            .all(|x| !x.inputs.contains(&"flatten".to_owned())));
        assert!(d.undo());
        assert!(d.project.model.node("flatten").is_some());
        assert!(d.undo());
        assert_eq!(d.project.model.nodes.len(), n);
        assert!(!d.undo());
        assert!(d.redo() && d.redo());
        assert!(d.project.model.node("dropout").is_some());
        assert!(!d.redo());
    }

    #[test]
    fn inserting_after_a_layer_rewires_in_one_undo_step() {
        let mut d = doc();
        d.apply(Command::AddNode {
            layer: Layer::Dropout(crate::layers::Dropout { rate: 0.5 }),
            position: [0.0, 0.0],
            after: Some("dense1".into()),
        })
        .unwrap();
        assert_eq!(d.project.model.node("dropout").unwrap().inputs, ["dense1"]);
        assert_eq!(d.project.model.node("output").unwrap().inputs, ["dropout"]);
        assert!(d.project.model.validate().is_ok());
        assert!(d.undo());
        assert_eq!(d.project.model.node("output").unwrap().inputs, ["dense1"]);
        assert!(!d.can_undo());
    }

    #[test]
    fn repeated_value_edits_share_one_undo_step() {
        let mut d = doc();
        for units in [129, 130, 131] {
            d.apply(Command::SetLayer {
                name: "dense1".into(),
                layer: Layer::Dense(crate::layers::Dense {
                    units,
                    activation: model::Activation::Relu,
                }),
            })
            .unwrap();
        }
        assert!(d.undo());
        assert!(!d.can_undo());
        match &d.project.model.node("dense1").unwrap().layer {
            Layer::Dense(crate::layers::Dense { units, .. }) => assert_eq!(*units, 128),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn connections_follow_the_layer_rules() {
        let mut d = doc();
        assert!(d
            .apply(Command::Connect {
                from: "conv1".into(),
                to: "input".into(),
                slot: 0
            })
            .unwrap_err()
            .to_string()
            .contains("Input layer"));
        assert!(d
            .apply(Command::Connect {
                from: "conv1".into(),
                to: "conv1".into(),
                slot: 0
            })
            .is_err());
        // A single-input layer's wire is replaced, not added.
        d.apply(Command::Connect {
            from: "input".into(),
            to: "conv2".into(),
            slot: 0,
        })
        .unwrap();
        assert_eq!(d.project.model.node("conv2").unwrap().inputs, ["input"]);
        // Merge layers take several.
        d.apply(Command::AddNode {
            layer: Layer::Add(crate::layers::Add {}),
            position: [0.0, 0.0],
            after: Some("pool1".into()),
        })
        .unwrap();
        d.apply(Command::Connect {
            from: "pool2".into(),
            to: "add".into(),
            slot: 1,
        })
        .unwrap();
        assert_eq!(
            d.project.model.node("add").unwrap().inputs,
            ["pool1", "pool2"]
        );
        d.apply(Command::Disconnect {
            from: "pool1".into(),
            to: "add".into(),
        })
        .unwrap();
        assert_eq!(d.project.model.node("add").unwrap().inputs, ["pool2"]);
    }

    #[test]
    fn renaming_moves_wires_and_refuses_duplicates() {
        let mut d = doc();
        d.apply(Command::AutoLayout).unwrap();
        d.apply(Command::RenameNode {
            from: "flatten".into(),
            to: "unroll".into(),
        })
        .unwrap();
        assert_eq!(d.project.model.node("dense1").unwrap().inputs, ["unroll"]);
        assert!(d.project.layout.contains_key("unroll"));
        assert!(d
            .apply(Command::RenameNode {
                from: "unroll".into(),
                to: "conv1".into()
            })
            .is_err());
        assert!(d.project.model.validate().is_ok());
    }

    #[test]
    fn a_second_input_layer_is_refused_and_unique_names_are_made() {
        let mut d = doc();
        assert!(d
            .apply(Command::AddNode {
                layer: Layer::Input(crate::layers::Input {
                    shape: vec![1, 28, 28]
                }),
                position: [0.0, 0.0],
                after: None,
            })
            .is_err());
        d.apply(Command::DuplicateNode("conv1".into())).unwrap();
        d.apply(Command::DuplicateNode("conv1".into())).unwrap();
        assert!(d.project.model.node("conv1_2").is_some());
        assert!(d.project.model.node("conv1_3").is_some());
    }

    #[test]
    fn auto_layout_places_every_node_once() {
        let mut d = doc();
        d.apply(Command::AutoLayout).unwrap();
        assert_eq!(d.project.layout.len(), d.project.model.nodes.len());
        let mut spots: Vec<(i32, i32)> = d
            .project
            .layout
            .values()
            .map(|[x, y]| (*x as i32, *y as i32))
            .collect();
        spots.sort_unstable();
        spots.dedup();
        assert_eq!(
            spots.len(),
            d.project.model.nodes.len(),
            "no two nodes share a spot"
        );
    }

    #[test]
    fn dirty_mark_follows_edits_and_saves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.strata");
        let mut d = doc();
        d.save_as(&path).unwrap();
        assert!(!d.is_dirty());
        d.apply(Command::RemoveNode("dense1".into())).unwrap();
        assert!(d.is_dirty());
        d.undo();
        assert!(
            !d.is_dirty(),
            "undoing back to the saved state clears the mark"
        );
        d.redo();
        d.save().unwrap();
        assert!(!d.is_dirty());
        assert!(Project::load(&path).unwrap().model.node("dense1").is_none());
    }
}
