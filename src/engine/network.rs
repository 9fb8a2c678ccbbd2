//! The model graph turned into candle tensors: weights named after nodes, a forward pass that
//! walks the graph in order, dropout and batch-norm behaving differently in training.

use std::path::Path;

use candle_core::{Device, Tensor, Var};
use rand::{Rng, RngCore, SeedableRng};

use super::fused;
use crate::layers::{BuildCx, Forward, ForwardCx};
use crate::model::{Activation, CheckedGraph, Graph, GraphError};

/// Errors building or loading a network.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The graph is not valid.
    #[error("the model has problems: {}", .0.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<GraphError>),
    /// The weights file does not fit the graph.
    #[error("{0}")]
    Weights(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// A named tensor of the network: trainable parameter or running statistic.
pub struct NamedVar {
    /// Weight path, `<node>.<what>`.
    pub name: String,
    /// The tensor.
    pub var: Var,
    /// Whether the optimizer updates it (false for batch-norm running statistics).
    pub trainable: bool,
    /// Whether weight penalties (L1/L2) apply: weights yes, biases and norms no.
    pub penalized: bool,
}

/// The network's output before its final activation, and that activation.
pub struct Output {
    /// Values before the final activation (logits for a softmax output).
    pub pre_activation: Tensor,
    /// The final activation (`Linear` when there is none).
    pub activation: Activation,
}

/// A graph with its weights on a device.
pub struct Network {
    graph: Graph,
    checked: CheckedGraph,
    vars: Vec<NamedVar>,
    /// The layers in evaluation order, each built once with its tensors.
    steps: Vec<Step>,
    device: Device,
    /// Whether frozen parts reuse cached features (off while inputs are augmented).
    use_caches: bool,
}

/// One node of the forward pass.
struct Step {
    /// The node (index into the graph's nodes).
    node: usize,
    /// Its inputs' node indices.
    inputs: Vec<usize>,
    /// The node whose value it gives: itself, or the max-pool fused into a convolution.
    writes: usize,
    /// The built layer.
    layer: Box<dyn Forward>,
}

impl Network {
    /// Builds the network with fresh weights (Glorot-uniform weights, zero biases) from `rng`;
    /// pretrained nodes read their weights files.
    pub fn new(graph: &Graph, device: &Device, rng: &mut impl Rng) -> Result<Self, NetworkError> {
        Self::build_with(graph, device, rng, true)
    }

    /// A copy of the network (same weights) whose max-pools run on their own instead of inside
    /// the convolution before them, so each convolution's own output exists (Grad-CAM reads the
    /// last one).
    pub fn without_fused_pools(&self) -> Result<Self, NetworkError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let mut copy = Self::build(&self.graph, &self.device, &mut rng, false, false)?;
        for v in &copy.vars {
            if let Some(mine) = self.vars.iter().find(|m| m.name == v.name) {
                v.var.set(mine.var.as_tensor())?;
            }
        }
        copy.use_caches = self.use_caches;
        Ok(copy)
    }

    /// Builds the network: every node's layer creates its tensors and is resolved once;
    /// `read_files` says whether pretrained and reused parts read their files (false when a
    /// run's own checkpoint is loaded over them).
    pub(crate) fn build_with(
        graph: &Graph,
        device: &Device,
        rng: &mut dyn RngCore,
        read_files: bool,
    ) -> Result<Self, NetworkError> {
        Self::build(graph, device, rng, read_files, true)
    }

    fn build(
        graph: &Graph,
        device: &Device,
        rng: &mut dyn RngCore,
        read_files: bool,
        fuse_pools: bool,
    ) -> Result<Self, NetworkError> {
        let checked = graph.validate().map_err(NetworkError::Invalid)?;
        let index = graph.index_by_name();
        let inputs: Vec<Vec<usize>> = graph
            .nodes
            .iter()
            .map(|n| {
                n.inputs
                    .iter()
                    .filter_map(|name| index.get(name.as_str()).copied())
                    .collect()
            })
            .collect();
        let pool_after = if fuse_pools {
            fusable_pools(graph, &checked)
        } else {
            vec![None; graph.nodes.len()]
        };
        let mut fused_into = vec![None; graph.nodes.len()];
        let mut vars = Vec::new();
        let mut layers: Vec<Option<Box<dyn Forward>>> =
            (0..graph.nodes.len()).map(|_| None).collect();
        for &i in &checked.order {
            let node = &graph.nodes[i];
            let then_max_pool = pool_after[i].and_then(|j| {
                let window = graph.nodes[j].layer.kind().max_pool_window();
                if window.is_some() {
                    fused_into[j] = Some(i);
                }
                window
            });
            let mut cx = BuildCx {
                name: &node.name,
                input: graph.input_shape(&checked, i),
                output: &checked.info[i].output_shape,
                device,
                rng: &mut *rng,
                read_files,
                vars: &mut vars,
                then_max_pool,
            };
            layers[i] = Some(node.layer.kind().build(&mut cx)?);
        }
        let mut steps = Vec::with_capacity(checked.order.len());
        for &i in &checked.order {
            if fused_into[i].is_some() {
                continue; // Computed by the convolution before it.
            }
            let layer = layers[i].take().ok_or_else(|| {
                NetworkError::Weights(format!("'{}' was not built", graph.nodes[i].name))
            })?;
            let writes = pool_after[i]
                .filter(|&j| fused_into[j] == Some(i))
                .unwrap_or(i);
            steps.push(Step {
                node: i,
                inputs: inputs[i].clone(),
                writes,
                layer,
            });
        }
        Ok(Self {
            graph: graph.clone(),
            checked,
            vars,
            steps,
            device: device.clone(),
            use_caches: true,
        })
    }

    /// Whether frozen pretrained nodes reuse features computed before (turn off while inputs
    /// are augmented: every batch then differs).
    pub fn set_feature_cache(&mut self, on: bool) {
        self.use_caches = on;
    }

    /// Whether the network has a frozen pretrained node whose features can be cached.
    pub fn has_feature_cache(&self) -> bool {
        self.steps.iter().any(|s| s.layer.has_feature_cache())
    }

    /// Whether a layer right after the Input counts fixed values on the training samples (see
    /// [`Network::fit_to_inputs`]).
    pub fn fits_to_inputs(&self) -> bool {
        self.steps
            .iter()
            .any(|s| self.reads_input(s) && s.layer.fits_to_inputs())
    }

    /// Lets the layers right after the Input count their fixed values (a bag of words' word
    /// weights) on `rows`, the training samples' inputs; called once before a new run trains.
    pub fn fit_to_inputs(&self, rows: &[&[f32]]) -> Result<(), NetworkError> {
        for step in &self.steps {
            if self.reads_input(step) && step.layer.fits_to_inputs() {
                step.layer.fit_to_inputs(&mut rows.iter().copied())?;
            }
        }
        Ok(())
    }

    /// [`Network::fit_to_inputs`] on the samples `train` of `dataset` (texts: their token ids).
    pub fn fit_to_training_data(
        &self,
        dataset: &crate::data::Dataset,
        train: &[usize],
    ) -> Result<(), NetworkError> {
        if !self.fits_to_inputs() {
            return Ok(());
        }
        if let Some(texts) = dataset.texts() {
            let rows: Vec<_> = train.iter().map(|&i| texts.row(i)).collect();
            let rows: Vec<&[f32]> = rows.iter().map(|r| r.as_ref()).collect();
            self.fit_to_inputs(&rows)?;
        }
        Ok(())
    }

    fn reads_input(&self, step: &Step) -> bool {
        matches!(step.inputs.as_slice(), [i] if self.graph.nodes[*i].layer.is_input())
    }

    /// Builds the network and loads its weights from a safetensors file written by [`Network::save`].
    pub fn load(graph: &Graph, weights: &Path, device: &Device) -> Result<Self, NetworkError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        // Pretrained parts come from the run's own file, not from the original weights.
        let net = Self::build_with(graph, device, &mut rng, false)?;
        if !weights.exists() {
            return Err(NetworkError::Weights(format!(
                "the weights file '{}' is missing; train the model again",
                weights.display()
            )));
        }
        let unreadable = |e: String| {
            NetworkError::Weights(format!(
                "'{}' is not a readable weights file ({e})",
                weights.display()
            ))
        };
        // One tensor at a time, straight into its variable.
        let mut file = crate::tensor_file::TensorFile::open(weights).map_err(unreadable)?;
        let found = net
            .vars
            .iter()
            .filter(|v| file.shape(&v.name).is_some())
            .count();
        for v in &net.vars {
            let Some(dims) = file.shape(&v.name) else {
                return Err(NetworkError::Weights(format!(
                    "'{}' does not fit this model: found {found} of {} expected tensors ('{}' is missing)",
                    weights.display(),
                    net.vars.len(),
                    v.name
                )));
            };
            if dims != v.var.dims() {
                return Err(NetworkError::Weights(format!(
                    "'{}' does not fit this model: '{}' has shape {dims:?}, the model needs {:?}",
                    weights.display(),
                    v.name,
                    v.var.dims()
                )));
            }
            let t = file.read(&v.name).map_err(unreadable)?.ok_or_else(|| {
                unreadable(format!(
                    "'{}' is not made of floating-point numbers",
                    v.name
                ))
            })?;
            v.var.set(&t.to_device(device)?)?;
        }
        Ok(net)
    }

    /// Saves every weight and running statistic to a safetensors file (atomically).
    pub fn save(&self, path: &Path) -> Result<(), NetworkError> {
        let tensors = self
            .vars
            .iter()
            .map(|v| (v.name.clone(), v.var.as_tensor().clone()))
            .collect();
        crate::tensor_file::write(path, tensors, None).map_err(|e| {
            NetworkError::Weights(format!("could not write '{}': {e}", path.display()))
        })
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The validated graph with shapes.
    pub fn checked(&self) -> &CheckedGraph {
        &self.checked
    }

    /// All tensors with their roles.
    pub fn vars(&self) -> &[NamedVar] {
        &self.vars
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Total trainable parameters.
    pub fn trainable_params(&self) -> usize {
        self.vars
            .iter()
            .filter(|v| v.trainable)
            .map(|v| v.var.elem_count())
            .sum()
    }

    /// Runs the network on a batch. In training, dropout masks and batch statistics are used and
    /// running statistics updated; `rng` drives dropout.
    pub fn forward(
        &self,
        x: &Tensor,
        train: bool,
        rng: &mut impl Rng,
    ) -> Result<Output, NetworkError> {
        Ok(self.run(x, train, rng, None, false)?.0)
    }

    /// Runs the network to explain it: predicting, without the frozen parts' feature caches
    /// (perturbed inputs would only fill them) and with the gradient kept through frozen parts
    /// down to the input (saliency). When `capture` names a node, its value is handed back as a
    /// variable the rest of the pass reads: the gradient of the output with respect to it
    /// (Grad-CAM) is then kept by `backward`, which drops the gradients of intermediate values.
    pub fn forward_explaining(
        &self,
        x: &Tensor,
        rng: &mut impl Rng,
        capture: Option<usize>,
    ) -> Result<(Output, Option<Var>), NetworkError> {
        self.run(x, false, rng, capture, true)
    }

    fn run(
        &self,
        x: &Tensor,
        train: bool,
        rng: &mut impl Rng,
        capture: Option<usize>,
        explaining: bool,
    ) -> Result<(Output, Option<Var>), NetworkError> {
        let mut captured = None;
        let mut values: Vec<Option<Tensor>> = vec![None; self.graph.nodes.len()];
        let mut last_activation = Activation::Linear;
        for step in &self.steps {
            let ins: Vec<&Tensor> = if step.node == self.checked.input {
                vec![x]
            } else {
                step.inputs
                    .iter()
                    .filter_map(|&j| values[j].as_ref())
                    .collect()
            };
            let mut cx = ForwardCx {
                train,
                rng: &mut *rng,
                is_output: step.node == self.checked.output,
                use_caches: self.use_caches && !explaining,
                input_gradients: explaining,
            };
            let (value, act) = step.layer.forward(&ins, &mut cx)?;
            if step.writes == self.checked.output {
                last_activation = act;
            }
            let value = if capture == Some(step.writes) {
                let var = Var::from_tensor(&value.detach())?;
                let tensor = var.as_tensor().clone();
                captured = Some(var);
                tensor
            } else {
                value
            };
            values[step.writes] = Some(value);
        }
        let pre_activation = values
            .get_mut(self.checked.output)
            .and_then(Option::take)
            .ok_or_else(|| NetworkError::Weights("the model produced no output".to_owned()))?;
        Ok((
            Output {
                pre_activation,
                activation: last_activation,
            },
            captured,
        ))
    }

    /// The nodes whose values the forward pass produces, in evaluation order (a convolution with
    /// a fused max-pool gives the pool's value), with their per-sample shapes.
    pub fn produced_values(&self) -> Vec<(usize, Vec<usize>)> {
        self.steps
            .iter()
            .filter_map(|s| {
                self.checked
                    .info
                    .get(s.writes)
                    .map(|info| (s.writes, info.output_shape.clone()))
            })
            .collect()
    }
}

/// Applies an activation function (softmax over the last axis).
pub fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    fused::activation(x, act)
}

/// For each convolution whose only consumer is a max-pool taking nothing else, that pool.
pub(crate) fn fusable_pools(graph: &Graph, checked: &CheckedGraph) -> Vec<Option<usize>> {
    graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            if !node.layer.kind().fuses_max_pool() || i == checked.output {
                return None;
            }
            let mut consumers = graph
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.inputs.contains(&node.name));
            match (consumers.next(), consumers.next()) {
                (Some((j, pool)), None)
                    if pool.layer.kind().max_pool_window().is_some() && pool.inputs.len() == 1 =>
                {
                    Some(j)
                }
                _ => None,
            }
        })
        .collect()
}
