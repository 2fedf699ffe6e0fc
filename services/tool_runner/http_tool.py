"""http_request with SSRF protection: every hop's host is resolved and refused if any address is loopback,
private, link-local (169.254.169.254 included), multicast, reserved or otherwise not public, or is an IPv6 address
that carries such an IPv4 address inside it (mapped, NAT64, 6to4, Teredo); the connection then goes to the address
that was checked (no second DNS lookup to rebind), with a size cap and one deadline for the whole request. Proxy
settings from the environment are ignored: a proxy would make the checked address meaningless."""

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from shared.errors import BadGatewayError, BadRequestError, ForbiddenError
from shared.ssrf import embedded_ipv4, is_public, refused, resolve  # noqa: F401 (tests import the first two from here)

REDIRECT_STATUSES = {301, 302, 303, 307, 308}


class NetworkFailure(BadGatewayError):
    """The request could not be completed (refused, reset, TLS, protocol): a failed tool run, not a server error."""

    code = "network_error"


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpPolicy:
    allowed_hosts: tuple[str, ...]
    allowed_private: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]
    max_response_bytes: int
    max_redirects: int


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    if not allowed:
        return True
    host = host.lower().rstrip(".")
    return any(host == rule or (rule.startswith("*.") and host.endswith(rule[1:])) for rule in allowed)


async def resolve_public_address(host: str, port: int, policy: HttpPolicy) -> str:
    """The address to connect to, after checking every address the name resolves to."""
    try:
        addresses = await resolve(host, port)
    except socket.gaierror as exc:
        raise BadRequestError(f"Cannot resolve host {host!r}", code="dns_failure") from exc
    for address in addresses:
        if refused(address, policy.allowed_private):
            raise ForbiddenError(
                f"Requests to {host} ({address}) are blocked: not a public address",
                code="ssrf_blocked",
                details={"host": host, "address": str(address)},
            )
    return str(addresses[0])


async def http_request(
    *, method: str, url: str, headers: dict[str, str], body: str | None, timeout: float, policy: HttpPolicy
) -> dict[str, Any]:
    """One deadline for everything (DNS, connects, redirects, a body that trickles in): TimeoutError past it."""
    async with asyncio.timeout(timeout):
        try:
            return await _follow(method=method, url=url, headers=headers, body=body, timeout=timeout, policy=policy)
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise NetworkFailure(
                f"{type(exc).__name__}: {exc or 'the connection failed'}", details={"url": url}
            ) from exc


async def _follow(
    *, method: str, url: str, headers: dict[str, str], body: str | None, timeout: float, policy: HttpPolicy
) -> dict[str, Any]:
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(policy.max_redirects + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise BadRequestError(
                    "Only absolute http(s) URLs are allowed", code="invalid_url", details={"url": url}
                )
            if not _host_allowed(parts.hostname, policy.allowed_hosts):
                raise ForbiddenError(f"Host {parts.hostname} is not on the allowlist", code="host_not_allowed")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = await resolve_public_address(parts.hostname, port, policy)
            pinned_host = f"[{address}]" if ":" in address else address
            pinned = parts._replace(netloc=f"{pinned_host}:{port}").geturl()
            request_headers = {**headers, "Host": parts.netloc.rsplit("@", 1)[-1]}
            request = client.build_request(
                method, pinned, headers=request_headers, content=body, extensions={"sni_hostname": parts.hostname}
            )
            response = await client.send(request, stream=True)
            try:
                if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    if response.status_code == 303:
                        method, body = "GET", None
                    continue
                content, truncated = await _read_capped(response, policy.max_response_bytes)
            finally:
                await response.aclose()
            return {
                "status_code": response.status_code,
                "url": url,
                "headers": dict(response.headers),
                "body": content.decode(response.encoding or "utf-8", errors="replace"),
                "truncated": truncated,
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
            }
    raise BadRequestError(f"More than {policy.max_redirects} redirects", code="too_many_redirects")


async def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    kept = bytearray()
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) > cap:
            return bytes(kept[:cap]), True
    return bytes(kept), False
