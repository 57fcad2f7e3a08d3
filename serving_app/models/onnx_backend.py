"""ONNX Runtime backend: a `Model` over an `onnxruntime.InferenceSession`.

Serves both ONNX-native artifacts and scikit-learn models converted at load time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import onnxruntime

from serving_app.models.base import ModelLoadError, ModelMetadata
from serving_app.models.outputs import as_rows, conform

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

_ORT_INPUT_TYPES = {"float32": "tensor(float)", "float64": "tensor(double)"}


def choose_providers(available: Sequence[str], *, use_gpu: bool = True) -> list[str]:
    """Execution providers for a session, best first.

    CUDA first when this onnxruntime build has it (and `use_gpu`), with CPU after it so
    operators CUDA lacks (the tree ensembles among them) still run; otherwise CPU alone.
    Other providers (Azure, TensorRT, ...) are not used: they need setup this server
    does not do.
    """
    if use_gpu and CUDA in available:
        return [CUDA, CPU]
    return [CPU]


def session_options(*, intra_op_threads: int = 1, inter_op_threads: int = 1) -> onnxruntime.SessionOptions:
    """Session options for a server that runs one process per core.

    One intra-op and one inter-op thread by default: more threads in each process would
    fight the other processes for the same cores, and a per-request batch is too small to
    gain from them.
    """
    if intra_op_threads < 1 or inter_op_threads < 1:
        raise ValueError(
            f"thread counts must be >= 1, got intra_op_threads={intra_op_threads}, inter_op_threads={inter_op_threads}"
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def create_session(
    model: bytes, *, where: str, intra_op_threads: int = 1, inter_op_threads: int = 1, use_gpu: bool = True
) -> onnxruntime.InferenceSession:
    """An inference session over serialized ONNX; an unparsable model is a ModelLoadError at `where`."""
    providers = choose_providers(onnxruntime.get_available_providers(), use_gpu=use_gpu)
    options = session_options(intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads)
    try:
        return onnxruntime.InferenceSession(model, options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own unrelated exception classes (InvalidProtobuf, Fail, ...)
        raise ModelLoadError("corrupt model file", where, f"onnxruntime cannot load it: {exc}") from exc


class OnnxModel:
    """A `Model` served by ONNX Runtime.

    `output_names` maps each metadata output name to the graph output that fills it
    (identity for an ONNX-native artifact; `label` -> `label`, ... for a conversion).
    """

    def __init__(
        self,
        metadata: ModelMetadata,
        session: onnxruntime.InferenceSession,
        output_names: Mapping[str, str] | None = None,
        *,
        where: str,
    ) -> None:
        output_names = dict(output_names or {spec.name: spec.name for spec in metadata.outputs})
        self._check_graph(metadata, session, output_names, where)
        self.metadata = dataclasses.replace(metadata, runtime=f"onnxruntime[{session.get_providers()[0]}]")
        self._session = session
        self._input_name = session.get_inputs()[0].name
        self._graph_outputs = [output_names[spec.name] for spec in metadata.outputs]
        self._dtype = np.dtype(metadata.input_dtype)
        self.graph_origin = "the artifact's model.onnx" if metadata.framework == "onnx" else "converted at load"
        """Where the graph came from (logged at load)."""

    @staticmethod
    def _check_graph(
        metadata: ModelMetadata, session: onnxruntime.InferenceSession, output_names: Mapping[str, str], where: str
    ) -> None:
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError("model does not match metadata", where, f"graph has {len(inputs)} inputs, expected 1")
        graph_input = inputs[0]
        expected_type = _ORT_INPUT_TYPES[metadata.input_dtype]
        if graph_input.type != expected_type:
            raise ModelLoadError(
                "model does not match metadata",
                where,
                f"graph input {graph_input.name!r} is {graph_input.type}, "
                f"metadata input dtype {metadata.input_dtype} needs {expected_type}",
            )
        width = graph_input.shape[-1] if graph_input.shape else None
        if isinstance(width, int) and width != metadata.n_features:
            raise ModelLoadError(
                "model does not match metadata",
                where,
                f"graph input takes {width} features, metadata says {metadata.n_features}",
            )
        graph_outputs = {output.name: output.type for output in session.get_outputs()}
        for spec in metadata.outputs:
            graph_name = output_names.get(spec.name)
            if graph_name not in graph_outputs:
                raise ModelLoadError(
                    "model does not match metadata",
                    where,
                    f"output {spec.name!r} not among graph outputs {sorted(graph_outputs)}",
                )
            if not graph_outputs[graph_name].startswith("tensor("):
                # e.g. skl2onnx's ZipMap output, a list of dicts: convert with zipmap=False instead.
                raise ModelLoadError(
                    "model does not match metadata",
                    where,
                    f"graph output {graph_name!r} is {graph_outputs[graph_name]}, not a tensor",
                )

    def predict(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Rows (n, n_features) to {output name: array}, in `metadata.outputs` order."""
        rows = as_rows(rows, self._dtype, self.metadata.n_features)
        n_rows = rows.shape[0]
        if n_rows == 0:
            return {spec.name: conform(np.empty((0, *spec.shape)), spec, 0) for spec in self.metadata.outputs}
        raw = self._session.run(self._graph_outputs, {self._input_name: rows})
        return {spec.name: conform(value, spec, n_rows) for spec, value in zip(self.metadata.outputs, raw, strict=True)}
