//! Draws the Strata icon (three coloured strata on a dark rounded square) and writes every file
//! the packages need: `assets/icons/<N>x<N>.png` (16–1024), `assets/icon.png` (256, compiled into
//! the window), `assets/icon.ico` (Windows) and `assets/icon.icns` (macOS).
//!
//! Run: `cargo run --release --example make_icons` (deterministic; the outputs are committed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;

use image::{imageops::FilterType, Rgba, RgbaImage};

const BACKGROUND: [u8; 3] = [0x1f, 0x3a, 0x5a];
const STRATA: [[u8; 3]; 3] = [[0xf2, 0xb1, 0x3a], [0xe2, 0x6a, 0x3f], [0x3f, 0xa9, 0xa1]];
/// Supersampling per axis for smooth edges.
const SS: u32 = 4;

/// Signed distance of `(x, y)` to a rounded rectangle (negative inside).
fn rounded_rect_distance(x: f32, y: f32, rect: [f32; 4], radius: f32) -> f32 {
    let [x0, y0, x1, y1] = rect;
    let cx = (x0 + x1) / 2.0;
    let cy = (y0 + y1) / 2.0;
    let hx = (x1 - x0) / 2.0 - radius;
    let hy = (y1 - y0) / 2.0 - radius;
    let dx = ((x - cx).abs() - hx).max(0.0);
    let dy = ((y - cy).abs() - hy).max(0.0);
    let outside = (dx * dx + dy * dy).sqrt();
    let inside = ((x - cx).abs() - hx).max((y - cy).abs() - hy).min(0.0);
    outside + inside - radius
}

/// The icon at `size`×`size`, drawn in unit coordinates so every size has the same shape.
fn draw(size: u32) -> RgbaImage {
    let big = size * SS;
    let mut img = RgbaImage::new(big, big);
    let s = big as f32;
    let margin = 0.06 * s;
    let background = [margin, margin, s - margin, s - margin];
    let bars: Vec<[f32; 4]> = (0..3)
        .map(|i| {
            let top = (0.22 + 0.205 * i as f32) * s;
            [0.2 * s, top, 0.8 * s, top + 0.145 * s]
        })
        .collect();
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let mut color = [0u8; 4];
        if rounded_rect_distance(fx, fy, background, 0.2 * s) <= 0.0 {
            color = [BACKGROUND[0], BACKGROUND[1], BACKGROUND[2], 255];
            for (bar, rgb) in bars.iter().zip(STRATA) {
                if rounded_rect_distance(fx, fy, *bar, 0.07 * s) <= 0.0 {
                    color = [rgb[0], rgb[1], rgb[2], 255];
                }
            }
        }
        *px = Rgba(color);
    }
    image::imageops::resize(&img, size, size, FilterType::Triangle)
}

fn png_bytes(img: &RgbaImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// ICO with PNG-compressed entries (Windows Vista and later).
fn ico(entries: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&[0, 0, 1, 0]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    let mut offset = 6 + 16 * entries.len() as u32;
    for (size, png) in entries {
        let side = if *size >= 256 { 0 } else { *size as u8 };
        out.extend_from_slice(&[side, side, 0, 0]);
        out.extend_from_slice(&1u16.to_le_bytes()); // colour planes
        out.extend_from_slice(&32u16.to_le_bytes()); // bits per pixel
        out.extend_from_slice(&(png.len() as u32).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset += png.len() as u32;
    }
    for (_, png) in entries {
        out.extend_from_slice(png);
    }
    out
}

/// ICNS with PNG entries: icp4 (16), icp5 (32), icp6 (64), ic07 (128), ic08 (256), ic09 (512),
/// ic10 (1024).
fn icns(entries: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    let total: usize = 8 + entries.iter().map(|(_, d)| 8 + d.len()).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"icns");
    out.extend_from_slice(&(total as u32).to_be_bytes());
    for (kind, data) in entries {
        out.extend_from_slice(*kind);
        out.extend_from_slice(&((data.len() + 8) as u32).to_be_bytes());
        out.extend_from_slice(data);
    }
    out
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap_or_else(|e| panic!("could not write {}: {e}", path.display()));
    println!("wrote {}", path.display());
}

fn main() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let icons = assets.join("icons");
    std::fs::create_dir_all(&icons).unwrap();
    let sizes = [16u32, 32, 48, 64, 128, 256, 512, 1024];
    let pngs: Vec<(u32, Vec<u8>)> = sizes.iter().map(|&s| (s, png_bytes(&draw(s)))).collect();
    for (size, png) in &pngs {
        write(&icons.join(format!("{size}x{size}.png")), png);
    }
    let by_size = |s: u32| pngs.iter().find(|(n, _)| *n == s).unwrap().1.clone();
    write(&assets.join("icon.png"), &by_size(256));
    let ico_entries: Vec<(u32, Vec<u8>)> = [16, 32, 48, 64, 128, 256]
        .iter()
        .map(|&s| (s, by_size(s)))
        .collect();
    write(&assets.join("icon.ico"), &ico(&ico_entries));
    let icns_entries = [
        (b"icp4", by_size(16)),
        (b"icp5", by_size(32)),
        (b"icp6", by_size(64)),
        (b"ic07", by_size(128)),
        (b"ic08", by_size(256)),
        (b"ic09", by_size(512)),
        (b"ic10", by_size(1024)),
    ];
    write(&assets.join("icon.icns"), &icns(&icns_entries));
}
