"""The models and artifacts fixtures (used by tests/judge/test_judge_model_files.py). Each assert's
message carries what the fixture answered, so a failure says why."""

import numpy as np
import pytest

from workers.judge.api import ArtifactError


def test_state_dict(models):
    info = models.inspect("sd.pt")
    assert (info.name, info.present, info.loads, info.kind, info.error) == ("sd.pt", True, True, "state_dict", ""), str(
        info
    )
    # Every stored tensor: 12 + 3 + 3 (running_mean) + 2 (the int64 counter's 8 bytes / 4).
    assert info.parameters == 20, str(info)
    assert info.tensors == {
        "fc.weight": [3, 4],
        "fc.bias": [3],
        "bn.running_mean": [3],
        "bn.num_batches_tracked": [],
    }, str(info)
    assert models.inspect("sd.pt") is info, "the answer is not cached for the run"


def test_torchscript(models):
    info = models.inspect("ts.pt")
    assert (info.present, info.loads, info.kind, info.parameters, info.tensors) == (
        True,
        True,
        "torchscript",
        10,
        {},
    ), str(info)


def test_garbage(models):
    info = models.inspect("garbage.pt")
    assert (info.present, info.loads, info.kind, info.parameters) == (True, False, None, None), str(info)
    assert info.error, str(info)


def test_code_running_pickle(models):
    info = models.inspect("evil.pt")
    assert (info.present, info.loads, info.kind) == (True, False, None), str(info)
    assert "loads safely" in info.error, str(info)


def test_checkpoint_is_not_a_state_dict(models):
    info = models.inspect("ckpt.pt")
    assert (info.present, info.loads, info.kind) == (True, False, None), str(info)
    assert "checkpoint" in info.error, str(info)


def test_missing(models):
    info = models.inspect("absent.pt")
    assert (info.present, info.loads, info.error) == (False, False, "the file is missing"), str(info)


def test_bad_names(models):
    for name in ("../job.json", "/etc/passwd", "", "a/../b.pt"):
        with pytest.raises(ValueError):
            models.inspect(name)


def test_artifacts(student, artifacts):
    out = student.run("x = samples(6)", outputs=["x"])
    assert out["x"].shape == (6, 1, 5, 5), str(out["x"].shape)
    artifacts.grid("samples", out["x"], nrow=3, title="Six samples")
    artifacts.image("first", out["x"][0, 0], title="The first one")
    with pytest.raises(ArtifactError):
        artifacts.image("Bad Name", out["x"][0, 0])
    with pytest.raises(ArtifactError):
        artifacts.grid("flat", out["x"][0])
    assert np.isfinite(out["x"]).all(), "samples are not finite"
