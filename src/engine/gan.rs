//! Generative adversarial networks (DCGAN; conditional when both networks are told the class):
//! the two graphs of an image-generating project trained in turn with the non-saturating binary
//! cross-entropy losses, a grid of pictures from fixed noise after every epoch, the signs of
//! trouble (samples that stop varying, a discriminator that wins outright), and pictures made
//! from a finished run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use super::network::{activate, Network};
use super::ops::binary_cross_entropy_with_logits;
use super::optim::{Optimizer, OptimizerConfig};
use super::runs::{self, RunManifest};
use super::{CancelToken, PreparedData};
use crate::data::Dataset;
use crate::project::{GeneratorSettings, Project};

/// The generator's weights in a run folder.
pub const GENERATOR_FILE: &str = "generator.safetensors";
/// The discriminator's weights in a run folder.
pub const DISCRIMINATOR_FILE: &str = "discriminator.safetensors";
/// The per-epoch numbers of a run.
pub const GAN_METRICS_FILE: &str = "gan_metrics.csv";
/// The folder of the per-epoch sample grids.
pub const SAMPLES_DIR: &str = "samples";
/// Random numbers a new generator starts from.
pub const NOISE: usize = 64;

/// The training settings a new image generator starts with: Adam at 0.0002 (DCGAN's), batches of
/// 32, 15 epochs, binary cross-entropy.
pub fn gan_training(t: &crate::project::TrainingSettings) -> crate::project::TrainingSettings {
    crate::project::TrainingSettings {
        optimizer: crate::project::OptimizerKind::Adam,
        lr: 0.0002,
        batch_size: 32,
        epochs: 15,
        loss: crate::project::LossKind::BinaryCrossEntropy,
        lr_decay: false,
        ..t.clone()
    }
}

/// The two networks of a new image generator for `shape` pictures of `classes` classes: told the
/// class when there are two or more (`cdcgan`), else not (`dcgan`); `None` when the picture size
/// is not a multiple of 4.
pub fn new_networks(
    shape: &[usize],
    classes: usize,
) -> Option<(GeneratorSettings, crate::model::Graph)> {
    let conditional = classes >= 2;
    let name = if conditional { "cdcgan" } else { "dcgan" };
    let (graph, discriminator) = crate::model::gan_templates(name, shape, classes, NOISE)?;
    Some((
        GeneratorSettings {
            graph,
            noise: NOISE,
            conditional,
            layout: Default::default(),
        },
        discriminator,
    ))
}

/// Samples per row of the grid (and rows without classes).
const GRID: usize = 8;
/// Adam's β₁ for both networks.
const GAN_BETA1: f32 = 0.5;
/// The discriminator's target for real pictures (one-sided label smoothing: a little doubt keeps
/// it from becoming over-confident and starving the generator).
const REAL_TARGET: f64 = 0.9;
/// Variety below this share of the real pictures' is called mode collapse.
const COLLAPSE: f64 = 0.3;

/// One epoch of a GAN run.
#[derive(Clone, Debug, PartialEq)]
pub struct GanEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// The discriminator's loss (real as real plus generated as generated), mean over batches.
    pub d_loss: f64,
    /// The generator's loss (generated taken for real), mean over batches.
    pub g_loss: f64,
    /// The discriminator's mean "real" probability for real pictures.
    pub d_real: f64,
    /// Its mean "real" probability for generated pictures.
    pub d_fake: f64,
    /// How much the fixed-noise samples differ from each other, as a share of how much real
    /// pictures do (near 0: every sample looks the same).
    pub variety: f64,
    /// Seconds since the run started.
    pub elapsed_secs: f64,
    /// The grid of pictures from the fixed noise (a PNG in the run folder).
    pub grid: PathBuf,
}

