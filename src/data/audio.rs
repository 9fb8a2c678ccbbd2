//! Audio clips: one sub-folder of clips per class, in WAV (8/16/24/32-bit integer, float, µ-law,
//! A-law, ADPCM), FLAC, MP3 or Ogg Vorbis at any sample rate, mono or stereo. Each clip is mixed
//! to mono, resampled to 16 kHz, padded or cut to a fixed duration and turned once into a log-mel
//! spectrogram (librosa's defaults: centred Hann frames, Slaney mel filters, power in dB with an
//! 80 dB range), stored as a one-channel image of mel bands × frames so the image layers, the
//! thumbnails and the batches all apply.

use super::Unusable;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use realfft::RealFftPlanner;
use rubato::{FftFixedIn, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as AudioError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::image_folder::{import_prepared, StoreSpec};
use super::{DataError, ImageDataset, ImportReport};
use crate::project::DataKind;

/// Every clip is resampled to this rate.
pub const SAMPLE_RATE: u32 = 16_000;
/// Files larger than this are skipped.
pub const MAX_AUDIO_FILE_BYTES: u64 = 200 * 1024 * 1024;
/// Decoded samples (mono) beyond which a file is refused: an hour at 16 kHz, 200 MB of memory.
/// Compressed formats can claim hours of silence in a few kilobytes.
pub const MAX_DECODED_SAMPLES: usize = 50_000_000;
/// Sample rates a clip may have (Hz).
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;
/// Range of the spectrogram below each clip's loudest point, in dB (librosa's `top_db`).
const TOP_DB: f32 = 80.0;

/// How clips become spectrograms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AudioOptions {
    /// Clip length in seconds (longer clips are cut, shorter padded with silence).
    pub clip_seconds: f32,
    /// Mel bands (spectrogram height).
    pub mel_bands: usize,
    /// Window length in milliseconds (25 ms = 400 samples at 16 kHz).
    pub window_ms: f32,
    /// Step between windows in milliseconds.
    pub hop_ms: f32,
    /// 0: the log-mel spectrogram; otherwise this many MFCCs per frame.
    pub mfcc: usize,
}

impl Default for AudioOptions {
    fn default() -> Self {
        Self {
            clip_seconds: 1.0,
            mel_bands: 40,
            window_ms: 25.0,
            hop_ms: 10.0,
            mfcc: 0,
        }
    }
}

impl AudioOptions {
    /// Samples per clip at [`SAMPLE_RATE`].
    pub fn clip_samples(&self) -> usize {
        ((self.clip_seconds.max(0.05) * SAMPLE_RATE as f32).round() as usize).max(1)
    }

    /// FFT length (the window) in samples.
    pub fn n_fft(&self) -> usize {
        ((self.window_ms.max(1.0) / 1000.0 * SAMPLE_RATE as f32).round() as usize).max(16)
    }

    /// Hop in samples.
    pub fn hop(&self) -> usize {
        ((self.hop_ms.max(0.5) / 1000.0 * SAMPLE_RATE as f32).round() as usize).max(1)
    }

    /// Rows of the feature image: mel bands, or MFCCs (at most one per band).
    pub fn rows(&self) -> usize {
        match self.mfcc {
            0 => self.mel_bands,
            n => n.min(self.mel_bands),
        }
    }

    /// Spectrogram frames per clip (centred frames, as librosa).
    pub fn frames(&self) -> usize {
        1 + self.clip_samples() / self.hop()
    }
}

/// A decoded clip: mono samples at its own rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// Mono samples in [-1, 1].
    pub samples: Vec<f32>,
    /// The file's sample rate.
    pub sample_rate: u32,
    /// Channels in the file.
    pub channels: usize,
}

impl Clip {
    /// Length in seconds.
    pub fn seconds(&self) -> f32 {
        self.samples.len() as f32 / self.sample_rate.max(1) as f32
    }
}

/// Decodes an audio file to mono, or says why it cannot be used.
pub fn decode_audio_file(path: &Path) -> Result<Clip, Unusable> {
    decode_audio_file_text(path).map_err(Unusable)
}

