"""Real tables for BENCHMARKS.md: writes the diabetes (regression), breast-cancer, wine and
handwritten-digits (8×8 pixel counts as 64 columns; classification) data shipped inside the
scikit-learn wheel as train/test CSV files, and scores scikit-learn baselines on exactly those
files: logistic regression / ridge (the classic ones) and gradient boosting.

Usage: python scripts/tables_baseline.py OUT_DIR [SEED]   (prints one JSON line per data set and
model; SEED, default 0, draws the 80/20 split)
"""
import gzip
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

out = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
os.makedirs(out, exist_ok=True)
data_dir = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data")


def write(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")


# Diabetes, raw units (age, sex, BMI, blood pressure, six blood serum values) → progression.
with gzip.open(os.path.join(data_dir, "diabetes_data_raw.csv.gz"), "rt") as f:
    x = np.array([[float(v) for v in line.split()] for line in f if line.strip()])
with gzip.open(os.path.join(data_dir, "diabetes_target.csv.gz"), "rt") as f:
    y = np.array([float(line) for line in f if line.strip()])
names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=seed)
fmt = lambda r, t: [("%g" % v) for v in r] + ["%g" % t]
write(f"{out}/diabetes_train.csv", names + ["progression"], [fmt(r, t) for r, t in zip(xtr, ytr)])
write(f"{out}/diabetes_test.csv", names + ["progression"], [fmt(r, t) for r, t in zip(xte, yte)])
for name, model in [("linear regression", LinearRegression()),
                    ("ridge (CV alpha)", make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))),
                    ("gradient boosting", HistGradientBoostingRegressor(random_state=seed))]:
    p = model.fit(xtr, ytr).predict(xte)
    print(json.dumps({"data": "diabetes", "seed": seed, "model": f"scikit-learn {name}", "r2": round(r2_score(yte, p), 4),
                      "mae": round(mean_absolute_error(yte, p), 2), "train": len(ytr), "test": len(yte)}))

# Classification: breast cancer (Wisconsin diagnostic: 30 measurements → malignant / benign),
# wine (13 chemical measurements → one of 3 cultivars), digits (8×8 grey counts → 0-9).
for name, bunch, target in [("cancer", load_breast_cancer(), "diagnosis"), ("wine", load_wine(), "cultivar"),
                            ("digits", load_digits(), "digit")]:
    labels = np.array([str(n) for n in bunch.target_names])[bunch.target]
    xtr, xte, ytr, yte = train_test_split(bunch.data, labels, test_size=0.2, random_state=seed, stratify=labels)
    header = [n.replace(" ", "_").replace("/", "_") for n in bunch.feature_names] + [target]
    fmt = lambda r, t: [("%g" % v) for v in r] + [t]
    write(f"{out}/{name}_train.csv", header, [fmt(r, t) for r, t in zip(xtr, ytr)])
    write(f"{out}/{name}_test.csv", header, [fmt(r, t) for r, t in zip(xte, yte)])
    for model_name, model in [("logistic regression (standardized)",
                                make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))),
                               ("gradient boosting", HistGradientBoostingClassifier(random_state=seed))]:
        p = model.fit(xtr, ytr).predict(xte)
        print(json.dumps({"data": name, "seed": seed, "model": f"scikit-learn {model_name}",
                          "accuracy": round(accuracy_score(yte, p), 4), "train": len(ytr), "test": len(yte)}))
