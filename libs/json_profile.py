"""The suite's one JSON profile: protobuf messages <-> JSON values, both directions, driven by descriptors.

It differs from proto3 JSON where that serves HTTP clients better:

- field names are the proto names (snake_case);
- enums are short lower-case names without the enum's prefix (``ORDER_STATUS_PAID`` -> ``"paid"``), the
  zero value is ``null``;
- a ``shop.common.v1.Money`` field ``x`` is the integer ``x_fen`` (CNY minor units);
- 64-bit integers are JSON integers, not strings;
- every field is written, defaults included, so a client always sees the same shape (oneof members that
  are not set are left out);
- input is strict: unknown fields, wrong JSON types, out-of-range integers and text that cannot be stored
  are refused, every violation of a request at once, each naming its field path (``lines[2].quantity``).

Other well-known types follow proto3 JSON. ``json_schema`` describes the same shape as JSON Schema 2020-12.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast, overload

from google.protobuf import descriptor_pb2, json_format, message_factory
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    EnumValueDescriptor,
    FieldDescriptor,
    OneofDescriptor,
)
from google.protobuf.message import Message

from libs.errors import InvalidArgument, Violations

M = TypeVar("M", bound=Message)

#: Deepest nesting of JSON arrays and objects accepted in a request.
MAX_DEPTH = 32
MONEY = "shop.common.v1.Money"
#: The suite's one currency; Money travels over JSON as an integer amount of its minor unit (fen).
CURRENCY = "CNY"
FEN_SUFFIX = "_fen"

TIMESTAMP = "google.protobuf.Timestamp"
WRAPPERS = frozenset(
    f"google.protobuf.{name}"
    for name in (
        "DoubleValue",
        "FloatValue",
        "Int64Value",
        "UInt64Value",
        "Int32Value",
        "UInt32Value",
        "BoolValue",
        "StringValue",
        "BytesValue",
    )
)
# Well-known types left to proto3 JSON (google.protobuf.json_format).
DELEGATED = frozenset(
    f"google.protobuf.{name}"
    for name in ("Duration", "Struct", "Value", "ListValue", "FieldMask", "Empty", "Any")
)

# A description of a schema element from the proto comments (see libs.openapi.Comments.of).
Describe = Callable[[Descriptor | FieldDescriptor | EnumDescriptor | EnumValueDescriptor], str | None]

_T = FieldDescriptor
# Integer field types by their JSON Schema format, and each format's range as a refusal names it.
_INT_FORMATS = {
    _T.TYPE_INT32: "int32",
    _T.TYPE_SINT32: "int32",
    _T.TYPE_SFIXED32: "int32",
    _T.TYPE_UINT32: "uint32",
    _T.TYPE_FIXED32: "uint32",
    _T.TYPE_INT64: "int64",
    _T.TYPE_SINT64: "int64",
    _T.TYPE_SFIXED64: "int64",
    _T.TYPE_UINT64: "uint64",
    _T.TYPE_FIXED64: "uint64",
}
_FORMAT_RANGES = {
    "int32": (-(2**31), 2**31 - 1, "a signed 32-bit integer"),
    "uint32": (0, 2**32 - 1, "an unsigned 32-bit integer"),
    "int64": (-(2**63), 2**63 - 1, "a signed 64-bit integer"),
    "uint64": (0, 2**64 - 1, "an unsigned 64-bit integer"),
}
_INT_RANGES = {kind: _FORMAT_RANGES[name] for kind, name in _INT_FORMATS.items()}
_FLOAT32_MAX = 3.4028234663852886e38
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class Invalid:
    """Marks a value that was refused (its violation is already recorded)."""


INVALID = Invalid()


# ---------------------------------------------------------------------------------------------- enums


@dataclass(frozen=True)
class EnumCodec:
    """Profile names of one enum: ``ORDER_STATUS_PAID`` of ``OrderStatus`` is ``"paid"``; zero is ``None``."""

    full_name: str
    #: Number -> name, every declared value except zero (the first name of an alias).
    names: dict[int, str]
    #: Name -> number, every declared value except zero.
    numbers: dict[str, int]

    @property
    def allowed(self) -> tuple[str, ...]:
        """The names a client may send, in declaration order."""
        return tuple(self.numbers)

    def name(self, number: int) -> str | None:
        """The profile name of ``number``; ``None`` for zero. Raises ValueError for an undeclared number."""
        if number == 0:
            return None
        try:
            return self.names[number]
        except KeyError:
            raise ValueError(f"{self.full_name} declares no value {number}") from None

    def number(self, name: str | None, *, field: str = "") -> int:
        """The number of a profile name; ``None`` is zero. An unknown name raises InvalidArgument naming
        ``field`` (by default the enum's own name) and listing the allowed names."""
        if name is None:
            return 0
        found = self.numbers.get(name)
        if found is None:
            path = field or _snake(self.full_name.rsplit(".", 1)[-1])
            raise InvalidArgument.for_field(path, self.refusal())
        return found

    def refusal(self) -> str:
        """How a refused name is described: the names a client may send."""
        return f"must be one of: {', '.join(self.allowed)}"


def _snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", camel).lower()


@functools.cache
def enum_codec(descriptor: EnumDescriptor) -> EnumCodec:
    """The codec of an enum, built once. Values that lack the enum's prefix keep their whole name."""
    prefix = _snake(descriptor.name).upper() + "_"
    names: dict[int, str] = {}
    numbers: dict[str, int] = {}
    for value in descriptor.values:
        if value.number == 0:
            continue
        short = value.name[len(prefix) :] if value.name.startswith(prefix) else value.name
        short = short.lower()
        if short in numbers:
            raise ValueError(f"{descriptor.full_name}: two values are both named {short!r} in JSON")
        numbers[short] = value.number
        names.setdefault(value.number, short)
    return EnumCodec(descriptor.full_name, names, numbers)


def enum_name(descriptor: EnumDescriptor, number: int) -> str | None:
    """The profile name of an enum number (``None`` for zero)."""
    return enum_codec(descriptor).name(number)


def enum_number(descriptor: EnumDescriptor, name: str | None, *, field: str = "") -> int:
    """The enum number of a profile name (zero for ``None``); InvalidArgument naming ``field`` if unknown."""
    return enum_codec(descriptor).number(name, field=field)


# ------------------------------------------------------------------------------------------ layout


def is_map(field: FieldDescriptor) -> bool:
    """Whether ``field`` is a map (a repeated field of generated map entries)."""
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def is_money(field: FieldDescriptor) -> bool:
    """Whether ``field`` holds ``shop.common.v1.Money`` (written as fen)."""
    return field.message_type is not None and field.message_type.full_name == MONEY


def json_key(field: FieldDescriptor) -> str:
    """The field's name in JSON: its proto name, or ``x_fen`` for a Money field ``x`` (not in maps)."""
    return field.name + FEN_SUFFIX if is_money(field) and not is_map(field) else field.name


@dataclass(frozen=True)
class _Layout:
    by_key: dict[str, FieldDescriptor]
    # The real oneof of each member field; proto3 ``optional`` fields sit in synthetic oneofs, left out.
    oneof_of: dict[str, OneofDescriptor]


@functools.cache
def _layout(descriptor: Descriptor) -> _Layout:
    proto = descriptor_pb2.DescriptorProto()
    descriptor.CopyToProto(proto)
    optional = {f.name for f in proto.field if f.proto3_optional}
    oneof_of = {
        f.name: f.containing_oneof
        for f in descriptor.fields
        if f.containing_oneof is not None and f.name not in optional
    }
    return _Layout({json_key(f): f for f in descriptor.fields}, oneof_of)


def field_by_key(descriptor: Descriptor, key: str) -> FieldDescriptor | None:
    """The field a JSON key names (``total_fen`` names the Money field ``total``)."""
    return _layout(descriptor).by_key.get(key)


def oneof_of(field: FieldDescriptor) -> OneofDescriptor | None:
    """The real oneof ``field`` belongs to (``None`` for proto3 ``optional`` fields)."""
    assert field.containing_type is not None
    return _layout(field.containing_type).oneof_of.get(field.name)


def descriptor_of(message: Message | type[Message]) -> Descriptor:
    """The descriptor of a message or message class, typed as the pure-Python API describes it."""
    return cast(Descriptor, message.DESCRIPTOR)


def message_class(descriptor: Descriptor) -> type[Message]:
    """The generated (or built) message class of a descriptor."""
    return message_factory.GetMessageClass(descriptor)


# ------------------------------------------------------------------------------------------ output


def to_json(message: Message) -> dict[str, Any]:
    """``message`` as a JSON object under the profile: every field present, defaults included."""
    return _message_out(message)


def field_to_json(message: Message, field: FieldDescriptor) -> Any:
    """The JSON value of one field of ``message`` (e.g. a ``response_body`` field)."""
    if is_map(field):
        entry = field.message_type
        assert entry is not None
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return {
            _map_key_out(k, key_field): _value_out(v, value_field)
            for k, v in getattr(message, field.name).items()
        }
    if field.is_repeated:
        return [_value_out(v, field) for v in getattr(message, field.name)]
    if field.has_presence and not message.HasField(field.name):
        return None
    return _value_out(getattr(message, field.name), field)


def _message_out(message: Message) -> dict[str, Any]:
    descriptor = descriptor_of(message)
    out: dict[str, Any] = {}
    for field in descriptor.fields:
        oneof = oneof_of(field)
        if oneof is not None and message.WhichOneof(oneof.name) != field.name:
            continue
        out[json_key(field)] = field_to_json(message, field)
    return out


def _map_key_out(key: object, field: FieldDescriptor) -> str:
    if field.type == _T.TYPE_BOOL:
        return "true" if key else "false"
    return str(key)


def _value_out(value: Any, field: FieldDescriptor) -> Any:
    if field.type == _T.TYPE_MESSAGE:
        return _message_value_out(value)
    if field.type == _T.TYPE_ENUM:
        assert field.enum_type is not None
        return enum_name(field.enum_type, value)
    return _scalar_out(value, field.type)


def _scalar_out(value: Any, kind: int) -> Any:
    if kind in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return _shortest_float32(value) if kind == _T.TYPE_FLOAT else float(value)
    if kind == _T.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def _shortest_float32(value: float) -> float:
    # A float field holds a 32-bit float; print the shortest decimal that reads back as the same one.
    packed = struct.pack("<f", value)
    for digits in range(6, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == packed:
            return candidate
    return value


def _message_value_out(value: Message) -> Any:
    name = value.DESCRIPTOR.full_name
    if name == MONEY:
        currency = getattr(value, "currency_code")  # noqa: B009 - Money's generated class is not imported
        if currency not in ("", CURRENCY):
            raise ValueError(f"an amount in {currency} cannot be written as fen")
        return int(getattr(value, "amount_minor"))  # noqa: B009
    if name == TIMESTAMP:
        return value.ToJsonString()  # type: ignore[attr-defined]
    if name in WRAPPERS:
        inner = value.DESCRIPTOR.fields_by_name["value"]
        return _scalar_out(getattr(value, "value"), inner.type)  # noqa: B009
    if name in DELEGATED:
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    return _message_out(value)


# ------------------------------------------------------------------------------------------- input


@overload
def from_json(data: object, message_type: type[M], *, prefix: str = "") -> M: ...


@overload
def from_json(data: object, message_type: Descriptor, *, prefix: str = "") -> Message: ...


def from_json(data: object, message_type: type[Message] | Descriptor, *, prefix: str = "") -> Message:
    """Reads a JSON object (as ``json.loads`` returns it) into a new message of ``message_type`` (a
    generated class, or a descriptor).

    Every violation is collected and raised as one InvalidArgument, each naming its field path below
    ``prefix``. ``null`` means "not set".
    """
    violations = Violations()
    message = read_json(data, message_type, violations=violations, prefix=prefix)
    violations.raise_if_any()
    return message


@overload
def read_json(data: object, message_type: type[M], *, violations: Violations, prefix: str = "") -> M: ...


@overload
def read_json(
    data: object, message_type: Descriptor, *, violations: Violations, prefix: str = ""
) -> Message: ...


def read_json(
    data: object,
    message_type: type[Message] | Descriptor,
    *,
    violations: Violations,
    prefix: str = "",
) -> Message:
    """Like ``from_json``, but adds the violations to ``violations`` and returns what could be read."""
    if isinstance(message_type, Descriptor):
        descriptor, cls = message_type, message_class(message_type)
    else:
        descriptor, cls = descriptor_of(message_type), message_type
    message = cls()
    root = prefix or "body"
    if nesting_exceeds(data, MAX_DEPTH):
        violations.add(root, f"is nested more than {MAX_DEPTH} levels deep")
    elif not isinstance(data, dict):
        violations.add(root, "must be a JSON object")
    else:
        _Reader(violations).message(data, descriptor, message, prefix)
    return message


def nesting_exceeds(data: object, limit: int) -> bool:
    """Whether arrays and objects in ``data`` nest deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored (NUL or a lone surrogate), or ``None``."""
    if "\x00" in value:
        return "must not contain the NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (it holds a lone surrogate)"
    return None


def join(path: str, key: str) -> str:
    """A field path one key deeper: ``join("address", "phone")`` is ``address.phone``."""
    return f"{path}.{key}" if path else key


_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?"
)
_EPOCH = datetime(1970, 1, 1)
# google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799
TIMESTAMP_HINT = "must be an RFC 3339 date-time with a UTC offset, e.g. 2030-01-31T18:00:00Z"


def parse_timestamp(text: str) -> tuple[int, int] | str:
    """``(seconds, nanos)`` of an RFC 3339 date-time with an explicit offset, or why it is refused."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return TIMESTAMP_HINT
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu is None and sign is None:
        return "must have a UTC offset (Z or e.g. +08:00)"
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return "is not a valid date-time: the date or the time does not exist"
    offset = 0
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            return "has an invalid UTC offset"
        offset = (int(off_h) * 60 + int(off_m)) * 60 * (1 if sign == "+" else -1)
    delta: timedelta = local - _EPOCH
    seconds = delta.days * 86400 + delta.seconds - offset
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        return "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
    nanos = int((fraction or "").ljust(9, "0"))
    return seconds, nanos


class _Reader:
    """Reads JSON into messages, recording every violation instead of stopping at the first."""

    def __init__(self, violations: Violations) -> None:
        self.violations = violations

    def add(self, path: str, description: str) -> Invalid:
        self.violations.add(path, description)
        return INVALID

    def message(self, data: dict[str, Any], descriptor: Descriptor, message: Message, path: str) -> None:
        layout = _layout(descriptor)
        chosen: dict[str, str] = {}
        for raw_key, value in data.items():
            key = str(raw_key)
            here = join(path, key)
            field = layout.by_key.get(key)
            if field is None:
                self.add(here, _unknown(key, descriptor, top=not path))
                continue
            if value is None:
                continue
            oneof = layout.oneof_of.get(field.name)
            if oneof is not None:
                if oneof.name in chosen:
                    self.add(here, f"cannot be set together with {chosen[oneof.name]} (one of {oneof.name})")
                    continue
                chosen[oneof.name] = key
            self.field(value, field, message, here)

    def field(self, value: Any, field: FieldDescriptor, message: Message, path: str) -> None:
        if is_map(field):
            self.map(value, field, message, path)
        elif field.is_repeated:
            if not isinstance(value, list):
                self.add(path, "must be a JSON array")
                return
            container = getattr(message, field.name)
            for index, item in enumerate(value):
                here = f"{path}[{index}]"
                if item is None and not _accepts_null(field):
                    self.add(here, "must not be null")
                elif field.message_type is not None:
                    self.message_value(item, field.message_type, container.add(), here)
                else:
                    parsed = self.scalar(item, field, here)
                    if not isinstance(parsed, Invalid):
                        container.append(parsed)
        elif field.message_type is not None:
            child = getattr(message, field.name)
            child.SetInParent()
            self.message_value(value, field.message_type, child, path)
        else:
            parsed = self.scalar(value, field, path)
            if not isinstance(parsed, Invalid):
                setattr(message, field.name, parsed)

    def map(self, value: Any, field: FieldDescriptor, message: Message, path: str) -> None:
        if not isinstance(value, dict):
            self.add(path, "must be a JSON object")
            return
        entry = field.message_type
        assert entry is not None
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        container = getattr(message, field.name)
        for raw_key, item in value.items():
            here = f"{path}[{json.dumps(raw_key, ensure_ascii=False)}]"
            key = self.map_key(str(raw_key), key_field, here)
            if isinstance(key, Invalid):
                continue
            if item is None:
                self.add(here, "must not be null")
            elif value_field.message_type is not None:
                self.message_value(item, value_field.message_type, container[key], here)
            else:
                parsed = self.scalar(item, value_field, here)
                if not isinstance(parsed, Invalid):
                    container[key] = parsed

    def map_key(self, key: str, field: FieldDescriptor, path: str) -> Any:
        if field.type == _T.TYPE_STRING:
            problem = text_problem(key)
            return self.add(path, f"key {problem}") if problem else key
        if field.type == _T.TYPE_BOOL:
            if key not in ("true", "false"):
                return self.add(path, "key must be true or false")
            return key == "true"
        low, high, width = _INT_RANGES[field.type]
        if re.fullmatch(r"-?[0-9]+", key) is None:
            return self.add(path, "key must be an integer")
        number = int(key)
        if not low <= number <= high:
            return self.add(path, f"key must fit {width}")
        return number

    def message_value(self, value: Any, descriptor: Descriptor, message: Message, path: str) -> None:
        name = descriptor.full_name
        if name == MONEY:
            amount = self.integer(value, _T.TYPE_INT64, path, what="an integer amount in fen")
            if not isinstance(amount, Invalid):
                setattr(message, "currency_code", CURRENCY)  # noqa: B010
                setattr(message, "amount_minor", amount)  # noqa: B010
        elif name == TIMESTAMP:
            if not isinstance(value, str):
                self.add(path, TIMESTAMP_HINT)
                return
            parsed = parse_timestamp(value)
            if isinstance(parsed, str):
                self.add(path, parsed)
            else:
                setattr(message, "seconds", parsed[0])  # noqa: B010
                setattr(message, "nanos", parsed[1])  # noqa: B010
        elif name in WRAPPERS:
            inner = self.scalar(value, descriptor.fields_by_name["value"], path)
            if not isinstance(inner, Invalid):
                setattr(message, "value", inner)  # noqa: B010
        elif name in DELEGATED:
            self.delegated(value, message, path)
        elif not isinstance(value, dict):
            self.add(path, "must be a JSON object")
        else:
            self.message(value, descriptor, message, path)

    def delegated(self, value: Any, message: Message, path: str) -> None:
        problem = next((p for p in map(text_problem, _strings(value)) if p), None)
        if problem:
            self.add(path, problem)
            return
        try:
            json_format.ParseDict(value, message, max_recursion_depth=MAX_DEPTH + 1)
        except (json_format.ParseError, ValueError, TypeError) as err:
            self.add(path, f"is not a valid {message.DESCRIPTOR.name}: {err}")

    def scalar(self, value: Any, field: FieldDescriptor, path: str) -> Any:
        kind = field.type
        if kind == _T.TYPE_ENUM:
            assert field.enum_type is not None
            codec = enum_codec(field.enum_type)
            if not isinstance(value, str) or value not in codec.numbers:
                return self.add(path, codec.refusal())
            return codec.numbers[value]
        if kind in _INT_RANGES:
            return self.integer(value, kind, path)
        if kind in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
            return self.number(value, kind, path)
        if kind == _T.TYPE_BOOL:
            return value if type(value) is bool else self.add(path, "must be true or false")
        if kind == _T.TYPE_STRING:
            if not isinstance(value, str):
                return self.add(path, "must be a string")
            problem = text_problem(value)
            return self.add(path, problem) if problem else value
        if kind == _T.TYPE_BYTES:
            return self.base64(value, path)
        return self.add(path, "has a type this profile cannot read")

    def integer(self, value: Any, kind: int, path: str, *, what: str = "an integer") -> Any:
        # bool is an int in Python, and 5.0 or "5" are not integers in this profile.
        if type(value) is not int:
            return self.add(path, f"must be {what}")
        low, high, width = _INT_RANGES[kind]
        if not low <= value <= high:
            return self.add(path, f"must fit {width}")
        return value

    def number(self, value: Any, kind: int, path: str) -> Any:
        if isinstance(value, str) and value in _NON_FINITE:
            return _NON_FINITE[value]
        if type(value) not in (int, float):
            return self.add(path, "must be a number")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isinf(number):
            return self.add(path, "is out of range for a number")
        if kind == _T.TYPE_FLOAT and abs(number) > _FLOAT32_MAX:
            return self.add(path, "must fit a 32-bit float")
        return number

    def base64(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            return self.add(path, "must be a base64 string")
        # proto3 JSON accepts the standard and the URL-safe alphabet, with or without padding.
        text = value.replace("-", "+").replace("_", "/")
        text += "=" * (-len(text) % 4)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return self.add(path, "must be a base64 string")


def _accepts_null(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.full_name == "google.protobuf.Value"


def _strings(value: Any) -> Iterable[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(str(k) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _unknown(key: str, descriptor: Descriptor, *, top: bool) -> str:
    owner = "this request" if top else descriptor.name
    description = f"is not a field of {owner}"
    layout = _layout(descriptor)
    # Hint the profile's spelling for the usual mistakes: camelCase, or a Money field without _fen.
    for guess in (_snake(key), key + FEN_SUFFIX):
        if guess != key and guess in layout.by_key:
            return f"{description}; did you mean {guess}?"
    return description


# ------------------------------------------------------------------------------------------ schema

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_DURATION_PATTERN = r"^-?[0-9]+(\.[0-9]{1,9})?s$"


class SchemaBuilder:
    """JSON Schemas (2020-12) of messages under this profile; each message and enum is defined once in
    ``definitions`` and referred to as ``ref_prefix + full name`` (recursive messages included)."""

    def __init__(self, *, describe: Describe | None = None, ref_prefix: str = "#/$defs/") -> None:
        self.describe: Describe = describe or (lambda _d: None)
        self.ref_prefix = ref_prefix
        self.definitions: dict[str, dict[str, Any]] = {}

    def ref(self, descriptor: Descriptor | EnumDescriptor) -> dict[str, Any]:
        """A reference to the definition of a message or an enum, defining it on first use."""
        name = descriptor.full_name
        if name not in self.definitions:
            self.definitions[name] = {}  # a placeholder first, so that a recursive message ends
            if isinstance(descriptor, EnumDescriptor):
                self.definitions[name] = self.enum_schema(descriptor)
            else:
                self.definitions[name] = self.message_schema(descriptor)
        return {"$ref": self.ref_prefix + name}

    def message_schema(self, descriptor: Descriptor, *, without: Iterable[str] = ()) -> dict[str, Any]:
        """The inline object schema of a message; ``without`` leaves out fields by path (``a.b``)."""
        omitted = set(without)
        properties: dict[str, Any] = {}
        for field in descriptor.fields:
            if field.name in omitted:
                continue
            nested = {p.split(".", 1)[1] for p in omitted if p.startswith(field.name + ".")}
            if nested and field.message_type is not None and not field.is_repeated:
                inline = self._described(self.message_schema(field.message_type, without=nested), field)
                properties[json_key(field)] = {"anyOf": [inline, {"type": "null"}]}
            else:
                properties[json_key(field)] = self.field_schema(field)
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        notes = [self.describe(descriptor) or ""]
        for oneof in {o.name: o for o in _layout(descriptor).oneof_of.values()}.values():
            members = ", ".join(json_key(f) for f in oneof.fields)
            notes.append(f"At most one of {members} is set; the others are left out.")
        text = "\n\n".join(n for n in notes if n)
        if text:
            schema["description"] = text
        return schema

    def enum_schema(self, descriptor: EnumDescriptor) -> dict[str, Any]:
        codec = enum_codec(descriptor)
        schema: dict[str, Any] = {"type": "string", "enum": list(codec.allowed)}
        lines = [self.describe(descriptor) or ""]
        for value in descriptor.values:
            note = self.describe(value)
            if value.number and note and value.number in codec.names:
                lines.append(f"- `{codec.names[value.number]}`: {note}")
        text = "\n".join(line for line in lines if line).strip()
        if text:
            schema["description"] = text
        return schema

    def field_schema(self, field: FieldDescriptor) -> dict[str, Any]:
        """The schema of a field's JSON value: a value, an array, an object for a map, nullable if unset
        reads as ``null``."""
        if is_map(field):
            entry = field.message_type
            assert entry is not None
            key_field = entry.fields_by_name["key"]
            schema: dict[str, Any] = {
                "type": "object",
                "additionalProperties": self.value_schema(entry.fields_by_name["value"]),
            }
            if key_field.type == _T.TYPE_BOOL:
                schema["propertyNames"] = {"enum": ["true", "false"]}
            elif key_field.type != _T.TYPE_STRING:
                schema["propertyNames"] = {"pattern": "^-?[0-9]+$"}
        elif field.is_repeated:
            schema = {"type": "array", "items": self.value_schema(field)}
        else:
            schema = self.value_schema(field)
            if field.has_presence or field.type == _T.TYPE_ENUM:
                schema = _nullable(schema)
        return self._described(schema, field)

    def value_schema(self, field: FieldDescriptor) -> dict[str, Any]:
        """The schema of one value of a field (an element, for a repeated field), never null."""
        if field.type == _T.TYPE_ENUM:
            assert field.enum_type is not None
            return self.ref(field.enum_type)
        if field.type == _T.TYPE_MESSAGE:
            assert field.message_type is not None
            return self.message_value_schema(field.message_type)
        return scalar_schema(field.type)

    def message_value_schema(self, descriptor: Descriptor) -> dict[str, Any]:
        name = descriptor.full_name
        if name == MONEY:
            # The profile reads an amount into Money.amount_minor, an int64: say so, with its range.
            return {**scalar_schema(_T.TYPE_INT64), "description": "An amount in fen (CNY minor units)."}
        if name == TIMESTAMP:
            return {"type": "string", "format": "date-time"}
        if name in WRAPPERS:
            return scalar_schema(descriptor.fields_by_name["value"].type)
        if name == "google.protobuf.Duration":
            return {"type": "string", "pattern": _DURATION_PATTERN, "description": "Seconds, e.g. 1.5s."}
        if name == "google.protobuf.Struct":
            return {"type": "object"}
        if name == "google.protobuf.ListValue":
            return {"type": "array"}
        if name == "google.protobuf.Value":
            return {}
        if name == "google.protobuf.FieldMask":
            return {"type": "string"}
        if name == "google.protobuf.Empty":
            return {"type": "object", "additionalProperties": False}
        if name == "google.protobuf.Any":
            return {"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]}
        return self.ref(descriptor)

    def _described(self, schema: dict[str, Any], field: FieldDescriptor) -> dict[str, Any]:
        # JSON Schema 2020-12 (and so OpenAPI 3.1) allows a description beside "$ref".
        note = self.describe(field)
        if not note:
            return schema
        existing = schema.get("description")
        return {**schema, "description": f"{note}\n\n{existing}" if existing else note}


def scalar_schema(kind: int) -> dict[str, Any]:
    """The schema of a scalar protobuf type under this profile."""
    if kind in _INT_RANGES:
        low, high, _ = _INT_RANGES[kind]
        return {"type": "integer", "format": _INT_FORMATS[kind], "minimum": low, "maximum": high}
    if kind == _T.TYPE_DOUBLE:
        return {"type": "number", "format": "double"}
    if kind == _T.TYPE_FLOAT:
        return {"type": "number", "format": "float"}
    if kind == _T.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == _T.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64"}
    return {"type": "string"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema or "type" not in schema:
        return {"anyOf": [schema, {"type": "null"}]} if schema else schema
    kind = schema["type"]
    kinds = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
    return {**schema, "type": kinds}


def json_schema(descriptor: Descriptor, *, describe: Describe | None = None) -> dict[str, Any]:
    """The JSON Schema 2020-12 of a message under this profile; nested messages and enums in ``$defs``."""
    builder = SchemaBuilder(describe=describe)
    schema: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, "title": descriptor.full_name}
    schema.update(builder.message_schema(descriptor))
    if builder.definitions:
        schema["$defs"] = builder.definitions
    return schema
