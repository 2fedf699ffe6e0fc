"""Prometheus metrics: every service serves them, by route template, and the public gateway only to its own
network or with the scrape token."""

import uuid

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

from services.api_gateway.main import create_app as create_gateway
from shared.metrics import HTTP_METHODS, HTTP_SERIES, LATENCY_BUCKETS, HttpMetrics
from tests.support import eventually, serving
from tests.support.stack import Stack
from tests.support.users import RegisteredUser


def _samples(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_requests_are_counted_by_route_template_never_by_raw_path(
    gateway: httpx.Client, stack: Stack, user: RegisteredUser
) -> None:
    secret_id = str(uuid.uuid4())
    gateway.get(f"/api/v1/memories/{secret_id}", headers=user.headers)
    gateway.get("/api/v1/auth/me", headers=user.headers)

    def counted() -> str | None:
        # The auth-service counts a request once its answer is sent, which may be just after the gateway relayed it.
        text = gateway.get("/metrics").text
        requests = _samples(text, "cognitionos_http_requests_total")
        by_gateway = any('service="api-gateway"' in s and 'route="/api/v1/memories"' in s for s in requests)
        by_auth = any('service="auth-service"' in s and 'route="/me"' in s for s in requests)
        return text if by_gateway and by_auth else None

    text = eventually(counted)
    assert _samples(text, "cognitionos_http_request_duration_seconds_bucket")
    assert secret_id not in text


def test_failed_authentication_is_counted(gateway: httpx.Client) -> None:
    gateway.get("/api/v1/memories/x", headers={"Authorization": "Bearer not.a.token"})
    failures = _samples(gateway.get("/metrics").text, "cognitionos_gateway_auth_failures_total")
    assert any('code="invalid_token"' in s for s in failures), failures


def test_the_public_gateway_does_not_publish_metrics_to_other_networks(stack: Stack) -> None:
    elsewhere = stack.gateway_settings(metrics_allowed_networks=["10.0.0.0/8"])
    with serving(create_gateway(elsewhere)) as gw:
        assert httpx.get(f"{gw.url}/metrics").status_code == 404
    with_token = stack.gateway_settings(metrics_allowed_networks=[], metrics_token="scrape-token-0123456789")
    with serving(create_gateway(with_token)) as gw:
        assert httpx.get(f"{gw.url}/metrics").status_code == 404
        wrong = httpx.get(f"{gw.url}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 404
        right = httpx.get(f"{gw.url}/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
        assert right.status_code == 200 and "cognitionos_http_requests_total" in right.text


def test_each_service_exports_its_own_families_and_no_created_series(gateway: httpx.Client, stack: Stack) -> None:
    families = {
        line.split()[2] for line in gateway.get("/metrics").text.splitlines() if line.startswith("# TYPE cognitionos_")
    }
    assert {"cognitionos_gateway_auth_failures_total", "cognitionos_http_requests_total"} <= families
    assert not [f for f in families if f.startswith(("cognitionos_sandbox", "cognitionos_llm", "cognitionos_memor"))]
    assert "_created" not in gateway.get("/metrics").text
    auth = httpx.get(f"{stack.auth.url}/metrics").text
    assert "cognitionos_http_requests_total" in auth and "cognitionos_gateway_" not in auth


def test_unusual_methods_cannot_multiply_the_metric_series(gateway: httpx.Client, user: RegisteredUser) -> None:
    for method in ("PROPFIND", "SEARCH", "MKCOL"):
        gateway.request(method, "/api/v1/auth/me", headers=user.headers)
    text = gateway.get("/metrics").text
    requests = [s for s in _samples(text, "cognitionos_http_requests_total") if 'service="api-gateway"' in s]
    assert any('method="other"' in s for s in requests), requests
    assert not any(name in text for name in ("PROPFIND", "SEARCH", "MKCOL"))


def test_request_series_read_as_prometheus_clients_own_counter_and_histogram() -> None:
    """HttpMetrics counts without prometheus_client's locks: what a scrape reads must not change with that."""
    observations = [("GET", "/me", 0.0004, 200), ("GET", "/me", 0.001, 200), ("POST", "/runs", 0.7, 201)]
    observations += [("GET", "/me", 0.0025, 404), ("PROPFIND", "/me", 75.0, 405)]
    ours = HttpMetrics("svc-under-test")
    theirs_requests = Counter(
        "cognitionos_http_requests", "HTTP requests answered", ["service", "method", "route", "status"]
    )
    theirs_latency = Histogram(
        "cognitionos_http_request_duration_seconds",
        "Time to the response head",
        ["service", "method", "route"],
        buckets=LATENCY_BUCKETS,
    )
    for method, route, seconds, status in observations:
        ours.observe(method, route, seconds)
        ours.count(method, route, status)
        shown = method if method in HTTP_METHODS else "other"
        theirs_latency.labels("svc-under-test", shown, route).observe(seconds)
        theirs_requests.labels("svc-under-test", shown, route, str(status)).inc()

    def lines(*collectors: Collector) -> list[str]:
        registry = CollectorRegistry()
        for collector in collectors:
            registry.register(collector)
        text = generate_latest(registry).decode()
        return sorted(line for line in text.splitlines() if "svc-under-test" in line or line.startswith("#"))

    assert lines(HTTP_SERIES) == lines(theirs_requests, theirs_latency)
