//! A trained network as PyTorch code: `model.py`, one `torch.nn` module per layer of the editor
//! under the layer's own name, so the weights keep Strata's tensor names (`<layer>.<tensor>`)
//! and a `state_dict` saved by the exported `train.py` comes back with `strata import-run`.
//!
//! Each layer kind writes its own line ([`crate::layers::LayerKind::pytorch`]) through a
//! [`TorchCx`]; this module walks the graph and wraps the lines in a module class. The
//! output layer's activation is left out of `forward` (the loss takes the scores before it, as in
//! Strata) and named in `OUTPUT_ACTIVATION`.

use rand::SeedableRng;

use crate::engine::network::Network;
use crate::model::Activation;

/// Why a network could not be written as PyTorch code.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    /// A layer kind without a PyTorch form (yet).
    #[error("the {kind} layer '{node}' cannot be exported as PyTorch code yet (ONNX export can)")]
    Unsupported {
        /// The node's name.
        node: String,
        /// Its kind.
        kind: &'static str,
    },
    /// A layer name PyTorch cannot use as a module name.
    #[error("the layer name '{0}' cannot be a PyTorch module name (it contains a dot); rename it in the editor")]
    Name(String),
    /// The graph is not valid.
    #[error("the model is not valid: {0}")]
    Invalid(String),
}

/// One layer as PyTorch code.
pub struct TorchLayer {
    /// The module `__init__` makes (`nn.Linear(784, 128)`), for layers with weights or state.
    pub module: Option<String>,
    /// The expression `forward` computes from the input variables.
    pub forward: String,
}

/// What a layer kind sees while writing its PyTorch line.
pub struct TorchCx<'a> {
    /// The node's name (also the module's name and its tensors' prefix).
    pub name: &'a str,
    /// How `forward` reaches the module: `self.dense_1`, or `self.get_submodule("my layer")`.
    pub module: String,
    /// Each input's variable in `forward`, in order.
    pub inputs: &'a [String],
    /// Each input's shape per sample, in order.
    pub input_shapes: &'a [Vec<usize>],
    /// The node's output shape per sample.
    pub output_shape: &'a [usize],
    /// Whether this is the model's output (its activation is left to the loss).
    is_output: bool,
    /// The output's activation, once the output layer named it.
    left: Option<Activation>,
}

impl TorchCx<'_> {
    /// The first input's variable.
    pub fn input(&self) -> Result<&str, TorchError> {
        self.inputs
            .first()
            .map(String::as_str)
            .ok_or_else(|| TorchError::Invalid(format!("'{}' has no input", self.name)))
    }

    /// The first input's shape per sample.
    pub fn input_shape(&self) -> &[usize] {
        self.input_shapes.first().map_or(&[], Vec::as_slice)
    }

    /// The error for a layer kind without a PyTorch form.
    pub fn unsupported(&self, kind: &'static str) -> TorchError {
        TorchError::Unsupported {
            node: self.name.to_owned(),
            kind,
        }
    }

    /// A layer that is a module applied to its first input (and an activation after it).
    pub fn module_call(
        &mut self,
        module: String,
        activation: Activation,
    ) -> Result<TorchLayer, TorchError> {
        let call = format!("{}({})", self.module, self.input()?);
        Ok(TorchLayer {
            module: Some(module),
            forward: self.activation(&call, activation),
        })
    }

    /// A layer without a module: `forward` only.
    pub fn function(forward: String) -> Result<TorchLayer, TorchError> {
        Ok(TorchLayer {
            module: None,
            forward,
        })
    }

    /// `expr` with `act` applied; on the output layer the activation is kept for
    /// `OUTPUT_ACTIVATION` instead (the loss takes the scores before it).
    pub fn activation(&mut self, expr: &str, act: Activation) -> String {
        if self.is_output {
            self.left = Some(act);
            return expr.to_owned();
        }
        activate(expr, act)
    }
}

