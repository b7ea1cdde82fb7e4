"""``suggest tokens``: create, list and revoke the bearer tokens of the coder workspace."""

from __future__ import annotations

import argparse
import getpass

from api.auth import ROLES


def register(subparsers) -> None:
    p = subparsers.add_parser("tokens", help="manage API tokens (create, list, revoke)",
                              description="Tokens live (hashed) in the chart database given by DATABASE_URL.")
    sub = p.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    c = sub.add_parser("create", help="create a token; it is printed once, on the last line")
    c.add_argument("--role", choices=ROLES, default="coder",
                   help="coder (default), admin, or provider (answers the provider queries addressed to the user)")
    c.add_argument("--user", default=None, help="who uses it (default: your login name)")
    c.set_defaults(func=_create)
    r = sub.add_parser("revoke", help="revoke a token given in clear or by its id")
    r.add_argument("token", metavar="TOKEN_OR_ID")
    r.set_defaults(func=_revoke)
    ls = sub.add_parser("list", help="list tokens (id, user, role, created, revoked); never the tokens themselves")
    ls.set_defaults(func=_list)


def store_sessions():
    """Sessions of the chart store the service uses (``DATABASE_URL``), migrated to the current schema."""
    from api.config import ApiConfig
    from api.db import make_engine, make_sessionmaker, migrate

    engine = make_engine(ApiConfig.from_env().database_url)
    migrate(engine)
    return make_sessionmaker(engine)


def _create(args: argparse.Namespace) -> int:
    from api.auth import create_token
    from suggest.errors import SuggestError

    user = args.user or getpass.getuser()
    with store_sessions()() as session, session.begin():
        try:
            row, token = create_token(session, args.role, user)
        except ValueError as exc:
            raise SuggestError(str(exc)) from None
        print(f"created {row.role} token #{row.id} for {row.user}")
    print(token)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from api.auth import revoke_token
    from suggest.errors import SuggestError

    with store_sessions()() as session, session.begin():
        row = revoke_token(session, args.token.strip())
        if row is None:
            raise SuggestError("no such token (give the token itself or its id from 'suggest tokens list')")
        print(f"revoked token #{row.id} ({row.role}, {row.user})")
    return 0


def _list(_args: argparse.Namespace) -> int:
    from api.auth import list_tokens

    with store_sessions()() as session:
        rows = list_tokens(session)
        print(f"{'id':>4}  {'role':<8} {'user':<20} {'prefix':<11} {'created':<17} {'last used':<17} revoked")
        for t in rows:
            created = t.created_at.strftime("%Y-%m-%d %H:%M") if t.created_at else ""
            used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
            revoked = t.revoked_at.strftime("%Y-%m-%d %H:%M") if t.revoked_at else "-"
            print(f"{t.id:>4}  {t.role:<8} {t.user[:20]:<20} {t.prefix + '…':<11} {created:<17} {used:<17} {revoked}")
    return 0
