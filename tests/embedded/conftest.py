"""`grader up` tests: each gets its own var/ folder, port and job folder (see up_kit)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from up_kit import Service, free_port


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    jobs = Path(tempfile.mkdtemp(prefix="grader-up-test-", dir="/var/tmp"))
    os.chmod(jobs, 0o711)
    svc = Service(var=tmp_path / "var", jobs=jobs, port=free_port(), marker=uuid.uuid4().hex)
    try:
        yield svc
    finally:
        svc.cleanup()
        shutil.rmtree(jobs, ignore_errors=True)
