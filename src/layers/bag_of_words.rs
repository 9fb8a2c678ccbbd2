//! Bag of words: token ids → how much each word and each pair of neighbouring words says about
//! the text (TF-IDF), the input of a linear text model.

use std::collections::BTreeMap;

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use super::{BuildCx, Forward, ForwardCx, InferCx, Layer, LayerKind, LayerMemory, MemoryCx};
use super::{PaletteEntries, Param, Setting};
use crate::engine::network::NetworkError;
use crate::export::onnx::{Attr, OnnxCx, OnnxError, INT64};
use crate::export::pytorch::{TorchCx, TorchError, TorchLayer};
use crate::model::{shape_label, Activation, DataFit, Fix, GraphError, Shape};

/// Id of the padding after a text's end in a built vocabulary (never counted).
const PAD_ID: usize = 0;
/// Id of words the vocabulary does not know (never counted).
const UNKNOWN_ID: usize = 1;

/// Token ids (a sequence of L whole numbers) → one value per known word and per word-pair slot:
/// L → V + P. A word's value is `(1 + ln count) × idf`, the text's values scaled to length 1, so
/// long and short texts weigh alike; `idf` (rarer words weigh more) is counted on the training
/// texts when a run starts and saved with the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BagOfWords {
    /// Number of different tokens (ids 0 … vocab − 1).
    pub vocab: usize,
    /// Slots that pairs of neighbouring words are spread over (0: words alone). Pairs share a
    /// slot now and then, which costs little once there are more slots than pairs that matter.
    pub pair_slots: usize,
}

impl PaletteEntries for BagOfWords {
    fn palette_entries(_input_shape: &[usize]) -> Vec<Self> {
        vec![Self {
            vocab: 10_000,
            pair_slots: DEFAULT_PAIR_SLOTS,
        }]
    }
}

/// Word-pair slots of a new bag of words.
pub const DEFAULT_PAIR_SLOTS: usize = 1 << 15;

impl BagOfWords {
    fn width(&self) -> usize {
        self.vocab + self.pair_slots
    }
}

