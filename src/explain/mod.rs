//! Why a model said what it said, for every kind of data, with the sanity checks the literature
//! asks of saliency methods (Adebayo et al., 2018: model randomisation; Petsiuk et al., 2018:
//! deletion). Pictures and spectrograms get Grad-CAM, gradient saliency or occlusion heat maps;
//! texts each word's contribution; table rows each column's contribution, and a test set the
//! permutation importance of its columns.

mod gradients;
mod occlusion;
mod render;
mod sanity;

pub use occlusion::{permutation_importance, ColumnImportance, UNKNOWN_WORD};
pub use render::{heat_color, overlay};
pub use sanity::{spearman, Sanity, RANDOMISATION_LIMIT};

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::engine::{probabilities, Network, NetworkError};
use crate::project::{DataKind, LossKind, Task};

/// What a regression's explanation explains.
pub const PREDICTED_VALUE: &str = "the predicted value";

/// Samples scored per forward pass while perturbing inputs.
const SCORE_BATCH: usize = 64;

/// How an explanation was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// HiResCAM (Draelos and Carin, 2020): the last feature map times its gradient, position by
    /// position, summed over channels. Unlike Grad-CAM it does not average the gradient over the
    /// map first, so evidence that depends on where something sits stays where it sits.
    #[value(name = "hirescam")]
    #[serde(rename = "hirescam")]
    HiResCam,
    /// Grad-CAM on the last feature map (a convolution's or a pool's output).
    GradCam,
    /// The gradient of the class score with respect to each pixel.
    Saliency,
    /// Patches covered one at a time with the picture's average.
    Occlusion,
    /// Each word removed in turn.
    Words,
    /// Each column set to its training average in turn.
    Columns,
}

impl Method {
    /// Every method, in menu order.
    pub const ALL: [Self; 6] = [
        Self::HiResCam,
        Self::GradCam,
        Self::Saliency,
        Self::Occlusion,
        Self::Words,
        Self::Columns,
    ];

    /// The method's name for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::HiResCam => "HiResCAM",
            Self::GradCam => "Grad-CAM",
            Self::Saliency => "Gradient saliency",
            Self::Occlusion => "Occlusion",
            Self::Words => "Word occlusion",
            Self::Columns => "Column occlusion",
        }
    }

    /// Whether the method applies to this kind of data.
    pub fn applies_to(self, kind: DataKind) -> bool {
        match self {
            Self::HiResCam | Self::GradCam | Self::Saliency | Self::Occlusion => {
                matches!(kind, DataKind::Image | DataKind::Audio)
            }
            Self::Words => kind == DataKind::Text,
            Self::Columns => kind == DataKind::Tabular,
        }
    }

    /// The method used when none is asked for: HiResCAM for pictures (gradient saliency when the
    /// model has no feature map), occlusion for spectrograms, words and columns.
    pub fn default_for(kind: DataKind, net: &Network) -> Self {
        match kind {
            DataKind::Image if gradients::feature_map(net).is_some() => Self::HiResCam,
            DataKind::Image => Self::Saliency,
            DataKind::Audio => Self::Occlusion,
            DataKind::Text => Self::Words,
            DataKind::Tabular => Self::Columns,
        }
    }
}

/// What an explanation shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Map {
    /// A heat map over the picture or spectrogram, `height × width` values in [0, 1] (1 = most
    /// important), row by row.
    Grid {
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
        /// Importance per pixel.
        values: Vec<f32>,
    },
    /// Each word (token) of the text with its contribution.
    Tokens(Vec<Contribution>),
    /// Each column of the row with its value and contribution.
    Columns(Vec<Contribution>),
}

/// One word's or column's part in the prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// The word, or the column's name.
    pub name: String,
    /// The column's value in this row (empty for words).
    pub value: String,
    /// How much the score fell when it was removed (negative: it rose): a probability for
    /// classes, the target's units for a predicted number.
    pub score: f32,
}

/// Why the model gave its answer for one sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// How it was made.
    pub method: Method,
    /// The class explained (0 for a predicted number).
    pub class: usize,
    /// Its name ("value" for a predicted number).
    pub class_name: String,
    /// The model's probability of that class, or the predicted number.
    pub score: f32,
    /// The explanation itself.
    pub map: Map,
    /// For Grad-CAM, the layer whose feature map was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// The sanity checks' results, when they were run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sanity: Option<Sanity>,
}