fn decode_audio_file_text(path: &Path) -> Result<Clip, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("could not be read: {e}"))?;
    if meta.len() == 0 {
        return Err("empty file (0 bytes)".to_owned());
    }
    if meta.len() > MAX_AUDIO_FILE_BYTES {
        return Err(format!(
            "too large ({} MB; the limit is {} MB)",
            meta.len() / (1024 * 1024),
            MAX_AUDIO_FILE_BYTES / (1024 * 1024)
        ));
    }
    let mut file = std::fs::File::open(path).map_err(|e| format!("could not be read: {e}"))?;
    let mut magic = [0u8; 4];
    if std::io::Read::read_exact(&mut file, &mut magic).is_ok() && &magic == b"fLaC" {
        let bytes = std::fs::read(path).map_err(|e| format!("could not be read: {e}"))?;
        check_flac_metadata(&bytes)?;
    }
    std::io::Seek::rewind(&mut file).map_err(|e| format!("could not be read: {e}"))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| format!("not a supported audio file ({e})"))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| "the file has no audio track".to_owned())?;
    let track_id = track.id;
    let expected = track.codec_params.n_frames;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| format!("unsupported audio encoding ({e})"))?;
    let mut samples = Vec::new();
    let (mut sample_rate, mut channels) = (track.codec_params.sample_rate.unwrap_or(0), 0usize);
    let mut frames = 0u64;
    let mut buffer: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(AudioError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(AudioError::ResetRequired) => break,
            Err(e) => return Err(format!("damaged audio ({e})")),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged packet is skipped, as players do.
            Err(AudioError::DecodeError(_)) => continue,
            Err(e) => return Err(format!("damaged audio ({e})")),
        };
        let spec = *decoded.spec();
        sample_rate = spec.rate;
        channels = spec.channels.count().max(1);
        let buf = buffer.get_or_insert_with(|| SampleBuffer::new(decoded.capacity() as u64, spec));
        if buf.capacity() < decoded.capacity() * channels {
            *buf = SampleBuffer::new(decoded.capacity() as u64, spec);
        }
        buf.copy_interleaved_ref(decoded);
        for frame in buf.samples().chunks(channels) {
            samples.push(frame.iter().sum::<f32>() / channels as f32);
        }
        if samples.len() > MAX_DECODED_SAMPLES {
            return Err(format!(
                "too long (more than {} million samples); cut it into shorter clips",
                MAX_DECODED_SAMPLES / 1_000_000
            ));
        }
        frames += (buf.samples().len() / channels) as u64;
    }
    if samples.is_empty() || sample_rate == 0 {
        return Err("no sound in the file (0 samples)".to_owned());
    }
    if !SAMPLE_RATES.contains(&sample_rate) {
        return Err(format!(
            "its sample rate ({sample_rate} Hz) is not one audio files use ({} to {} Hz)",
            SAMPLE_RATES.start(),
            SAMPLE_RATES.end()
        ));
    }
    if let Some(expected) = expected {
        if expected > 0 && frames * 50 < expected * 49 {
            return Err(format!(
                "truncated (the file ends after {:.2} of {:.2} seconds)",
                frames as f32 / sample_rate as f32,
                expected as f32 / sample_rate as f32
            ));
        }
    }
    Ok(Clip {
        samples,
        sample_rate,
        channels,
    })
}

/// Checks a FLAC file's metadata blocks before the decoder reads them: the decoder allocates
/// whatever a Vorbis comment's length field says before reading it, so every length inside a
/// comment block must fit in its block (a damaged or hostile file could ask for gigabytes).
fn check_flac_metadata(bytes: &[u8]) -> Result<(), String> {
    let damaged = || "damaged FLAC metadata (a length that does not fit the file)".to_owned();
    let u32_le = |b: &[u8], at: usize| -> Option<usize> {
        let v = b.get(at..at + 4)?;
        Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize)
    };
    let mut pos = 4;
    loop {
        let header = bytes.get(pos..pos + 4).ok_or_else(damaged)?;
        let (last, kind) = (header[0] & 0x80 != 0, header[0] & 0x7f);
        let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
        pos += 4;
        let block = bytes.get(pos..pos + len).ok_or_else(damaged)?;
        if kind == 4 {
            // Vorbis comment: vendor string, then a count of length-prefixed comments.
            let vendor = u32_le(block, 0).ok_or_else(damaged)?;
            let mut at = 4usize.checked_add(vendor).ok_or_else(damaged)?;
            let count = u32_le(block, at).ok_or_else(damaged)?;
            at += 4;
            for _ in 0..count {
                let n = u32_le(block, at).ok_or_else(damaged)?;
                at = at
                    .checked_add(4 + n)
                    .filter(|&end| end <= block.len())
                    .ok_or_else(damaged)?;
            }
        }
        pos += len;
        if last {
            return Ok(());
        }
    }
}

