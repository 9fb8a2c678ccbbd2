//! Audio end to end: WAV files in every common encoding (and broken ones, each reported), the
//! log-mel spectrogram against librosa, a clip CNN that really learns tones apart, and the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use strata::data::{decode_audio_file, log_mel, mel_filters, mfcc, AudioOptions};
use strata::engine::{self, CancelToken, RunOutcome, TrainEvent};
use strata::model;
use strata::project::{AudioSettings, DataKind, DataSettings, Project, Source};
use strata::workflow;

/// A WAV file: `format` 1 = PCM, 3 = float, 7 = µ-law; `data` already encoded; `claimed` is the
/// data length the header states (to make truncated files). Non-PCM formats get the 18-byte
/// format chunk (with its empty extension size) the specification asks for.
fn wav(
    path: &Path,
    format: u16,
    channels: u16,
    rate: u32,
    bits: u16,
    data: &[u8],
    claimed: Option<u32>,
) {
    let block = channels * bits.div_ceil(8);
    let data_len = claimed.unwrap_or(data.len() as u32);
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    let fmt_len: u32 = if format == 1 { 16 } else { 18 };
    out.extend_from_slice(&(20 + fmt_len + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&fmt_len.to_le_bytes());
    out.extend_from_slice(&format.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    if format != 1 {
        out.extend_from_slice(&0u16.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(data);
    std::fs::write(path, out).unwrap();
}

fn tone(freq: f32, rate: u32, seconds: f32, phase: f32) -> Vec<f32> {
    (0..(rate as f32 * seconds) as usize)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32 + phase).sin())
        .collect()
}

/// G.711 µ-law encoding of one sample in [-1, 1].
fn mu_law(x: f32) -> u8 {
    let s = (x.clamp(-1.0, 1.0) * 32_635.0) as i32;
    let sign = if s < 0 { 0x80 } else { 0 };
    let mag = s.unsigned_abs().min(32_635) + 0x84;
    let exponent = (0..8)
        .rev()
        .find(|e| mag & (0x4000 >> (7 - e)) != 0)
        .unwrap_or(0);
    let mantissa = (mag >> (exponent + 3)) & 0x0F;
    !(sign | ((exponent as u32) << 4) as u8 | mantissa as u8)
}

/// The same 440 Hz tone in each encoding a WAV file can have, at various rates.
fn write_encodings(dir: &Path) {
    let t = |rate| tone(440.0, rate, 0.5, 0.0);
    let pcm16: Vec<u8> = t(44_100)
        .iter()
        .flat_map(|v| {
            let s = (v * 32_767.0) as i16;
            [s.to_le_bytes(), s.to_le_bytes()].concat() // stereo
        })
        .collect();
    wav(
        &dir.join("pcm16_stereo_44k.wav"),
        1,
        2,
        44_100,
        16,
        &pcm16,
        None,
    );
    let pcm8: Vec<u8> = t(8_000)
        .iter()
        .map(|v| ((v * 127.0) + 128.0) as u8)
        .collect();
    wav(&dir.join("pcm8_8k.wav"), 1, 1, 8_000, 8, &pcm8, None);
    let pcm24: Vec<u8> = t(48_000)
        .iter()
        .flat_map(|v| {
            let s = (v * 8_388_607.0) as i32;
            s.to_le_bytes()[..3].to_vec()
        })
        .collect();
    wav(&dir.join("pcm24_48k.wav"), 1, 1, 48_000, 24, &pcm24, None);
    let float: Vec<u8> = t(22_050).iter().flat_map(|v| v.to_le_bytes()).collect();
    wav(&dir.join("float_22k.wav"), 3, 1, 22_050, 32, &float, None);
    let mulaw: Vec<u8> = t(8_000).iter().map(|&v| mu_law(v)).collect();
    wav(&dir.join("mulaw_8k.wav"), 7, 1, 8_000, 8, &mulaw, None);
}

#[test]
fn every_wav_encoding_decodes_to_the_same_tone() {
    let dir = tempfile::tempdir().unwrap();
    write_encodings(dir.path());
    let options = AudioOptions::default();
    let mut peaks = Vec::new();
    for (name, rate, channels) in [
        ("pcm16_stereo_44k.wav", 44_100, 2),
        ("pcm8_8k.wav", 8_000, 1),
        ("pcm24_48k.wav", 48_000, 1),
        ("float_22k.wav", 22_050, 1),
        ("mulaw_8k.wav", 8_000, 1),
    ] {
        let clip =
            decode_audio_file(&dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (clip.sample_rate, clip.channels),
            (rate, channels),
            "{name}"
        );
        assert!(
            (clip.seconds() - 0.5).abs() < 0.01,
            "{name}: {}",
            clip.seconds()
        );
        let peak = clip.samples.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!((peak - 0.5).abs() < 0.03, "{name}: peak {peak}");
        // At 16 kHz the loudest mel band is the same for every encoding.
        let samples = strata::data::prepare_clip(&clip, &options).unwrap();
        assert_eq!(samples.len(), 16_000);
        let mel = log_mel(&samples[..8000], 16_000, 400, 160, 40);
        let band = (0..40)
            .max_by(|&a, &b| mel[a][20].total_cmp(&mel[b][20]))
            .unwrap();
        peaks.push(band);
    }
    assert!(peaks.windows(2).all(|w| w[0] == w[1]), "{peaks:?}");
}

#[test]
fn resampling_keeps_length_and_pitch_for_any_input_length() {
    // Lengths that end exactly on the resampler's chunk, just after it, and shorter than one.
    for n in [1024 * 3, 1024 * 3 + 1, 100, 22_050] {
        let x = tone(440.0, 22_050, n as f32 / 22_050.0, 0.0);
        let y = strata::data::resample(&x, 22_050, 16_000).unwrap();
        assert_eq!(y.len(), n * 16_000 / 22_050, "{n}");
    }
}

#[test]
fn broken_files_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("clips");
    for (class, freq) in [("low", 300.0), ("high", 2000.0)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..4 {
            let data: Vec<u8> = tone(freq, 16_000, 0.3, i as f32)
                .iter()
                .flat_map(|v| ((v * 32_767.0) as i16).to_le_bytes())
                .collect();
            wav(
                &root.join(class).join(format!("{i}.wav")),
                1,
                1,
                16_000,
                16,
                &data,
                None,
            );
        }
    }
    std::fs::write(root.join("low/empty.wav"), b"").unwrap();
    std::fs::write(root.join("low/notes.txt"), b"not audio").unwrap();
    std::fs::write(
        root.join("high/fake.wav"),
        b"this is not a RIFF file at all",
    )
    .unwrap();
    // The header promises one second; the file holds a tenth of it.
    let short: Vec<u8> = tone(2000.0, 16_000, 0.1, 0.0)
        .iter()
        .flat_map(|v| ((v * 32_767.0) as i16).to_le_bytes())
        .collect();
    wav(
        &root.join("high/truncated.wav"),
        1,
        1,
        16_000,
        16,
        &short,
        Some(32_000),
    );
    let settings = clips(
        &root,
        AudioSettings {
            clip_seconds: 0.3,
            ..AudioSettings::default()
        },
    );
    assert_eq!(workflow::detect_kind(&root), DataKind::Audio);
    let (prepared, report) = workflow::prepare(&settings, None, None).unwrap();
    assert_eq!(prepared.dataset.len(), 8);
    assert_eq!(prepared.dataset.shape(), [1, 40, 1 + 4800 / 160]);
    // Window and step set the spectrogram's width: 20 ms steps halve it.
    let coarse = clips(
        &root,
        AudioSettings {
            hop_ms: 20.0,
            window_ms: 40.0,
            mel_bands: 32,
            ..settings.audio().unwrap().clone()
        },
    );
    let (prepared, _) = workflow::prepare(&coarse, None, None).unwrap();
    assert_eq!(prepared.dataset.shape(), [1, 32, 1 + 4800 / 320]);
    let why = |name: &str| {
        report
            .skipped
            .iter()
            .find(|s| s.path.ends_with(name))
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{name} not reported: {:?}", report.skipped))
    };
    assert!(why("empty.wav").contains("empty"));
    assert!(why("notes.txt").contains("not an audio file"));
    assert!(why("fake.wav").contains("not a supported audio file"));
    assert!(
        why("truncated.wav").contains("truncated"),
        "{}",
        why("truncated.wav")
    );
}

/// Values from librosa 0.11 for the same signal and settings:
///
/// ```python
/// n = np.arange(4000)
/// y = (0.5*np.sin(2*np.pi*440*n/16000) + 0.25*np.sin(2*np.pi*1234*n/16000 + 0.3)
///      + 0.05*np.sin(0.37*n)).astype(np.float32)
/// S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=400, hop_length=160, n_mels=40,
///                                    center=True, pad_mode="constant", power=2.0)
/// D = librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0)     # D.shape == (40, 26)
/// fb = librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)          # fb.shape == (40, 201)
/// ```
#[test]
fn log_mel_matches_librosa() {
    let y: Vec<f32> = (0..4000)
        .map(|n| {
            let n = n as f64;
            (0.5 * (2.0 * std::f64::consts::PI * 440.0 * n / 16000.0).sin()
                + 0.25 * (2.0 * std::f64::consts::PI * 1234.0 * n / 16000.0 + 0.3).sin()
                + 0.05 * (0.37 * n).sin()) as f32
        })
        .collect();
    let d = log_mel(&y, 16_000, 400, 160, 40);
    assert_eq!((d.len(), d[0].len()), (40, 26));
    for (m, t, want) in [
        (0, 0, -4.7761),
        (5, 3, 16.1360),
        (9, 12, -52.9781),
        (12, 10, -4.3624),
        (20, 12, -63.8639),
        (25, 0, -27.8009),
        (39, 25, -45.7745),
        (30, 7, -63.8639),
    ] {
        assert!(
            (d[m][t] - want).abs() < 0.02,
            "[{m}, {t}]: {} vs librosa {want}",
            d[m][t]
        );
    }
    // MFCCs of the same spectrogram: librosa.feature.mfcc(S=power_to_db(S), n_mfcc=13).
    let c = mfcc(&d, 13);
    assert_eq!((c.len(), c[0].len()), (13, 26));
    for (k, t, want) in [
        (0, 0, -129.3397),
        (1, 3, 87.5423),
        (2, 12, -23.0542),
        (5, 10, 20.4315),
        (12, 25, -3.4191),
        (7, 7, -44.4971),
    ] {
        assert!(
            (c[k][t] - want).abs() < 0.1,
            "mfcc [{k}, {t}]: {} vs librosa {want}",
            c[k][t]
        );
    }
    let fb = mel_filters(16_000, 400, 40);
    assert_eq!((fb.len(), fb[0].len()), (40, 201));
    for (m, k, want) in [(3, 4, 0.0), (10, 20, 0.011879), (39, 190, 0.001215)] {
        assert!(
            (fb[m][k] - want).abs() < 1e-6,
            "filter [{m}, {k}]: {} vs {want}",
            fb[m][k]
        );
    }
}

/// Three classes of tones (low, middle, high) with random phase, loudness and noise.
fn tone_folder(root: &Path, per_class: usize) {
    let mut state = 5u32;
    let mut rnd = || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        f32::from((state >> 16) as u16) / 65_535.0
    };
    for (class, freq) in [("low", 250.0), ("middle", 900.0), ("high", 3000.0)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..per_class {
            let (f, gain, phase) = (freq * (0.9 + 0.2 * rnd()), 0.2 + 0.6 * rnd(), 6.0 * rnd());
            let data: Vec<u8> = (0..8000)
                .map(|n| {
                    let s = gain
                        * (2.0 * std::f32::consts::PI * f * n as f32 / 16_000.0 + phase).sin()
                        + 0.05 * (rnd() - 0.5);
                    ((s * 32_000.0) as i16).to_le_bytes()
                })
                .flat_map(|b| b.into_iter())
                .collect();
            wav(
                &root.join(class).join(format!("{i}.wav")),
                1,
                1,
                16_000,
                16,
                &data,
                None,
            );
        }
    }
}