/// `expr` with `act` applied, as PyTorch code (GELU in the tanh form Strata computes).
pub fn activate(expr: &str, act: Activation) -> String {
    match act {
        Activation::Linear => expr.to_owned(),
        Activation::Relu => format!("torch.relu({expr})"),
        Activation::LeakyRelu => format!(
            "F.leaky_relu({expr}, {})",
            python_float(crate::engine::fused::LEAKY_SLOPE)
        ),
        Activation::Sigmoid => format!("torch.sigmoid({expr})"),
        Activation::Tanh => format!("torch.tanh({expr})"),
        Activation::Softmax => format!("torch.softmax({expr}, dim=-1)"),
        Activation::Gelu => format!("F.gelu({expr}, approximate=\"tanh\")"),
    }
}

/// The name `OUTPUT_ACTIVATION` gives an activation in `model.py`.
fn activation_name(act: Activation) -> &'static str {
    match act {
        Activation::Linear => "linear",
        Activation::Relu => "relu",
        Activation::LeakyRelu => "leaky_relu",
        Activation::Sigmoid => "sigmoid",
        Activation::Tanh => "tanh",
        Activation::Softmax => "softmax",
        Activation::Gelu => "gelu",
    }
}

/// A float as Python writes it (always with a decimal point or exponent).
pub fn python_float(v: f32) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// A string as a Python literal.
pub fn python_str(s: &str) -> String {
    // JSON's escapes are valid Python string escapes.
    serde_json::Value::String(s.to_owned()).to_string()
}

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "match", "case",
];

/// Names `nn.Module` (or the code around `forward`) uses itself, which a layer must not take.
const TAKEN: &[&str] = &[
    "self",
    "x",
    "torch",
    "nn",
    "F",
    "forward",
    "training",
    "eval",
    "train",
    "state_dict",
    "parameters",
    "buffers",
    "modules",
    "children",
    "to",
    "cuda",
    "cpu",
    "float",
    "double",
    "half",
    "apply",
    "zero_grad",
    "add_module",
    "register_buffer",
    "register_parameter",
    "get_submodule",
    "load_state_dict",
    "named_parameters",
    "named_modules",
    "type",
    "requires_grad_",
    "extra_repr",
    "dump_patches",
    "call_super_init",
];

/// Whether `name` can be a Python attribute and variable as it is.
fn plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name)
        && !TAKEN.contains(&name)
        && !name.starts_with('_')
}

/// A variable name for node `name` in `forward`, unique among `taken`.
fn variable(name: &str, taken: &mut std::collections::HashSet<String>) -> String {
    let mut base: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !plain_identifier(&base) {
        base = format!("v_{base}");
    }
    let mut v = base.clone();
    let mut k = 2;
    while !taken.insert(v.clone()) {
        v = format!("{base}_{k}");
        k += 1;
    }
    v
}

