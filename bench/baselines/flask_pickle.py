"""Baseline (a): Flask + pickle, the most common seed shape.

Run: `MODEL_DIR=... python -m bench.baselines.flask_pickle --host 127.0.0.1 --port 8001`.
Served by Flask's own `app.run(threaded=True)` (werkzeug's development server, one
process, a thread per connection): that is what these seeds ship, gunicorn is not
installed here. Werkzeug's per-request access log stays on, as in the seeds.
"""

import argparse
import json
import os

import joblib
import numpy as np
from flask import Flask, jsonify, request

MODEL_DIR = os.environ.get("MODEL_DIR", "model")
model = joblib.load(os.path.join(MODEL_DIR, "model.joblib"))
with open(os.path.join(MODEL_DIR, "metadata.json")) as f:
    metadata = json.load(f)

app = Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping():
    return "ok"


@app.route("/predict", methods=["POST"])
def predict():
    predictions = model.predict(np.array(request.json["instances"]))
    return jsonify(
        {
            "predictions": predictions.tolist(),
            "model": {"name": metadata.get("name"), "version": metadata.get("version")},
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port, threaded=True)
