//! Generates `sample_data/shapes/`: 32×32 grayscale PNGs of four shape classes (circle, cross,
//! square, triangle) at random positions, sizes, rotations and brightness, with pixel noise; and
//! `sample_data/houses.csv`, a table of made-up house sales (numbers, categories, a few missing
//! values) whose price depends on the other columns plus noise; and `sample_data/messages.csv`,
//! made-up customer messages (praise, complaint, question) written from phrase lists.
//! Deterministic: the same seed always writes the same files.
//!
//! `cargo run --release --example make_sample_data -- [OUT_DIR] [PER_CLASS] [HOUSES_CSV]`

use std::path::PathBuf;

use rand::{Rng, SeedableRng};

const SIZE: u32 = 32;
const CLASSES: [&str; 4] = ["circle", "cross", "square", "triangle"];

fn inside(class: &str, u: f32, v: f32, s: f32) -> bool {
    match class {
        "circle" => u * u + v * v <= s * s,
        "square" => u.abs() <= s * 0.85 && v.abs() <= s * 0.85,
        "cross" => {
            let t = s * 0.33;
            (u.abs() <= s && v.abs() <= t) || (u.abs() <= t && v.abs() <= s)
        }
        _ => {
            // Equilateral triangle with circumradius s, apex up.
            let h = s * 1.5;
            // yy: 0 at the base, h at the apex (image v grows downwards).
            let yy = -v + s * 0.5;
            yy >= 0.0 && yy <= h && u.abs() <= (h - yy) / 3f32.sqrt()
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "sample_data/shapes".to_owned()),
    );
    let per_class: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(150);
    let houses = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "sample_data/houses.csv".to_owned()),
    );
    write_houses(&houses, HOUSES)?;
    let messages = houses.with_file_name("messages.csv");
    write_messages(&messages, MESSAGES_PER_CLASS)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    for class in CLASSES {
        let dir = out.join(class);
        std::fs::create_dir_all(&dir)?;
        for i in 0..per_class {
            let s = rng.random_range(8.0..12.0f32);
            let cx = rng.random_range(s + 1.0..SIZE as f32 - s - 1.0);
            let cy = rng.random_range(s + 1.0..SIZE as f32 - s - 1.0);
            let angle = rng.random_range(-0.35..0.35f32);
            let (sin, cos) = angle.sin_cos();
            let fg = rng.random_range(170.0..255.0f32);
            let bg = rng.random_range(0.0..70.0f32);
            let mut img = image::GrayImage::new(SIZE, SIZE);
            for y in 0..SIZE {
                for x in 0..SIZE {
                    // 4×4 supersampling for smooth edges.
                    let mut cover = 0.0;
                    for sy in 0..4 {
                        for sx in 0..4 {
                            let px = x as f32 + (sx as f32 + 0.5) / 4.0 - cx;
                            let py = y as f32 + (sy as f32 + 0.5) / 4.0 - cy;
                            let u = cos * px + sin * py;
                            let v = -sin * px + cos * py;
                            if inside(class, u, v, s) {
                                cover += 1.0 / 16.0;
                            }
                        }
                    }
                    let noise = rng.random_range(-12.0..12.0f32);
                    let value = bg + (fg - bg) * cover + noise;
                    img.put_pixel(x, y, image::Luma([value.clamp(0.0, 255.0) as u8]));
                }
            }
            img.save(dir.join(format!("{class}_{i:03}.png")))?;
        }
    }
    println!(
        "wrote {} images to {}",
        per_class * CLASSES.len(),
        out.display()
    );
    Ok(())
}