/// `model.py`: the network's graph as a `torch.nn.Module`, one line per layer, with the shapes
/// in comments, the names of the tensors L1/L2 act on, and the output's activation.
pub fn model_py(network: &Network, title: &str, run_id: &str) -> Result<String, TorchError> {
    let graph = network.graph();
    let checked = network.checked();
    let index = graph.index_by_name();
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut values: Vec<Option<String>> = vec![None; graph.nodes.len()];
    let (mut init, mut forward) = (Vec::new(), Vec::new());
    let mut output_activation = Activation::Linear;
    for &i in &checked.order {
        let node = &graph.nodes[i];
        if node.name.contains('.') || node.name.is_empty() {
            return Err(TorchError::Name(node.name.clone()));
        }
        let (inputs, input_shapes): (Vec<String>, Vec<Vec<usize>>) = if i == checked.input {
            (
                vec!["x".to_owned()],
                vec![checked.info[i].output_shape.clone()],
            )
        } else {
            node.inputs
                .iter()
                .map(|name| {
                    let j = index.get(name.as_str()).copied().ok_or_else(|| {
                        TorchError::Invalid(format!("'{}' reads a missing '{name}'", node.name))
                    })?;
                    let value = values[j].clone().ok_or_else(|| {
                        TorchError::Invalid(format!("'{name}' is used before it is computed"))
                    })?;
                    Ok((value, checked.info[j].output_shape.clone()))
                })
                .collect::<Result<Vec<_>, TorchError>>()?
                .into_iter()
                .unzip()
        };
        let module = if plain_identifier(&node.name) {
            format!("self.{}", node.name)
        } else {
            format!("self.get_submodule({})", python_str(&node.name))
        };
        let mut cx = TorchCx {
            name: &node.name,
            module,
            inputs: &inputs,
            input_shapes: &input_shapes,
            output_shape: &checked.info[i].output_shape,
            is_output: i == checked.output,
            left: None,
        };
        let layer = node.layer.kind().pytorch(&mut cx)?;
        if let Some(act) = cx.left {
            output_activation = act;
        }
        let kind = node.layer.kind();
        let settings = kind.settings_line();
        let about = if settings.is_empty() {
            kind.label().to_owned()
        } else {
            format!("{}: {settings}", kind.label())
        };
        if let Some(m) = layer.module {
            if plain_identifier(&node.name) {
                init.push(format!("        self.{} = {m}  # {about}", node.name));
            } else {
                init.push(format!(
                    "        self.add_module({}, {m})  # {about}",
                    python_str(&node.name)
                ));
            }
        }
        let var = variable(&node.name, &mut taken);
        forward.push(format!(
            "        {var} = {}  # {}",
            layer.forward,
            crate::model::shape_label(&checked.info[i].output_shape)
        ));
        values[i] = Some(var);
    }
    let out = values
        .get(checked.output)
        .cloned()
        .flatten()
        .ok_or_else(|| TorchError::Invalid("the model has no output".to_owned()))?;
    let penalized: Vec<String> = network
        .vars()
        .iter()
        .filter(|v| v.penalized)
        .map(|v| format!("    {},", python_str(&v.name)))
        .collect();
    let input_shape = &checked.info[checked.input].output_shape;
    if init.is_empty() {
        init.push("        pass".to_owned());
    }
    Ok(format!(
        r#""""{title} as PyTorch modules: one line per layer of Strata's layer editor, under the same
names, so the weights keep Strata's tensor names.

Written by Strata {version} from run {run_id}. Use with:

    model = Model()
    load_weights(model, "weights.safetensors")
    probabilities = predict(model, inputs)  # inputs: [N, {shape}] float32
"""

import re

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

# One sample's shape, without the batch axis.
INPUT_SHAPE = ({shape_tuple})
# The output layer's activation, left out of forward(): the loss takes the scores before it.
OUTPUT_ACTIVATION = {output_activation}
# The tensors the L1/L2 penalties act on (weights, not biases), as Strata penalises them.
PENALIZED = [
{penalized}
]


class Model(nn.Module):
    def __init__(self):
        super().__init__()
{init}

    def forward(self, x):
        """Scores before the output activation, [N, outputs]."""
{forward}
        return {out}


def activate(scores):
    """The output activation: class probabilities (softmax) or the predicted number."""
    return {activate_scores}


def predict(model, inputs):
    """What Strata shows for `inputs`: probabilities per class, or predicted numbers."""
    model.eval()
    with torch.no_grad():
        return activate(model(inputs))


class BagOfWords(nn.Module):
    """Token ids -> the TF-IDF of the words and of pairs of neighbouring words, as Strata's
    BagOfWords: ids 0 (padding), 1 (unknown) and ids past the vocabulary are not counted; the
    pair (a, b) goes to slot vocab + (a * 7919 + b) % pair_slots; each value is
    (1 + ln count) * idf and each text is scaled to length 1. Strata counts `idf` on the training
    texts; it comes with the weights."""

    def __init__(self, vocab, pair_slots):
        super().__init__()
        self.vocab, self.pair_slots = vocab, pair_slots
        self.register_buffer("idf", torch.ones(vocab + pair_slots))

    def forward(self, x):
        ids = x.long()
        width = self.vocab + self.pair_slots
        valid = (ids >= 2) & (ids < self.vocab)
        slots = torch.where(valid, ids, torch.full_like(ids, width))
        if self.pair_slots > 0:
            pairs = self.vocab + (ids[:, :-1] * 7919 + ids[:, 1:]) % self.pair_slots
            both = valid[:, :-1] & valid[:, 1:]
            slots = torch.cat([slots, torch.where(both, pairs, torch.full_like(pairs, width))], 1)
        counts = torch.zeros(x.shape[0], width + 1, device=x.device)
        counts = counts.scatter_add(1, slots, torch.ones_like(slots, dtype=counts.dtype))[:, :width]
        tf = torch.where(counts > 0, 1 + torch.log(counts.clamp(min=1)), torch.zeros_like(counts))
        values = tf * self.idf
        return values / values.norm(dim=1, keepdim=True).clamp(min=1e-30)


def last_state(result):
    """The state after the last step of an LSTM/GRU, both directions side by side: [N, D·H]."""
    h = result[1]
    if isinstance(h, tuple):  # LSTM: (h, c)
        h = h[0]
    return h.transpose(0, 1).flatten(1)


def strata_name(key):
    """PyTorch's name of an LSTM/GRU tensor (`weight_ih_l0`) as Strata's (`weight_ih`)."""
    return re.sub(r"_l0(_reverse)?$", r"\1", key)


def strata_state_dict(model):
    """The model's tensors under Strata's names (what `strata import-run` reads)."""
    return {{
        strata_name(k): v.detach().to("cpu").contiguous()
        for k, v in model.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }}


def load_weights(model, path):
    """Reads a weights file with Strata's names into `model`; every tensor must be there."""
    by_strata = {{strata_name(k): k for k in model.state_dict()}}
    tensors = load_file(path)
    state = {{}}
    for name, tensor in tensors.items():
        if name not in by_strata:
            raise KeyError(f"{{path}} has a tensor '{{name}}' the model does not have")
        state[by_strata[name]] = tensor
    missing = [
        k for k in model.state_dict()
        if k not in state and not k.endswith("num_batches_tracked")
    ]
    if missing:
        raise KeyError(f"{{path}} lacks the model's tensors {{missing}}")
    model.load_state_dict(state, strict=False)


def save_weights(model, path):
    """Writes the model's tensors under Strata's names (safetensors)."""
    save_file(strata_state_dict(model), path)
"#,
        version = crate::build_info::VERSION,
        shape = input_shape
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        shape_tuple = input_shape
            .iter()
            .map(|d| format!("{d},"))
            .collect::<Vec<_>>()
            .join(" "),
        output_activation = python_str(activation_name(output_activation)),
        penalized = penalized.join("\n"),
        init = init.join("\n"),
        forward = forward.join("\n"),
        activate_scores = activate("scores", output_activation),
    ))
}

