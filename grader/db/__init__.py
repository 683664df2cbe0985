"""The gradebook's database plumbing: declarative base, engine and sessions, migrations."""

from grader.db.base import Base
from grader.db.engine import make_engine, session_factory

__all__ = ["Base", "make_engine", "session_factory"]
