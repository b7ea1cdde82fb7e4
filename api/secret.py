"""The server secret: the key of the HMAC under which access tokens are stored.

It lives in a file, ``$SUGGEST_SECRET_FILE`` (default ``var/server-secret`` under the working directory, beside the
default SQLite database), created with 32 random bytes and mode 0600 on first use. The server and ``suggest
tokens`` must see the same file. Keep it out of backups of the database: a stolen database then holds no usable
token hashes. Losing it makes every token invalid (create new ones with ``suggest tokens create``).
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path


def secret_path() -> Path:
    """Where the server secret is kept."""
    return Path(os.environ.get("SUGGEST_SECRET_FILE") or Path.cwd() / "var" / "server-secret").resolve()


def server_secret() -> bytes:
    """The server secret, created on first use."""
    return _read_or_create(str(secret_path()))


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
