"""uvicorn's httptools protocol, writing each response in one system call instead of two.

uvicorn writes a response's status line and headers when the app sends
`http.response.start`, and its body on `http.response.body`: two `send` system calls, two
TCP segments. On loopback or a pod network each costs about as much as the other (most of it
is the kernel waking the reader), and at tens of thousands of small responses per second
the pair was a quarter of the server's CPU in a perf profile. This transport wrapper holds
the head back and writes it together with what comes next, in one call.

The head is held only until the end of the current event-loop step: a response whose body
never goes through `write` (a HEAD request, an app that fails after starting its answer)
still gets its head out, with at most one loop step of delay. Anything that is not a
complete head (100 Continue, a body, a 400 uvicorn writes itself) passes straight through,
so a future uvicorn that writes differently only loses the saving, not correctness.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_LINE = b"HTTP/1.1 "
_END_OF_HEAD = b"\r\n\r\n"


class CoalescingTransport:
    """Wraps a transport: a response head is written together with the write that follows it."""

    __slots__ = ("_transport", "_head", "_loop")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif data.startswith(_STATUS_LINE) and data.endswith(_END_OF_HEAD) and data[9:10] != b"1":
            self._head = data  # not a 1xx (100 Continue goes out at once)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write a held head now (nothing came after it in this loop step)."""
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ...
        return getattr(self._transport, name)


class HttpToolsCoalescingProtocol(HttpToolsProtocol):
    """uvicorn's HttpToolsProtocol over a CoalescingTransport (pass as `uvicorn.Config(http=...)`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
