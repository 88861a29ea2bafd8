"""Where kgraph finds what it reads at run time, found the same way from a checkout and a wheel.

The ontology (``ontology/``: the OWL files, the SHACL shapes ``shapes.ttl`` and the rules
``rules/``), the named queries (``queries/``) and the knowledge base (``data/``: facts files,
their source texts and the Wikidata snapshot) are kept at the top of the repository, their
one source of truth. They ship inside the package as ``kgraph/_data/``: in the repository that
folder holds symbolic links to the top-level folders, which an editable install follows and a
wheel build copies (``[tool.setuptools.package-data]``), so the installed package reads its
own copy through :mod:`importlib.resources` wherever it runs.

``KGRAPH_DATA_DIR`` names another folder laid out the same way (``ontology/``, ``queries/``,
``data/``) to serve instead. Nothing here falls back on anything: a folder or file that is
asked for and missing raises :class:`ResourceError` naming the path asked for, and the server
refuses to start (:func:`kgraph.bootstrap.check_resources`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path

#: Environment variable naming a folder to read the resources from instead of the package.
ENV_DATA_DIR = "KGRAPH_DATA_DIR"
#: The resources' folder inside the package.
PACKAGE_DIR = "_data"


class ResourceError(FileNotFoundError):
    """A resource kgraph needs is missing (the message names the path asked for)."""


def package_dir() -> Path:
    """The installed ``kgraph`` package's folder."""
    package = files("kgraph")
    if not isinstance(package, Path):  # a zipped package: pyoxigraph and glob need real files
        raise ResourceError(f"kgraph at {package} is not files on disk; install it unzipped")
    return package


def shipped_root() -> Path:
    """The folder of resources inside the installed package (``kgraph/_data``)."""
    root = files("kgraph") / PACKAGE_DIR
    if not isinstance(root, Path):  # a zipped package: pyoxigraph and glob need real files
        raise ResourceError(f"kgraph's resources at {root} are not files on disk; install "
                            f"kgraph unzipped or set {ENV_DATA_DIR}")
    return root


def root() -> Path:
    """The folder holding ``ontology/``, ``queries/`` and ``data/``: ``KGRAPH_DATA_DIR`` when
    set, else the package's own copy. Read at each call, so a test may point it elsewhere."""
    override = os.environ.get(ENV_DATA_DIR)
    return Path(override).expanduser().absolute() if override else shipped_root()


def ontology_dir() -> Path:
    return root() / "ontology"


def rules_dir() -> Path:
    """The rule sets, one sub-folder of ``.rq`` files each (see kgraph.reasoning.rules)."""
    return ontology_dir() / "rules"


def shapes_path() -> Path:
    return ontology_dir() / "shapes.ttl"


def queries_dir() -> Path:
    return root() / "queries"


def data_dir() -> Path:
    return root() / "data"


def require_dir(path: Path, what: str, patterns: Iterable[str] = ("*",)) -> Path:
    """``path`` if it is a folder holding a file matching one of ``patterns`` (searched
    recursively); else :class:`ResourceError` naming it."""
    path = Path(path)
    if not path.is_dir():
        raise ResourceError(f"{what} not found: no folder {path}")
    if not any(p.is_file() for pattern in patterns for p in path.rglob(pattern)):
        raise ResourceError(f"{what} not found: {path} holds no {' or '.join(patterns)} file")
    return path


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file; else :class:`ResourceError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ResourceError(f"{what} not found: no file {path}")
    return path


def locations() -> set[Path]:
    """The folders kgraph reads its own files from (the package's parent, the resources'
    folder and, through the links of a checkout, the checkout): paths no answer may show."""
    found = {package_dir().parent, root(), root().resolve(), ontology_dir().resolve().parent}
    return {p for p in found if len(p.parts) > 1}
