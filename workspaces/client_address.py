"""Who is calling: the one rule for a request's client address, used by every limit, lockout and log.

The rate limits per address (the throttles' `get_ident`), the admin's django-axes lockout and uvicorn's access
log all take the address from `client_address`, so they always agree. With no `TRUSTED_PROXIES` (the default)
it is the peer, the address that opened the connection, and `X-Forwarded-For` is ignored: anyone can write it.
When the peer is a trusted proxy, the header's hops are read from the right (each proxy appends the address it
saw) until one is not a trusted proxy: that is the client. A client-written hop further left is never reached.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(entries: list[str], *, name: str = "TRUSTED_PROXIES") -> tuple[Network, ...]:
    """Addresses or CIDR networks; a ValueError names the entry that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{name} must list IP addresses or CIDR networks, e.g. 10.0.0.0/8,127.0.0.1; {entry!r} is neither."
            ) from None
    return tuple(networks)


@functools.cache
def _trusted(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_trusted_proxies(list(entries))


def _address(text: str) -> Address | None:
    """An address as a proxy writes it: bare, `v4:port` or `[v6]:port`; None when it is none of these."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address.ipv4_mapped or address if address.version == 6 else address


def client_address(request) -> str:
    """The client's address for `request` (a Django or DRF request) under TRUSTED_PROXIES."""
    peer = request.META.get("REMOTE_ADDR", "")
    trusted = _trusted(tuple(settings.TRUSTED_PROXIES))
    current = _address(peer)
    if not trusted or current is None:
        return peer
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    while hops and any(current in network for network in trusted):
        hop = _address(hops.pop())
        if hop is None:  # no proxy of ours writes this: keep the last address a trusted proxy vouched for
            break
        current = hop
    return str(current)
