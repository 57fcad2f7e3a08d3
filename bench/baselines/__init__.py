"""Baseline servers written the way typical seed projects write them, on purpose.

They are the yardstick for mlserve's figures, so they must stay naive: no batching,
no ONNX, no tuning. Both load `$MODEL_DIR/model.joblib` at import and answer
`POST /predict` with `{"predictions": [...], "model": {...}}`, like mlserve.
"""
