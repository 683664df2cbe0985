"""The layers are implemented from scratch: read from the submitted source, never asked of the kernel."""

LAYERS = ("Conv2d", "MaxPool2d", "BatchNorm2d", "Linear")


def test_layers_from_scratch(source):
    problems = []
    for name in LAYERS:
        for hit in source.library_uses(name, skip=[n for n in LAYERS if n != name]):
            where = f"code cell {hit.cell + 1}, line {hit.line}" + (f", in {hit.via}" if hit.via else "")
            problems.append(f"{name} uses {hit.text} ({where})")
    assert not problems, "layers must not use the library's own layers: " + "; ".join(problems[:6])
