"""`grader up` tests: each gets its own var/ folder, port and job folder (see up_kit)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from up_kit import Service, service_in


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with service_in(tmp_path, "grader-up-test-") as svc:
        yield svc
