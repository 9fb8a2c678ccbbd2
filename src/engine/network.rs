//! The model graph turned into candle tensors: weights named after nodes, a forward pass that
//! walks the graph in order, dropout and batch-norm behaving differently in training.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var, D};
use rand::{Rng, SeedableRng};

use super::fused;
use super::ops::{pool2d, PoolKind};
use super::recurrent;
use crate::model::{window_out, Activation, CheckedGraph, Graph, GraphError, Layer, Padding};
use crate::pretrained::cache::{self, FeatureCache};
use crate::pretrained::{self as pre, ParamKind};

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
    by_name: HashMap<String, usize>,
    device: Device,
    /// Per node: the max-pool computed together with this convolution (the pool is the
    /// convolution's only consumer), so the convolution's output is never stored.
    pool_after: Vec<Option<usize>>,
    /// Features of frozen pretrained nodes, by node index.
    caches: HashMap<usize, FeatureCache>,
    /// The reused parts of earlier runs' models, by node index (their tensors are also in
    /// `vars`, shared).
    parts: HashMap<usize, Network>,
    /// Whether those caches are used (off while inputs are augmented).
    use_caches: bool,
}

impl Network {
    /// Builds the network with fresh weights (Glorot-uniform weights, zero biases) from `rng`;
    /// pretrained nodes read their weights files.
    pub fn new(graph: &Graph, device: &Device, rng: &mut impl Rng) -> Result<Self, NetworkError> {
        Self::build(graph, device, rng, true)
    }

