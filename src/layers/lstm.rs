//! LSTM: a recurrent layer with a memory and learned gates (PyTorch's layout, gates i, f, g, o).

use serde::{Deserialize, Serialize};

use super::{recurrent, BuildCx, Forward, InferCx, LayerKind, PaletteEntries, Param, Setting};
use crate::engine::network::NetworkError;
use crate::engine::recurrent::Cell;
use crate::export::onnx::{OnnxCx, OnnxError};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{GraphError, Shape};

/// Long short-term memory: reads a sequence step by step, C×L → units (its state after the
/// last step) or units×L (every step, to stack another recurrent layer on it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lstm {
    /// Size of the memory (outputs per direction).
    pub units: usize,
    /// Give the output of every step instead of only the last.
    pub return_sequences: bool,
    /// Also read the sequence backwards and join both directions' outputs.
    pub bidirectional: bool,
}

impl PaletteEntries for Lstm {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            units: 64,
            return_sequences: false,
            bidirectional: false,
        }]
    }
}

impl LayerKind for Lstm {
    fn label(&self) -> &'static str {
        "LSTM"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        recurrent::onnx(
            cx,
            Cell::Lstm,
            self.units,
            self.return_sequences,
            self.bidirectional,
        )
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        recurrent::pytorch(
            cx,
            Cell::Lstm,
            self.units,
            self.return_sequences,
            self.bidirectional,
        )
    }

    fn help(&self) -> &'static str {
        "A recurrent layer: reads the sequence one step at a time and keeps a memory, with learned gates deciding what to remember and what to forget. Good at word order and long-range context."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        recurrent::infer(cx, self.units, self.return_sequences, self.bidirectional)
    }

    fn params(&self, input: &[usize]) -> Vec<Param> {
        recurrent::params(Cell::Lstm, input, self.units, self.bidirectional)
    }

    fn has_weights(&self) -> bool {
        true
    }

    fn build(&self, cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        recurrent::build(
            cx,
            Cell::Lstm,
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
