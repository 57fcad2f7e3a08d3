"""Settings -> `ModelStoreArgs`: store versions resolved as they are, local artifact directories
(dev) checked, staged under `build/model-store/` and uploaded by the stack as `local-<digest>`."""

from __future__ import annotations

from pathlib import Path

from components.model_store import ModelStoreArgs, TrackModel
from mlserve.models.staging import stage_local
from mlserve.stack.settings import Settings
from mlserve.stack.settings.base import NAMESPACE
from mlserve.stack.settings.models import ModelRef
from serving_app.models.base import ModelLoadError

ROOT = Path(__file__).resolve().parents[3]
"""The project directory (where Pulumi.yaml is): local model directories are relative to it."""
DEMO_MODEL_COMMAND = "python -m serving_app.demo_model --out build/demo-model"


def track_model(key: str, ref: ModelRef, *, root: Path | None = None, staging_dir: Path | None = None) -> TrackModel:
    """The version a `models.<track>` reference names; a local directory is staged for upload.
    Raises ValueError naming the stack-file key and how to fix it."""
    if not ref.is_local:
        return TrackModel(name=ref.name, version=ref.version)
    directory = (root or ROOT) / ref.local_path
    if not directory.is_dir():
        hint = f" (make it with `{DEMO_MODEL_COMMAND}`)" if ref.local_path == "build/demo-model" else (
            " (make one with `python -m mlserve.models package ...`)")
        raise ValueError(f"{NAMESPACE}:models.{key} = {ref.text!r}: no such directory {directory}{hint}")
    try:
        staged = stage_local(directory, staging_dir or (root or ROOT) / "build" / "model-store")
    except ModelLoadError as error:
        raise ValueError(f"{NAMESPACE}:models.{key} = {ref.text!r}: not a servable artifact: {error}") from None
    return TrackModel(name=staged.name, version=staged.version,
                      upload_files={relative: str(path) for relative, path in staged.files.items()})


def model_store_args(settings: Settings, stack: str) -> ModelStoreArgs:
    """The store of a stack whose settings name `models` (the caller checks it is set)."""
    if settings.models is None:
        raise ValueError(f"{NAMESPACE}:models: not set, so there is no model store to build")
    tracks = {track: track_model(track, ref) for track, ref in settings.models.served().items()}
    store = settings.model_store
    return ModelStoreArgs(
        stack=stack,
        region=settings.region,
        tracks=tracks,
        noncurrent_version_expiry_days=store.noncurrent_version_expiry_days,
        access_logging=store.access_logging,
        log_retention_days=store.log_retention_days,
        force_destroy=store.force_destroy,
        protect=settings.cluster.deletion_protection,
    )
