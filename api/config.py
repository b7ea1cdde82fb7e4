"""Service configuration, read from the environment (12-factor style)."""

from __future__ import annotations

import os
from pathlib import Path

from typing import Literal

from pydantic import BaseModel, Field


def _default_database_url() -> str:
    var = Path.cwd() / "var"
    return f"sqlite:///{var / 'charts.db'}"


class ApiConfig(BaseModel):
    """Settings of the coder workspace service.

    Every field has an environment variable; ``ApiConfig.from_env()`` reads them.
    """

    database_url: str = Field(default_factory=_default_database_url)
    """``DATABASE_URL``: SQLAlchemy URL of the chart store. Default ``sqlite:///var/charts.db`` under the
    current directory (``var/`` is created). PostgreSQL: ``postgresql+psycopg://user:pass@host/db``."""

    model_ref: str | None = None
    """``SUGGEST_MODEL``: model to serve (folder, ``default`` or ``models:/name@alias``). None: the MLflow
    champion if there is one, else the default model."""

    rate_limit: str = "600/minute"
    """``SUGGEST_RATE_LIMIT``: per-token request budget in flask-limiter syntax (``"600/minute;20/second"``).
    Empty string disables rate limiting."""

    auth_failures_per_minute: int = 20
    """``SUGGEST_AUTH_FAILURES_PER_MINUTE``: failed authentications one client address may make in 60 s before it
    is refused (429 with Retry-After) until the oldest leaves the window, whatever token it presents. 0 disables."""

    trusted_proxies: int = 0
    """``SUGGEST_TRUSTED_PROXIES``: how many reverse proxies in front of the service to trust for
    ``X-Forwarded-For`` (werkzeug's ProxyFix), so that the client address is the client's. 0: none (direct)."""

    max_body_bytes: int = 1_000_000
    """``SUGGEST_MAX_BODY_BYTES``: requests with larger bodies get 413."""

    model_poll_seconds: float = 5.0
    """``SUGGEST_MODEL_POLL_SECONDS``: how often a worker checks whether another worker reloaded the model."""

    non_billable: Literal["refuse", "confirm"] = "refuse"
    """``SUGGEST_NON_BILLABLE``: what a chart save does with a code that is not billable (a category such as J45, or
    a code lacking its 7th character). ``refuse``: 400 naming the field (``codes[i]``) and listing the billable
    codes under it. ``confirm``: it is a code edit of severity error like the others, so the save is a 409 with the
    findings until the coder confirms it (``confirm_findings``)."""

    precompute_seconds: float = 2.0
    """``SUGGEST_PRECOMPUTE_SECONDS``: how often each service process looks for imported charts whose suggestions
    are to be computed in the background (it also wakes at once after an import). 0 disables the worker."""

    create_admin_token: bool = True
    """Create (and print) an admin token on first start when the token table is empty."""

    public_url: str = "http://127.0.0.1:8000"
    """Base URL printed in the sign-in link."""

    @classmethod
    def from_env(cls, **overrides) -> "ApiConfig":
        """Build the configuration from environment variables, then apply ``overrides``."""
        env = os.environ
        values: dict = {}
        if env.get("DATABASE_URL"):
            values["database_url"] = env["DATABASE_URL"]
        if env.get("SUGGEST_MODEL"):
            values["model_ref"] = env["SUGGEST_MODEL"]
        if "SUGGEST_RATE_LIMIT" in env:
            values["rate_limit"] = env["SUGGEST_RATE_LIMIT"]
        if env.get("SUGGEST_AUTH_FAILURES_PER_MINUTE"):
            values["auth_failures_per_minute"] = int(env["SUGGEST_AUTH_FAILURES_PER_MINUTE"])
        if env.get("SUGGEST_TRUSTED_PROXIES"):
            values["trusted_proxies"] = int(env["SUGGEST_TRUSTED_PROXIES"])
        if env.get("SUGGEST_MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(env["SUGGEST_MAX_BODY_BYTES"])
        if env.get("SUGGEST_MODEL_POLL_SECONDS"):
            values["model_poll_seconds"] = float(env["SUGGEST_MODEL_POLL_SECONDS"])
        if env.get("SUGGEST_PRECOMPUTE_SECONDS"):
            values["precompute_seconds"] = float(env["SUGGEST_PRECOMPUTE_SECONDS"])
        if env.get("SUGGEST_NON_BILLABLE"):
            values["non_billable"] = env["SUGGEST_NON_BILLABLE"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
