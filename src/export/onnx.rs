//! A trained network as an ONNX model (opset 17), written with the ONNX protobuf structs that
//! `tract-onnx` generates from the official `onnx.proto` and encoded by `prost`.
//!
//! Each layer kind writes its own nodes ([`crate::layers::LayerKind::onnx`]) through an
//! [`OnnxCx`]; this module walks the graph, names the values, gathers the weights as
//! initializers and wraps it all in a model with its metadata. Every layer's activation is
//! applied inside the file, so the output is what Strata shows: class probabilities (softmax) or
//! the predicted number.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use prost::Message;
use tract_onnx::pb;

use crate::engine::network::Network;
use crate::model::{Activation, CheckedGraph, Graph};

/// The ONNX operator set the files use.
pub const OPSET: i64 = 17;
/// The IR version that goes with [`OPSET`].
const IR_VERSION: i64 = 8;
/// The model's input: `[N, …the Input layer's shape]`, float32.
pub const INPUT_NAME: &str = "input";
/// The model's output: `[N, classes]` probabilities, or `[N, 1]` predicted numbers.
pub const OUTPUT_NAME: &str = "output";
/// ONNX's code for int64 (`Cast`'s `to`).
pub const INT64: i64 = pb::tensor_proto::DataType::Int64 as i64;
/// ONNX's code for float32.
pub const FLOAT: i64 = pb::tensor_proto::DataType::Float as i64;

/// Why a network could not be written as ONNX.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// A layer kind without an ONNX form (yet).
    #[error("the {kind} layer '{node}' cannot be exported to ONNX yet")]
    Unsupported {
        /// The node's name.
        node: String,
        /// Its kind.
        kind: &'static str,
    },
    /// A tensor the layer needs is not among the network's.
    #[error("the model has no tensor '{0}'")]
    MissingTensor(String),
    /// The graph is not valid.
    #[error("the model is not valid: {0}")]
    Invalid(String),
    /// The second engine could not load or run the file.
    #[error("the ONNX file could not be run by tract: {0}")]
    Engine(String),
    /// The file gives other answers than Strata.
    #[error("the ONNX file does not give the same answers as Strata ({0})")]
    Mismatch(String),
    /// A tensor could not be read.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// Strata's own network failed.
    #[error(transparent)]
    Network(#[from] crate::engine::network::NetworkError),
}

