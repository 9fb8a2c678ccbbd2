//! Optimizers (SGD, momentum, Adam, AdamW) with L1/L2 penalties, as one fused update per tensor.
//!
//! On the CPU the update runs over plain `f32` slices: one pass reads weight and gradient and
//! writes the new weight, instead of a chain of tensor operations that each allocate. On a GPU the
//! same rule runs as candle tensor operations where the weights are, with the moments kept there
//! too: nothing visits the CPU per step.

use candle_core::{backprop::GradStore, CpuStorage, DType, InplaceOp2, Layout, Tensor, Var};
use rayon::prelude::*;

use super::ops::tensor_f32_vec;

use crate::project::OptimizerKind;
use crate::simd::vectorized;

/// Hyper-parameters of an optimizer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimizerConfig {
    /// Which algorithm.
    pub kind: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// L1 penalty weight: adds `l1 · Σ|w|` to the loss (penalized tensors only).
    pub l1: f64,
    /// L2 penalty weight: adds `l2 · Σw²` to the loss (penalized tensors only). For AdamW it is
    /// the decoupled weight decay instead (0.01 when left at 0, as in PyTorch).
    pub l2: f64,
}

/// Momentum coefficient of SGD with momentum.
pub const MOMENTUM: f32 = 0.9;
const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-8;
const ADAMW_DEFAULT_DECAY: f64 = 0.01;

/// One moment per parameter, as plain values (empty where the rule keeps none).
pub type Moments = Vec<Vec<f32>>;

/// A parameter the optimizer updates.
pub struct Param {
    /// The variable.
    pub var: Var,
    /// Whether L1/L2 apply.
    pub penalized: bool,
}

/// An optimizer with its per-parameter state.
pub struct Optimizer {
    config: OptimizerConfig,
    /// Adam's first-moment decay (0.9; GANs train better with 0.5).
    beta1: f32,
    params: Vec<Param>,
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
    /// The moments of parameters that live on a GPU, kept there (`None` until their first update
    /// there; `first`/`second` then hold nothing for them).
    device_first: Vec<Option<Tensor>>,
    device_second: Vec<Option<Tensor>>,
    step: i32,
}

impl Optimizer {
    /// An optimizer over the given parameters.
    pub fn new(config: OptimizerConfig, params: Vec<Param>) -> Self {
        let n = params.len();
        Self {
            config,
            beta1: BETA1,
            params,
            first: vec![Vec::new(); n],
            second: vec![Vec::new(); n],
            device_first: vec![None; n],
            device_second: vec![None; n],
            step: 0,
        }
    }

    /// The same optimizer with Adam's first-moment decay β₁ set to `beta1` (0.5 is the usual
    /// choice for GANs, whose two networks keep changing each other's gradients).
    pub fn with_beta1(mut self, beta1: f32) -> Self {
        self.beta1 = beta1;
        self
    }

    /// An optimizer over the trainable tensors of `net` (weights penalized, biases and norms not).
    pub fn for_network(config: OptimizerConfig, net: &super::Network) -> Self {
        Self::new(
            config,
            net.vars()
                .iter()
                .filter(|v| v.trainable)
                .map(|v| Param {
                    var: v.var.clone(),
                    penalized: v.penalized,
                })
                .collect(),
        )
    }

    /// Updates made so far.
    pub fn steps(&self) -> i32 {
        self.step
    }

    /// Per parameter (in the order given to [`Optimizer::new`]), the first and second moments
    /// the rule keeps (momentum's velocity is the first; empty before the first update or when
    /// the rule keeps none). Moments kept on a GPU are copied here.
    pub fn moments(&self) -> candle_core::Result<(Moments, Moments)> {
        let host = |on_host: &[Vec<f32>], on_device: &[Option<Tensor>]| {
            on_host
                .iter()
                .zip(on_device)
                .map(|(h, d)| match d {
                    Some(t) => t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>(),
                    None => Ok(h.clone()),
                })
                .collect::<candle_core::Result<Vec<_>>>()
        };
        Ok((
            host(&self.first, &self.device_first)?,
            host(&self.second, &self.device_second)?,
        ))
    }