/// What a GAN run reports, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum GanEvent {
    /// The run began.
    Started {
        /// The run folder.
        run_dir: PathBuf,
        /// Real pictures it learns from.
        samples: usize,
        /// Epochs planned.
        epochs: usize,
        /// Steps per epoch.
        batches: usize,
    },
    /// A step finished.
    Batch {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step in the epoch.
        batch: usize,
        /// Steps per epoch.
        batches: usize,
        /// The discriminator's loss of the step.
        d_loss: f64,
        /// The generator's loss of the step.
        g_loss: f64,
    },
    /// An epoch finished, with its grid.
    Epoch(GanEpoch),
    /// Something the user should look at (mode collapse, a discriminator that wins outright).
    Warning(String),
}

/// A GAN project's two networks checked against the data: the generator's input and output, the
/// discriminator's input and single output; what does not fit, in words.
fn check_shapes(
    generator: &GeneratorSettings,
    discriminator: &crate::model::Graph,
    picture: &[usize],
    classes: usize,
) -> Result<(), String> {
    let extra = if generator.conditional { classes } else { 0 };
    let g = generator
        .graph
        .validate()
        .map_err(|e| format!("the generator cannot be trained yet: {}", words(&e)))?;
    let d = discriminator
        .validate()
        .map_err(|e| format!("the discriminator cannot be trained yet: {}", words(&e)))?;
    let g_in = &g.info[g.input].output_shape;
    if g_in != &vec![generator.noise + extra] {
        return Err(format!(
            "the generator's input should be {} values ({} random numbers{}), not {}",
            generator.noise + extra,
            generator.noise,
            if extra > 0 {
                format!(" and {extra} for the class")
            } else {
                String::new()
            },
            crate::model::shape_label(g_in)
        ));
    }
    if g.output_shape() != picture {
        return Err(format!(
            "the generator makes {} pictures but the data's are {}; change its last layers",
            crate::model::shape_label(g.output_shape()),
            crate::model::shape_label(picture)
        ));
    }
    let mut d_in = picture.to_vec();
    d_in[0] += extra;
    if d.info[d.input].output_shape != d_in {
        return Err(format!(
            "the discriminator should read {} (the picture{}), not {}",
            crate::model::shape_label(&d_in),
            if extra > 0 {
                " and one plane per class"
            } else {
                ""
            },
            crate::model::shape_label(&d.info[d.input].output_shape)
        ));
    }
    if d.output_shape() != [1] {
        return Err(format!(
            "the discriminator should give one value (how real the picture looks), not {}",
            crate::model::shape_label(d.output_shape())
        ));
    }
    Ok(())
}

fn words(errors: &[crate::model::GraphError]) -> String {
    errors
        .iter()
        .map(|e| e.message.clone())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `n`×`size` standard normal numbers from `rng`.
fn noise(
    rng: &mut impl rand::Rng,
    n: usize,
    size: usize,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let values: Vec<f32> = (0..n * size)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            z as f32
        })
        .collect();
    Tensor::from_vec(values, (n, size), device)
}

/// The generator's input: the noise, then the one-hot class when conditional.
fn generator_input(
    z: &Tensor,
    labels: Option<&Tensor>,
    classes: usize,
) -> candle_core::Result<Tensor> {
    match labels {
        Some(l) => Tensor::cat(
            &[
                z,
                &candle_nn::encoding::one_hot(l.clone(), classes, 1f32, 0f32)?,
            ],
            1,
        ),
        None => Ok(z.clone()),
    }
}

/// The discriminator's input: the pictures, then one constant plane per class when conditional.
fn discriminator_input(
    pictures: &Tensor,
    labels: Option<&Tensor>,
    classes: usize,
) -> candle_core::Result<Tensor> {
    let Some(l) = labels else {
        return Ok(pictures.clone());
    };
    let (n, _, h, w) = pictures.dims4()?;
    let planes = candle_nn::encoding::one_hot(l.clone(), classes, 1f32, 0f32)?
        .reshape((n, classes, 1, 1))?
        .broadcast_as((n, classes, h, w))?
        .contiguous()?;
    Tensor::cat(&[pictures, &planes], 1)
}

