"""Snapshots of the gradebook and the blob store it references: ``take_snapshot`` and ``restore_snapshot``."""

from grader.backup.manifest import Manifest, SnapshotError
from grader.backup.restore import RestoreRefused, restore_snapshot
from grader.backup.snapshot import take_snapshot

__all__ = ["Manifest", "RestoreRefused", "SnapshotError", "restore_snapshot", "take_snapshot"]
