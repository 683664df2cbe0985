"""Fixtures of the worker tests; the helpers and the fixtures themselves live in worker_kit.py
(a module name of its own: several test folders have a conftest, and `from conftest import`
would find whichever was imported first)."""

from worker_kit import broker_redis, engine, pg_url, world  # noqa: F401  (fixtures)
