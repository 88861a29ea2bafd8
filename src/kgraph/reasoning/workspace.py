"""The reasoner's working copy of a store, built once per store version and shared.

Explanations need the rule engine's provenance, and scenarios need the closure of
the stored data to add hypothetical events to. Building either from a full copy
of the dataset on every request costs time proportional to the data, so this
module keeps, per store and process, one *working copy*: an in-memory pyoxigraph
store (the reasoner's working memory) holding every asserted quad of the store
plus the inferred graph, and the engine run with its derivations. It is keyed on
``store.version()`` and the store's identity, built at most once per version
(concurrent first requests wait for one build), and read only under its lock.

The data comes from the kgraph store through the :class:`kgraph.store.base.Store`
interface only (``quads()``), so any engine (embedded or remote) can be reasoned
over. pyoxigraph's result iterators are bound to the thread that created them:
everything that reads the scratch store consumes its results inside ``lock``.
"""

from __future__ import annotations

import contextlib
import io
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import NamedNode, Quad, RdfFormat
from pyoxigraph import Store as OxStore

from ..namespaces import GRAPH_BOOTSTRAP, GRAPH_INFERRED
from .engine import EngineRun, RuleEngine
from .rules import load_rules


@dataclass
class WorkingCopy:
    """Asserted + inferred quads of one store version, with the derivations behind them.

    ``scratch`` and ``run`` are shared by every request of that version: read them,
    and write only a scenario overlay that is removed again, all while holding ``lock``.
    """

    scratch: OxStore
    run: EngineRun
    engine: RuleEngine
    version: int
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def dump_nquads(self) -> list[str]:
        """The working copy as sorted N-Quads lines (tests compare it before and after)."""
        with self.lock:
            out = io.BytesIO()
            self.scratch.dump(out, RdfFormat.N_QUADS)
        return sorted(out.getvalue().decode("utf-8").splitlines())


@dataclass
class _Entry:
    ref: Callable[[], object | None]
    copy: WorkingCopy | None = None
    build_lock: threading.Lock = field(default_factory=threading.Lock)


_REGISTRY_LOCK = threading.Lock()
_ENTRIES: dict[int, _Entry] = {}
#: How many working copies were built (the tests check "at most once per version").
builds = 0


def _ref_to(store: object) -> Callable[[], object | None]:
    try:
        return weakref.ref(store)
    except TypeError:  # an object without weak references: keep it for the process
        return lambda: store


def _entry(store: object) -> _Entry:
    key = id(store)
    with _REGISTRY_LOCK:
        entry = _ENTRIES.get(key)
        if entry is None or entry.ref() is not store:  # a new store reusing a dead one's id
            entry = _Entry(_ref_to(store))
            _ENTRIES[key] = entry
            with contextlib.suppress(TypeError):
                weakref.finalize(store, _forget, key, entry)
        return entry


def _forget(key: int, entry: _Entry) -> None:
    with _REGISTRY_LOCK:
        if _ENTRIES.get(key) is entry:
            del _ENTRIES[key]


#: The inferred graph, where the reasoner's conclusions go.
INFERRED = NamedNode(GRAPH_INFERRED)


#: Graphs the reasoner does not read: its own conclusions, and start-up's record of the
#: files each graph was loaded from (bookkeeping, written after the inferences: read, it
#: made the next materialization add three triples that start-up's had not).
NOT_REASONED_OVER = frozenset({INFERRED, NamedNode(GRAPH_BOOTSTRAP)})


def asserted_quads(store: object) -> Iterator[Quad]:
    """Every quad of a kgraph store the reasoner reads (read through ``quads()``): all but
    :data:`NOT_REASONED_OVER`."""
    for q in store.quads():  # type: ignore[attr-defined]
        if q.graph_name not in NOT_REASONED_OVER:
            yield q


def scratch_store(quads: Iterable[Quad]) -> OxStore:
    """An in-memory pyoxigraph store holding ``quads`` (graphs kept): the reasoner's
    working memory, never a kgraph store."""
    scratch = OxStore()
    scratch.bulk_extend(quads)
    return scratch


def engine_for(rules_dirs: Iterable[Path] | None = None) -> RuleEngine:
    """The rule engine over the shipped rules (or those of ``rules_dirs``)."""
    return RuleEngine(load_rules(rules_dirs))


def register(store: object, version: int, scratch: OxStore, run: EngineRun,
             engine: RuleEngine) -> WorkingCopy:
    """Make ``scratch``/``run`` the working copy of ``store`` at ``version``.

    Used by materialization, which has just computed exactly this, so the first
    explanation after a materialization does not compute it again.
    """
    entry = _entry(store)
    copy = WorkingCopy(scratch, run, engine, version)
    with entry.build_lock:
        entry.copy = copy
    return copy


def working_copy(store: object) -> WorkingCopy:
    """The working copy of ``store`` at its current version, built if there is none yet."""
    global builds
    entry = _entry(store)
    version = store.version()  # type: ignore[attr-defined]
    copy = entry.copy
    if copy is not None and copy.version == version:
        return copy
    with entry.build_lock:
        copy = entry.copy
        if copy is not None and copy.version == version:
            return copy  # another request built it while this one waited
        # The version is read before the data: a write racing with the read makes the copy
        # newer than its label, never older, and the next request rebuilds it.
        scratch = scratch_store(asserted_quads(store))
        engine = engine_for()
        run = engine.run(scratch, INFERRED)
        copy = WorkingCopy(scratch, run, engine, version)
        entry.copy = copy
        builds += 1
        return copy


def forget(store: object) -> None:
    """Drop the working copy of ``store`` (e.g. before closing it)."""
    with _REGISTRY_LOCK:
        entry = _ENTRIES.pop(id(store), None)
    if entry is not None:
        entry.copy = None


def overlay(copy: WorkingCopy, quads: Iterable[Quad]) -> list[Quad]:
    """Add the quads the working copy lacks; return them, for :func:`remove_overlay`.

    Call with ``copy.lock`` held.
    """
    added = [q for q in dict.fromkeys(quads) if q not in copy.scratch]
    copy.scratch.extend(added)
    return added
