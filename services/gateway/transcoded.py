"""Every RPC of the services' contracts, served over HTTP/JSON with no code per route.

The routes are built at start-up from the ``google.api.http`` annotation on each RPC (``libs.transcoding``),
requests and answers are converted under the suite's one JSON profile (``libs.json_profile``), and each
call goes to the service that owns the contract. A new RPC with its annotation and policy appears here,
and in ``/openapi.json``, without a line of gateway code. An RPC that returns ``google.api.HttpBody`` (a
pick list, a label, a manifest) is answered with the document's bytes and Content-Type instead of JSON;
its errors are JSON like every other. A server-streaming RPC answers with newline-delimited JSON, one
``{"result": ...}`` per message, as grpc-gateway streams.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from libs import config
from libs.contracts import SERVICES, owner_of
from libs.errors import DomainError
from libs.identity import identity_from_header
from libs.transcoding import STREAM_MEDIA_TYPE, Route, Router
from services.gateway.problems import domain_error_response
from services.gateway.upstreams import Upstreams

#: The contracts the gateway transcodes. The dead-letter contract is served by every service for its own
#: consumers, so its routes fan out by hand (routes/operations.py).
CONTRACTS = SERVICES
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class PayloadTooLarge(DomainError):
    """A request body over the size a service accepts: 413, which a retry cannot cure."""

    code = "RESOURCE_EXHAUSTED"

    def __init__(self, limit: int) -> None:
        super().__init__(f"body: is larger than {limit} bytes", reason="PAYLOAD_TOO_LARGE")


class TranscodedApi:
    """The endpoint behind every annotated route."""

    def __init__(self, contracts: Sequence[ServiceDescriptor] = CONTRACTS) -> None:
        self.router = Router.from_services(contracts)

    async def handle(self, request: Request) -> Response:
        """Authenticates, matches, transcodes the request, calls the owning service, transcodes the answer."""
        caller = identity_from_header(request.headers.get("authorization"))
        # The path as sent, still percent-encoded (some servers put the query string in raw_path too).
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        found = self.router.match(request.method, raw_path.decode("latin-1").partition("?")[0])
        # The request's span is named after its route, as for a hand-written one, not the catch-all.
        route_template = str(found.route.template)
        span = trace.get_current_span()
        span.update_name(f"{request.method} {route_template}")
        span.set_attribute("http.route", route_template)
        body = await _body(request) if request.method != "GET" else None
        message = found.route.request_from_http(
            found.variables, request.query_params.multi_items(), body, request.headers
        )
        upstreams: Upstreams = request.app.state.upstreams
        channel = upstreams.channels[owner_of(found.route.service)]
        if found.route.server_streaming:
            return await _stream(found.route, found.route.stream(channel, message, caller=caller))
        answer = await found.route.call(channel, message, caller=caller)
        if found.route.returns_http_body:
            return _document(*found.route.http_body_answer(answer))
        status, content = found.route.http_answer(answer)
        return JSONResponse(content, status_code=status)


async def _stream(route: Route, messages: AsyncIterator[Message]) -> Response:
    """A server stream as newline-delimited JSON. The first message is awaited before answering, so a
    stream refused at once (a bad cursor, a missing role) answers with its HTTP status like any call; a
    failure after that can only end the body, with an error line in the one error format."""
    try:
        first = await anext(messages)
    except StopAsyncIteration:
        first = None

    async def lines() -> AsyncIterator[bytes]:
        try:
            if first is None:
                return
            yield route.stream_line(first)
            async for message in messages:
                yield route.stream_line(message)
        except DomainError as err:
            yield _error_line(err)
        finally:
            await messages.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(lines(), media_type=STREAM_MEDIA_TYPE)


def _error_line(err: DomainError) -> bytes:
    """The error body an HTTP answer would carry, as the stream's last line."""
    return bytes(domain_error_response(err).body) + b"\n"


def _document(status: int, content_type: str, data: bytes) -> Response:
    """A document answered as the service wrote it."""
    # Set as a header, not as media_type, which would append a charset to text/* types the service never
    # declared (a CSV manifest may well be GB 18030).
    return Response(data, status_code=status, headers={"Content-Type": content_type})


async def _body(request: Request) -> bytes:
    """The request body, refused as soon as it is known to exceed what a service accepts."""
    limit = config.max_message_bytes()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)
