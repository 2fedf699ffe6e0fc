"""Gateway behaviour against real upstreams: identity, tracing, streaming, timeouts, outages, breaker."""

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api_gateway.config import GatewaySettings
from services.api_gateway.main import create_app as create_gateway
from shared import clients
from shared.identity import Identity, sign_identity
from shared.services import SERVICE_NAMES
from tests.support import assert_error, eventually, serving
from tests.support.settings import INTERNAL_SECRET, JWT_SECRET
from tests.support.stack import Stack
from tests.support.users import RegisteredUser


def _forge(claims_update: dict, user: RegisteredUser, *, secret: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    claims.update(claims_update)
    return jwt.encode(claims, secret, algorithm=algorithm)


class TestAuthentication:
    def test_requires_credentials(self, gateway: httpx.Client) -> None:
        assert_error(gateway.get("/api/v1/memories"), 401, "unauthorized")
        assert_error(gateway.get("/api/v1/memories", headers={"Authorization": "Basic abc"}), 401)

    def test_tampered_token_is_rejected(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        header, payload, signature = user.access_token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["role"] = "admin"
        forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        assert_error(
            gateway.get("/api/v1/memories", headers={"Authorization": f"Bearer {header}.{forged_payload}.{signature}"}),
            401,
            "invalid_token",
        )

    def test_expired_token_is_rejected(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        past = datetime.now(UTC) - timedelta(hours=1)
        token = _forge({"exp": int(past.timestamp()), "iat": int((past - timedelta(minutes=5)).timestamp())}, user)
        assert_error(
            gateway.get("/api/v1/memories", headers={"Authorization": f"Bearer {token}"}), 401, "token_expired"
        )

    def test_a_token_accepted_while_valid_is_refused_once_it_expires(
        self, gateway: httpx.Client, user: RegisteredUser
    ) -> None:
        """The gateway keeps tokens it verified; keeping one must not keep it alive past its `exp`."""
        expires = int(time.time()) + 2
        token = _forge({"exp": expires}, user)
        assert gateway.get("/api/v1/memories/x", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        time.sleep(max(0.0, expires - time.time()) + 0.05)
        assert_error(
            gateway.get("/api/v1/memories/x", headers={"Authorization": f"Bearer {token}"}), 401, "token_expired"
        )

    def test_alg_none_is_rejected(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
        claims = jwt.decode(user.access_token, options={"verify_signature": False})
        claims["role"] = "admin"
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        assert_error(
            gateway.get("/api/v1/memories", headers={"Authorization": f"Bearer {header}.{payload}."}),
            401,
            "invalid_token",
        )

    def test_wrong_secret_audience_or_issuer_is_rejected(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        for token in (
            _forge({}, user, secret="another-secret-entirely-0123456789"),
            _forge({"aud": "someone-else"}, user),
            _forge({"iss": "evil-issuer"}, user),
            _forge({}, user, algorithm="HS512"),
        ):
            assert_error(
                gateway.get("/api/v1/memories", headers={"Authorization": f"Bearer {token}"}), 401, "invalid_token"
            )

    def test_garbage_token(self, gateway: httpx.Client) -> None:
        assert_error(
            gateway.get("/api/v1/memories", headers={"Authorization": "Bearer not.a.jwt"}), 401, "invalid_token"
        )


class TestIdentityPropagation:
    def test_upstream_gets_signed_identity_and_no_credentials(
        self, gateway: httpx.Client, user: RegisteredUser
    ) -> None:
        echoed = gateway.get("/api/v1/memories/x", headers=user.headers).json()
        assert echoed["path"] == "/memories/x"
        assert echoed["verified_identity"]["user_id"] == user.id
        assert echoed["verified_identity"]["role"] == "user"
        assert "authorization" not in echoed["headers"]

    def test_spoofed_identity_headers_are_ignored(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        spoofed = sign_identity(
            Identity(user_id=user.id, username="x", role="admin", auth_method="jwt"), "guessed-secret"
        )
        echoed = gateway.get("/api/v1/memories/x", headers={**user.headers, **spoofed}).json()
        assert echoed["verified_identity"]["role"] == "user"
        # Without credentials the spoofed headers are not enough to get in at all.
        assert_error(gateway.get("/api/v1/memories/x", headers=spoofed), 401)

    def test_services_reject_identity_not_signed_by_the_gateway(
        self, auth_direct: httpx.Client, user: RegisteredUser
    ) -> None:
        admin = Identity(user_id=user.id, username=user.username, role="admin", auth_method="jwt")
        assert_error(auth_direct.get("/users", headers=sign_identity(admin, "guessed-secret")), 401)
        stale = sign_identity(admin, INTERNAL_SECRET, now=time.time() - 3600)
        assert_error(auth_direct.get("/users", headers=stale), 401)
        assert auth_direct.get("/users", headers=sign_identity(admin, INTERNAL_SECRET)).status_code == 200

    def test_request_id_and_traceparent(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        incoming = f"00-{trace_id}-00f067aa0ba902b7-01"
        response = gateway.get(
            "/api/v1/memories/x", headers={**user.headers, "X-Request-ID": "req-123", "traceparent": incoming}
        )
        echoed = response.json()["headers"]
        assert response.headers["x-request-id"] == echoed["x-request-id"] == "req-123"
        assert echoed["traceparent"].split("-")[1] == trace_id
        assert echoed["traceparent"].split("-")[2] != "00f067aa0ba902b7"  # the gateway's own span is the parent
        assert response.headers["traceparent"].split("-")[1] == trace_id

    def test_new_trace_when_none_or_invalid(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        response = gateway.get(
            "/api/v1/memories/x",
            headers={**user.headers, "traceparent": "garbage", "X-Request-ID": "bad id with spaces"},
        )
        echoed = response.json()["headers"]
        assert len(echoed["traceparent"].split("-")[1]) == 32
        assert response.headers["x-request-id"] != "bad id with spaces"

    def test_query_and_body_pass_through(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        echoed = gateway.post("/api/v1/memories/search?k=3&q=a+b", headers=user.headers, json={"hello": "world"}).json()
        assert echoed["query"] == "k=3&q=a+b"
        assert json.loads(echoed["body"]) == {"hello": "world"}


class TestRouting:
    def test_unknown_prefix_is_404(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        assert_error(gateway.get("/api/v1/nowhere/x", headers=user.headers), 404, "not_found")
        assert_error(gateway.get("/not/a/route"), 404, "not_found")

    def test_every_prefix_reaches_its_service(self, stack: Stack, gateway: httpx.Client, user: RegisteredUser) -> None:
        for prefix, expected_path in (
            ("plans", "/plans/p1"),
            ("runs", "/runs/p1"),
            ("agents", "/agents/p1"),
            ("memories", "/memories/p1"),
            ("ai", "/p1"),
        ):
            echoed = gateway.get(f"/api/v1/{prefix}/p1", headers=user.headers).json()
            assert echoed["path"] == expected_path, prefix

    def test_cors_preflight(self, gateway: httpx.Client) -> None:
        response = gateway.options(
            "/api/v1/auth/login", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] in ("*", "https://app.example")

    def test_a_browsers_request_and_a_programs_pass_the_same_checks(
        self, gateway: httpx.Client, user: RegisteredUser
    ) -> None:
        """A request without an Origin header takes the gateway's short way (GatewayApp); one with it, the way
        through Starlette's CORS middleware. Both are refused and answered alike, but for the CORS headers."""
        for origin in ({}, {"Origin": "https://app.example"}):
            assert_error(gateway.get("/api/v1/memories/x", headers=origin), 401, "unauthorized")
            answered = gateway.get("/api/v1/memories/x", headers={**user.headers, **origin})
            assert answered.status_code == 200, origin
            for name in ("x-request-id", "traceparent", "server-timing", "x-ratelimit-limit"):
                assert answered.headers[name], (name, origin)
            assert ("access-control-allow-origin" in answered.headers) == bool(origin)


def test_an_answer_through_the_gateway_has_one_date_and_one_server_header(
    gateway: httpx.Client, user: RegisteredUser
) -> None:
    """The service's own Date and Server are not relayed: the gateway's server sets its own."""
    answered = gateway.get("/api/v1/memories/x", headers=user.headers)
    assert answered.status_code == 200
    assert len(answered.headers.get_list("date")) == 1 and len(answered.headers.get_list("server")) == 1


def test_a_middleware_added_to_the_gateway_sees_every_proxied_request(stack: Stack, user: RegisteredUser) -> None:
    """The short way passes only layers known to leave a proxied request untouched: another one installed (as
    OpenTelemetry's is when tracing is on) puts every request back on the long way, through it."""
    seen: list[str] = []

    class Recording:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await self.app(scope, receive, send)

    app = create_gateway(stack.gateway_settings())
    app.add_middleware(Recording)
    with serving(app) as gw, httpx.Client(base_url=gw.url, timeout=10) as client:
        assert client.get("/api/v1/memories/x", headers=user.headers).status_code == 200
    assert seen == ["/api/v1/memories/x"]


class TestStreamingAndFailures:
    def test_sse_is_not_buffered(self, stack: Stack, user: RegisteredUser) -> None:
        """Ordering, not timing: the upstream sends its second event only after the client has read the first."""
        gate = uuid.uuid4().hex
        received: list[str] = []
        with (
            httpx.Client(base_url=stack.gateway.url, timeout=30) as client,
            client.stream(
                "GET",
                f"/api/v1/memories/gated-sse?gate={gate}",
                headers={**user.headers, "Accept": "text/event-stream"},
            ) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data:"):
                    received.append(line.removeprefix("data: "))
                    if len(received) == 1:
                        opened = client.post(f"/api/v1/memories/open-gate?gate={gate}", headers=user.headers)
                        assert opened.status_code == 200
        assert received == ['{"n": 0}', '{"n": 1}', '{"n": 2}']

    def test_upstream_timeout_is_504(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        assert_error(gateway.get("/api/v1/memories/slow", headers=user.headers), 504, "upstream_timeout")

    def test_upstream_down_is_503(self, gateway: httpx.Client, user: RegisteredUser) -> None:
        error = assert_error(gateway.post("/api/v1/tools/execute", headers=user.headers, json={}), 503)
        assert error["code"] in ("upstream_unavailable", "circuit_open")
        assert error["details"]["service"] == "tool-runner"

    def test_aggregated_health_reports_each_service(self, gateway: httpx.Client) -> None:
        body = gateway.get("/health").json()
        assert body["status"] == "degraded"
        assert body["services"]["auth-service"]["status"] == "ok"
        assert body["services"]["tool-runner"]["status"] == "down"
        assert set(body["services"]) == set(SERVICE_NAMES) - {"api-gateway"}


def test_circuit_breaker_opens_and_half_opens(stack: Stack, user: RegisteredUser) -> None:
    settings = stack.gateway_settings(circuit_failure_threshold=3, circuit_reset_seconds=1.0)
    echo_app = stack.echo.app
    with serving(create_gateway(settings)) as gw, httpx.Client(base_url=gw.url, timeout=10) as client:
        echo_app.state.flaky_fails = True
        try:
            for _ in range(3):
                assert client.get("/api/v1/plans/flaky", headers=user.headers).status_code == 503
            opened = client.get("/api/v1/plans/flaky", headers=user.headers)
            assert_error(opened, 503, "circuit_open")
            assert int(opened.headers["retry-after"]) >= 1
            echo_app.state.flaky_fails = False
            assert_error(client.get("/api/v1/plans/flaky", headers=user.headers), 503, "circuit_open")
            time.sleep(1.1)
            assert client.get("/api/v1/plans/flaky", headers=user.headers).status_code == 200  # the half-open trial
            assert client.get("/api/v1/plans/flaky", headers=user.headers).status_code == 200  # closed again
        finally:
            echo_app.state.flaky_fails = False


@pytest.mark.parametrize("fail_open", [True, False])
def test_redis_down_never_500(stack: Stack, user: RegisteredUser, fail_open: bool) -> None:
    settings = stack.gateway_settings(redis_url="redis://127.0.0.1:1/0", redis_fail_open=fail_open)
    with serving(create_gateway(settings)) as gw, httpx.Client(base_url=gw.url, timeout=10) as client:
        response = client.get("/api/v1/memories/x", headers=user.headers)
        if fail_open:
            assert response.status_code == 200
        else:
            assert_error(response, 503, "redis_unavailable")
        assert client.get("/ready").status_code == 503


def test_every_proxied_request_is_recorded_in_api_usage(
    gateway: httpx.Client, user: RegisteredUser, database_url: str
) -> None:
    from tests.support import sql_scalar

    ok = gateway.get("/api/v1/memories/x", headers={**user.headers, "X-Request-ID": f"usage-ok-{user.id}"})
    denied = gateway.get("/api/v1/auth/users", headers={**user.headers, "X-Request-ID": f"usage-403-{user.id}"})
    assert (ok.status_code, denied.status_code) == (200, 403)

    def recorded() -> object:
        rows = sql_scalar(
            database_url,
            "SELECT string_agg(status_code::text || ' ' || path, ',' ORDER BY status_code) FROM api_usage WHERE "
            "user_id = :u",
            u=user.id,
        )
        return rows if rows and str(rows).count(",") == 1 else None

    assert eventually(recorded) == "200 /api/v1/memories/x,403 /api/v1/auth/users"


def test_idle_upstream_connections_are_dropped_before_the_service_closes_them() -> None:
    """A connection the gateway reuses just as the service closes it for idleness is reset (the production-path test
    saw `ClientOSError` answered as 502): the gateway lets idle connections go before uvicorn does."""
    uvicorn_keep_alive = uvicorn.Config(app="services.api_gateway.main:create_app").timeout_keep_alive
    assert GatewaySettings.model_fields["upstream_keepalive_seconds"].default < uvicorn_keep_alive
    assert uvicorn_keep_alive > clients.KEEPALIVE_SECONDS  # and so do the services' calls to each other


def test_a_method_the_proxy_does_not_take_is_refused_with_the_methods_it_does(
    gateway: httpx.Client, user: RegisteredUser
) -> None:
    refused = gateway.request("TRACE", "/api/v1/auth/me", headers=user.headers)
    assert refused.status_code == 405 and refused.json()["error"]["code"] == "method_not_allowed"
    assert {"GET", "POST", "DELETE"} <= {m.strip() for m in refused.headers["allow"].split(",")}
    assert refused.headers["x-request-id"]  # answered by the router, through the same middleware
