"""Arrays from the student side: parsed strictly, never unpickled, never over-allocated."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from workers.judge.codec import DecodeError, check_json_input, decode_array, encode_array, encode_input

CAP = 1 << 20


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def forged(header: str, body: bytes = b"", version: bytes = b"\x01\x00") -> bytes:
    text = header.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY" + version + len(text).to_bytes(2, "little") + text + body


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int64).reshape(3, 4),
        np.linspace(0, 1, 7, dtype=np.float32),
        np.array([True, False]),
        np.array(3.5),
        np.zeros((0, 5), dtype=np.uint8),
        np.array([1 + 2j], dtype=np.complex64),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.arange(4, dtype=">i4"),
        np.ones(3, dtype=np.float16),
    ],
)
def test_numeric_arrays_round_trip(array):
    out = decode_array(npy(array), CAP)
    assert out.dtype == array.dtype.newbyteorder("=") and out.shape == array.shape
    assert np.array_equal(out, array)
    assert out.flags.writeable and out.flags.owndata


def test_pickled_object_array_is_refused_without_unpickling():
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    data = npy(np.array([Boom()], dtype=object), allow_pickle=True)
    with pytest.raises(DecodeError, match="not allowed"):
        decode_array(data, CAP)


def test_a_raw_pickle_is_not_an_npy():
    with pytest.raises(DecodeError, match="bad .npy header"):
        decode_array(pickle.dumps(np.arange(3)), CAP)


@pytest.mark.parametrize(
    "array",
    [
        np.array([("a", 1)], dtype=[("name", "U4"), ("n", "i4")]),  # structured
        np.array(["text"]),  # unicode
        np.array([b"bytes"]),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
        np.zeros(2, dtype=("f4", (3,))),  # sub-array dtype collapses to shape (2, 3): allowed as plain float
    ],
)
def test_non_numeric_dtypes(array):
    if array.dtype.kind == "f":  # numpy already flattened the sub-array dtype
        assert decode_array(npy(array), CAP).shape == (2, 3)
        return
    with pytest.raises(DecodeError, match="not allowed"):
        decode_array(npy(array), CAP)


def test_huge_shape_over_tiny_data_is_refused_before_allocating():
    data = forged("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100000), }", b"\0" * 8)
    with pytest.raises(DecodeError, match="needs"):
        decode_array(data, CAP)


@pytest.mark.parametrize(
    "header, body, match",
    [
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", b"\0" * 15, "needs"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", b"\0" * 17, "needs"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", b"", "bad"),
        ("{'descr': 'O', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8, "not allowed"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}", b"\0" * 16, "bad .npy header"),
        ("__import__('os').system('echo pwned')", b"", "bad .npy header"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (" + "1," * 40 + "), }", b"\0" * 8, "bad shape"),
    ],
)
def test_forged_headers(header, body, match):
    with pytest.raises(DecodeError, match=match):
        decode_array(forged(header, body), CAP)


def test_bad_version_and_size_cap():
    with pytest.raises(DecodeError):
        decode_array(forged("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8, b"\x09\x00"), CAP)
    with pytest.raises(DecodeError, match="over the limit"):
        decode_array(npy(np.zeros(1000)), 100)


def test_zero_dim_and_strided_inputs_keep_their_shape():
    assert decode_array(encode_array(np.array(2.5)), CAP).shape == ()
    strided = np.arange(12).reshape(3, 4)[:, ::2]
    assert np.array_equal(decode_array(encode_array(strided), CAP), strided)


def test_inputs_encode_arrays_and_json_only():
    assert encode_input(np.arange(3))[0] == "npy"
    assert encode_input({"a": [1, 2.5, None, True, "s"], "b": (1, 2)}) == (
        "json",
        {"a": [1, 2.5, None, True, "s"], "b": [1, 2]},
    )
    assert encode_input(np.float64(2.5)) == ("json", 2.5)
    with pytest.raises(TypeError):
        encode_input(object())
    with pytest.raises(TypeError):
        encode_input({1: "non-str key"})
    with pytest.raises(TypeError):
        encode_array(np.array([object()]))


def test_torch_tensor_inputs_become_arrays():
    torch = pytest.importorskip("torch")
    kind, data = encode_input(torch.ones(2, 2, requires_grad=True))
    assert kind == "npy" and np.array_equal(decode_array(data, CAP), np.ones((2, 2), dtype=np.float32))


def test_json_depth_is_bounded():
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(TypeError, match="deeply"):
        check_json_input(deep)
