"""Reads the data of the Strata project this folder was exported from, the way Strata reads it.

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
    as words of their own), or single lower-cased characters with white space runs as one."""
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
        if c in "!?":
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
        else:
            x = read_image(os.path.join(self.root, self.items[i][0]), self.recipe)
        return x, self.target(i)
