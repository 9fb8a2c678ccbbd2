//! Embedding: token ids → learned vectors (the first layer of a text model).

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use super::{
    BuildCx, Forward, ForwardCx, InferCx, Init, Layer, LayerKind, PaletteEntries, Param, Setting,
};
use crate::engine::network::NetworkError;
use crate::export::onnx::{Attr, OnnxCx, OnnxError, INT64};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{shape_label, Activation, DataFit, Fix, GraphError, Shape};

/// Turns token ids (a sequence of L whole numbers) into learned vectors: L → D×L.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// Number of different tokens (ids 0 … vocab − 1).
    pub vocab: usize,
    /// Length of each token's vector.
    pub dim: usize,
}

impl PaletteEntries for Embedding {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            vocab: 10_000,
            dim: 64,
        }]
    }
}

impl LayerKind for Embedding {
    fn label(&self) -> &'static str {
        "Embedding"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        // Token ids come as float32, as Strata feeds them; ids beyond the vocabulary read the
        // last row.
        let x = cx.input()?;
        let lo = cx.constant("first_id", &[], vec![0.0]);
        let hi = cx.constant("last_id", &[], vec![self.vocab.saturating_sub(1) as f32]);
        let clipped = cx.node("Clip", &[&x, &lo, &hi], vec![]);
        let ids = cx.node("Cast", &[&clipped], vec![Attr::Int("to", INT64)]);
        let table = cx.weight("weight")?;
        let vectors = cx.node("Gather", &[&table, &ids], vec![Attr::Int("axis", 0)]);
        // [N, L, D] → channels first, [N, D, L].
        Ok(cx.node(
            "Transpose",
            &[&vectors],
            vec![Attr::Ints("perm", vec![0, 2, 1])],
        ))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        // Token ids come as floats, as Strata feeds them; ids beyond the vocabulary read the
        // last row. [N, L, D] → channels first, [N, D, L].
        let call = format!(
            "{}({}.long().clamp(0, {})).transpose(1, 2)",
            cx.module,
            cx.input()?,
            self.vocab.saturating_sub(1)
        );
        Ok(TorchLayer {
            module: Some(format!("nn.Embedding({}, {})", self.vocab, self.dim)),
            forward: call,
        })
    }

    fn help(&self) -> &'static str {
        "Gives every word (or character) a learned list of numbers, so words used alike end up with similar numbers. The first layer of a text model."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        if self.vocab == 0 || self.dim == 0 {
            return Err(cx.fail(format!(
                "Embedding '{}' needs a vocabulary and a vector length of at least 1.",
                cx.name
            )));
        }
        match cx.first()? {
            (_, s) if s.len() == 1 => Ok(vec![self.dim, s[0]]),
            (from, s) => Err(cx.fail(format!(
                "Embedding '{}' reads a sequence of token ids, but '{from}' gives {}; put it right after the Input of a text project.",
                cx.name,
                shape_label(s)
            ))),
        }
    }

    fn params(&self, _input: &[usize]) -> Vec<Param> {
        // Small uniform vectors, as Keras starts them.
        vec![Param::weight(
            "weight",
            vec![self.vocab, self.dim],
            Init::Uniform(0.05),
        )]
    }

    fn has_weights(&self) -> bool {
        true
    }

    fn build(&self, cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let [weight] = cx.create_tensors(&self.params(cx.input))?;
        Ok(Box::new(EmbeddingForward {
            weight,
            vocab: self.vocab,
            dim: self.dim,
        }))
    }

    fn settings_line(&self) -> String {
        format!("{} tokens, {} numbers each", self.vocab, self.dim)
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![
            Setting::count("Vocabulary", "How many different tokens (words or characters) it knows; set by the data's vocabulary.", &mut self.vocab, 2..=1_000_000),
            Setting::count("Vector length", "How many learned numbers describe each token.", &mut self.dim, 1..=1024),
        ]
    }

    fn fit_to_data(&self, name: &str, data: &DataFit, _is_output: bool) -> Option<Fix> {
        super::shared::vocabulary_fix("Embedding", name, data, self.vocab, |vocab| {
            Layer::Embedding(Self {
                vocab,
                dim: self.dim,
            })
        })
    }
}

struct EmbeddingForward {
    weight: Tensor,
    vocab: usize,
    dim: usize,
}

impl Forward for EmbeddingForward {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        // Ids beyond the vocabulary read the last row rather than failing.
        let ids = super::first(inputs)?
            .clamp(0f32, self.vocab.saturating_sub(1) as f32)?
            .to_dtype(DType::U32)?;
        let (b, l) = ids.dims2()?;
        let vectors = self
            .weight
            .index_select(&ids.flatten_all()?.contiguous()?, 0)?
            .reshape((b, l, self.dim))?
            .transpose(1, 2)?
            .contiguous()?;
        cx.finish(vectors, Activation::Linear)
    }
}
