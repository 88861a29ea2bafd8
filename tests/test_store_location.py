"""``--store`` / ``KGRAPH_STORE`` name a folder, ``:memory:`` or a remote engine's URL, and
every command reads them the same way (a URL once became a folder called ``http:``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgraph import cli
from kgraph.config import Settings
from kgraph.store import open_configured
from kgraph.store.remote import RemoteStore


@pytest.mark.parametrize("value", ["http://127.0.0.1:1/query", "https://engine.example/sparql"])
def test_a_url_in_kgraph_store_is_a_remote_engine(monkeypatch: pytest.MonkeyPatch,
                                                  value: str) -> None:
    monkeypatch.setenv("KGRAPH_STORE", value)
    monkeypatch.delenv("KGRAPH_STORE_URL", raising=False)
    s = Settings.from_env()
    assert (s.store_path, s.store_url) == (None, value)
    # a path-typed override (argparse type=Path squeezes '//') is read the same way
    monkeypatch.delenv("KGRAPH_STORE")
    s = Settings.from_env(store_path=Path(value))
    assert (s.store_path, s.store_url) == (None, value)
    assert isinstance(open_configured(s), RemoteStore)


def test_memory_and_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KGRAPH_STORE", ":memory:")
    assert Settings.from_env().store_path is None
    monkeypatch.setenv("KGRAPH_STORE", str(tmp_path / "s"))
    assert Settings.from_env().store_path == tmp_path / "s"
    monkeypatch.setenv("KGRAPH_STORE_URL", "http://127.0.0.1:1/query")
    assert Settings.from_env(store_path=Path("http://127.0.0.1:2/q")).store_url == (
        "http://127.0.0.1:1/query")  # the explicit URL setting wins


@pytest.mark.parametrize("command", [["dump"], ["reason"]])
def test_commands_on_an_unreachable_engine_say_so_and_create_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        command: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KGRAPH_STORE_URL", raising=False)
    assert cli.main([*command, "--store", "http://127.0.0.1:1/query"]) == 1
    err = capsys.readouterr().err
    assert "unreachable" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
