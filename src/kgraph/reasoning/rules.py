"""Rules as data: SPARQL CONSTRUCT files read from ``ontology/rules/``.

A rule is one ``.rq`` file holding one CONSTRUCT query, preceded by a header
of ``# key: value`` comment lines::

    # rule: prp-symp
    # stratum: 0
    # summary: a symmetric property holds in both directions (OWL 2 RL prp-symp)
    PREFIX ...
    CONSTRUCT { ?y ?p ?x } WHERE { ?p a owl:SymmetricProperty . ?x ?p ?y }

Keeping rules as files (not Python) lets a reader audit exactly what the
reasoner may conclude, and lets the explanation name the file a conclusion
came from. The engine does not run the CONSTRUCT as such: it runs the WHERE
part as a SELECT so that it sees every solution (the *bindings*), builds the
template triples itself and records, per derived triple, the rule and the
bindings. The premises of a derivation are the rule's positive triple patterns
(not those under NOT EXISTS / MINUS) instantiated with those bindings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import BlankNode, Literal, NamedNode, Triple
from rdflib import BNode as RBNode
from rdflib import Literal as RLiteral
from rdflib import URIRef, Variable
from rdflib.paths import Path as RPath

from .. import resources
from ..lexer import tokenize
from ..resources import ResourceError

#: Where the rules live (kgraph.resources: the package's own, or KGRAPH_DATA_DIR's), as
#: at import; :func:`load_rules` looks again at each call.
RULES_DIR = resources.rules_dir()
#: Rule folders the materialization runs by default. ``owl-rl-reflexive`` (x sameAs x,
#: c subClassOf c, ...) is complete OWL 2 RL but adds nothing a reader needs.
DEFAULT_RULESETS = ("owl-rl", "treaty")

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

#: A pattern position: a constant term or a variable name (``str``).
PatternTerm = NamedNode | Literal | BlankNode | str
Pattern = tuple[PatternTerm, PatternTerm, PatternTerm]

# rdflib's SPARQL parser is not thread-safe; rules are parsed once, under a lock.
_PARSE_LOCK = threading.Lock()


class RuleError(ValueError):
    """A rule file is malformed; the message names the file."""


@dataclass(frozen=True)
class Rule:
    """One CONSTRUCT rule, split into what the engine needs."""

    name: str
    path: Path
    #: ``None`` (header ``stratum: all``): the rule runs in every stratum.
    stratum: int | None
    summary: str
    description: str
    text: str
    #: The WHERE part rewritten as ``SELECT * WHERE {...}`` (prologue kept).
    select: str
    template: tuple[Pattern, ...]
    #: Positive triple patterns of the body, instantiated to get the premises.
    premises: tuple[Pattern, ...]
    #: Constant predicates the body reads (``None``: any predicate may matter).
    reads: frozenset[str] | None
    #: Constant predicates the template writes (``None``: a variable predicate).
    writes: frozenset[str] | None
    header: Mapping[str, str] = field(default_factory=dict)
    #: Whether every solution that uses a triple does so through one of ``premises`` (no
    #: property paths, blank-node patterns or positive ``EXISTS``): then the engine may
    #: evaluate the rule semi-naively, driven by the triples added since a fixpoint.
    delta_ok: bool = False

    @property
    def relpath(self) -> str:
        """Path relative to the resources' folder (``ontology/rules/...``), as shown in
        explanations."""
        try:
            return str(self.path.relative_to(resources.root()))
        except ValueError:
            return str(self.path)


def _to_ox(term: object) -> PatternTerm:
    if isinstance(term, Variable):
        return str(term)
    if isinstance(term, URIRef):
        return NamedNode(str(term))
    if isinstance(term, RLiteral):
        if term.language:
            return Literal(str(term), language=term.language)
        if term.datatype is not None:
            return Literal(str(term), datatype=NamedNode(str(term.datatype)))
        return Literal(str(term))
    if isinstance(term, RBNode):
        raise RuleError("blank nodes are not allowed in rule templates; mint an IRI instead")
    raise RuleError(f"unsupported term in rule: {term!r}")


def _path_iris(path: object, out: set[str]) -> None:
    if isinstance(path, URIRef):
        out.add(str(path))
        return
    for attr in ("args", "path", "arg"):
        sub = getattr(path, attr, None)
        if isinstance(sub, list | tuple):
            for x in sub:
                _path_iris(x, out)
        elif sub is not None:
            _path_iris(sub, out)


def _positive_patterns(node: object, out: list[Pattern], path_preds: set[str],
                       skipped: list[object] | None = None) -> None:
    """Collect the triple patterns a solution must match (skipping negation); patterns
    that are not premises (blank-node ones) go to ``skipped``."""
    name = getattr(node, "name", None)
    if name is None:
        return
    if name == "BGP":
        for s, p, o in node["triples"]:
            if isinstance(p, RPath) or any(isinstance(t, RPath) for t in (s, o)):
                _path_iris(p, path_preds)  # a path has no single premise triple
                continue
            try:
                out.append((_to_ox(s), _to_ox(p), _to_ox(o)))
            except RuleError:
                if skipped is not None:
                    skipped.append((s, p, o))
                continue  # blank-node patterns act as variables; not a premise
        return
    if name == "Minus":
        _positive_patterns(node["p1"], out, path_preds, skipped)
        return
    for key in ("p", "p1", "p2"):
        child = node.get(key) if hasattr(node, "get") else None
        if child is not None:
            _positive_patterns(child, out, path_preds, skipped)


def _split_construct(text: str) -> tuple[str, str]:
    """Return (prologue + ``SELECT *`` + WHERE text, template text)."""
    tokens = list(tokenize(text))
    for i, tok in enumerate(tokens):
        if tok.depth == 0 and tok.is_word("CONSTRUCT"):
            if i + 1 >= len(tokens) or tokens[i + 1].text != "{":
                raise RuleError("only the CONSTRUCT { template } WHERE { ... } form is supported")
            for tok2 in tokens[i + 2 :]:
                if tok2.text == "}" and tok2.depth == 0:
                    template = text[tokens[i + 1].end : tok2.start]
                    return text[: tok.start] + "SELECT *" + text[tok2.end :], template
            raise RuleError("unbalanced braces in CONSTRUCT template")
    raise RuleError("a rule must be a CONSTRUCT query")


def _header(text: str) -> tuple[dict[str, str], str]:
    """Parse the leading ``# key: value`` lines; other comment lines form the description."""
    header: dict[str, str] = {}
    desc: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        body = stripped.lstrip("#").strip()
        key, sep, value = body.partition(":")
        if sep and key.strip().isidentifier() and " " not in key.strip():
            header[key.strip().lower()] = value.strip()
        else:
            desc.append(body)
    return header, "\n".join(desc).strip()