/// The generator's pictures (its output activation applied), in inference or training mode.
fn pictures(
    g: &Network,
    input: &Tensor,
    train: bool,
    rng: &mut impl rand::Rng,
) -> Result<Tensor, String> {
    let out = g.forward(input, train, rng).map_err(|e| e.to_string())?;
    activate(&out.pre_activation, out.activation).map_err(|e| e.to_string())
}

/// Mean distance between the pictures of a `[N, …]` batch, per value.
fn spread(x: &Tensor) -> candle_core::Result<f64> {
    let n = x.dim(0)?;
    let flat = x.flatten_from(1)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let (mut sum, mut pairs) = (0.0f64, 0usize);
    for i in 0..n {
        for j in i + 1..n {
            let d: f64 = flat[i]
                .iter()
                .zip(&flat[j])
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum::<f64>();
            sum += (d / flat[i].len().max(1) as f64).sqrt();
            pairs += 1;
        }
    }
    Ok(sum / pairs.max(1) as f64)
}

/// Pictures `[N, C, H, W]` in [0, 1] as one image: rows of `per_row`, 2-pixel gaps.
pub fn grid_image(x: &Tensor, per_row: usize) -> candle_core::Result<image::DynamicImage> {
    let (n, c, h, w) = x.dims4()?;
    let per_row = per_row.clamp(1, n.max(1));
    let rows = n.div_ceil(per_row);
    let (gw, gh) = (per_row * (w + 2) + 2, rows * (h + 2) + 2);
    let values = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut img = image::RgbImage::from_pixel(gw as u32, gh as u32, image::Rgb([40, 40, 40]));
    for k in 0..n {
        let (ox, oy) = ((k % per_row) * (w + 2) + 2, (k / per_row) * (h + 2) + 2);
        for y in 0..h {
            for x_ in 0..w {
                let at = |ch: usize| values[((k * c + ch.min(c - 1)) * h + y) * w + x_];
                let px = image::Rgb([byte(at(0)), byte(at(1)), byte(at(2))]);
                img.put_pixel((ox + x_) as u32, (oy + y) as u32, px);
            }
        }
    }
    Ok(image::DynamicImage::ImageRgb8(img))
}

