//! The command line of image-generating projects: `strata new P --data DIR --template
//! dcgan|cdcgan`, `strata train P` (both networks in turn, a sample grid per epoch) and `strata
//! generate P --count N --out DIR [--class NAME] [--seed S]`.

use std::io::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};

use super::load_project;
use crate::data::ImportReport;
use crate::engine::gan::{self, GanEvent, Painter};
use crate::engine::{CancelToken, PreparedData};
use crate::project::{DataSettings, GeneratorSettings, Project};

/// A new image-generating project at `path` from `template` (`dcgan` or `cdcgan`).
pub(super) fn new_gan(
    path: &Path,
    data: DataSettings,
    prepared: &PreparedData,
    report: &ImportReport,
    template: &str,
    seed: u64,
) -> Result<()> {
    let dataset = &prepared.dataset;
    if dataset.images().is_none() || dataset.kind() != crate::project::DataKind::Image {
        bail!("'{template}' generates pictures: start from a folder of images (one sub-folder per class, or a single one)");
    }
    let classes = dataset.classes().len();
    let conditional = template == "cdcgan";
    if conditional && classes < 2 {
        bail!("'cdcgan' draws the class asked for, but '{}' has {classes} class; use 'dcgan' or add class folders", data.path.display());
    }
    let shape = dataset.shape();
    let (generator, discriminator) = crate::model::gan_templates(template, &shape, classes, gan::NOISE)
        .ok_or_else(|| {
            anyhow!(
                "the pictures are {}; the GAN templates need a width and height that are multiples of 4 (e.g. --image-size 28x28 or 32x32)",
                crate::model::shape_label(&shape)
            )
        })?;
    let mut project = Project::new(data, discriminator);
    project.generator = Some(GeneratorSettings {
        graph: generator,
        noise: gan::NOISE,
        conditional,
        layout: Default::default(),
    });
    project.training = gan::gan_training(&project.training);
    project.training.seed = seed;
    project.save(path)?;
    out!("{}", report.to_text());
    outln!(
        "Created {} with the '{template}' generator and discriminator ({}). Next: strata train {}",
        path.display(),
        if conditional {
            format!("draws any of {classes} classes on request")
        } else {
            "draws pictures like the folder's".to_owned()
        },
        path.display()
    );
    Ok(())
}

/// `strata train P` for a generating project: both networks in turn, one line per epoch with the
/// losses, D(real)/D(fake), the samples' variety and the grid's file.
pub(super) fn train_gan(
    path: &Path,
    project: &Project,
    data: &PreparedData,
    json: bool,
) -> Result<()> {
    let cancel = CancelToken::new();
    let print = |event: GanEvent| match event {
        GanEvent::Started {
            run_dir,
            samples,
            epochs,
            batches,
        } => {
            if json {
                say(format!(
                    "{}",
                    serde_json::json!({"event": "started", "run_dir": run_dir, "samples": samples, "epochs": epochs, "batches_per_epoch": batches})
                ));
            } else {
                say(format!(
                    "Training the generator and the discriminator on {samples} pictures, {epochs} epochs of {batches} steps; run folder {}",
                    run_dir.display()
                ));
            }
        }
        GanEvent::Batch { .. } => {}
        GanEvent::Epoch(m) => {
            if json {
                say(format!(
                    "{}",
                    serde_json::json!({"event": "epoch", "epoch": m.epoch, "d_loss": m.d_loss, "g_loss": m.g_loss, "d_real": m.d_real, "d_fake": m.d_fake, "variety": m.variety, "elapsed_secs": m.elapsed_secs, "samples": m.grid})
                ));
            } else {
                say(format!(
                    "epoch {:>3}: D loss {:.3}, G loss {:.3}, D(real) {:.2}, D(fake) {:.2}, variety {:.0}%  ({:.0}s)  samples: {}",
                    m.epoch,
                    m.d_loss,
                    m.g_loss,
                    m.d_real,
                    m.d_fake,
                    m.variety * 100.0,
                    m.elapsed_secs,
                    m.grid.display()
                ));
            }
        }
        GanEvent::Warning(line) => {
            if json {
                say(format!(
                    "{}",
                    serde_json::json!({"event": "warning", "message": line})
                ));
            } else {
                eprintln!("warning: {line}");
            }
        }
    };
    let run = gan::train_gan(path, project, data, &print, &cancel).map_err(|e| anyhow!(e))?;
    if !json {
        outln!(
            "Finished. Generate pictures with: strata generate {} --count 16 --out DIR (run {})",
            path.display(),
            run.display()
        );
    }
    Ok(())
}

/// `strata generate P --count N --out DIR [--class NAME] [--seed S]`: PNG files from the project's
/// newest (or chosen) generator run, in one folder per class when it draws classes.
pub(super) fn generate(
    path: &Path,
    count: usize,
    out: &Path,
    class: Option<&str>,
    seed: u64,
) -> Result<()> {
    let project = load_project(path)?;
    if project.generator.is_none() {
        bail!(
            "'{}' does not generate pictures (it was not made with --template dcgan or cdcgan)",
            path.display()
        );
    }
    let run = crate::engine::runs::model_run(path, &project).ok_or_else(|| {
        anyhow!(
            "'{}' has no trained generator yet; run `strata train {}` first",
            path.display(),
            path.display()
        )
    })?;
    let painter = Painter::load(&run).map_err(|e| anyhow!(e))?;
    let class = match class {
        None => None,
        Some(_) if !painter.conditional() => {
            bail!(
                "this generator is not told the class ('dcgan'); --class needs a 'cdcgan' project"
            )
        }
        Some(name) => Some(
            painter
                .classes()
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| {
                    anyhow!(
                        "there is no class '{name}'; the classes are {}",
                        painter.classes().join(", ")
                    )
                })?,
        ),
    };
    if count == 0 {
        bail!("--count needs at least 1");
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("could not create '{}'", out.display()))?;
    // In batches, so thousands of pictures do not need thousands of pictures' memory at once.
    let mut written = 0usize;
    while written < count {
        let n = (count - written).min(256);
        let (pictures, labels) = painter
            .draw(n, class, seed.wrapping_add(written as u64))
            .map_err(|e| anyhow!(e))?;
        for (i, &label) in labels.iter().enumerate() {
            let img = gan::picture_image(&pictures, i)?;
            let dir = if painter.conditional() {
                out.join(&painter.classes()[label])
            } else {
                out.to_owned()
            };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("could not create '{}'", dir.display()))?;
            let file = dir.join(format!("generated_{:05}.png", written + i));
            img.save(&file)
                .with_context(|| format!("could not write '{}'", file.display()))?;
        }
        written += n;
    }
    outln!(
        "Wrote {count} pictures to {}{}",
        out.display(),
        if painter.conditional() {
            " (one folder per class)"
        } else {
            ""
        }
    );
    Ok(())
}

/// Whether `name` is an image-generating template.
pub fn is_gan_template(name: &str) -> bool {
    matches!(name, "dcgan" | "cdcgan")
}

/// A line on standard output; a closed pipe is not an error worth stopping training for.
fn say(line: String) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
