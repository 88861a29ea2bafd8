"""A loopback relay for the engine's outbound ``SERVICE`` calls.

pyoxigraph makes ``SERVICE`` calls with its own HTTP client, which sends
``User-Agent: Oxigraph/<version>`` and has no timeout that Python can set. Both
matter on the open web: Wikimedia asks every client for a descriptive
User-Agent with a contact, and a remote endpoint that never answers would hold
the query (and a server thread) forever.

So :func:`kgraph.sparql.federation.prepare_services` points every remote
``SERVICE`` at ``http://127.0.0.1:<port>/service/<n>`` on this relay, and the
relay makes the real call with ``requests``: kgraph's User-Agent, a deadline
(connect and total), ``Retry-After`` honoured on 429/503 while the deadline
allows, and a bound on the answer's size. Upstream answers pass through
unchanged; failures come back as 502 (unreachable, too large) or 504 (no answer
in time) with a one-line reason, which the engine puts in its error message
(or ignores under ``SERVICE SILENT``).

The relay is also where outbound requests are policed (no server-side request
forgery): only ``http``/``https``; the host is resolved once, every address it
resolves to must be public (not loopback, private, link-local, multicast,
unspecified or reserved, also when written as ``127.1``, ``0x7f000001`` or an
IPv4-mapped IPv6 address), and the connection goes to the address that was
checked, so a second DNS answer cannot rebind it. Redirects are followed here,
at most :data:`MAX_REDIRECTS`, each hop checked the same way. Targets the
operator configured (``KGRAPH_WIKIDATA=<url>``, ``Settings.service_map``,
``KGRAPH_SERVICE_ALLOWLIST``) are called as configured, even on loopback, but
where they redirect to is checked like any other address.

The relay listens on loopback only, on a port of its own (not the WSGI server's
threads, so a busy server cannot deadlock on its own federated calls), starts
on first use and forwards only to targets registered by ``prepare_services``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urljoin, urlsplit

import urllib3

from kgraph.outbound import retry_after_seconds, user_agent

log = logging.getLogger("kgraph.relay")

#: Request headers passed on to the remote endpoint.
_FORWARDED = ("Accept", "Content-Type")
#: Waiting longer than this for a ``Retry-After`` gives up instead.
MAX_RETRY_WAIT_S = 10.0
#: How many times a 429/503 answer is retried.
MAX_RETRIES = 2
#: Redirect hops followed (each one checked like the first request).
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


class RelayFailure(Exception):
    """The remote endpoint could not give an answer (status for the engine, reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_RELAYED_ERROR = re.compile(r"Error (\d{3})\b[^\n]*? returned by http://127\.0\.0\.1:\d+/service/(\d+)")
_RELAY_URL = re.compile(r"http://127\.0\.0\.1:\d+/service/(\d+)")


def _short_reason(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, without their wrappers."""
    reason: object = exc
    while True:
        inner = getattr(reason, "reason", None) or (
            reason.args[0] if isinstance(reason, BaseException) and reason.args
            and isinstance(reason.args[0], BaseException) else None)
        if inner is None or inner is reason:
            break
        reason = inner
    text = str(reason)
    return text.rsplit(": ", 1)[-1] if "[Errno" in text else text


class ServiceRelay:
    """Forwards the engine's SERVICE requests to registered remote endpoints."""

    def __init__(self, timeout_s: float, max_bytes: int, agent: str | None = None) -> None:
        self.user_agent = agent or user_agent(
            "federated SPARQL queries", f"urllib3/{urllib3.__version__}")
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._targets: dict[str, str] = {}  # path id -> remote URL
        self._ids: dict[str, str] = {}  # remote URL -> path id
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        #: Targets the operator configured: their first hop is not address-checked.
        self.trusted: frozenset[str] = frozenset()

    # -- registration ----------------------------------------------------------------------
    def url_for(self, target: str, *, trusted: bool = False) -> str:
        """The loopback URL that forwards to ``target`` (starting the relay if needed).

        ``trusted``: the operator configured ``target`` itself (a local stand-in), so
        its first hop is not address-checked; where it redirects to still is.
        """
        with self._lock:
            if trusted:
                self.trusted = self.trusted | {target}
            if self._server is None:
                self._start()
            ident = self._ids.get(target)
            if ident is None:
                ident = str(len(self._ids) + 1)
                self._ids[target] = ident
                self._targets[ident] = target
            assert self._server is not None
            return f"http://127.0.0.1:{self._server.server_address[1]}/service/{ident}"

    def _start(self) -> None:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                log.debug(format, *args)

            def do_GET(self) -> None:  # noqa: N802
                relay._handle(self, b"")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                relay._handle(self, self.rfile.read(length))

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="kgraph-service-relay",
                         daemon=True).start()
        self._server = server

    def remote_error(self, message: str) -> tuple[int, str] | None:
        """HTTP status (502 or 504) and message for an engine error from a relayed call.

        ``None`` when ``message`` is not about a relayed call. The engine names
        the loopback URL; the message names the real endpoint instead.
        """
        match = _RELAYED_ERROR.search(message)
        if match is None or match.group(2) not in self._targets:
            return None
        status = 504 if match.group(1) == "504" else 502
        message = _RELAY_URL.sub(lambda m: self._targets.get(m.group(1), m.group(0)), message)
        return status, f"SERVICE call failed: {message.strip()}"

    def close(self) -> None:
        """Stop listening (pending calls finish on their own threads)."""
        with self._lock:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None

    # -- forwarding ------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        path, _, query_string = handler.path.partition("?")
        target = self._targets.get(path.removeprefix("/service/"))
        if target is None:
            return _reply(handler, 404, b"no such relayed service\n", "text/plain")
        headers = {k: handler.headers[k] for k in _FORWARDED if handler.headers.get(k)}
        headers["User-Agent"] = self.user_agent
        url = f"{target}{'&' if '?' in target else '?'}{query_string}" if query_string else target
        try:
            status, content_type, content = self.forward(
                handler.command, url, headers, body, trusted=target in self.trusted)
        except RelayFailure as exc:
            log.warning("SERVICE <%s>: %s", target, exc.reason)
            return _reply(handler, exc.status, f"{exc.reason}\n".encode(), "text/plain")
        _reply(handler, status, content, content_type)

    def forward(
        self, method: str, url: str, headers: dict[str, str], body: bytes,
        *, trusted: bool = False,
    ) -> tuple[int, str, bytes]:
        """Make the call within the deadline, following redirects that pass the
        address check; return (status, content type, body)."""
        deadline = time.monotonic() + self.timeout_s
        for hop in range(MAX_REDIRECTS + 1):
            address = checked_address(url, trusted=trusted and hop == 0)
            status, content_type, content, location = self._call(
                method, url, address, headers, body, deadline)
            if location is None:
                return status, content_type, content
            url = urljoin(url, location)
            if status in (301, 302, 303) and method != "GET":
                method, body = "GET", b""
        raise RelayFailure(502, f"more than {MAX_REDIRECTS} redirects")

    def _call(
        self, method: str, url: str, address: str, headers: dict[str, str], body: bytes,
        deadline: float,
    ) -> tuple[int, str, bytes, str | None]:
        """One hop, with 429/503 retries; the Location of a redirect instead of its body."""
        for attempt in range(MAX_RETRIES + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                response = _open(method, url, address, headers, body,
                                 urllib3.Timeout(connect=min(10.0, remaining), read=remaining))
            except urllib3.exceptions.NewConnectionError as exc:  # (a ConnectTimeoutError)
                raise RelayFailure(502, f"could not reach {url}: {_short_reason(exc)}") from exc
            except urllib3.exceptions.TimeoutError as exc:
                raise RelayFailure(504, f"no answer from {url} within "
                                        f"{self.timeout_s:g} s") from exc
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                raise RelayFailure(502, f"could not reach {url}: {_short_reason(exc)}") from exc
            try:
                location = response.headers.get("Location")
                if response.status in _REDIRECTS and location:
                    return response.status, "", b"", location
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if (response.status in (429, 503) and attempt < MAX_RETRIES
                        and wait is not None and wait <= MAX_RETRY_WAIT_S
                        and time.monotonic() + wait < deadline):
                    time.sleep(wait)
                    continue
                content = self._read(response, url, deadline)
                return (response.status,
                        response.headers.get("Content-Type", "application/octet-stream"),
                        content, None)
            finally:
                response.release_conn()
        raise RelayFailure(504, f"no answer from {url} within {self.timeout_s:g} s")

    def _read(self, response: urllib3.BaseHTTPResponse, url: str, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.stream(64 * 1024):
                size += len(chunk)
                if size > self.max_bytes:
                    raise RelayFailure(502, f"the answer from {url} exceeds "
                                            f"{self.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise RelayFailure(504, f"no complete answer from {url} within "
                                            f"{self.timeout_s:g} s")
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError) or (
                    "timed out" in str(exc)):
                raise RelayFailure(504, f"no complete answer from {url} within "
                                        f"{self.timeout_s:g} s") from exc
            raise RelayFailure(502, f"the answer from {url} broke off: "
                                    f"{_short_reason(exc)}") from exc
        return b"".join(chunks)


# -- where a request may go ----------------------------------------------------------------
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def forbidden_address(address: str) -> bool:
    """Whether an address is not a public unicast one (loopback, private, link-local,
    multicast, unspecified, reserved, shared, or IPv4 embedded in IPv6 that is)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and forbidden_address(str(embedded)):
            return True
    return (not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified
            or ip.is_loopback or ip.is_link_local or ip.is_private)


def checked_address(url: str, *, trusted: bool = False) -> str:
    """The address to connect to for ``url``: resolved once, and (unless ``trusted``)
    refused with 502 when any address the name resolves to is not public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RelayFailure(502, f"refused to fetch {url}: only http and https are allowed")
    host = parts.hostname
    if not host:
        raise RelayFailure(502, f"refused to fetch {url}: no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError) as exc:
        raise RelayFailure(502, f"could not resolve {host}: {exc}") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise RelayFailure(502, f"could not resolve {host}")
    if not trusted:
        for address in addresses:
            if forbidden_address(address):
                raise RelayFailure(502, f"refused to fetch {url}: {host} is not a public "
                                        "address")
    return addresses[0]


def _open(method: str, url: str, address: str, headers: dict[str, str], body: bytes,
          timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
    """Send one request to ``address`` (Host header and TLS name from the URL)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    netloc = parts.netloc.rpartition("@")[2]
    pool: urllib3.HTTPConnectionPool
    if parts.scheme == "https":
        import certifi

        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False, cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(), assert_hostname=host, server_hostname=host)
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    return pool.urlopen(method, target, body=body or None, headers={**headers, "Host": netloc},
                        redirect=False, retries=False, preload_content=False,
                        assert_same_host=False, release_conn=False)


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):  # the engine gave up first
        pass
