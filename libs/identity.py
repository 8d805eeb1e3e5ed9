"""The caller's identity: JWT bearer tokens signed with the suite's key, and role checks.

The gateway authenticates each request and forwards the same bearer token to the services in the
``authorization`` gRPC metadata; every service verifies it again, so a forged or missing identity is
refused at each hop, not only at the edge.

``python -m libs.identity mint --role stock_keeper --user alice`` prints a development token.
"""

from __future__ import annotations

import argparse
import contextvars
import time
from collections.abc import Iterable
from dataclasses import dataclass

import jwt

from libs import config
from libs.errors import PermissionDenied, Unauthenticated

ROLES: frozenset[str] = frozenset(
    {
        "supervisor",
        "promoter",
        "customer_service",
        "stock_keeper",
        "warehouse_supervisor",
        "qc_inspector",
        "logistics_clerk",
        "after_sales",
        "purchasing",
        "hr_manager",
        "executive",
        "integrator",
        "sre",
    }
)

ISSUER = "shop-backoffice"
AUDIENCE = "shop-backoffice"
ALGORITHM = "HS256"
METADATA_KEY = "authorization"


@dataclass(frozen=True)
class Identity:
    """Who is calling: a user (or integration) id and the roles it holds."""

    subject: str
    roles: frozenset[str]
    token: str = ""

    def has_any(self, roles: Iterable[str]) -> bool:
        return not self.roles.isdisjoint(roles)


_current: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("shop_identity", default=None)


def mint_token(
    subject: str, roles: Iterable[str], *, ttl_seconds: int = 12 * 3600, secret: str | None = None
) -> str:
    """Signs a token for ``subject`` holding ``roles``; unknown roles are refused."""
    role_list = sorted(set(roles))
    unknown = [r for r in role_list if r not in ROLES]
    if unknown:
        raise PermissionDenied(f"roles: unknown role(s) {', '.join(unknown)}")
    if not subject:
        raise Unauthenticated("sub: a token needs a subject")
    now = int(time.time())
    claims = {
        "sub": subject,
        "roles": role_list,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, secret or config.jwt_secret(), algorithm=ALGORITHM)


def service_identity(service: str, roles: Iterable[str], *, ttl_seconds: int = 3600) -> Identity:
    """The identity a service's own background work acts under, e.g. ``service:orders`` retrying a saga."""
    subject = f"service:{service}"
    return Identity(
        subject=subject, roles=frozenset(roles), token=mint_token(subject, roles, ttl_seconds=ttl_seconds)
    )


def verify_token(token: str, *, secret: str | None = None) -> Identity:
    """Checks signature, issuer, audience and expiry; raises Unauthenticated otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret or config.jwt_secret(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("authorization: token expired", reason="TOKEN_EXPIRED") from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"authorization: invalid token ({exc})", reason="TOKEN_INVALID") from None
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthenticated("authorization: roles claim must be a list of strings", reason="TOKEN_INVALID")
    return Identity(subject=str(claims["sub"]), roles=frozenset(roles), token=token)


def identity_from_header(value: str | None) -> Identity:
    """Parses an ``Authorization: Bearer <token>`` value."""
    if not value:
        raise Unauthenticated("authorization: missing bearer token", reason="TOKEN_MISSING")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("authorization: expected 'Bearer <token>'", reason="TOKEN_INVALID")
    return verify_token(token.strip())


def set_current(identity: Identity | None) -> contextvars.Token[Identity | None]:
    return _current.set(identity)


def reset_current(token: contextvars.Token[Identity | None]) -> None:
    _current.reset(token)


def current() -> Identity:
    """The identity of the call being served; Unauthenticated when there is none."""
    identity = _current.get()
    if identity is None:
        raise Unauthenticated("authorization: missing bearer token", reason="TOKEN_MISSING")
    return identity


def require_role(*roles: str, of: Identity | None = None) -> Identity:
    """Returns the current identity (or ``of``) if it holds one of ``roles``; PermissionDenied otherwise."""
    identity = of or current()
    if not identity.has_any(roles):
        raise PermissionDenied(
            f"role: needs one of {', '.join(sorted(roles))}",
            reason="ROLE_REQUIRED",
            metadata={"required_roles": ",".join(sorted(roles))},
        )
    return identity


def outgoing_metadata() -> list[tuple[str, str]]:
    """Metadata that forwards the current caller's identity on a downstream call."""
    identity = _current.get()
    return [(METADATA_KEY, f"Bearer {identity.token}")] if identity and identity.token else []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m libs.identity", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    mint = sub.add_parser("mint", help="print a signed development token")
    mint.add_argument("--role", action="append", required=True, help=f"one of: {', '.join(sorted(ROLES))}")
    mint.add_argument("--user", default="dev-user")
    mint.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    roles = [r for value in args.role for r in value.split(",") if r]
    print(mint_token(args.user, roles, ttl_seconds=args.ttl))


if __name__ == "__main__":
    main()