/// Data settings for the clips under `root`, read with `audio`.
fn clips(root: &Path, audio: AudioSettings) -> DataSettings {
    DataSettings {
        source: Source::Audio(audio),
        ..DataSettings::new(root.to_owned(), DataKind::Audio)
    }
}

/// Imports the clips, trains the `audio-cnn` template on them for 15 epochs (saved at `path`) and
/// returns the best validation accuracy.
fn train_audio_cnn(settings: DataSettings, path: &Path) -> f64 {
    let (prepared, _) = workflow::prepare(&settings, None, None).unwrap();
    let mfcc = settings.audio().unwrap().mfcc;
    if mfcc > 0 {
        assert_eq!(prepared.dataset.shape()[1], mfcc);
    }
    let graph = model::template("audio-cnn", &prepared.dataset.fit()).unwrap();
    let mut project = Project::new(settings, graph);
    project.training.epochs = 15;
    project.training.lr = 0.003;
    project.save(path).unwrap();
    let best = std::sync::Mutex::new(0.0);
    let sink = |e: TrainEvent| {
        if let TrainEvent::Finished { best_accuracy, .. } = e {
            *best.lock().unwrap() = best_accuracy;
        }
    };
    let outcome = engine::train(&project, path, &prepared, &sink, &CancelToken::new());
    assert!(
        matches!(outcome, RunOutcome::Finished { .. }),
        "{outcome:?}"
    );
    best.into_inner().unwrap()
}

