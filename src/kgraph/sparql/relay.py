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

The relay listens on loopback only, on a port of its own (not the WSGI server's
threads, so a busy server cannot deadlock on its own federated calls), starts
on first use and forwards only to targets registered by ``prepare_services``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from kgraph.outbound import retry_after_seconds, user_agent

log = logging.getLogger("kgraph.relay")

#: Request headers passed on to the remote endpoint.
_FORWARDED = ("Accept", "Content-Type")
#: Waiting longer than this for a ``Retry-After`` gives up instead.
MAX_RETRY_WAIT_S = 10.0
#: How many times a 429/503 answer is retried.
MAX_RETRIES = 2


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
            "federated SPARQL queries", f"python-requests/{requests.__version__}")
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._targets: dict[str, str] = {}  # path id -> remote URL
        self._ids: dict[str, str] = {}  # remote URL -> path id
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- registration ----------------------------------------------------------------------
    def url_for(self, target: str) -> str:
        """The loopback URL that forwards to ``target`` (starting the relay if needed)."""
        with self._lock:
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
            status, content_type, content = self.forward(handler.command, url, headers, body)
        except RelayFailure as exc:
            log.warning("SERVICE <%s>: %s", target, exc.reason)
            return _reply(handler, exc.status, f"{exc.reason}\n".encode(), "text/plain")
        _reply(handler, status, content, content_type)

    def forward(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        """Make the call within the deadline; return (status, content type, body)."""
        deadline = time.monotonic() + self.timeout_s
        for attempt in range(MAX_RETRIES + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                response = requests.request(
                    method, url, headers=headers, data=body or None, stream=True,
                    timeout=(min(10.0, remaining), remaining), allow_redirects=True,
                )
            except requests.Timeout as exc:
                raise RelayFailure(504, f"no answer from {url} within "
                                        f"{self.timeout_s:g} s") from exc
            except requests.RequestException as exc:
                raise RelayFailure(502, f"could not reach {url}: {_short_reason(exc)}") from exc
            with response:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if (response.status_code in (429, 503) and attempt < MAX_RETRIES
                        and wait is not None and wait <= MAX_RETRY_WAIT_S
                        and time.monotonic() + wait < deadline):
                    time.sleep(wait)
                    continue
                content = self._read(response, url, deadline)
                return (response.status_code,
                        response.headers.get("Content-Type", "application/octet-stream"),
                        content)
        raise RelayFailure(504, f"no answer from {url} within {self.timeout_s:g} s")

    def _read(self, response: requests.Response, url: str, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > self.max_bytes:
                    raise RelayFailure(502, f"the answer from {url} exceeds "
                                            f"{self.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise RelayFailure(504, f"no complete answer from {url} within "
                                            f"{self.timeout_s:g} s")
                chunks.append(chunk)
        except requests.RequestException as exc:
            if isinstance(exc, requests.Timeout) or "timed out" in str(exc):
                raise RelayFailure(504, f"no complete answer from {url} within "
                                        f"{self.timeout_s:g} s") from exc
            raise RelayFailure(502, f"the answer from {url} broke off: "
                                    f"{_short_reason(exc)}") from exc
        return b"".join(chunks)


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):  # the engine gave up first
        pass
