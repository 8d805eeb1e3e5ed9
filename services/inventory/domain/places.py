"""Places (INV-2): warehouses, sellable or defective-goods, each with bin locations (库位)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from libs.errors import Violations

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")

#: The main sellable warehouse: where a request that names no warehouse goes.
DEFAULT_WAREHOUSE = "MAIN"
#: The defective-goods warehouse (次品仓) every inventory database starts with (INV-2).
DEFECTIVE_WAREHOUSE = "DEFECTIVE"
#: A warehouse registered without saying otherwise is a sellable one; a defective-goods warehouse is
#: registered on purpose.
DEFAULT_SELLABLE = True


def warehouse_or_default(warehouse_code: str) -> str:
    """The warehouse a request names, or the main warehouse when it names none."""
    return warehouse_code or DEFAULT_WAREHOUSE


@dataclass(frozen=True)
class Warehouse:
    warehouse_code: str
    name: str
    # False for a defective-goods warehouse (次品仓): its stock is never available for sale.
    sellable: bool


@dataclass(frozen=True)
class Bin:
    warehouse_code: str
    bin_code: str
    description: str


def new_warehouse(warehouse_code: str, name: str, sellable: bool | None = None) -> Warehouse:
    """Validates a warehouse to register; ``sellable`` unset means a sellable warehouse (INV-2)."""
    v = Violations()
    code = warehouse_code.strip()
    v.require(bool(_CODE.match(code)), "warehouse_code", "must be 1-32 letters, digits, '.', '_' or '-'")
    v.require(bool(name.strip()), "name", "is required")
    v.require(len(name) <= 200, "name", "must be at most 200 characters")
    v.raise_if_any()
    return Warehouse(code, name.strip(), DEFAULT_SELLABLE if sellable is None else sellable)


def new_bin(warehouse_code: str, bin_code: str, description: str) -> Bin:
    """Validates a bin location to register in a warehouse (INV-2, INV-6)."""
    v = Violations()
    code = bin_code.strip()
    v.require(bool(warehouse_code.strip()), "warehouse_code", "is required")
    v.require(bool(_CODE.match(code)), "bin_code", "must be 1-32 letters, digits, '.', '_' or '-'")
    v.require(len(description) <= 200, "description", "must be at most 200 characters")
    v.raise_if_any()
    return Bin(warehouse_code.strip(), code, description.strip())