/// Trains the generator and discriminator of `project` (a generating project) on all its
/// pictures, saving both networks, the numbers and a sample grid after every epoch into a new run
/// folder; returns it.
pub fn train_gan(
    project_path: &Path,
    project: &Project,
    data: &PreparedData,
    report: &(dyn Fn(GanEvent) + Sync),
    cancel: &CancelToken,
) -> Result<PathBuf, String> {
    super::device::flush_denormals();
    let generator = project
        .generator
        .as_ref()
        .ok_or("this project has no generator")?;
    let dataset = &data.dataset;
    let Dataset::Images(images) = dataset.as_ref() else {
        return Err("generating needs pictures (a folder of images)".to_owned());
    };
    let picture = images.shape();
    let classes = dataset.classes().len().max(1);
    check_shapes(generator, &project.model, &picture, classes)?;
    let settings = &project.training;
    if settings.epochs == 0
        || settings.batch_size == 0
        || settings.lr.is_nan()
        || settings.lr <= 0.0
    {
        return Err(
            "set at least 1 epoch, a batch size of at least 1 and a positive learning rate"
                .to_owned(),
        );
    }
    if settings.privacy.is_some() {
        return Err("differential privacy is not available for image generators yet; untick \"Protect individual examples\" on the Train screen".to_owned());
    }
    if settings.loss != crate::project::LossKind::BinaryCrossEntropy {
        return Err("an image generator trains with the binary cross-entropy (real or generated); choose that loss".to_owned());
    }
    let device = Device::Cpu;
    let mut rng = rand::rngs::StdRng::seed_from_u64(settings.seed);
    let g = Network::new(&generator.graph, &device, &mut rng).map_err(|e| e.to_string())?;
    let d = Network::new(&project.model, &device, &mut rng).map_err(|e| e.to_string())?;
    let config = OptimizerConfig {
        kind: settings.optimizer,
        lr: settings.lr,
        l1: settings.l1,
        l2: settings.l2,
    };
    // Adam with β₁ = 0.5, as DCGAN: each network's gradients keep moving with the other's
    // updates, and a long memory of them overshoots.
    let mut g_opt = Optimizer::for_network(config, &g).with_beta1(GAN_BETA1);
    let mut d_opt = Optimizer::for_network(config, &d).with_beta1(GAN_BETA1);

    let (run_id, run_dir) =
        runs::create_run_dir(&Project::runs_dir(project_path)).map_err(|e| {
            format!(
                "could not create the run folder next to '{}': {e}",
                project_path.display()
            )
        })?;
    let split_sizes = [
        data.split.train.len(),
        data.split.val.len(),
        data.split.test.len(),
    ];
    let mut manifest = RunManifest::new(run_id, dataset, project, "CPU".to_owned(), split_sizes);
    manifest.generator = Some(generator.clone());
    runs::write_manifest(&run_dir, &manifest).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(run_dir.join(SAMPLES_DIR)).map_err(|e| e.to_string())?;

    // Every picture teaches the networks; nothing is held back (there is no test of a GAN).
    let mut all: Vec<usize> = (0..dataset.len()).collect();
    let labelled = generator.conditional;
    // The grid's fixed noise: one row per class (at most 10) when conditional.
    let grid_rows = if labelled { classes.min(10) } else { GRID };
    let mut grid_rng = rand::rngs::StdRng::seed_from_u64(settings.seed ^ 0x5EED_6A11);
    let grid_z = noise(&mut grid_rng, grid_rows * GRID, generator.noise, &device)
        .map_err(|e| e.to_string())?;
    let grid_labels: Vec<u32> = (0..grid_rows * GRID).map(|k| (k / GRID) as u32).collect();
    let grid_labels = Tensor::new(grid_labels.as_slice(), &device).map_err(|e| e.to_string())?;
    let grid_input = generator_input(&grid_z, labelled.then_some(&grid_labels), classes)
        .map_err(|e| e.to_string())?;
    let real_spread = {
        let first: Vec<usize> = (0..dataset.len().min(grid_rows * GRID)).collect();
        let batch = dataset
            .batch(&first, None, &device)
            .map_err(|e| e.to_string())?;
        spread(&batch.inputs).map_err(|e| e.to_string())?.max(1e-9)
    };
    let batch_size = settings.batch_size.min(all.len()).max(1);
    let batches = all.len().div_ceil(batch_size);
    report(GanEvent::Started {
        run_dir: run_dir.clone(),
        samples: all.len(),
        epochs: settings.epochs,
        batches,
    });
    let start = Instant::now();
    let mut metrics = String::from("epoch,d_loss,g_loss,d_real,d_fake,variety,elapsed_secs\n");
    let mut winning = 0usize;
    let fail = |e: candle_core::Error| format!("training failed: {e}");
    for epoch in 1..=settings.epochs {
        let mut epoch_rng =
            rand::rngs::StdRng::seed_from_u64(settings.seed.wrapping_add(epoch as u64 * 7919));
        all.shuffle(&mut epoch_rng);
        let (mut d_sum, mut g_sum, mut real_sum, mut fake_sum, mut seen) =
            (0.0, 0.0, 0.0, 0.0, 0usize);
        for (b, chunk) in all.chunks(batch_size).enumerate() {
            while cancel.is_paused() && !cancel.is_cancelled() {
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
            if cancel.is_cancelled() {
                return Err(format!("stopped: {}", cancel.reason()));
            }
            let batch = dataset.batch(chunk, None, &device).map_err(fail)?;
            let n = chunk.len();
            let labels = labelled.then_some(&batch.labels);
            let z = noise(&mut epoch_rng, n, generator.noise, &device).map_err(fail)?;
            let fake = pictures(
                &g,
                &generator_input(&z, labels, classes).map_err(fail)?,
                true,
                &mut epoch_rng,
            )?;
            let ones = Tensor::ones((n, 1), DType::F32, &device).map_err(fail)?;
            let real_target = (&ones * REAL_TARGET).map_err(fail)?;
            let zeros = Tensor::zeros((n, 1), DType::F32, &device).map_err(fail)?;
            // The discriminator: real pictures as real, generated ones as generated.
            let real_in = discriminator_input(&batch.inputs, labels, classes).map_err(fail)?;
            let fake_in = discriminator_input(&fake.detach(), labels, classes).map_err(fail)?;
            let on_real = d
                .forward(&real_in, true, &mut epoch_rng)
                .map_err(|e| e.to_string())?;
            let on_fake = d
                .forward(&fake_in, true, &mut epoch_rng)
                .map_err(|e| e.to_string())?;
            let d_loss = (binary_cross_entropy_with_logits(&on_real.pre_activation, &real_target)
                .map_err(fail)?
                + binary_cross_entropy_with_logits(&on_fake.pre_activation, &zeros)
                    .map_err(fail)?)
            .map_err(fail)?;
            let d_value = f64::from(d_loss.to_scalar::<f32>().map_err(fail)?);
            // The generator: its pictures taken for real (the non-saturating loss).
            let judged = d
                .forward(
                    &discriminator_input(&fake, labels, classes).map_err(fail)?,
                    true,
                    &mut epoch_rng,
                )
                .map_err(|e| e.to_string())?;
            let g_loss =
                binary_cross_entropy_with_logits(&judged.pre_activation, &ones).map_err(fail)?;
            let g_value = f64::from(g_loss.to_scalar::<f32>().map_err(fail)?);
            if !d_value.is_finite() || !g_value.is_finite() {
                return Err(format!("the losses became NaN in epoch {epoch}: training diverged. Lower the learning rate (now {}) and train again", settings.lr));
            }
            d_opt
                .step(&d_loss.backward().map_err(fail)?)
                .map_err(fail)?;
            g_opt
                .step(&g_loss.backward().map_err(fail)?)
                .map_err(fail)?;
            let mean_sigmoid = |t: &Tensor| -> Result<f64, String> {
                Ok(f64::from(
                    candle_nn::ops::sigmoid(t)
                        .and_then(|s| s.mean_all())
                        .and_then(|m| m.to_scalar::<f32>())
                        .map_err(fail)?,
                ))
            };
            real_sum += mean_sigmoid(&on_real.pre_activation)? * n as f64;
            fake_sum += mean_sigmoid(&on_fake.pre_activation)? * n as f64;
            d_sum += d_value * n as f64;
            g_sum += g_value * n as f64;
            seen += n;
            report(GanEvent::Batch {
                epoch,
                batch: b + 1,
                batches,
                d_loss: d_value,
                g_loss: g_value,
            });
        }
        let grid = pictures(&g, &grid_input, false, &mut epoch_rng)?;
        let variety = spread(&grid).map_err(fail)? / real_spread;
        let grid_path = run_dir
            .join(SAMPLES_DIR)
            .join(format!("epoch_{epoch:03}.png"));
        grid_image(&grid, GRID)
            .map_err(fail)?
            .save(&grid_path)
            .map_err(|e| format!("could not write '{}': {e}", grid_path.display()))?;
        g.save(&run_dir.join(GENERATOR_FILE))
            .map_err(|e| e.to_string())?;
        d.save(&run_dir.join(DISCRIMINATOR_FILE))
            .map_err(|e| e.to_string())?;
        let seen = seen.max(1) as f64;
        let m = GanEpoch {
            epoch,
            d_loss: d_sum / seen,
            g_loss: g_sum / seen,
            d_real: real_sum / seen,
            d_fake: fake_sum / seen,
            variety,
            elapsed_secs: start.elapsed().as_secs_f64(),
            grid: grid_path,
        };
        metrics.push_str(&format!(
            "{},{},{},{},{},{},{:.3}\n",
            m.epoch, m.d_loss, m.g_loss, m.d_real, m.d_fake, m.variety, m.elapsed_secs
        ));
        crate::files::atomic_write(&run_dir.join(GAN_METRICS_FILE), metrics.as_bytes())
            .map_err(|e| e.to_string())?;
        if let Some(line) = coach_line(&m, &mut winning) {
            report(GanEvent::Warning(line));
        }
        report(GanEvent::Epoch(m));
    }
    manifest.finished = true;
    runs::write_manifest(&run_dir, &manifest).map_err(|e| e.to_string())?;
    Ok(run_dir)
}

/// What the numbers of an epoch say, when something is wrong: the samples stopped varying (mode
/// collapse), or the discriminator wins outright for two epochs running (the generator learns
/// nothing from it).
pub fn coach_line(m: &GanEpoch, winning: &mut usize) -> Option<String> {
    if m.d_real > 0.95 && m.d_fake < 0.05 {
        *winning += 1;
    } else {
        *winning = 0;
    }
    if m.variety < COLLAPSE {
        return Some(format!(
            "mode collapse: the generated pictures have stopped varying (they differ {:.0}% as much as real ones do). Train again with another seed or a lower learning rate",
            m.variety * 100.0
        ));
    }
    if *winning >= 2 {
        return Some(format!(
            "the discriminator wins outright (it calls real pictures {:.0}% real and generated ones {:.0}%), so the generator gets no useful signal. Make the discriminator smaller, add Dropout to it, or lower its learning rate",
            m.d_real * 100.0,
            m.d_fake * 100.0
        ));
    }
    None
}

/// The per-epoch numbers of a GAN run.
pub fn read_gan_metrics(run_dir: &Path) -> Vec<GanEpoch> {
    let Ok(text) = std::fs::read_to_string(run_dir.join(GAN_METRICS_FILE)) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let v: Vec<f64> = line.split(',').filter_map(|f| f.parse().ok()).collect();
            let &[epoch, d_loss, g_loss, d_real, d_fake, variety, elapsed_secs] = v.as_slice()
            else {
                return None;
            };
            let epoch = epoch as usize;
            Some(GanEpoch {
                epoch,
                d_loss,
                g_loss,
                d_real,
                d_fake,
                variety,
                elapsed_secs,
                grid: run_dir
                    .join(SAMPLES_DIR)
                    .join(format!("epoch_{epoch:03}.png")),
            })
        })
        .collect()
}

