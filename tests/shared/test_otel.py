"""OpenTelemetry tracing across processes: with OTEL_EXPORTER_OTLP_ENDPOINT set, one trace spans gateway -> service
-> database -> the next service, continuing the caller's traceparent; LLM call spans carry model, tokens and cost.
Without it, no instrumentation is installed."""

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from shared.services import SERVICES
from tests.support import ThreadedServer, eventually, free_port
from tests.support.settings import INTERNAL_SECRET, JWT_SECRET
from tests.support.users import register_and_login

SERVER, CLIENT = 2, 3
TRACED = ("api-gateway", "auth-service", "memory-service", "ai-runtime")


@dataclass(frozen=True, kw_only=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int  # 2 server, 3 client (OTLP's SpanKind)
    attributes: dict[str, Any]


def _value(any_value: object) -> object:
    kind = any_value.WhichOneof("value")  # type: ignore[attr-defined]
    return getattr(any_value, kind) if kind else None


def create_collector() -> tuple[FastAPI, list[ExportedSpan]]:
    """An OTLP/HTTP trace receiver: decodes the protobuf export requests the SDK sends."""
    app = FastAPI()
    spans: list[ExportedSpan] = []
    lock = threading.Lock()

    @app.post("/v1/traces")
    async def export(request: Request) -> Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        with lock:
            for resource_spans in message.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        spans.append(
                            ExportedSpan(
                                service=str(resource.get("service.name")),
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                kind=span.kind,
                                attributes={a.key: _value(a.value) for a in span.attributes},
                            )
                        )
        return Response(status_code=200, media_type="application/x-protobuf")

    return app, spans


@dataclass(frozen=True)
class TracedStack:
    gateway_url: str
    spans: list[ExportedSpan]

    def trace(self, trace_id: str, *, servers: set[str], timeout: float = 20) -> list[ExportedSpan]:
        """The spans of one trace, once each named service has exported its server span for it, and each server
        span called by another service has its client span (which ends a moment after it)."""

        def whole() -> list[ExportedSpan] | None:
            found = [s for s in list(self.spans) if s.trace_id == trace_id]
            served = [s for s in found if s.kind == SERVER]
            if not servers <= {s.service for s in served}:
                return None
            ids = {s.span_id for s in found}
            called = [s for s in served if s.service != "api-gateway"]
            return found if all(s.parent_span_id in ids for s in called) else None

        return eventually(
            whole,
            timeout=timeout,
            every=0.2,
            failure=lambda: (
                f"trace {trace_id}: spans {sorted((s.service, s.kind) for s in self.spans if s.trace_id == trace_id)}"
            ),
        )


@pytest.fixture(scope="module")
def traced_stack(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedStack]:
    collector_app, spans = create_collector()
    collector = ThreadedServer(collector_app).start()
    ports: dict[str, int] = {spec.name: free_port() for spec in SERVICES}
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": JWT_SECRET,
        "INTERNAL_SECRET": INTERNAL_SECRET,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "LOCAL_LLM_ENABLED": "true",
        **{spec.url_field.upper(): f"http://127.0.0.1:{ports[spec.name]}" for spec in SERVICES},
    }
    log = tmp_path_factory.mktemp("otel") / "services.log"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", spec.app_factory, "--port", str(ports[spec.name])],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        for spec in SERVICES
        if spec.name in TRACED
    ]
    try:
        for name in TRACED:
            _wait_ready(f"http://127.0.0.1:{ports[name]}", log)
        yield TracedStack(f"http://127.0.0.1:{ports['api-gateway']}", spans)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        collector.stop()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_ready(url: str, log: Path, timeout: float = 120) -> None:
    eventually(lambda: _ready(url), timeout=timeout, every=0.3, failure=lambda: f"{url}:\n{log.read_text()[-3000:]}")


def _trace_id(response: httpx.Response) -> str:
    return response.headers["traceparent"].split("-")[1]


def test_one_trace_spans_gateway_service_database_and_the_next_service(traced_stack: TracedStack) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with httpx.Client(base_url=traced_stack.gateway_url, timeout=60) as gateway:
        user = register_and_login(gateway, os.urandom(5).hex())
        stored = gateway.post(
            "/api/v1/memories",
            json={"content": "Traces are exported over OTLP"},
            headers={**user.headers, "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"},
        )
    assert stored.status_code == 201, stored.text
    assert _trace_id(stored) == caller_trace  # the caller's trace is continued, and said back

    spans = traced_stack.trace(caller_trace, servers={"api-gateway", "memory-service", "ai-runtime"})
    by_id = {s.span_id: s for s in spans}
    server = {s.service: s for s in spans if s.kind == SERVER}
    # the gateway's server span continues the caller's span; each next service's server span hangs under a client
    # span of the service that called it
    assert server["api-gateway"].parent_span_id == "00f067aa0ba902b7"
    for service, caller in (("memory-service", "api-gateway"), ("ai-runtime", "memory-service")):
        client = by_id[server[service].parent_span_id]
        assert client.kind == CLIENT and client.service == caller, (service, client)
    assert any(s.service == "memory-service" and s.attributes.get("db.system") == "postgresql" for s in spans)
    assert any(s.service == "api-gateway" and s.attributes.get("db.system") == "redis" for s in spans)


def test_llm_call_spans_carry_model_tokens_and_cost(traced_stack: TracedStack) -> None:
    with httpx.Client(base_url=traced_stack.gateway_url, timeout=120) as gateway:
        user = register_and_login(gateway, os.urandom(5).hex())
        answer = gateway.post(
            "/api/v1/ai/complete",
            json={"model": "smollm2-135m-instruct", "prompt": "Hi", "max_tokens": 4},
            headers=user.headers,
        )
    assert answer.status_code == 200, answer.text
    spans = traced_stack.trace(_trace_id(answer), servers={"api-gateway", "ai-runtime"})
    (llm,) = [s for s in spans if s.name.startswith("llm.complete")]
    assert llm.service == "ai-runtime" and llm.attributes["gen_ai.response.model"] == "smollm2-135m-instruct"
    assert llm.attributes["gen_ai.usage.input_tokens"] > 0 and llm.attributes["gen_ai.usage.output_tokens"] > 0
    assert "cognitionos.cost_usd" in llm.attributes and llm.attributes["cognitionos.status"] == "success"


def test_without_an_endpoint_nothing_is_instrumented(database_url: str, redis_url: str) -> None:
    code = (
        "import sys; from opentelemetry import trace; from services.memory_service.main import create_app; "
        "from services.memory_service.config import MemorySettings; "
        f"app = create_app(MemorySettings(database_url={database_url!r}, redis_url={redis_url!r})); "
        "app.build_middleware_stack(); "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.instrumentation')), "
        "type(trace.get_tracer_provider()).__name__)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] ProxyTracerProvider"  # no instrumentation, no SDK provider: nothing recorded
