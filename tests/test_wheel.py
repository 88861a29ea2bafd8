"""kgraph works as an installed package, outside its checkout.

The wheel is built from a copy of the sources (so no stale ``build/`` is packaged), installed
in a fresh virtual environment, and ``kgraph serve`` is started from an empty temporary
folder: it must serve the article's graph, the ontology and the inferences, all read from the
package itself. Offline: the build backend and every dependency come from the wheelhouse
``scripts/setup.sh --test`` prepares (``.cache/wheelhouse``), installed into the new
environment with ``--no-index``; ``pip check`` confirms the wheel's declared requirements are
met.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kgraph.namespaces import GRAPH_INFERRED, GRAPH_ONTOLOGY, KGO, KGR, source_graph

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
#: What a wheel is built from (the package's resources are links into the top-level folders).
SOURCES = ("pyproject.toml", "README.md", "src", "ontology", "queries", "data")


def _run(cmd: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                            timeout=300, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{cmd}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH, no KGRAPH_* settings of this run."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KGRAPH_", "PYTHON", "VIRTUAL_ENV", "PIP_"))}
    env.update(PYTHONUNBUFFERED="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the sources."""
    if not any(WHEELHOUSE.glob("setuptools-*.whl")):
        if os.environ.get("CI"):
            pytest.fail(f"no wheelhouse at {WHEELHOUSE}: run scripts/setup.sh --test")
        pytest.skip(f"no wheelhouse at {WHEELHOUSE}: run scripts/setup.sh --test")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "sources"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
          "--find-links", WHEELHOUSE, "-w", dist, src], env=_clean_env(), cwd=tmp)
    (wheel,) = dist.glob("kgraph-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ``bin`` folder of a fresh virtual environment with the built wheel installed."""
    tmp = tmp_path_factory.mktemp("venv")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
          "--no-index", "--find-links", WHEELHOUSE, built], env=_clean_env(), cwd=tmp)
    _run([sys.executable, "-m", "pip", "--python", python, "check"], env=_clean_env(), cwd=tmp)
    yield venv / "bin"


def test_the_wheel_holds_every_resource(built: Path) -> None:
    """Every file of ontology/, queries/ and data/ is in the wheel, as a file of its own."""
    with zipfile.ZipFile(built) as wheel:
        names = set(wheel.namelist())
    expected = {f"kgraph/_data/{p.relative_to(ROOT)}" for name in ("ontology", "queries", "data")
                for p in (ROOT / name).rglob("*") if p.is_file()}
    assert {"kgraph/_data/ontology/shapes.ttl", "kgraph/_data/ontology/rules/treaty/alliance.rq",
            "kgraph/_data/data/sources/bandow-2021-07-10.txt",
            "kgraph/_data/data/wikidata/snapshot.ttl"} <= expected
    assert expected - names == set()


def _start(kgraph: Path, cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([str(kgraph), "serve", "--port", "0", "--store", str(cwd / "store"),
                             "--workers", "1"], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=open(cwd / "server.log", "w"))  # noqa: SIM115
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        proc.wait()
        raise AssertionError(f"kgraph serve did not start: {line!r}\n"
                             + (cwd / "server.log").read_text()[-4000:])
    return proc, line.strip().split("listening on ", 1)[1]


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_the_package_is_imported_from_the_environment_not_the_checkout(installed: Path,
                                                                       tmp_path: Path) -> None:
    out = _run([installed / "python", "-c",
                "import kgraph, kgraph.resources as r, sys; print(kgraph.__file__); "
                "print(r.root()); print(sys.path)"], cwd=tmp_path, env=_clean_env()).stdout
    package, root, path = out.splitlines()
    assert package.startswith(str(installed.parent)) and str(ROOT / "src") not in path
    assert root.startswith(str(installed.parent)) and not Path(root, "ontology").is_symlink()


def test_kgraph_serve_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    """The article's graph, the ontology and the inferences, from the wheel alone."""
    started = time.monotonic()
    proc, sparql = _start(installed / "kgraph", tmp_path, _clean_env())
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(sparql.rsplit("/sparql", 1)[0] + "/health", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-4000:]
            time.sleep(0.2)
        print(f"kgraph serve from the wheel answered after {time.monotonic() - started:.1f} s")
        asks = {
            "the article's graph": f"ASK {{ GRAPH <{source_graph('bandow-2021-07-10')}> "
                                   f"{{ <{KGR}DPRK> <{KGO}borders> <{KGR}PRC> }} }}",
            "the ontology": f"ASK {{ GRAPH <{GRAPH_ONTOLOGY}> {{ <{KGO}State> a "
                            "<http://www.w3.org/2002/07/owl#Class> } }",
            "the inferences": f"ASK {{ GRAPH <{GRAPH_INFERRED}> "
                              f"{{ <{KGR}DPRK> <{KGO}alliedWith> <{KGR}PRC> }} }}",
        }
        for what, ask in asks.items():
            r = requests.get(sparql, params={"query": ask}, timeout=60,
                             headers={"Accept": "application/sparql-results+json"})
            assert r.status_code == 200 and r.json()["boolean"] is True, (what, r.text)
        named = requests.get(sparql.rsplit("/sparql", 1)[0] + "/queries/treaties", timeout=60,
                             headers={"Accept": "application/sparql-results+json"})
        assert named.status_code == 200 and named.json()["results"]["bindings"], named.text
    finally:
        _stop(proc)


def test_missing_resources_stop_the_server_with_the_path(installed: Path, tmp_path: Path) -> None:
    """A data folder without the ontology is refused at start, naming what is missing."""
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run([str(installed / "kgraph"), "serve", "--port", "0", "--store",
                             str(tmp_path / "store")], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env=_clean_env(KGRAPH_DATA_DIR=str(empty)))
    assert result.returncode != 0
    assert "listening on" not in result.stdout
    assert str(empty / "ontology") in result.stderr, result.stderr[-2000:]
