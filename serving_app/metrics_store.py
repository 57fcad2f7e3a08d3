"""Where metric values live: one flat array of float64 per server process, summed over the
processes when /metrics is scraped.

Why not prometheus_client's own values: each of its updates takes a lock (and, in its
multiprocess mode, packs a struct into an mmap under that lock), a cost paid several times
per request at tens of thousands of requests per second. Here every update happens on the
event loop thread, so a plain store into an array needs no lock, and several worker
processes share nothing but files:

- one process (Kubernetes: one worker per pod): the array is ordinary memory;
- `workers > 1` (SageMaker: one per CPU): each worker maps its own file
  `<directory>/worker-<pid>.values`; a scrape, answered by whichever worker the kernel hands
  the connection to, sums every file. Files of workers that died are kept (their counts
  happened), but not for gauges, which describe live processes only. The supervisor
  empties the directory before it starts the workers, so counts never carry over from an
  earlier run (`prepare_directory`).

An aligned 8-byte store is atomic on x86-64 and arm64, so a reader never sees a torn
value; it may see a histogram bucket counted a moment before its sum, like any scrape that
races an update. prometheus_client's multiprocess mode makes the same trade.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_SUFFIX = ".values"
_HEADER = struct.Struct("<8sQ")  # magic + layout fingerprint; the values follow, 8-byte aligned
_MAGIC = b"mlserve1"


class ValueStore:
    """This process's values: `values[i]` is a float64 slot, updated in place.

    Args:
        size: number of slots (the metrics layout decides what each one means).
        fingerprint: identifies the layout, so files written by another layout are ignored.
        directory: where worker processes keep their files; None for one process (memory only).
    """

    def __init__(self, size: int, fingerprint: int, directory: Path | None = None) -> None:
        self.size = size
        self.fingerprint = fingerprint
        self.directory = directory
        self.pid = os.getpid()
        length = _HEADER.size + 8 * size
        if directory is None:
            self._buffer: bytearray | mmap.mmap = bytearray(length)
        else:
            path = directory / f"worker-{self.pid}{_SUFFIX}"
            with open(path, "w+b") as file:
                file.truncate(length)
                self._buffer = mmap.mmap(file.fileno(), length)
        _HEADER.pack_into(self._buffer, 0, _MAGIC, fingerprint)
        self.values = memoryview(self._buffer)[_HEADER.size:].cast("d")
        """The slots, read and written with plain indexing (`values[i] += 1.0`)."""

    def totals(self, live_only: np.ndarray) -> np.ndarray:
        """Every slot summed over all processes, except slots flagged in `live_only` (gauges),
        which are summed over live processes only. With one process: a copy of its values."""
        own = np.frombuffer(self.values, dtype=np.float64).copy()
        if self.directory is None:
            return own
        total = np.zeros(self.size)
        for pid, values in self._files():
            if pid == self.pid:
                values = own
            elif not _alive(pid):
                values = np.where(live_only, 0.0, values)
            total += values
        return total

    def per_process(self) -> Iterator[tuple[int, np.ndarray]]:
        """(pid, values) of each live process (for gauges merged by min or max)."""
        own = np.frombuffer(self.values, dtype=np.float64).copy()
        if self.directory is None:
            yield self.pid, own
            return
        for pid, values in self._files():
            if pid == self.pid:
                yield pid, own
            elif _alive(pid):
                yield pid, values

    def _files(self) -> Iterator[tuple[int, np.ndarray]]:
        for path in self.directory.glob(f"worker-*{_SUFFIX}"):
            try:
                pid = int(path.name[len("worker-"):-len(_SUFFIX)])
                data = path.read_bytes()
            except (ValueError, OSError):
                continue  # not ours, or removed meanwhile
            if len(data) != _HEADER.size + 8 * self.size or _HEADER.unpack_from(data) != (_MAGIC, self.fingerprint):
                continue  # another layout (an older server version): not comparable
            yield pid, np.frombuffer(data, dtype=np.float64, offset=_HEADER.size)


def prepare_directory(directory: Path) -> Path:
    """Create `directory` for worker files and remove any left by an earlier run; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(f"worker-*{_SUFFIX}"):
        stale.unlink(missing_ok=True)
    return directory


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
