//! Heat maps drawn over the picture or spectrogram they explain, the same for the app and for
//! `strata explain --out`.

use super::Map;

/// The colour of an importance in [0, 1]: dark blue (nothing) through green and yellow to red
/// (most important), a "jet"-like ramp people read as cold → hot.
pub fn heat_color(v: f32) -> [u8; 3] {
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let ramp = |x: f32| (1.5 - (4.0 * v - x).abs()).clamp(0.0, 1.0);
    let to_u8 = |x: f32| (x * 255.0).round() as u8;
    [to_u8(ramp(3.0)), to_u8(ramp(2.0)), to_u8(ramp(1.0))]
}

/// The sample's pixels (`channels × height × width`, u8, channel planes) as RGB with the heat
/// map laid over it: `opacity` 0 shows the picture, 1 only the map. Pixels the map rates
/// nothing stay as they are, so the picture shows through where the model did not look.
pub fn overlay(pixels: &[u8], channels: usize, map: &Map, opacity: f32) -> Option<Vec<u8>> {
    let Map::Grid {
        height,
        width,
        values,
    } = map
    else {
        return None;
    };
    let plane = height * width;
    if plane == 0 || values.len() != plane || pixels.len() < plane * channels.max(1) {
        return None;
    }
    let opacity = opacity.clamp(0.0, 1.0);
    let mut rgb = Vec::with_capacity(plane * 3);
    for (p, &v) in values.iter().enumerate() {
        let base = |c: usize| {
            let c = if channels >= 3 { c } else { 0 };
            f32::from(pixels.get(c * plane + p).copied().unwrap_or(0))
        };
        let heat = heat_color(v);
        // Weak importance tints weakly.
        let a = opacity * v.clamp(0.0, 1.0).sqrt();
        for (c, h) in heat.iter().enumerate() {
            let mixed = base(c) * (1.0 - a) + f32::from(*h) * a;
            rgb.push(mixed.round().clamp(0.0, 255.0) as u8);
        }
    }
    Some(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ramp_runs_from_blue_to_red() {
        assert_eq!(heat_color(0.0), [0, 0, 128]);
        assert_eq!(heat_color(1.0), [128, 0, 0]);
        let middle = heat_color(0.5);
        assert!(middle[1] == 255 && middle[0] > 100 && middle[2] > 100);
    }

    #[test]
    fn zero_opacity_shows_the_picture_and_unimportant_pixels_stay() {
        let map = Map::Grid {
            height: 1,
            width: 2,
            values: vec![0.0, 1.0],
        };
        assert_eq!(
            overlay(&[10, 200], 1, &map, 0.0),
            Some(vec![10, 10, 10, 200, 200, 200])
        );
        assert_eq!(
            overlay(&[10, 200], 1, &map, 1.0),
            Some(vec![10, 10, 10, 128, 0, 0])
        );
        assert_eq!(overlay(&[1], 1, &map, 0.5), None);
    }
}
