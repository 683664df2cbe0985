"""The real app served by uvicorn in a thread, and a raw-socket client that sends a request's
head and then waits, to see whether the server answers before reading the body."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` on ``port`` (default: a free one); yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="api-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the live server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send_head_then_wait(base_url: str, head: bytes, wait_s: float) -> bytes:
    """Send only the head; return what the server answers within ``wait_s`` (b"" if nothing)."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head)
        sock.settimeout(wait_s)
        answer = b""
        try:
            # One recv may return the head without the body (a loaded machine): read the whole answer.
            while not _complete(answer) and (chunk := sock.recv(65536)):
                answer += chunk
        except TimeoutError:
            pass
        return answer


def _complete(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole HTTP response: its head and Content-Length bytes of body."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def stream_body_until_answered(base_url: str, head: bytes, body_size: int, wait_s: float) -> tuple[bytes, int]:
    """Send the head, then the body as fast as the server takes it, until the server answers.
    Returns (the answer's first bytes, how many body bytes the server had taken by then: read by
    the app, or sitting in its socket buffers)."""
    host, port = base_url.removeprefix("http://").split(":")
    chunk = b"x" * (256 * 1024)
    sent = 0
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < body_size else [], [], 0.2)
            if readable:
                return sock.recv(65536), sent
            if writable:
                try:
                    sent += sock.send(chunk[: body_size - sent])
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    pass
    return b"", sent
