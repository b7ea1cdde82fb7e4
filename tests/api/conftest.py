"""Fixtures of the service tests: a real app on a real SQLite file in tmp_path, serving the small real model."""

from __future__ import annotations

import pytest
from api_support import bearer, make_app, new_token


@pytest.fixture()
def app(tmp_path, small_model):
    return make_app(tmp_path, small_model)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def coder(app) -> dict[str, str]:
    """Headers of a coder token (user "casey")."""
    return bearer(new_token(app, "coder", "casey"))


@pytest.fixture()
def admin(app) -> dict[str, str]:
    """Headers of an admin token (user "ada")."""
    return bearer(new_token(app, "admin", "ada"))


@pytest.fixture(scope="module")
def models_dir_with_small_model(small_model_dir):
    """The small model's folder, its parent made the models folder (``{"model": "small"}`` reloads it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SUGGEST_MODELS_DIR", str(small_model_dir.parent))
        yield small_model_dir
