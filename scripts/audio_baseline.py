"""Spoken words for BENCHMARKS.md, written as class folders of 16-bit WAV files and split by voice
(the test voices are never heard in training), with a scikit-learn baseline — logistic regression
on spectrogram statistics (mean and standard deviation of each log-mel band) — scored on exactly
those files:

- `words`: ten command words synthesized with espeak-ng in many voices (accents × voice variants
  × speeds × pitches);
- `digits`: the ten digits "zero" to "nine" from two different speech synthesizers, espeak-ng
  (formant synthesis; 7 accents × 12 variants × 2 pitches) and Flite (CMU's diphone and clustergen
  voices kal, kal16, awb, rms, slt × 3 speeds × 2 pitches); the test voices are two Flite voices
  (rms, slt), one espeak-ng accent and two espeak-ng variants.

Usage: python scripts/audio_baseline.py OUT_DIR [words|digits]   (prints one JSON line; needs
espeak-ng, and flite for digits)
"""
import json
import os
import subprocess
import sys

import librosa
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

out = sys.argv[1]
which = sys.argv[2] if len(sys.argv) > 2 else "words"
ACCENTS = ["en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5"]
files = {"train": [], "test": []}


def espeak(part, word, accent, variant, speed, pitch):
    d = os.path.join(out, part, word)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"{accent}_{variant}_{speed}_{pitch}.wav")
    if not os.path.exists(path):
        subprocess.run(["espeak-ng", "-v", f"{accent}+{variant}", "-s", str(speed), "-p", str(pitch),
                        "-w", path, word], check=True, capture_output=True)
    files[part].append((path, word))


if which == "words":
    WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
    # Held-out voices: one accent entirely, and two variants in every accent.
    TEST_ACCENT, TEST_VARIANTS = "en-029", {"m4", "f3"}
    for accent in ACCENTS:
        for variant in VARIANTS:
            for speed in [130, 175]:
                for pitch in [35, 65]:
                    part = "test" if accent == TEST_ACCENT or variant in TEST_VARIANTS else "train"
                    for word in WORDS:
                        espeak(part, word, accent, variant, speed, pitch)
    title = "espeak-ng command words, split by voice"
else:
    DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    TEST_ACCENT, TEST_VARIANTS = "en-gb-scotland", {"m2", "f2"}
    for accent in ACCENTS:
        for variant in VARIANTS:
            for pitch in [35, 65]:
                part = "test" if accent == TEST_ACCENT or variant in TEST_VARIANTS else "train"
                for word in DIGITS:
                    espeak(part, word, accent, variant, 160, pitch)
    for voice in ["kal", "kal16", "awb", "rms", "slt"]:
        part = "test" if voice in ("rms", "slt") else "train"
        for stretch in ["0.8", "1.0", "1.25"]:
            for f0 in ["0.9", "1.15"]:
                for word in DIGITS:
                    d = os.path.join(out, part, word)
                    os.makedirs(d, exist_ok=True)
                    path = os.path.join(d, f"flite_{voice}_{stretch}_{f0}.wav")
                    if not os.path.exists(path):
                        # Flite's pitch is set in Hz per voice; scale its own mean instead.
                        mean = {"kal": 105, "kal16": 105, "awb": 115, "rms": 110, "slt": 170}[voice]
                        subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}",
                                        "--setf", f"int_f0_target_mean={mean * float(f0):.0f}",
                                        "-t", word, "-o", path], check=True, capture_output=True)
                    files[part].append((path, word))
    title = "espeak-ng + Flite spoken digits, split by voice"


def features(path):
    y, _ = librosa.load(path, sr=16000, mono=True, duration=1.0)
    y = np.pad(y, (0, max(0, 16000 - len(y))))
    s = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=400, hop_length=160,
                                                           n_mels=40), top_db=80.0)
    return np.concatenate([s.mean(axis=1), s.std(axis=1)])


xs = {p: np.array([features(f) for f, _ in files[p]]) for p in files}
ys = {p: [w for _, w in files[p]] for p in files}
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(xs["train"], ys["train"])
acc = accuracy_score(ys["test"], model.predict(xs["test"]))
print(json.dumps({"data": title,
                  "model": "scikit-learn logistic regression on log-mel band mean+std",
                  "accuracy": round(acc, 4), "train": len(ys["train"]), "test": len(ys["test"])}))
