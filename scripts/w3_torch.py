"""PyTorch peer for W3: the W2 CNN with an image-folder import in front, end to end.

Decodes every PNG of a class-folder tree once with Pillow (grayscale, resized to 28×28 only when
needed, kept as uint8 like Strata), then trains W2 (Adam 1e-3, cross-entropy) for --epochs in
shuffled batches converted to float per batch, and saves the weights. The fastest plain way to
do it in PyTorch (no DataLoader workers re-decoding every epoch). Prints one JSON line.

    python scripts/w3_torch.py --data $HOME/.cache/strata-mnist/train --epochs 5 --batch 64
"""
import argparse
import json
import os
import resource
import tempfile
import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--epochs", type=int, default=5)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
t_imported = time.perf_counter()

classes = sorted(d for d in os.listdir(args.data) if os.path.isdir(os.path.join(args.data, d)))
images, labels, skipped = [], [], 0
for ci, c in enumerate(classes):
    folder = os.path.join(args.data, c)
    for name in sorted(os.listdir(folder)):
        try:
            with Image.open(os.path.join(folder, name)) as im:
                im = im.convert("L")
                if im.size != (28, 28):
                    im = im.resize((28, 28), Image.BILINEAR)
                images.append(np.asarray(im, dtype=np.uint8))
                labels.append(ci)
        except OSError:
            skipped += 1
X = torch.from_numpy(np.stack(images)).unsqueeze(1)
Y = torch.tensor(labels)
t_decoded = time.perf_counter()

model = nn.Sequential(
    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, len(classes)),
)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
gen = torch.Generator().manual_seed(args.seed)
model.train()
for _ in range(args.epochs):
    perm = torch.randperm(X.shape[0], generator=gen)
    for i in range(0, X.shape[0], args.batch):
        idx = perm[i:i + args.batch]
        xb = X[idx].float().div_(255.0)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), Y[idx])
        loss.backward()
        opt.step()
with tempfile.TemporaryDirectory() as d:
    torch.save(model.state_dict(), os.path.join(d, "weights.pt"))
t_end = time.perf_counter()

print(json.dumps(dict(
    framework="torch", version=torch.__version__, workload="w3", batch=args.batch,
    epochs=args.epochs, images=len(images), skipped=skipped, threads=torch.get_num_threads(),
    import_torch_secs=round(t_imported - T0, 3), decode_secs=round(t_decoded - t_imported, 3),
    train_secs=round(t_end - t_decoded, 3), total_secs=round(t_end - T0, 3),
    train_sps=round(len(images) * args.epochs / (t_end - t_decoded)),
    last_loss=round(loss.item(), 4),
    peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
)))
