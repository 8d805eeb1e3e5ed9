"""The JSON profile: messages <-> JSON both ways, every refusal naming its field path, and the schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from google.protobuf import struct_pb2
from google.protobuf.descriptor import EnumValueDescriptor
from hypothesis import given
from hypothesis import strategies as st
from shop.common.v1 import money_pb2, policy_pb2
from shop.testing.v1 import echo_pb2

from libs import json_profile as profile
from libs.errors import InvalidArgument

Everything = echo_pb2.ABitOfEverything
STATUS = echo_pb2.OrderStatus.DESCRIPTOR
CNY = "CNY"


def refusals(data: object, message_type: Any = Everything, **kwargs: Any) -> dict[str, str]:
    """The violations ``from_json`` raises, by field path."""
    with pytest.raises(InvalidArgument) as caught:
        profile.from_json(data, message_type, **kwargs)
    return {v.field: v.description for v in caught.value.violations}


def money(fen: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code=CNY, amount_minor=fen)


def populated() -> echo_pb2.ABitOfEverything:
    m = Everything(
        double_value=1.25,
        float_value=0.1,
        int64_value=2**63 - 1,
        uint64_value=2**64 - 1,
        int32_value=-(2**31),
        fixed64_value=7,
        fixed32_value=2**32 - 1,
        bool_value=True,
        string_value="中文 ✓",
        bytes_value=b"\x00\xffbytes",
        uint32_value=3,
        sfixed32_value=-4,
        sfixed64_value=-5,
        sint32_value=-6,
        sint64_value=-(2**63),
        status=echo_pb2.ORDER_STATUS_PAID,
        channel=echo_pb2.CHANNEL_OWN_SITE,
        price=money(12_345),
        instalments=[money(100), money(-5)],
        tags=["a", "b"],
        numbers=[1, 2**62],
        statuses=[echo_pb2.ORDER_STATUS_PAID, echo_pb2.ORDER_STATUS_CANCELLED],
        phone="+86 10 1234",
        optional_count=0,
        request_id="r-1",
    )
    m.price_by_sku["sku-1"].CopyFrom(money(990))
    m.created_at.FromJsonString("2024-03-01T12:30:00.5Z")
    m.timeout.FromJsonString("1.5s")
    m.limit.value = 2**40
    m.nickname.value = "nick"
    m.attributes.update({"colour": "red", "count": 2.0})
    m.anything.string_value = "any"
    m.nested.name = "inner"
    m.nested.kind = Everything.Nested.KIND_LARGE_BOX
    m.nested_list.add(name="first", amount=1)
    m.nested_by_name["k"].amount = 9
    m.labels_by_number[-3] = "minus three"
    m.counts[2**40] = -1
    m.flags[True] = "yes"
    m.status_by_sku["sku-1"] = echo_pb2.ORDER_STATUS_PENDING_PAYMENT
    m.child.string_value = "child"
    m.checkpoints.add().FromJsonString("2000-01-01T00:00:00Z")
    return m


# ------------------------------------------------------------------------------------------ enum codec


def test_enum_names_drop_the_prefix_and_lower_the_case() -> None:
    assert profile.enum_name(STATUS, echo_pb2.ORDER_STATUS_PAID) == "paid"
    assert profile.enum_name(echo_pb2.Channel.DESCRIPTOR, echo_pb2.CHANNEL_OWN_SITE) == "own_site"
    nested = Everything.Nested.Kind.DESCRIPTOR
    assert profile.enum_name(nested, Everything.Nested.KIND_LARGE_BOX) == "large_box"
    assert (
        profile.enum_name(policy_pb2.Idempotency.DESCRIPTOR, policy_pb2.IDEMPOTENCY_READ_ONLY) == "read_only"
    )


def test_enum_zero_is_none_both_ways() -> None:
    assert profile.enum_name(STATUS, 0) is None
    assert profile.enum_number(STATUS, None) == 0


def test_enum_numbers_and_the_allowed_names() -> None:
    codec = profile.enum_codec(STATUS)
    assert codec is profile.enum_codec(STATUS)  # built once
    assert codec.allowed == ("pending_payment", "paid", "cancelled")
    assert profile.enum_number(STATUS, "cancelled") == echo_pb2.ORDER_STATUS_CANCELLED


@pytest.mark.parametrize("name", ["unspecified", "PAID", "ORDER_STATUS_PAID", "Paid", ""])
def test_enum_refuses_unknown_names_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        profile.enum_number(STATUS, name, field="lines[0].status")
    (violation,) = caught.value.violations
    assert violation.field == "lines[0].status"
    assert violation.description == "must be one of: pending_payment, paid, cancelled"


def test_enum_refusal_names_the_enum_by_default() -> None:
    with pytest.raises(InvalidArgument) as caught:
        profile.enum_number(STATUS, "nope")
    assert caught.value.violations[0].field == "order_status"


def test_enum_number_the_enum_does_not_declare_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="declares no value 99"):
        profile.enum_name(STATUS, 99)


# ------------------------------------------------------------------------------------------ output


def test_every_field_is_written_with_its_default() -> None:
    out = profile.to_json(Everything())
    assert out["double_value"] == 0.0
    assert out["int64_value"] == 0
    assert out["bool_value"] is False
    assert out["string_value"] == ""
    assert out["bytes_value"] == ""
    assert out["tags"] == [] and out["instalments_fen"] == []
    assert out["price_by_sku"] == {} and out["labels_by_number"] == {}
    # Unset messages, Money, timestamps, wrappers, enum zero and unset optional scalars are null.
    for key in ("nested", "price_fen", "created_at", "limit", "status", "channel", "optional_count", "child"):
        assert out[key] is None, key
    # Oneof members that are not set are left out.
    assert not {"email", "phone", "courier"} & out.keys()
    expected = {profile.json_key(f) for f in Everything.DESCRIPTOR.fields} - {"email", "phone", "courier"}
    assert set(out) == expected


def test_output_values_under_the_profile() -> None:
    out = profile.to_json(populated())
    assert out["int64_value"] == 2**63 - 1 and isinstance(out["int64_value"], int)
    assert out["uint64_value"] == 2**64 - 1
    assert out["sint64_value"] == -(2**63)
    assert out["float_value"] == 0.1  # the shortest decimal of the 32-bit float, not 0.100000001
    assert out["bytes_value"] == "AP9ieXRlcw=="
    assert out["status"] == "paid" and out["channel"] == "own_site"
    assert out["statuses"] == ["paid", "cancelled"]
    assert out["status_by_sku"] == {"sku-1": "pending_payment"}
    assert out["price_fen"] == 12_345
    assert out["instalments_fen"] == [100, -5]
    assert out["price_by_sku"] == {"sku-1": 990}
    assert out["created_at"] == "2024-03-01T12:30:00.500Z"
    assert out["checkpoints"] == ["2000-01-01T00:00:00Z"]
    assert out["timeout"] == "1.500s"  # proto3 JSON, as json_format writes it
    assert out["limit"] == 2**40  # an Int64Value is a JSON integer too
    assert out["nickname"] == "nick"
    assert out["attributes"] == {"colour": "red", "count": 2.0}
    assert out["anything"] == "any"
    assert out["nested"]["kind"] == "large_box"
    assert out["nested_by_name"] == {"k": {"name": "", "amount": 9, "kind": None}}
    assert out["labels_by_number"] == {"-3": "minus three"}
    assert out["counts"] == {str(2**40): -1}
    assert out["flags"] == {"true": "yes"}
    assert out["phone"] == "+86 10 1234" and "email" not in out
    assert out["optional_count"] == 0
    assert out["child"]["string_value"] == "child"
    json.dumps(out, allow_nan=False)  # plain JSON


def test_non_finite_doubles_are_written_as_proto3_json_strings() -> None:
    out = profile.to_json(Everything(double_value=float("nan"), float_value=float("-inf")))
    assert out["double_value"] == "NaN" and out["float_value"] == "-Infinity"
    back = profile.from_json({"double_value": "Infinity"}, Everything)
    assert back.double_value == float("inf")


def test_money_in_another_currency_cannot_be_written_as_fen() -> None:
    with pytest.raises(ValueError, match="USD"):
        profile.to_json(Everything(price=money_pb2.Money(currency_code="USD", amount_minor=1)))


def test_field_to_json_renders_one_field() -> None:
    m = populated()
    assert profile.field_to_json(m, Everything.DESCRIPTOR.fields_by_name["instalments"]) == [100, -5]
    assert profile.field_to_json(Everything(), Everything.DESCRIPTOR.fields_by_name["nested"]) is None


# ------------------------------------------------------------------------------------------ round trips


def test_round_trip_of_every_field_type() -> None:
    original = populated()
    text = json.dumps(profile.to_json(original))
    assert profile.from_json(json.loads(text), Everything) == original


def test_reading_accepts_a_descriptor_too() -> None:
    message = profile.from_json({"id": "x"}, echo_pb2.SimpleMessage.DESCRIPTOR)
    assert message == echo_pb2.SimpleMessage(id="x")


def test_money_reads_as_cny() -> None:
    message = profile.from_json({"price_fen": 250, "instalments_fen": [1, 2]}, Everything)
    assert message.price == money(250)
    assert list(message.instalments) == [money(1), money(2)]


def test_null_means_not_set() -> None:
    message = profile.from_json(
        {"nested": None, "status": None, "price_fen": None, "tags": None, "int32_value": None}, Everything
    )
    assert message == Everything()
    assert not message.HasField("nested")


def test_an_empty_object_sets_a_message_field() -> None:
    assert profile.from_json({"nested": {}}, Everything).HasField("nested")
    epoch = profile.from_json({"created_at": "1970-01-01T00:00:00Z"}, Everything)
    assert epoch.HasField("created_at")


def test_timestamps_with_an_offset_are_stored_in_utc() -> None:
    message = profile.from_json({"created_at": "2024-01-01T08:00:00.123456789+08:00"}, Everything)
    assert profile.to_json(message)["created_at"] == "2024-01-01T00:00:00.123456789Z"


@given(
    seconds=st.integers(min_value=-62_135_596_800, max_value=253_402_300_799),
    nanos=st.integers(min_value=0, max_value=999_999_999),
)
def test_every_representable_timestamp_round_trips(seconds: int, nanos: int) -> None:
    original = Everything()
    original.created_at.seconds = seconds
    original.created_at.nanos = nanos
    assert profile.from_json(profile.to_json(original), Everything) == original


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1), st.integers(min_value=0, max_value=2**64 - 1))
def test_integers_round_trip_at_their_full_width(int32: int, uint64: int) -> None:
    original = Everything(int32_value=int32, uint64_value=uint64, numbers=[uint64 // 2])
    assert profile.from_json(profile.to_json(original), Everything) == original


def test_bytes_accept_url_safe_base64_without_padding() -> None:
    assert profile.from_json({"bytes_value": "_-8"}, Everything).bytes_value == b"\xff\xef"


# ------------------------------------------------------------------------------------------ refusals


def test_unknown_fields_are_refused_by_name() -> None:
    assert refusals({"colour_code": "red"}) == {"colour_code": "is not a field of this request"}
    assert refusals({"nested": {"colour": 1}}) == {"nested.colour": "is not a field of Nested"}


def test_unknown_fields_hint_the_profiles_spelling() -> None:
    assert refusals({"int32Value": 1}) == {
        "int32Value": "is not a field of this request; did you mean int32_value?"
    }
    assert refusals({"price": 100}) == {"price": "is not a field of this request; did you mean price_fen?"}


@pytest.mark.parametrize(
    ("data", "path", "description"),
    [
        ({"int32_value": "5"}, "int32_value", "must be an integer"),
        ({"int32_value": 5.0}, "int32_value", "must be an integer"),
        ({"int64_value": True}, "int64_value", "must be an integer"),
        ({"uint64_value": "18446744073709551615"}, "uint64_value", "must be an integer"),
        ({"double_value": "1.5"}, "double_value", "must be a number"),
        ({"double_value": False}, "double_value", "must be a number"),
        ({"bool_value": 1}, "bool_value", "must be true or false"),
        ({"bool_value": "true"}, "bool_value", "must be true or false"),
        ({"string_value": 5}, "string_value", "must be a string"),
        ({"bytes_value": "not base64!"}, "bytes_value", "must be a base64 string"),
        ({"status": 2}, "status", "must be one of: pending_payment, paid, cancelled"),
        ({"status": "unspecified"}, "status", "must be one of: pending_payment, paid, cancelled"),
        ({"tags": "a"}, "tags", "must be a JSON array"),
        ({"nested": []}, "nested", "must be a JSON object"),
        ({"nested": {"amount": -1}}, "nested.amount", "must fit an unsigned 32-bit integer"),
        ({"nested_list": [{}, {}, {"amount": "1"}]}, "nested_list[2].amount", "must be an integer"),
        ({"tags": ["a", None]}, "tags[1]", "must not be null"),
        ({"statuses": ["paid", "gone"]}, "statuses[1]", "must be one of: pending_payment, paid, cancelled"),
        ({"price_fen": "100"}, "price_fen", "must be an integer amount in fen"),
        ({"price_fen": 1.5}, "price_fen", "must be an integer amount in fen"),
        ({"price_fen": 2**63}, "price_fen", "must fit a signed 64-bit integer"),
        ({"instalments_fen": [1, "2"]}, "instalments_fen[1]", "must be an integer amount in fen"),
        ({"price_by_sku": {"a": "1"}}, 'price_by_sku["a"]', "must be an integer amount in fen"),
        ({"nested_by_name": {"k": {"amount": "x"}}}, 'nested_by_name["k"].amount', "must be an integer"),
        ({"labels_by_number": {"abc": "x"}}, 'labels_by_number["abc"]', "key must be an integer"),
        (
            {"labels_by_number": {"2147483648": "x"}},
            'labels_by_number["2147483648"]',
            "key must fit a signed 32-bit integer",
        ),
        ({"flags": {"yes": "x"}}, 'flags["yes"]', "key must be true or false"),
        ({"counts": {"1": None}}, 'counts["1"]', "must not be null"),
        ({"limit": "5"}, "limit", "must be an integer"),
        ({"timeout": "soon"}, "timeout", "is not a valid Duration"),
        ({"attributes": [1]}, "attributes", "is not a valid Struct"),
        ({"float_value": 1e39}, "float_value", "must fit a 32-bit float"),
        ({"double_value": 1e400}, "double_value", "is out of range for a number"),
    ],
)
def test_wrong_json_types_are_refused_naming_the_path(
    data: dict[str, Any], path: str, description: str
) -> None:
    found = refusals(data)
    assert list(found) == [path]
    assert found[path].startswith(description)


@pytest.mark.parametrize(
    ("field", "value", "description"),
    [
        ("int32_value", 2**31, "must fit a signed 32-bit integer"),
        ("int32_value", -(2**31) - 1, "must fit a signed 32-bit integer"),
        ("sint32_value", 2**31, "must fit a signed 32-bit integer"),
        ("sfixed32_value", 2**31, "must fit a signed 32-bit integer"),
        ("uint32_value", -1, "must fit an unsigned 32-bit integer"),
        ("fixed32_value", 2**32, "must fit an unsigned 32-bit integer"),
        ("int64_value", 2**63, "must fit a signed 64-bit integer"),
        ("sint64_value", -(2**63) - 1, "must fit a signed 64-bit integer"),
        ("uint64_value", 2**64, "must fit an unsigned 64-bit integer"),
        ("fixed64_value", -1, "must fit an unsigned 64-bit integer"),
    ],
)
def test_integers_are_range_checked_for_their_width(field: str, value: int, description: str) -> None:
    assert refusals({field: value}) == {field: description}


def test_integers_at_the_edges_of_their_range_are_accepted() -> None:
    message = profile.from_json(
        {
            "int32_value": 2**31 - 1,
            "sint32_value": -(2**31),
            "uint32_value": 2**32 - 1,
            "int64_value": -(2**63),
        },
        Everything,
    )
    assert message.int32_value == 2**31 - 1 and message.int64_value == -(2**63)


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("a\x00b", "must not contain the NUL character (\\u0000)"),
        (json.loads('"\\ud800"'), "must be valid Unicode text (it holds a lone surrogate)"),
    ],
)
def test_text_that_cannot_be_stored_is_refused(text: str, description: str) -> None:
    assert refusals({"string_value": text}) == {"string_value": description}
    assert refusals({"nested": {"name": text}}) == {"nested.name": description}
    assert refusals({"attributes": {"k": text}}) == {"attributes": description}
    assert refusals({"labels_by_number": {"1": text}}) == {'labels_by_number["1"]': description}


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("2024-01-01T00:00:00", "must have a UTC offset (Z or e.g. +08:00)"),
        ("2024-01-01", profile.TIMESTAMP_HINT),
        ("2024-01-01 00:00:00Z", profile.TIMESTAMP_HINT),
        ("2024-02-30T00:00:00Z", "is not a valid date-time: the date or the time does not exist"),
        ("2024-01-01T24:00:00Z", "is not a valid date-time: the date or the time does not exist"),
        ("0000-12-31T00:00:00Z", "is not a valid date-time: the date or the time does not exist"),
        ("0001-01-01T00:00:00+01:00", "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"),
        ("9999-12-31T23:59:59-01:00", "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"),
        ("2024-01-01T00:00:00.1234567891Z", profile.TIMESTAMP_HINT),
        ("2024-01-01T00:00:00+25:00", "has an invalid UTC offset"),
        ("2024-01-01T00:00:00Z\n", profile.TIMESTAMP_HINT),
        ("٢٠٢٤-01-01T00:00:00Z", profile.TIMESTAMP_HINT),
    ],
)
def test_timestamps_outside_rfc3339_or_the_range_are_refused(text: str, description: str) -> None:
    assert refusals({"created_at": text}) == {"created_at": description}
    assert refusals({"checkpoints": ["2024-01-01T00:00:00Z", text]}) == {"checkpoints[1]": description}


def test_timestamps_at_the_edges_of_the_range_are_accepted() -> None:
    first = profile.from_json({"created_at": "0001-01-01T00:00:00Z"}, Everything)
    last = profile.from_json({"created_at": "9999-12-31T23:59:59.999999999Z"}, Everything)
    assert first.created_at.seconds == -62_135_596_800
    assert profile.to_json(last)["created_at"] == "9999-12-31T23:59:59.999999999Z"


def test_a_timestamp_must_be_a_string() -> None:
    assert refusals({"created_at": 1_700_000_000}) == {"created_at": profile.TIMESTAMP_HINT}


def test_two_members_of_a_oneof_are_refused() -> None:
    assert refusals({"email": "a@b.c", "phone": "1"}) == {
        "phone": "cannot be set together with email (one of contact)"
    }
    # null is "not set", so it does not count.
    assert profile.from_json({"email": None, "phone": "1"}, Everything).phone == "1"


def test_every_violation_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as caught:
        profile.from_json({"int32_value": "x", "colour": 1, "nested": {"amount": -1}}, Everything)
    err = caught.value
    assert [v.field for v in err.violations] == ["int32_value", "colour", "nested.amount"]
    assert err.message == "int32_value: must be an integer (and 2 more)"


def test_the_prefix_names_paths_below_it() -> None:
    found = refusals({"amount": "x"}, Everything.Nested, prefix="courier")
    assert found == {"courier.amount": "must be an integer"}
    assert refusals([], Everything.Nested, prefix="courier") == {"courier": "must be a JSON object"}


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert refusals([1, 2]) == {"body": "must be a JSON object"}
    assert refusals("x") == {"body": "must be a JSON object"}


def nested_children(levels: int) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for _ in range(levels - 1):
        data = {"child": data}
    return data


def test_nesting_is_limited_to_32_levels() -> None:
    assert profile.from_json(nested_children(32), Everything).HasField("child")
    assert refusals(nested_children(33)) == {"body": "is nested more than 32 levels deep"}
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    assert refusals({"anything": deep}) == {"body": "is nested more than 32 levels deep"}


def test_nesting_check_needs_no_recursion() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert profile.nesting_exceeds(deep, 32)
    assert not profile.nesting_exceeds({"a": [1, {"b": []}]}, 4)
    assert profile.nesting_exceeds({"a": [1, {"b": []}]}, 3)


def test_struct_and_value_follow_proto3_json() -> None:
    message = profile.from_json({"attributes": {"a": [1, "x", None]}, "anything": {"k": True}}, Everything)
    assert message.attributes.fields["a"].list_value.values[2].HasField("null_value")
    expected = struct_pb2.Value()
    expected.struct_value.update({"k": True})
    assert message.anything == expected


# ------------------------------------------------------------------------------------------ schema


def schema_validator(descriptor: Any) -> jsonschema.Draft202012Validator:
    schema = profile.json_schema(descriptor)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_accepts_what_the_profile_writes() -> None:
    validator = schema_validator(Everything.DESCRIPTOR)
    validator.validate(profile.to_json(populated()))
    validator.validate(profile.to_json(Everything()))
    validator.validate(profile.to_json(Everything(courier=Everything.Nested(name="c"))))


def test_the_schema_refuses_what_the_profile_refuses() -> None:
    validator = schema_validator(Everything.DESCRIPTOR)
    for bad in (
        {"colour_code": 1},
        {"int32_value": 2**31},
        {"status": "unspecified"},
        {"price_fen": "1"},
        {"price_fen": 2**63},
        {"instalments_fen": [-(2**63) - 1]},
        {"labels_by_number": {"x": "y"}},
        {"tags": [None]},
    ):
        assert not validator.is_valid(bad), bad


def test_the_schema_describes_the_profile() -> None:
    schema = profile.json_schema(Everything.DESCRIPTOR)
    props = schema["properties"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert props["price_fen"]["type"] == ["integer", "null"]
    assert (props["price_fen"]["minimum"], props["price_fen"]["maximum"]) == (-(2**63), 2**63 - 1)
    assert props["int64_value"] == {
        "type": "integer",
        "format": "int64",
        "minimum": -(2**63),
        "maximum": 2**63 - 1,
    }
    assert props["created_at"]["format"] == "date-time"
    assert schema["$defs"]["shop.testing.v1.OrderStatus"]["enum"] == ["pending_payment", "paid", "cancelled"]
    assert "At most one of email, phone, courier is set" in schema["description"]
    assert props["child"]["anyOf"][0] == {"$ref": "#/$defs/shop.testing.v1.ABitOfEverything"}


def test_the_schema_carries_the_descriptions_it_is_given() -> None:
    notes = {
        "shop.testing.v1.ABitOfEverything.price": "A price.",
        "shop.testing.v1.OrderStatus": "Where an order is.",
        "shop.testing.v1.OrderStatus.ORDER_STATUS_PAID": "Paid, not yet reviewed.",
    }

    def describe(element: Any) -> str | None:
        if isinstance(element, EnumValueDescriptor):
            return notes.get(f"{element.type.full_name}.{element.name}")
        return notes.get(element.full_name)

    schema = profile.json_schema(Everything.DESCRIPTOR, describe=describe)
    assert schema["properties"]["price_fen"]["description"].startswith("A price.")
    status = schema["$defs"]["shop.testing.v1.OrderStatus"]["description"]
    assert status == "Where an order is.\n- `paid`: Paid, not yet reviewed."
