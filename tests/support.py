"""Helpers for tests that talk HTTP to a real kgraph server process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-token-5f3a"


@dataclass
class ServerProcess:
    """``python server.py`` on a free loopback port, over a store directory."""

    store: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    url: str = ""

    def start(self, timeout: float = 180.0) -> ServerProcess:
        env = {**os.environ, "KGRAPH_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1", **self.env}
        cmd = [sys.executable, str(ROOT / "server.py"), "--port", "0", "--store", str(self.store),
               *self.args]
        # stderr goes to a file: a pipe nobody reads would fill up and block the server's logging.
        folder = next(p for p in self.store.parents if p.is_dir())  # the store's may not exist yet
        self.log_path = folder / f"{self.store.name}.server.log"
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the server prints its address first
        if "listening on" not in line:
            self.proc.kill()
            self.proc.wait()
            err = self.log()
            raise RuntimeError(f"server did not start: {line!r}\n{err[-4000:]}")
        self.url = line.strip().split("listening on ", 1)[1].rsplit("/sparql", 1)[0]
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/health", timeout=5).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # busy machine: ask again
                time.sleep(0.1)
        raise RuntimeError("server did not answer /health")

    @property
    def sparql(self) -> str:
        return self.url + "/sparql"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()
        self.proc = None

    def log(self) -> str:
        """Everything the server wrote to stderr so far."""
        return self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
