//! Differentially private training (DP-SGD, Abadi et al. 2016): the Rényi-DP accountant of the
//! sampled Gaussian mechanism (Mironov, Talwar and Zhang 2019) with the tighter RDP → (ε, δ)
//! conversion of Balle et al. 2020 (the one Opacus uses), the noise a target ε needs, and the
//! per-example clipped, noised gradient step.

use candle_core::{backprop::GradStore, Tensor};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use std::time::Instant;

use super::network::Network;
use super::optim::Optimizer;
use super::train::StepResult;
use crate::data::Batch;
use crate::project::LossKind;

/// How a run protects individual examples (the Train screen's "Protect individual examples").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrivacySettings {
    /// The privacy budget to stay within; the noise is chosen to meet it (`None`: `noise` is
    /// given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_epsilon: Option<f64>,
    /// The noise multiplier σ (the noise's standard deviation over the clipping norm), when no
    /// target ε is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_multiplier: Option<f64>,
    /// Each example's gradient is scaled down to at most this norm.
    pub clip_norm: f64,
    /// δ: the chance the guarantee may fail (`None`: 1 / the number of training samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            target_epsilon: Some(3.0),
            noise_multiplier: None,
            clip_norm: 1.0,
            delta: None,
        }
    }
}

/// The guarantee a run gives, kept in its record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrivacyReport {
    /// ε spent so far (at `delta`).
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// The noise multiplier σ used.
    pub noise_multiplier: f64,
    /// The clipping norm.
    pub clip_norm: f64,
    /// The chance each example is in a step's batch (batch size / training samples).
    pub sampling_rate: f64,
    /// Steps taken.
    pub steps: usize,
    /// Training samples.
    pub samples: usize,
}

impl PrivacyReport {
    /// The guarantee in plain words.
    pub fn plain_words(&self) -> String {
        format!(
            "Trained with differential privacy: ε = {:.2} at δ = {:.1e}. Whatever any one of the {} training examples is, or whether it was used at all, changes the chance of getting this model by at most a factor of e^ε ≈ {}, except with probability δ. (Gradients clipped to norm {}, noise σ = {:.2}, {} steps at sampling rate {:.4}; Rényi-DP accountant with the tighter conversion of Balle et al. 2020, as Opacus.)",
            self.epsilon,
            self.delta,
            self.samples,
            match self.epsilon.exp() {
                f if f < 100.0 => format!("{f:.1}"),
                f => format!("{f:.0}"),
            },
            self.clip_norm,
            self.noise_multiplier,
            self.steps,
            self.sampling_rate
        )
    }
}

/// A private run's plan: the noise, clipping and sampling its steps use, and the accountant.
#[derive(Clone, Debug, PartialEq)]
pub struct PrivatePlan {
    /// Noise multiplier σ.
    pub sigma: f64,
    /// Clipping norm.
    pub clip: f64,
    /// δ.
    pub delta: f64,
    /// Sampling rate: the batch size over the training samples.
    pub q: f64,
    /// Training samples.
    pub samples: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// The target ε, when the noise was chosen to meet one.
    pub target: Option<f64>,
}

