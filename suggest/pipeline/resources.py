"""Loading of the rule and lexicon data files kept in ``suggest/resources``."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=None)
def load_json(name: str) -> Any:
    """Parse a JSON data file shipped in ``suggest/resources`` (cached)."""
    with resources.files("suggest.resources").joinpath(name).open("r", encoding="utf-8") as fh:
        return json.load(fh)


def read_text(name: str) -> str:
    """Read a text data file shipped in ``suggest/resources``."""
    return resources.files("suggest.resources").joinpath(name).read_text(encoding="utf-8")
