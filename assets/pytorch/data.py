"""Reads the data of the Strata project this folder was exported from, the way Strata reads it:
pictures, texts, table rows or sound clips.

data.json says where the data is ("root"; pass another folder or file to read a copy elsewhere),
how each sample becomes the model's input, the classes, and the split Strata used: the same
samples for training, validation and test, each with its label (or target number).
"""

import csv
import json
import math
import os

import numpy as np
import torch
from torch.utils.data import Dataset

HERE = os.path.dirname(os.path.abspath(__file__))


def load_recipe(path=None):
    """data.json as a dict."""
    with open(path or os.path.join(HERE, "data.json"), encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------- pictures


def _resize(plane, size, resample):
    from PIL import Image

    return np.asarray(Image.fromarray(plane, mode="F").resize(size, resample), dtype=np.float32)


def read_image(path, recipe):
    """One picture as the model reads it: [C, H, W] float32 in [0, 1]. EXIF orientation applied,
    transparent pixels put on white, resized to exactly the project's size (triangle filter, the
    aspect ratio not kept), grayscale by BT.601 luma when the project has one channel."""
    from PIL import Image, ImageOps

    spec = recipe["image"]
    w, h, channels = spec["width"], spec["height"], spec["channels"]
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGBA")
        rgba = np.asarray(img, dtype=np.float32)
    planes = [rgba[:, :, c] for c in range(4)]
    if rgba.shape[1] > 4 * w and rgba.shape[0] > 4 * h:
        # A photo many times the target is averaged down to twice it first, as Strata does.
        planes = [_resize(p, (2 * w, 2 * h), Image.BOX) for p in planes]
    # Each channel on its own (no premultiplied alpha), rounded to bytes as Strata's resize.
    planes = [np.clip(np.round(_resize(p, (w, h), Image.BILINEAR)), 0, 255) for p in planes]
    a = planes[3] / 255.0
    r, g, b = (np.clip(np.round(p * a + 255.0 * (1.0 - a)), 0, 255) for p in planes[:3])
    if channels == 1:
        out = np.clip(np.round(0.299 * r + 0.587 * g + 0.114 * b), 0, 255)[None]
    else:
        out = np.stack([r, g, b])
    return torch.from_numpy((out / 255.0).astype(np.float32))


# ---------------------------------------------------------------- texts


def tokenize(text, kind):
    """Strata's tokens: lower-cased words (letters and digits with inner apostrophes; '!' and '?'
    as words of their own, or every mark but white space for "words_and_marks"), or single
    lower-cased characters with white space runs as one."""
    tokens = []
    if kind == "characters":
        space = False
        for c in text.strip():
            if c.isspace():
                space = True
                continue
            if space:
                tokens.append(" ")
                space = False
            tokens.extend(c.lower())
        return tokens
    word = ""
    for i, c in enumerate(text):
        nxt = text[i + 1] if i + 1 < len(text) else ""
        inner_apostrophe = c in "'\u2019" and word and nxt.isalnum()
        if c.isalnum() or inner_apostrophe:
            word += c.lower()
            continue
        if word:
            tokens.append(word)
            word = ""
        if c in "!?" or (kind == "words_and_marks" and not c.isspace()):
            tokens.append(c)
    if word:
        tokens.append(word)
    return tokens


class TextEncoder:
    """Texts → the model's token ids (floats, as Strata feeds them), cut or padded."""

    def __init__(self, recipe):
        spec = recipe["text"]
        self.kind = spec["tokenizer"]
        self.length = spec["length"]
        self.pad_id = spec["pad_id"]
        self.unknown_id = spec["unknown_id"]
        self.index = {t: i for i, t in enumerate(spec["tokens"])}
        self.tokenizer = None
        if self.kind == "file":
            from tokenizers import Tokenizer  # pip install tokenizers

            self.tokenizer = Tokenizer.from_str(spec["tokenizer_json"])

    def ids(self, text):
        if self.tokenizer is not None:
            return self.tokenizer.encode(text, add_special_tokens=True).ids
        return [self.index.get(t, self.unknown_id) for t in tokenize(text, self.kind)]

    def __call__(self, text):
        out = np.full(self.length, self.pad_id, dtype=np.float32)
        ids = self.ids(text)[: self.length]
        out[: len(ids)] = ids
        return torch.from_numpy(out)


# ---------------------------------------------------------------- tables


def csv_rows(path, delimiter):
    """(line number where the row starts, fields) for every row of a CSV file."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f, delimiter=delimiter)
        start = 1
        for row in reader:
            if row:
                yield start, row
            start = reader.line_num + 1


def _number(field):
    try:
        v = float(field.strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


class RowEncoder:
    """Table rows → the model's inputs: numbers standardised with the training rows' mean and
    standard deviation (missing ones become the mean), categories one-hot (unseen ones all
    zeros)."""

    def __init__(self, recipe, header):
        self.columns = recipe["table"]["columns"]
        names = [h.strip().lower() for h in header]
        self.positions = []
        for c in self.columns:
            name = c["name"].strip().lower()
            if name not in names:
                raise KeyError(f"the table lacks the column '{c['name']}' the model reads")
            self.positions.append(names.index(name))

    def __call__(self, row):
        out = []
        for c, p in zip(self.columns, self.positions):
            field = row[p] if p < len(row) else ""
            kind = c["kind"]
            if kind["kind"] == "number":
                v = _number(field)
                v = kind["mean"] if v is None else v
                out.append((v - kind["mean"]) / kind["std"])
            else:
                values = kind["values"]
                one_hot = [0.0] * len(values)
                if field.strip() in values:
                    one_hot[values.index(field.strip())] = 1.0
                out.extend(one_hot)
        return torch.tensor(out, dtype=torch.float32)


def read_table(path, recipe):
    """The header and the rows by line number of the project's CSV file."""
    spec = recipe["csv"]
    rows = list(csv_rows(path, spec["delimiter"]))
    if spec["has_header"] and rows:
        header = rows[0][1]
        rows = rows[1:]
    else:
        width = max((len(r) for _, r in rows), default=0)
        header = [f"column {i + 1}" for i in range(width)]
    return header, dict(rows)


def _line(key):
    return int(key.split()[-1])


# ---------------------------------------------------------------- sound clips

SAMPLE_RATE = 16000
TOP_DB = 80.0


def _ulaw(b):
    b = ~b.astype(np.int32) & 0xFF
    sign, exponent, mantissa = b & 0x80, (b >> 4) & 0x07, b & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude) / 32768.0


