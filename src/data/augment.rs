//! Training-time augmentation, applied while converting a u8 image to f32: flip, shift, rotation
//! and brightness for images; time shift and background noise for spectrograms of clips.

use rand::Rng;

use crate::project::Augmentation;

/// Writes image `src` (C×H×W u8) into `dst` as f32 in [0, 1], randomly transformed per `aug`.
pub fn augment_into(
    src: &[u8],
    channels: usize,
    height: usize,
    width: usize,
    aug: &Augmentation,
    rng: &mut dyn rand::RngCore,
    dst: &mut [f32],
) {
    let flip = aug.flip_horizontal && rng.random::<bool>();
    let max_dx = aug.max_shift.max(0.0) * width as f32;
    let max_dy = aug.max_shift.max(0.0) * height as f32;
    let dx = if max_dx > 0.0 {
        rng.random_range(-max_dx..=max_dx)
    } else {
        0.0
    };
    let dy = if max_dy > 0.0 {
        rng.random_range(-max_dy..=max_dy)
    } else {
        0.0
    };
    let max_angle = aug.max_rotation_degrees.max(0.0).to_radians();
    let angle = if max_angle > 0.0 {
        rng.random_range(-max_angle..=max_angle)
    } else {
        0.0
    };
    let max_b = aug.max_brightness.max(0.0);
    let brightness = if max_b > 0.0 {
        rng.random_range(-max_b..=max_b)
    } else {
        0.0
    };
    let (sin, cos) = angle.sin_cos();
    let cx = (width as f32 - 1.0) / 2.0;
    let cy = (height as f32 - 1.0) / 2.0;
    let plane = height * width;
    for y in 0..height {
        for x in 0..width {
            // Inverse mapping: where in the source does this output pixel come from?
            let u = x as f32 - cx - dx;
            let v = y as f32 - cy - dy;
            let mut sx = cos * u + sin * v + cx;
            let sy = -sin * u + cos * v + cy;
            if flip {
                sx = width as f32 - 1.0 - sx;
            }
            for c in 0..channels {
                let value = bilinear(&src[c * plane..(c + 1) * plane], height, width, sx, sy);
                dst[c * plane + y * width + x] = (value / 255.0 + brightness).clamp(0.0, 1.0);
            }
        }
    }
}

