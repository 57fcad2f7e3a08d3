"""uvloop, accepting new connections in bursts again: `new_event_loop` (uvicorn's `loop`).

libuv, under uvloop, accepts one connection each time the listening socket is reported
readable (since libuv 1.45: commit 6c692ad, "unix: don't accept() connections in a loop").
While the server is busy, one loop iteration takes tens of milliseconds and the listening
socket comes up once or twice in it, so a burst of new connections drains a few at a time:
measured here with the hello-world app on 2,000 connections, 1,500 of them still waited in
the kernel's accept queue 0.2 s after they connected and the last was accepted 4-5 s later,
so their first requests reached wrk's 2 s timeout while the server answered the others
within 0.1 s. Pods behind a load balancer see such bursts whenever the balancer opens
connections (a scale-out, a new gateway pod, a reconnect after an idle timeout).

asyncio's own loop accepts up to the listen backlog per readiness
(`asyncio.selector_events.BaseSelectorEventLoop._accept_connection`). This loop does the
same on uvloop: `create_server` for plain TCP listens with a reader on the socket that
accepts until the kernel has no more (at most `backlog` at a time) and hands each
connection to `connect_accepted_socket`, which gives it the same transport (TCP_NODELAY
included) as uvloop's own server. TLS and Unix sockets go to uvloop unchanged.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvloop

logger = logging.getLogger(__name__)

ACCEPT_RETRY_DELAY_S = 1.0
"""After running out of file descriptors or memory, accepting pauses this long (asyncio's own delay)."""
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class BurstServer:
    """A listening TCP socket whose pending connections are all taken at each readiness.

    What uvicorn uses of an `asyncio.Server`: `sockets`, `close()`, `wait_closed()`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol_factory: Callable[[], asyncio.Protocol], max_per_event: int) -> None:
        self._loop = loop
        self._sock = sock
        self._protocol_factory = protocol_factory
        self._max_per_event = max(1, max_per_event)
        self._retry: asyncio.TimerHandle | None = None
        self._serving = False
        self._connecting: set[asyncio.Task] = set()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,) if self._sock.fileno() != -1 else ()

    def is_serving(self) -> bool:
        return self._serving

    def start(self) -> None:
        self._retry = None
        self._sock.setblocking(False)
        self._loop.add_reader(self._sock.fileno(), self._accept)
        self._serving = True

    def close(self) -> None:
        """Stop accepting and close the listening socket (open connections are the protocol's)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._serving:
            self._loop.remove_reader(self._sock.fileno())
            self._serving = False
        self._sock.close()

    async def wait_closed(self) -> None:
        if self._connecting:
            await asyncio.gather(*self._connecting, return_exceptions=True)

    def _accept(self) -> None:
        for _ in range(self._max_per_event):
            try:
                connection, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty
            except ConnectionAbortedError:
                continue  # the client gave up while it waited
            except OSError as error:
                if error.errno not in _OUT_OF_RESOURCES:
                    raise
                logger.error("cannot accept connections (%s); retrying in %g s", error, ACCEPT_RETRY_DELAY_S)
                self._loop.remove_reader(self._sock.fileno())
                self._serving = False
                self._retry = self._loop.call_later(ACCEPT_RETRY_DELAY_S, self.start)
                return
            task = self._loop.create_task(self._connect(connection))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, connection: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol_factory, connection)
        except OSError as error:  # reset before it was taken up: nothing to serve
            logger.debug("connection lost before it was set up: %s", error)
            connection.close()


class BurstAcceptLoop(uvloop.Loop):  # type: ignore[misc]
    """uvloop's loop with `create_server` accepting in bursts for plain TCP (module docstring)."""

    async def create_server(self, protocol_factory: Callable[[], asyncio.Protocol], host: Any = None,
                            port: Any = None, *, sock: socket.socket | None = None, backlog: int = 100,
                            ssl: Any = None, **options: Any) -> Any:
        plain_tcp = ssl is None and not options and (sock is None or sock.family in (socket.AF_INET, socket.AF_INET6))
        if not plain_tcp or (sock is None and port is None):
            return await super().create_server(protocol_factory, host, port, sock=sock, backlog=backlog, ssl=ssl,
                                               **options)
        if sock is None:
            sock = listening_socket(host, port)
        sock.listen(backlog)
        server = BurstServer(self, sock, protocol_factory, backlog)
        server.start()
        return server


def listening_socket(host: str | None, port: int) -> socket.socket:
    """A bound TCP socket for `host` (None: every IPv4 interface) and `port` (0: any free one),
    with SO_REUSEADDR as asyncio sets it, so a restart can bind while old connections close."""
    family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
    address = (host or "0.0.0.0", port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as error:
        sock.close()
        # asyncio's wording, which uvicorn logs before it exits.
        raise OSError(error.errno, f"error while attempting to bind on address {address!r}: "
                                   f"{(error.strerror or str(error)).lower()}") from None
    return sock


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The server's event loop (uvicorn's `loop="serving_app.accept:new_event_loop"`)."""
    return BurstAcceptLoop()
