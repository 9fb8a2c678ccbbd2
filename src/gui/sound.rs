//! Playing a clip: the speakers (rodio, opened on first use) or a null output that records what
//! it was asked to play (tests, and machines without a sound device are told so).

use std::num::NonZero;
use std::path::{Path, PathBuf};

/// A clip that was played, as the null output records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Played {
    /// The file.
    pub path: PathBuf,
    /// Mono samples sent to the output.
    pub samples: usize,
    /// Their sample rate.
    pub sample_rate: u32,
}

/// Where clips are played.
pub enum SoundOutput {
    /// The default sound device, opened when the first clip is played.
    Speakers(Option<Speakers>),
    /// No device: what would have been played is recorded.
    Null(Vec<Played>),
}

/// An open sound device and the player feeding it.
pub struct Speakers {
    // Kept open for the player; dropping it stops the sound.
    _sink: rodio::MixerDeviceSink,
    player: rodio::Player,
}

impl SoundOutput {
    /// The default sound device.
    pub fn speakers() -> Self {
        Self::Speakers(None)
    }

    /// An output that plays nothing and records each clip.
    pub fn null() -> Self {
        Self::Null(Vec::new())
    }

    /// Clips played so far (the null output only).
    pub fn played(&self) -> &[Played] {
        match self {
            Self::Null(log) => log,
            Self::Speakers(_) => &[],
        }
    }

    /// Plays `path` from its start, stopping what was playing; returns a line for the status bar.
    pub fn play(&mut self, path: &Path) -> Result<String, String> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let clip = crate::data::decode_audio_file(path)
            .map_err(|e| format!("{name} cannot be played: {}", e.0))?;
        let seconds = clip.seconds();
        let rate = NonZero::new(clip.sample_rate)
            .ok_or_else(|| format!("{name} cannot be played: it has no sample rate"))?;
        match self {
            Self::Null(log) => log.push(Played {
                path: path.to_owned(),
                samples: clip.samples.len(),
                sample_rate: clip.sample_rate,
            }),
            Self::Speakers(slot) => {
                if slot.is_none() {
                    *slot = Some(Speakers::open()?);
                }
                if let Some(speakers) = slot {
                    speakers.player.clear();
                    speakers.player.append(rodio::buffer::SamplesBuffer::new(
                        NonZero::<u16>::MIN,
                        rate,
                        clip.samples,
                    ));
                    speakers.player.play();
                }
            }
        }
        Ok(format!("Playing {name} ({seconds:.1} s)"))
    }
}

impl Speakers {
    fn open() -> Result<Self, String> {
        let mut sink = rodio::DeviceSinkBuilder::open_default_sink().map_err(|e| {
            format!(
                "No sound output could be opened ({e}); clips cannot be played on this computer"
            )
        })?;
        sink.log_on_drop(false);
        let player = rodio::Player::connect_new(sink.mixer());
        Ok(Self {
            _sink: sink,
            player,
        })
    }
}
