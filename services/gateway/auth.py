"""Authentication at the edge: every route but the health checks needs a valid bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from libs.identity import Identity, identity_from_header


async def authenticate(authorization: Annotated[str | None, Header()] = None) -> Identity:
    """The verified caller; a missing, expired or forged token is refused with 401."""
    return identity_from_header(authorization)


Caller = Annotated[Identity, Depends(authenticate)]
