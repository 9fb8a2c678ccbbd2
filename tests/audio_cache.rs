//! The on-disk cache of clip features, in its own test binary so that no other test writes into
//! the cache folder it counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use strata::data::{audio_file_pixels, AudioOptions};

/// A mono 16-bit WAV of a tone.
fn write_wav(path: &Path, rate: u32, freq: f32) {
    let samples: Vec<i16> = (0..rate / 2)
        .map(|i| {
            ((2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 16_000.0) as i16
        })
        .collect();
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

#[test]
fn clip_features_are_cached_on_disk_per_content_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::env::set_var("STRATA_CACHE_DIR", &cache);
    let clip = dir.path().join("tone.wav");
    write_wav(&clip, 22_050, 440.0);
    let files = || {
        std::fs::read_dir(cache.join("audio-features"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let options = AudioOptions::default();
    let first = audio_file_pixels(&clip, &options).unwrap();
    assert_eq!(files(), 1);
    // The same file and settings read the cached features (identical); other settings and an
    // edited file are computed afresh.
    assert_eq!(audio_file_pixels(&clip, &options).unwrap(), first);
    assert_eq!(files(), 1);
    let mfcc = AudioOptions {
        mfcc: 13,
        ..options
    };
    let other = audio_file_pixels(&clip, &mfcc).unwrap();
    assert_ne!(other.0.len(), first.0.len());
    assert_eq!(files(), 2);
    write_wav(&clip, 8_000, 440.0);
    let edited = audio_file_pixels(&clip, &options).unwrap();
    assert_eq!(edited.2, 8_000);
    assert_eq!(files(), 3);
    // A damaged entry (here: emptied) is ignored and the features are computed again.
    for entry in std::fs::read_dir(cache.join("audio-features")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"").unwrap();
    }
    assert_eq!(
        audio_file_pixels(&clip, &options).unwrap(),
        edited,
        "recomputed after damage"
    );
}