impl LayerKind for BagOfWords {
    fn label(&self) -> &'static str {
        "BagOfWords"
    }

    fn onnx(&self, cx: &mut OnnxCx<'_>) -> Result<String, OnnxError> {
        // Token ids come as float32. Every id, and every pair of neighbouring ids, is turned into
        // its slot (a trash slot at the end for padding, unknown words and broken pairs), the
        // slots are counted with ScatterElements(add), and the counts weighed as in `forward`.
        let width = self.width() as i64;
        let x = cx.input()?;
        let ids = cx.node("Cast", &[&x], vec![Attr::Int("to", INT64)]);
        let first_word = cx.constant_i64("first_word_id", &[UNKNOWN_ID as i64 + 1]);
        let vocab = cx.constant_i64("vocab", &[self.vocab as i64]);
        let trash = cx.constant_i64("trash_slot", &[width]);
        let known = cx.node("GreaterOrEqual", &[&ids, &first_word], vec![]);
        let inside = cx.node("Less", &[&ids, &vocab], vec![]);
        let valid = cx.node("And", &[&known, &inside], vec![]);
        let mut slots = cx.node("Where", &[&valid, &ids, &trash], vec![]);
        let (zero, one) = (cx.constant_i64("zero", &[0]), cx.constant_i64("one", &[1]));
        if self.pair_slots > 0 {
            let (last, end) = (
                cx.constant_i64("minus_one", &[-1]),
                cx.constant_i64("end", &[i64::MAX]),
            );
            let left = cx.node("Slice", &[&ids, &zero, &last, &one], vec![]);
            let right = cx.node("Slice", &[&ids, &one, &end, &one], vec![]);
            let left_ok = cx.node("Slice", &[&valid, &zero, &last, &one], vec![]);
            let right_ok = cx.node("Slice", &[&valid, &one, &end, &one], vec![]);
            let both = cx.node("And", &[&left_ok, &right_ok], vec![]);
            let mix = cx.constant_i64("pair_mix", &[7919]);
            let count = cx.constant_i64("pair_slots", &[self.pair_slots as i64]);
            let scaled = cx.node("Mul", &[&left, &mix], vec![]);
            let sum = cx.node("Add", &[&scaled, &right], vec![]);
            let slot = cx.node("Mod", &[&sum, &count], vec![]);
            let pair = cx.node("Add", &[&slot, &vocab], vec![]);
            let pairs = cx.node("Where", &[&both, &pair, &trash], vec![]);
            slots = cx.node("Concat", &[&slots, &pairs], vec![Attr::Int("axis", 1)]);
        }
        // Zeros [N, width + 1] and ones shaped like the slots, N taken from the input.
        let shape = cx.node("Shape", &[&x], vec![]);
        let batch = cx.node("Slice", &[&shape, &zero, &one], vec![]);
        let columns = cx.constant_i64("columns", &[width + 1]);
        let counts_shape = cx.node("Concat", &[&batch, &columns], vec![Attr::Int("axis", 0)]);
        let zero_f = cx.constant("zero_value", &[1], vec![0.0]);
        let one_f = cx.constant("one_value", &[1], vec![1.0]);
        let empty = cx.node("Expand", &[&zero_f, &counts_shape], vec![]);
        let slots_shape = cx.node("Shape", &[&slots], vec![]);
        let ones = cx.node("Expand", &[&one_f, &slots_shape], vec![]);
        let counted = cx.node(
            "ScatterElements",
            &[&empty, &slots, &ones],
            vec![
                Attr::Int("axis", 1),
                Attr::Str("reduction", "add".to_owned()),
            ],
        );
        let keep = cx.constant_i64("width", &[width]);
        let counts = cx.node("Slice", &[&counted, &zero, &keep, &one], vec![]);
        // (1 + ln count) × idf where a slot was counted, 0 elsewhere; the text scaled to length 1.
        let present = cx.node("Greater", &[&counts, &zero_f], vec![]);
        let log = cx.node("Log", &[&counts], vec![]);
        let tf = cx.node("Add", &[&log, &one_f], vec![]);
        let tf = cx.node("Where", &[&present, &tf, &zero_f], vec![]);
        let idf = cx.weight("idf")?;
        let weighed = cx.node("Mul", &[&tf, &idf], vec![]);
        let squares = cx.node("Mul", &[&weighed, &weighed], vec![]);
        let sum = cx.node(
            "ReduceSum",
            &[&squares, &one],
            vec![Attr::Int("keepdims", 1)],
        );
        let length = cx.node("Sqrt", &[&sum], vec![]);
        let tiny = cx.constant("tiny", &[1], vec![1e-30]);
        let length = cx.node("Max", &[&length, &tiny], vec![]);
        Ok(cx.node("Div", &[&weighed, &length], vec![]))
    }

    fn pytorch(&self, cx: &mut TorchCx<'_>) -> Result<TorchLayer, TorchError> {
        // The `BagOfWords` module every exported model.py defines; `idf` is its buffer.
        cx.module_call(
            format!("BagOfWords({}, {})", self.vocab, self.pair_slots),
            Activation::Linear,
        )
    }

    fn help(&self) -> &'static str {
        "Counts which words and pairs of neighbouring words a text uses, rare words weighing more (TF-IDF); word order is otherwise forgotten. Followed by one Dense layer it is the classic, strong model for small sets of texts."
    }

    fn infer(&self, cx: &InferCx<'_>) -> Result<Shape, GraphError> {
        if self.vocab < 2 {
            return Err(cx.fail(format!(
                "BagOfWords '{}' needs a vocabulary of at least 2 tokens.",
                cx.name
            )));
        }
        match cx.first()? {
            (_, s) if s.len() == 1 => Ok(vec![self.width()]),
            (from, s) => Err(cx.fail(format!(
                "BagOfWords '{}' reads a sequence of token ids, but '{from}' gives {}; put it right after the Input of a text project.",
                cx.name,
                shape_label(s)
            ))),
        }
    }

    fn params(&self, _input: &[usize]) -> Vec<Param> {
        // Counted on the training texts when a run starts; 1 (every word alike) until then.
        vec![Param::statistic("idf", vec![self.width()], 1.0)]
    }

    fn param_count(&self, _input: &[usize]) -> usize {
        // The idf is counted on the texts, not learned: no parameters to train.
        0
    }

    fn build(&self, cx: &mut BuildCx<'_>) -> Result<Box<dyn Forward>, NetworkError> {
        let idf = cx
            .create(&self.params(cx.input))?
            .pop()
            .ok_or_else(|| NetworkError::Weights(format!("'{}' made no idf", cx.name)))?;
        Ok(Box::new(BagForward {
            idf,
            vocab: self.vocab,
            pair_slots: self.pair_slots,
        }))
    }

    fn memory(&self, cx: &MemoryCx<'_>) -> LayerMemory {
        // Only the output: nothing before it learns, so no gradient comes back through it.
        LayerMemory {
            floats_per_sample: cx.output.iter().product::<usize>() as u64,
            scratch_floats_per_thread: 0,
            frozen_floats_per_sample: 0,
        }
    }

    fn settings_line(&self) -> String {
        if self.pair_slots == 0 {
            format!("{} words, TF-IDF", self.vocab)
        } else {
            format!(
                "{} words + {} word-pair slots, TF-IDF",
                self.vocab, self.pair_slots
            )
        }
    }

    fn settings(&mut self) -> Vec<Setting<'_>> {
        vec![
            Setting::count(
                "Vocabulary",
                "How many different words it knows; set by the data's vocabulary.",
                &mut self.vocab,
                2..=1_000_000,
            ),
            Setting::count(
                "Word-pair slots",
                "Room for pairs of neighbouring words (\"not good\"); 0 counts single words only.",
                &mut self.pair_slots,
                0..=1 << 20,
            ),
        ]
    }

    fn fit_to_data(&self, name: &str, data: &DataFit, _is_output: bool) -> Option<Fix> {
        super::shared::vocabulary_fix("BagOfWords", name, data, self.vocab, |vocab| {
            Layer::BagOfWords(Self {
                vocab,
                pair_slots: self.pair_slots,
            })
        })
    }
}