/// A finished GAN run's generator, ready to draw.
pub struct Painter {
    network: Network,
    settings: GeneratorSettings,
    classes: Vec<String>,
}

impl Painter {
    /// Loads the generator of the GAN run at `run_dir`.
    pub fn load(run_dir: &Path) -> Result<Self, String> {
        let manifest = runs::read_manifest(run_dir).map_err(|e| e.to_string())?;
        let settings = manifest
            .generator
            .clone()
            .ok_or_else(|| format!("'{}' is not a run of an image generator", run_dir.display()))?;
        let network = Network::load(&settings.graph, &run_dir.join(GENERATOR_FILE), &Device::Cpu)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            network,
            settings,
            classes: manifest.classes,
        })
    }

    /// The class names (the order of the one-hot input).
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Whether the generator is told which class to draw.
    pub fn conditional(&self) -> bool {
        self.settings.conditional
    }

    /// `count` pictures `[count, C, H, W]` in [0, 1] from seed `seed`; of class `class` when
    /// conditional (`None`: the classes in turn).
    pub fn draw(
        &self,
        count: usize,
        class: Option<usize>,
        seed: u64,
    ) -> Result<(Tensor, Vec<usize>), String> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let z =
            noise(&mut rng, count, self.settings.noise, &Device::Cpu).map_err(|e| e.to_string())?;
        self.draw_from(&z, class)
    }

    /// Pictures from the given noise `[N, noise]`; the classes drawn.
    pub fn draw_from(
        &self,
        z: &Tensor,
        class: Option<usize>,
    ) -> Result<(Tensor, Vec<usize>), String> {
        let count = z.dim(0).map_err(|e| e.to_string())?;
        let k = self.classes.len().max(1);
        let labels: Vec<usize> = (0..count).map(|i| class.unwrap_or(i % k)).collect();
        let input = if self.settings.conditional {
            let ids: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
            let ids = Tensor::new(ids.as_slice(), &Device::Cpu).map_err(|e| e.to_string())?;
            generator_input(z, Some(&ids), k).map_err(|e| e.to_string())?
        } else {
            z.clone()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        Ok((pictures(&self.network, &input, false, &mut rng)?, labels))
    }

    /// `steps` pictures on the straight line between the noise of seeds `a` and `b`.
    pub fn interpolate(
        &self,
        a: u64,
        b: u64,
        steps: usize,
        class: Option<usize>,
    ) -> Result<Tensor, String> {
        let size = self.settings.noise;
        let za = noise(
            &mut rand::rngs::StdRng::seed_from_u64(a),
            1,
            size,
            &Device::Cpu,
        )
        .map_err(|e| e.to_string())?;
        let zb = noise(
            &mut rand::rngs::StdRng::seed_from_u64(b),
            1,
            size,
            &Device::Cpu,
        )
        .map_err(|e| e.to_string())?;
        let steps = steps.max(2);
        let rows = (0..steps)
            .map(|i| {
                let t = i as f64 / (steps - 1) as f64;
                (&za * (1.0 - t))? + (&zb * t)?
            })
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(|e| e.to_string())?;
        let z = Tensor::cat(&rows, 0).map_err(|e| e.to_string())?;
        let class = self.settings.conditional.then(|| class.unwrap_or(0));
        Ok(self.draw_from(&z, class)?.0)
    }
}

