"""Model artifacts and backends for the server.

The server needs only what is exported here: `load_model` turns a source (local
directory, `/opt/ml/model`, `s3://...`) into a ready `Model`; every way that can fail is a
`ModelLoadError`. The artifact format is documented in `serving_app.models.artifact`.
"""

from serving_app.models.base import Model, ModelLoadError, ModelMetadata, OutputSpec
from serving_app.models.loader import load_model

__all__ = ["Model", "ModelLoadError", "ModelMetadata", "OutputSpec", "load_model"]
