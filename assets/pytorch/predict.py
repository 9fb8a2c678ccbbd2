"""Uses the model exported from Strata:

    python predict.py photo.jpg notes.txt ...     # pictures, clips or text files of the project's kind
    python predict.py --text "a few words"        # a text typed in
    python predict.py --table new_rows.csv        # every row of a CSV with the model's columns
    python predict.py --evaluate test             # accuracy on Strata's test split (or val/train)
    python predict.py --check                     # this model against Strata's own answers

--weights picks another weights file (e.g. trained.safetensors from train.py).
"""

import argparse
import os
import sys

import torch
from safetensors import safe_open

import data
import model as exported


def describe(recipe, probabilities):
    """'cat (0.93)', or the predicted number in the target's units."""
    if recipe["task"] == "regression":
        table = recipe["table"]
        return f"{probabilities[0].item() * table['target_std'] + table['target_mean']:.6g}"
    k = int(probabilities.argmax())
    return f"{recipe['classes'][k]} ({probabilities[k].item():.2f})"


def check(model, recipe):
    """Runs the model on the inputs Strata prepared (check.safetensors) and compares its answers
    with Strata's; also reads the same samples through data.py and compares the inputs."""
    path = os.path.join(data.HERE, "check.safetensors")
    with safe_open(path, framework="pt") as f:
        inputs, expected = f.get_tensor("inputs"), f.get_tensor("outputs")
        keys = (f.metadata() or {}).get("keys", "")
    got = exported.predict(model, inputs)
    diff = (got - expected).abs().max().item()
    same = (got.argmax(1) == expected.argmax(1)).sum().item()
    print(f"checked on {len(inputs)} samples: same class on {same}/{len(inputs)}, "
          f"largest difference {diff:.2e}")
    ok = diff <= 1e-4 and (recipe["task"] == "regression" or same == len(inputs))
    if keys and os.path.exists(recipe["root"]):
        # The same samples read from the data by data.py.
        items = [[k, 0.0 if recipe["task"] == "regression" else 0] for k in keys.split("\n")]
        read = torch.stack([x for x, _ in data.StrataData("test", recipe, items=items)])
        diff = (read - inputs).abs().max().item()
        if recipe["kind"] in ("image", "audio"):
            what = "pictures" if recipe["kind"] == "image" else "clips' spectrograms"
            mean = (read - inputs).abs().mean().item()
            print(f"data.py reads the same {what} with a largest pixel difference of "
                  f"{diff * 255:.1f} / 255 (mean {mean * 255:.2f})")
        else:
            print(f"data.py reads the same samples with a largest input difference of {diff:.2e}")
            ok = ok and diff <= 1e-4
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*")
    p.add_argument("--weights", default=os.path.join(data.HERE, "weights.safetensors"))
    p.add_argument("--text", action="append", default=[])
    p.add_argument("--table")
    p.add_argument("--evaluate", choices=["train", "val", "test"])
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    recipe = data.load_recipe()
    model = exported.Model()
    exported.load_weights(model, args.weights)
    model.eval()
    if args.check:
        sys.exit(0 if check(model, recipe) else 1)
    if args.evaluate:
        part = data.StrataData(args.evaluate, recipe)
        loader = torch.utils.data.DataLoader(part, batch_size=256)
        right, total, error = 0, 0, 0.0
        for x, y in loader:
            out = exported.predict(model, x)
            if recipe["task"] == "regression":
                error += ((out - y) ** 2).sum().item() * recipe["table"]["target_std"] ** 2
            else:
                right += (out.argmax(1) == y).sum().item()
            total += len(x)
        if recipe["task"] == "regression":
            print(f"{args.evaluate}: RMSE {(error / max(total, 1)) ** 0.5:.6g} on {total} rows")
        else:
            print(f"{args.evaluate}: accuracy {right / max(total, 1):.4f} on {total} samples")
        return
    inputs, names = [], []
    if recipe["kind"] == "text":
        encode = data.TextEncoder(recipe)
        for t in args.text:
            inputs.append(encode(t))
            names.append(repr(t[:40]))
        for f in args.files:
            with open(f, encoding="utf-8", errors="replace") as fh:
                inputs.append(encode(fh.read()))
            names.append(f)
    elif recipe["kind"] in ("image", "audio"):
        read = data.read_image if recipe["kind"] == "image" else data.clip_image
        for f in args.files:
            inputs.append(read(f, recipe))
            names.append(f)
    if args.table:
        header, rows = data.read_table(args.table, recipe)
        encode = data.RowEncoder(recipe, header)
        for line, row in sorted(rows.items()):
            inputs.append(encode(row))
            names.append(f"line {line}")
    if not inputs:
        p.error("nothing to predict: give files, --text, --table, --evaluate or --check")
    out = exported.predict(model, torch.stack(inputs))
    for name, probabilities in zip(names, out):
        print(f"{name}: {describe(recipe, probabilities)}")


if __name__ == "__main__":
    main()