def _predicates(patterns: Iterable[Pattern]) -> frozenset[str] | None:
    preds: set[str] = set()
    for _, p, _ in patterns:
        if isinstance(p, str):
            return None
        preds.add(p.value)
    return frozenset(preds)


def _reads(premises: Iterable[Pattern], path_preds: set[str]) -> frozenset[str] | None:
    preds = _predicates(premises)
    return None if preds is None else preds | path_preds


def parse_rule(path: Path, text: str | None = None) -> Rule:
    """Parse one rule file; raise :class:`RuleError` naming the file when it is malformed."""
    from rdflib.plugins.sparql import prepareQuery

    text = path.read_text(encoding="utf-8") if text is None else text
    header, description = _header(text)
    if "rule" not in header:
        raise RuleError(f"{path}: the header lacks a '# rule: <name>' line")
    try:
        select, _ = _split_construct(text)
        with _PARSE_LOCK:
            query = prepareQuery(text)
        algebra = query.algebra
        template = tuple(
            (_to_ox(s), _to_ox(p), _to_ox(o)) for s, p, o in algebra["template"] or ()
        )
        premises: list[Pattern] = []
        path_preds: set[str] = set()
        skipped: list[object] = []
        _positive_patterns(algebra["p"], premises, path_preds, skipped)
    except RuleError as exc:
        raise RuleError(f"{path}: {exc}") from exc
    except Exception as exc:  # rdflib raises pyparsing errors of several kinds
        raise RuleError(f"{path}: does not parse as SPARQL CONSTRUCT: {exc}") from exc
    if not template:
        raise RuleError(f"{path}: empty CONSTRUCT template")
    raw = header.get("stratum", "0").strip().lower()
    try:
        stratum = None if raw == "all" else int(raw)
    except ValueError as exc:
        raise RuleError(f"{path}: stratum must be an integer or 'all'") from exc
    return Rule(
        name=header["rule"],
        path=path,
        stratum=stratum,
        summary=header.get("summary", ""),
        description=description,
        text=text,
        select=select,
        template=template,
        premises=tuple(premises),
        reads=_reads(premises, path_preds),
        writes=_predicates(template),
        header=header,
        delta_ok=bool(premises) and not path_preds and not skipped
        and not _positive_exists(select),
    )