/// Resamples mono `samples` from `from` Hz to `to` Hz (band-limited, FFT based).
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, Unusable> {
    resample_text(samples, from, to).map_err(Unusable)
}

fn resample_text(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, String> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let fail = |e: &dyn std::fmt::Display| format!("could not be resampled ({e})");
    let mut r =
        FftFixedIn::<f32>::new(from as usize, to as usize, 1024, 2, 1).map_err(|e| fail(&e))?;
    let delay = r.output_delay();
    let want = (samples.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let mut out = Vec::with_capacity(want + delay + 2048);
    let mut pos = 0;
    while pos + r.input_frames_next() <= samples.len() {
        let n = r.input_frames_next();
        let chunk = r
            .process(&[&samples[pos..pos + n]], None)
            .map_err(|e| fail(&e))?;
        out.extend_from_slice(&chunk[0]);
        pos += n;
    }
    // (An empty slice would read as a silent channel to rubato, so none is passed then.)
    if pos < samples.len() {
        let tail = r
            .process_partial(Some(&[&samples[pos..]]), None)
            .map_err(|e| fail(&e))?;
        out.extend_from_slice(&tail[0]);
    }
    while out.len() < want + delay {
        let flush = r
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| fail(&e))?;
        if flush[0].is_empty() {
            break;
        }
        out.extend_from_slice(&flush[0]);
    }
    out.drain(..delay.min(out.len()));
    out.truncate(want);
    Ok(out)
}

/// The clip at [`SAMPLE_RATE`], cut or padded with silence to `options`' length.
pub fn prepare_clip(clip: &Clip, options: &AudioOptions) -> Result<Vec<f32>, Unusable> {
    prepare_clip_text(clip, options).map_err(Unusable)
}

fn prepare_clip_text(clip: &Clip, options: &AudioOptions) -> Result<Vec<f32>, String> {
    if !SAMPLE_RATES.contains(&clip.sample_rate) {
        return Err(format!(
            "its sample rate ({} Hz) is not one audio files use",
            clip.sample_rate
        ));
    }
    // Only the start is kept: resample what the clip's length needs (and the filter's margin),
    // not a whole long recording.
    let rate = u64::from(clip.sample_rate);
    let needed = (options.clip_samples() as u64 + 4096) * rate / u64::from(SAMPLE_RATE) + 4096;
    let input = &clip.samples[..clip.samples.len().min(needed as usize)];
    let mut samples = resample(input, clip.sample_rate, SAMPLE_RATE)?;
    samples.resize(options.clip_samples(), 0.0);
    Ok(samples)
}

fn hz_to_mel(hz: f64) -> f64 {
    // Slaney's scale (librosa's default): linear below 1 kHz, logarithmic above.
    let (f_sp, min_log_hz, min_log_mel) = (200.0 / 3.0, 1000.0, 15.0);
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    let (f_sp, min_log_hz, min_log_mel) = (200.0 / 3.0, 1000.0, 15.0);
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        mel * f_sp
    }
}

/// Slaney-normalised triangular mel filters, `[bands][n_fft / 2 + 1]`, from 0 Hz to Nyquist
/// (librosa.filters.mel's defaults).
pub fn mel_filters(rate: u32, n_fft: usize, bands: usize) -> Vec<Vec<f32>> {
    let bins = n_fft / 2 + 1;
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(f64::from(rate) / 2.0));
    let hz: Vec<f64> = (0..bands + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (bands + 1) as f64))
        .collect();
    (0..bands)
        .map(|m| {
            let norm = 2.0 / (hz[m + 2] - hz[m]);
            (0..bins)
                .map(|k| {
                    let f = k as f64 * f64::from(rate) / n_fft as f64;
                    let lower = (f - hz[m]) / (hz[m + 1] - hz[m]);
                    let upper = (hz[m + 2] - f) / (hz[m + 2] - hz[m + 1]);
                    (lower.min(upper).max(0.0) * norm) as f32
                })
                .collect()
        })
        .collect()
}