/// An attribute of an ONNX node.
pub enum Attr {
    /// One integer.
    Int(&'static str, i64),
    /// A list of integers.
    Ints(&'static str, Vec<i64>),
    /// One float.
    Float(&'static str, f32),
    /// A string.
    Str(&'static str, String),
}

impl Attr {
    fn proto(self) -> pb::AttributeProto {
        use pb::attribute_proto::AttributeType;
        let mut a = pb::AttributeProto::default();
        match self {
            Self::Int(name, i) => {
                a.name = name.to_owned();
                a.i = i;
                a.r#type = AttributeType::Int as i32;
            }
            Self::Ints(name, ints) => {
                a.name = name.to_owned();
                a.ints = ints;
                a.r#type = AttributeType::Ints as i32;
            }
            Self::Float(name, f) => {
                a.name = name.to_owned();
                a.f = f;
                a.r#type = AttributeType::Float as i32;
            }
            Self::Str(name, s) => {
                a.name = name.to_owned();
                a.s = s.into_bytes();
                a.r#type = AttributeType::String as i32;
            }
        }
        a
    }
}

/// The nodes and initializers written so far.
#[derive(Default)]
struct Written {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    /// Values named so far, to keep every name unique.
    taken: std::collections::HashSet<String>,
}

impl Written {
    /// `base`, or `base_2`, `base_3`… when taken.
    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_owned();
        let mut k = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// What a layer writing its ONNX nodes knows and can do.
pub struct OnnxCx<'a> {
    /// The node's name (with the names of the reused models it sits in, dot-separated).
    pub name: &'a str,
    /// Each input's value name, in order.
    pub inputs: &'a [String],
    /// Each input's shape per sample, in order.
    pub input_shapes: &'a [Vec<usize>],
    /// The node's output shape per sample.
    pub output_shape: &'a [usize],
    tensors: &'a HashMap<String, Tensor>,
    written: &'a mut Written,
}

impl OnnxCx<'_> {
    /// The first input's value name.
    pub fn input(&self) -> Result<String, OnnxError> {
        self.inputs
            .first()
            .cloned()
            .ok_or_else(|| OnnxError::Invalid(format!("'{}' has no input", self.name)))
    }

    /// The first input's shape per sample.
    pub fn input_shape(&self) -> &[usize] {
        self.input_shapes.first().map_or(&[], Vec::as_slice)
    }

    /// The error for a layer kind without an ONNX form.
    pub fn unsupported(&self, kind: &'static str) -> OnnxError {
        OnnxError::Unsupported {
            node: self.name.to_owned(),
            kind,
        }
    }

    /// The layer's tensor `<node>.<what>`: its shape and values.
    pub fn tensor(&self, what: &str) -> Result<(Vec<usize>, Vec<f32>), OnnxError> {
        let name = format!("{}.{what}", self.name);
        let t = self
            .tensors
            .get(&name)
            .ok_or(OnnxError::MissingTensor(name))?;
        Ok((t.dims().to_vec(), t.flatten_all()?.to_vec1::<f32>()?))
    }

    /// Adds the layer's tensor `<node>.<what>` as an initializer and returns its name.
    pub fn weight(&mut self, what: &str) -> Result<String, OnnxError> {
        let (dims, values) = self.tensor(what)?;
        Ok(self.constant(what, &dims, values))
    }

    /// Adds a float32 initializer named after the node and `what`; returns its name.
    pub fn constant(&mut self, what: &str, dims: &[usize], values: Vec<f32>) -> String {
        let name = self.written.unique(&format!("{}.{what}", self.name));
        self.written.initializers.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// Adds an int64 initializer (shapes, indices) named after the node and `what`.
    pub fn constant_i64(&mut self, what: &str, values: &[i64]) -> String {
        let name = self.written.unique(&format!("{}.{what}", self.name));
        self.written.initializers.push(pb::TensorProto {
            name: name.clone(),
            dims: vec![values.len() as i64],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    /// Adds a node with one output and returns the output's name (`<node>/<op>`).
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<Attr>) -> String {
        self.node_with_outputs(op, inputs, attrs, &[""])
            .pop()
            .unwrap_or_default()
    }

    /// Adds a node whose outputs are named by `outputs` (`""` for one left unused) and returns
    /// their value names.
    pub fn node_with_outputs(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<Attr>,
        outputs: &[&str],
    ) -> Vec<String> {
        let node_name = self.written.unique(&format!("{}/{op}", self.name));
        let names: Vec<String> = outputs
            .iter()
            .map(|o| {
                if o.is_empty() && outputs.len() == 1 {
                    node_name.clone()
                } else {
                    self.written.unique(&format!("{node_name}.{o}"))
                }
            })
            .collect();
        self.written.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: names.clone(),
            name: node_name,
            op_type: op.to_owned(),
            attribute: attrs.into_iter().map(Attr::proto).collect(),
            ..Default::default()
        });
        names
    }

    /// A float32 scalar initializer.
    pub fn scalar(&mut self, what: &str, value: f32) -> String {
        self.constant(what, &[], vec![value])
    }

    /// A convolution without bias of `x` with the layer's tensor `weight` (`[O, C/group, k, k]`),
    /// padded `[top, left, bottom, right]`, in `group` groups.
    pub fn conv_no_bias(
        &mut self,
        x: &str,
        weight: &str,
        stride: usize,
        pads: [usize; 4],
        group: usize,
    ) -> Result<String, OnnxError> {
        let (dims, _) = self.tensor(weight)?;
        let k = dims.get(2).copied().unwrap_or(1) as i64;
        let w = self.weight(weight)?;
        Ok(self.node(
            "Conv",
            &[x, &w],
            vec![
                Attr::Ints("kernel_shape", vec![k, k]),
                Attr::Ints("strides", vec![stride as i64; 2]),
                Attr::Ints("pads", pads.iter().map(|&p| p as i64).collect()),
                Attr::Int("group", group as i64),
            ],
        ))
    }

    /// Batch normalization of `x` with the stored statistics `<name>.weight`, `.bias`,
    /// `.running_mean`, `.running_var`.
    pub fn batch_norm(&mut self, x: &str, name: &str, eps: f64) -> Result<String, OnnxError> {
        let [g, b, m, v] = ["weight", "bias", "running_mean", "running_var"]
            .map(|what| self.weight(&format!("{name}.{what}")));
        Ok(self.node(
            "BatchNormalization",
            &[x, &g?, &b?, &m?, &v?],
            vec![Attr::Float("epsilon", eps as f32)],
        ))
    }

    /// min(max(x, 0), 6).
    pub fn relu6(&mut self, x: &str) -> String {
        let lo = self.scalar("zero", 0.0);
        let hi = self.scalar("six", 6.0);
        self.node("Clip", &[x, &lo, &hi], vec![])
    }

    /// `x · wᵀ + b` over the last axis with the layer's tensors `<name>.weight` (`[O, I]`) and
    /// `<name>.bias` (PyTorch's `nn.Linear`).
    pub fn linear(&mut self, x: &str, name: &str) -> Result<String, OnnxError> {
        let (dims, values) = self.tensor(&format!("{name}.weight"))?;
        let (o, i) = match dims[..] {
            [o, i] => (o, i),
            _ => {
                return Err(OnnxError::Invalid(format!(
                    "'{name}.weight' is not a matrix"
                )))
            }
        };
        let transposed: Vec<f32> = (0..i * o).map(|k| values[(k % o) * i + k / o]).collect();
        let w = self.constant(&format!("{name}.weight_t"), &[i, o], transposed);
        let b = self.weight(&format!("{name}.bias"))?;
        let y = self.node("MatMul", &[x, &w], vec![]);
        Ok(self.node("Add", &[&y, &b], vec![]))
    }

    /// `act` applied to the value `x` (the value itself for the identity).
    pub fn activation(&mut self, x: &str, act: Activation) -> String {
        match act {
            Activation::Linear => x.to_owned(),
            Activation::Relu => self.node("Relu", &[x], vec![]),
            Activation::LeakyRelu => self.node(
                "LeakyRelu",
                &[x],
                vec![Attr::Float("alpha", crate::engine::fused::LEAKY_SLOPE)],
            ),
            Activation::Sigmoid => self.node("Sigmoid", &[x], vec![]),
            Activation::Tanh => self.node("Tanh", &[x], vec![]),
            Activation::Softmax => self.node("Softmax", &[x], vec![Attr::Int("axis", -1)]),
            Activation::Gelu => {
                // The tanh form Strata computes: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
                let a = self.constant("gelu_a", &[], vec![crate::engine::fused::GELU_A]);
                let c = self.constant("gelu_c", &[], vec![crate::engine::fused::GELU_C]);
                let half = self.constant("gelu_half", &[], vec![0.5]);
                let one = self.constant("gelu_one", &[], vec![1.0]);
                let x2 = self.node("Mul", &[x, x], vec![]);
                let x3 = self.node("Mul", &[&x2, x], vec![]);
                let ax3 = self.node("Mul", &[&x3, &a], vec![]);
                let inner = self.node("Add", &[x, &ax3], vec![]);
                let scaled = self.node("Mul", &[&inner, &c], vec![]);
                let t = self.node("Tanh", &[&scaled], vec![]);
                let one_t = self.node("Add", &[&t, &one], vec![]);
                let hx = self.node("Mul", &[x, &half], vec![]);
                self.node("Mul", &[&hx, &one_t], vec![])
            }
        }
    }

    /// Writes `graph` (a reused model inside this node) with its input fed by `input`, its
    /// tensors named `<this node>.<its node>.<what>`; returns its output's value name.
    pub fn subgraph(&mut self, graph: &Graph, input: &str) -> Result<String, OnnxError> {
        let checked = graph.validate().map_err(|errors| {
            OnnxError::Invalid(
                errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        write_graph(
            graph,
            &checked,
            input,
            &format!("{}.", self.name),
            self.tensors,
            self.written,
        )
    }
}

/// Writes every node of `graph` in evaluation order, the Input node fed by `input`; returns the
/// output node's value name.
fn write_graph(
    graph: &Graph,
    checked: &CheckedGraph,
    input: &str,
    prefix: &str,
    tensors: &HashMap<String, Tensor>,
    written: &mut Written,
) -> Result<String, OnnxError> {
    let index = graph.index_by_name();
    let mut values: Vec<Option<String>> = vec![None; graph.nodes.len()];
    for &i in &checked.order {
        let node = &graph.nodes[i];
        let (inputs, input_shapes): (Vec<String>, Vec<Vec<usize>>) = if i == checked.input {
            (vec![input.to_owned()], Vec::new())
        } else {
            node.inputs
                .iter()
                .map(|name| {
                    let j = index.get(name.as_str()).copied().ok_or_else(|| {
                        OnnxError::Invalid(format!("'{}' reads a missing '{name}'", node.name))
                    })?;
                    let value = values[j].clone().ok_or_else(|| {
                        OnnxError::Invalid(format!("'{name}' is used before it is computed"))
                    })?;
                    Ok((value, checked.info[j].output_shape.clone()))
                })
                .collect::<Result<Vec<_>, OnnxError>>()?
                .into_iter()
                .unzip()
        };
        let name = format!("{prefix}{}", node.name);
        let mut cx = OnnxCx {
            name: &name,
            inputs: &inputs,
            input_shapes: &input_shapes,
            output_shape: &checked.info[i].output_shape,
            tensors,
            written: &mut *written,
        };
        values[i] = Some(node.layer.kind().onnx(&mut cx)?);
    }
    values
        .get(checked.output)
        .cloned()
        .flatten()
        .ok_or_else(|| OnnxError::Invalid("the model has no output".to_owned()))
}

/// A float32 value of shape `[N, …shape]` for the graph's inputs and outputs.
fn value_info(name: &str, shape: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let batch = Dimension {
        value: Some(Value::DimParam("N".to_owned())),
        ..Default::default()
    };
    let dims = std::iter::once(batch).chain(shape.iter().map(|&d| Dimension {
        value: Some(Value::DimValue(d as i64)),
        ..Default::default()
    }));
    pb::ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims.collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The network as an ONNX file's bytes, with `metadata` as its `metadata_props`.
pub fn to_onnx(network: &Network, metadata: &[(String, String)]) -> Result<Vec<u8>, OnnxError> {
    let tensors: HashMap<String, Tensor> = network
        .vars()
        .iter()
        .map(|v| Ok((v.name.clone(), v.var.as_tensor().to_device(&Device::Cpu)?)))
        .collect::<Result<_, candle_core::Error>>()?;
    let graph = network.graph();
    let checked = network.checked();
    let mut written = Written::default();
    written.taken.insert(INPUT_NAME.to_owned());
    written.taken.insert(OUTPUT_NAME.to_owned());
    let last = write_graph(graph, checked, INPUT_NAME, "", &tensors, &mut written)?;
    written.nodes.push(pb::NodeProto {
        input: vec![last],
        output: vec![OUTPUT_NAME.to_owned()],
        name: OUTPUT_NAME.to_owned(),
        op_type: "Identity".to_owned(),
        ..Default::default()
    });
    let input_shape = &checked.info[checked.input].output_shape;
    let model = pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "Strata".to_owned(),
        producer_version: crate::build_info::VERSION.to_owned(),
        graph: Some(pb::GraphProto {
            node: written.nodes,
            name: "strata".to_owned(),
            initializer: written.initializers,
            input: vec![value_info(INPUT_NAME, input_shape)],
            output: vec![value_info(OUTPUT_NAME, checked.output_shape())],
            ..Default::default()
        }),
        metadata_props: metadata
            .iter()
            .map(|(key, value)| pb::StringStringEntryProto {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

/// The `metadata_props` of an ONNX file: key → value.
pub fn read_metadata(bytes: &[u8]) -> Result<Vec<(String, String)>, prost::DecodeError> {
    let model = pb::ModelProto::decode(bytes)?;
    Ok(model
        .metadata_props
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect())
}

/// The ONNX `pads` for a window of `kernel` at `stride` over `input` positions giving `output`:
/// Strata's "same" padding puts the extra zero at the end (bottom/right); "valid" pads nothing.
pub fn pads(input: usize, output: usize, kernel: usize, stride: usize) -> (i64, i64) {
    let total = ((output.max(1) - 1) * stride + kernel).saturating_sub(input);
    ((total / 2) as i64, (total - total / 2) as i64)
}
