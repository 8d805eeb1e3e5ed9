"""``python -m services.gateway``: serves the HTTP/JSON API (default http://127.0.0.1:8080)."""

from __future__ import annotations

import uvicorn
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from libs import config
from libs.logs import setup_logging
from libs.telemetry import setup_telemetry, shutdown_telemetry
from services.gateway.app import create_app


def main() -> None:
    setup_logging("gateway")
    setup_telemetry("gateway")
    app = create_app()
    # Probes are polled constantly; tracing them would bury the flows SREs look for.
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,livez", exclude_spans=["receive", "send"])
    try:
        uvicorn.run(
            app,
            host=config.gateway_host(),
            port=config.gateway_port(),
            log_config=None,
            timeout_graceful_shutdown=int(config.grace_seconds()),
        )
    finally:
        shutdown_telemetry()


if __name__ == "__main__":
    main()