def _positive_exists(text: str) -> bool:
    """Whether the query uses ``EXISTS`` other than as ``NOT EXISTS``."""
    previous = ""
    for tok in tokenize(text):
        if tok.is_word("EXISTS") and previous != "NOT":
            return True
        previous = tok.text.upper()
    return False


_CACHE: dict[tuple[str, ...], tuple[float, list[Rule]]] = {}


def load_rules(
    directories: Iterable[Path] | None = None, *, include: Iterable[str] | None = None
) -> list[Rule]:
    """Load every ``*.rq`` under the given directories.

    Without ``directories``, the folders of :data:`DEFAULT_RULESETS` under
    ``ontology/rules``; ``include`` limits loading to sub-directories with these
    names. Rules come back ordered by stratum, then path. Parsed rules are
    cached until a file changes. A missing folder, a rule set named in ``include`` that no
    folder holds, or no rule at all is a :class:`~kgraph.resources.ResourceError` naming
    the path: a reasoner without its rules would infer nothing without a word.
    """
    if directories is None:
        directories = [resources.rules_dir()]
        include = DEFAULT_RULESETS if include is None else include
    dirs = [Path(d) for d in directories]
    inc = set(include) if include is not None else None
    files: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            raise ResourceError(f"the reasoning rules not found: no folder {d}")
        for f in sorted(d.rglob("*.rq")):
            if inc is not None and f.parent.name not in inc:
                continue
            files.append(f)
    missing = sorted((inc or set()) - {f.parent.name for f in files})
    if missing or not files:
        where = ", ".join(str(d / m) for d in dirs for m in missing) if missing else \
            " or ".join(str(d) for d in dirs)
        raise ResourceError(f"the reasoning rules not found: no *.rq rule in {where}")
    key = tuple(str(f) for f in files)
    mtime = max((f.stat().st_mtime for f in files), default=0.0)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    rules = [parse_rule(f) for f in files]
    names: dict[str, Path] = {}
    for r in rules:
        if r.name in names:
            raise RuleError(f"rule name {r.name!r} used by {names[r.name]} and {r.path}")
        names[r.name] = r.path
    rules.sort(key=lambda r: (-1 if r.stratum is None else r.stratum, str(r.path)))
    _CACHE[key] = (mtime, rules)
    return rules


def instantiate(pattern: Pattern, binding: Mapping[str, object]) -> Triple | None:
    """The triple a pattern denotes under a binding, or None if unbound or ill-formed."""
    terms = []
    for t in pattern:
        if isinstance(t, str):
            v = binding.get(t)
            if v is None:
                return None
            terms.append(v)
        else:
            terms.append(t)
    s, p, o = terms
    if isinstance(s, Literal) or not isinstance(p, NamedNode):
        return None
    try:
        return Triple(s, p, o)
    except TypeError:
        return None