impl PrivatePlan {
    /// The plan for `settings` on `samples` training samples in steps of `batch_size` over
    /// `epochs` epochs, or why the model or settings cannot train privately.
    pub fn new(
        settings: &PrivacySettings,
        model: &crate::model::Graph,
        samples: usize,
        batch_size: usize,
        epochs: usize,
    ) -> Result<Self, String> {
        for node in &model.nodes {
            match &node.layer {
                crate::model::Layer::BatchNorm(_) => {
                    return Err(format!("'{}' is a BatchNorm layer: it normalises each batch with statistics of the examples in it and keeps running averages of them, which leak individual examples past the noise; remove it to train with differential privacy", node.name));
                }
                layer if layer.kind().train_blocks().is_some_and(|b| b > 0) => {
                    return Err(format!("'{}' trains some of its pretrained blocks, whose batch normalisation leaks individual examples; freeze it (0 blocks trained) to train with differential privacy", node.name));
                }
                _ => {}
            }
        }
        if !(settings.clip_norm > 0.0 && settings.clip_norm.is_finite()) {
            return Err(format!(
                "the clipping norm {} is not usable; use a positive number such as 1",
                settings.clip_norm
            ));
        }
        let samples = samples.max(1);
        let q = (batch_size as f64 / samples as f64).min(1.0);
        let steps_per_epoch = samples.div_ceil(batch_size.max(1));
        let delta = settings.delta.unwrap_or(1.0 / samples as f64);
        if !(delta > 0.0 && delta < 1.0) {
            return Err(format!("δ = {delta} is not usable; it must be between 0 and 1 (usually below 1 / the number of training samples)"));
        }
        let steps = steps_per_epoch * epochs.max(1);
        let sigma = match (settings.noise_multiplier, settings.target_epsilon) {
            (Some(sigma), _) if sigma > 0.0 && sigma.is_finite() => sigma,
            (Some(sigma), _) => {
                return Err(format!("the noise multiplier {sigma} is not usable; use a positive number such as 1.1"))
            }
            (None, Some(target)) if target > 0.0 && target.is_finite() => {
                noise_for_epsilon(q, steps, delta, target).ok_or_else(|| {
                    format!("ε = {target} cannot be reached in {epochs} epochs with batches of {batch_size}: train fewer epochs, use smaller batches or allow a larger ε")
                })?
            }
            (None, Some(target)) => {
                return Err(format!("ε = {target} is not usable; use a positive number such as 3"))
            }
            (None, None) => {
                return Err("say how much privacy to keep: a target ε or a noise multiplier".to_owned())
            }
        };
        Ok(Self {
            sigma,
            clip: settings.clip_norm,
            delta,
            q,
            samples,
            steps_per_epoch,
            target: settings
                .target_epsilon
                .filter(|_| settings.noise_multiplier.is_none()),
        })
    }

    /// ε spent after `steps` steps (tight conversion).
    pub fn epsilon_after(&self, steps: usize) -> f64 {
        epsilon(self.q, self.sigma, steps, self.delta, Conversion::Tight).0
    }

    /// The run's guarantee after `epochs` epochs.
    pub fn report(&self, epochs: usize) -> PrivacyReport {
        let steps = epochs * self.steps_per_epoch;
        PrivacyReport {
            epsilon: self.epsilon_after(steps),
            delta: self.delta,
            noise_multiplier: self.sigma,
            clip_norm: self.clip,
            sampling_rate: self.q,
            steps,
            samples: self.samples,
        }
    }

    /// What the run will do, for the start of training.
    pub fn note(&self, epochs: usize) -> String {
        format!(
            "protecting individual examples (differential privacy): each example's gradient clipped to norm {}, Gaussian noise σ = {:.2}, batches drawn with probability {:.4} per example; after {epochs} epochs ε = {:.2} at δ = {:.1e}{}. Each step computes every example's gradient on its own, so training is slower",
            self.clip,
            self.sigma,
            self.q,
            self.epsilon_after(epochs * self.steps_per_epoch),
            self.delta,
            self.target
                .map(|t| format!(" (target {t})"))
                .unwrap_or_default()
        )
    }

    /// One epoch's batches by Poisson sampling: each of `train` in each batch with probability
    /// `q`, as the accountant assumes (batches vary in size; an empty one is skipped, which only
    /// makes the reported ε an overestimate).
    pub fn poisson_batches(&self, train: &[usize], rng: &mut impl Rng) -> Vec<Vec<usize>> {
        (0..self.steps_per_epoch)
            .map(|_| {
                train
                    .iter()
                    .copied()
                    .filter(|_| rng.random::<f64>() < self.q)
                    .collect()
            })
            .collect()
    }
}

