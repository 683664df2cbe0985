"""Fixtures of the scale-out tests; they live in cluster_kit.py (see tests/workers/conftest.py for why)."""

from cluster_kit import cluster, engine, pg_url  # noqa: F401  (fixtures)
from worker_kit import broker_redis  # noqa: F401  (fixture: a private Redis of this session)
