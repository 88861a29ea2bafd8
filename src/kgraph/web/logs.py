"""Request ids and structured logs: one JSON object per line on stderr.

Every response carries ``X-Request-Id`` (a sane id the client sent, else one made
here), and the access log line of the request carries the same id, so a client's
report and the server's log meet. Ids are a per-process random prefix and a
counter: unique, and far cheaper than a UUID per request. The access log holds
no secrets: parameters that look like credentials have their values replaced,
and long values (SPARQL text) are cut.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import re
import sys
import threading
import time
from typing import IO, Any
from urllib.parse import unquote

#: A client-supplied request id is kept when it looks like one (no spaces, no
#: control characters, nothing that could forge a log line or a header).
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")
_PREFIX = os.urandom(4).hex()
_COUNTER = itertools.count(1)

#: Parameters whose values are never logged.
SECRET_PARAMS = frozenset({
    "token", "access_token", "api_key", "apikey", "key", "password", "passwd", "secret",
    "auth", "authorization", "session", "sig", "signature",
})
#: Any parameter name that may be a secret (even percent-encoded): the slow path checks.
_SECRET = re.compile(r"(?:^|&)[^=&]*(?:token|key|pass|secret|auth|session|sig|%)[^=&]*=", re.I)
#: Longest parameter value kept in a log line (queries are cut beyond).
MAX_LOGGED_VALUE = 200

#: Fields a log record may carry (as ``extra``) that the JSON formatter writes.
FIELDS = ("request_id", "method", "path", "status", "ms", "bytes", "error", "detail")


def request_id(given: str | None) -> str:
    """The client's id when it is sane, else a new one."""
    if given and _SANE_ID.fullmatch(given):
        return given
    return f"{_PREFIX}-{next(_COUNTER):x}"


def loggable_path(path: str, query_string: bytes) -> str:
    """``path?query`` with secret values masked and long values cut, for a log line."""
    if not query_string:
        return path
    raw = query_string.decode("latin-1")
    if len(raw) <= MAX_LOGGED_VALUE and _SECRET.search(raw) is None:
        return path + "?" + raw  # the common short case: nothing to mask or cut
    parts = []
    for item in raw.split("&"):
        name, eq, value = item.partition("=")
        if unquote(name).strip().lower() in SECRET_PARAMS:
            value = "***"
        elif len(value) > MAX_LOGGED_VALUE:
            value = value[:MAX_LOGGED_VALUE] + f"...({len(value)}B)"
        parts.append(name + eq + value if eq else name)
    return path + "?" + "&".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the request fields.

    Cheap, as it runs for every request: the time stamp is formatted once a second and
    one encoder is reused.
    """

    _encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        out = self.head(record.created, record.levelname, record.name, record.getMessage())
        fields = record.__dict__
        for name in FIELDS:
            value = fields.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            out["trace"] = self.formatException(record.exc_info)
        elif record.exc_text:  # formatted already, by BackgroundHandler.emit
            out["exception"] = getattr(record, "exception", None)
            out["trace"] = record.exc_text
        return self._encode(out)

    def head(self, created: float, level: str, logger: str, msg: str) -> dict[str, object]:
        """The first fields of a line: time (UTC, milliseconds), level, logger, message."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return {"time": f"{self._stamp}.{int((created - second) * 1000):03d}Z",
                "level": level.lower(), "logger": logger, "msg": msg}

    def access_line(self, created: float, logger: str, msg: str,
                    fields: dict[str, object]) -> str:
        """The line :meth:`format` would write for an INFO record with these fields."""
        out = self.head(created, "INFO", logger, msg)
        for name, value in fields.items():
            if value is not None:
                out[name] = value
        return self._encode(out)


_PLAIN = (str, int, float, bool)
#: Lines queued for the writer thread beyond which a logging thread waits for it, as it
#: would wait on a slow stream itself (memory stays bounded).
MAX_BACKLOG = 10_000
#: How long the writer thread waits for more lines after the first of a batch (seconds),
#: and the pending lines that end the wait sooner.
BATCH_S = 0.05
BATCH_LINES = 256