/// Log-mel spectrogram in dB, `[bands][frames]`: centred frames (zero padding of half a window at
/// both ends), periodic Hann window, power spectrum, mel filters, 10·log10 with a floor of 1e-10
/// and values kept within 80 dB of the loudest — `librosa.power_to_db(librosa.feature
/// .melspectrogram(y, sr, n_fft, hop_length, n_mels, center=True, pad_mode="constant"))`.
pub fn log_mel(
    samples: &[f32],
    rate: u32,
    n_fft: usize,
    hop: usize,
    bands: usize,
) -> Vec<Vec<f32>> {
    let pad = n_fft / 2;
    let mut padded = vec![0f32; samples.len() + 2 * pad];
    padded[pad..pad + samples.len()].copy_from_slice(samples);
    let frames = if padded.len() >= n_fft {
        1 + (padded.len() - n_fft) / hop
    } else {
        0
    };
    let window: Vec<f32> = (0..n_fft)
        .map(|n| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * n as f32 / n_fft as f32).cos())
        .collect();
    let filters = mel_filters(rate, n_fft, bands);
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(n_fft);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut power = vec![0f32; n_fft / 2 + 1];
    let mut out = vec![vec![0f32; frames]; bands];
    for t in 0..frames {
        for (i, (x, w)) in input.iter_mut().zip(&window).enumerate() {
            *x = padded[t * hop + i] * w;
        }
        if fft.process(&mut input, &mut spectrum).is_err() {
            continue; // lengths are right by construction
        }
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = c.norm_sqr();
        }
        for (m, filter) in filters.iter().enumerate() {
            let e: f32 = filter.iter().zip(&power).map(|(a, b)| a * b).sum();
            out[m][t] = 10.0 * e.max(1e-10).log10();
        }
    }
    let top = out
        .iter()
        .flatten()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for v in out.iter_mut().flatten() {
        *v = v.max(top - TOP_DB);
    }
    out
}

/// Mel-frequency cepstral coefficients `[count][frames]` of a log-mel spectrogram in dB: the
/// orthonormal DCT-II over the bands — `librosa.feature.mfcc(S=log_mel, n_mfcc=count)`.
pub fn mfcc(log_mel: &[Vec<f32>], count: usize) -> Vec<Vec<f32>> {
    let n = log_mel.len();
    let frames = log_mel.first().map_or(0, Vec::len);
    (0..count.min(n))
        .map(|k| {
            let scale = if k == 0 {
                1.0 / n as f64
            } else {
                2.0 / n as f64
            }
            .sqrt();
            let basis: Vec<f64> = (0..n)
                .map(|m| {
                    (std::f64::consts::PI * k as f64 * (2 * m + 1) as f64 / (2 * n) as f64).cos()
                        * scale
                })
                .collect();
            (0..frames)
                .map(|t| {
                    basis
                        .iter()
                        .zip(log_mel)
                        .map(|(b, row)| b * f64::from(row[t]))
                        .sum::<f64>() as f32
                })
                .collect()
        })
        .collect()
}

/// MFCCs of a clip as a grayscale image (1 × count × frames, the first coefficient on top),
/// computed from the log-mel spectrogram relative to the clip's loudest point (so loudness does
/// not matter): the first coefficient spans its whole range (0 … −80·√bands dB), the others
/// ±100 around mid-grey.
fn mfcc_pixels(mel: &[Vec<f32>], top: f32, options: &AudioOptions) -> Vec<u8> {
    let relative: Vec<Vec<f32>> = mel
        .iter()
        .map(|row| row.iter().map(|v| v - top).collect())
        .collect();
    let coefficients = mfcc(&relative, options.rows());
    let full = TOP_DB * (mel.len() as f32).sqrt();
    let mut pixels = Vec::with_capacity(options.rows() * options.frames());
    for (k, row) in coefficients.iter().enumerate() {
        for t in 0..options.frames() {
            let c = row.get(t).copied().unwrap_or(0.0);
            let q = if k == 0 {
                255.0 * (1.0 + c / full)
            } else {
                128.0 + c * 1.27
            };
            pixels.push(q.round().clamp(0.0, 255.0) as u8);
        }
    }
    pixels
}

