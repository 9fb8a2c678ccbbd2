#!/usr/bin/env python3
"""Runs an ONNX image model exported by Strata on a folder of class folders with ONNX Runtime,
preparing every image from the file's own metadata only (image size, channels, pixel scaling,
class names), and prints the accuracy as JSON. With --expect-accuracy A it fails when the
accuracy differs from A by more than --tolerance (default one point).

    python3 onnx_runtime_check.py model.onnx sample_data/shapes --expect-accuracy 0.97
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def prepare(path, width, height, channels):
    """The recipe in the file's metadata: EXIF orientation, transparent pixels on white, resized
    to exactly width×height (bilinear/triangle), grayscale as BT.601 luma, channels first, /255."""
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGBA")
    img = img.resize((width, height), Image.BILINEAR)
    rgba = np.asarray(img, dtype=np.float32)
    alpha = rgba[..., 3:4] / 255.0
    rgb = np.clip(np.round(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)), 0, 255)
    if channels == 1:
        luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
        chw = np.clip(np.round(luma), 0, 255)[None, ...]
    else:
        chw = rgb.transpose(2, 0, 1)
    return (chw / 255.0).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("folder")
    ap.add_argument("--expect-accuracy", type=float)
    ap.add_argument("--tolerance", type=float, default=0.01)
    args = ap.parse_args()

    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("input.kind") != "image":
        sys.exit(f"not an image model: input.kind = {meta.get('input.kind')}")
    classes = json.loads(meta["classes"])
    width, height = int(meta["image.width"]), int(meta["image.height"])
    channels = int(meta["image.channels"])

    correct = total = 0
    root = pathlib.Path(args.folder)
    for label, name in enumerate(classes):
        files = sorted(
            p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS
        )
        for start in range(0, len(files), 64):
            batch = np.stack([prepare(p, width, height, channels) for p in files[start:start + 64]])
            (probs,) = session.run(["output"], {"input": batch})
            correct += int((probs.argmax(axis=1) == label).sum())
            total += len(batch)
    accuracy = correct / max(total, 1)
    print(json.dumps({"samples": total, "accuracy": accuracy, "runtime": f"onnxruntime {ort.__version__}"}))
    if args.expect_accuracy is not None and abs(accuracy - args.expect_accuracy) > args.tolerance:
        sys.exit(f"ONNX Runtime accuracy {accuracy:.4f} differs from Strata's {args.expect_accuracy:.4f}")


if __name__ == "__main__":
    main()
