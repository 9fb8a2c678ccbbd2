"""Summarizes the JSON lines of scripts/bench_side_by_side.sh (stdin): per workload and batch the
median (min–max) of each framework's training and inference samples/s, Strata's ratios against
PyTorch and Keras, and peak memory. Prints a Markdown table."""
import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
acc = defaultdict(list)
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    d = json.loads(line)
    fw = d["framework"].split("-")[0]  # keras-tf → keras
    if d.get("mode") == "acc":
        acc[(d["workload"], fw)].append(d["test_acc"])
    elif "train_sps" in d:
        runs[(d["workload"], d["batch"], fw)].append(d)


def stat(values):
    return statistics.median(values), min(values), max(values)


def fmt(values):
    m, lo, hi = stat(values)
    return f"{m:,.0f} ({lo:,.0f}–{hi:,.0f})"


print("| workload | batch | rounds | Strata train/s | PyTorch train/s | Keras train/s | train ÷ PyTorch | train ÷ Keras | infer ÷ PyTorch | infer ÷ Keras | peak RSS MB Strata / PyTorch / Keras |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (w, b) in sorted({(w, b) for (w, b, _) in runs}):
    s, t, k = (runs.get((w, b, fw), []) for fw in ("strata", "torch", "keras"))
    if not s:
        continue

    def col(rs, key):
        return fmt([r[key] for r in rs]) if rs else "–"

    def ratio(key, other):
        if not other:
            return "–"
        return f"**{stat([r[key] for r in s])[0] / stat([r[key] for r in other])[0]:.2f}×**"

    def rss(rs):
        return f"{stat([r['peak_rss_mb'] for r in rs])[0]:.0f}" if rs else "–"

    print(f"| {w.upper()} | {b} | {len(s)} | {col(s, 'train_sps')} | {col(t, 'train_sps')} | {col(k, 'train_sps')} "
          f"| {ratio('train_sps', t)} | {ratio('train_sps', k)} | {ratio('infer_sps', t)} | {ratio('infer_sps', k)} "
          f"| {rss(s)} / {rss(t)} / {rss(k)} |")
if acc:
    print()
    print("| workload | Strata test accuracy | PyTorch | Keras |")
    print("|---|---|---|---|")
    for w in sorted({w for (w, _) in acc}):
        cells = [", ".join(f"{a:.3f}" for a in acc.get((w, fw), [])) or "–" for fw in ("strata", "torch", "keras")]
        print(f"| {w.upper()} | " + " | ".join(cells) + " |")
