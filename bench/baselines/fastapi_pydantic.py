"""Baseline (b): FastAPI + pydantic, the other common seed shape.

Run: `MODEL_DIR=... python -m uvicorn bench.baselines.fastapi_pydantic:app --workers 1`.
A pydantic request model, one `model.predict` per request (a sync handler, so FastAPI
runs it in its threadpool), no batching, uvicorn's defaults (uvloop + httptools when
installed, access log on).
"""

import json
import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

MODEL_DIR = os.environ.get("MODEL_DIR", "model")
model = joblib.load(os.path.join(MODEL_DIR, "model.joblib"))
with open(os.path.join(MODEL_DIR, "metadata.json")) as f:
    metadata = json.load(f)

app = FastAPI()


class PredictRequest(BaseModel):
    instances: list[list[float]]


@app.get("/ping")
def ping():
    return {"status": "ok"}


@app.post("/predict")
def predict(req: PredictRequest):
    predictions = model.predict(np.array(req.instances))
    return {
        "predictions": predictions.tolist(),
        "model": {"name": metadata.get("name"), "version": metadata.get("version")},
    }
