#!/usr/bin/env python3
"""Makes sample_data/words/: 4 spoken words (yes, no, up, down), 24 clips each, synthesised by
espeak-ng with 12 English voices x voice variants, speeds and pitches drawn from a fixed seed, then
stored by sox as 8 kHz mono mu-law WAV (about 5 kB a clip). Needs: apt-get install espeak-ng sox.
The clips are synthetic speech: small enough to ship, varied enough that a model has to learn the
word rather than the voice; real recordings are what a user brings.
"""
import pathlib
import random
import shutil
import subprocess
import tempfile

WORDS = ["yes", "no", "up", "down"]
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
          "en-gb-x-gbcwmd", "en-gb-x-gbcwmd", "en-us", "en-gb", "en-029", "en-gb-x-rp"]
VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+f1", "+f2", "+f3", "+f4", "+klatt", "+croak", "+whisper"]
PER_WORD = 24

out = pathlib.Path(__file__).resolve().parent.parent / "sample_data" / "words"
shutil.rmtree(out, ignore_errors=True)
rng = random.Random(7)
with tempfile.TemporaryDirectory() as tmp:
    for word in WORDS:
        (out / word).mkdir(parents=True)
        for i in range(PER_WORD):
            voice = VOICES[i % len(VOICES)] + rng.choice(VARIANTS)
            speed = rng.randint(120, 200)
            pitch = rng.randint(20, 80)
            raw = pathlib.Path(tmp) / "raw.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                            "-w", str(raw), word], check=True)
            subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-e", "u-law",
                            str(out / word / f"{word}_{i:02d}.wav"),
                            "silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%",
                            "reverse", "pad", "0.1", "0.1"], check=True)
print(f"wrote {sum(1 for _ in out.rglob('*.wav'))} clips to {out}")
