"""Entry point inside the sandbox: ``python -I -B /opt/grader/runner/boot.py``.

Loads the folder holding this file as the package ``runner`` by its location, so nothing else
(not the cwd, which holds the student's files) is put on ``sys.path``.
"""

import importlib.util
import os
import sys


def _load_package() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        "runner", os.path.join(here, "__init__.py"), submodule_search_locations=[here]
    )
    assert spec is not None and spec.loader is not None  # a file location always gives both
    package = importlib.util.module_from_spec(spec)
    sys.modules["runner"] = package
    spec.loader.exec_module(package)


if __name__ == "__main__":
    _load_package()
    if sys.argv[1:2] == ["--zygote"]:  # the student zone's template (runner/zygote.py), on the host
        from runner.zygote import serve  # type: ignore[import-not-found]

        sys.exit(serve(int(sys.argv[2]), sys.argv[3], sys.argv[4:]))
    from runner.main import main  # type: ignore[import-not-found]  # the package _load_package made

    sys.exit(main())