    fn build(
        graph: &Graph,
        device: &Device,
        rng: &mut impl Rng,
        read_pretrained: bool,
    ) -> Result<Self, NetworkError> {
        let checked = graph.validate().map_err(NetworkError::Invalid)?;
        let mut vars = Vec::new();
        let mut parts = HashMap::new();
        for &i in &checked.order {
            let node = &graph.nodes[i];
            let in_shape = graph.input_shape(&checked, i);
            let mut add =
                |what: &str, shape: Vec<usize>, values: Vec<f32>, trainable, penalized| {
                    vars.push(NamedVar {
                        name: format!("{}.{what}", node.name),
                        var: Var::from_tensor(&Tensor::from_vec(values, shape, device)?)?,
                        trainable,
                        penalized,
                    });
                    Ok::<_, NetworkError>(())
                };
            match &node.layer {
                Layer::Dense { units, .. } => {
                    let fan_in = in_shape.iter().product::<usize>();
                    add(
                        "weight",
                        vec![*units, fan_in],
                        glorot(rng, fan_in, *units, fan_in * units),
                        true,
                        true,
                    )?;
                    add("bias", vec![*units], vec![0.0; *units], true, false)?;
                }
                Layer::Conv2d {
                    filters, kernel, ..
                } => {
                    let c = in_shape.first().copied().unwrap_or(1);
                    let kk = kernel * kernel;
                    let n = filters * c * kk;
                    add(
                        "weight",
                        vec![*filters, c, *kernel, *kernel],
                        glorot(rng, c * kk, filters * kk, n),
                        true,
                        true,
                    )?;
                    add("bias", vec![*filters], vec![0.0; *filters], true, false)?;
                }
                Layer::Embedding { vocab, dim } => {
                    // Small uniform vectors, as Keras starts them.
                    let values = (0..vocab * dim)
                        .map(|_| rng.random_range(-0.05..=0.05f32))
                        .collect();
                    add("weight", vec![*vocab, *dim], values, true, true)?;
                }
                Layer::Conv1d {
                    filters, kernel, ..
                } => {
                    let c = in_shape.first().copied().unwrap_or(1);
                    add(
                        "weight",
                        vec![*filters, c, *kernel],
                        glorot(rng, c * kernel, filters * kernel, filters * c * kernel),
                        true,
                        true,
                    )?;
                    add("bias", vec![*filters], vec![0.0; *filters], true, false)?;
                }
                Layer::Lstm {
                    units,
                    bidirectional,
                    ..
                }
                | Layer::Gru {
                    units,
                    bidirectional,
                    ..
                } => {
                    let cell = recurrent_cell(&node.layer);
                    let c = in_shape.first().copied().unwrap_or(1);
                    let gh = cell.gates() * units;
                    // PyTorch's start: uniform in ±1/√H for every weight and bias.
                    let limit = 1.0 / (*units as f32).sqrt();
                    let mut uniform = |n: usize| -> Vec<f32> {
                        (0..n).map(|_| rng.random_range(-limit..=limit)).collect()
                    };
                    for suffix in direction_suffixes(*bidirectional) {
                        let w_ih = uniform(gh * c);
                        let w_hh = uniform(gh * units);
                        let (b_ih, b_hh) = (uniform(gh), uniform(gh));
                        add(&format!("weight_ih{suffix}"), vec![gh, c], w_ih, true, true)?;
                        add(
                            &format!("weight_hh{suffix}"),
                            vec![gh, *units],
                            w_hh,
                            true,
                            true,
                        )?;
                        add(&format!("bias_ih{suffix}"), vec![gh], b_ih, true, false)?;
                        add(&format!("bias_hh{suffix}"), vec![gh], b_hh, true, false)?;
                    }
                }
                Layer::Pretrained {
                    backbone,
                    weights,
                    train_blocks,
                } => {
                    let mut loaded = if read_pretrained {
                        Some(read_backbone(&node.name, *backbone, weights)?)
                    } else {
                        None
                    };
                    for spec in backbone.params() {
                        let trains = spec.kind != ParamKind::Statistic
                            && pre::unit_trains(spec.unit, backbone.units(), *train_blocks);
                        let tensor = match loaded.as_mut().and_then(|l| l.remove(&spec.name)) {
                            Some(t) => t.to_device(device)?,
                            None => Tensor::zeros(spec.shape.clone(), DType::F32, device)?,
                        };
                        vars.push(NamedVar {
                            name: format!("{}.{}", node.name, spec.name),
                            var: Var::from_tensor(&tensor)?,
                            trainable: trains,
                            penalized: trains && spec.kind == ParamKind::Weight,
                        });
                    }
                }
                Layer::TrainedModel {
                    run,
                    part,
                    train_blocks,
                    ..
                } => {
                    let inner = if read_pretrained {
                        let file = Path::new(run)
                            .join(super::runs::BEST_DIR)
                            .join(super::runs::WEIGHTS_FILE);
                        Network::load(part, &file, device).map_err(|e| {
                            NetworkError::Weights(format!(
                                "'{}' (the model of run '{run}'): {e}",
                                node.name
                            ))
                        })?
                    } else {
                        Network::build(part, device, rng, false)?
                    };
                    let weighted = part.weighted_nodes();
                    for v in inner.vars() {
                        let owner = v.name.split('.').next().unwrap_or_default();
                        let unit = weighted.iter().position(|n| *n == owner).unwrap_or(0);
                        let trains =
                            v.trainable && pre::unit_trains(unit, weighted.len(), *train_blocks);
                        vars.push(NamedVar {
                            name: format!("{}.{}", node.name, v.name),
                            var: v.var.clone(),
                            trainable: trains,
                            penalized: trains && v.penalized,
                        });
                    }
                    parts.insert(i, inner);
                }
                Layer::BatchNorm { .. } => {
                    let c = in_shape.first().copied().unwrap_or(1);
                    add("weight", vec![c], vec![1.0; c], true, false)?;
                    add("bias", vec![c], vec![0.0; c], true, false)?;
                    add("running_mean", vec![c], vec![0.0; c], false, false)?;
                    add("running_var", vec![c], vec![1.0; c], false, false)?;
                }
                _ => {}
            }
        }
        let by_name = vars
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.clone(), i))
            .collect();
        let pool_after = fusable_pools(graph, &checked);
        let mut caches = HashMap::new();
        for (i, node) in graph.nodes.iter().enumerate() {
            let (name, file) = match &node.layer {
                Layer::Pretrained {
                    backbone,
                    weights,
                    train_blocks: 0,
                } => (backbone.id().to_owned(), PathBuf::from(weights)),
                Layer::TrainedModel {
                    run,
                    cut,
                    train_blocks: 0,
                    ..
                } => (
                    format!("strata-{cut}"),
                    Path::new(run)
                        .join(super::runs::BEST_DIR)
                        .join(super::runs::WEIGHTS_FILE),
                ),
                _ => continue,
            };
            // Without a readable file the cache stays in memory.
            let print = cache::fingerprint(&file).ok();
            let root = print.and(cache::cache_root());
            caches.insert(
                i,
                FeatureCache::new(&name, print.unwrap_or(0), root.as_deref()),
            );
        }
        Ok(Self {
            graph: graph.clone(),
            checked,
            vars,
            by_name,
            device: device.clone(),
            pool_after,
            caches,
            parts,
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
        !self.caches.is_empty()
    }

    /// A frozen pretrained node's features for a batch: cached rows are reused, the others
    /// computed together and kept.
    fn cached_features(
        &self,
        node: usize,
        x: &Tensor,
        compute: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> Result<Tensor, NetworkError> {
        let Some(cache) = self.caches.get(&node).filter(|_| self.use_caches) else {
            return Ok(compute(x)?.detach());
        };
        let features = self.checked.info[node]
            .output_shape
            .iter()
            .product::<usize>();
        let b = x.dim(0)?;
        let rows = x
            .flatten_from(1)?
            .to_device(&Device::Cpu)?
            .to_vec2::<f32>()?;
        let keys: Vec<u64> = rows.iter().map(|r| cache.key(r)).collect();
        let mut out: Vec<Option<Vec<f32>>> = keys.iter().map(|&k| cache.get(k, features)).collect();
        let missing: Vec<usize> = (0..b).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let ids = Tensor::from_vec(
                missing.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                missing.len(),
                x.device(),
            )?;
            let computed = compute(&x.index_select(&ids, 0)?)?
                .to_device(&Device::Cpu)?
                .to_vec2::<f32>()?;
            for (&i, row) in missing.iter().zip(computed) {
                cache.put(keys[i], row.clone());
                out[i] = Some(row);
            }
        }
        let flat: Vec<f32> = out.into_iter().flatten().flatten().collect();
        Ok(Tensor::from_vec(flat, (b, features), &Device::Cpu)?.to_device(x.device())?)
    }

    /// Builds the network and loads its weights from a safetensors file written by [`Network::save`].
    pub fn load(graph: &Graph, weights: &Path, device: &Device) -> Result<Self, NetworkError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        // Pretrained parts come from the run's own file, not from the original weights.
        let net = Self::build(graph, device, &mut rng, false)?;
        if !weights.exists() {
            return Err(NetworkError::Weights(format!(
                "the weights file '{}' is missing; train the model again",
                weights.display()
            )));
        }
        let tensors = candle_core::safetensors::load(weights, device).map_err(|e| {
            NetworkError::Weights(format!(
                "'{}' is not a readable weights file ({e})",
                weights.display()
            ))
        })?;
        let found = net
            .vars
            .iter()
            .filter(|v| tensors.contains_key(&v.name))
            .count();
        for v in &net.vars {
            let Some(t) = tensors.get(&v.name) else {
                return Err(NetworkError::Weights(format!(
                    "'{}' does not fit this model: found {found} of {} expected tensors ('{}' is missing)",
                    weights.display(),
                    net.vars.len(),
                    v.name
                )));
            };
            if t.dims() != v.var.dims() {
                return Err(NetworkError::Weights(format!(
                    "'{}' does not fit this model: '{}' has shape {:?}, the model needs {:?}",
                    weights.display(),
                    v.name,
                    t.dims(),
                    v.var.dims()
                )));
            }
            v.var.set(&t.to_dtype(DType::F32)?)?;
        }
        Ok(net)
    }

    /// Saves every weight and running statistic to a safetensors file (atomically).
    pub fn save(&self, path: &Path) -> Result<(), NetworkError> {
        let map: HashMap<String, Tensor> = self
            .vars
            .iter()
            .map(|v| (v.name.clone(), v.var.as_tensor().clone()))
            .collect();
        let tmp = path.with_extension("safetensors.tmp");
        candle_core::safetensors::save(&map, &tmp)?;
        std::fs::rename(&tmp, path).map_err(|e| {
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

    fn param(&self, node: &str, what: &str) -> Result<&Tensor, NetworkError> {
        let key = format!("{node}.{what}");
        self.by_name
            .get(&key)
            .and_then(|&i| self.vars.get(i))
            .map(|v| v.var.as_tensor())
            .ok_or_else(|| NetworkError::Weights(format!("weight '{key}' is missing")))
    }

    /// Runs the network on a batch. In training, dropout masks and batch statistics are used and
    /// running statistics updated; `rng` drives dropout.
    pub fn forward(
        &self,
        x: &Tensor,
        train: bool,
        rng: &mut impl Rng,
    ) -> Result<Output, NetworkError> {
        let mut values: Vec<Option<Tensor>> = vec![None; self.graph.nodes.len()];
        let mut last_activation = Activation::Linear;
        let index: HashMap<&str, usize> = self
            .graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut done = vec![false; self.graph.nodes.len()];
        for &i in &self.checked.order {
            if done[i] {
                continue;
            }
            let node = &self.graph.nodes[i];
            let inputs: Vec<&Tensor> = node
                .inputs
                .iter()
                .filter_map(|n| index.get(n.as_str()).and_then(|&j| values[j].as_ref()))
                .collect();
            let is_output = i == self.checked.output;
            let first = inputs.first().copied();
            let need = || {
                first.ok_or_else(|| NetworkError::Weights(format!("'{}' has no input", node.name)))
            };
            // The output node's final activation is left to the caller (stable losses).
            let finish =
                |pre: Tensor, act: Activation| -> Result<(Tensor, Activation), NetworkError> {
                    if is_output {
                        Ok((pre, act))
                    } else {
                        Ok((activate(&pre, act)?, Activation::Linear))
                    }
                };
            let (value, act) = match &node.layer {
                Layer::Input { .. } => finish(x.clone(), Activation::Linear)?,
                Layer::Dense { activation, .. } => {
                    let w = self.param(&node.name, "weight")?;
                    let b = self.param(&node.name, "bias")?;
                    // Hidden layers get their activation fused in; the output's is left over.
                    let (inner, left) = if is_output {
                        (Activation::Linear, *activation)
                    } else {
                        (*activation, Activation::Linear)
                    };
                    (fused::dense(need()?, w, b, inner)?, left)
                }
                Layer::Conv2d {
                    kernel,
                    stride,
                    padding,
                    activation,
                    ..
                } => {
                    let w = self.param(&node.name, "weight")?;
                    let b = self.param(&node.name, "bias")?;
                    let (inner, left) = if is_output {
                        (Activation::Linear, *activation)
                    } else {
                        (*activation, Activation::Linear)
                    };
                    let conv = ConvLayer {
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                        activation: inner,
                    };
                    if let Some(j) = self.pool_after[i] {
                        if let Layer::MaxPool2d { kernel, stride } = self.graph.nodes[j].layer {
                            // The pool's value is computed here; the convolution keeps none.
                            values[j] =
                                Some(conv.apply_then_max_pool(need()?, w, b, (kernel, stride))?);
                            done[j] = true;
                            continue;
                        }
                    }
                    (conv.apply(need()?, w, b)?, left)
                }
                Layer::MaxPool2d { kernel, stride } => finish(
                    pool2d(need()?, PoolKind::Max, *kernel, *stride)?,
                    Activation::Linear,
                )?,
                Layer::AvgPool2d { kernel, stride } => finish(
                    pool2d(need()?, PoolKind::Avg, *kernel, *stride)?,
                    Activation::Linear,
                )?,
                Layer::GlobalAvgPool => finish(
                    need()?.flatten_from(2)?.mean(D::Minus1)?,
                    Activation::Linear,
                )?,
                Layer::GlobalMaxPool => {
                    finish(need()?.flatten_from(2)?.max(D::Minus1)?, Activation::Linear)?
                }
                Layer::Embedding { vocab, dim } => {
                    let w = self.param(&node.name, "weight")?;
                    // Ids beyond the vocabulary read the last row rather than failing.
                    let ids = need()?
                        .clamp(0f32, vocab.saturating_sub(1) as f32)?
                        .to_dtype(DType::U32)?;
                    let (b, l) = ids.dims2()?;
                    let vectors = w
                        .index_select(&ids.flatten_all()?.contiguous()?, 0)?
                        .reshape((b, l, *dim))?
                        .transpose(1, 2)?
                        .contiguous()?;
                    finish(vectors, Activation::Linear)?
                }
                Layer::Conv1d {
                    kernel,
                    stride,
                    padding,
                    activation,
                    ..
                } => {
                    let w = self.param(&node.name, "weight")?;
                    let b = self.param(&node.name, "bias")?;
                    let y = conv1d(need()?, w, b, *kernel, *stride, *padding)?;
                    finish(y, *activation)?
                }
                Layer::Lstm {
                    return_sequences,
                    bidirectional,
                    ..
                }
                | Layer::Gru {
                    return_sequences,
                    bidirectional,
                    ..
                } => {
                    let cell = recurrent_cell(&node.layer);
                    let mut outs = Vec::new();
                    for (k, suffix) in direction_suffixes(*bidirectional).iter().enumerate() {
                        let p = |what: &str| self.param(&node.name, &format!("{what}{suffix}"));
                        let weights = recurrent::Weights {
                            w_ih: p("weight_ih")?,
                            w_hh: p("weight_hh")?,
                            b_ih: p("bias_ih")?,
                            b_hh: p("bias_hh")?,
                        };
                        let (all, last) = recurrent::run(cell, need()?, &weights, k == 1)?;
                        outs.push(if *return_sequences { all } else { last });
                    }
                    finish(Tensor::cat(&outs, 1)?, Activation::Linear)?
                }
                Layer::MaxPool1d { kernel } => {
                    finish(pool1d(need()?, *kernel, true)?, Activation::Linear)?
                }
                Layer::AvgPool1d { kernel } => {
                    finish(pool1d(need()?, *kernel, false)?, Activation::Linear)?
                }
                Layer::Flatten => finish(need()?.flatten_from(1)?, Activation::Linear)?,
                Layer::Dropout { rate } => {
                    let x = need()?;
                    let y = if train && *rate > 0.0 {
                        let keep = 1.0 - rate;
                        let mask: Vec<f32> = (0..x.elem_count())
                            .map(|_| {
                                if rng.random::<f32>() < keep {
                                    1.0 / keep
                                } else {
                                    0.0
                                }
                            })
                            .collect();
                        x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)?
                    } else {
                        x.clone()
                    };
                    finish(y, Activation::Linear)?
                }
                Layer::BatchNorm { momentum, epsilon } => {
                    let y = self.batch_norm(&node.name, need()?, train, *momentum, *epsilon)?;
                    finish(y, Activation::Linear)?
                }
                Layer::Activation { function } => finish(need()?.clone(), *function)?,
                Layer::Add => {
                    let mut acc = need()?.clone();
                    for t in &inputs[1..] {
                        acc = acc.add(t)?;
                    }
                    finish(acc, Activation::Linear)?
                }
                Layer::Concat => finish(Tensor::cat(&inputs, 1)?, Activation::Linear)?,
                Layer::TrainedModel { .. } => {
                    let inner = self.parts.get(&i).ok_or_else(|| {
                        NetworkError::Weights(format!("'{}' has no weights", node.name))
                    })?;
                    // The reused part runs as it was trained to predict: no dropout, fixed
                    // batch-norm statistics.
                    let compute = |x: &Tensor| -> candle_core::Result<Tensor> {
                        let mut quiet = rand::rngs::StdRng::seed_from_u64(0);
                        let out = inner
                            .forward(x, false, &mut quiet)
                            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                        activate(&out.pre_activation, out.activation)
                    };
                    let y = if self.caches.contains_key(&i) {
                        self.cached_features(i, need()?, &compute)?
                    } else {
                        compute(need()?)?
                    };
                    finish(y, Activation::Linear)?
                }
                Layer::Pretrained { backbone, .. } => {
                    let get = |what: &str| -> candle_core::Result<Tensor> {
                        let v = self
                            .by_name
                            .get(&format!("{}.{what}", node.name))
                            .and_then(|&i| self.vars.get(i))
                            .ok_or_else(|| {
                                candle_core::Error::Msg(format!(
                                    "weight '{}.{what}' is missing",
                                    node.name
                                ))
                            })?;
                        // Frozen tensors take no part in the backward pass.
                        Ok(if v.trainable {
                            v.var.as_tensor().clone()
                        } else {
                            v.var.as_tensor().detach()
                        })
                    };
                    // Text encoders read their own tokenizer's ids, where padding is 0 ([PAD]).
                    let compute = |x: &Tensor| backbone.forward(x, 0, &get);
                    let y = if self.caches.contains_key(&i) {
                        self.cached_features(i, need()?, &compute)?
                    } else {
                        compute(need()?)?
                    };
                    finish(y, Activation::Linear)?
                }
            };
            if is_output {
                last_activation = act;
            }
            values[i] = Some(value);
        }
        let pre_activation = values
            .get_mut(self.checked.output)
            .and_then(Option::take)
            .ok_or_else(|| NetworkError::Weights("the model produced no output".to_owned()))?;
        Ok(Output {
            pre_activation,
            activation: last_activation,
        })
    }

    fn batch_norm(
        &self,
        name: &str,
        x: &Tensor,
        train: bool,
        momentum: f32,
        epsilon: f32,
    ) -> Result<Tensor, NetworkError> {
        let gamma = self.param(name, "weight")?;
        let beta = self.param(name, "bias")?;
        let c = gamma.elem_count();
        let image = x.rank() == 4;
        let view = |t: &Tensor| -> candle_core::Result<Tensor> {
            if image {
                t.reshape((1, c, 1, 1))
            } else {
                t.reshape((1, c))
            }
        };
        let (mean, var) = if train {
            // Per-channel statistics over batch (and positions).
            let xs = if image {
                x.transpose(0, 1)?.flatten_from(1)?
            } else {
                x.t()?
            };
            let mean = xs.mean(1)?;
            let centered = xs.broadcast_sub(&mean.unsqueeze(1)?)?;
            let var = centered.sqr()?.mean(1)?;
            let n = xs.dim(1)? as f64;
            let unbiased = if n > 1.0 {
                (var.detach() * (n / (n - 1.0)))?
            } else {
                var.detach()
            };
            for (what, batch) in [("running_mean", mean.detach()), ("running_var", unbiased)] {
                if let Some(v) = self
                    .by_name
                    .get(&format!("{name}.{what}"))
                    .and_then(|&i| self.vars.get(i))
                {
                    let m = f64::from(momentum);
                    let updated = ((v.var.as_tensor() * (1.0 - m))? + (batch * m)?)?;
                    v.var.set(&updated)?;
                }
            }
            (mean, var)
        } else {
            (
                self.param(name, "running_mean")?.clone(),
                self.param(name, "running_var")?.clone(),
            )
        };
        let inv = (var + f64::from(epsilon))?.sqrt()?.recip()?;
        let y = x
            .broadcast_sub(&view(&mean)?)?
            .broadcast_mul(&view(&(inv.mul(gamma)?))?)?
            .broadcast_add(&view(beta)?)?;
        Ok(y)
    }
}

/// Reads a pretrained node's weights file and takes its architecture's tensors out of it.
fn read_backbone(
    node: &str,
    backbone: pre::Backbone,
    weights: &str,
) -> Result<HashMap<String, Tensor>, NetworkError> {
    if weights.trim().is_empty() {
        return Err(NetworkError::Weights(format!(
            "'{node}' ({}) has no weights file yet; choose one on the Model screen ({})",
            backbone.label(),
            backbone.provided_by()
        )));
    }
    let (_, tensors) = pre::weights::read(Path::new(weights)).map_err(|e| {
        let hint = if Path::new(weights).exists() {
            String::new()
        } else {
            format!("; {}", backbone.provided_by())
        };
        NetworkError::Weights(format!("'{node}': {e}{hint}"))
    })?;
    backbone.select(tensors).map_err(|e| {
        NetworkError::Weights(format!(
            "'{node}': '{weights}' does not fit {}: {e}",
            backbone.label()
        ))
    })
}

/// Applies an activation function (softmax over the last axis).
pub fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    fused::activation(x, act)
}

