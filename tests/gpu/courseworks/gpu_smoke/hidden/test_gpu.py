"""Hidden suite of the GPU smoke coursework: what the student's kernel saw of the GPU.

Without a GPU the prelude's CUDA fallback maps ``device="cuda"`` to the CPU: then ``on_cuda`` is
false and test_cuda_tensor fails, as it should."""

import numpy as np


def test_cuda_available(student):
    out = student.run("ok = bool(torch.cuda.is_available())", outputs=["ok"])
    assert out["ok"] is True, "torch.cuda.is_available() is False in the student zone"


def test_one_device(student):
    out = student.run("n = int(torch.cuda.device_count())", outputs=["n"])
    assert out["n"] == 1, f"the job sees {out['n']} GPUs; a pinned job sees exactly one"


def test_cuda_tensor(student):
    out = student.run("on_cuda = bool(x.is_cuda)\ngram = y.numpy()", outputs=["on_cuda", "gram"])
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert out["on_cuda"] is True, "the tensor was not on the GPU"
    assert np.allclose(out["gram"], x @ x.T), "x @ x.T computed on the GPU is wrong"
