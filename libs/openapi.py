"""The gateway's OpenAPI 3.1 document and the README's role table, from the same declarations it serves.

Operations come from each RPC's ``google.api.http`` bindings (libs.transcoding), schemas from the JSON
profile (libs.json_profile), security notes from the ``shop.common.v1.policy`` option, the media types of
an RPC that answers with a document (``google.api.HttpBody``) from its ``shop.common.v1.produces`` option,
and descriptions from the proto comments. The generated ``_pb2`` modules drop comments, so they are read
from a FileDescriptorSet compiled with source info next to them (``gen/descriptors.binpb``)::

    comments = Comments.from_file("gen/descriptors.binpb")
    document = openapi_document(services, comments=comments, title="Shop back office", version="1")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    EnumValueDescriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from shop.common.v1 import policy_pb2

from libs import json_profile as profile
from libs import transcoding
from libs.errors import HTTP_STATUS, HTTP_STATUS_BY_REASON
from libs.policy import declared_policy, declared_produces
from libs.transcoding import Route

DescriptorLike = (
    Descriptor | FieldDescriptor | EnumDescriptor | EnumValueDescriptor | ServiceDescriptor | MethodDescriptor
)

SCHEMAS = "#/components/schemas/"
ERROR_SCHEMA = "Error"
SECURITY_SCHEME = "bearerAuth"
#: Where ``make proto`` writes the contracts with their comments, next to the generated code.
DESCRIPTOR_SET = "descriptors.binpb"
#: The schema of a document's bytes, sent as they are.
BINARY_SCHEMA: dict[str, str] = {"type": "string", "format": "binary"}
#: A document RPC that declares no media types may answer any.
ANY_MEDIA_TYPE = "*/*"


# -------------------------------------------------------------------------------------------- comments


class Comments:
    """The proto comment of each element (message, field, enum, enum value, service, method)."""

    def __init__(self, by_name: dict[str, str] | None = None) -> None:
        self.by_name: dict[str, str] = dict(by_name or {})

    @classmethod
    def from_descriptor_set(cls, data: bytes | descriptor_pb2.FileDescriptorSet) -> Comments:
        """Reads a FileDescriptorSet compiled with ``--include_source_info``."""
        files = descriptor_pb2.FileDescriptorSet.FromString(data) if isinstance(data, bytes) else data
        by_name: dict[str, str] = {}
        for file in files.file:
            names = dict(_element_paths(file))
            for location in file.source_code_info.location:
                name = names.get(tuple(location.path))
                text = _clean(location.leading_comments or location.trailing_comments)
                if name is not None and text:
                    by_name[name] = text
        return cls(by_name)

    @classmethod
    def from_file(cls, path: str | Path) -> Comments:
        """Reads a descriptor set file, e.g. ``gen/descriptors.binpb``."""
        return cls.from_descriptor_set(Path(path).read_bytes())

    @classmethod
    def beside_generated_code(cls) -> Comments:
        """The descriptor set ``make proto`` writes beside the generated ``shop`` package; no comments
        when it was not written."""
        import shop

        for folder in shop.__path__:
            candidate = Path(folder).parent / DESCRIPTOR_SET
            if candidate.is_file():
                return cls.from_file(candidate)
        return cls()

    def of(self, element: DescriptorLike) -> str | None:
        """The comment of a descriptor, or None when it has none."""
        return self.by_name.get(_key(element))


def _key(element: DescriptorLike) -> str:
    if isinstance(element, EnumValueDescriptor):
        return f"{element.type.full_name}.{element.name}"
    return element.full_name


def _element_paths(file: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[tuple[int, ...], str]]:
    # SourceCodeInfo paths are field numbers and indexes: FileDescriptorProto.message_type is 4, enum_type
    # 5, service 6; DescriptorProto.field 2, nested_type 3, enum_type 4; EnumDescriptorProto.value 2;
    # ServiceDescriptorProto.method 2.
    package = f"{file.package}." if file.package else ""

    def enum(path: tuple[int, ...], proto: descriptor_pb2.EnumDescriptorProto, scope: str) -> Iterator[Any]:
        name = scope + proto.name
        yield path, name
        for index, value in enumerate(proto.value):
            yield (*path, 2, index), f"{name}.{value.name}"

    def message(path: tuple[int, ...], proto: descriptor_pb2.DescriptorProto, scope: str) -> Iterator[Any]:
        name = scope + proto.name
        yield path, name
        for index, field in enumerate(proto.field):
            yield (*path, 2, index), f"{name}.{field.name}"
        for index, nested in enumerate(proto.nested_type):
            yield from message((*path, 3, index), nested, f"{name}.")
        for index, nested_enum in enumerate(proto.enum_type):
            yield from enum((*path, 4, index), nested_enum, f"{name}.")

    for index, proto in enumerate(file.message_type):
        yield from message((4, index), proto, package)
    for index, enum_proto in enumerate(file.enum_type):
        yield from enum((5, index), enum_proto, package)
    for index, service in enumerate(file.service):
        yield (6, index), package + service.name
        for number, method in enumerate(service.method):
            yield (6, index, 2, number), f"{package}{service.name}.{method.name}"


def _clean(comment: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in comment.splitlines()]
    return "\n".join(line.rstrip() for line in lines).strip()


def _summary(text: str) -> str:
    flat = " ".join(text.split())
    found = re.match(r"(.+?\.)(\s|$)", flat)
    return found.group(1) if found else flat


# -------------------------------------------------------------------------------------------- document


def _idempotency(method: MethodDescriptor) -> str | None:
    policy = declared_policy(method)
    if policy is None:
        return None
    return profile.enum_name(policy_pb2.Idempotency.DESCRIPTOR, policy.idempotency)


def _roles(method: MethodDescriptor) -> list[str]:
    policy = declared_policy(method)
    return list(policy.roles) if policy is not None else []


def document_content(method: MethodDescriptor) -> dict[str, Any]:
    """The ``content`` of the answer of an RPC that returns ``google.api.HttpBody``: each media type it
    declares it produces, with its bytes as the schema."""
    media_types = declared_produces(method) or (ANY_MEDIA_TYPE,)
    return {media_type: {"schema": dict(BINARY_SCHEMA)} for media_type in media_types}


def _routes(services: Iterable[ServiceDescriptor]) -> list[Route]:
    routes = [
        route
        for service in services
        for method in service.methods
        if (rule := transcoding.http_rule(method)) is not None
        for route in transcoding.routes_of(method, rule)
    ]
    transcoding.Router(routes)  # refuses contradictory bindings, as the gateway would
    return routes


def _error_statuses() -> dict[int, list[str]]:
    """Every error status the gateway answers, with the gRPC codes behind each, from HTTP_STATUS."""
    statuses: dict[int, list[str]] = {}
    for code, status in HTTP_STATUS.items():
        # CANCELLED means the client went away: nobody reads that answer.
        if code != "CANCELLED":
            statuses.setdefault(status, []).append(code)
    statuses.setdefault(500, []).append("INTERNAL")
    for reason, status in HTTP_STATUS_BY_REASON.items():
        statuses.setdefault(status, []).append(reason)
    return dict(sorted(statuses.items()))


def error_responses() -> dict[str, Any]:
    """An operation's ``responses`` for every error status the gateway answers, each referring to the
    document's error body (``components/responses/Error<status>``). The gateway's hand-written routes
    answer errors the same way, so their operations take these too."""
    return {str(status): {"$ref": f"#/components/responses/Error{status}"} for status in _error_statuses()}


def error_schema() -> dict[str, Any]:
    """The one error body every failure answers with (services/gateway/problems.py)."""
    violation = {
        "type": "object",
        "properties": {
            "field": {"type": "string", "description": "The field path, e.g. lines[2].quantity."},
            "description": {"type": "string"},
        },
        "required": ["field", "description"],
    }
    return {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "The gRPC status code name."},
                    "message": {"type": "string"},
                    "reason": {"type": "string", "description": "A stable cause in UPPER_SNAKE_CASE."},
                    "fields": {"type": "array", "items": violation},
                    "trace_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                },
                "required": ["code", "message", "reason", "fields"],
            }
        },
        "required": ["error"],
    }


class _DocumentBuilder:
    def __init__(self, comments: Comments | None) -> None:
        self.comments = comments or Comments()
        self.schemas = profile.SchemaBuilder(describe=self.comments.of, ref_prefix=SCHEMAS)
        self.paths: dict[str, dict[str, Any]] = {}
        self.shapes: dict[str, str] = {}  # OpenAPI path with its parameters unnamed -> the path itself

    def add(self, route: Route) -> None:
        path = self.openapi_path(route)
        shape = re.sub(r"\{[^}]*\}", "{}", path)
        if self.shapes.setdefault(shape, path) != path:
            raise ValueError(
                f"{route.method.full_name}: {path} and {self.shapes[shape]} differ only in their parameter "
                "names; name the same field the same way in both"
            )
        item = self.paths.setdefault(path, {})
        verb = route.http_method.lower()
        if verb in item:
            raise ValueError(f"{route.method.full_name}: {verb.upper()} {path} is documented twice")
        item[verb] = self.operation(route)

    def openapi_path(self, route: Route) -> str:
        template = route.template
        starts = {v.start: v for v in template.variables}
        parts: list[str] = []
        index = 0
        wildcards = 0
        while index < len(template.segments):
            variable = starts.get(index)
            segment = template.segments[index]
            if variable is not None:
                parts.append("{" + variable.field_path + "}")
                index = variable.end
                continue
            if segment.kind == "literal":
                parts.append(segment.text)
            else:
                wildcards += 1
                parts.append("{" + f"wildcard_{wildcards}" + "}")
            index += 1
        verb = f":{template.verb}" if template.verb else ""
        return "/" + "/".join(parts) + verb

    def operation(self, route: Route) -> dict[str, Any]:
        method = route.method
        comment = self.comments.of(method) or ""
        roles = _roles(method)
        idempotency = _idempotency(method)
        notes = [comment, f"Roles: {', '.join(roles) if roles else 'none declared'}"]
        if idempotency and idempotency != "read_only":
            notes.append(f"Idempotency: {idempotency}, by request_id or the Idempotency-Key header.")
        if route.returns_http_body:
            notes.append(f"Answers the document itself, not JSON: {', '.join(document_content(method))}.")
        operation: dict[str, Any] = {
            "operationId": route.operation_id,
            "tags": [route.service.name],
            "summary": _summary(comment) if comment else f"{route.service.name}.{method.name}",
            "description": "\n\n".join(n for n in notes if n),
            "parameters": self.parameters(route, idempotency),
            "responses": self.responses(route),
            "security": [{SECURITY_SCHEME: []}],
            "x-grpc-method": route.grpc_path,
            "x-roles": roles,
            "x-idempotency": idempotency,
        }
        body = self.request_body(route)
        if body is not None:
            operation["requestBody"] = body
        if not operation["parameters"]:
            del operation["parameters"]
        return operation

    def parameters(self, route: Route, idempotency: str | None) -> list[dict[str, Any]]:
        template = route.template
        parameters: list[dict[str, Any]] = []
        for variable in template.variables:
            target = route.bound_fields[variable.field_path]
            schema = self.schemas.value_schema(target)
            notes = [self.comments.of(target) or ""]
            if variable.is_multi_segment(template.segments):
                pattern = template.variable_pattern(variable)
                schema = {**schema, "pattern": pattern}
                notes.append(f"Spans path segments: {pattern} (a / inside a segment is sent as %2F).")
            parameter = {"name": variable.field_path, "in": "path", "required": True, "schema": schema}
            text = " ".join(n for n in notes if n)
            if text:
                parameter["description"] = text
            parameters.append(parameter)
        wildcards = sum(1 for s in template.segments if s.kind != "literal") - sum(
            v.end - v.start for v in template.variables
        )
        for number in range(1, wildcards + 1):
            parameters.append(
                {
                    "name": f"wildcard_{number}",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "Any path segment; the call does not use it.",
                }
            )
        if route.body != "*":
            parameters.extend(self.query_parameters(route))
        request_id = route.request_descriptor.fields_by_name.get(transcoding.REQUEST_ID)
        if idempotency not in (None, "read_only") and request_id is not None:
            parameters.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "The request's request_id, when the request does not carry one: a retry "
                    "with the same key gets the first answer.",
                }
            )
        return parameters

    def query_parameters(self, route: Route) -> list[dict[str, Any]]:
        bound = set(route.path_fields)
        parameters: list[dict[str, Any]] = []

        def walk(descriptor: Descriptor, keys: str, names: str, seen: frozenset[str]) -> None:
            for target in descriptor.fields:
                key = profile.join(keys, profile.json_key(target))
                name = profile.join(names, target.name)
                if name in bound or (not names and target.name == route.body):
                    continue
                if profile.is_map(target):
                    continue
                if transcoding.is_composite(target):
                    assert target.message_type is not None
                    nested = target.message_type
                    if not target.is_repeated and nested.full_name not in seen:
                        walk(nested, key, name, seen | {nested.full_name})
                    continue
                schema = self.schemas.value_schema(target)
                if target.is_repeated:
                    schema = {"type": "array", "items": schema}
                parameter: dict[str, Any] = {"name": key, "in": "query", "required": False, "schema": schema}
                note = self.comments.of(target)
                if note:
                    parameter["description"] = note
                parameters.append(parameter)

        root = route.request_descriptor
        walk(root, "", "", frozenset({root.full_name}))
        return parameters

    def request_body(self, route: Route) -> dict[str, Any] | None:
        if not route.body:
            return None
        request = route.request_descriptor
        if route.body == "*":
            bound = route.path_fields
            schema = (
                self.schemas.message_schema(request, without=bound) if bound else self.schemas.ref(request)
            )
        else:
            target = request.fields_by_name[route.body]
            nested = [p.split(".", 1)[1] for p in route.path_fields if p.startswith(route.body + ".")]
            if nested and target.message_type is not None:
                schema = self.schemas.message_schema(target.message_type, without=nested)
            elif target.is_repeated and not profile.is_map(target):
                schema = {"type": "array", "items": self.schemas.value_schema(target)}
            else:
                schema = (
                    self.schemas.field_schema(target)
                    if profile.is_map(target)
                    else self.schemas.value_schema(target)
                )
        return {"content": {"application/json": {"schema": schema}}}

    def responses(self, route: Route) -> dict[str, Any]:
        if route.returns_http_body:
            # grpc-gateway's HttpBody: the bytes as they are, with their Content-Type, always 200.
            answers = {"200": {"description": "The document.", "content": document_content(route.method)}}
        elif route.server_streaming:
            answers = {
                "200": {"description": self.stream_description(), "content": self.stream_content(route)}
            }
        else:
            answers = self.json_answers(route)
        answers.update(error_responses())
        return answers

    @staticmethod
    def stream_description() -> str:
        return (
            "A stream of newline-delimited JSON objects, one per message, as grpc-gateway sends them: "
            '`{"result": ...}`, and `{"error": ...}` as the last line when the stream fails after it began. '
            "A stream refused at once answers with its error status instead."
        )

    def stream_content(self, route: Route) -> dict[str, Any]:
        if route.response_body:
            result = self.schemas.field_schema(route.response_descriptor.fields_by_name[route.response_body])
        else:
            result = self.schemas.ref(route.response_descriptor)
        line = {
            "type": "object",
            "properties": {
                "result": result,
                "error": error_schema()["properties"]["error"],
            },
        }
        return {transcoding.STREAM_MEDIA_TYPE: {"schema": line}}

    def json_answers(self, route: Route) -> dict[str, Any]:
        response = route.response_descriptor
        if route.response_body:
            target = response.fields_by_name[route.response_body]
            schema = self.schemas.field_schema(target)
        else:
            schema = self.schemas.ref(response)
        content = {"application/json": {"schema": schema}}
        answers: dict[str, Any] = {}
        status = route.success_status()
        if status == 201:
            answers["201"] = {"description": "Created.", "content": content}
            created = response.fields_by_name.get("created")
            if created is not None and created.type == FieldDescriptor.TYPE_BOOL:
                answers["200"] = {
                    "description": "It existed already (created: false) and is returned as it is.",
                    "content": content,
                }
        else:
            answers["200"] = {"description": "OK.", "content": content}
        return answers


def _error_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, codes in _error_statuses().items():
        response: dict[str, Any] = {
            "description": f"The error body; code {' or '.join(codes)}.",
            "content": {"application/json": {"schema": {"$ref": SCHEMAS + ERROR_SCHEMA}}},
        }
        if status == 401:
            response["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}
            }
        responses[f"Error{status}"] = response
    return responses


def openapi_document(
    services: Sequence[ServiceDescriptor],
    *,
    comments: Comments | None = None,
    title: str = "Shop back office",
    version: str = "1.0.0",
    servers: Sequence[str] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every HTTP binding of ``services``. Raises ValueError for bindings
    the gateway would refuse too, or two paths that differ only in their parameter names."""
    builder = _DocumentBuilder(comments)
    for route in _routes(services):
        builder.add(route)
    schemas = dict(sorted(builder.schemas.definitions.items()))
    schemas[ERROR_SCHEMA] = error_schema()
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "tags": [
            {"name": s.name, **({"description": d} if (d := builder.comments.of(s)) else {})}
            for s in services
        ],
        "paths": builder.paths,
        "components": {
            "schemas": schemas,
            "responses": _error_responses(),
            "securitySchemes": {SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{SECURITY_SCHEME: []}],
    }
    if servers:
        document["servers"] = [{"url": url} for url in servers]
    return document


def markdown_role_table(services: Sequence[ServiceDescriptor]) -> str:
    """The README's table: every RPC, its HTTP routes, the roles that may call it and its idempotency."""
    rows = ["| RPC | HTTP route | roles | idempotency |", "|---|---|---|---|"]
    for service in services:
        for method in service.methods:
            rule = transcoding.http_rule(method)
            routes = transcoding.routes_of(method, rule) if rule is not None else []
            http = "<br>".join(f"`{r.http_method} {r.template}`" for r in routes) or "— (gRPC only)"
            roles = ", ".join(_roles(method)) or "—"
            idempotency = (_idempotency(method) or "—").replace("_", " ")
            policy = declared_policy(method)
            if policy is not None and policy.creates:
                idempotency += ", creates"
            rows.append(f"| `{service.name}.{method.name}` | {http} | {roles} | {idempotency} |")
    return "\n".join(rows)