#[test]
fn the_audio_cnn_learns_tones_and_the_cli_predicts_clips() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tones");
    tone_folder(&root, 20);
    let settings = DataSettings {
        val_fraction: 0.2,
        test_fraction: 0.1,
        ..clips(
            &root,
            AudioSettings {
                clip_seconds: 0.5,
                ..AudioSettings::default()
            },
        )
    };
    let path = dir.path().join("tones.strata");
    let best = train_audio_cnn(settings, &path);
    assert!(best > 0.9, "validation accuracy {best}");

    // The CLI predicts a new clip of another rate and format.
    let clip = dir.path().join("new.wav");
    let data: Vec<u8> = tone(3000.0, 44_100, 0.4, 1.0)
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    wav(&clip, 3, 1, 44_100, 32, &data, None);
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "predict",
            path.to_str().unwrap(),
            clip.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["predictions"][0]["class"], "high", "{json}");

    // As ONNX: checked on the test clips, with the spectrogram settings inside.
    let onnx = dir.path().join("tones.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "export",
            path.to_str().unwrap(),
            "--out",
            onnx.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["checked_on"], "test samples", "{json}");
    assert_eq!(json["same_class"], json["checked_samples"], "{json}");
    let meta = common::onnx_metadata(&onnx);
    assert_eq!(meta["audio.sample_rate"], "16000");
    assert_eq!(meta["audio.clip_seconds"], "0.5");
    assert_eq!(meta["audio.mel_bands"], "40");
}

