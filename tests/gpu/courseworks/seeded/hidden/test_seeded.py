def test_deterministic(student):
    out = student.run("on = bool(torch.are_deterministic_algorithms_enabled())", outputs=["on"])
    assert out["on"] is True, "torch's deterministic algorithms are off"
