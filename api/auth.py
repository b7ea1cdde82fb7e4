"""Bearer tokens: creation, lookup and revocation.

Only an HMAC-SHA256 of a token, keyed with the server secret (:mod:`api.secret`), is stored, so a copy of the
database alone gives no way to test guesses. Tokens stored by earlier releases as a plain sha256 are rehashed the
first time they are used (the clear token is known then); ``legacy_hash`` is kept for that only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.db import ApiToken, utcnow

ROLES = ("coder", "admin", "provider")
"""``coder``: codes charts, works the queue, asks providers; ``admin``: a coder who also manages users, models and the
audit log, and sees everyone's figures; ``provider``: a clinician who answers the queries addressed to them and sees
nothing else (no chart, no suggestion). README "Roles" documents them."""
TOKEN_PREFIX = "sgt_"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    token_id: int
    user: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_provider(self) -> bool:
        return self.role == "provider"


def hash_token(token: str) -> str:
    """The stored form of a token: HMAC-SHA256 under the server secret, hex."""
    from api.secret import server_secret

    return hmac.new(server_secret(), token.encode("utf-8"), hashlib.sha256).hexdigest()


def legacy_hash(token: str) -> str:
    """How releases before this one stored a token (unkeyed sha256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, role: str, user: str) -> tuple[ApiToken, str]:
    """Create a token for ``user`` with ``role``; returns the row and the clear token (shown once)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not user or not user.strip():
        raise ValueError("user name must not be empty")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=hash_token(token), prefix=token[:10], user=user.strip(), role=role, created_at=utcnow())
    session.add(row)
    session.flush()
    return row, token


TOUCH_INTERVAL = dt.timedelta(minutes=5)
"""``last_used_at`` is refreshed at most this often (one small write per token, not one per request)."""


def authenticate(session: Session, token: str) -> Principal | None:
    """Return the principal of a valid, unrevoked token, else None; refreshes its ``last_used_at`` now and then
    (the caller commits)."""
    if not token:
        return None
    digest = hash_token(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == legacy_hash(token)))
        if row is not None:
            row.token_hash = digest  # upgrade in place: the clear token is known only now
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    now = utcnow()
    last = row.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=dt.UTC)
    if last is None or now - last > TOUCH_INTERVAL:
        row.last_used_at = now
    return Principal(token_id=row.id, user=row.user, role=row.role)


def revoke_token(session: Session, token_or_id: str) -> ApiToken | None:
    """Revoke a token given in clear or by its numeric id. Returns the row, or None if unknown."""
    cond = [ApiToken.token_hash == hash_token(token_or_id), ApiToken.token_hash == legacy_hash(token_or_id)]
    if token_or_id.isdigit():
        cond.append(ApiToken.id == int(token_or_id))
    row = session.scalar(select(ApiToken).where(or_(*cond)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def count_active_tokens(session: Session) -> int:
    return len(list(session.scalars(select(ApiToken.id).where(ApiToken.revoked_at.is_(None)))))
