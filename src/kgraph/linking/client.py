"""A polite Wikidata SPARQL client: User-Agent, retries with backoff, on-disk cache.

Wikimedia asks every client of the query service for a descriptive
User-Agent with contact information, and to back off when told to (HTTP 429
with ``Retry-After``). Answers are cached on disk so that re-running
``kgraph link`` costs the service nothing and gives the same result.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import SPARQLWrapper
from SPARQLWrapper import JSON, POST, TURTLE
from SPARQLWrapper import SPARQLWrapper as _SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import SPARQLWrapperException

from kgraph.namespaces import WIKIDATA_ENDPOINT
from kgraph.outbound import retry_after_seconds, user_agent


def default_user_agent(contact: str | None = None) -> str:
    """``kgraph/<version> (<contact>; ...) SPARQLWrapper/<v> Python/<v>``, per Wikimedia's policy."""
    return user_agent("Wikidata entity linking", f"SPARQLWrapper/{SPARQLWrapper.__version__}",
                      contact)


class WikidataError(RuntimeError):
    """The endpoint could not answer; the message says which endpoint and why."""


class WikidataUnavailableError(WikidataError):
    """The endpoint is down, timed out, or kept refusing after every retry."""


@dataclass
class WikidataClient:
    """SELECT and CONSTRUCT against one SPARQL endpoint, with retries and a cache."""

    endpoint: str = WIKIDATA_ENDPOINT
    user_agent: str = field(default_factory=default_user_agent)
    cache_dir: Path | None = None
    timeout: float = 30.0
    max_retries: int = 4
    backoff: float = 1.0
    #: Never wait longer than this for one retry, whatever Retry-After says.
    max_wait: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    #: Requests actually sent (cache hits excluded): for tests and the CLI summary.
    requests_sent: int = 0

    # -- public -----------------------------------------------------------------
    def select(self, query: str) -> list[dict[str, dict[str, str]]]:
        """Run a SELECT and return its bindings (SPARQL 1.1 JSON results shape)."""
        body = self._fetch(query, "json")
        return json.loads(body)["results"]["bindings"]

    def construct(self, query: str) -> bytes:
        """Run a CONSTRUCT and return Turtle bytes."""
        return self._fetch(query, "turtle").encode("utf-8")

    # -- internals ----------------------------------------------------------------
    def _cache_path(self, query: str, fmt: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(f"{self.endpoint}\n{fmt}\n{query}".encode()).hexdigest()
        return Path(self.cache_dir) / f"{key}.json"

    def _fetch(self, query: str, fmt: str) -> str:
        path = self._cache_path(query, fmt)
        if path is not None and path.exists():
            return json.loads(path.read_text("utf-8"))["body"]
        body = self._fetch_with_retries(query, fmt)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            record = {
                "endpoint": self.endpoint,
                "format": fmt,
                "retrieved": datetime.now(UTC).isoformat(timespec="seconds"),
                "query": query,
                "body": body,
            }
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, ensure_ascii=False), "utf-8")
            tmp.replace(path)
        return body

    def _wrapper(self, query: str, fmt: str) -> _SPARQLWrapper:
        sw = _SPARQLWrapper(self.endpoint, agent=self.user_agent)
        sw.setMethod(POST)
        sw.setTimeout(max(1, round(self.timeout)))
        sw.setReturnFormat(JSON if fmt == "json" else TURTLE)
        sw.setQuery(query)
        return sw

    def _fetch_with_retries(self, query: str, fmt: str) -> str:
        attempt = 0
        while True:
            attempt += 1
            self.requests_sent += 1
            try:
                result = self._wrapper(query, fmt).query()
                return result.response.read().decode("utf-8")
            except urllib.error.HTTPError as exc:
                status = exc.code
                retry_after = retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None)
                reason = f"HTTP {status} {exc.reason}"
                retryable = status == 429 or status >= 500
            except SPARQLWrapperException as exc:
                # SPARQLWrapper maps 400/404/401/414/500 to its own exceptions and drops headers.
                msg = str(exc).splitlines()[0]
                retryable = type(exc).__name__ == "EndPointInternalError"
                retry_after = None
                reason = msg
            except TimeoutError as exc:
                retryable, retry_after, reason = (
                    True,
                    None,
                    f"timed out after {self.timeout}s ({exc})",
                )
            except (ConnectionError, http.client.HTTPException) as exc:
                retryable, retry_after, reason = True, None, f"connection failed ({exc!r})"
            except urllib.error.URLError as exc:
                why = exc.reason
                timed_out = isinstance(why, (TimeoutError, socket.timeout))
                reason = f"timed out after {self.timeout}s" if timed_out else f"unreachable ({why})"
                retryable, retry_after = True, None
            if not retryable:
                raise WikidataError(f"{self.endpoint} refused the query: {reason}")
            if attempt > self.max_retries:
                raise WikidataUnavailableError(
                    f"{self.endpoint} unavailable after {attempt} attempt(s): {reason}"
                )
            wait = self.backoff * 2 ** (attempt - 1) if retry_after is None else retry_after
            if wait > self.max_wait:
                raise WikidataUnavailableError(
                    f"{self.endpoint} asked to wait {wait:.0f}s (more than the {self.max_wait:.0f}s "
                    f"limit): {reason}"
                )
            self.sleep(wait)


def binding_value(row: dict[str, Any], name: str) -> str | None:
    """The lexical value of one variable in a JSON results row, or ``None``."""
    cell = row.get(name)
    return None if cell is None else cell.get("value")
