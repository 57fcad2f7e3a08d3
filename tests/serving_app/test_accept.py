"""serving_app/accept.py: while the loop is busy, a burst of new connections is taken at once,
not one per readiness of the listening socket as libuv does (libuv commit 6c692ad).

Each test keeps the event loop busy with a callback that blocks 20 ms and reschedules itself
(a server answering other requests), opens a burst of connections from a thread, and counts
the busy iterations until the server's protocols saw them all."""

from __future__ import annotations

import asyncio
import errno
import socket
import time

import pytest
import uvloop

from serving_app.accept import BurstServer, new_event_loop

BURST = 300
BUSY_S = 0.02


class _Counting(asyncio.Protocol):
    made = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        type(self).made += 1


def _connect_burst(port: int, sockets: list[socket.socket]) -> None:
    for _ in range(BURST):  # each connect completes in the kernel, accepted or not
        sockets.append(socket.create_connection(("127.0.0.1", port)))


def _iterations_to_accept(loop: asyncio.AbstractEventLoop, max_iterations: int = 60) -> int:
    """Busy iterations until the server made BURST connections (max_iterations if it never did)."""

    async def scenario() -> int:
        class Protocol(_Counting):
            made = 0

        server = await loop.create_server(Protocol, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        clients: list[socket.socket] = []
        iterations = 0
        done = asyncio.Event()

        def busy() -> None:
            nonlocal iterations
            if not clients:  # the burst arrives while the loop is busy: all of it in the accept queue
                _connect_burst(port, clients)
            else:
                iterations += 1
            time.sleep(BUSY_S)  # the loop answering other requests
            if Protocol.made >= BURST or iterations >= max_iterations:
                done.set()
            else:
                loop.call_soon(busy)

        loop.call_soon(busy)
        await done.wait()
        for client in clients:
            client.close()
        server.close()
        await server.wait_closed()
        return iterations

    return loop.run_until_complete(scenario())


def test_a_burst_of_new_connections_is_taken_within_a_few_busy_iterations():
    loop = new_event_loop()
    try:
        assert _iterations_to_accept(loop) <= 5
    finally:
        loop.close()


def test_plain_uvloop_takes_a_burst_one_readiness_at_a_time():
    # Why accept.py exists. If uvloop's libuv accepts in a loop again, this fails: accept.py
    # can then go, and uvicorn's loop="uvloop" come back.
    loop = uvloop.new_event_loop()
    try:
        assert _iterations_to_accept(loop, max_iterations=40) >= 40
    finally:
        loop.close()


def test_a_closed_server_takes_no_more_connections_and_a_taken_port_is_named():
    loop = new_event_loop()

    async def scenario() -> None:
        server = await loop.create_server(_Counting, "127.0.0.1", 0, backlog=16)
        assert isinstance(server, BurstServer) and server.is_serving()
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(OSError, match=rf"error while attempting to bind on address \('127.0.0.1', {port}\)"):
            await loop.create_server(_Counting, "127.0.0.1", port, backlog=16)
        server.close()
        await server.wait_closed()
        assert not server.is_serving() and server.sockets == ()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_running_out_of_file_descriptors_pauses_accepting_then_resumes(monkeypatch):
    loop = new_event_loop()

    async def scenario() -> None:
        server = await loop.create_server(_Counting, "127.0.0.1", 0, backlog=16)
        port = server.sockets[0].getsockname()[1]
        listening = server._sock
        real_accept = listening.accept
        failures = [OSError(errno.EMFILE, "Too many open files")]

        class FailingOnce:
            def __getattr__(self, name):
                return getattr(listening, name)

            def accept(self):
                if failures:
                    raise failures.pop()
                return real_accept()

        server._sock = FailingOnce()
        monkeypatch.setattr("serving_app.accept.ACCEPT_RETRY_DELAY_S", 0.05)
        client = socket.create_connection(("127.0.0.1", port))
        await asyncio.sleep(0.01)
        assert not server.is_serving()  # paused, not spinning on the error
        for _ in range(200):
            if _Counting.made:
                break
            await asyncio.sleep(0.01)
        assert server.is_serving() and _Counting.made == 1  # resumed and took the waiting connection
        client.close()
        server._sock = listening
        server.close()

    _Counting.made = 0
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