/// The spectrogram as a grayscale image (1 × bands × frames, low frequencies at the bottom):
/// 255 at the clip's loudest point, 0 at 80 dB below it; silence is black. With MFCCs chosen,
/// their image instead ([`mfcc_pixels`]).
pub fn spectrogram_pixels(samples: &[f32], options: &AudioOptions) -> Vec<u8> {
    let mel = log_mel(
        samples,
        SAMPLE_RATE,
        options.n_fft(),
        options.hop(),
        options.mel_bands,
    );
    let top = mel
        .iter()
        .flatten()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let silent = top < -90.0;
    if options.mfcc > 0 {
        if silent {
            return vec![0; options.rows() * options.frames()];
        }
        return mfcc_pixels(&mel, top, options);
    }
    let mut pixels = Vec::with_capacity(options.mel_bands * options.frames());
    for row in mel.iter().rev() {
        for t in 0..options.frames() {
            let v = row.get(t).copied().unwrap_or(top - TOP_DB);
            let q = if silent {
                0.0
            } else {
                ((v - (top - TOP_DB)) / TOP_DB * 255.0).round()
            };
            pixels.push(q.clamp(0.0, 255.0) as u8);
        }
    }
    pixels
}

/// Decodes, resamples and turns one file into its spectrogram image, with the file's length and
/// rate. Results are kept on disk (see [`FeatureFile`]), so importing the same clips again with
/// the same settings skips decoding and the FFTs.
pub fn audio_file_pixels(
    path: &Path,
    options: &AudioOptions,
) -> Result<(Vec<u8>, f32, u32), Unusable> {
    audio_file_pixels_text(path, options).map_err(Unusable)
}

fn audio_file_pixels_text(
    path: &Path,
    options: &AudioOptions,
) -> Result<(Vec<u8>, f32, u32), String> {
    let cached = FeatureFile::for_clip(path, options);
    if let Some(hit) = cached
        .as_ref()
        .and_then(|f| f.read(options.rows() * options.frames()))
    {
        return Ok(hit);
    }
    let clip = decode_audio_file(path)?;
    let samples = prepare_clip(&clip, options)?;
    let result = (
        spectrogram_pixels(&samples, options),
        clip.seconds(),
        clip.sample_rate,
    );
    if let Some(file) = cached {
        file.write(&result);
    }
    Ok(result)
}

/// Where one clip's features are cached: `<cache>/audio-features/<hash>.bin`, the hash covering
/// the file's bytes, every feature setting and the format of the features, so an edited file
/// or a changed setting is computed afresh. Holds the duration (f32), the rate (u32), then the
/// pixels.
struct FeatureFile(std::path::PathBuf);

impl FeatureFile {
    /// Bumped whenever the features computed from the same settings change.
    const VERSION: u32 = 2;

    fn for_clip(path: &Path, options: &AudioOptions) -> Option<Self> {
        use std::hash::{Hash, Hasher};
        let bytes = std::fs::read(path).ok()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        Self::VERSION.hash(&mut h);
        bytes.hash(&mut h);
        format!("{options:?}").hash(&mut h);
        let dir = crate::pretrained::cache::cache_root()?.join("audio-features");
        Some(Self(dir.join(format!("{:016x}.bin", h.finish()))))
    }

    /// The cached features, when the file is whole (`pixels` values after the header); a file
    /// cut short by a crash is computed again.
    fn read(&self, pixels: usize) -> Option<(Vec<u8>, f32, u32)> {
        let bytes = std::fs::read(&self.0).ok()?;
        let (head, pixels) = bytes
            .split_at_checked(8)
            .filter(|(_, p)| p.len() == pixels)?;
        let seconds = f32::from_le_bytes(head[..4].try_into().ok()?);
        let rate = u32::from_le_bytes(head[4..].try_into().ok()?);
        Some((pixels.to_vec(), seconds, rate))
    }