/// The Rényi orders the accountant tries: 1.1 … 10.9 in tenths, then 12 … 63 (Opacus's and
/// TensorFlow Privacy's defaults).
pub fn orders() -> Vec<f64> {
    (1..100)
        .map(|x| 1.0 + f64::from(x) / 10.0)
        .chain((12..64).map(f64::from))
        .collect()
}

fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// log(exp(a) − exp(b)) for a ≥ b.
fn log_sub(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    if a <= b {
        return f64::NEG_INFINITY;
    }
    a + (-(b - a).exp()).ln_1p()
}

/// log(erfc(x)), also far in the tail where erfc underflows.
fn log_erfc(x: f64) -> f64 {
    if x < 25.0 {
        return libm::erfc(x).ln();
    }
    // Asymptotic series: erfc(x) ≈ e^(−x²) / (x√π) · (1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶)).
    let x2 = x * x;
    -x2 - (x * std::f64::consts::PI.sqrt()).ln()
        + (1.0 - 0.5 / x2 + 0.75 / (x2 * x2) - 1.875 / (x2 * x2 * x2)).ln()
}

fn ln_binomial(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

/// log A_α for an integer order (Mironov et al. 2019, section 3.3).
fn log_a_int(q: f64, sigma: f64, alpha: u32) -> f64 {
    let a = f64::from(alpha);
    (0..=alpha).fold(f64::NEG_INFINITY, |acc, i| {
        let i = f64::from(i);
        let coef = ln_binomial(a, i) + i * q.ln() + (a - i) * (-q).ln_1p();
        log_add(acc, coef + (i * i - i) / (2.0 * sigma * sigma))
    })
}

/// log A_α for a fractional order (Mironov et al. 2019, section 3.3): two series summed until
/// their terms are negligible.
fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (mut a0, mut a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let mut coef = 1.0f64; // binom(alpha, i), by its recurrence
    let mut i = 0.0f64;
    loop {
        let log_coef = coef.abs().ln();
        let j = alpha - i;
        let t0 = log_coef + i * q.ln() + j * (-q).ln_1p();
        let t1 = log_coef + j * q.ln() + i * (-q).ln_1p();
        let e0 = 0.5f64.ln() + log_erfc((i - z0) / (std::f64::consts::SQRT_2 * sigma));
        let e1 = 0.5f64.ln() + log_erfc((z0 - j) / (std::f64::consts::SQRT_2 * sigma));
        let s0 = t0 + (i * i - i) / (2.0 * sigma * sigma) + e0;
        let s1 = t1 + (j * j - j) / (2.0 * sigma * sigma) + e1;
        if coef > 0.0 {
            a0 = log_add(a0, s0);
            a1 = log_add(a1, s1);
        } else {
            a0 = log_sub(a0, s0);
            a1 = log_sub(a1, s1);
        }
        if s0.max(s1) < -30.0 || i > 10_000.0 {
            break;
        }
        coef *= (alpha - i) / (i + 1.0);
        i += 1.0;
    }
    log_add(a0, a1)
}

/// Rényi DP of order `alpha` of one step of the sampled Gaussian mechanism: each example in the
/// batch with probability `q`, Gaussian noise of `sigma` times the clipping norm.
pub fn rdp_per_step(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q <= 0.0 {
        return 0.0;
    }
    if sigma <= 0.0 || !alpha.is_finite() {
        return f64::INFINITY;
    }
    if q >= 1.0 {
        return alpha / (2.0 * sigma * sigma);
    }
    let log_a = if alpha.fract() == 0.0 && alpha <= f64::from(u32::MAX) {
        log_a_int(q, sigma, alpha as u32)
    } else {
        log_a_frac(q, sigma, alpha)
    };
    log_a / (alpha - 1.0)
}

/// How RDP becomes (ε, δ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// ε = RDP(α) + log(1/δ)/(α − 1) (Mironov 2017; TensorFlow Privacy's tutorials).
    Classic,
    /// ε = RDP(α) − (log δ + log α)/(α − 1) + log((α − 1)/α) (Balle et al. 2020; Opacus).
    Tight,
}

