"""Helpers of the service tests (imported by the test modules; fixtures live in conftest.py)."""

from __future__ import annotations

from api.app import create_app
from api.auth import create_token
from api.config import ApiConfig


def make_app(tmp_path, model, **overrides):
    """A fresh app with its own chart store under ``tmp_path`` (rate limiting off unless given)."""
    settings = {"database_url": f"sqlite:///{tmp_path / 'charts.db'}", "rate_limit": ""}
    settings.update(overrides)
    return create_app(ApiConfig(**settings), model=model)


def new_token(app, role: str = "coder", user: str = "casey") -> str:
    with app.extensions["db_sessions"]() as session, session.begin():
        _row, token = create_token(session, role, user)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


CHART_TEXT = (
    "Date of service: 03/14/2026\n"
    "Patient: Jane Roe   DOB: 01/02/1960   MRN: 00123456\n\n"
    "CHIEF COMPLAINT\nFollow-up of diabetes.\n\n"
    "HISTORY OF PRESENT ILLNESS\nThe patient has type 2 diabetes mellitus and essential hypertension. "
    "She denies pneumonia. Her mother had asthma.\n\n"
    "ASSESSMENT AND PLAN\nType 2 diabetes mellitus. Continue metformin. Hypertension, continue lisinopril.\n\n"
    "Electronically signed by John Smith, MD on 03/14/2026\n"
)
