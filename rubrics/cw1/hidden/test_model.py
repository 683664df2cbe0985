"""The trained network: it runs, and it is built from the student's own layers."""


def test_model_output(predict, test_split, rng):
    images = test_split[0][rng.choice(len(test_split[0]), size=8, replace=False)]
    predict(images)  # checks shape (8, 10) and finite values
    predict(images[:1])  # one image at a time works too (evaluation mode)


def test_model_uses_own_layers(source):
    assert "SmallResNet" in source.defs, "no class `SmallResNet` found in the notebook"
    layers = ("Conv2d", "BatchNorm2d", "Linear")
    used = source.references("SmallResNet", skip=layers)
    missing = [name for name in layers if name not in used or name not in source.defs]
    assert not missing, f"SmallResNet does not use your own {', '.join(missing)}"
    hits = source.library_uses("SmallResNet", skip=layers + ("MaxPool2d",))
    assert not hits, "SmallResNet uses the library's layers instead of yours: " + ", ".join(
        f"{h.text} (code cell {h.cell + 1}, line {h.line}{', in ' + h.via if h.via else ''})" for h in hits[:5]
    )
