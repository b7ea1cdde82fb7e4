"""The server secret, and the keys derived from it.

It lives in a file, ``$SUGGEST_SECRET_FILE`` (default ``var/server-secret`` under the working directory, beside the
default SQLite database), created with 32 random bytes and mode 0600 on first use. Access tokens are stored as an
HMAC under it (:mod:`api.auth`); model files are signed under a key derived from it
(:func:`derived_key`, :mod:`suggest.model.integrity`), so a token digest and a model signature never share a key.
The server, ``suggest tokens`` and whoever trains or signs the models it serves must see the same file. Keep it
out of backups of the database: a stolen database then holds no usable token hashes. Losing it makes every token
invalid (create new ones with ``suggest tokens create``) and every model signature (sign or rebuild the models).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from pathlib import Path


class SecretMissing(FileNotFoundError):
    """No server secret exists yet (and the caller asked not to create one)."""


def secret_path() -> Path:
    """Where the server secret is kept."""
    return Path(os.environ.get("SUGGEST_SECRET_FILE") or Path.cwd() / "var" / "server-secret").resolve()


def server_secret(*, create: bool = True) -> bytes:
    """The server secret, created on first use unless ``create`` is off (then :class:`SecretMissing`)."""
    path = secret_path()
    if not create and not path.exists():
        raise SecretMissing(f"no server secret at {path}")
    return _read_or_create(str(path))


def derived_key(purpose: bytes, *, create: bool = True) -> bytes:
    """A key of its own for ``purpose``: HMAC-SHA256 of ``purpose`` under the server secret."""
    return hmac.new(server_secret(create=create), purpose, hashlib.sha256).digest()


@functools.lru_cache(maxsize=8)
def _read_or_create(path: str) -> bytes:
    file = Path(path)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32).hex().encode("ascii"))
    key = file.read_bytes().strip()
    if len(key) < 32:
        raise RuntimeError(f"{file}: the server secret is too short (delete it to create a new one)")
    return key