impl Explanation {
    /// One line saying which method made it and how to read it.
    pub fn how_to_read(&self) -> String {
        let class = &self.class_name;
        match self.method {
            Method::HiResCam => format!(
                "HiResCAM on '{}': each position of the model's last feature map times its \
                 gradient; warm areas are where it added most to the score for '{class}'.",
                self.layer.as_deref().unwrap_or("the last feature map")
            ),
            Method::GradCam => format!(
                "Grad-CAM on '{}': warm areas are where the model's last feature map pushed the \
                 score for '{class}' up.",
                self.layer.as_deref().unwrap_or("the last feature map")
            ),
            Method::Saliency => format!(
                "Gradient saliency: bright pixels are those whose smallest change moves the score \
                 for '{class}' most."
            ),
            Method::Occlusion => format!(
                "Occlusion: each patch was covered with the average level in turn; warm areas are \
                 where covering it lowered the probability of '{class}' most."
            ),
            Method::Words => format!(
                "Each word was removed in turn: green words raised the probability of '{class}', \
                 red words lowered it; the stronger the colour, the bigger the change."
            ),
            Method::Columns if class == PREDICTED_VALUE => "Each column was set to its \
                 training average in turn: bars to the right raised the predicted value, bars to \
                 the left lowered it (by the amount shown, in the target's units)."
                .to_owned(),
            Method::Columns => format!(
                "Each column was set to its training average in turn: bars to the right pushed \
                 the answer towards '{class}', bars to the left away from it."
            ),
        }
    }

    /// The words or columns, most important first (empty for heat maps).
    pub fn ranked(&self) -> Vec<&Contribution> {
        let mut items: Vec<&Contribution> = match &self.map {
            Map::Tokens(t) | Map::Columns(t) => t.iter().collect(),
            Map::Grid { .. } => Vec::new(),
        };
        items.sort_by(|a, b| b.score.abs().total_cmp(&a.score.abs()));
        items
    }
}

/// Errors explaining a prediction.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The method does not fit the data.
    #[error("{method} explains {what}, not {kind}", method = .0.label(), what = applies_text(*.0), kind = .1.unit())]
    WrongKind(Method, DataKind),
    /// Grad-CAM and HiResCAM need a feature map.
    #[error("Grad-CAM and HiResCAM need a convolution or pooling layer with a 2-D feature map; this model has none (try gradient saliency or occlusion)")]
    NoFeatureMap,
    /// No such sample.
    #[error("there is no sample {0} to explain")]
    NoSample(usize),
    /// The model failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

fn applies_text(method: Method) -> &'static str {
    match method {
        Method::HiResCam | Method::GradCam | Method::Saliency | Method::Occlusion => {
            "pictures and sound clips"
        }
        Method::Words => "texts",
        Method::Columns => "table rows",
    }
}

/// What the explanation is asked of.
pub struct Request<'a> {
    /// The trained network.
    pub network: &'a Network,
    /// Its loss (how outputs become probabilities).
    pub loss: LossKind,
    /// The samples.
    pub dataset: &'a Dataset,
    /// Which sample.
    pub index: usize,
    /// The method (`None`: the kind's default).
    pub method: Option<Method>,
    /// The class to explain (`None`: the predicted one).
    pub class: Option<usize>,
    /// Whether to run the sanity checks (model randomisation and deletion): about three times
    /// the work.
    pub checks: bool,
}

/// Explains the model's answer for one sample.
pub fn explain(req: &Request<'_>) -> Result<Explanation, ExplainError> {
    let dataset = req.dataset;
    if req.index >= dataset.len() {
        return Err(ExplainError::NoSample(req.index));
    }
    let kind = dataset.kind();
    let method = req
        .method
        .unwrap_or_else(|| Method::default_for(kind, req.network));
    if !method.applies_to(kind) {
        return Err(ExplainError::WrongKind(method, kind));
    }
    let input = sample_input(dataset, req.index)?;
    let base = Scorer::new(req.network, req.loss, dataset, req.index, 0)
        .outputs(std::slice::from_ref(&input))?
        .pop()
        .unwrap_or_default();
    let class = match dataset.task() {
        Task::Regress => 0,
        Task::Classify => req
            .class
            .filter(|&c| c < base.len())
            .unwrap_or_else(|| crate::eval::argmax(&base).0),
    };
    let scorer = Scorer::new(req.network, req.loss, dataset, req.index, class);
    // A predicted number is shown in the target's units.
    let offset = match dataset.table() {
        Some(t) if t.schema.task == Task::Regress => t.schema.target_mean as f32,
        _ => 0.0,
    };
    let score = base.get(class).copied().unwrap_or(0.0) * scorer.unit() + offset;
    let made = map_for(method, &scorer, &input)?;
    let sanity = if req.checks {
        Some(sanity::check(method, &scorer, &input, &made)?)
    } else {
        None
    };
    Ok(Explanation {
        method,
        class,
        class_name: match dataset.task() {
            Task::Regress => PREDICTED_VALUE.to_owned(),
            Task::Classify => dataset.classes().get(class).cloned().unwrap_or_default(),
        },
        score,
        map: made.map,
        layer: made.layer,
        sanity,
    })
}

/// A method's result before it becomes an [`Explanation`].
pub(crate) struct Made {
    /// The map.
    pub map: Map,
    /// Grad-CAM's layer.
    pub layer: Option<String>,
    /// Grad-CAM's map at the layer's own resolution.
    pub native: Option<Vec<f32>>,
}