/// A convolution layer's settings, applied with its padding rule: `Valid` uses only the
/// rows/columns the windows reach; `Same` pads with zeros (the extra row/column, if any, at the
/// bottom/right) so the output is ⌈n / stride⌉.
struct ConvLayer {
    kernel: usize,
    stride: usize,
    padding: Padding,
    activation: Activation,
}

impl ConvLayer {
    /// Padding before the image (top, left) and the output size for an `h`×`w` input.
    fn layout(&self, h: usize, w: usize) -> candle_core::Result<((usize, usize), (usize, usize))> {
        let (k, s) = (self.kernel, self.stride);
        let out = |n: usize| {
            window_out(n, k, s, self.padding).ok_or_else(|| {
                candle_core::Error::Msg(format!(
                    "a {k}×{k} convolution does not fit a {h}×{w} input"
                ))
            })
        };
        let (oh, ow) = (out(h)?, out(w)?);
        let before = |n: usize, o: usize| match self.padding {
            Padding::Valid => 0,
            Padding::Same => ((o - 1) * s + k).saturating_sub(n) / 2,
        };
        Ok(((before(h, oh), before(w, ow)), (oh, ow)))
    }

    fn apply(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
        let (_, _, h, wd) = x.dims4()?;
        let (pads, out) = self.layout(h, wd)?;
        fused::conv2d(x, w, b, self.stride, pads, out, self.activation)
    }