class BackgroundHandler(logging.Handler):
    """Hands records to one thread that formats and writes them, several at a time.

    The request threads only queue a record (no handler lock, no formatting, no write
    per line); what a record refers to (arguments, an exception and its frames) is
    turned into text on the thread that logged it, so nothing of a request outlives it
    on another thread. Lines go out in order, in batches: the writer thread wakes for the
    first line after a pause and then waits ``BATCH_S`` for more (or until ``BATCH_LINES``
    are pending), so a busy server pays one thread wake-up and one write per batch, not
    per request; :meth:`flush` (also called at exit by ``logging.shutdown``) cuts the
    wait short and waits until every line queued before it is written.
    """

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream
        #: Records, and the events of :meth:`flush` calls (set once what came before is out).
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        #: Set to end the writer's wait for more lines at once (a flush, a full batch).
        self._wake = threading.Event()
        self._start()
        # a forked child has no writer thread: it gets one of its own
        os.register_at_fork(after_in_child=self._start)

    def _start(self) -> None:
        self._queue = queue.SimpleQueue()
        self._wake = threading.Event()
        threading.Thread(target=self._run, args=(self._queue, self._wake),
                         name="kgraph-log-writer",
                         daemon=True).start()

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        """:meth:`logging.Handler.handle` without its lock: the queue is thread-safe."""
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg = record.getMessage()
            record.args = None
            if record.exc_info:
                kind = record.exc_info[0]
                record.exception = kind.__name__ if kind else None  # type: ignore[attr-defined]
                record.exc_text = (self.formatter or logging.Formatter()).formatException(
                    record.exc_info)
                record.exc_info = None
            fields = record.__dict__
            for name in FIELDS:
                value = fields.get(name)
                if value is not None and not isinstance(value, _PLAIN):
                    fields[name] = str(value)
        except Exception:  # noqa: BLE001 - logging never breaks a request
            self.handleError(record)
            return
        self._put(record)

    def _put(self, item: Any) -> None:
        queued = self._queue
        queued.put(item)
        pending = queued.qsize()
        if pending >= BATCH_LINES:
            if pending > MAX_BACKLOG:  # the stream is slow (a pipe nobody reads): wait
                self.flush()
            elif pending == BATCH_LINES:
                self._wake.set()

    def access(self, logger: str, msg: str, fields: dict[str, object]) -> None:
        """Queue an access line without making a record (see :func:`access_log`)."""
        self._put((time.time(), logger, msg, fields))

    def _run(self, source: queue.SimpleQueue[Any], wake: threading.Event) -> None:
        get, get_nowait = source.get, source.get_nowait
        while True:
            batch = [get()]
            if not isinstance(batch[0], threading.Event):  # a flush goes out at once
                wake.wait(BATCH_S)  # let more lines come: one wake-up and write for all
            wake.clear()
            while True:
                try:
                    batch.append(get_nowait())
                except queue.Empty:
                    break
            lines = []
            flushed = []
            for record in batch:
                if isinstance(record, threading.Event):
                    flushed.append(record)
                    continue
                try:
                    if isinstance(record, tuple):
                        formatter = self.formatter
                        if isinstance(formatter, JsonFormatter):
                            lines.append(formatter.access_line(*record))
                        continue
                    lines.append(self.format(record))
                except Exception:  # noqa: BLE001
                    self.handleError(record)
            try:
                if lines:
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
            except Exception:  # noqa: BLE001 - e.g. stderr closed at exit
                pass
            for event in flushed:
                event.set()

    def flush(self) -> None:
        """Wait (at most a few seconds) until every line queued so far has been written."""
        done = threading.Event()
        self._queue.put(done)
        self._wake.set()
        done.wait(5)


def configure_logging(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send every log record to ``stream`` (stderr) as JSON lines; call once at start.

    Also switches off what the records would carry and no line shows (caller frame,
    thread, process names): the logging HOWTO's optimisations, worth a few microseconds
    on every request.
    """
    logging._srcfile = None  # type: ignore[attr-defined]  # noqa: SLF001 - documented knob
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BackgroundHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


class RequestInfo:
    """What the access log line of one request needs, kept in its WSGI environ."""

    __slots__ = ("started", "rid", "bytes", "error")

    def __init__(self, rid: str) -> None:
        self.started = time.perf_counter()
        self.rid = rid
        #: Bytes of a streamed body, counted as it is sent.
        self.bytes: int | None = None
        #: Class name of the exception the request ended with, if any.
        self.error: str | None = None


ENVIRON_KEY = "kgraph.request"

_access = logging.getLogger("kgraph.http")


def access_log(state: RequestInfo, method: str, path: str, status: int,
               length: int | None) -> None:
    """The one access log line of a request (``length``: bytes sent, when known up front)."""
    if not _access.isEnabledFor(logging.INFO):
        return
    ms = round((time.perf_counter() - state.started) * 1000, 2)
    fields = {"request_id": state.rid, "method": method, "path": path, "status": status,
              "ms": ms, "bytes": length if length is not None else state.bytes,
              "error": state.error}
    direct = _direct_handler()
    if direct is not None:
        direct.access(_access.name, f"{method} {path} {status} {ms:.1f}ms", fields)
    else:
        _access.info("%s %s %s %.1fms", method, path, status, ms, extra=fields)


def _direct_handler() -> BackgroundHandler | None:
    """The one handler an access record would reach, when it is a plain
    :class:`BackgroundHandler` with the JSON formatter and nothing (another handler, a
    filter, a test's capture) would see the record on the way: the line is then queued
    as it is, without the cost of a log record."""
    logger: logging.Logger | None = _access
    found = None
    while logger is not None:
        if logger.filters or logger.disabled:
            return None
        for handler in logger.handlers:
            if found is not None or not isinstance(handler, BackgroundHandler) \
                    or handler.filters or handler.level > logging.INFO \
                    or not isinstance(handler.formatter, JsonFormatter):
                return None
            found = handler
        if not logger.propagate:
            break
        logger = logger.parent
    return found


def info(environ: dict[str, object]) -> RequestInfo:
    """The request's :class:`RequestInfo` (made on first use)."""
    found = environ.get(ENVIRON_KEY)
    if found is None:
        found = environ[ENVIRON_KEY] = RequestInfo(request_id(environ.get("HTTP_X_REQUEST_ID")))  # type: ignore[arg-type]
    return found  # type: ignore[return-value]
