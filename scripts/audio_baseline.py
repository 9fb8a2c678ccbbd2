"""Spoken words for BENCHMARKS.md: ten command words synthesized with espeak-ng in many voices
(accents × voice variants × speeds × pitches), split by voice (the test voices are never heard in
training), written as class folders of 16-bit WAV files; and a scikit-learn baseline, logistic
regression on spectrogram statistics (mean and standard deviation of each log-mel band), scored on
exactly those files.

Usage: python scripts/audio_baseline.py OUT_DIR   (prints one JSON line)
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
WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
ACCENTS = ["en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5"]
SPEEDS = [130, 175]
PITCHES = [35, 65]
# Held-out voices: one accent entirely, and two variants in every accent.
TEST_ACCENT, TEST_VARIANTS = "en-029", {"m4", "f3"}

files = {"train": [], "test": []}
for accent in ACCENTS:
    for variant in VARIANTS:
        for speed in SPEEDS:
            for pitch in PITCHES:
                voice = f"{accent}+{variant}"
                part = "test" if accent == TEST_ACCENT or variant in TEST_VARIANTS else "train"
                for word in WORDS:
                    d = os.path.join(out, part, word)
                    os.makedirs(d, exist_ok=True)
                    path = os.path.join(d, f"{accent}_{variant}_{speed}_{pitch}.wav")
                    if not os.path.exists(path):
                        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                                        "-w", path, word], check=True, capture_output=True)
                    files[part].append((path, word))


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
print(json.dumps({"data": "espeak-ng command words, split by voice",
                  "model": "scikit-learn logistic regression on log-mel band mean+std",
                  "accuracy": round(acc, 4), "train": len(ys["train"]), "test": len(ys["test"])}))
