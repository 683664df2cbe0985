"""``grader up``'s own secret: with no GRADER_SECRET_KEY configured, a random one is made once and kept
in ``state_dir/secret_key`` (readable by this user only), so the embedded demo starts with no
configuration and keeps the same secret from one start to the next."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from grader.settings import Settings, weak_secret

FILE_NAME = "secret_key"


class SecretFileError(Exception):
    """The kept secret cannot be read, made or used."""


def secret_file(settings: Settings) -> Path:
    return settings.state_dir / FILE_NAME


def kept_secret(path: Path) -> str:
    """The secret kept at ``path``, made (random, mode 0600) the first time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        problem = weak_secret(value)
        if problem:
            raise SecretFileError(f"the kept secret in {path} {problem}; delete the file to make a new one") from None
        return value
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
        out.flush()
        os.fsync(out.fileno())
    return value


def with_secret(settings: Settings) -> Settings:
    """``settings`` with a secret: the configured one, else the kept one."""
    if settings.secret_key is not None:
        return settings
    try:
        return settings.model_copy(update={"secret_key": kept_secret(secret_file(settings))})
    except OSError as exc:
        raise SecretFileError(f"cannot keep a secret in {secret_file(settings)}: {exc.strerror or exc}") from None
