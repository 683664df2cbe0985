"""The framing both sides use: every malformed, oversize, truncated or late message is refused cleanly."""

from __future__ import annotations

import json
import os
import struct
import threading
import time

import pytest

from workers.runner import wire

LIMITS = wire.WireLimits(max_header=4096, max_blob=1024, max_total=8192)


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def raw(header: bytes, magic: bytes = wire.MAGIC, length: int | None = None) -> bytes:
    return struct.pack(">4sI", magic, len(header) if length is None else length) + header


def feed(pipe, data: bytes, close: bool = True):
    r, w = pipe
    os.write(w, data)
    if close:
        os.close(w)
    return r


def soon() -> float:
    return time.monotonic() + 2


def test_round_trip_with_blobs(pipe):
    r, w = pipe
    wire.write_message(w, {"type": "x", "n": [1, 2.5, None]}, [b"abc", b"", b"\x00" * 100])
    msg = wire.read_message(r, LIMITS, soon())
    assert msg.header == {"type": "x", "n": [1, 2.5, None]}
    assert msg.blobs == [b"abc", b"", b"\x00" * 100]


def test_clean_end_between_messages_is_wire_closed(pipe):
    r = feed(pipe, b"")
    with pytest.raises(wire.WireClosed):
        wire.read_message(r, LIMITS, soon())


@pytest.mark.parametrize(
    "data, match",
    [
        (raw(b"{}", magic=b"EVIL"), "bad magic"),
        (b"GRD", "truncated prefix"),
        (raw(b"", length=5000), "over the limit"),
        (raw(b'{"blobs": []', length=100), "truncated header"),
        (raw(b"not json"), "bad header"),
        (raw(b"\xff\xfe"), "bad header"),
        (raw(b"[1, 2]"), "not a JSON object"),
        (raw(b'{"a": 1, "a": 2, "blobs": []}'), "duplicate key"),
        (raw(b'{"type": "x"}'), "'blobs' must be a list"),
        (raw(b'{"blobs": [-1]}'), "'blobs' must be a list"),
        (raw(b'{"blobs": [1.5]}'), "'blobs' must be a list"),
        (raw(b'{"blobs": [true]}'), "'blobs' must be a list"),
        (raw(b'{"blobs": [2000]}'), "blob of 2000 bytes is over"),
        (raw(b'{"blobs": [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]}'), "message of .* bytes is over"),
        (raw(b'{"blobs": [10]}') + b"short", "truncated blob 0"),
        (raw(b"[" * 1000, length=200_000), "over the limit"),
    ],
)
def test_malformed_messages_are_refused(pipe, data, match):
    r = feed(pipe, data)
    with pytest.raises(wire.WireError, match=match) as info:
        wire.read_message(r, LIMITS, soon())
    assert not isinstance(info.value, wire.WireClosed)


def test_deeply_nested_json_is_an_error_not_a_crash(pipe):
    deep = b'{"blobs": [], "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    r = feed(pipe, raw(deep))  # fits the pipe buffer
    with pytest.raises(wire.WireError, match="bad header"):
        wire.read_message(r, wire.WireLimits(200_000, 10, 300_000), soon())


def test_huge_sizes_are_refused_before_reading(pipe):
    # A peer claiming a 4 GiB blob must not make the reader allocate or wait for it.
    r = feed(pipe, raw(json.dumps({"blobs": [2**32]}).encode()), close=False)
    t0 = time.monotonic()
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.read_message(r, LIMITS, time.monotonic() + 10)
    assert time.monotonic() - t0 < 1


def test_a_stalled_peer_hits_the_deadline(pipe):
    r = feed(pipe, raw(b'{"blobs": [10]}') + b"12345", close=False)  # half a blob, then nothing
    t0 = time.monotonic()
    with pytest.raises(wire.WireTimeout):
        wire.read_message(r, LIMITS, time.monotonic() + 0.3)
    assert 0.25 < time.monotonic() - t0 < 2


def test_slow_but_complete_message_arrives(pipe):
    r, w = pipe
    data = wire.encode_message({"k": 1}, [b"x" * 500])

    def dribble():
        for i in range(0, len(data), 50):
            os.write(w, data[i : i + 50])
            time.sleep(0.01)

    threading.Thread(target=dribble).start()
    assert wire.read_message(r, LIMITS, time.monotonic() + 5).blobs == [b"x" * 500]


def test_write_with_deadline_does_not_block_on_a_reader_that_never_reads(pipe):
    r, w = pipe
    t0 = time.monotonic()
    with pytest.raises(wire.WireTimeout):
        wire.write_message(w, {"k": 1}, [b"x" * (4 << 20)], time.monotonic() + 0.3)
    assert time.monotonic() - t0 < 2
    assert os.get_blocking(w)  # restored


def test_write_to_a_closed_reader_is_a_wire_error(pipe):
    r, w = pipe
    os.close(r)
    with pytest.raises(wire.WireError, match="write failed"):
        wire.write_message(w, {"k": 1}, [], time.monotonic() + 1)


def test_blobs_key_is_reserved():
    with pytest.raises(ValueError):
        wire.encode_message({"blobs": [1]})


def test_messages_are_read_back_to_back(pipe):
    r, w = pipe
    os.write(w, wire.encode_message({"i": 1}, [b"a"]) + wire.encode_message({"i": 2}, [b"bb"]))
    os.close(w)
    assert wire.read_message(r, LIMITS, soon()).header == {"i": 1}
    assert wire.read_message(r, LIMITS, soon()).blobs == [b"bb"]
    with pytest.raises(wire.WireClosed):
        wire.read_message(r, LIMITS, soon())
