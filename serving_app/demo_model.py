"""The demo model: a 50-tree random forest on 20 features, written as a servable artifact.

    python -m serving_app.demo_model --out build/demo-model

Trains in well under a second on synthetic data from scikit-learn (no download), seeded,
so every run writes the same model. The artifact holds model.joblib, sample.json (8 held-out
rows the server's tests and benchmark send), the verified ONNX graph with its check
(converted.onnx, converted-check.json: the server loads it without converting) and
metadata.json, written last with the sha256 of every other file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from serving_app.models.artifact import MODEL_FILES, write_metadata, write_sample
from serving_app.models.converted import store_conversion
from serving_app.models.base import OutputSpec

NAME = "demo-rf"
VERSION = "1"
N_FEATURES = 20
N_CLASSES = 3
N_TREES = 50
MAX_DEPTH = 8  # keeps model.joblib to a few hundred KB; accuracy barely changes past it
N_SAMPLE_ROWS = 8
FEATURE_NAMES = tuple(f"feature_{i:02d}" for i in range(N_FEATURES))


OUTPUTS = (OutputSpec("label", "INT64", ()), OutputSpec("probabilities", "FP32", (N_CLASSES,)))


def build_demo_artifact(out_dir: Path | str, *, seed: int = 0, convert: bool = True) -> Path:
    """Train the demo forest and write its artifact into `out_dir` (created if needed).

    `convert=False` leaves out the stored ONNX graph and its record, so the server converts at
    load time (what an artifact written by hand gets)."""
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    features, labels = make_classification(
        n_samples=4000,
        n_features=N_FEATURES,
        n_informative=10,
        n_redundant=4,
        n_classes=N_CLASSES,
        random_state=seed,
    )
    # float32 is what requests carry and what the trees compare in anyway (sklearn casts).
    features = features.astype(np.float32)
    train, held_out = slice(N_SAMPLE_ROWS, None), slice(0, N_SAMPLE_ROWS)
    forest = RandomForestClassifier(n_estimators=N_TREES, max_depth=MAX_DEPTH, random_state=seed, n_jobs=1)
    forest.fit(features[train], labels[train])
    joblib.dump(forest, out_dir / MODEL_FILES["sklearn"], compress=3)
    write_sample(out_dir, features[held_out])
    conversion = None
    if convert:
        conversion = store_conversion(out_dir, forest, feature_names=FEATURE_NAMES, input_dtype="float32",
                                      outputs=OUTPUTS, sample_rows=features[held_out])
    write_metadata(
        out_dir,
        name=NAME,
        version=VERSION,
        framework="sklearn",
        feature_names=FEATURE_NAMES,
        input_dtype="float32",
        outputs=OUTPUTS,
        conversion=conversion,
    )
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="artifact directory to write (created if needed)")
    parser.add_argument("--seed", type=int, default=0, help="data and forest seed; default 0")
    args = parser.parse_args(argv)
    out = build_demo_artifact(args.out, seed=args.seed)
    print(f"wrote {out}: " + ", ".join(sorted(path.name for path in out.iterdir())))


if __name__ == "__main__":
    main()