    fn apply_then_max_pool(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        pool: (usize, usize),
    ) -> candle_core::Result<Tensor> {
        let (_, _, h, wd) = x.dims4()?;
        let (pads, out) = self.layout(h, wd)?;
        fused::conv2d_max_pool(x, w, b, self.stride, pads, out, self.activation, pool)
    }
}

/// For each convolution whose only consumer is a max-pool taking nothing else, that pool.
pub(crate) fn fusable_pools(graph: &Graph, checked: &CheckedGraph) -> Vec<Option<usize>> {
    graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            if !matches!(node.layer, Layer::Conv2d { .. }) || i == checked.output {
                return None;
            }
            let mut consumers = graph
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.inputs.contains(&node.name));
            match (consumers.next(), consumers.next()) {
                (Some((j, pool)), None)
                    if matches!(pool.layer, Layer::MaxPool2d { .. }) && pool.inputs.len() == 1 =>
                {
                    Some(j)
                }
                _ => None,
            }
        })
        .collect()
}

/// The cell of a recurrent layer.
fn recurrent_cell(layer: &Layer) -> recurrent::Cell {
    match layer {
        Layer::Gru { .. } => recurrent::Cell::Gru,
        _ => recurrent::Cell::Lstm,
    }
}

/// Weight-name suffixes of a recurrent layer's directions (PyTorch's `_reverse` for backwards).
fn direction_suffixes(bidirectional: bool) -> &'static [&'static str] {
    if bidirectional {
        &["", "_reverse"]
    } else {
        &[""]
    }
}

