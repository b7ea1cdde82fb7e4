"""Error types with messages a user can act on."""

from __future__ import annotations


class SuggestError(Exception):
    """Base class for errors the CLI reports as one line, without a traceback."""


class DataFormatError(SuggestError):
    """A data file is malformed. The message names the file and the line."""

    def __init__(self, path: str, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ModelNotFoundError(SuggestError):
    """A model reference (folder, "default" or models:/ URI) cannot be resolved."""


class ModelFormatError(ModelNotFoundError):
    """A saved model was written in a format this release cannot read: it must be retrained."""


class ModelIntegrityError(SuggestError):
    """A model file has no valid signature, or is not the file that was signed: it is refused before it is
    unpickled (see :mod:`suggest.model.integrity`)."""
