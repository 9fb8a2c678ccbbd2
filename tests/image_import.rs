//! The image-folder importer on good, unusual and broken files: every usable file imported, every
//! unusable one reported with its reason, junk ignored, nothing panics, nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use image::{ImageBuffer, Luma, Rgb, Rgba};
use strata::data::{decode_image_file, import_image_folder, ImportOptions};

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header claims 100,000 × 100,000 pixels (a decompression bomb).
fn bomb_png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    png.extend_from_slice(&[0, 0, 0, 0]);
    png.extend_from_slice(b"IEND");
    png.extend_from_slice(&crc32(b"IEND").to_be_bytes());
    png
}

/// Inserts an EXIF APP1 segment with the given orientation right after a JPEG's SOI marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn gradient_rgb(w: u32, h: u32) -> ImageBuffer<Rgb<u8>, Vec<u8>> {
    ImageBuffer::from_fn(w, h, |x, y| Rgb([(x * 8) as u8, (y * 8) as u8, 128]))
}

/// Files of the fixture folder and what the importer must do with them.
fn build_fixture(root: &Path, outside: &Path) {
    let a = root.join("apples");
    let b = root.join("bananas");
    fs::create_dir_all(a.join("nested/deeper")).unwrap();
    fs::create_dir_all(&b).unwrap();
    fs::create_dir_all(root.join("cherries")).unwrap(); // empty class
    fs::create_dir_all(root.join("dates")).unwrap(); // only broken files

    // Good and unusual images.
    gradient_rgb(20, 10).save(a.join("rgb.png")).unwrap();
    ImageBuffer::<Luma<u16>, _>::from_fn(9, 9, |x, _| Luma([(x * 7000) as u16]))
        .save(a.join("gray16.png"))
        .unwrap();
    ImageBuffer::<Rgba<u8>, _>::from_fn(8, 8, |x, _| Rgba([255, 0, 0, (x * 30) as u8]))
        .save(a.join("alpha.png"))
        .unwrap();
    gradient_rgb(12, 12).save(a.join("photo.jpg")).unwrap();
    gradient_rgb(12, 12)
        .save(a.join("nested/deeper/deep.bmp"))
        .unwrap();
    gradient_rgb(12, 12).save(b.join("anim.gif")).unwrap(); // GIF = palette image
    gradient_rgb(12, 12).save(b.join("lossless.webp")).unwrap();
    gradient_rgb(12, 12).save(b.join("scan.tiff")).unwrap();
    // A PNG named .txt: the content decides.
    let mut png_bytes = Vec::new();
    gradient_rgb(12, 12)
        .write_to(
            &mut std::io::Cursor::new(&mut png_bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    fs::write(b.join("wrong-extension.txt"), &png_bytes).unwrap();
    ImageBuffer::<Luma<u8>, _>::from_fn(5, 5, |_, _| Luma([200]))
        .save(b.join("UPPER.PNG"))
        .unwrap();

    // Broken files.
    fs::write(b.join("empty.png"), b"").unwrap();
    let mut png = Vec::new();
    gradient_rgb(30, 30)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    fs::write(b.join("truncated.png"), &png[..png.len() / 2]).unwrap();
    fs::write(b.join("notes.txt"), "these are my notes, not an image").unwrap();
    fs::write(
        b.join("garbage.jpg"),
        [0xFFu8, 0xD8, 0xFF, 0x00, 0x13, 0x37],
    )
    .unwrap();
    fs::write(b.join("bomb.png"), bomb_png()).unwrap();
    fs::write(
        root.join("dates").join("broken.png"),
        b"\x89PNG\r\n\x1a\nnope",
    )
    .unwrap();
    fs::write(root.join("stray.png"), &png).unwrap(); // not in a class folder

    // Junk that must be ignored silently.
    fs::write(a.join(".DS_Store"), b"junk").unwrap();
    fs::write(a.join("Thumbs.db"), b"junk").unwrap();
    fs::write(a.join("._rgb.png"), b"resource fork").unwrap();
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::write(root.join(".git").join("x.png"), &png).unwrap();

    // Links: inside the folder is fine, outside is never followed.
    gradient_rgb(6, 6).save(outside.join("secret.png")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.join("secret.png"), a.join("escape.png")).unwrap();
        std::os::unix::fs::symlink(a.join("rgb.png"), b.join("link-inside.png")).unwrap();
        std::os::unix::fs::symlink(outside, a.join("escape-dir")).unwrap();
    }
}

fn snapshot(root: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().display().to_string(),
                e.metadata().map(|m| m.len()).unwrap_or(0),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn fixture_of_good_and_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let outside = dir.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    build_fixture(&root, &outside);
    let before = snapshot(&root);

    let options = ImportOptions {
        width: 16,
        height: 16,
        channels: 3,
    };
    let (ds, report) = import_image_folder(&root, &options, None, None, None).unwrap();

    let names: Vec<&str> = report.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["apples", "bananas"]);
    assert_eq!(report.classes[0].count, 5, "{}", report.to_text());
    let expected_b = if cfg!(unix) { 6 } else { 5 };
    assert_eq!(report.classes[1].count, expected_b, "{}", report.to_text());
    assert_eq!(report.empty_classes, vec!["cherries", "dates"]);
    assert_eq!(ds.len(), report.samples);
    assert_eq!(ds.pixels.len(), ds.len() * 3 * 16 * 16);
    assert_eq!(ds.classes, vec!["apples", "bananas"]);
    assert!(ds
        .paths
        .iter()
        .any(|p| p.ends_with("nested/deeper/deep.bmp")));

    let reason = |file: &str| -> String {
        report
            .skipped
            .iter()
            .find(|s| s.path.ends_with(file))
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{file} not reported:\n{}", report.to_text()))
    };
    assert!(reason("empty.png").contains("0 bytes"));
    assert!(
        reason("truncated.png").contains("truncated")
            || reason("truncated.png").contains("damaged"),
        "{}",
        reason("truncated.png")
    );
    assert!(reason("notes.txt").contains("not an image"));
    assert!(
        reason("garbage.jpg").contains("damaged") || reason("garbage.jpg").contains("truncated"),
        "{}",
        reason("garbage.jpg")
    );
    assert!(
        reason("bomb.png").contains("too large"),
        "{}",
        reason("bomb.png")
    );
    assert!(
        reason("broken.png").contains("damaged") || reason("broken.png").contains("truncated"),
        "{}",
        reason("broken.png")
    );
    assert!(reason("stray.png").contains("not inside a class folder"));
    #[cfg(unix)]
    {
        assert!(reason("escape.png").contains("outside the chosen folder"));
        assert!(reason("escape-dir").contains("outside the chosen folder"));
        assert!(!ds.paths.iter().any(|p| p.ends_with("escape.png")));
    }
    // Junk is silent.
    for junk in [".DS_Store", "Thumbs.db", "._rgb.png", "x.png"] {
        assert!(
            !report.skipped.iter().any(|s| s.path.ends_with(junk)),
            "{junk} was reported"
        );
    }
    assert!(report.warnings.iter().any(|w| w.contains("cherries")));
    assert!(report.to_text().contains("Skipped"));
    // The user's folder is untouched.
    assert_eq!(snapshot(&root), before);
}