struct BagForward {
    idf: Var,
    vocab: usize,
    pair_slots: usize,
}

impl BagForward {
    /// The value slots a text's ids count towards: each known word, and each pair of
    /// neighbouring known words (hashed into the pair slots).
    fn slots(&self, ids: &[f32], mut each: impl FnMut(usize)) {
        let mut previous: Option<usize> = None;
        for &id in ids {
            let id = id.max(0.0) as usize;
            if id == PAD_ID || id == UNKNOWN_ID || id >= self.vocab {
                previous = None;
                continue;
            }
            each(id);
            if let (Some(a), true) = (previous, self.pair_slots > 0) {
                each(self.vocab + pair_slot(a, id, self.pair_slots));
            }
            previous = Some(id);
        }
    }
}

/// The slot of the word pair (a, b): `(a × 7919 + b) mod slots`, the same on every machine and
/// plain whole-number arithmetic, so an exported model can compute it too (7919, a prime, spreads
/// the pairs of one word over the slots).
pub fn pair_slot(a: usize, b: usize, slots: usize) -> usize {
    ((a as u64).wrapping_mul(7919).wrapping_add(b as u64) % slots.max(1) as u64) as usize
}

impl Forward for BagForward {
    fn forward(
        &self,
        inputs: &[&Tensor],
        cx: &mut ForwardCx<'_>,
    ) -> Result<(Tensor, Activation), NetworkError> {
        let x = super::first(inputs)?;
        let rows = x.to_device(&candle_core::Device::Cpu)?.to_vec2::<f32>()?;
        let idf = self.idf.as_tensor().to_vec1::<f32>()?;
        let width = self.vocab + self.pair_slots;
        let mut out = vec![0f32; rows.len() * width];
        // In slot order, so the norm's sum is the same on every run (a hash map's order
        // changes from one process to the next, and with it the last bits of the weights).
        let mut counts: BTreeMap<usize, f32> = BTreeMap::new();
        for (row, values) in rows.iter().zip(out.chunks_exact_mut(width)) {
            counts.clear();
            self.slots(row, |slot| *counts.entry(slot).or_default() += 1.0);
            let mut norm = 0f32;
            for (&slot, &count) in &counts {
                let v = (1.0 + count.ln()) * idf.get(slot).copied().unwrap_or(1.0);
                values[slot] = v;
                norm += v * v;
            }
            if norm > 0.0 {
                let scale = 1.0 / norm.sqrt();
                for &slot in counts.keys() {
                    values[slot] *= scale;
                }
            }
        }
        let bag = Tensor::from_vec(out, (rows.len(), width), x.device())?;
        cx.finish(bag, Activation::Linear)
    }

    fn fits_to_inputs(&self) -> bool {
        true
    }