/// Picture `i` of `[N, C, H, W]` as an image (grayscale for one channel).
pub fn picture_image(x: &Tensor, i: usize) -> candle_core::Result<image::DynamicImage> {
    let (_, c, h, w) = x.dims4()?;
    let v = x
        .get(i)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let plane = h * w;
    Ok(if c == 1 {
        image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(w as u32, h as u32, |x_, y| {
            image::Luma([byte(v[y as usize * w + x_ as usize])])
        }))
    } else {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w as u32, h as u32, |x_, y| {
            let p = y as usize * w + x_ as usize;
            image::Rgb([byte(v[p]), byte(v[plane + p]), byte(v[2 * plane + p])])
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(d_real: f64, d_fake: f64, variety: f64) -> GanEpoch {
        GanEpoch {
            epoch: 1,
            d_loss: 1.0,
            g_loss: 1.0,
            d_real,
            d_fake,
            variety,
            elapsed_secs: 1.0,
            grid: PathBuf::new(),
        }
    }

    #[test]
    fn the_coach_names_mode_collapse_and_a_winning_discriminator() {
        let mut winning = 0;
        assert_eq!(coach_line(&epoch(0.7, 0.3, 0.8), &mut winning), None);
        let line = coach_line(&epoch(0.7, 0.3, 0.1), &mut winning).unwrap();
        assert!(line.contains("mode collapse"), "{line}");
        assert_eq!(coach_line(&epoch(0.99, 0.01, 0.8), &mut winning), None);
        let line = coach_line(&epoch(0.99, 0.01, 0.8), &mut winning).unwrap();
        assert!(line.contains("wins outright"), "{line}");
        assert_eq!(coach_line(&epoch(0.6, 0.4, 0.8), &mut winning), None);
    }

    #[test]
    fn spread_and_grid() {
        let same = Tensor::ones((4, 1, 3, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(spread(&same).unwrap() < 1e-9);
        let v: Vec<f32> = (0..36).map(|i| (i % 7) as f32 / 7.0).collect();
        let varied = Tensor::from_vec(v, (4, 1, 3, 3), &Device::Cpu).unwrap();
        assert!(spread(&varied).unwrap() > 0.1);
        let img = grid_image(&varied, 2).unwrap();
        // Two per row, 3-pixel pictures with 2-pixel gaps around them.
        assert_eq!((img.width(), img.height()), (2 * 5 + 2, 2 * 5 + 2));
    }
}