/// Writes Strata's tensors of `network` as a safetensors file (the names `model.py` loads).
pub fn save_weights(network: &Network, path: &std::path::Path) -> candle_core::Result<()> {
    let tensors: std::collections::HashMap<String, candle_core::Tensor> = network
        .vars()
        .iter()
        .map(|v| {
            Ok((
                v.name.clone(),
                v.var.as_tensor().to_device(&candle_core::Device::Cpu)?,
            ))
        })
        .collect::<candle_core::Result<_>>()?;
    candle_core::safetensors::save(&tensors, path)
}

/// Writes `inputs` (as Strata feeds them), the network's answers for them (its output
/// activation applied) and, in the metadata, each sample's key: what `predict.py --check`
/// compares the exported model against.
pub fn save_check(
    network: &Network,
    inputs: &candle_core::Tensor,
    keys: &[String],
    path: &std::path::Path,
) -> Result<(), crate::engine::network::NetworkError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let out = network.forward(inputs, false, &mut rng)?;
    let answers = crate::engine::network::activate(&out.pre_activation, out.activation)?;
    let inputs = inputs.to_device(&candle_core::Device::Cpu)?;
    let answers = answers.to_device(&candle_core::Device::Cpu)?;
    let metadata = std::collections::HashMap::from([("keys".to_owned(), keys.join("\n"))]);
    safetensors::tensor::serialize_to_file(
        [("inputs", &inputs), ("outputs", &answers)],
        Some(metadata),
        path,
    )
    .map_err(|e| {
        crate::engine::network::NetworkError::Weights(format!(
            "could not write '{}': {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_identifiers() {
        let mut taken = std::collections::HashSet::new();
        assert_eq!(variable("dense_1", &mut taken), "dense_1");
        assert_eq!(variable("dense_1", &mut taken), "dense_1_2");
        assert_eq!(variable("my layer", &mut taken), "my_layer");
        assert_eq!(variable("class", &mut taken), "v_class");
        assert_eq!(variable("2nd", &mut taken), "v_2nd");
        assert!(!plain_identifier("training"));
        assert!(plain_identifier("conv2d_1"));
        assert_eq!(python_float(0.01), "0.01");
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(python_str("a \"b\""), "\"a \\\"b\\\"\"");
    }
}
