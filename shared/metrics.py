"""Prometheus metrics: request counts and latencies for every service, and the domain metrics each one adds.

Labels are bounded: routes by their template (never the raw path), services by name, models and tools by their
catalog names. `/metrics` answers only callers on the allowed networks, or with METRICS_TOKEN when one is set, so
the public gateway does not publish its numbers to the internet.
"""

import bisect
import hmac
import ipaddress
import itertools
from collections import defaultdict
from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from shared.config import BaseServiceSettings
from shared.errors import NotFoundError

# Each family is a `_total` (or histogram) alone: the `_created` series beside every one doubled the series count.
disable_created_metrics()

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BUCKET_NAMES = [*(floatToGoString(bound) for bound in LATENCY_BUCKETS), "+Inf"]  # the "le" labels, as exposed


class HttpSeries(Collector):
    """`cognitionos_http_requests_total{service, method, route, status}` and
    `cognitionos_http_request_duration_seconds{service, method, route}`, as prometheus_client's Counter and Histogram
    would expose them, made from every HttpMetrics of the process when scraped."""

    def __init__(self) -> None:
        self._sources: list[HttpMetrics] = []

    def add(self, source: "HttpMetrics") -> None:
        self._sources.append(source)

    def collect(self) -> Iterator[Metric]:
        counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
        latency: dict[tuple[str, str, str], list[float]] = {}
        for source in list(self._sources):
            for (method, route, status), n in list(source.counts.items()):
                counts[(source.service, method, route, str(status))] += n
            for (method, route), series in list(source.latency.items()):
                merged = latency.setdefault((source.service, method, route), [0.0] * len(series))
                for i, value in enumerate(list(series)):
                    merged[i] += value
        requests = CounterMetricFamily(
            "cognitionos_http_requests", "HTTP requests answered", labels=["service", "method", "route", "status"]
        )
        for labels, n in counts.items():
            requests.add_metric(list(labels), n)
        durations = HistogramMetricFamily(
            "cognitionos_http_request_duration_seconds",
            "Time to the response head",
            labels=["service", "method", "route"],
        )
        for key, series in latency.items():
            cumulative = list(itertools.accumulate(series[:-1]))
            durations.add_metric(list(key), list(zip(BUCKET_NAMES, cumulative, strict=True)), series[-1])
        yield requests
        yield durations


HTTP_SERIES = HttpSeries()

# gateway
RATE_LIMITED = Counter(
    "cognitionos_gateway_rate_limited_total", "Requests refused by a rate limit", ["bucket"], registry=None
)
AUTH_FAILURES = Counter("cognitionos_gateway_auth_failures_total", "Failed authentications", ["code"], registry=None)
UPSTREAM_ERRORS = Counter(
    "cognitionos_gateway_upstream_errors_total",
    "Upstream timeouts, refusals and 5xx",
    ["service", "kind"],
    registry=None,
)
CIRCUIT_OPEN = Gauge(
    "cognitionos_gateway_circuit_open", "1 while a service's circuit is open", ["service"], registry=None
)

# ai-runtime
LLM_CALLS = Counter(
    "cognitionos_llm_calls_total", "LLM and embedding calls", ["model", "provider", "status"], registry=None
)
LLM_TOKENS = Counter("cognitionos_llm_tokens_total", "Tokens used", ["model", "provider", "kind"], registry=None)
LLM_COST = Counter("cognitionos_llm_cost_usd_total", "Spend in USD", ["model", "provider"], registry=None)
LLM_CACHE_HITS = Counter("cognitionos_llm_cache_hits_total", "Answers served from the response cache", registry=None)
LLM_FALLBACKS = Counter(
    "cognitionos_llm_fallbacks_total", "Calls answered by a later model of their chain", registry=None
)
LLM_BUDGET_REJECTIONS = Counter(
    "cognitionos_llm_budget_rejections_total", "Calls refused by a budget", ["scope"], registry=None
)
LLM_FIRST_TOKEN = Histogram(
    "cognitionos_llm_time_to_first_token_seconds",
    "Streamed calls: time to the first chunk",
    ["model"],
    buckets=LATENCY_BUCKETS,
    registry=None,
)

