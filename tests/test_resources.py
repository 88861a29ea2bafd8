"""What kgraph reads at run time is found through kgraph.resources, and a missing piece is loud.

Fast, in-process checks; tests/test_wheel.py runs the installed package outside the checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kgraph import resources
from kgraph.bootstrap import check_resources, ensure_loaded
from kgraph.config import Settings
from kgraph.reasoning.rules import load_rules
from kgraph.resources import ResourceError
from kgraph.store import open_store

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_folder_links_to_the_top_level_folders() -> None:
    """In the repository the top-level folders are the source of truth; the package reads
    them through the links of ``src/kgraph/_data`` (copied into a wheel)."""
    shipped = resources.shipped_root()
    assert shipped == ROOT / "src" / "kgraph" / "_data"
    for name in ("ontology", "queries", "data"):
        assert (shipped / name).resolve() == ROOT / name


def test_settings_are_the_one_source_of_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(resources.ENV_DATA_DIR, raising=False)
    settings = Settings()
    assert settings.ontology_dir == resources.ontology_dir()
    assert settings.rules_dir == resources.rules_dir()
    assert settings.shapes_path == resources.shapes_path()
    assert settings.queries_dir == resources.queries_dir()
    assert settings.data_dir == resources.data_dir()
    check_resources(settings)  # everything is there
    assert {r.relpath.split("/")[2] for r in load_rules()} == {"owl-rl", "treaty"}


def test_kgraph_data_dir_replaces_the_shipped_folders(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    other = tmp_path / "kb"
    for name in ("ontology", "queries", "data"):
        shutil.copytree(ROOT / name, other / name)
    monkeypatch.setenv(resources.ENV_DATA_DIR, str(other))
    settings = Settings.from_env(store_path=None)
    assert settings.ontology_dir == other / "ontology"
    assert settings.rules_dir == other / "ontology" / "rules"
    assert settings.data_dir == other / "data" and settings.queries_dir == other / "queries"
    assert all(r.path.is_relative_to(other) for r in load_rules())
    check_resources(settings)


@pytest.mark.parametrize(("remove", "named"), [
    ("ontology", "ontology"),
    ("ontology/shapes.ttl", "ontology/shapes.ttl"),
    ("ontology/rules", "ontology/rules"),
    ("queries", "queries"),
    ("data/facts", "data/facts"),
    ("data/wikidata/snapshot.ttl", "data/wikidata/snapshot.ttl"),
])
def test_a_missing_resource_is_an_error_naming_its_path(tmp_path: Path, remove: str,
                                                        named: str) -> None:
    for name in ("ontology", "queries", "data"):
        shutil.copytree(ROOT / name, tmp_path / name)
    target = tmp_path / remove
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    settings = Settings(store_path=None, ontology_dir=tmp_path / "ontology",
                        queries_dir=tmp_path / "queries", data_dir=tmp_path / "data")
    with pytest.raises(ResourceError, match=str(tmp_path / named)):
        check_resources(settings)
    store = open_store(None)
    with pytest.raises(ResourceError, match=str(tmp_path / named)):
        ensure_loaded(store, settings)  # the bootstrap loads nothing from a partial folder
    assert store.count() == 0


def test_a_rules_folder_without_rules_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match=str(tmp_path / "missing")):
        load_rules([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResourceError, match=str(tmp_path / "empty")):
        load_rules([tmp_path / "empty"])
    shutil.copytree(ROOT / "ontology" / "rules" / "treaty", tmp_path / "rules" / "treaty")
    assert load_rules([tmp_path / "rules"], include=["treaty"])
    with pytest.raises(ResourceError, match=str(tmp_path / "rules" / "owl-rl")):
        load_rules([tmp_path / "rules"], include=["treaty", "owl-rl"])


def test_a_store_loaded_already_needs_no_facts(tmp_path: Path) -> None:
    """With ``--no-bootstrap`` the facts and the snapshot are not read: only what serving
    reads (ontology, shapes, rules, queries) must be there."""
    shutil.copytree(ROOT / "ontology", tmp_path / "ontology")
    shutil.copytree(ROOT / "queries", tmp_path / "queries")
    settings = Settings(store_path=None, ontology_dir=tmp_path / "ontology", bootstrap=False,
                        queries_dir=tmp_path / "queries", data_dir=tmp_path / "data")
    check_resources(settings)
    with pytest.raises(ResourceError, match=str(tmp_path / "data" / "facts")):
        ensure_loaded(open_store(None), settings)  # asked to bootstrap all the same