/// ε after `steps` steps at sampling rate `q` and noise multiplier `sigma`, at `delta`, the
/// smallest over [`orders`]; and the order that gave it.
pub fn epsilon(q: f64, sigma: f64, steps: usize, delta: f64, conversion: Conversion) -> (f64, f64) {
    let steps = steps as f64;
    orders()
        .into_iter()
        .map(|alpha| {
            let rdp = rdp_per_step(q, sigma, alpha) * steps;
            let eps = match conversion {
                Conversion::Classic => rdp - delta.ln() / (alpha - 1.0),
                Conversion::Tight => {
                    rdp - (delta.ln() + alpha.ln()) / (alpha - 1.0) + ((alpha - 1.0) / alpha).ln()
                }
            };
            (eps, alpha)
        })
        .filter(|(e, _)| e.is_finite())
        .fold((f64::INFINITY, f64::NAN), |best, e| {
            if e.0 < best.0 {
                e
            } else {
                best
            }
        })
}

/// The smallest noise multiplier that keeps ε within `target` (tight conversion) after `steps`
/// steps, to 0.01; `None` when even σ = 100 does not.
pub fn noise_for_epsilon(q: f64, steps: usize, delta: f64, target: f64) -> Option<f64> {
    let spent = |sigma: f64| epsilon(q, sigma, steps, delta, Conversion::Tight).0;
    let (mut lo, mut hi) = (0.1f64, 100.0f64);
    if spent(hi) > target {
        return None;
    }
    if spent(lo) <= target {
        return Some(lo);
    }
    while hi - lo > 0.005 {
        let mid = 0.5 * (lo + hi);
        if spent(mid) <= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some((hi * 100.0).ceil() / 100.0)
}

/// Each example's gradient of the loss, one backward pass per example: its gradients, its loss
/// and whether the model got it right (classification).
pub fn per_example_gradients(
    net: &Network,
    batch: &Batch,
    loss_kind: LossKind,
    classes: usize,
    rng: &mut impl Rng,
) -> candle_core::Result<Vec<(GradStore, f32, bool)>> {
    let n = batch.inputs.dim(0)?;
    let classify = batch.labels.dtype() != candle_core::DType::F32;
    (0..n)
        .map(|i| {
            let x = batch.inputs.narrow(0, i, 1)?;
            let y = batch.labels.narrow(0, i, 1)?;
            let out = net
                .forward(&x, true, rng)
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
            let loss = super::train::batch_loss(&out, &y, loss_kind, classes)?;
            let value = loss.to_scalar::<f32>()?;
            let right = classify && super::train::count_correct(&out.pre_activation, &y)? == 1;
            Ok((loss.backward()?, value, right))
        })
        .collect()
}

impl PrivatePlan {
    /// One DP-SGD step on a batch drawn by [`PrivatePlan::poisson_batches`]: each example's
    /// gradient clipped to the clipping norm (L2 over every trainable tensor), summed, Gaussian
    /// noise of σ · clip added, divided by the expected batch size, and given to the optimizer.
    /// A batch with a non-finite loss makes no update (its loss is reported as it is).
    pub fn step(
        &self,
        net: &Network,
        optimizer: &mut Optimizer,
        batch: &Batch,
        loss_kind: LossKind,
        classes: usize,
        rng: &mut impl Rng,
    ) -> candle_core::Result<StepResult> {
        let t0 = Instant::now();
        let trainable: Vec<Tensor> = net
            .vars()
            .iter()
            .filter(|v| v.trainable)
            .map(|v| v.var.as_tensor().clone())
            .collect();
        let per_example = per_example_gradients(net, batch, loss_kind, classes, rng)?;
        let t1 = Instant::now();
        let n = per_example.len().max(1);
        let mut result = StepResult {
            loss: per_example.iter().map(|e| e.1).sum::<f32>() / n as f32,
            correct: per_example.iter().filter(|e| e.2).count(),
            forward_secs: 0.0,
            backward_secs: (t1 - t0).as_secs_f64(),
            update_secs: 0.0,
        };
        if !result.loss.is_finite() {
            return Ok(result);
        }
        let mut sums: Vec<Option<Tensor>> = vec![None; trainable.len()];
        for (grads, _, _) in &per_example {
            let mut norm2 = 0.0f64;
            for t in &trainable {
                if let Some(g) = grads.get(t) {
                    norm2 += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
                }
            }
            let scale = (self.clip / norm2.sqrt().max(1e-12)).min(1.0);
            for (sum, t) in sums.iter_mut().zip(&trainable) {
                if let Some(g) = grads.get(t) {
                    let clipped = (g * scale)?;
                    *sum = Some(match sum.take() {
                        Some(s) => (s + clipped)?,
                        None => clipped,
                    });
                }
            }
        }
        let Some((mut store, _, _)) = per_example.into_iter().next() else {
            return Ok(result);
        };
        let expected = (self.q * self.samples as f64).max(1.0);
        for (sum, t) in sums.into_iter().zip(&trainable) {
            let Some(sum) = sum else {
                continue;
            };
            let noise: Vec<f32> = (0..sum.elem_count())
                .map(|_| {
                    let z: f64 = StandardNormal.sample(rng);
                    (z * self.sigma * self.clip) as f32
                })
                .collect();
            let noise = Tensor::from_vec(noise, sum.shape(), sum.device())?;
            store.insert(t, ((sum + noise)? / expected)?);
        }
        optimizer.step(&store)?;
        result.update_secs = t1.elapsed().as_secs_f64();
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, within: f64) -> bool {
        (got - want).abs() <= within * want
    }

    #[test]
    fn accountant_reproduces_the_reference_values() {
        // Opacus's RDP accountant (tight conversion) and TensorFlow Privacy's MNIST tutorial
        // (classic conversion), within 2 %.
        let q = 256.0 / 60_000.0;
        let steps = (60.0 / q) as usize;
        let (tight, _) = epsilon(q, 1.12, steps, 1e-5, Conversion::Tight);
        let (classic, _) = epsilon(q, 1.12, steps, 1e-5, Conversion::Classic);
        assert!(close(tight, 2.52, 0.02), "tight ε {tight}");
        assert!(close(classic, 2.92, 0.02), "classic ε {classic}");
        let steps = (60.0 / 0.004f64).round() as usize;
        let (tight, _) = epsilon(0.004, 1.1, steps, 1e-5, Conversion::Tight);
        let (classic, _) = epsilon(0.004, 1.1, steps, 1e-5, Conversion::Classic);
        assert!(close(tight, 2.50, 0.02), "tight ε {tight}");
        assert!(close(classic, 2.91, 0.02), "classic ε {classic}");
    }

    #[test]
    fn fractional_orders_lie_between_their_integer_neighbours() {
        let (q, sigma) = (0.01, 1.0);
        let at = |a: f64| rdp_per_step(q, sigma, a);
        for a in [2.5f64, 3.3, 7.7] {
            assert!(at(a.floor()) <= at(a) && at(a) <= at(a.ceil()), "order {a}");
        }
        // Without sampling, the plain Gaussian mechanism: α / (2σ²).
        assert!((rdp_per_step(1.0, 2.0, 3.0) - 3.0 / 8.0).abs() < 1e-12);
    }

    #[test]
    fn more_noise_spends_less_and_the_target_is_met() {
        let (q, steps, delta) = (0.01, 1000, 1e-5);
        let (low, _) = epsilon(q, 0.8, steps, delta, Conversion::Tight);
        let (high, _) = epsilon(q, 1.5, steps, delta, Conversion::Tight);
        assert!(high < low);
        let sigma = noise_for_epsilon(q, steps, delta, 2.0).unwrap();
        let (spent, _) = epsilon(q, sigma, steps, delta, Conversion::Tight);
        assert!(spent <= 2.0 && spent > 1.9, "σ {sigma} gives ε {spent}");
    }
}
