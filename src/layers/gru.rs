//! GRU: a recurrent layer like the LSTM with fewer gates (PyTorch's layout, gates r, z, n).

use serde::{Deserialize, Serialize};

use super::{recurrent, BuildCx, Forward, InferCx, LayerKind, PaletteEntries, Param, Setting};
use crate::engine::network::NetworkError;
use crate::engine::recurrent::Cell;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{GraphError, Shape};

/// Gated recurrent unit: a lighter LSTM with the same inputs and outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gru {
    /// Size of the memory (outputs per direction).
    pub units: usize,
    /// Give the output of every step instead of only the last.
    pub return_sequences: bool,
    /// Also read the sequence backwards and join both directions' outputs.
    pub bidirectional: bool,
}

impl PaletteEntries for Gru {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            units: 64,
            return_sequences: false,
            bidirectional: false,
        }]
    }
}

impl LayerKind for Gru {
    fn label(&self) -> &'static str {
        "GRU"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        recurrent::onnx(
            cx,
            Cell::Gru,
            self.units,
            self.return_sequences,
            self.bidirectional,
        )
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        recurrent::pytorch(
            cx,
            Cell::Gru,
            self.units,
            self.return_sequences,
            self.bidirectional,
        )
    }

    fn help(&self) -> &'static str {
        "A recurrent layer like the LSTM with fewer gates: a little faster, often as good."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        recurrent::infer(cx, self.units, self.return_sequences, self.bidirectional)
    }

    fn params(&self, input: &[usize]) -> Vec<Param> {
        recurrent::params(Cell::Gru, input, self.units, self.bidirectional)
    }

    fn has_weights(&self) -> bool {
        true
    }

    fn build(&self, cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        recurrent::build(
            cx,
            Cell::Gru,
            self.units,
            self.return_sequences,
            self.bidirectional,
        )
    }

    fn settings_line(&self) -> String {
        recurrent::settings_line(self.units, self.return_sequences, self.bidirectional)
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        recurrent::settings(
            &mut self.units,
            &mut self.return_sequences,
            &mut self.bidirectional,
        )
    }
}