    /// Puts back the state of an interrupted run ([`Optimizer::steps`], [`Optimizer::moments`]),
    /// so training continues exactly as if it had not stopped.
    pub fn restore(
        &mut self,
        step: i32,
        first: Vec<Vec<f32>>,
        second: Vec<Vec<f32>>,
    ) -> Result<(), String> {
        let n = self.params.len();
        if first.len() != n || second.len() != n {
            return Err(format!(
                "the saved optimizer state has {} tensors, the model {n}",
                first.len()
            ));
        }
        for (k, p) in self.params.iter().enumerate() {
            let size = p.var.elem_count();
            for m in [&first[k], &second[k]] {
                if !m.is_empty() && m.len() != size {
                    return Err(format!(
                        "the saved optimizer state does not fit tensor {k} ({} values, the model has {size})",
                        m.len()
                    ));
                }
            }
        }
        self.step = step;
        self.first = first;
        self.second = second;
        // Moved to the device again at the next update.
        self.device_first = vec![None; n];
        self.device_second = vec![None; n];
        Ok(())
    }

    /// Changes the learning rate (for schedules).
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    /// Applies one update from the gradients of the loss. Parameters without a gradient are left
    /// unchanged.
    pub fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step += 1;
        let c = self.config;
        let lr = c.lr as f32;
        let decay = match c.kind {
            OptimizerKind::AdamW if c.l2 > 0.0 => c.l2 as f32,
            OptimizerKind::AdamW => ADAMW_DEFAULT_DECAY as f32,
            _ => 0.0,
        };
        let (l1, l2) = match c.kind {
            OptimizerKind::AdamW => (c.l1 as f32, 0.0),
            _ => (c.l1 as f32, c.l2 as f32),
        };
        let bias1 = 1.0 - self.beta1.powi(self.step);
        let bias2 = 1.0 - BETA2.powi(self.step);
        for (k, p) in self.params.iter().enumerate() {
            let Some(grad) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            let rule = Rule {
                kind: c.kind,
                lr,
                l1: if p.penalized { l1 } else { 0.0 },
                l2: if p.penalized { l2 } else { 0.0 },
                decay: if p.penalized { decay } else { 0.0 },
                beta1: self.beta1,
                bias1,
                bias2,
            };
            let n = p.var.elem_count();
            let t = p.var.as_tensor();
            if !t.device().is_cpu() {
                let on_device = |host: &mut Vec<f32>, kept: &mut Option<Tensor>| match kept.take() {
                    Some(m) => Ok(m),
                    None if host.len() == n => {
                        let m = Tensor::from_slice(host, t.shape(), t.device());
                        host.clear();
                        m
                    }
                    None => Tensor::zeros(t.shape(), DType::F32, t.device()),
                };
                let (keeps_m, keeps_v) = match c.kind {
                    OptimizerKind::Sgd => (false, false),
                    OptimizerKind::Momentum => (true, false),
                    OptimizerKind::Adam | OptimizerKind::AdamW => (true, true),
                };
                let m = keeps_m
                    .then(|| on_device(&mut self.first[k], &mut self.device_first[k]))
                    .transpose()?;
                let v = keeps_v
                    .then(|| on_device(&mut self.second[k], &mut self.device_second[k]))
                    .transpose()?;
                let (w, m, v) = rule.apply_tensors(&t.to_dtype(DType::F32)?, grad, m, v)?;
                p.var.set(&w.to_dtype(t.dtype())?)?;
                self.device_first[k] = m;
                self.device_second[k] = v;
                continue;
            }
            let m = state(&mut self.first[k], n);
            let v = state(&mut self.second[k], n);
            if t.dtype() == DType::F32 && t.is_contiguous() {
                // Update the weights where they are: no copies of weights or gradients.
                let grad = grad.contiguous()?;
                let op = InPlace {
                    rule,
                    state: std::sync::Mutex::new((m, v)),
                };
                t.inplace_op2(&grad, &op)?;
            } else {
                let mut w = tensor_f32_vec(t)?;
                rule.apply(&mut w, &tensor_f32_vec(grad)?, m, v);
                p.var
                    .set(&Tensor::from_vec(w, t.shape(), t.device())?.to_dtype(t.dtype())?)?;
            }
        }
        Ok(())
    }

    /// The penalty term `Σ l1·|w| + l2·w²` over penalized parameters (zero for AdamW's L2).
    pub fn penalty(&self) -> candle_core::Result<f64> {
        let c = self.config;
        let l2 = if c.kind == OptimizerKind::AdamW {
            0.0
        } else {
            c.l2
        };
        if c.l1 == 0.0 && l2 == 0.0 {
            return Ok(0.0);
        }
        let mut total = 0.0;
        for p in self.params.iter().filter(|p| p.penalized) {
            let t = p.var.as_tensor();
            if !t.device().is_cpu() {
                // Summed on the device: two numbers come back, not the weights.
                let t = t.to_dtype(DType::F32)?;
                let abs = f64::from(t.abs()?.sum_all()?.to_scalar::<f32>()?);
                let sqr = f64::from(t.sqr()?.sum_all()?.to_scalar::<f32>()?);
                total += c.l1 * abs + l2 * sqr;
                continue;
            }
            for w in tensor_f32_vec(t)? {
                let w = f64::from(w);
                total += c.l1 * w.abs() + l2 * w * w;
            }
        }
        Ok(total)
    }
}

