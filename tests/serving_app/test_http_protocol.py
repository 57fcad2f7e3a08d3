"""One write per response: the transport wrapper alone, then through uvicorn over real HTTP."""

from __future__ import annotations

import asyncio
import socket

import pytest

from serving_app.http_protocol import CoalescingTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def _with_loop(body):
    async def run():
        recording = RecordingTransport()
        return recording, await body(recording, CoalescingTransport(recording, asyncio.get_running_loop()))

    return asyncio.run(run())


def test_a_head_and_its_body_go_out_in_one_write():
    async def body(recording, transport):
        transport.write(HEAD)
        assert recording.writes == []
        transport.write(b"{}")
        await asyncio.sleep(0)  # the flush scheduled for the head finds nothing left to write
        return recording.writes

    _, writes = _with_loop(body)
    assert writes == [HEAD + b"{}"]


def test_a_head_with_no_body_after_it_still_goes_out_within_the_loop_step():
    async def body(recording, transport):
        transport.write(HEAD)  # a HEAD request's answer: uvicorn writes no body
        await asyncio.sleep(0)
        return recording.writes

    _, writes = _with_loop(body)
    assert writes == [HEAD]


@pytest.mark.parametrize("data", [b"HTTP/1.1 100 Continue\r\n\r\n", b"some body bytes", b"HTTP/1.1 200 OK\r\nx: y"])
def test_anything_but_a_complete_final_head_passes_straight_through(data):
    async def body(recording, transport):
        transport.write(data)
        return list(recording.writes)

    _, writes = _with_loop(body)
    assert writes == [data]


def test_closing_writes_a_held_head_first_and_other_calls_reach_the_transport():
    async def body(recording, transport):
        transport.write(HEAD)
        transport.close()
        return recording.writes, transport.get_extra_info("peername")

    recording, (writes, info) = _with_loop(body)
    assert writes == [HEAD] and recording.closed and info == "info:peername"


def test_a_head_request_is_answered_through_the_server(fake_server):
    host, port = fake_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 405 ") and answer.endswith(b"\r\n\r\n")  # the head, no body
