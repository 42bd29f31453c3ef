"""The one outbound HTTP client every connector uses: SSRF-guarded, with timeouts, errors made actionable.

The guard is requests-hardened's IP filter: the host is resolved once, the resolved address is checked and
the connection is pinned to it (so DNS rebinding cannot swap it afterwards), and every redirect hop goes
through the same adapter again. On top of it we add an allow-list of networks (OUTBOUND_ALLOWED_NETWORKS)
so development and tests can reach local emulators.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress, get_ip_address
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from .errors import ConnectorError, ErrorCode

logger = logging.getLogger(__name__)

USER_AGENT = "zeotap-composable-destinations/0.1 (+connection-test)"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0
MAX_REDIRECTS = 5

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def refused_beyond_the_filter(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Addresses requests-hardened's filter lets through that we refuse: IPv4-compatible IPv6 (::/96, deprecated
    by RFC 4291) embeds an IPv4 address, so [::127.0.0.1] or [::169.254.169.254] must not count as public."""
    return ip.version == 6 and ip in IPV4_COMPATIBLE


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


@dataclass(frozen=True)
class OutboundPolicy:
    """Where connectors may connect to, and which vendor hosts are redirected to sandboxes or emulators."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    base_urls: Mapping[str, str] = field(default_factory=dict)
    guard_enabled: bool = True
    # A CA bundle to trust instead of the system's (a private CA in a sandbox, or a test CA).
    ca_bundle: str | None = None

    @classmethod
    def from_settings(cls, allowed_networks: Iterable[str], base_urls: Mapping[str, str]) -> OutboundPolicy:
        return cls(allowed_networks=parse_networks(allowed_networks), base_urls=dict(base_urls))

    def is_allowed_listed(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)

    def check_host(self, host: str, port: int) -> None:
        """Refuse a host that resolves to a non-public address; for clients that are not `requests` (boto3)."""
        if not self.guard_enabled:
            return
        try:
            ip, _port = get_ip_address(host.strip("[]"), port, allow_loopback=False)
        except InvalidIPAddress as exc:
            ip = exc.args[0]
        except socket.gaierror:
            raise ConnectorError(ErrorCode.DNS, f"The host {host} does not resolve.") from None
        else:
            if not refused_beyond_the_filter(ip):
                return
        if not self.is_allowed_listed(ip):
            raise blocked_address_error(host) from None


def blocked_address_error(host: str) -> ConnectorError:
    logger.warning("outbound call to %s refused: it resolves to a non-public address", host)
    return ConnectorError(
        ErrorCode.INVALID_CONFIG,
        f"{host} resolves to a private, loopback or otherwise internal address, which destinations may not use.",
        remediation="Use a public host name. Operators can allow a network with OUTBOUND_ALLOWED_NETWORKS.",
    )


class _GuardedAdapter(IPFilterAdapter):
    """requests-hardened's adapter, plus the allow-list: an allowed address is pinned just the same."""

    def __init__(self, *, is_https: bool, policy: OutboundPolicy):
        super().__init__(is_https_proto=is_https, allow_loopback=False)
        self._policy = policy

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        try:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
            pinned = ipaddress.ip_address(host_params["host"].strip("[]"))
            if not refused_beyond_the_filter(pinned):
                return host_params, pool_kwargs
            raise InvalidIPAddress(pinned)
        except InvalidIPAddress as exc:
            ip = exc.args[0]
            if not self._policy.is_allowed_listed(ip):
                raise
            host_params, pool_kwargs = HTTPAdapter.build_connection_pool_key_attributes(self, request, verify, cert)
            original_host = host_params["host"]
            if self._is_https_proto:
                pool_kwargs["assert_hostname"] = original_host
                pool_kwargs["server_hostname"] = original_host
            host_params["host"] = str(ip) if ip.version == 4 else f"[{ip}]"
            return host_params, pool_kwargs


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _transport_error(exc: requests.RequestException, host: str) -> ConnectorError:
    """Turn a requests exception into the step vocabulary without echoing URLs (they may carry tokens)."""
    chain = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, InvalidIPAddress):
        return blocked_address_error(host)
    if isinstance(exc, requests.exceptions.SSLError):
        return ConnectorError(ErrorCode.TLS, f"The TLS handshake with {host} failed: the certificate was not accepted.")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ConnectorError(ErrorCode.TIMEOUT, f"Connecting to {host} timed out.")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ConnectorError(ErrorCode.TIMEOUT, f"{host} accepted the connection but did not answer in time.")
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return ConnectorError(ErrorCode.VENDOR_ERROR, f"{host} redirected too many times.")
    if isinstance(
        exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema | requests.exceptions.InvalidSchema
    ):
        return ConnectorError(ErrorCode.INVALID_CONFIG, "The URL is not a valid http(s) URL.")
    if any(isinstance(c, socket.gaierror) for c in chain) or "resolve" in str(exc).lower():
        return ConnectorError(ErrorCode.DNS, f"The host {host} does not resolve.")
    if any(isinstance(c, ConnectionRefusedError) for c in chain) or "refused" in str(exc).lower():
        return ConnectorError(ErrorCode.CONNECTION_REFUSED, f"{host} refused the connection.")
    if any(isinstance(c, TimeoutError | socket.timeout) for c in chain):
        return ConnectorError(ErrorCode.TIMEOUT, f"{host} did not answer in time.")
    return ConnectorError(ErrorCode.CONNECTION_REFUSED, f"Could not connect to {host}: the connection failed.")


