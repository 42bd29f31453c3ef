"""Where a URL really goes: its host as the library that connects (requests, through urllib3) reads it.

Python's `urlsplit` and urllib3 disagree on some spellings. `https://evil.example\\.my.salesforce.com` is host
`evil.example\\.my.salesforce.com` to urlsplit, which a suffix check accepts, and `evil.example` to urllib3,
which the request then reaches; `https://evil.example\\@login.salesforce.com` is even host
`login.salesforce.com` to urlsplit. A check that reads one parser while the request follows the other is a
bypass, so a URL that decides where credentials go is accepted only when it is plain: http(s), a host of
ASCII letters, digits, hyphens and dots (an internationalised name in its xn-- form) or an IP literal, no
user-info, backslash, percent escape, whitespace or control character, no trailing dot, and urllib3 and
urlsplit agree on its host and port. Allowed hosts are then compared exactly, never by pattern.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
UNSAFE_IN_AUTHORITY = {"\\": "a backslash", "@": "user-info (user@)", "%": "a percent escape"}


class HostRefused(ValueError):
    """The URL is not a plain http(s) URL whose host every parser reads the same; the message says why."""


@dataclass(frozen=True)
class UrlHost:
    scheme: str
    host: str  # lower case; an IPv6 literal without its brackets
    port: int | None

    def within(self, allowed: Iterable[str]) -> bool:
        """Whether the host is one of `allowed`: an exact host, or `.suffix` for any host strictly under it."""
        return any(
            self.host.endswith(entry) and len(self.host) > len(entry) if entry.startswith(".") else self.host == entry
            for entry in allowed
        )


def url_host(url: str, *, schemes: tuple[str, ...] = ("https",)) -> UrlHost:
    """The scheme, host and port a request to `url` reaches; HostRefused when the URL is not plain."""
    if not isinstance(url, str) or not url:
        raise HostRefused("Must be a URL such as https://host.example.com.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise HostRefused("Must not contain spaces, tabs, line breaks or control characters.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes:
        raise HostRefused(f"Must start with {' or '.join(f'{s}://' for s in schemes)}.")
    if not url[len(parts.scheme) + 1 :].startswith("//"):
        raise HostRefused(f"Must be {parts.scheme.lower()}://host…, with two slashes.")
    for char, what in UNSAFE_IN_AUTHORITY.items():
        if char in parts.netloc:
            raise HostRefused(f"The host part must not contain {what}: write {parts.scheme.lower()}://host/… only.")
    try:
        connected = parse_url(url)
        port = parts.port
    except (LocationParseError, ValueError):
        raise HostRefused("Must be a URL with a valid host and port, such as https://host.example.com.") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise HostRefused("Must name a host, such as https://host.example.com.")
    if host.endswith("."):
        raise HostRefused("The host must not end with a dot.")
    if not _is_ip(host) and not all(LABEL.match(label) for label in host.split(".")):
        raise HostRefused(
            "The host must be letters, digits, hyphens and dots (an internationalised name in its xn-- form)."
        )
    if (connected.host or "").lower().strip("[]") != host or connected.port != port:
        raise HostRefused("The host is ambiguous: write it plainly, as https://host.example.com.")
    return UrlHost(parts.scheme.lower(), host, port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def credential_host_errors(schema: dict, config: dict) -> list[tuple[str, str]]:
    """[(field, message)] for each credential-host field (`x-credential-host`) holding a URL that is not plain.

    A field naming a bare host or account (Snowflake's) is held to host characters by its own pattern.
    """
    errors = []
    for name, spec in schema.get("properties", {}).items():
        value = config.get(name)
        is_url = isinstance(value, str) and (spec.get("format") == "uri" or "://" in value)
        if spec.get("x-credential-host") and is_url:
            try:
                url_host(value, schemes=("http", "https"))
            except HostRefused as exc:
                errors.append((name, str(exc)))
    return errors
