"""HTTP/JSON <-> gRPC transcoding from the ``google.api.http`` annotations on each RPC (AIP-127).

``Router.from_services`` reads every binding once at start-up, refusing contradictory ones; then, per
request, the web framework asks ``router.match(method, raw_path)`` for the route and its path variables,
``route.request_from_http(...)`` for the request message, ``route.call(channel, request)`` for the answer
and ``route.http_answer(response)`` for the status and JSON body. Every refusal is a DomainError that the
gateway renders like any other (NotFound, MethodNotAllowed, InvalidArgument naming the fields).

An RPC that returns ``google.api.HttpBody`` answers with a document instead of JSON, as grpc-gateway
does: ``route.returns_http_body`` says so, and ``route.http_body_answer(response)`` gives the status, the
Content-Type and the raw bytes. Its contract lists the media types it produces (``shop.common.v1.produces``)
for the OpenAPI document.

A server-streaming RPC answers, as grpc-gateway's streams do, with newline-delimited JSON
(``STREAM_MEDIA_TYPE``): ``route.stream(channel, request)`` yields its messages and ``route.stream_line``
renders each as ``{"result": ...}``; a failure after the first line ends the stream with ``{"error": ...}``
in the gateway's error format. Client streaming cannot be bound to HTTP.

Path templates follow google/api/http.proto: literal segments, ``*`` (one segment), ``**`` (any number of
segments, at most once), variables ``{field.path}`` or ``{field.path=segments}`` and a custom verb
``:verb``. When several templates match a path, one route is chosen deterministically:

1. only routes of the request's HTTP method compete (a path matched by other methods only is 405);
2. a template with a custom verb beats one without;
3. segment by segment from the left, a literal beats ``*`` or a single-segment variable, which beats
   ``**``;
4. with all that equal, the shorter template wins (``**`` matched nothing).

Two bindings with the same method and templates that match the same paths are refused at build time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import unquote

from google.api import annotations_pb2, http_pb2, httpbody_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from shop.common.v1 import policy_pb2

from libs import config, grpc_client, identity
from libs import json_profile as profile
from libs.errors import DomainError, Internal, NotFound, Violations
from libs.policy import declared_policy

SegmentKind = Literal["literal", "star", "double_star"]

IDEMPOTENCY_HEADER = "idempotency-key"
REQUEST_ID = "request_id"
#: The response message whose answer over HTTP is its ``data``, sent as its ``content_type``.
HTTP_BODY = "google.api.HttpBody"
#: RFC 9110: a body of no declared type may be taken as this.
DEFAULT_MEDIA_TYPE = "application/octet-stream"
#: The Content-Type of a server-streaming RPC's answer: one JSON object per line.
STREAM_MEDIA_TYPE = "application/x-ndjson"


class MethodNotAllowed(DomainError):
    """The path exists, but not for this HTTP method: HTTP 405 with ``Allow`` (``metadata["allow"]``).

    Its gRPC code is UNIMPLEMENTED, as grpc-gateway answers; the gateway must map the reason to 405.
    """

    code = "UNIMPLEMENTED"

    def __init__(self, method: str, path: str, allow: Sequence[str]) -> None:
        super().__init__(
            f"{method} is not allowed on {path}; use {', '.join(allow)}",
            reason="METHOD_NOT_ALLOWED",
            metadata={"allow": ", ".join(allow)},
        )
        self.allow = tuple(allow)


# ------------------------------------------------------------------------------------ path templates


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    text: str = ""


@dataclass(frozen=True)
class Variable:
    """A template variable: the request field it fills and the template segments it spans."""

    field_path: str
    start: int
    end: int

    def is_multi_segment(self, segments: Sequence[Segment]) -> bool:
        spanned = segments[self.start : self.end]
        return len(spanned) != 1 or spanned[0].kind == "double_star"


@dataclass(frozen=True)
class PathTemplate:
    """A parsed AIP-127 path template."""

    source: str
    segments: tuple[Segment, ...]
    variables: tuple[Variable, ...]
    verb: str | None

    @classmethod
    def parse(cls, source: str) -> PathTemplate:
        """Parses a template; ValueError says what is wrong with it."""
        return _TemplateParser(source).template()

    @property
    def key(self) -> tuple[object, ...]:
        """Equal for templates that match exactly the same paths (variable names aside)."""
        return (self.verb, tuple((s.kind, s.text) for s in self.segments))

    @property
    def priority(self) -> tuple[object, ...]:
        """Sorts the more specific template first (see the module's docstring)."""
        rank = {"literal": 0, "star": 1, "double_star": 2}
        return (0 if self.verb is not None else 1, tuple(rank[s.kind] for s in self.segments))

    def variable_pattern(self, variable: Variable) -> str:
        """A regular expression of the values ``variable`` captures (for documentation)."""
        parts = {"star": "[^/]+", "double_star": ".*"}
        spanned = self.segments[variable.start : variable.end]
        return "^" + "/".join(parts.get(s.kind) or re.escape(s.text) for s in spanned) + "$"

    def match(self, raw: Sequence[str], verb: str | None) -> dict[str, tuple[str, ...]] | None:
        """The raw (still percent-encoded) segments each variable captures, or None if no match."""
        if verb != self.verb:
            return None
        count = len(self.segments)
        deep = next((i for i, s in enumerate(self.segments) if s.kind == "double_star"), None)
        if deep is None and len(raw) != count:
            return None
        if deep is not None and len(raw) < count - 1:
            return None
        spread = len(raw) - count  # how many segments ** takes beyond one (-1: it takes none)
        bounds: list[tuple[int, int]] = []
        position = 0
        for index, segment in enumerate(self.segments):
            width = spread + 1 if index == deep else 1
            taken = raw[position : position + width]
            if segment.kind == "literal":
                if unquote(taken[0], errors="replace") != segment.text:
                    return None
            elif any(not part for part in taken):
                return None  # wildcards never match empty segments ("//" or a trailing "/")
            bounds.append((position, position + width))
            position += width
        return {
            v.field_path: tuple(raw[bounds[v.start][0] : bounds[v.end - 1][1]]) if v.end > v.start else ()
            for v in self.variables
        }

    def __str__(self) -> str:
        return self.source


_LITERAL = re.compile(r"[^/{}*:=]+")
_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class _TemplateParser:
    # Template = "/" Segments [ Verb ] ; Segments = Segment { "/" Segment } ;
    # Segment = "*" | "**" | LITERAL | Variable ; Variable = "{" FieldPath [ "=" Segments ] "}" ;
    # Verb = ":" LITERAL ;

    def __init__(self, source: str) -> None:
        self.source = source
        self.position = 0
        self.segments: list[Segment] = []
        self.variables: list[Variable] = []

    def fail(self, why: str) -> ValueError:
        return ValueError(f"path template {self.source!r}: {why} at character {self.position}")

    def peek(self, text: str) -> bool:
        return self.source.startswith(text, self.position)

    def template(self) -> PathTemplate:
        if not self.peek("/"):
            raise self.fail("must start with /")
        self.position += 1
        self.sequence(inside=False)
        verb = None
        if self.peek(":"):
            self.position += 1
            verb = self.literal("a custom verb")
        if self.position != len(self.source):
            raise self.fail("unexpected character")
        if sum(s.kind == "double_star" for s in self.segments) > 1:
            raise self.fail("** may appear only once")
        names = [v.field_path for v in self.variables]
        if len(names) != len(set(names)):
            raise self.fail("a field is bound twice")
        return PathTemplate(self.source, tuple(self.segments), tuple(self.variables), verb)

    def sequence(self, *, inside: bool) -> None:
        self.segment(inside=inside)
        while self.peek("/"):
            self.position += 1
            self.segment(inside=inside)

    def segment(self, *, inside: bool) -> None:
        if self.peek("**"):
            self.position += 2
            self.segments.append(Segment("double_star"))
        elif self.peek("*"):
            self.position += 1
            self.segments.append(Segment("star"))
        elif self.peek("{"):
            if inside:
                raise self.fail("variables cannot nest")
            self.variable()
        else:
            self.segments.append(Segment("literal", self.literal("a segment")))

    def literal(self, what: str) -> str:
        found = _LITERAL.match(self.source, self.position)
        if found is None:
            raise self.fail(f"expected {what}")
        self.position = found.end()
        return found.group()

    def variable(self) -> None:
        self.position += 1
        found = _FIELD_PATH.match(self.source, self.position)
        if found is None:
            raise self.fail("expected a field path")
        self.position = found.end()
        start = len(self.segments)
        if self.peek("="):
            self.position += 1
            self.sequence(inside=True)
        else:
            self.segments.append(Segment("star"))
        if not self.peek("}"):
            raise self.fail("expected }")
        self.position += 1
        self.variables.append(Variable(found.group(), start, len(self.segments)))


def _decode(raw: Sequence[str], *, multi: bool) -> str:
    # http.proto: a multi-segment variable keeps %2F encoded so that its segments stay apart.
    if multi:
        return "/".join(
            "".join(
                p if i % 2 else unquote(p, errors="strict") for i, p in enumerate(re.split("(%2[fF])", s))
            )
            for s in raw
        )
    return unquote(raw[0], errors="strict") if raw else ""


# -------------------------------------------------------------------------------------------- routes


def returns_http_body(method: MethodDescriptor) -> bool:
    """Whether ``method`` answers with a ``google.api.HttpBody``: a document over HTTP, not JSON."""
    return method.output_type.full_name == HTTP_BODY


def http_rule(method: MethodDescriptor) -> http_pb2.HttpRule | None:
    """The ``google.api.http`` option of an RPC, or None when it has no HTTP binding."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    return cast(http_pb2.HttpRule, options.Extensions[annotations_pb2.http])


@dataclass(frozen=True)
class Route:
    """One HTTP binding of an RPC: method, template, body and response body as declared."""

    method: MethodDescriptor
    http_method: str
    template: PathTemplate
    body: str
    response_body: str
    #: 0 for the rule itself, 1.. for its additional_bindings in order.
    binding: int = 0
    #: The request field each path variable fills, by field path.
    bound_fields: dict[str, FieldDescriptor] = field(default_factory=dict, compare=False, repr=False)

    # ---- description

    @property
    def service(self) -> ServiceDescriptor:
        return self.method.containing_service

    @property
    def grpc_path(self) -> str:
        """The gRPC method path, ``/package.Service/Method``."""
        return f"/{self.service.full_name}/{self.method.name}"

    @property
    def operation_id(self) -> str:
        """``Service_Method``, with ``_2``, ``_3``... for additional bindings."""
        suffix = f"_{self.binding + 1}" if self.binding else ""
        return f"{self.service.name}_{self.method.name}{suffix}"

    @property
    def request_descriptor(self) -> Descriptor:
        return self.method.input_type

    @property
    def response_descriptor(self) -> Descriptor:
        return self.method.output_type

    @property
    def policy(self) -> policy_pb2.MethodPolicy | None:
        return declared_policy(self.method)

    @property
    def returns_http_body(self) -> bool:
        """The RPC answers with a ``google.api.HttpBody``: see ``http_body_answer``."""
        return returns_http_body(self.method)

    @property
    def server_streaming(self) -> bool:
        """The RPC answers with a stream of messages: see ``stream`` and ``stream_line``."""
        return bool(self.method.server_streaming)  # type: ignore[attr-defined]

    @property
    def path_fields(self) -> tuple[str, ...]:
        """The request field paths the URL path fills (``shipment.id``)."""
        return tuple(v.field_path for v in self.template.variables)

    def success_status(self, response: Message | None = None) -> int:
        """201 for an RPC whose policy says it creates, unless the response says ``created: false``; a
        document (``google.api.HttpBody``) is always 200, as grpc-gateway answers it."""
        if self.returns_http_body:
            return 200
        policy = self.policy
        if policy is None or not policy.creates:
            return 200
        created = self.response_descriptor.fields_by_name.get("created")
        if response is not None and created is not None and created.type == FieldDescriptor.TYPE_BOOL:
            return 201 if getattr(response, "created") else 200  # noqa: B009
        return 201

    # ---- request

    def request_from_http(
        self,
        path_vars: Mapping[str, str],
        query: Sequence[tuple[str, str]],
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        max_body_bytes: int | None = None,
    ) -> Message:
        """Builds the request message from the path variables (``Match.variables``), the decoded query
        string, the raw body and the headers, through the JSON profile. Every violation is raised at
        once as InvalidArgument naming its field."""
        violations = Violations()
        data = self._body_data(body, violations, max_body_bytes)
        self._query_data(query, data, violations)
        for path, text in path_vars.items():
            target = self.bound_fields[path]
            value = _from_text(text, target, path, violations)
            if not isinstance(value, profile.Invalid):
                _put(data, path.split("."), value, violations, path, "in the URL path")
        self._idempotency_key(headers, data, violations)
        message = profile.read_json(data, self.request_descriptor, violations=violations)
        violations.raise_if_any()
        return message

    def _body_data(self, body: bytes | None, violations: Violations, limit: int | None) -> dict[str, Any]:
        if not self.body:
            if body and body.strip():
                violations.add("body", "must be empty: this route takes its fields from the URL")
            return {}
        if not body or not body.strip():
            return {}
        parsed = parse_body(body, violations, max_bytes=limit)
        if isinstance(parsed, profile.Invalid):
            return {}
        if self.body == "*":
            if not isinstance(parsed, dict):
                violations.add("body", "must be a JSON object")
                return {}
            return parsed
        target = self.request_descriptor.fields_by_name[self.body]
        if profile.is_map(target) or (is_composite(target) and not target.is_repeated):
            if not isinstance(parsed, dict):
                violations.add("body", "must be a JSON object")
                return {}
        elif target.is_repeated and not isinstance(parsed, list):
            violations.add("body", "must be a JSON array")
            return {}
        return {profile.json_key(target): parsed}

    def _query_data(
        self, query: Sequence[tuple[str, str]], data: dict[str, Any], violations: Violations
    ) -> None:
        grouped: dict[str, list[str]] = {}
        for name, text in query:
            grouped.setdefault(name, []).append(text)
        for name, values in grouped.items():
            target = self._query_target(name)
            if isinstance(target, str):
                violations.add(name, target)
                continue
            keys, leaf = target
            if leaf.is_repeated:
                items = [_from_text(v, leaf, f"{name}[{i}]", violations) for i, v in enumerate(values)]
                value: Any = [v for v in items if not isinstance(v, profile.Invalid)]
            elif len(values) > 1:
                violations.add(name, "is given more than once")
                continue
            else:
                value = _from_text(values[0], leaf, name, violations)
                if isinstance(value, profile.Invalid):
                    continue
            _put(data, keys, value, violations, name, "in the query string")

    def _query_target(self, name: str) -> tuple[list[str], FieldDescriptor] | str:
        """The JSON keys and the leaf field a query parameter names, or why it names none."""
        unknown = "is not a field of this request"
        if self.body == "*":
            return "is not a query parameter of this route: its body carries the whole request"
        descriptor = self.request_descriptor
        parts = name.split(".")
        keys: list[str] = []
        names: list[str] = []
        leaf: FieldDescriptor | None = None
        for index, part in enumerate(parts):
            leaf = profile.field_by_key(descriptor, part)
            if leaf is None:
                return unknown
            keys.append(part)
            names.append(leaf.name)
            last = index == len(parts) - 1
            if not last:
                if not is_composite(leaf):
                    return unknown
                if leaf.is_repeated:
                    return "cannot be set in the query string"
                assert leaf.message_type is not None
                descriptor = leaf.message_type
        assert leaf is not None
        dotted = ".".join(names)
        if self.body and names[0] == self.body:
            return "is sent in the body, not in the query string"
        if dotted in self.path_fields:
            return "is set by the URL path, not by the query string"
        if profile.is_map(leaf) or (leaf.is_repeated and is_composite(leaf)):
            return "cannot be set in the query string"
        if is_composite(leaf):
            first = leaf.message_type.fields[0].name if leaf.message_type and leaf.message_type.fields else ""
            return f"is a message: set its fields one by one, e.g. {name}.{first}"
        return keys, leaf

    def _idempotency_key(
        self, headers: Mapping[str, str], data: dict[str, Any], violations: Violations
    ) -> None:
        target = self.request_descriptor.fields_by_name.get(REQUEST_ID)
        if target is None or target.type != FieldDescriptor.TYPE_STRING or target.is_repeated:
            return
        key = next((v for k, v in headers.items() if k.lower() == IDEMPOTENCY_HEADER), None)
        if key is None:
            return
        current = data.get(REQUEST_ID)
        if current is None or current == "":
            data[REQUEST_ID] = key
        elif current != key:
            violations.add(REQUEST_ID, "differs from the Idempotency-Key header; send one of them")

    # ---- response and call

    def http_answer(self, response: Message) -> tuple[int, Any]:
        """The HTTP status and the JSON value of a response (its ``response_body`` field, if declared)."""
        status = self.success_status(response)
        if self.response_body:
            target = self.response_descriptor.fields_by_name[self.response_body]
            return status, profile.field_to_json(response, target)
        return status, profile.to_json(response)

    def http_body_answer(self, response: Message) -> tuple[int, str, bytes]:
        """The HTTP status, Content-Type and bytes of a ``google.api.HttpBody`` response, sent as they are.

        A body without a content type is sent as application/octet-stream. One whose content type could
        not be a header value is the service's fault: Internal, answered as the gateway's error body."""
        if not self.returns_http_body:
            raise TypeError(f"{self.method.full_name} does not return {HTTP_BODY}; use http_answer")
        body = cast(httpbody_pb2.HttpBody, response)
        return self.success_status(response), _media_type(body.content_type, self.method.full_name), body.data

    async def call(
        self,
        channel: Any,
        request: Message,
        *,
        caller: identity.Identity | None = None,
        max_seconds: float | None = None,
    ) -> Message:
        """Calls the RPC on ``channel`` (a ``grpc.aio.Channel``) through ``libs.grpc_client.call``:
        propagated deadline, the caller's identity, failures raised as the DomainError the server meant."""
        method = self._multicallable(channel.unary_unary)
        answer = await grpc_client.call(method, request, caller=caller, max_seconds=max_seconds)
        return cast(Message, answer)

    def stream(
        self, channel: Any, request: Message, *, caller: identity.Identity | None = None
    ) -> AsyncIterator[Message]:
        """Opens the server-streaming RPC on ``channel`` through ``libs.grpc_client.stream`` and yields its
        messages; failures raise as the DomainError the server meant."""
        method = self._multicallable(channel.unary_stream)
        return cast(AsyncIterator[Message], grpc_client.stream(method, request, caller=caller))

    def _multicallable(self, kind: Any) -> Any:
        """The channel's generic callable (``channel.unary_unary`` or ``unary_stream``) for this RPC."""
        response_class = profile.message_class(self.response_descriptor)
        return kind(
            self.grpc_path, request_serializer=_serialize, response_deserializer=response_class.FromString
        )

    def stream_line(self, message: Message) -> bytes:
        """One message of a stream as grpc-gateway sends it: ``{"result": ...}`` and a newline (its
        ``response_body`` field only, if declared)."""
        _, value = self.http_answer(message)
        return json.dumps({"result": value}, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


# RFC 9110 media-type: type "/" subtype, then parameters; visible ASCII, spaces and tabs only, so that it
# can never end the header line or start another.
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+([ \t]*;[\x20-\x7e\t]*)?")


def _media_type(content_type: str, method: str) -> str:
    text = content_type.strip(" \t")
    if not text:
        return DEFAULT_MEDIA_TYPE
    if not _MEDIA_TYPE.fullmatch(text):
        raise Internal(f"{method} answered the content type {content_type!r}, which is not a media type")
    return text


def is_composite(target: FieldDescriptor) -> bool:
    """A message field the query string or the path walks into (not Money or another leaf type)."""
    message = target.message_type
    return (
        message is not None
        and not profile.is_map(target)
        and message.full_name not in (profile.MONEY, profile.TIMESTAMP)
        and message.full_name not in profile.WRAPPERS
        and message.full_name not in profile.DELEGATED
    )


def _put(
    data: dict[str, Any], keys: Sequence[str], value: Any, violations: Violations, path: str, where: str
) -> None:
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            return  # the body has something else there; the profile names it
        node = child
    existing = node.get(keys[-1])
    if existing is not None and existing != value:
        violations.add(path, f"is {json.dumps(value)} {where} but {json.dumps(existing)} in the body")
        return
    node[keys[-1]] = value


_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _from_text(text: str, target: FieldDescriptor, path: str, violations: Violations) -> Any:
    """The JSON value a path or query string text stands for, so that the profile checks it like JSON."""
    kind = target.type
    if target.message_type is not None:
        name = target.message_type.full_name
        if name == profile.MONEY:
            kind = FieldDescriptor.TYPE_INT64
        elif name in profile.WRAPPERS:
            kind = target.message_type.fields_by_name["value"].type
        else:
            return text  # Timestamp, Duration, FieldMask: their JSON form is a string too
    if kind in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_ENUM):
        return text
    if kind == FieldDescriptor.TYPE_BOOL:
        if text in ("true", "false"):
            return text == "true"
        violations.add(path, "must be true or false")
        return profile.INVALID
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        if text in ("NaN", "Infinity", "-Infinity"):
            return text
        if _NUMBER_TEXT.fullmatch(text):
            number = float(text)
            if not math.isinf(number):
                return number
        violations.add(path, "must be a number")
        return profile.INVALID
    if not _INTEGER_TEXT.fullmatch(text):
        violations.add(path, "must be an integer")
    elif len(text) > 40:
        violations.add(path, "is out of range")
    else:
        return int(text)
    return profile.INVALID


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_body(body: bytes, violations: Violations, *, max_bytes: int | None = None) -> Any:
    """Parses a JSON request body strictly: UTF-8, no NaN, no duplicate keys, at most MAX_DEPTH deep.
    A refusal is recorded against the field ``body``."""
    limit = config.max_message_bytes() if max_bytes is None else max_bytes
    if len(body) > limit:
        violations.add("body", f"is larger than {limit} bytes")
        return profile.INVALID
    try:
        parsed = json.loads(
            body.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant
        )
    except UnicodeDecodeError:
        violations.add("body", "is not valid JSON: it is not UTF-8 text")
        return profile.INVALID
    except RecursionError:
        violations.add("body", f"is nested more than {profile.MAX_DEPTH} levels deep")
        return profile.INVALID
    except _DuplicateKey as err:
        violations.add("body", f"has the key {json.dumps(str(err.args[0]))} more than once")
        return profile.INVALID
    except ValueError as err:
        violations.add("body", f"is not valid JSON: {err}")
        return profile.INVALID
    if profile.nesting_exceeds(parsed, profile.MAX_DEPTH):
        violations.add("body", f"is nested more than {profile.MAX_DEPTH} levels deep")
        return profile.INVALID
    return parsed


# -------------------------------------------------------------------------------------------- router


@dataclass(frozen=True)
class Match:
    """The route chosen for a request and its path variables, percent-decoded, by request field path."""

    route: Route
    variables: dict[str, str]


def routes_of(method: MethodDescriptor, rule: http_pb2.HttpRule) -> list[Route]:
    """The routes of one RPC's HTTP rule and its additional bindings, checked against the RPC."""
    name = method.full_name
    if method.client_streaming:  # type: ignore[attr-defined]
        raise ValueError(f"{name}: a client-streaming RPC cannot have an HTTP binding")
    if method.server_streaming and returns_http_body(method):  # type: ignore[attr-defined]
        raise ValueError(f"{name}: a stream of {HTTP_BODY} cannot be sent as one document")
    routes = [_route(method, rule, 0)]
    for index, extra in enumerate(rule.additional_bindings, start=1):
        if extra.additional_bindings:
            raise ValueError(f"{name}: additional_bindings cannot nest")
        routes.append(_route(method, extra, index))
    return routes


def _route(method: MethodDescriptor, rule: http_pb2.HttpRule, binding: int) -> Route:
    name = method.full_name
    pattern = rule.WhichOneof("pattern")
    if pattern is None:
        raise ValueError(f"{name}: an HTTP rule needs get, put, post, delete, patch or custom")
    if pattern == "custom":
        verb, source = rule.custom.kind.upper(), rule.custom.path
    else:
        verb, source = pattern.upper(), getattr(rule, pattern)
    try:
        template = PathTemplate.parse(source)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    request = method.input_type
    path_fields = {v.field_path: _path_field(name, request, v, template) for v in template.variables}
    if rule.body and rule.body != "*":
        target = request.fields_by_name.get(rule.body)
        if target is None:
            raise ValueError(f"{name}: body {rule.body!r} is not a field of {request.full_name}")
        if rule.body in path_fields:
            raise ValueError(f"{name}: body {rule.body!r} is also bound by the path")
    if rule.body and verb == "GET":
        raise ValueError(f"{name}: a GET binding cannot have a body")
    if rule.response_body and returns_http_body(method):
        raise ValueError(f"{name}: an {HTTP_BODY} answer is sent whole; response_body cannot pick a field")
    if rule.response_body and rule.response_body not in method.output_type.fields_by_name:
        raise ValueError(
            f"{name}: response_body {rule.response_body!r} is not a field of {method.output_type.full_name}"
        )
    return Route(method, verb, template, rule.body, rule.response_body, binding, path_fields)


def _path_field(
    name: str, request: Descriptor, variable: Variable, template: PathTemplate
) -> FieldDescriptor:
    descriptor = request
    parts = variable.field_path.split(".")
    target: FieldDescriptor | None = None
    for index, part in enumerate(parts):
        target = descriptor.fields_by_name.get(part)
        if target is None:
            raise ValueError(
                f"{name}: path variable {variable.field_path!r} is not a field of {request.full_name}"
            )
        if index < len(parts) - 1:
            if target.is_repeated or not is_composite(target):
                raise ValueError(
                    f"{name}: path variable {variable.field_path!r}: {part} is not a message field"
                )
            assert target.message_type is not None
            descriptor = target.message_type
    assert target is not None
    if target.is_repeated or target.message_type is not None or target.type == FieldDescriptor.TYPE_BYTES:
        raise ValueError(
            f"{name}: path variable {variable.field_path!r} must be a single scalar, string or enum"
        )
    if variable.is_multi_segment(template.segments) and target.type != FieldDescriptor.TYPE_STRING:
        raise ValueError(
            f"{name}: path variable {variable.field_path!r} spans segments, so it must be a string"
        )
    return target


class Router:
    """Every HTTP route of a set of services, matched by method and path."""

    def __init__(self, routes: Iterable[Route]) -> None:
        ordered = sorted(routes, key=lambda r: r.template.priority)
        seen: dict[tuple[object, ...], Route] = {}
        for route in ordered:
            key = (route.http_method, route.template.key)
            if key in seen:
                other = seen[key]
                raise ValueError(
                    f"{route.method.full_name} ({route.http_method} {route.template}) and "
                    f"{other.method.full_name} ({other.http_method} {other.template}) match the same requests"
                )
            seen[key] = route
        self.routes: tuple[Route, ...] = tuple(ordered)

    @classmethod
    def from_services(cls, services: Iterable[ServiceDescriptor]) -> Router:
        """The routes of every annotated RPC of ``services``; RPCs without ``google.api.http`` have none."""
        return cls.from_rules(
            (method, rule)
            for service in services
            for method in service.methods
            if (rule := http_rule(method)) is not None
        )

    @classmethod
    def from_rules(cls, rules: Iterable[tuple[MethodDescriptor, http_pb2.HttpRule]]) -> Router:
        """The routes of explicit (RPC, rule) pairs."""
        return cls(route for method, rule in rules for route in routes_of(method, rule))

    def match(self, method: str, path: str) -> Match:
        """The route for ``method`` and ``path`` (the raw, percent-encoded path, without the query).

        Raises NotFound when no template matches the path, MethodNotAllowed when only templates of other
        methods do, InvalidArgument when a path variable cannot be decoded or a single-segment variable
        holds "/" (%2F).
        """
        method = method.upper()
        if not path.startswith("/"):
            raise NotFound(f"{path}: no such route", reason="ROUTE_NOT_FOUND")
        raw = path[1:].split("/")
        forms: list[tuple[list[str], str | None]] = [(raw, None)]
        head, colon, verb = raw[-1].rpartition(":")
        if colon:
            forms.insert(0, ([*raw[:-1], head], verb))
        allowed: set[str] = set()
        for route in self.routes:
            for segments, form_verb in forms:
                captured = route.template.match(segments, form_verb)
                if captured is None:
                    continue
                if route.http_method != method:
                    allowed.add(route.http_method)
                    continue
                return Match(route, _decoded(route, captured))
        if allowed:
            raise MethodNotAllowed(method, path, sorted(allowed))
        raise NotFound(f"{path}: no such route", reason="ROUTE_NOT_FOUND")


def _decoded(route: Route, captured: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    violations = Violations()
    variables: dict[str, str] = {}
    by_path = {v.field_path: v for v in route.template.variables}
    for path, raw in captured.items():
        multi = by_path[path].is_multi_segment(route.template.segments)
        try:
            value = _decode(raw, multi=multi)
        except UnicodeDecodeError:
            violations.add(path, "is not valid percent-encoded UTF-8")
            continue
        if not multi and "/" in value:
            violations.add(path, 'must not contain "/" (%2F): it is a single path segment')
            continue
        variables[path] = value
    violations.raise_if_any()
    return variables