#[test]
fn transparency_grayscale_and_sixteen_bit_are_converted() {
    let dir = tempfile::tempdir().unwrap();
    // Fully transparent pixels read as white background.
    let p = dir.path().join("clear.png");
    ImageBuffer::<Rgba<u8>, _>::from_fn(4, 4, |_, _| Rgba([0, 0, 0, 0]))
        .save(&p)
        .unwrap();
    let px = decode_image_file(
        &p,
        &ImportOptions {
            width: 4,
            height: 4,
            channels: 1,
        },
    )
    .unwrap();
    assert!(px.iter().all(|&v| v == 255), "{px:?}");
    // 16-bit full scale becomes 255.
    let p = dir.path().join("w16.png");
    ImageBuffer::<Luma<u16>, _>::from_fn(3, 3, |_, _| Luma([65535]))
        .save(&p)
        .unwrap();
    let px = decode_image_file(
        &p,
        &ImportOptions {
            width: 3,
            height: 3,
            channels: 3,
        },
    )
    .unwrap();
    assert_eq!(px.len(), 27);
    assert!(px.iter().all(|&v| v == 255));
    // Colour to grayscale uses luma weights: pure green → 0.587·255 ≈ 150.
    let p = dir.path().join("green.png");
    ImageBuffer::<Rgb<u8>, _>::from_fn(2, 2, |_, _| Rgb([0, 255, 0]))
        .save(&p)
        .unwrap();
    let px = decode_image_file(
        &p,
        &ImportOptions {
            width: 2,
            height: 2,
            channels: 1,
        },
    )
    .unwrap();
    assert!(px.iter().all(|&v| (149..=151).contains(&v)), "{px:?}");
}

#[test]
fn exif_orientation_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    // 40×20: left half white, right half black.
    let img = ImageBuffer::<Rgb<u8>, _>::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgb([255; 3])
        } else {
            Rgb([0; 3])
        }
    });
    let mut jpeg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    let p = dir.path().join("rotated.jpg");
    // Orientation 6: the camera was turned; display rotated 90° clockwise, so left becomes top.
    fs::write(&p, with_exif_orientation(&jpeg, 6)).unwrap();
    let px = decode_image_file(
        &p,
        &ImportOptions {
            width: 20,
            height: 40,
            channels: 1,
        },
    )
    .unwrap();
    let at = |x: usize, y: usize| px[y * 20 + x];
    assert!(
        at(15, 3) > 200,
        "top right should be white after rotation, got {}",
        at(15, 3)
    );
    assert!(
        at(5, 36) < 50,
        "bottom left should be black after rotation, got {}",
        at(5, 36)
    );
}

#[test]
fn a_folder_without_class_folders_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    gradient_rgb(4, 4).save(dir.path().join("a.png")).unwrap();
    let err =
        import_image_folder(dir.path(), &ImportOptions::default(), None, None, None).unwrap_err();
    assert!(err.to_string().contains("no sub-folders"), "{err}");
    let err = import_image_folder(
        &dir.path().join("missing"),
        &ImportOptions::default(),
        None,
        None,
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot use"), "{err}");
}