/// The loudest mel band of a clip's first half second at 16 kHz.
fn loudest_band(clip: &strata::data::Clip) -> usize {
    let samples = strata::data::prepare_clip(clip, &AudioOptions::default()).unwrap();
    let mel = log_mel(&samples[..8000], 16_000, 400, 160, 40);
    (0..40)
        .max_by(|&a, &b| mel[a][20].total_cmp(&mel[b][20]))
        .unwrap()
}

#[test]
fn flac_ogg_mp3_and_adpcm_decode_to_the_same_tone() {
    // Made by scripts/make_audio_fixtures.py with the reference encoders (flac, oggenc, lame)
    // and an IMA ADPCM encoder: 0.5 s of 440 Hz at half scale, 22,050 Hz mono.
    let dir = tempfile::tempdir().unwrap();
    write_encodings(dir.path());
    let reference =
        loudest_band(&decode_audio_file(&dir.path().join("pcm16_stereo_44k.wav")).unwrap());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio");
    // (file, tolerance on the duration: Vorbis and MP3 decode their encoders' padding too;
    // measured 0.517 s for the Ogg file)
    for (name, slack) in [
        ("tone440.flac", 0.01),
        ("tone440.ogg", 0.03),
        ("tone440.mp3", 0.12),
        ("tone440_ima_adpcm.wav", 0.01),
    ] {
        let clip =
            decode_audio_file(&fixtures.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((clip.sample_rate, clip.channels), (22_050, 1), "{name}");
        assert!(
            (clip.seconds() - 0.5).abs() < slack,
            "{name}: {} s",
            clip.seconds()
        );
        let peak = clip.samples.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!((peak - 0.5).abs() < 0.08, "{name}: peak {peak}");
        assert_eq!(loudest_band(&clip), reference, "{name}");
    }
}

#[test]
fn mfcc_features_with_time_shift_and_noise_still_learn_the_tones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tones");
    tone_folder(&root, 20);
    let mut settings = DataSettings {
        val_fraction: 0.2,
        test_fraction: 0.1,
        ..clips(
            &root,
            AudioSettings {
                clip_seconds: 0.5,
                mfcc: 13,
                ..AudioSettings::default()
            },
        )
    };
    settings.augmentation.max_time_shift = 0.2;
    settings.augmentation.noise_db = 20.0;
    let best = train_audio_cnn(settings, &dir.path().join("mfcc.strata"));
    assert!(best > 0.8, "validation accuracy {best}");
}

#[test]
fn a_flac_comment_claiming_gigabytes_is_refused_before_decoding() {
    // Found by libFuzzer: the decoder would allocate the 4 GB a comment's length field claims.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions/audio/oom-flac-comment-length.flac");
    let err = strata::data::decode_audio_file(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("damaged FLAC metadata"), "{err}");
    // A real FLAC file (with its comment block) still decodes.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio/tone440.flac");
    assert!(strata::data::decode_audio_file(&fixture).is_ok());
}
