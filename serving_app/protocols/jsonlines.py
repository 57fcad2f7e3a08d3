"""JSON Lines (`application/jsonlines`, https://jsonlines.org): one JSON document per line.

SageMaker Batch Transform sends it line by line or in mini-batches of lines
(`SplitType=Line`), and data capture records it as JSON when its content type is listed.
On /invocations each non-empty line is one instance, exactly what one element of
`"instances"` is in the JSON form (today a list of numbers); the answer, with
`Accept: application/jsonlines`, is one line per row holding that row's prediction, as one
element of `"predictions"` would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from serving_app.errors import InvalidInput

MEDIA_TYPE = "application/jsonlines"
MEDIA_TYPE_BYTES = MEDIA_TYPE.encode()
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def parse_jsonlines(body: bytes) -> list[Any]:
    """The instances of a JSON Lines body, one per non-empty line; InvalidInput names the bad line."""
    instances = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            instances.append(orjson.loads(line))
        except orjson.JSONDecodeError as error:
            raise InvalidInput(f"JSON Lines line {number} is not JSON: {error}") from None
    if not instances:
        raise InvalidInput("JSON Lines body has no lines; expected one JSON row per line")
    return instances


def to_jsonlines(predictions: Any) -> bytes:
    """One JSON line per row (a row with several values, such as class probabilities, is a list)."""
    if isinstance(predictions, np.ndarray) and predictions.dtype.kind != "f":
        # orjson writes NumPy arrays and float scalars but not every integer scalar type (an ONNX
        # label is a `longlong`): integers and booleans become Python values, exactly. Floats stay
        # NumPy, so a float32 prints at its own width (0.7), as inside "predictions".
        predictions = predictions.tolist()
    return b"".join(orjson.dumps(row, option=_DUMPS_OPTIONS) + b"\n" for row in predictions)
