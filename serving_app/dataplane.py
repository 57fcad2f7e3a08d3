"""The transport-independent data plane: readiness, input validation, batched prediction.

Protocol adapters (SageMaker, Open Inference Protocol V2, plain /predict) parse their wire
format into rows (lists of numbers) and call `DataPlane.predict`; they never touch the
model or the batcher. The shape of KServe's `protocol/dataplane.py`.

Validation is split by cost. On the event loop, per request: the structure (a non-empty
list of rows, each exactly `n_features` long, or an object keyed by the model's feature
names, in any order, turned into that list) and each value's JSON type (int or float;
strings, booleans and nulls are refused). On the worker thread, once per batch: one numpy
array for the whole batch in the model's dtype, one finiteness check (a value can overflow
float32), one `predict`, then views for each request's rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from itertools import chain
from typing import Any

import numpy as np

from serving_app.admission import Admission, current_ticket
from serving_app.batching import MicroBatcher
from serving_app.errors import InvalidInput, ModelFailed, ModelNotFound, NotReady, PayloadTooLarge
from serving_app.metrics import Metrics
from serving_app.models.base import Model, ModelMetadata
from serving_app.settings import Settings

logger = logging.getLogger(__name__)

_NUMBER_TYPES = frozenset((int, float))


def _listed(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


class DataPlane:
    """One model behind a micro-batcher, with readiness and validation.

    Ready only after `start` ran a warm-up prediction through the whole path; not ready
    again once `drain` is called (SIGTERM).
    """

    def __init__(self, model: Model, settings: Settings, metrics: Metrics) -> None:
        self.model = model
        self.metadata: ModelMetadata = model.metadata
        self.settings = settings
        self.metrics = metrics
        self.n_features = self.metadata.n_features
        self.input_dtype = np.dtype(self.metadata.input_dtype)
        self.output_names = tuple(output.name for output in self.metadata.outputs)
        self._feature_positions = {name: position for position, name in enumerate(self.metadata.feature_names)}
        self.primary_output = self.output_names[0]
        self.batcher = MicroBatcher(
            self._run_batch,
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_batch_wait_ms / 1000,
            max_queued_rows=settings.max_queued_rows,
            timeout_s=settings.request_timeout_s,
            max_inline_s=settings.max_inline_batch_ms / 1000,
            observer=metrics,
        )
        self.admission = Admission(
            max_concurrent_requests=settings.max_concurrent_requests,
            max_queued_rows=settings.max_queued_rows,
            max_queued_bytes=settings.max_queued_bytes,
            max_rows_per_request=settings.max_rows_per_request,
            max_body_bytes=settings.max_body_bytes,
            max_queue_wait_s=settings.max_queue_wait_ms / 1000,
            queue_wait_target_s=settings.queue_wait_target_ms / 1000,
            timeout_s=settings.request_timeout_s,
            n_features=self.n_features,
            seconds_per_row=lambda: self.batcher.seconds_per_row,
            model_rows=lambda: self.batcher.queued_rows,
        )
        metrics.watch("queue_depth_rows", lambda: self.batcher.queued_rows)
        metrics.watch("queue_depth_requests", lambda: self.batcher.queued_requests)
        metrics.watch("requests_in_flight", lambda: self.admission.in_flight)
        metrics.watch("requests_waiting", lambda: len(self.admission.waiting))
        self.warmed_up = False
        self.draining = False

    @property
    def ready(self) -> bool:
        """True while predictions are taken: warmed up and not draining."""
        return self.warmed_up and not self.draining

    def not_ready_reason(self) -> str:
        if self.draining:
            return "server is shutting down"
        return "model is not warmed up yet"

    async def start(self) -> None:
        """Start the worker thread and run one warm-up prediction; then the plane is ready.

        The warm-up runs the same batch function as every request, so the first real
        request pays no lazy initialisation (ONNX Runtime allocates on its first run). It
        is not subject to `request_timeout_s`: a slow first call delays readiness, it does
        not fail startup.
        """
        self.batcher.start()
        started = time.perf_counter()
        [result] = await asyncio.to_thread(self._run_batch, [[[0.0] * self.n_features]])
        if isinstance(result, Exception):
            raise result
        self.metrics.set_gauge("model_warmup_seconds", time.perf_counter() - started)
        self.warmed_up = True
        self.metrics.set_gauge("ready", 1)
        self.metrics.start_publishing(asyncio.get_running_loop())
        logger.info("model ready", extra={"warmup_ms": round((time.perf_counter() - started) * 1000, 3)})

    def drain(self) -> None:
        """Stop taking new predictions (SIGTERM); those already queued still run."""
        if not self.draining:
            self.draining = True
            self.metrics.set_gauge("ready", 0)
            logger.info("draining: readiness is now false, in-flight requests finish")

    async def stop(self) -> None:
        """Stop the worker thread (after the HTTP server drained)."""
        self.drain()
        self.metrics.stop_publishing()
        await self.batcher.stop()

    def check_model(self, name: str, version: str | None = None) -> None:
        """Raise ModelNotFound unless `name` (and `version`, if given) is the served model."""
        if name != self.metadata.name:
            raise ModelNotFound(f"model {name!r} not found; this server serves {self.metadata.name!r}")
        if version is not None and version != self.metadata.version:
            raise ModelNotFound(f"model {name!r} has no version {version!r}; "
                                f"the served version is {self.metadata.version!r}")

    def check_rows(self, rows: Any) -> int:
        """Validate the structure and value types of `rows` (lists of numbers or objects keyed by feature
        name, or a 2-D float array from a reader that parsed straight into one); return how many there
        are. A row given as an object keyed by feature name is replaced in `rows` by its list."""
        if type(rows) is np.ndarray:
            return self._check_array(rows)
        if type(rows) is not list or not rows:
            raise InvalidInput("expected a non-empty list of rows, each a list of "
                               f"{self.n_features} numbers or an object keyed by feature name")
        n = len(rows)
        if n > self.settings.max_rows_per_request:
            raise PayloadTooLarge(f"{n} rows in one request; max_rows_per_request is "
                                  f"{self.settings.max_rows_per_request}")
        n_features = self.n_features
        number_types = _NUMBER_TYPES
        for index, row in enumerate(rows):
            if type(row) is not list or len(row) != n_features:
                if type(row) is dict:
                    row = rows[index] = self._by_name(row, index)
                elif type(row) is not list:
                    raise InvalidInput(f"row {index} is not a list of {n_features} numbers or an object "
                                       "keyed by feature name")
                else:
                    raise InvalidInput(f"row {index} has {len(row)} values; the model takes {n_features} features")
            if not number_types.issuperset(map(type, row)):
                for column, value in enumerate(row):
                    if type(value) not in number_types:
                        name = self.metadata.feature_names[column]
                        raise InvalidInput(f"row {index}, column {column}: {value!r} is not a number (feature {name!r})")
        return n

    def _by_name(self, row: dict[str, Any], index: int) -> list[Any]:
        """A row given as {feature name: value}, in any order, as the list the model takes; a
        missing or unknown name is InvalidInput naming it."""
        names = self.metadata.feature_names
        if len(row) == len(names):
            try:
                return [row[name] for name in names]
            except KeyError:
                pass
        missing = [name for name in names if name not in row]
        unknown = [name for name in row if name not in self._feature_positions]
        problems = []
        if missing:
            problems.append(f"missing feature{'s' if len(missing) > 1 else ''} {_listed(missing)}")
        if unknown:
            problems.append(f"unknown feature{'s' if len(unknown) > 1 else ''} {_listed(unknown)}")
        raise InvalidInput(f"row {index}: {'; '.join(problems)}; the model takes {_listed(list(names))}")

    def _check_array(self, rows: np.ndarray) -> int:
        n = len(rows)
        if rows.ndim != 2 or not n or rows.dtype.kind != "f":
            raise InvalidInput(f"expected a non-empty table of rows, each {self.n_features} numbers")
        if n > self.settings.max_rows_per_request:
            raise PayloadTooLarge(f"{n} rows in one request; max_rows_per_request is "
                                  f"{self.settings.max_rows_per_request}")
        if rows.shape[1] != self.n_features:
            raise InvalidInput(f"row 0 has {rows.shape[1]} values; the model takes {self.n_features} features")
        return n

    def predict(self, rows: list[list[float]] | np.ndarray) -> Awaitable[dict[str, Any]]:
        """Predict for one request's rows: awaits {output name: this request's slice}, in order.

        A plain function returning the batcher's future rather than a coroutine: one coroutine
        level less for every request to resume through.
        Raises (or the awaitable raises) NotReady, InvalidInput, PayloadTooLarge, Overloaded,
        PredictionTimeout, ModelFailed.
        """
        if not self.ready:
            raise NotReady(self.not_ready_reason())
        n = self.check_rows(rows)
        ticket = current_ticket.get()
        if ticket is None:  # called without the app's admission (tests, tools)
            return self.batcher.submit(rows, n)
        self.admission.resize(ticket, n, ticket.body_bytes)  # its real rows count from now on
        return self.batcher.submit(rows, n, ticket.deadline)  # request_timeout_s from its arrival

    # -- worker thread -----------------------------------------------------------------

    def _run_batch(self, payloads: list[list[list[float]] | np.ndarray]) -> list[Any]:
        """One model call for a whole batch; each request gets views of its own rows."""
        sizes = [len(payload) for payload in payloads]
        try:
            with np.errstate(over="ignore"):  # a value too big for float32 becomes inf, refused below
                if len(payloads) == 1:
                    batch = np.array(payloads[0], dtype=self.input_dtype)
                elif any(type(payload) is np.ndarray for payload in payloads):
                    batch = np.concatenate([np.asarray(payload, dtype=self.input_dtype) for payload in payloads])
                else:
                    batch = np.array(list(chain.from_iterable(payloads)), dtype=self.input_dtype)
            finite = bool(np.isfinite(batch).all())
        except (OverflowError, ValueError, TypeError):
            return self._run_one_by_one(payloads)
        if not finite:
            return self._run_one_by_one(payloads)
        try:
            outputs = self._predict(batch)
        except Exception:  # noqa: BLE001
            if len(payloads) == 1:
                logger.exception("model failed on a batch of %d rows", len(batch))
                return [ModelFailed("the model failed on this input; see the server log")]
            # Do not let one request's rows fail its neighbours: retry each alone.
            return self._run_one_by_one(payloads)
        return self._split(outputs, sizes)

    def _run_one_by_one(self, payloads: list[list[list[float]]]) -> list[Any]:
        """The slow path after a batch failed: find which requests are bad, run the rest."""
        results: list[Any] = []
        for payload in payloads:
            try:
                with np.errstate(over="ignore"):
                    rows = np.array(payload, dtype=self.input_dtype)
            except (OverflowError, ValueError, TypeError) as error:
                results.append(InvalidInput(f"rows are not {self.input_dtype} numbers: {error}"))
                continue
            bad = np.argwhere(~np.isfinite(rows))
            if len(bad):
                row, column = (int(i) for i in bad[0])
                value = payload[row][column]
                value = value.item() if type(payload) is np.ndarray else value  # 1e+40, not np.float64(1e+40)
                results.append(InvalidInput(f"row {row}, column {column}: {value!r} is not a "
                                            f"finite {self.input_dtype} number"))
                continue
            try:
                outputs = self._predict(rows)
            except Exception:  # noqa: BLE001
                logger.exception("model failed on a request of %d rows", len(payload))
                results.append(ModelFailed("the model failed on this input; see the server log"))
                continue
            results.extend(self._split(outputs, [len(payload)]))
        return results

    def _predict(self, rows: np.ndarray) -> dict[str, Any]:
        """Call the model and make each output serialisable: a C-contiguous float array
        (orjson writes those natively) or a Python list (integers, booleans, strings, objects)."""
        raw = self.model.predict(rows)
        outputs: dict[str, Any] = {}
        for name in self.output_names:
            array = np.asarray(raw[name])
            if array.shape[:1] != (len(rows),):
                raise ValueError(f"output {name!r} has shape {array.shape} for {len(rows)} rows")
            if array.dtype.kind in "OUSiub":
                # Strings and objects as Python lists; integers and booleans too, exactly and
                # cheaper to slice and to write (the same JSON as from NumPy). Floats stay NumPy,
                # so a float32 is written at its own width (0.7, not 0.699999988079071).
                outputs[name] = array.tolist()
            else:
                outputs[name] = np.ascontiguousarray(array)
        return outputs

    def _split(self, outputs: dict[str, Any], sizes: list[int]) -> list[dict[str, Any]]:
        if len(sizes) == 1:
            return [outputs]
        results = []
        start = 0
        for size in sizes:
            end = start + size
            results.append({name: values[start:end] for name, values in outputs.items()})
            start = end
        return results