# agent-orchestrator
TASKS_FINISHED = Counter("cognitionos_tasks_finished_total", "Tasks that reached an end", ["status"], registry=None)
TASK_RETRIES = Counter("cognitionos_task_retries_total", "Failed attempts scheduled again", registry=None)
CLAIM_LATENCY = Histogram(
    "cognitionos_task_claim_latency_seconds", "From ready to running", buckets=LATENCY_BUCKETS, registry=None
)
RUNS_FINISHED = Counter("cognitionos_runs_finished_total", "Runs that reached an end", ["status"], registry=None)

# memory-service
MEMORIES_STORED = Counter("cognitionos_memories_stored_total", "Memories written", ["outcome"], registry=None)
MEMORY_SEARCH = Histogram(
    "cognitionos_memory_search_seconds",
    "Retrieval time, embedding excluded",
    ["mode"],
    buckets=LATENCY_BUCKETS,
    registry=None,
)

# tool-runner
TOOL_RUNS = Counter("cognitionos_tool_runs_total", "Tool runs", ["tool", "status"], registry=None)
SANDBOX_SECONDS = Histogram(
    "cognitionos_sandbox_run_seconds", "Whole sandboxed runs, start included", buckets=LATENCY_BUCKETS, registry=None
)
SANDBOX_MEMORY_KILLS = Counter(
    "cognitionos_sandbox_memory_kills_total", "Runs stopped by their memory limit", registry=None
)


# The families each service exports, beside the HTTP ones every service has: the gateway exports no sandbox metrics.
SERVICE_FAMILIES: dict[str, tuple[Collector, ...]] = {
    "api-gateway": (RATE_LIMITED, AUTH_FAILURES, UPSTREAM_ERRORS, CIRCUIT_OPEN),
    "ai-runtime": (
        LLM_CALLS,
        LLM_TOKENS,
        LLM_COST,
        LLM_CACHE_HITS,
        LLM_FALLBACKS,
        LLM_BUDGET_REJECTIONS,
        LLM_FIRST_TOKEN,
    ),
    "agent-orchestrator": (TASKS_FINISHED, TASK_RETRIES, CLAIM_LATENCY, RUNS_FINISHED),
    "memory-service": (MEMORIES_STORED, MEMORY_SEARCH),
    "tool-runner": (TOOL_RUNS, SANDBOX_SECONDS, SANDBOX_MEMORY_KILLS),
}


def service_registry(service: str) -> CollectorRegistry:
    """What one service's /metrics exports: the process, the HTTP families and its own."""
    registry = CollectorRegistry(auto_describe=True)
    common: tuple[Collector, ...] = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR, HTTP_SERIES)
    for collector in (*common, *SERVICE_FAMILIES.get(service, ())):
        registry.register(collector)
    return registry


class HttpMetrics:
    """One app's request count and latency, in plain numbers that HTTP_SERIES turns into Prometheus families when
    scraped. Only the thread of the app's event loop writes them (ServiceMiddleware runs there), so they need no
    lock: prometheus_client's Counter and Histogram take one on every increment, and looking up a labelled series
    cost more than the observation itself. Methods outside HTTP's own are counted as "other", so that made-up
    methods cannot grow the series without bound (routes and statuses are bounded)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.counts: dict[tuple[str, str, int], int] = {}
        # Per (method, route): how many fell in each bucket (not cumulative), then +Inf, then the sum of seconds.
        self.latency: dict[tuple[str, str], list[float]] = {}
        HTTP_SERIES.add(self)

    def observe(self, method: str, route: str, seconds: float) -> None:
        key = (_method(method), route)
        if (series := self.latency.get(key)) is None:
            series = self.latency[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        series[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: at most the bound
        series[-1] += seconds

    def count(self, method: str, route: str, status: int) -> None:
        key = (_method(method), route, status)
        self.counts[key] = self.counts.get(key, 0) + 1


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def _method(method: str) -> str:
    return method if method in HTTP_METHODS else "other"


def install_metrics(app: FastAPI, settings: BaseServiceSettings) -> None:
    """The /metrics route (the requests are counted by shared/middleware.py's ServiceMiddleware)."""
    networks = [ipaddress.ip_network(n) for n in settings.metrics_allowed_networks]
    registry = service_registry(settings.service_name)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if not _may_scrape(request, settings.metrics_token, networks):
            raise NotFoundError("Not found")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _may_scrape(
    request: Request, token: str | None, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False
    return any(address in network for network in networks)
