//! What the LSTM and GRU layers share: shapes, PyTorch's weight layout, both directions and the
//! inspector's settings (the cells themselves are in `engine::recurrent`).

use candle_core::Tensor;

use super::{BuildCx, Forward, ForwardCx, InferCx, Init, Param, Setting, SettingValue};
use crate::engine::network::NetworkError;
use crate::engine::recurrent::{self, Cell};
use crate::export::onnx::{Attr, OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{Activation, GraphError, Shape};

/// Weight-name suffixes of a recurrent layer's directions (PyTorch's `_reverse` for backwards).
fn direction_suffixes(bidirectional: bool) -> &'static [&'static str] {
    if bidirectional {
        &["", "_reverse"]
    } else {
        &[""]
    }
}

/// Output shape: units per direction, at the last step or at every step.
pub(super) fn infer(
    cx: &InferCx<'_>,
    units: usize,
    return_sequences: bool,
    bidirectional: bool,
) -> Result<Shape, GraphError> {
    if units == 0 {
        return Err(cx.fail(format!("{} '{}' needs at least 1 unit.", cx.kind, cx.name)));
    }
    let (_, l) = cx.sequence_input()?;
    let out = units * if bidirectional { 2 } else { 1 };
    Ok(if return_sequences {
        vec![out, l]
    } else {
        vec![out]
    })
}

/// PyTorch's tensors per direction, started uniform in ±1/√H as PyTorch does.
pub(super) fn params(cell: Cell, input: &[usize], units: usize, bidirectional: bool) -> Vec<Param> {
    let c = input.first().copied().unwrap_or(1);
    let gh = cell.gates() * units;
    let init = Init::Uniform(1.0 / (units.max(1) as f32).sqrt());
    direction_suffixes(bidirectional)
        .iter()
        .flat_map(|suffix| {
            [
                Param::weight(format!("weight_ih{suffix}"), vec![gh, c], init),
                Param::weight(format!("weight_hh{suffix}"), vec![gh, units], init),
                Param::bias(format!("bias_ih{suffix}"), vec![gh], init),
                Param::bias(format!("bias_hh{suffix}"), vec![gh], init),
            ]
        })
        .collect()
}

/// The layer ready to run: each direction's four tensors.
pub(super) fn build(
    cx: &mut BuildCx<'_>,
    cell: Cell,
    units: usize,
    return_sequences: bool,
    bidirectional: bool,
) -> Result<Box<dyn Forward>, NetworkError> {
    let vars = cx.create(&params(cell, cx.input, units, bidirectional))?;
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let directions = tensors
        .chunks_exact(4)
        .map(|w| [w[0].clone(), w[1].clone(), w[2].clone(), w[3].clone()])
        .collect();
    Ok(Box::new(RecurrentForward {
        cell,
        directions,
        return_sequences,
    }))
}

/// "64 units, both directions, every step".
pub(super) fn settings_line(units: usize, return_sequences: bool, bidirectional: bool) -> String {
    format!(
        "{units} units{}{}",
        if bidirectional {
            ", both directions"
        } else {
            ""
        },
        if return_sequences { ", every step" } else { "" }
    )
}

/// Units, directions and output.
pub(super) fn settings<'a>(
    units: &'a mut usize,
    return_sequences: &'a mut bool,
    bidirectional: &'a mut bool,
) -> Vec<Setting<'a>> {
    vec![
        Setting::count("Units", "Size of the memory carried from step to step.", units, 1..=1024),
        Setting::new(
            "Directions",
            "A second layer reads the sequence from the end; both outputs are joined.",
            SettingValue::Toggle {
                value: bidirectional,
                text: "also read backwards",
            },
        ),
        Setting::new(
            "Output",
            "On: the output of every step (to stack another LSTM/GRU or pool over time). Off: only the memory after the last step.",
            SettingValue::Toggle {
                value: return_sequences,
                text: "every step",
            },
        ),
    ]
}

/// `values` as blocks of `block` values, put in `order`.
fn reorder(values: &[f32], order: &[usize], block: usize) -> Vec<f32> {
    order
        .iter()
        .flat_map(|&g| values.iter().skip(g * block).take(block).copied())
        .collect()
}