/// 1-D convolution of `x` (`[B, C, L]`) with `w` (`[F, C, K]`) and bias `b`; "same" padding is
/// split between both ends (the extra zero at the end), so the output has ceil(L / stride)
/// positions. Built from unfolding and one matrix product (candle's own conv1d passes wrong input
/// gradients back in 0.11).
fn conv1d(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    kernel: usize,
    stride: usize,
    padding: Padding,
) -> candle_core::Result<Tensor> {
    let (batch, channels, l) = x.dims3()?;
    let Some(out) = window_out(l, kernel, stride, padding) else {
        return Err(candle_core::Error::Msg(format!(
            "a window of {kernel} does not fit a sequence of {l}"
        )));
    };
    let x = match padding {
        Padding::Same => {
            let total = ((out - 1) * stride + kernel).saturating_sub(l);
            x.pad_with_zeros(2, total / 2, total - total / 2)?
        }
        Padding::Valid => x.clone(),
    };
    // Every window position at stride 1, then every stride-th of them.
    let dense = x.dim(2)? + 1 - kernel;
    let shifted: Vec<Tensor> = (0..kernel)
        .map(|k| x.narrow(2, k, dense))
        .collect::<candle_core::Result<_>>()?;
    let mut columns = Tensor::stack(&shifted, 2)?; // [B, C, K, dense]
    if stride > 1 {
        let keep: Vec<u32> = (0..out).map(|i| (i * stride) as u32).collect();
        columns = columns
            .contiguous()?
            .index_select(&Tensor::new(keep, x.device())?, 3)?;
    }
    let columns = columns.reshape((batch, channels * kernel, out))?;
    let filters = w.dim(0)?;
    let w = w.reshape((1, filters, channels * kernel))?;
    w.broadcast_matmul(&columns)?
        .broadcast_add(&b.reshape((1, filters, 1))?)
}