/// Samples a plane at a fractional position; outside the image counts as 0.
fn bilinear(plane: &[u8], height: usize, width: usize, x: f32, y: f32) -> f32 {
    let x0 = x.floor();
    let y0 = y.floor();
    let fx = x - x0;
    let fy = y - y0;
    let at = |xi: f32, yi: f32| -> f32 {
        if xi < 0.0 || yi < 0.0 || xi >= width as f32 || yi >= height as f32 {
            0.0
        } else {
            f32::from(plane[yi as usize * width + xi as usize])
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
    let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn no_augmentation_is_identity_and_flip_mirrors() {
        let src: Vec<u8> = (0..12).map(|v| (v * 20) as u8).collect(); // 1×3×4
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut dst = vec![0.0; 12];
        augment_into(&src, 1, 3, 4, &Augmentation::default(), &mut rng, &mut dst);
        for (d, s) in dst.iter().zip(&src) {
            assert!((d - f32::from(*s) / 255.0).abs() < 1e-6);
        }
        let aug = Augmentation {
            flip_horizontal: true,
            ..Augmentation::default()
        };
        let mut flipped_once = false;
        for _ in 0..10 {
            augment_into(&src, 1, 3, 4, &aug, &mut rng, &mut dst);
            if (dst[0] - f32::from(src[3]) / 255.0).abs() < 1e-6 {
                flipped_once = true;
                assert!((dst[3] - f32::from(src[0]) / 255.0).abs() < 1e-6);
            }
        }
        assert!(flipped_once);
    }
}

/// Writes spectrogram `src` (bands × frames u8, 255 = the clip's loudest point, 0 = 80 dB below)
/// into `dst` as f32 in [0, 1]: shifted in time (silence fills in) and with background noise added
/// in the power domain, per `aug`. With `mfcc` the rows are MFCCs instead: silence is their
/// image of silence (first row 0, the others mid-grey) and no noise is added, since noise does
/// not add to cepstral coefficients. Gain needs no augmentation: every image is already scaled
/// to its clip's loudest point.
pub fn augment_spectrogram(
    src: &[u8],
    bands: usize,
    frames: usize,
    aug: &Augmentation,
    mfcc: bool,
    rng: &mut dyn rand::RngCore,
    dst: &mut [f32],
) {
    const RANGE_DB: f32 = 80.0;
    let max_shift = (aug.max_time_shift.clamp(0.0, 1.0) * frames as f32).round() as i64;
    let shift = if max_shift > 0 {
        rng.random_range(-max_shift..=max_shift)
    } else {
        0
    };
    // Noise level relative to the loudest point, in dB (negative), or none.
    let noise =
        (aug.noise_db > 0.0 && !mfcc).then(|| -(aug.noise_db + rng.random_range(0.0..20.0f32)));
    for b in 0..bands {
        let silence = if mfcc && b > 0 { 128 } else { 0 };
        for t in 0..frames {
            let from = t as i64 - shift;
            let p = if (0..frames as i64).contains(&from) {
                src.get(b * frames + from as usize)
                    .copied()
                    .unwrap_or(silence)
            } else {
                silence
            };
            let mut v = f32::from(p) / 255.0;
            if let Some(level) = noise {
                // Power of the sound plus exponentially distributed noise power, back to dB.
                let db = v * RANGE_DB - RANGE_DB;
                let noise_power = 10f32.powf(level / 10.0) * -(1.0 - rng.random::<f32>()).ln();
                let total = 10f32.powf(db / 10.0) + noise_power;
                v = ((10.0 * total.log10() + RANGE_DB) / RANGE_DB).clamp(0.0, 1.0);
            }
            if let Some(d) = dst.get_mut(b * frames + t) {
                *d = v;
            }
        }
    }
}

#[cfg(test)]
mod spectrogram_tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn time_shift_moves_columns_and_noise_fills_silence() {
        let (bands, frames) = (2, 10);
        // One loud column at t = 5.
        let mut src = vec![0u8; bands * frames];
        src[5] = 255;
        src[frames + 5] = 255;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let aug = Augmentation {
            max_time_shift: 0.3,
            ..Augmentation::default()
        };
        let mut moved = false;
        for _ in 0..20 {
            let mut dst = vec![0f32; bands * frames];
            augment_spectrogram(&src, bands, frames, &aug, false, &mut rng, &mut dst);
            let at = dst.iter().position(|&v| v == 1.0).unwrap();
            assert!((2..=8).contains(&at), "{at}");
            assert_eq!(dst[frames + at], 1.0);
            assert_eq!(dst.iter().filter(|&&v| v > 0.0).count(), 2);
            moved |= at != 5;
        }
        assert!(moved);
        // Noise 20 dB down: silence rises to roughly 60/80 of full scale, the loud bin stays.
        let aug = Augmentation {
            noise_db: 20.0,
            ..Augmentation::default()
        };
        let mut dst = vec![0f32; bands * frames];
        augment_spectrogram(&src, bands, frames, &aug, false, &mut rng, &mut dst);
        assert!(dst[5] > 0.99);
        let quiet: f32 = dst.iter().filter(|&&v| v < 0.99).sum::<f32>() / 18.0;
        assert!((0.3..0.8).contains(&quiet), "{quiet}");
        // MFCC images get no noise, and shifted-in columns are silence's coefficients.
        let both = Augmentation {
            max_time_shift: 0.5,
            noise_db: 20.0,
            ..Augmentation::default()
        };
        let mut dst = vec![0f32; bands * frames];
        let src = vec![200u8; bands * frames];
        for _ in 0..10 {
            augment_spectrogram(&src, bands, frames, &both, true, &mut rng, &mut dst);
            for t in 0..frames {
                let (top, below) = (dst[t], dst[frames + t]);
                assert!(top == 200.0 / 255.0 || top == 0.0, "{top}");
                assert!(below == 200.0 / 255.0 || below == 128.0 / 255.0, "{below}");
            }
        }
    }
}
