//! Explanations of trained models on data whose answer is known: the heat maps of a picture
//! model mark the bar that decides the class, a text model's strongest word is the word that
//! decides it, a table model's strongest column is the one the label was made from; the sanity
//! checks run and pass on these models; `strata explain` writes the heat maps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{strata, text};
use strata::engine::{self, TrainedModel};
use strata::explain::{Map, Method};
use strata::project::Project;
use strata::workflow::{self, ExplainAsk};

/// Columns of the bright bar in each class's pictures.
const BARS: [std::ops::Range<usize>; 2] = [2..5, 11..14];
const SIZE: usize = 16;

/// 16×16 grey pictures: class `left` has a bright bar at columns 2–4, `right` at 11–13, both
/// over noise.
fn bar_pictures(root: &Path, per_class: usize) {
    let mut state = 7u32;
    let mut noise = || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        ((state >> 16) % 70) as u8
    };
    for (class, bar) in ["left", "right"].iter().zip(BARS) {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::GrayImage::from_fn(SIZE as u32, SIZE as u32, |x, _| {
                let n = noise();
                image::Luma([if bar.contains(&(x as usize)) {
                    180 + n
                } else {
                    n
                }])
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

/// Mean of the map over the class's bar columns and over the other columns.
fn inside_outside(values: &[f32], bar: &std::ops::Range<usize>) -> (f32, f32) {
    let (mut inside, mut outside, mut ni, mut no) = (0.0, 0.0, 0, 0);
    for (p, v) in values.iter().enumerate() {
        if bar.contains(&(p % SIZE)) {
            inside += v;
            ni += 1;
        } else {
            outside += v;
            no += 1;
        }
    }
    (inside / ni as f32, outside / no as f32)
}

fn trained(project_path: &Path) -> (Project, std::path::PathBuf, TrainedModel) {
    let project = Project::load(project_path).unwrap();
    let run = engine::runs::model_run(project_path, &project).unwrap();
    let trained = TrainedModel::load(&run, &candle_core::Device::Cpu).unwrap();
    (project, run, trained)
}

#[test]
fn picture_heat_maps_mark_the_deciding_bar_and_pass_their_checks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bars");
    bar_pictures(&data, 40);
    let project_path = dir.path().join("bars.strata");
    let p = project_path.to_str().unwrap();
    let o = strata(&[
        "new",
        p,
        "--data",
        data.to_str().unwrap(),
        "--template",
        "cnn",
        "--image-size",
        "16x16",
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["train", p, "--epochs", "6"]);
    assert!(o.status.success(), "{}", text(&o));

    let (project, run, trained) = trained(&project_path);
    let (prepared, _) = workflow::prepare(&project.data, None, None).unwrap();
    let dataset = &prepared.dataset;
    let mut checked = 0;
    for &i in prepared.split.test.iter().take(4) {
        for method in [Method::GradCam, Method::Occlusion, Method::Saliency] {
            let ask = ExplainAsk {
                method: Some(method),
                class: None,
                checks: true,
            };
            let e = workflow::explain_sample(Some(&run), &trained, dataset, i, ask).unwrap();
            let label = dataset.labels()[i];
            assert_eq!(e.class, label, "the model should have learnt the bars");
            let Map::Grid {
                height,
                width,
                values,
            } = &e.map
            else {
                panic!("a picture gets a heat map");
            };
            assert_eq!((*height, *width), (SIZE, SIZE));
            assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
            let sanity = e.sanity.as_ref().unwrap();
            let rho = sanity.randomisation_rho.unwrap();
            assert!((-1.0..=1.0).contains(&rho), "{sanity:?}");
            if method != Method::Saliency {
                let (inside, outside) = inside_outside(values, &BARS[label]);
                assert!(
                    inside > 1.5 * outside,
                    "{method:?} on sample {i}: bar {inside:.3} vs elsewhere {outside:.3}"
                );
                assert!(sanity.passes_deletion(), "{method:?}: {sanity:?}");
            }
            if method == Method::GradCam {
                assert_eq!(e.layer.as_deref().map(|l| !l.is_empty()), Some(true));
            }
            // Asked again, the explanation comes from the run's folder, unchanged.
            let again = workflow::explain_sample(Some(&run), &trained, dataset, i, ask).unwrap();
            assert_eq!(
                (again.map, again.method, again.class),
                (e.map.clone(), e.method, e.class)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
    assert!(run.join(workflow::EXPLANATIONS_DIR).is_dir());

    // The command line writes the heat maps as pictures, outside the data folder.
    let out = dir.path().join("why");
    let picture = data.join("left").join("0.png");
    let o = strata(&[
        "explain",
        p,
        picture.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains("left") && said.contains("Grad-CAM"), "{said}");
    assert!(said.contains("randomisation check"), "{said}");
    let heat = image::open(out.join("0.why.png")).unwrap();
    assert_eq!((heat.width(), heat.height()), (16, 16));
    // A method that does not fit the data is refused in words.
    let o = strata(&["explain", p, picture.to_str().unwrap(), "--method", "words"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("explains texts"), "{}", text(&o));
}

#[test]
fn the_deciding_word_and_the_deciding_column_come_first() {
    let dir = tempfile::tempdir().unwrap();
    // Texts: the class is given by one word among fillers.
    let fillers = [
        "the film",
        "this show",
        "our trip",
        "the meal",
        "that book",
        "the song",
    ];
    let mut csv = String::from("text,label\n");
    for i in 0..120 {
        let (word, label) = if i % 2 == 0 {
            (["great", "lovely"][i / 2 % 2], "happy")
        } else {
            (["awful", "boring"][i / 2 % 2], "sad")
        };
        // Fillers independent of the class (an earlier version tied them to it, and the
        // explanation duly showed the model reading the fillers).
        let a = fillers[(i / 2) % fillers.len()];
        let b = fillers[(i / 12) % fillers.len()];
        csv.push_str(&format!("\"{a} was {word} and {b} too\",{label}\n"));
    }
    let texts = dir.path().join("texts.csv");
    std::fs::write(&texts, csv).unwrap();
    let tp = dir.path().join("texts.strata");
    let t = tp.to_str().unwrap();
    let o = strata(&[
        "new",
        t,
        "--data",
        texts.to_str().unwrap(),
        "--kind",
        "text",
        "--template",
        "text-bow",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["train", t, "--epochs", "30"]);
    assert!(o.status.success(), "{}", text(&o));
    let new = dir.path().join("new.csv");
    std::fs::write(&new, "text\n\"this show was lovely and the meal too\"\n").unwrap();
    let o = strata(&["explain", t, new.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    let e = &line["explanation"];
    assert_eq!(e["class_name"], "happy", "{line}");
    let tokens = e["map"]["tokens"].as_array().unwrap();
    let top = tokens
        .iter()
        .max_by(|a, b| {
            a["score"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["score"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(top["name"], "lovely", "{line}");
    assert!(
        e["sanity"]["deletion_auc"].as_f64().unwrap()
            < e["sanity"]["random_deletion_auc"].as_f64().unwrap(),
        "{line}"
    );

    // Tables: the label is made from `signal`; `noise` and `colour` are chance.
    let mut csv = String::from("signal,noise,colour,label\n");
    let mut state = 11u32;
    let mut next = || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        f64::from((state >> 8) % 10_000) / 10_000.0
    };
    for _ in 0..300 {
        let signal = next() * 10.0;
        let noise = next() * 10.0;
        let colour = ["red", "blue", "green"][(next() * 3.0) as usize % 3];
        let label = if signal > 5.0 { "high" } else { "low" };
        csv.push_str(&format!("{signal:.3},{noise:.3},{colour},{label}\n"));
    }
    let table = dir.path().join("table.csv");
    std::fs::write(&table, csv).unwrap();
    let pp = dir.path().join("table.strata");
    let p = pp.to_str().unwrap();
    let o = strata(&[
        "new",
        p,
        "--data",
        table.to_str().unwrap(),
        "--target",
        "label",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["train", p, "--epochs", "30"]);
    assert!(o.status.success(), "{}", text(&o));
    let row = dir.path().join("row.csv");
    std::fs::write(&row, "signal,noise,colour\n9.5,4.0,red\n").unwrap();
    let o = strata(&["explain", p, row.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    let first_column = said
        .lines()
        .find(|l| l.contains(" = "))
        .unwrap_or_default()
        .to_owned();
    assert!(first_column.contains("signal = 9.5"), "{said}");
    assert!(said.contains("high"), "{said}");

    let o = strata(&["explain", p, "--importance", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let ranked: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ranked[0]["name"], "signal", "{ranked}");
    assert!(ranked[0]["importance"].as_f64().unwrap() > 0.2, "{ranked}");
    let noise = ranked
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "noise")
        .unwrap();
    assert!(noise["importance"].as_f64().unwrap() < 0.1, "{ranked}");
}
