//! The model specification: layers, the graph that wires them, shape inference, validation and
//! templates. Pure data; the engine turns it into candle modules.

pub mod edit;
mod fit;
mod graph;
mod layer;
mod templates;

pub use crate::layers::Layer;
pub use edit::EditError;
pub use fit::{apply_fixes, check_fit, Fix};
pub use graph::{shape_label, window_out, CheckedGraph, Graph, GraphError, Node, NodeInfo, Shape};
pub use layer::{Activation, Padding};
pub use templates::{
    audio_cnn, cnn, default_template, gan_templates, mlp, tabular_linear, tabular_mlp, template,
    text_bow, text_cnn, text_lstm, DataFit, TEMPLATE_NAMES,
};
