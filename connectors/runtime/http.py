"""The one outbound HTTP client every connector uses: SSRF-guarded, with timeouts, errors made actionable.

The guard is requests-hardened's IP filter: the host is resolved once, the resolved address is checked and
the connection is pinned to it (so DNS rebinding cannot swap it afterwards), and every redirect hop goes
through the same adapter again (we follow redirects ourselves). On top of it we add an allow-list of
networks (OUTBOUND_ALLOWED_NETWORKS) so development and tests can reach local emulators. Bodies are
capped, sockets have a total deadline, and the credentials each request carries are recorded so the
connector runtime can mask them in whatever the vendor answers.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import json
import logging
import re
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress, get_ip_address
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from .errors import MAX_RETRY_AFTER, ConnectorError, ErrorCode

logger = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = "zeotap-composable-destinations/0.1 (+connection-test)"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0
MAX_REDIRECTS = 5
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
BODY_CHUNK = 64 * 1024
MAX_CREDENTIAL_BODY = 64 * 1024  # request bodies larger than this are not searched for credentials

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
    # The most response-body bytes one step reads (all its answers together); more fails the step.
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    @classmethod
    def from_settings(
        cls,
        allowed_networks: Iterable[str],
        base_urls: Mapping[str, str],
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> OutboundPolicy:
        return cls(
            allowed_networks=parse_networks(allowed_networks),
            base_urls=dict(base_urls),
            max_response_bytes=max_response_bytes,
        )

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


class _TrackingConnection:
    """Registers each opened connection's socket with the client whose request opened it, so the client can
    shut it from another thread (a deadline passed, the test was abandoned).

    The socket itself is kept, not the connection: when an answer ends with the connection (`Connection:
    close`, or no length), http.client hands the socket to the response and clears `connection.sock`, and a
    body read from it would otherwise be out of reach.
    """

    def connect(self) -> None:
        super().connect()
        client = getattr(_current, "client", None)
        if client is not None:
            client._opened(self.sock)


class _TrackedHTTPConnection(_TrackingConnection, urllib3.connection.HTTPConnection):
    pass


class _TrackedHTTPSConnection(_TrackingConnection, urllib3.connection.HTTPSConnection):
    pass


class _TrackedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _TrackingAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class _GuardedAdapter(_TrackingAdapter, IPFilterAdapter):
    """requests-hardened's adapter, plus the allow-list: an allowed address is pinned just the same."""

    def __init__(self, *, is_https: bool, policy: OutboundPolicy):
        IPFilterAdapter.__init__(self, is_https_proto=is_https, allow_loopback=False)
        self._policy = policy

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        """requests-hardened resolves the host here; the lookup is waited for only as long as the step may."""
        client = getattr(_current, "client", None)
        if client is None:
            return self._pinned_pool_key(request, verify, cert)
        return client._within_deadline(lambda: self._pinned_pool_key(request, verify, cert))

    def _pinned_pool_key(self, request, verify, cert):
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
    """A Retry-After header (seconds or an HTTP date) in seconds, capped at MAX_RETRY_AFTER."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def _transport_error(exc: requests.RequestException, host: str) -> ConnectorError:
    """Turn a requests exception into the step vocabulary without echoing URLs (they may carry tokens)."""
    chain = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__ or (cause.args[0] if cause.args else None)
        if not isinstance(cause, BaseException):
            cause = None

    def caused_by(*types: type[BaseException]) -> bool:
        return any(isinstance(c, types) for c in chain)

    if caused_by(InvalidIPAddress):
        return blocked_address_error(host)
    if isinstance(exc, requests.exceptions.SSLError):
        return ConnectorError(ErrorCode.TLS, f"The TLS handshake with {host} failed: the certificate was not accepted.")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ConnectorError(ErrorCode.TIMEOUT, f"Connecting to {host} timed out.")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ConnectorError(ErrorCode.TIMEOUT, f"{host} accepted the connection but did not answer in time.")
    if isinstance(
        exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema | requests.exceptions.InvalidSchema
    ):
        return ConnectorError(ErrorCode.INVALID_CONFIG, "The URL is not a valid http(s) URL.")
    if caused_by(socket.gaierror) or "resolve" in str(exc).lower():
        return ConnectorError(ErrorCode.DNS, f"The host {host} does not resolve.")
    if caused_by(ConnectionRefusedError):
        return ConnectorError(ErrorCode.CONNECTION_REFUSED, f"{host} refused the connection.")
    if caused_by(TimeoutError, socket.timeout, urllib3.exceptions.TimeoutError):
        return ConnectorError(ErrorCode.TIMEOUT, f"{host} did not answer in time.")
    # The server was reached and spoke, but not valid HTTP: the vendor's fault, not a refused connection.
    if caused_by(http.client.RemoteDisconnected):
        return _protocol_fault(host, "closed the connection without answering")
    if caused_by(http.client.LineTooLong) or any("more than 100 headers" in str(c) for c in chain):
        return _protocol_fault(host, "answered with oversized or too many headers")
    if caused_by(ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        return _protocol_fault(host, "reset the connection")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError) or (
        caused_by(http.client.HTTPException, urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError)
    ):
        return _protocol_fault(host, "answered with something that is not valid HTTP")
    if "refused" in str(exc).lower():
        return ConnectorError(ErrorCode.CONNECTION_REFUSED, f"{host} refused the connection.")
    return ConnectorError(ErrorCode.CONNECTION_REFUSED, f"Could not connect to {host}: the connection failed.")


def _protocol_fault(host: str, what: str) -> ConnectorError:
    return ConnectorError(
        ErrorCode.VENDOR_ERROR,
        f"{host} {what}.",
        remediation="The host answered, but not with valid HTTP; check the URL points at the vendor's API, "
        "and retry later.",
    )


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
            408: ErrorCode.TIMEOUT,
            429: ErrorCode.RATE_LIMITED,
        }.get(status, ErrorCode.VENDOR_ERROR if status >= 500 else ErrorCode.INVALID_CONFIG)
    said = f": {vendor_message}" if vendor_message else ""
    if vendor_code and vendor_code not in vendor_message:
        said = f": {vendor_code}{' ' + vendor_message if vendor_message else ''}"
    retry_after = retry_after_seconds(response.headers.get("Retry-After")) if status in (429, 503) else None
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


# Header names whose values are credentials (matched case-insensitively as substrings), and body / query
# keys that carry one (OAuth token requests, API keys in forms).
_SECRET_HEADER = re.compile(r"auth|token|key|secret|signature|password|session|cookie|credential", re.I)
_SECRET_FIELD = re.compile(
    r"token|secret|password|passwd|assertion|api_?key|apikey|private_key|signature|credential|^code$|^code_verifier$",
    re.I,
)


def credentials_in(request: requests.PreparedRequest) -> set[str]:
    """Every credential a prepared request carries: auth-looking header values (and the token after the
    scheme, and both halves of a Basic pair), and secret-looking values in its query, form or JSON body."""
    found: set[str] = set()
    for name, value in request.headers.items():
        if not _SECRET_HEADER.search(name) or not isinstance(value, str):
            continue
        found.add(value)
        scheme, _, token = value.partition(" ")
        if token:
            found.add(token.strip())
        if scheme.lower() == "basic" and token:
            try:
                user, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            found |= {user, password}
    query = urlsplit(request.url or "").query
    found |= {v for k, v in parse_qsl(query) if _SECRET_FIELD.search(k)}
    body = request.body
    if isinstance(body, bytes | str) and len(body) > MAX_CREDENTIAL_BODY:
        body = None  # an upload, not a token request
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        content_type = (request.headers.get("Content-Type") or "").lower()
        if "json" in content_type or body[:1] in "{[":
            with contextlib.suppress(ValueError, RecursionError):
                found |= _secret_values(json.loads(body))
        else:
            found |= {v for k, v in parse_qsl(body) if _SECRET_FIELD.search(k)}
    return {value for value in found if value}


def _secret_values(data: Any, depth: int = 0) -> set[str]:
    found: set[str] = set()
    if depth > 8:
        return found
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and isinstance(key, str) and _SECRET_FIELD.search(key):
                found.add(value)
            elif isinstance(value, dict | list):
                found |= _secret_values(value, depth + 1)
    elif isinstance(data, list):
        for item in data[:100]:
            found |= _secret_values(item, depth + 1)
    return found


def _keep_body(response: requests.Response, body: bytes) -> None:
    """Hand a body we read (streamed, capped) to the Response, so .content / .json() / .text return it.

    requests has no public setter; these two attributes are what Response.content reads and fills
    (tests/connectors/test_http.py fails if that changes).
    """
    response._content = body
    response._content_consumed = True


_current = threading.local()


class OutboundClient:
    """A guarded `requests` session with the step's limits.

    Per step the runtime calls `start_step(deadline)`: every request then has that total deadline. The DNS
    lookup is waited for until then at most; TCP connect and the TLS handshake each get half of the time
    left (CPython bounds a whole handshake by the socket timeout); a slow drip of headers or body is cut when
    the deadline passes, by shutting the sockets. Response bodies are streamed with a byte budget of
    `policy.max_response_bytes` for the step, and `abort()` (from any thread) shuts everything. Redirects
    are followed by us, hop by hop through the guard, and never carry the caller's headers or auth to
    another origin. Every credential sent is recorded in `sent_credentials` for the runtime's redaction.
    """

    def __init__(self, policy: OutboundPolicy, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT):
        self.policy = policy
        self.connect_timeout = connect_timeout
        self.read_timeout = DEFAULT_READ_TIMEOUT
        self.deadline: float | None = None
        self.max_body_bytes = policy.max_response_bytes
        self.body_bytes = 0
        self.sent_credentials: set[str] = set()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._waiting: set[threading.Event] = set()
        self._lock = threading.Lock()
        self._expired = False
        self._aborted = False
        self.session = self._build_session(policy)

    @staticmethod
    def _build_session(policy: OutboundPolicy) -> requests.Session:
        config = Config(
            ip_filter_enable=policy.guard_enabled,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,  # OutboundClient follows redirects itself (see request)
            default_timeout=(DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT),
            user_agent_override=USER_AGENT,
        )
        session = HTTPSession(config)
        session.trust_env = False  # no proxy or netrc from the environment decides where secrets go
        if policy.ca_bundle:
            session.verify = policy.ca_bundle
        for scheme in ("http://", "https://"):
            if policy.guard_enabled:
                session.mount(scheme, _GuardedAdapter(is_https=scheme == "https://", policy=policy))
            else:
                session.mount(scheme, _TrackingAdapter())
        return session

    # --- limits -------------------------------------------------------------------------------

    def start_step(self, deadline: float | None) -> None:
        """A new step: its total deadline (monotonic) and a fresh body budget."""
        self.deadline = deadline
        self.body_bytes = 0
        self._expired = False

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) for the next request: the read timeout is cut to the time the step has left, and
        connecting gets half of that, once for TCP and once for the TLS handshake."""
        read = self.read_timeout
        if self.deadline is not None:
            read = max(0.01, min(read, self.deadline - time.monotonic()))
        return (min(self.connect_timeout, read / 2), read)

    def abort(self) -> None:
        """Stop every request of this client now (from any thread) and refuse new ones."""
        self._aborted = True
        self._stop_waiting()
        self.session.close()

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self._aborted or self._expired:  # opened while abort() or the deadline was shutting the others
            _shut(sock)

    def _stop_waiting(self) -> None:
        """Wake everything a request of this client waits on: shut its sockets, end its lookups' waits."""
        with self._lock:
            sockets, waiting = list(self._sockets), list(self._waiting)
        for sock in sockets:
            _shut(sock)
        for event in waiting:
            event.set()

    def _expire(self) -> None:
        self._expired = True
        self._stop_waiting()

    def _within_deadline(self, call: Callable[[], T]) -> T:
        """`call` (a DNS lookup: nothing can interrupt getaddrinfo) in a thread of its own, waited for until the
        step's deadline or an abort. A lookup given up on ends in its thread when the resolver gives up."""
        finished = threading.Event()
        outcome: list = []

        def run() -> None:
            try:
                outcome.append((True, call()))
            except BaseException as exc:  # handed to the caller below
                outcome.append((False, exc))
            finally:
                finished.set()

        with self._lock:
            self._waiting.add(finished)
        try:
            threading.Thread(target=run, name="outbound-dns", daemon=True).start()
            wait = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            if not self._aborted:
                finished.wait(wait)
        finally:
            with self._lock:
                self._waiting.discard(finished)
        if not outcome:
            raise requests.exceptions.ConnectTimeout("the DNS lookup did not answer in time")
        succeeded, value = outcome[0]
        if not succeeded:
            raise value
        return value

    def _out_of_time(self, host: str) -> ConnectorError:
        if self._aborted:
            return ConnectorError(ErrorCode.TIMEOUT, f"The call to {host} was stopped: the test ran out of time.")
        return ConnectorError(ErrorCode.TIMEOUT, f"{host} did not answer within the step's time limit.")

    # --- requests -----------------------------------------------------------------------------

    def request(self, method: str, url: str, *, allow_redirects: bool = True, **kwargs) -> requests.Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectorError(ErrorCode.INVALID_CONFIG, "Only http and https URLs with a host can be called.")
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send(method, url, follow=allow_redirects, **kwargs)
            if not (allow_redirects and response.is_redirect):
                return response
            target = urljoin(url, response.headers["Location"])
            response.close()
            target_parts = urlsplit(target)
            if target_parts.scheme not in ("http", "https") or not target_parts.hostname:
                raise ConnectorError(ErrorCode.VENDOR_ERROR, f"{parts.hostname} redirected to a non-http(s) URL.")
            if _origin(target_parts) != _origin(urlsplit(url)):
                # Only our defaults go to another origin: no configured header, no auth.
                kwargs = {k: v for k, v in kwargs.items() if k not in ("headers", "auth", "cookies")}
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method = "GET" if method != "HEAD" else method
                kwargs = {k: v for k, v in kwargs.items() if k not in ("data", "json", "files")}
            kwargs.pop("params", None)  # the Location is the whole URL
            url = target
        raise ConnectorError(ErrorCode.VENDOR_ERROR, f"{parts.hostname} redirected too many times.")

    def _send(self, method: str, url: str, *, follow: bool, **kwargs) -> requests.Response:
        host = urlsplit(url).hostname or ""
        if self._aborted or (self.deadline is not None and time.monotonic() >= self.deadline):
            raise self._out_of_time(host)
        kwargs.setdefault("timeout", self.timeout)
        timer = None
        if self.deadline is not None:
            timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), self._expire)
            timer.daemon = True
            timer.start()
        _current.client = self
        response = None
        try:
            response = self.session.request(method, url, stream=True, allow_redirects=False, **kwargs)
            self.sent_credentials |= credentials_in(response.request)
            if not (follow and response.is_redirect):
                self._read_body(response, host)
            if self._expired or self._aborted:  # a cut-short answer can look complete: it is not the vendor's
                response.close()
                raise self._out_of_time(host)
            return response
        except requests.RequestException as exc:
            if response is not None:
                response.close()
            if self._expired or self._aborted:
                raise self._out_of_time(host) from None
            raise _transport_error(exc, host) from None
        except ConnectorError:
            if response is not None:
                response.close()
            raise
        finally:
            _current.client = None
            if timer is not None:
                timer.cancel()

    def _read_body(self, response: requests.Response, host: str) -> None:
        chunks = []
        for chunk in response.iter_content(BODY_CHUNK):
            self.body_bytes += len(chunk)
            if self.body_bytes > self.max_body_bytes:
                raise ConnectorError(
                    ErrorCode.VENDOR_ERROR,
                    f"{host} answered with more than {self.max_body_bytes:,} bytes, the most one step reads.",
                    remediation="Check the URL points at the vendor's API; operators can raise "
                    "CONNECTOR_MAX_RESPONSE_BYTES.",
                    http_status=response.status_code,
                )
            chunks.append(chunk)
        _keep_body(response, b"".join(chunks))
        response.close()

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self.session.close()


def _shut(sock: socket.socket) -> None:
    """Wake any read or write blocked on `sock`; the thread doing it then closes it. socket.shutdown, not
    SSLSocket's, so the TLS state is left alone. A closed socket has no descriptor any more (fileno -1), so
    this never reaches a descriptor the system has given to another socket since."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _origin(parts) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def rebase_url(url: str, base_url: str | None) -> str:
    """Point a fixed vendor URL at `base_url` (a sandbox or emulator), keeping its path and query."""
    if not base_url:
        return url
    base = urlsplit(base_url)
    parts = urlsplit(url)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))