/// The map of `method` for `input` under `scorer`'s model.
fn map_for(method: Method, scorer: &Scorer<'_>, input: &[f32]) -> Result<Made, ExplainError> {
    let plain = |map| Made {
        map,
        layer: None,
        native: None,
    };
    Ok(match method {
        Method::HiResCam | Method::GradCam => {
            let (map, layer, native) =
                gradients::grad_cam(scorer, input, method == Method::HiResCam)?;
            Made {
                map,
                layer: Some(layer),
                native: Some(native),
            }
        }
        Method::Saliency => plain(gradients::saliency(scorer, input)?),
        Method::Occlusion => plain(occlusion::patches(scorer, input)?),
        Method::Words => plain(occlusion::words(scorer, input)?),
        Method::Columns => plain(occlusion::columns(scorer, input)?),
    })
}

/// One sample's model input, flattened.
pub fn sample_input(dataset: &Dataset, index: usize) -> Result<Vec<f32>, ExplainError> {
    let batch = dataset.batch(&[index], None, &Device::Cpu)?;
    Ok(batch.inputs.flatten_all()?.to_vec1::<f32>()?)
}

/// Scores inputs with one model for one class: the class's probability, or the predicted
/// number in the target's units.
pub(crate) struct Scorer<'a> {
    network: &'a Network,
    loss: LossKind,
    dataset: &'a Dataset,
    /// The sample explained.
    index: usize,
    class: usize,
}

impl<'a> Scorer<'a> {
    fn new(
        network: &'a Network,
        loss: LossKind,
        dataset: &'a Dataset,
        index: usize,
        class: usize,
    ) -> Self {
        Self {
            network,
            loss,
            dataset,
            index,
            class,
        }
    }

    /// The same scorer over another network (the randomisation check).
    fn with_network<'b>(&self, network: &'b Network) -> Scorer<'b>
    where
        'a: 'b,
    {
        Scorer {
            network,
            loss: self.loss,
            dataset: self.dataset,
            index: self.index,
            class: self.class,
        }
    }

    /// Per-sample input shape.
    fn shape(&self) -> Vec<usize> {
        self.dataset.shape()
    }

    /// Regression scores are shown in the target's units.
    fn unit(&self) -> f32 {
        match self.dataset.table() {
            Some(t) if t.schema.task == Task::Regress => t.schema.target_std as f32,
            _ => 1.0,
        }
    }

    /// Runs `inputs` through the model in batches (without the frozen parts' caches) and turns
    /// each one's probabilities and logits into a value.
    fn map_rows<T>(
        &self,
        inputs: &[Vec<f32>],
        mut per_row: impl FnMut(&[f32], &[f32]) -> T,
    ) -> Result<Vec<T>, ExplainError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let mut out = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(SCORE_BATCH) {
            let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
            let x = self.tensor(&flat, chunk.len())?;
            let (o, _) = self.network.forward_explaining(&x, &mut rng, None)?;
            let probabilities = probabilities(&o, self.loss)?.to_vec2::<f32>()?;
            let logits = o.pre_activation.to_vec2::<f32>()?;
            out.extend(
                probabilities
                    .iter()
                    .zip(&logits)
                    .map(|(p, l)| per_row(p, l)),
            );
        }
        Ok(out)
    }

    /// All outputs (probabilities, or the standardized number) of each input.
    fn outputs(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, ExplainError> {
        self.map_rows(inputs, |p, _| p.to_vec())
    }

    /// The score of each input: the class's probability, or the number in the target's units
    /// (less its mean).
    fn scores(&self, inputs: &[Vec<f32>]) -> Result<Vec<f32>, ExplainError> {
        let unit = self.unit();
        self.map_rows(inputs, |p, _| {
            p.get(self.class).copied().unwrap_or(0.0) * unit
        })
    }

    /// The margin of each input: the class's logit minus the largest other logit (for a
    /// predicted number, the number). Unlike a probability it does not saturate at 1, so
    /// covering part of a picture the model is sure of still shows.
    fn margins(&self, inputs: &[Vec<f32>]) -> Result<Vec<f32>, ExplainError> {
        if self.dataset.task() == Task::Regress {
            return self.scores(inputs);
        }
        self.map_rows(inputs, |_, logits| {
            let own = logits.get(self.class).copied().unwrap_or(0.0);
            let other = logits
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != self.class)
                .map(|(_, &v)| v)
                .fold(f32::NEG_INFINITY, f32::max);
            if other.is_finite() {
                own - other
            } else {
                own
            }
        })
    }

    /// `n` flat inputs as a batch tensor on the model's device.
    fn tensor(&self, flat: &[f32], n: usize) -> Result<Tensor, ExplainError> {
        let mut shape = vec![n];
        shape.extend(self.shape());
        Ok(Tensor::from_slice(flat, shape, self.network.device())?)
    }
}
