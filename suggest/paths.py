"""Where the project keeps models and finds optional external data."""

from __future__ import annotations

import os
from pathlib import Path


def models_dir() -> Path:
    """``$SUGGEST_MODELS_DIR``, default ``models/`` in the current directory."""
    return Path(os.environ.get("SUGGEST_MODELS_DIR", "models")).resolve()


def cache_dir() -> Path:
    """Per-user cache for derived data (parsed code set): ``$SUGGEST_CACHE_DIR`` or ``~/.cache/icd10cm-suggest``."""
    base = os.environ.get("SUGGEST_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "icd10cm-suggest"
    )
    return Path(base)


def shared_dir() -> Path | None:
    """The read-only corpora beside the project (``../shared``), or ``$SUGGEST_SHARED_DIR``; None if absent."""
    env = os.environ.get("SUGGEST_SHARED_DIR")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2] / "shared", Path.cwd().parent / "shared"]
    for path in candidates:
        if (path / "data").is_dir():
            return path
    return None