/// The update of one tensor, applied element by element.
#[derive(Clone, Copy)]
struct Rule {
    kind: OptimizerKind,
    lr: f32,
    l1: f32,
    l2: f32,
    decay: f32,
    beta1: f32,
    bias1: f32,
    bias2: f32,
}

impl Rule {
    /// Updates weights `w` from gradients `g` with the optimizer state `m`, `v` (same lengths);
    /// big tensors are split across threads.
    fn apply(&self, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        const CHUNK: usize = 16 * 1024;
        if w.len() > CHUNK {
            w.par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .for_each(|(((w, g), m), v)| apply_rule(self, w, g, m, v));
        } else {
            apply_rule(self, w, g, m, v);
        }
    }
}

vectorized! {
    /// [`Rule::apply`] on one thread, in the CPU's widest vectors (the same arithmetic at every
    /// width: no fused multiply-adds, so every CPU computes the same weights).
    fn apply_rule(rule: &Rule, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) = apply_rule_kernel;
}

#[inline(always)]
fn apply_rule_kernel<const FMA: bool>(
    rule: &Rule,
    w: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    let r = *rule;
    // The penalties' gradient, added to the loss gradient.
    let grad = |wi: f32, g: f32| {
        let l1 = if r.l1 != 0.0 { r.l1 * wi.signum() } else { 0.0 };
        g + l1 + 2.0 * r.l2 * wi
    };
    // One loop per rule, so each compiles to straight vector code.
    match r.kind {
        OptimizerKind::Sgd => {
            for (w, &g) in w.iter_mut().zip(g) {
                *w -= r.lr * grad(*w, g);
            }
        }
        OptimizerKind::Momentum => {
            for ((w, &g), m) in w.iter_mut().zip(g).zip(m.iter_mut()) {
                *m = MOMENTUM * *m + grad(*w, g);
                *w -= r.lr * *m;
            }
        }
        OptimizerKind::Adam | OptimizerKind::AdamW => {
            let (c1, c2) = (1.0 / r.bias1, 1.0 / r.bias2);
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let wi = *w;
                let gi = grad(wi, g);
                *m = r.beta1 * *m + (1.0 - r.beta1) * gi;
                *v = BETA2 * *v + (1.0 - BETA2) * gi * gi;
                *w = wi - r.lr * r.decay * wi - r.lr * (*m * c1) / ((*v * c2).sqrt() + EPSILON);
            }
        }
    }
}