    /// Keeps the features (a failed write only costs time next import).
    fn write(&self, (pixels, seconds, rate): &(Vec<u8>, f32, u32)) {
        let Some(dir) = self.0.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let mut bytes = Vec::with_capacity(8 + pixels.len());
        bytes.extend_from_slice(&seconds.to_le_bytes());
        bytes.extend_from_slice(&rate.to_le_bytes());
        bytes.extend_from_slice(pixels);
        crate::files::write_cache(&self.0, &bytes);
    }
}

/// Clips as spectrogram images, with what the files were.
#[derive(Clone, Debug, Default)]
pub struct AudioDataset {
    /// The spectrograms (1 × bands × frames each), classes, labels and files.
    pub images: ImageDataset,
    /// Each file's length in seconds (before padding or cutting).
    pub durations: Vec<f32>,
    /// Each file's own sample rate.
    pub sample_rates: Vec<u32>,
    /// The images hold MFCCs rather than log-mel spectrograms.
    pub mfcc: bool,
}

impl AudioDataset {
    /// No clips yet, shaped for `options` (spectrograms of mel bands × frames).
    pub fn empty(classes: Vec<String>, options: &AudioOptions) -> Self {
        Self {
            images: ImageDataset {
                classes,
                channels: 1,
                height: options.rows(),
                width: options.frames(),
                ..ImageDataset::default()
            },
            mfcc: options.mfcc > 0,
            ..Self::default()
        }
    }

    /// Adds one clip: its spectrogram, label, file, length and rate.
    pub fn push(
        &mut self,
        label: usize,
        path: PathBuf,
        (pixels, seconds, rate): (Vec<u8>, f32, u32),
    ) {
        self.images.pixels.extend_from_slice(&pixels);
        self.images.labels.push(label);
        self.images.paths.push(path);
        self.durations.push(seconds);
        self.sample_rates.push(rate);
    }
}

/// Files with these extensions are read as audio.
pub const AUDIO_EXTENSIONS: [&str; 5] = ["wav", "flac", "mp3", "ogg", "oga"];

/// Imports one sub-folder of clips per class, decoding in parallel; unusable files are reported.
/// The spectrograms go to the sample store in `store` (a folder) when given, else into memory.
pub fn import_audio_folder(
    root: &Path,
    options: &AudioOptions,
    store: Option<&Path>,
    cancel: Option<&AtomicBool>,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<(AudioDataset, ImportReport), DataError> {
    let decode = |path: &Path| {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if AUDIO_EXTENSIONS.contains(&ext.as_str()) {
            audio_file_pixels(path, options)
                .map_err(String::from)
                .map(|(pixels, seconds, rate)| (pixels, [seconds.to_bits(), rate]))
        } else {
            Err(format!(
                "not an audio file (.{ext}); use WAV, FLAC, MP3 or Ogg files"
            ))
        }
    };
    let mut dataset = AudioDataset::empty(Vec::new(), options);
    let spec = store.map(|dir| StoreSpec {
        dir,
        settings: format!("clips {options:?} {}", FeatureFile::VERSION),
        record_len: dataset.images.sample_len(),
    });
    let (prepared, mut report) =
        import_prepared(root, DataKind::Audio, spec, decode, cancel, progress)?;
    dataset.images.classes = report.classes.iter().map(|c| c.name.clone()).collect();
    dataset.images.pixels = prepared.pixels;
    dataset.images.stored = prepared.stored;
    dataset.images.labels = prepared.labels;
    dataset.images.paths = prepared.paths;
    dataset.durations = prepared
        .extras
        .iter()
        .map(|e| f32::from_bits(e[0]))
        .collect();
    dataset.sample_rates = prepared.extras.iter().map(|e| e[1]).collect();
    let longer = dataset
        .durations
        .iter()
        .filter(|&&d| d > options.clip_seconds + 0.05)
        .count();
    if longer * 5 > dataset.durations.len() {
        report.warnings.push(format!(
            "{longer} clips are longer than {:.2} s and are cut; raise the clip length to keep more",
            options.clip_seconds
        ));
    }
    Ok((dataset, report))
}
