"""The server secret: kept by the library (:mod:`suggest.secret`), which also derives the model-signing key from it."""

from suggest.secret import secret_path, server_secret

__all__ = ["secret_path", "server_secret"]
