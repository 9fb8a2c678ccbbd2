"""PyTorch's side of the pretrained-network speed comparison (scripts/bench_pretrained.sh), the
same protocol as examples/bench_pretrained.rs: the network's forward pass on batches of made-up
inputs (seeded), one untimed batch first, inference mode, the threads given.

  EfficientNet-Lite0: timm's `tf_efficientnet_lite0` (the same architecture, TensorFlow-style
  "same" padding, nn modules; weights left random: the speed does not depend on them).
  MiniLM-L6: sentence-transformers' SentenceTransformer over the all-MiniLM-L6-v2 folder the
  tests unpack (its BertModel and mean pooling), fed the same kind of token ids as Strata.

Prints one JSON line: per_sec (images or texts per second over the median batch, each batch timed
alone), per_sec_all (over all batches together).
"""
import argparse
import json
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", required=True, choices=["efficientnet-lite0", "minilm-l6"])
    ap.add_argument("--model-dir", help="the all-MiniLM-L6-v2 folder (minilm-l6)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--size", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(a.seed)
    if a.backbone == "efficientnet-lite0":
        import timm

        size = a.size or 224
        model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).eval()

        def batch():
            return torch.rand(a.batch, 3, size, size, generator=g)

        def run(x):
            return model(x)
    else:
        from sentence_transformers import SentenceTransformer

        size = a.size or 64
        st = SentenceTransformer(a.model_dir, device="cpu").eval()

        def batch():
            ids = torch.randint(1000, 30000, (a.batch, size), generator=g)
            return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                    "token_type_ids": torch.zeros_like(ids)}

        def run(features):
            return st(dict(features))["sentence_embedding"]

    with torch.inference_mode():
        run(batch())
        inputs = [batch() for _ in range(a.batches)]
        secs = []
        for x in inputs:
            start = time.perf_counter()
            float(run(x).sum())
            secs.append(time.perf_counter() - start)
    print(json.dumps({"who": "pytorch " + torch.__version__, "backbone": a.backbone, "size": size,
                      "batch": a.batch, "batches": a.batches, "threads": a.threads,
                      "per_sec": round(a.batch / statistics.median(secs), 2),
                      "per_sec_all": round(a.batch * len(secs) / sum(secs), 2)}))


if __name__ == "__main__":
    main()
