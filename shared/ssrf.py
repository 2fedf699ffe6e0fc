"""Which addresses the services may call on a user's behalf (http_request, MCP servers, webhooks): public ones
only. Loopback, private, link-local (169.254.169.254 included), multicast and reserved addresses are refused, and
so is an IPv6 address that carries such an IPv4 address inside it (mapped, NAT64, 6to4, Teredo)."""

import asyncio
import ipaddress
import socket

METADATA_ADDRESSES = {
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
}
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: operators map any IPv4, private ones too


def embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address leads to: IPv4-mapped, NAT64 (well-known prefix), 6to4 and Teredo's client."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo:
        found.append(address.teredo[1])
    if address in NAT64_WELL_KNOWN:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address in METADATA_ADDRESSES or not address.is_global or address in NAT64_LOCAL_USE:
        return False
    return all(is_public(inner) for inner in embedded_ipv4(address))


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def refused(address: Address, allowed_private: frozenset[Address]) -> bool:
    """Not public, and not one of the private addresses the operator lets through."""
    return address not in allowed_private and not is_public(address)


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to, each to be checked (raises socket.gaierror when it does not resolve)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