/// Rows of the houses table.
const HOUSES: usize = 400;

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// `area_m2,rooms,age_years,district,garden,price_k`: price in thousands from area, rooms, age,
/// district and garden, plus noise; about 3 % of ages are missing (`NA`).
fn write_houses(path: &std::path::Path, rows: usize) -> Result<(), Box<dyn std::error::Error>> {
    const DISTRICTS: [(&str, f64); 5] = [
        ("centre", 60.0),
        ("north", 20.0),
        ("south", 0.0),
        ("east", -10.0),
        ("west", 10.0),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut out = String::from("area_m2,rooms,age_years,district,garden,price_k\n");
    for _ in 0..rows {
        let area: f64 = rng.random_range(35.0..190.0);
        let rooms = ((area / 30.0).round() as i64 + rng.random_range(-1..=1)).clamp(1, 7);
        let age: f64 = rng.random_range(0.0..80.0f64).round();
        let (district, bonus) = DISTRICTS[rng.random_range(0..DISTRICTS.len())];
        let garden = rng.random_bool(0.4);
        let price = 40.0 + 2.1 * area + 9.0 * rooms as f64 - 0.7 * age
            + bonus
            + if garden { 18.0 } else { 0.0 }
            + 12.0 * normal(&mut rng);
        let age_field = if rng.random_bool(0.03) {
            "NA".to_owned()
        } else {
            format!("{age}")
        };
        out.push_str(&format!(
            "{area:.0},{rooms},{age_field},{district},{},{price:.1}\n",
            if garden { "yes" } else { "no" }
        ));
    }
    std::fs::write(path, out)?;
    println!("wrote {rows} rows to {}", path.display());
    Ok(())
}

/// Messages per class in the messages table.
const MESSAGES_PER_CLASS: usize = 100;

/// `text,label`: short customer messages made from phrase lists, so a model must learn which words
/// (and the question mark) tell the classes apart; products and openings are shared by all.
fn write_messages(
    path: &std::path::Path,
    per_class: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    const PRODUCTS: [&str; 8] = [
        "blender",
        "kettle",
        "lamp",
        "headphones",
        "backpack",
        "chair",
        "printer",
        "jacket",
    ];
    const OPENINGS: [&str; 6] = ["", "Hi, ", "Hello, ", "Well, ", "So, ", "Honestly, "];
    const PRAISE: [&str; 8] = [
        "I love my new {p}, it works perfectly",
        "the {p} is excellent and arrived early",
        "great quality, the {p} exceeded my expectations",
        "thank you, the {p} is wonderful",
        "my {p} is fantastic, I would buy it again",
        "really happy with the {p}, five stars",
        "the {p} looks beautiful and feels solid",
        "superb service and a brilliant {p}",
    ];
    const COMPLAINT: [&str; 8] = [
        "my {p} broke after two days",
        "the {p} arrived damaged and scratched",
        "terrible quality, the {p} stopped working",
        "I am disappointed, the {p} is useless",
        "the {p} is faulty and support never answered",
        "awful experience, I want a refund for the {p}",
        "the {p} smells bad and the strap tore",
        "still waiting, the {p} never arrived",
    ];
    const QUESTION: [&str; 8] = [
        "does the {p} come in another colour?",
        "how long is the warranty on the {p}?",
        "can I return the {p} if it does not fit?",
        "when will the {p} be back in stock?",
        "is the {p} compatible with older models?",
        "what size is the {p}?",
        "do you ship the {p} abroad?",
        "could you tell me how to clean the {p}?",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut rows = Vec::new();
    for (label, phrases) in [
        ("praise", PRAISE),
        ("complaint", COMPLAINT),
        ("question", QUESTION),
    ] {
        for _ in 0..per_class {
            let product = PRODUCTS[rng.random_range(0..PRODUCTS.len())];
            let opening = OPENINGS[rng.random_range(0..OPENINGS.len())];
            let phrase = phrases[rng.random_range(0..phrases.len())].replace("{p}", product);
            let mut text = format!("{opening}{phrase}");
            if let Some(first) = text.get(..1) {
                text = first.to_uppercase() + &text[1..];
            }
            if !text.ends_with('?') {
                text.push('.');
            }
            rows.push((text, label));
        }
    }
    // Shuffled, so the file reads like a real export rather than class by class.
    for i in (1..rows.len()).rev() {
        rows.swap(i, rng.random_range(0..=i));
    }
    let mut out = String::from("text,label\n");
    for (text, label) in &rows {
        out.push_str(&format!("\"{}\",{label}\n", text.replace('"', "\"\"")));
    }
    std::fs::write(path, out)?;
    println!("wrote {} messages to {}", rows.len(), path.display());
    Ok(())
}
