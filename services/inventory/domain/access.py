"""Who may move stock (INV-18, 003 rule 21).

Only stock keepers move stock in the warehouse. Anyone else needs an approval: a stock keeper may let a
person in to carry goods; any other reason needs the department leader's (a supervisor's or the warehouse
supervisor's) approval. An approval names the person, the purpose and how long it holds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.errors import PermissionDenied, Violations

STOCK_KEEPER = "stock_keeper"
LEADERS = ("supervisor", "warehouse_supervisor")
MAX_GRANT = timedelta(days=1)


class Purpose(enum.Enum):
    GOODS_HANDLING = "goods_handling"  # carrying goods, allowed by a stock keeper
    SPECIAL = "special"  # any other reason, approved by the department leader


@dataclass(frozen=True)
class AccessGrant:
    user_id: str
    purpose: Purpose
    granted_by: str
    granted_by_role: str
    valid_until: datetime


def grant(
    *,
    user_id: str,
    purpose: Purpose | None,
    valid_until: datetime,
    now: datetime,
    grantor: str,
    grantor_roles: frozenset[str],
) -> AccessGrant:
    """Validates an approval; the grantor's role must allow the purpose."""
    v = Violations()
    v.require(bool(user_id.strip()), "user_id", "is required")
    v.require(user_id.strip() != grantor, "user_id", "an approval is for someone else")
    v.require(purpose is not None, "purpose", "must be goods_handling or special")
    v.require(now < valid_until <= now + MAX_GRANT, "valid_until", "must be in the future and within a day")
    v.raise_if_any()
    assert purpose is not None
    allowed = (STOCK_KEEPER, *LEADERS) if purpose is Purpose.GOODS_HANDLING else LEADERS
    role = next((r for r in allowed if r in grantor_roles), None)
    if role is None:
        raise PermissionDenied.for_field(
            "purpose", f"{purpose.value} access is approved by: {', '.join(allowed)}", reason="ROLE_REQUIRED"
        )
    return AccessGrant(user_id.strip(), purpose, grantor, role, valid_until)