    fn fit_to_inputs(&self, rows: &mut dyn Iterator<Item = &[f32]>) -> Result<(), NetworkError> {
        // Smoothed as scikit-learn's TfidfVectorizer does: ln((1 + n) / (1 + df)) + 1.
        let width = self.vocab + self.pair_slots;
        let mut df = vec![0u32; width];
        let mut seen: Vec<usize> = Vec::new();
        let mut n = 0usize;
        for row in rows {
            n += 1;
            seen.clear();
            self.slots(row, |slot| seen.push(slot));
            seen.sort_unstable();
            seen.dedup();
            for &slot in &seen {
                df[slot] += 1;
            }
        }
        let idf: Vec<f32> = df
            .iter()
            .map(|&d| ((1.0 + n as f64) / (1.0 + f64::from(d))).ln() as f32 + 1.0)
            .collect();
        let device = self.idf.as_tensor().device().clone();
        self.idf.set(&Tensor::from_vec(idf, width, &device)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::Layer;
    use crate::model::{Graph, Node};
    use candle_core::Device;
    use rand::SeedableRng;

    /// A network of Input (6 ids) → BagOfWords (6 words, `pair_slots`).
    fn bag(pair_slots: usize) -> crate::engine::network::Network {
        let graph = Graph {
            nodes: vec![
                Node::new(
                    "input",
                    Layer::Input(crate::layers::Input { shape: vec![6] }),
                    &[],
                ),
                Node::new(
                    "bag",
                    Layer::BagOfWords(BagOfWords {
                        vocab: 6,
                        pair_slots,
                    }),
                    &["input"],
                ),
            ],
        };
        crate::engine::network::Network::new(
            &graph,
            &Device::Cpu,
            &mut rand::rngs::StdRng::seed_from_u64(0),
        )
        .unwrap()
    }

    fn run(net: &crate::engine::network::Network, rows: Vec<f32>) -> Vec<Vec<f32>> {
        let x = Tensor::from_vec(rows, (2, 6), &Device::Cpu).unwrap();
        net.forward(&x, false, &mut rand::rngs::StdRng::seed_from_u64(0))
            .unwrap()
            .pre_activation
            .to_vec2::<f32>()
            .unwrap()
    }

    #[test]
    fn counts_words_weighs_rare_ones_more_and_scales_each_text_to_length_one() {
        let net = bag(0);
        // Word 2 twice, word 3 once, an unknown word (1), padding (0).
        let texts = vec![2., 2., 3., 1., 0., 0., 4., 0., 0., 0., 0., 0.];
        let plain = run(&net, texts.clone());
        let a = 1.0 + 2f32.ln();
        let len = (a * a + 1.0).sqrt();
        let expected = [0.0, 0.0, a / len, 1.0 / len, 0.0, 0.0];
        for (got, want) in plain[0].iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{:?}", plain[0]);
        }
        assert_eq!(plain[1], [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);

        // Fitted on three texts: word 2 in all three, word 3 in one.
        let train = [
            [2., 3., 0., 0., 0., 0.],
            [2., 0., 0., 0., 0., 0.],
            [2., 0., 0., 0., 0., 0.],
        ];
        let rows: Vec<&[f32]> = train.iter().map(|r| &r[..]).collect();
        net.fit_to_inputs(&rows).unwrap();
        let idf = |df: f32| (4.0 / (1.0 + df)).ln() + 1.0;
        let fitted = run(&net, texts);
        let (w2, w3) = (a * idf(3.0), idf(1.0));
        let len = (w2 * w2 + w3 * w3).sqrt();
        assert!((fitted[0][2] - w2 / len).abs() < 1e-6);
        assert!((fitted[0][3] - w3 / len).abs() < 1e-6);
        // A word never seen in training weighs most.
        let never = idf(0.0);
        assert!(never > idf(1.0));
        assert!((fitted[1][4] - 1.0).abs() < 1e-6);
        // The idf is saved with the weights.
        let idf_var = net.vars().iter().find(|v| v.name == "bag.idf").unwrap();
        assert!(!idf_var.trainable);
        let saved = idf_var.var.as_tensor().to_vec1::<f32>().unwrap();
        assert!((saved[3] - idf(1.0)).abs() < 1e-6 && (saved[5] - never).abs() < 1e-6);
    }

    #[test]
    fn neighbouring_words_fill_their_pair_slot_the_same_way_every_time() {
        let net = bag(16);
        // "2 3" and "3 2": the same words, different pairs; an unknown word breaks a pair.
        let out = run(&net, vec![2., 3., 0., 0., 0., 0., 3., 2., 1., 3., 0., 0.]);
        let slot23 = 6 + pair_slot(2, 3, 16);
        let slot32 = 6 + pair_slot(3, 2, 16);
        assert_ne!(slot23, slot32);
        assert!(out[0][slot23] > 0.0 && out[0][slot32] == 0.0);
        assert!(out[1][slot32] > 0.0 && out[1][slot23] == 0.0);
        // Three values in the first text (two words, one pair), each 1/√3.
        let nonzero: Vec<f32> = out[0].iter().copied().filter(|v| *v != 0.0).collect();
        assert_eq!(nonzero.len(), 3);
        assert!(nonzero.iter().all(|v| (v - 1.0 / 3f32.sqrt()).abs() < 1e-6));
        // The second text: words 3 (twice) and 2, one pair (3 2); "1 3" is no pair.
        let pairs = out[1][6..].iter().filter(|v| **v != 0.0).count();
        assert_eq!(pairs, 1);
        assert_eq!(pair_slot(7, 9, 1 << 15), pair_slot(7, 9, 1 << 15));
    }
}