def _alaw(b):
    b = b.astype(np.int32) ^ 0x55
    sign, exponent, mantissa = b & 0x80, (b >> 4) & 0x07, b & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    return np.where(sign != 0, magnitude, -magnitude) / 32768.0


def read_wav(path):
    """A WAV file's samples mixed to mono, and its rate (PCM 8/16/24/32-bit, float, µ-law, A-law);
    other formats through the soundfile package when it is installed."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        import soundfile  # pip install soundfile (FLAC, MP3, Ogg)

        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
        return samples.mean(axis=1), rate
    pos, fmt, body = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if cid == b"fmt ":
            fmt = data[pos + 8:pos + 8 + size]
        elif cid == b"data":
            body = data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    if fmt is None or body is None:
        raise ValueError(f"{path}: not a WAV file that can be read")
    tag, channels, rate = (int.from_bytes(fmt[0:2], "little"), int.from_bytes(fmt[2:4], "little"),
                           int.from_bytes(fmt[4:8], "little"))
    bits = int.from_bytes(fmt[14:16], "little")
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = int.from_bytes(fmt[24:26], "little")  # WAVE_FORMAT_EXTENSIBLE's sub-format
    width = max(bits // 8, 1)
    body = body[: len(body) - len(body) % (width * channels)]
    if tag == 1 and bits == 8:
        x = (np.frombuffer(body, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif tag == 1 and bits == 16:
        x = np.frombuffer(body, "<i2") / 32768.0
    elif tag == 1 and bits == 24:
        b = np.frombuffer(body, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)
    elif tag == 1 and bits == 32:
        x = np.frombuffer(body, "<i4") / float(1 << 31)
    elif tag == 3:
        x = np.frombuffer(body, "<f4" if bits == 32 else "<f8").astype(np.float64)
    elif tag == 7:
        x = _ulaw(np.frombuffer(body, np.uint8))
    elif tag == 6:
        x = _alaw(np.frombuffer(body, np.uint8))
    else:
        raise ValueError(f"{path}: WAV encoding {tag} ({bits} bits) is not read by data.py")
    return x.reshape(-1, channels).mean(axis=1), rate


def resample(x, rate):
    """`x` at 16 kHz, band-limited (by FFT; Strata's own resampler differs by a little)."""
    if rate == SAMPLE_RATE or len(x) == 0:
        return x
    n = int(round(len(x) * SAMPLE_RATE / rate))
    spectrum = np.fft.rfft(x)
    keep = min(len(spectrum), n // 2 + 1)
    out = np.zeros(n // 2 + 1, dtype=complex)
    out[:keep] = spectrum[:keep]
    return np.fft.irfft(out, n) * (n / len(x))


def _hz_to_mel(hz):
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0
    return min_log_mel + math.log(hz / min_log_hz) / logstep if hz >= min_log_hz else hz / f_sp


def _mel_to_hz(mel):
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, math.log(6.4) / 27.0
    return min_log_hz * math.exp(logstep * (mel - min_log_mel)) if mel >= min_log_mel else mel * f_sp


def mel_filters(n_fft, bands, rate=SAMPLE_RATE):
    """Slaney-normalised triangular mel filters [bands, n_fft/2 + 1] (librosa's defaults)."""
    lo, hi = _hz_to_mel(0.0), _hz_to_mel(rate / 2.0)
    hz = np.array([_mel_to_hz(lo + (hi - lo) * i / (bands + 1)) for i in range(bands + 2)])
    f = np.arange(n_fft // 2 + 1) * rate / n_fft
    lower = (f[None, :] - hz[:-2, None]) / (hz[1:-1] - hz[:-2])[:, None]
    upper = (hz[2:, None] - f[None, :]) / (hz[2:] - hz[1:-1])[:, None]
    return np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (hz[2:] - hz[:-2]))[:, None]


def clip_image(path, recipe):
    """One clip as the model reads it: [1, rows, frames] float32 in [0, 1] — mono, 16 kHz, cut or
    padded to the clip length, log-mel spectrogram (centred frames, periodic Hann window) within
    80 dB of its loudest point, high frequencies on top; or MFCCs when chosen."""
    a = recipe["audio"]
    x, rate = read_wav(path)
    clip = int(round(max(a["clip_seconds"], 0.05) * SAMPLE_RATE))
    need = int((clip + 4096) * rate / SAMPLE_RATE) + 4096
    x = resample(np.asarray(x[:need], dtype=np.float64), rate)[:clip]
    x = np.pad(x, (0, clip - len(x)))
    n_fft = max(int(round(max(a["window_ms"], 1.0) / 1000.0 * SAMPLE_RATE)), 16)
    hop = max(int(round(max(a["hop_ms"], 0.5) / 1000.0 * SAMPLE_RATE)), 1)
    frames_out = 1 + clip // hop
    padded = np.pad(x, (n_fft // 2, n_fft // 2))
    frames = 1 + (len(padded) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
    mel = 10.0 * np.log10(np.maximum(mel_filters(n_fft, a["mel_bands"]) @ power.T, 1e-10))
    top = mel.max()
    mel = np.maximum(mel, top - TOP_DB)
    full = np.full((mel.shape[0], frames_out), top - TOP_DB)
    full[:, : min(frames, frames_out)] = mel[:, :frames_out]
    silent = top < -90.0
    if a["mfcc"] > 0:
        count = min(a["mfcc"], a["mel_bands"])
        if silent:
            return torch.zeros(1, count, frames_out)
        n = full.shape[0]
        k = np.arange(count)[:, None]
        basis = np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n))
        basis *= np.where(k == 0, math.sqrt(1.0 / n), math.sqrt(2.0 / n))
        c = basis @ (full - top)
        rows = np.where(k == 0, 255.0 * (1.0 + c / (TOP_DB * math.sqrt(n))), 128.0 + c * 1.27)
        pixels = np.clip(np.round(rows), 0, 255)
    elif silent:
        pixels = np.zeros_like(full)
    else:
        pixels = np.clip(np.round((full - (top - TOP_DB)) / TOP_DB * 255.0), 0, 255)[::-1]
    return torch.from_numpy((pixels / 255.0).astype(np.float32))[None]


# ---------------------------------------------------------------- the split


class StrataData(Dataset):
    """One part of Strata's split ("train", "val" or "test") as (input, target) pairs: the class
    as an integer, or for regression the standardised number the model predicts."""

    def __init__(self, part, recipe=None, root=None, items=None):
        self.recipe = recipe or load_recipe()
        self.root = root or self.recipe["root"]
        self.items = self.recipe["split"][part] if items is None else items
        self.kind = self.recipe["kind"]
        self.regression = self.recipe["task"] == "regression"
        self.inputs = None
        if self.kind == "table":
            header, rows = read_table(self.root, self.recipe)
            encode = RowEncoder(self.recipe, header)
            self.inputs = [encode(rows[_line(k)]) for k, _ in self.items]
        elif self.kind == "text":
            encode = TextEncoder(self.recipe)
            self.inputs = [encode(t) for t in self._texts()]

    def _texts(self):
        if os.path.isdir(self.root):
            texts = []
            for key, _ in self.items:
                with open(os.path.join(self.root, key), encoding="utf-8", errors="replace") as f:
                    texts.append(f.read())
            return texts
        spec = self.recipe["text"]
        header, rows = read_table(self.root, {"csv": self.recipe["csv"]})
        names = [h.strip().lower() for h in header]
        column = names.index(spec["text_column"].strip().lower())
        return [rows[_line(k)][column] for k, _ in self.items]

    def __len__(self):
        return len(self.items)

    def target(self, i):
        value = self.items[i][1]
        if self.regression:
            table = self.recipe["table"]
            return torch.tensor([(value - table["target_mean"]) / table["target_std"]],
                                dtype=torch.float32)
        return torch.tensor(value, dtype=torch.long)

    def __getitem__(self, i):
        if self.inputs is not None:
            x = self.inputs[i]
        elif self.kind == "audio":
            x = clip_image(os.path.join(self.root, self.items[i][0]), self.recipe)
        else:
            x = read_image(os.path.join(self.root, self.items[i][0]), self.recipe)
        return x, self.target(i)