impl Rule {
    /// The same update as [`Rule::apply`] as tensor operations on the weights' own device;
    /// returns the new weights and moments. `m` is needed by momentum and Adam, `v` by Adam.
    fn apply_tensors(
        &self,
        w: &Tensor,
        g: &Tensor,
        m: Option<Tensor>,
        v: Option<Tensor>,
    ) -> candle_core::Result<(Tensor, Option<Tensor>, Option<Tensor>)> {
        let need = |t: Option<Tensor>| {
            t.ok_or_else(|| candle_core::Error::Msg("optimizer moments missing".to_owned()))
        };
        let r = *self;
        let mut g = g.to_dtype(DType::F32)?;
        if r.l1 != 0.0 {
            g = (g + (w.sign()? * f64::from(r.l1))?)?;
        }
        if r.l2 != 0.0 {
            g = (g + (w * f64::from(2.0 * r.l2))?)?;
        }
        let lr = f64::from(r.lr);
        Ok(match r.kind {
            OptimizerKind::Sgd => ((w - (g * lr)?)?, m, v),
            OptimizerKind::Momentum => {
                let m = ((need(m)? * f64::from(MOMENTUM))? + g)?;
                ((w - (&m * lr)?)?, Some(m), v)
            }
            OptimizerKind::Adam | OptimizerKind::AdamW => {
                let m = ((need(m)? * f64::from(r.beta1))? + (&g * f64::from(1.0 - r.beta1))?)?;
                let v = ((need(v)? * f64::from(BETA2))? + (g.sqr()? * f64::from(1.0 - BETA2))?)?;
                let step = ((&m * (lr / f64::from(r.bias1)))?
                    / ((&v * (1.0 / f64::from(r.bias2)))?.sqrt()? + f64::from(EPSILON))?)?;
                let decayed = (w * (1.0 - lr * f64::from(r.decay)))?;
                ((decayed - step)?, Some(m), Some(v))
            }
        })
    }
}

/// Candle in-place op running [`Rule`] on a weight tensor's own storage.
struct InPlace<'a> {
    rule: Rule,
    state: std::sync::Mutex<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

impl InplaceOp2 for InPlace<'_> {
    fn name(&self) -> &'static str {
        "strata-optimizer-step"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let (Some((a0, a1)), Some((b0, b1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("optimizer step needs contiguous tensors");
        };
        let CpuStorage::F32(w) = s1 else {
            candle_core::bail!("optimizer step needs f32 weights");
        };
        let g = s2.as_slice::<f32>()?;
        let mut state = self
            .state
            .lock()
            .map_err(|_| candle_core::Error::Msg("optimizer state poisoned".to_owned()))?;
        let (m, v) = &mut *state;
        self.rule.apply(&mut w[a0..a1], &g[b0..b1], m, v);
        Ok(())
    }
}