def error_for_status(
    response: requests.Response,
    vendor: str,
    *,
    vendor_message: str = "",
    vendor_code: str | None = None,
    code: ErrorCode | None = None,
    remediation: str = "",
) -> ConnectorError:
    """The generic mapping of an HTTP error status; connectors pass what they read from the vendor's body."""
    status = response.status_code
    if code is None:
        code = {
            401: ErrorCode.AUTH_INVALID,
            403: ErrorCode.INSUFFICIENT_PERMISSIONS,
            404: ErrorCode.NOT_FOUND,
            429: ErrorCode.RATE_LIMITED,
        }.get(status, ErrorCode.VENDOR_ERROR if status >= 500 else ErrorCode.INVALID_CONFIG)
    said = f": {vendor_message}" if vendor_message else ""
    if vendor_code and vendor_code not in vendor_message:
        said = f": {vendor_code}{' ' + vendor_message if vendor_message else ''}"
    retry_after = retry_after_seconds(response.headers.get("Retry-After")) if status == 429 else None
    message = f"{vendor} answered HTTP {status}{said}"
    if retry_after is not None:
        message += f" (retry after {retry_after:g}s)"
    return ConnectorError(
        code,
        message,
        remediation=remediation,
        http_status=status,
        vendor_code=vendor_code,
        retry_after=retry_after,
    )


class OutboundClient:
    """A guarded `requests` session; `timeout` is set per step by the connector runtime."""

    def __init__(self, policy: OutboundPolicy, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT):
        self.policy = policy
        self.connect_timeout = connect_timeout
        self.read_timeout = DEFAULT_READ_TIMEOUT
        self.session = self._build_session(policy)

    @staticmethod
    def _build_session(policy: OutboundPolicy) -> requests.Session:
        config = Config(
            ip_filter_enable=policy.guard_enabled,
            ip_filter_allow_loopback_ips=False,
            never_redirect=False,
            default_timeout=(DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT),
            user_agent_override=USER_AGENT,
        )
        session = HTTPSession(config)
        session.max_redirects = MAX_REDIRECTS
        session.trust_env = False  # no proxy or netrc from the environment decides where secrets go
        if policy.ca_bundle:
            session.verify = policy.ca_bundle
        if policy.guard_enabled:
            session.mount("http://", _GuardedAdapter(is_https=False, policy=policy))
            session.mount("https://", _GuardedAdapter(is_https=True, policy=policy))
        return session

    @property
    def timeout(self) -> tuple[float, float]:
        return (min(self.connect_timeout, self.read_timeout), self.read_timeout)

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectorError(ErrorCode.INVALID_CONFIG, "Only http and https URLs with a host can be called.")
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise _transport_error(exc, parts.hostname) from None

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self.session.close()


def rebase_url(url: str, base_url: str | None) -> str:
    """Point a fixed vendor URL at `base_url` (a sandbox or emulator), keeping its path and query."""
    if not base_url:
        return url
    base = urlsplit(base_url)
    parts = urlsplit(url)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))
