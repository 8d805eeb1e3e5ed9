"""The caller's identity: JWT bearer tokens signed with the suite's key, and role checks.

The gateway authenticates each request and forwards the same bearer token to the services in the
``authorization`` gRPC metadata; every service verifies it again, so a forged or missing identity is
refused at each hop, not only at the edge.

An integrator acts for shops and channels: its token names them (``shops``, ``channels``), and order-level
RPCs refuse the others (``require_shop``). ``*`` means every shop or channel: an integration that runs the
whole business, or a service acting on its own.

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
from libs.errors import NotFound, PermissionDenied, Unauthenticated

ROLES: frozenset[str] = frozenset(
    {
        "supervisor",
        "promoter",
        "customer_service",
        "stock_keeper",
        "warehouse_supervisor",
        "qc_inspector",
        "logistics_clerk",
        # The warehouse floor's scanning station (验货专员) and packing bench (打包专员), LOG-3 and LOG-4.
        "verifier",
        "packer",
        "after_sales",
        "purchasing",
        "hr_manager",
        "executive",
        "integrator",
        "sre",
    }
)

#: The role whose tokens act only for the shops and channels they name.
INTEGRATOR = "integrator"
EVERY = "*"

ISSUER = "shop-backoffice"
AUDIENCE = "shop-backoffice"
ALGORITHM = "HS256"
METADATA_KEY = "authorization"


@dataclass(frozen=True)
class Identity:
    """Who is calling: a user (or integration) id, the roles it holds, and, for an integrator, the shops
    and channels it acts for."""

    subject: str
    roles: frozenset[str]
    token: str = ""
    shops: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()

    def has_any(self, roles: Iterable[str]) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def scoped(self) -> bool:
        """True for an integrator: it sees and changes only its own shops' and channels' orders."""
        return INTEGRATOR in self.roles

    def acts_for(self, shop_code: str, channel: str | None = None) -> bool:
        """Whether the caller may act for ``shop_code`` (and ``channel``, when given)."""
        if not self.scoped:
            return True
        shop_ok = EVERY in self.shops or shop_code in self.shops
        channel_ok = channel is None or EVERY in self.channels or channel in self.channels
        return shop_ok and channel_ok


_current: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("shop_identity", default=None)


def mint_token(
    subject: str,
    roles: Iterable[str],
    *,
    ttl_seconds: int = 12 * 3600,
    secret: str | None = None,
    shops: Iterable[str] = (),
    channels: Iterable[str] = (),
) -> str:
    """Signs a token for ``subject`` holding ``roles``; unknown roles are refused. An integrator token
    names the shops and channels it acts for (``*``: all); one without a shop could do nothing."""
    role_list = sorted(set(roles))
    unknown = [r for r in role_list if r not in ROLES]
    if unknown:
        raise PermissionDenied(f"roles: unknown role(s) {', '.join(unknown)}")
    if not subject:
        raise Unauthenticated("sub: a token needs a subject")
    shop_list, channel_list = sorted(set(shops)), sorted(set(channels))
    if INTEGRATOR in role_list and not shop_list:
        raise PermissionDenied("shops: an integrator token names the shops it acts for ('*' for all)")
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": subject,
        "roles": role_list,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if shop_list:
        claims["shops"] = shop_list
        claims["channels"] = channel_list or [EVERY]
    return jwt.encode(claims, secret or config.jwt_secret(), algorithm=ALGORITHM)


def service_identity(service: str, roles: Iterable[str], *, ttl_seconds: int = 3600) -> Identity:
    """The identity a service's own background work acts under, e.g. ``service:orders`` retrying a saga;
    it acts for every shop and channel."""
    subject = f"service:{service}"
    every = frozenset({EVERY})
    token = mint_token(subject, roles, ttl_seconds=ttl_seconds, shops=every, channels=every)
    return Identity(subject=subject, roles=frozenset(roles), token=token, shops=every, channels=every)


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
    roles, shops, channels = (_strings(claims, name) for name in ("roles", "shops", "channels"))
    return Identity(
        subject=str(claims["sub"]),
        roles=frozenset(roles),
        token=token,
        shops=frozenset(shops),
        channels=frozenset(channels),
    )


def _strings(claims: dict[str, object], name: str) -> list[str]:
    value = claims.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Unauthenticated(
            f"authorization: {name} claim must be a list of strings", reason="TOKEN_INVALID"
        )
    return value


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


def require_shop(
    shop_code: str, *, field: str, channel: str | None = None, of: Identity | None = None
) -> None:
    """Refuses a scoped caller (an integrator) anything of a shop or channel it does not act for. It is
    told NOT_FOUND naming ``field``, as for an id that does not exist: another shop's ids reveal nothing."""
    caller = of or current()
    if not caller.acts_for(shop_code, channel):
        raise NotFound.for_field(field, "not found among the shops this token acts for", reason="NOT_FOUND")


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
    mint.add_argument("--shops", default="", help="an integrator's shop codes, comma-separated ('*': all)")
    mint.add_argument(
        "--channels", default="", help="an integrator's channels, comma-separated (default all)"
    )
    args = parser.parse_args(argv)
    roles = [r for value in args.role for r in value.split(",") if r]
    shops = [s for s in args.shops.split(",") if s]
    channels = [c for c in args.channels.split(",") if c]
    print(mint_token(args.user, roles, ttl_seconds=args.ttl, shops=shops, channels=channels))


if __name__ == "__main__":
    main()