fn state(v: &mut Vec<f32>, n: usize) -> &mut Vec<f32> {
    if v.len() != n {
        *v = vec![0.0; n];
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The GPU form of each rule (tensor operations) gives the CPU form's numbers, over three
    /// steps with L1, L2 and AdamW's decay.
    #[test]
    fn tensor_rules_match_the_fused_rules() {
        let w0 = [0.3f32, -1.2, 2.0, -0.05];
        let grads = [
            [0.5f32, -1.0, 0.25, 0.1],
            [0.2, 0.3, -0.6, -0.4],
            [-0.1, 0.8, 0.05, 0.9],
        ];
        for kind in [
            OptimizerKind::Sgd,
            OptimizerKind::Momentum,
            OptimizerKind::Adam,
            OptimizerKind::AdamW,
        ] {
            let (mut w, mut m, mut v) = (w0.to_vec(), vec![0f32; 4], vec![0f32; 4]);
            let mut wt = Tensor::new(&w0, &Device::Cpu).unwrap();
            let (mut mt, mut vt) = (
                Some(Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap()),
                Some(Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap()),
            );
            for (step, g) in grads.iter().enumerate() {
                let s = step as i32 + 1;
                let rule = Rule {
                    kind,
                    lr: 0.1,
                    l1: 0.01,
                    l2: 0.02,
                    decay: if kind == OptimizerKind::AdamW {
                        0.01
                    } else {
                        0.0
                    },
                    beta1: BETA1,
                    bias1: 1.0 - BETA1.powi(s),
                    bias2: 1.0 - BETA2.powi(s),
                };
                rule.apply(&mut w, g, &mut m, &mut v);
                let gt = Tensor::new(g, &Device::Cpu).unwrap();
                let (nw, nm, nv) = rule.apply_tensors(&wt, &gt, mt.take(), vt.take()).unwrap();
                (wt, mt, vt) = (
                    nw,
                    nm.or(Some(Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap())),
                    nv.or(Some(Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap())),
                );
            }
            let got = wt.to_vec1::<f32>().unwrap();
            for (a, b) in got.iter().zip(&w) {
                assert!((a - b).abs() < 1e-6, "{kind:?}: {got:?} vs {w:?}");
            }
        }
    }

    /// One step on w = [1, -2] with loss = Σ g·w (so the gradient is g = [0.5, -1]).
    fn one_step(kind: OptimizerKind, l1: f64, l2: f64, steps: usize) -> Vec<f32> {
        let var = Var::from_slice(&[1f32, -2.0], 2, &Device::Cpu).unwrap();
        let g = Tensor::new(&[0.5f32, -1.0], &Device::Cpu).unwrap();
        let mut opt = Optimizer::new(
            OptimizerConfig {
                kind,
                lr: 0.1,
                l1,
                l2,
            },
            vec![Param {
                var: var.clone(),
                penalized: true,
            }],
        );
        for _ in 0..steps {
            let loss = var.as_tensor().mul(&g).unwrap().sum_all().unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
        }
        var.as_tensor().to_vec1::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn sgd_step_by_hand() {
        // w − lr·g = [1 − 0.05, −2 + 0.1]
        close(&one_step(OptimizerKind::Sgd, 0.0, 0.0, 1), &[0.95, -1.9]);
        // L2 0.5 adds 2·0.5·w: g' = [1.5, −3]; L1 0.1 adds 0.1·sign(w).
        close(&one_step(OptimizerKind::Sgd, 0.0, 0.5, 1), &[0.85, -1.7]);
        close(&one_step(OptimizerKind::Sgd, 0.1, 0.0, 1), &[0.94, -1.89]);
    }

    #[test]
    fn momentum_steps_by_hand() {
        // v1 = g, w1 = w0 − 0.1g; v2 = 0.9g + g = 1.9g, w2 = w1 − 0.19g.
        close(
            &one_step(OptimizerKind::Momentum, 0.0, 0.0, 2),
            &[1.0 - 0.145, -2.0 + 0.29],
        );
    }

    #[test]
    fn adam_steps_by_hand() {
        // With a constant gradient, Adam's bias-corrected step is lr·g/|g| = lr·sign(g) each time.
        close(&one_step(OptimizerKind::Adam, 0.0, 0.0, 1), &[0.9, -1.9]);
        close(&one_step(OptimizerKind::Adam, 0.0, 0.0, 3), &[0.7, -1.7]);
        // AdamW decays first: w ← w − lr·0.01·w, then the Adam step.
        close(
            &one_step(OptimizerKind::AdamW, 0.0, 0.0, 1),
            &[1.0 - 0.001 - 0.1, -2.0 + 0.002 + 0.1],
        );
    }
}
