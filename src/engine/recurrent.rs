//! LSTM and GRU layers built from candle ops (so backpropagation through time comes from candle's
//! autograd), with PyTorch's weight layout and gate order so checkpoints and reference values
//! carry over: `weight_ih` `[G·H, C]`, `weight_hh` `[G·H, H]`, `bias_ih`, `bias_hh` `[G·H]`; LSTM
//! gates i, f, g, o; GRU gates r, z, n with n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).

use candle_core::{Result, Tensor, D};

use super::network::activate;
use crate::model::Activation;

/// Which recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Long short-term memory (4 gates).
    Lstm,
    /// Gated recurrent unit (3 gates).
    Gru,
}

impl Cell {
    /// Gates per unit.
    pub fn gates(self) -> usize {
        match self {
            Self::Lstm => 4,
            Self::Gru => 3,
        }
    }
}

/// One direction's weights.
pub struct Weights<'a> {
    /// `[G·H, C]`.
    pub w_ih: &'a Tensor,
    /// `[G·H, H]`.
    pub w_hh: &'a Tensor,
    /// `[G·H]`.
    pub b_ih: &'a Tensor,
    /// `[G·H]`.
    pub b_hh: &'a Tensor,
}

fn sigmoid(x: &Tensor) -> Result<Tensor> {
    activate(x, Activation::Sigmoid)
}

fn tanh(x: &Tensor) -> Result<Tensor> {
    activate(x, Activation::Tanh)
}

/// Runs one direction over `x` (`[B, C, L]`, channels first like every sequence in Strata),
/// starting from zero state. Returns the hidden state of every step, `[B, H, L]` in sequence order
/// (also when `reverse` reads it from the end), and the state after the last step read, `[B, H]`.
pub fn run(cell: Cell, x: &Tensor, w: &Weights<'_>, reverse: bool) -> Result<(Tensor, Tensor)> {
    let (b, c, l) = x.dims3()?;
    let gh = w.w_ih.dim(0)?;
    let h_size = gh / cell.gates();
    // All input projections at once: [B·L, C] · [C, G·H].
    let inputs = x
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b * l, c))?
        .matmul(&w.w_ih.t()?)?
        .broadcast_add(w.b_ih)?
        .reshape((b, l, gh))?;
    let w_hh_t = w.w_hh.t()?;
    let mut h = Tensor::zeros((b, h_size), x.dtype(), x.device())?;
    let mut cstate = h.clone();
    let mut outputs: Vec<Tensor> = Vec::with_capacity(l);
    for step in 0..l {
        let t = if reverse { l - 1 - step } else { step };
        let xi = inputs.narrow(1, t, 1)?.squeeze(1)?;
        let hh = h.matmul(&w_hh_t)?.broadcast_add(w.b_hh)?;
        let gate = |g: &Tensor, k: usize| g.narrow(D::Minus1, k * h_size, h_size);
        h = match cell {
            Cell::Lstm => {
                let z = xi.add(&hh)?;
                let i = sigmoid(&gate(&z, 0)?)?;
                let f = sigmoid(&gate(&z, 1)?)?;
                let g = tanh(&gate(&z, 2)?)?;
                let o = sigmoid(&gate(&z, 3)?)?;
                cstate = f.mul(&cstate)?.add(&i.mul(&g)?)?;
                o.mul(&tanh(&cstate)?)?
            }
            Cell::Gru => {
                let r = sigmoid(&gate(&xi, 0)?.add(&gate(&hh, 0)?)?)?;
                let z = sigmoid(&gate(&xi, 1)?.add(&gate(&hh, 1)?)?)?;
                let n = tanh(&gate(&xi, 2)?.add(&r.mul(&gate(&hh, 2)?)?)?)?;
                // h' = (1 − z)·n + z·h = n + z·(h − n)
                n.add(&z.mul(&h.sub(&n)?)?)?
            }
        };
        outputs.push(h.clone());
    }
    if reverse {
        outputs.reverse();
    }
    let all = Tensor::stack(&outputs, 2)?; // [B, H, L]
    Ok((all, h))
}
