"""The one conversion between a protobuf enum and the domain enum it carries.

A domain enum's values are the JSON profile's short names of the protobuf values (``OrderStatus.PAID`` is
``"paid"``, carried as ``ORDER_STATUS_PAID``), so the two are matched by name, once, and checked to cover
each other exactly: a value added on one side and not the other fails at import, not in production.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from google.protobuf.descriptor import EnumDescriptor

from libs.errors import InvalidArgument
from libs.json_profile import enum_codec

if TYPE_CHECKING:
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

E = TypeVar("E", bound=enum.Enum)
V = TypeVar("V", bound=int)


class EnumCodec(Generic[E, V]):
    """``EnumCodec(pb.OrderStatus, OrderStatus)``: domain member <-> protobuf value, both exhaustive, typed
    with the generated enum's value type so encoded numbers fit the generated messages' fields."""

    def __init__(self, pb_enum: _EnumTypeWrapper[V] | EnumDescriptor, domain: type[E]) -> None:
        descriptor = pb_enum if isinstance(pb_enum, EnumDescriptor) else pb_enum.DESCRIPTOR
        profile = enum_codec(descriptor)
        by_name = {str(member.value): member for member in domain}
        missing_pb = sorted(set(by_name) - set(profile.numbers))
        missing_domain = sorted(set(profile.numbers) - set(by_name))
        if missing_pb or missing_domain:
            raise TypeError(
                f"{descriptor.full_name} and {domain.__name__} differ: "
                f"only in the domain {missing_pb}, only in the contract {missing_domain}"
            )
        self.descriptor = descriptor
        self._to_pb = {member: cast(V, profile.numbers[name]) for name, member in by_name.items()}
        self._from_pb = {number: by_name[name] for name, number in profile.numbers.items()}
        self._refusal = profile.refusal()

    def to_pb(self, member: E) -> V:
        """The protobuf value of ``member``."""
        return self._to_pb[member]

    def to_pb_or_unspecified(self, member: E | None) -> V:
        """The protobuf value of ``member``, or 0 (UNSPECIFIED) for None."""
        return cast(V, 0) if member is None else self._to_pb[member]

    def from_pb(self, number: int, *, field: str) -> E:
        """The domain member a request's ``field`` names; INVALID_ARGUMENT naming it when unset or unknown."""
        found = self._from_pb.get(number)
        if found is None:
            raise InvalidArgument.for_field(field, self._refusal)
        return found

    def from_pb_or_none(self, number: int, *, field: str) -> E | None:
        """As ``from_pb``, but an unset (0) value is None: for optional enum fields."""
        return None if number == 0 else self.from_pb(number, field=field)
