//! The model specification: layers, the graph that wires them, shape inference, validation and
//! templates. Pure data; the engine turns it into candle modules.

mod graph;
mod layer;
mod templates;

pub use graph::{shape_label, window_out, CheckedGraph, Graph, GraphError, Node, NodeInfo, Shape};
pub use layer::{Activation, Layer, Padding};
pub use templates::{
    audio_cnn, cnn, mlp, tabular_mlp, template, text_cnn, text_lstm, DataFit, TEMPLATE_NAMES,
};