/// Max (or mean) over non-overlapping windows of `kernel` along the last axis of `[B, C, L]`;
/// positions past the last whole window are dropped.
fn pool1d(x: &Tensor, kernel: usize, max: bool) -> candle_core::Result<Tensor> {
    let (b, c, l) = x.dims3()?;
    let n = l / kernel.max(1);
    let windows = x
        .narrow(2, 0, n * kernel)?
        .contiguous()?
        .reshape((b, c, n, kernel))?;
    if max {
        windows.max(D::Minus1)
    } else {
        windows.mean(D::Minus1)
    }
}

fn glorot(rng: &mut impl Rng, fan_in: usize, fan_out: usize, n: usize) -> Vec<f32> {
    let limit = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
    (0..n).map(|_| rng.random_range(-limit..=limit)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i * 7 + 3) % 11) as f32 * scale - 0.4)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn conv1d_forward_matches_candle() {
        let x = ramp(&[2, 3, 10], 0.1);
        let w = ramp(&[4, 3, 3], 0.05);
        let b = Tensor::new(&[0.1f32, -0.2, 0.3, 0.0], &Device::Cpu).unwrap();
        for (stride, padding, pad) in [
            (1, Padding::Valid, 0),
            (2, Padding::Valid, 0),
            (1, Padding::Same, 1),
        ] {
            let ours = conv1d(&x, &w, &b, 3, stride, padding).unwrap();
            let reference = x
                .conv1d(&w, pad, stride, 1, 1)
                .unwrap()
                .broadcast_add(&b.reshape((1, 4, 1)).unwrap())
                .unwrap();
            assert_eq!(ours.dims(), reference.dims());
            let diff = ours
                .sub(&reference)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-5, "stride {stride} {padding:?}: {diff}");
        }
    }
}