/// The layer as one ONNX `LSTM` or `GRU` node over `[L, N, C]` (both directions in one node),
/// its weights moved to ONNX's gate order, and the output brought back to Strata's layout.
pub(super) fn onnx(
    cx: &mut OnnxCx<'_>,
    cell: Cell,
    units: usize,
    return_sequences: bool,
    bidirectional: bool,
) -> Result<String, OnnxError> {
    let c = cx.input_shape().first().copied().unwrap_or(1);
    let h = units;
    let g = cell.gates();
    // ONNX's gates: LSTM i, o, f, c (PyTorch's i, f, g, o); GRU z, r, h (PyTorch's r, z, n).
    let (op, order): (&str, &[usize]) = match cell {
        Cell::Lstm => ("LSTM", &[0, 3, 1, 2]),
        Cell::Gru => ("GRU", &[1, 0, 2]),
    };
    let suffixes = direction_suffixes(bidirectional);
    let d = suffixes.len();
    let (mut w, mut r, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for suffix in suffixes {
        w.extend(reorder(
            &cx.tensor(&format!("weight_ih{suffix}"))?.1,
            order,
            h * c,
        ));
        r.extend(reorder(
            &cx.tensor(&format!("weight_hh{suffix}"))?.1,
            order,
            h * h,
        ));
        b.extend(reorder(
            &cx.tensor(&format!("bias_ih{suffix}"))?.1,
            order,
            h,
        ));
        b.extend(reorder(
            &cx.tensor(&format!("bias_hh{suffix}"))?.1,
            order,
            h,
        ));
    }
    let w = cx.constant("W", &[d, g * h, c], w);
    let r = cx.constant("R", &[d, g * h, h], r);
    let b = cx.constant("B", &[d, 2 * g * h], b);
    let x = cx.input()?;
    let steps = cx.node("Transpose", &[&x], vec![Attr::Ints("perm", vec![2, 0, 1])]);
    let mut attrs = vec![
        Attr::Int("hidden_size", h as i64),
        Attr::Str(
            "direction",
            if bidirectional {
                "bidirectional"
            } else {
                "forward"
            }
            .to_owned(),
        ),
    ];
    if cell == Cell::Gru {
        // PyTorch's (and Strata's) GRU applies the reset gate after the recurrent product.
        attrs.push(Attr::Int("linear_before_reset", 1));
    }
    let outs = cx.node_with_outputs(op, &[&steps, &w, &r, &b], attrs, &["Y", "Y_h"]);
    let (all, last) = (&outs[0], &outs[1]);
    if return_sequences {
        // [L, D, N, H] → [N, D, H, L] → [N, D·H, L], forward units first.
        let t = cx.node(
            "Transpose",
            &[all],
            vec![Attr::Ints("perm", vec![2, 1, 3, 0])],
        );
        let shape = cx.constant_i64("shape", &[0, (d * h) as i64, -1]);
        Ok(cx.node("Reshape", &[&t, &shape], vec![]))
    } else {
        // [D, N, H] → [N, D, H] → [N, D·H].
        let t = cx.node(
            "Transpose",
            &[last],
            vec![Attr::Ints("perm", vec![1, 0, 2])],
        );
        Ok(cx.node("Flatten", &[&t], vec![Attr::Int("axis", 1)]))
    }
}

/// The layer as `nn.LSTM`/`nn.GRU` over `[N, L, C]` (PyTorch's gate order and tensors, as
/// Strata's), the output brought back to channels first, or the state after the last step.
pub(super) fn pytorch(
    cx: &mut TorchCx<'_>,
    cell: Cell,
    units: usize,
    return_sequences: bool,
    bidirectional: bool,
) -> Result<TorchLayer, TorchError> {
    let c = cx.input_shape().first().copied().unwrap_or(1);
    let module = format!(
        "nn.{}({c}, {units}, batch_first=True{})",
        match cell {
            Cell::Lstm => "LSTM",
            Cell::Gru => "GRU",
        },
        if bidirectional {
            ", bidirectional=True"
        } else {
            ""
        }
    );
    let call = format!("{}({}.transpose(1, 2))", cx.module, cx.input()?);
    let forward = if return_sequences {
        format!("{call}[0].transpose(1, 2)")
    } else {
        format!("last_state({call})")
    };
    Ok(TorchLayer {
        module: Some(module),
        forward,
    })
}

struct RecurrentForward {
    cell: Cell,
    /// Per direction: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
    directions: Vec<[Tensor; 4]>,
    return_sequences: bool,
}

impl Forward for RecurrentForward {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        let x = super::first(inputs)?;
        let mut outs = Vec::with_capacity(self.directions.len());
        for (k, [w_ih, w_hh, b_ih, b_hh]) in self.directions.iter().enumerate() {
            let weights = recurrent::Weights {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
            };
            let (all, last) = recurrent::run(self.cell, x, &weights, k == 1)?;
            outs.push(if self.return_sequences { all } else { last });
        }
        cx.finish(Tensor::cat(&outs, 1)?, Activation::Linear)
    }
}
