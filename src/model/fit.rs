//! Does the model fit the data? One check for the Model screen's "Fit the model to the data", the
//! Train screen and `strata train`: each layer judges itself against the data (see
//! `LayerKind::fit_to_data`), and a model whose output has the wrong size is caught here.

use super::graph::{shape_label, Graph};
use super::templates::DataFit;
use crate::layers::Layer;
use crate::project::Task;

/// One way the model does not fit the data, and the edit that fixes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fix {
    /// The node that does not fit.
    pub node: String,
    /// The problem in a few words ("the Input layer expects 1×28×28 but the data gives 3×28×28").
    pub problem: String,
    /// The problem with what to do, as one sentence for messages and the CLI.
    pub advice: String,
    /// The node's layer with settings that fit, when Strata can make the change itself.
    pub replacement: Option<Layer>,
}

/// Every way `graph` does not fit `data`, in node order; empty when it fits. A graph with
/// problems of its own is judged as far as its nodes go (its validation reports the rest).
pub fn check_fit(data: &DataFit, graph: &Graph) -> Vec<Fix> {
    let checked = graph.validate().ok();
    let output = checked.as_ref().map(|c| c.output);
    let mut fixes: Vec<Fix> = graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, node)| {
            node.layer
                .kind()
                .fit_to_data(&node.name, data, Some(i) == output)
        })
        .collect();
    if let (Some(checked), Some(out)) = (&checked, output) {
        let outputs = match data.task {
            Task::Classify => data.classes,
            Task::Regress => 1,
        };
        let name = &graph.nodes[out].name;
        let usable = data.task == Task::Regress || data.classes >= 2;
        if usable && checked.output_shape() != [outputs] && !fixes.iter().any(|f| &f.node == name) {
            let wanted = match data.task {
                Task::Classify => format!("the data has {outputs} classes"),
                Task::Regress => "predicting a number needs exactly 1".to_owned(),
            };
            let gives = shape_label(checked.output_shape());
            fixes.push(Fix {
                node: name.clone(),
                problem: format!("the last layer '{name}' gives {gives} values but {wanted}"),
                advice: format!(
                    "the last layer '{name}' gives {gives} values but {wanted}; set its units to {outputs}"
                ),
                replacement: None,
            });
        }
    }
    fixes
}

/// The graph with every fix that has a replacement applied.
pub fn apply_fixes(graph: &Graph, fixes: &[Fix]) -> Graph {
    let mut graph = graph.clone();
    for fix in fixes {
        if let (Some(layer), Some(node)) = (
            &fix.replacement,
            graph.nodes.iter_mut().find(|n| n.name == fix.node),
        ) {
            node.layer = layer.clone();
        }
    }
    graph
}
