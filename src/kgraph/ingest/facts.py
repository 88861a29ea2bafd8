"""Read a facts file (YAML) into checked, line-numbered specs.

The facts file is the authored source of the knowledge base, so every mistake
in it must be reported where the author can fix it: each problem names the
file and the YAML line. The loader works on ``yaml.compose`` nodes (not on
plain Python values) to keep those line numbers, and it collects *all*
problems before raising, so one run lists everything that needs fixing.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pyoxigraph import Literal, NamedNode

from ..namespaces import PREFIXES, WIKIDATA_ENTITY, document_iri
from .terms import XSD, TermError, check_iri, check_lexical, expand, valid_prefix_name

RDF_TYPE = PREFIXES["rdf"] + "type"
RDFS_LABEL = PREFIXES["rdfs"] + "label"
SKOS_ALT_LABEL = PREFIXES["skos"] + "altLabel"
SKOS_EXACT_MATCH = PREFIXES["skos"] + "exactMatch"

_DOC_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_WIKIDATA_ID = re.compile(r"^Q[1-9][0-9]*$")
_LANG = re.compile(r"^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

_TOP_KEYS = {"document", "prefixes", "resources"}
_DOC_KEYS = {"id", "text", "title", "creator", "publisher", "issued", "sha256", "type", "extra"}
_RESOURCE_KEYS = {"id", "type", "label", "altLabel", "wikidata", "mentions", "facts", "source"}
_FACT_KEYS = {"p", "o", "value", "datatype", "lang", "quote", "start", "evidence", "derived",
              "source", "asserted"}
_QUOTE_KEYS = {"quote", "start"}

_YAML_INT = "tag:yaml.org,2002:int"
_YAML_FLOAT = "tag:yaml.org,2002:float"
_YAML_BOOL = "tag:yaml.org,2002:bool"
_YAML_STR = "tag:yaml.org,2002:str"
_YAML_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_YAML_NULL = "tag:yaml.org,2002:null"


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactsProblem:
    """One thing wrong with a facts file, at a 1-based YAML line (``None``: the whole file)."""

    line: int | None
    message: str
    path: str = ""

    def __str__(self) -> str:
        where = self.path or "<facts>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}"


class FactsError(ValueError):
    """A facts file (or the RDF compiled from it) was rejected; ``errors`` lists every reason."""

    def __init__(self, errors: list[FactsProblem]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class QuoteRef:
    """A verbatim span of the article: ``text == article[start:end]`` (code points)."""

    text: str
    start: int
    line: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class FactSpec:
    """One statement to assert, with the evidence or external source behind it.

    ``origin`` says where it came from in the file: ``fact`` (a ``facts:`` item),
    ``type``/``label``/``altLabel``/``wikidata`` (implied by a resource's keys)
    or ``document`` (a ``document.extra`` item).
    """

    subject: str
    predicate: str
    obj: NamedNode | Literal
    quotes: list[QuoteRef]
    line: int
    origin: str = "fact"
    source: str | None = None
    derived: str | None = None
    #: Why this is a plain fact although its sentence hedges or attributes (see ingest.rules).
    asserted: str | None = None


@dataclass
class ResourceSpec:
    """A described individual: its names, types, mentions in the text and facts."""

    iri: str
    line: int
    types: list[str] = field(default_factory=list)
    label: str | None = None
    alt_labels: list[str] = field(default_factory=list)
    wikidata: str | None = None
    mentions: list[QuoteRef] = field(default_factory=list)
    facts: list[FactSpec] = field(default_factory=list)
    source: str | None = None
    implied: list[FactSpec] = field(default_factory=list)


@dataclass
class DocumentSpec:
    """The source document's metadata (becomes a ``prov:Entity``)."""

    doc_id: str
    iri: str
    line: int
    text_path: Path
    text_name: str
    title: str
    creator: NamedNode | Literal | None = None
    publisher: NamedNode | Literal | None = None
    issued: Literal | None = None
    sha256: str | None = None
    types: list[str] = field(default_factory=list)
    extra: list[FactSpec] = field(default_factory=list)

    @property
    def id(self) -> str:
        """Alias of ``doc_id``."""
        return self.doc_id


@dataclass
class FactsFile:
    """A loaded and verified facts file, together with its article text."""

    path: Path
    document: DocumentSpec
    prefixes: dict[str, str]
    resources: list[ResourceSpec]
    text: str
    text_sha256: str

    def statements(self) -> Iterator[FactSpec]:
        """Every statement in file order: document extras, then per resource implied + facts."""
        yield from self.document.extra
        for resource in self.resources:
            yield from resource.implied
            yield from resource.facts

    def quotes(self) -> Iterator[QuoteRef]:
        """Every quote (mentions and fact evidence) in file order, repeats included."""
        for statement in self.document.extra:
            yield from statement.quotes
        for resource in self.resources:
            yield from resource.mentions
            for statement in resource.facts:
                yield from statement.quotes

    def line_of(self, iri: str) -> int | None:
        """The YAML line that introduces ``iri`` (a resource or the document)."""
        if iri == self.document.iri:
            return self.document.line
        for resource in self.resources:
            if resource.iri == iri:
                return resource.line
        return None


# -- loader -------------------------------------------------------------------------------


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{node.value!r}"


def _snippet(text: str, limit: int = 60) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _loose(text: str) -> str:
    """Text with typographic quotes, dashes and whitespace flattened (for near-miss hints)."""
    table = {"‘": "'", "’": "'", "“": '"', "”": '"', "—": "-", "–": "-", "\u00a0": " "}
    text = unicodedata.normalize("NFC", text)
    return re.sub(r"\s+", " ", "".join(table.get(c, c) for c in text))


class _Loader:
    def __init__(self, path: Path, verify_quotes: bool) -> None:
        self.path = path
        self.verify_quotes = verify_quotes
        self.problems: list[FactsProblem] = []
        self.prefixes: dict[str, str] = dict(PREFIXES)
        self.text: str | None = None

    # problems
    def error(self, line: int | None, message: str) -> None:
        self.problems.append(FactsProblem(line, message, str(self.path)))

    # node helpers
    def mapping(self, node: yaml.Node, what: str, allowed: set[str],
                required: tuple[str, ...] = ()) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(_line(node), f"{what} must be a mapping, found {_describe(node)}")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(_line(key_node), f"{what}: keys must be plain words")
                continue
            key = key_node.value
            if key in out:
                self.error(_line(key_node), f"{what}: duplicate key {key!r} "
                           f"(first given on line {_line(out[key])})")
                continue
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.error(_line(key_node), f"{what}: unknown key {key!r}{hint}; "
                           f"allowed: {', '.join(sorted(allowed))}")
                continue
            out[key] = value_node
        for key in required:
            if key not in out:
                self.error(_line(node), f"{what}: missing {key!r}")
        return out

    def scalar(self, node: yaml.Node | None, what: str) -> str | None:
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag == _YAML_NULL:
            self.error(_line(node), f"{what} must be a single value, found {_describe(node)}")
            return None
        if node.value.strip() == "":
            self.error(_line(node), f"{what} is empty")
            return None
        return node.value

    def items(self, node: yaml.Node | None, what: str) -> list[yaml.Node]:
        if node is None:
            return []
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        if isinstance(node, yaml.ScalarNode) and node.tag == _YAML_NULL:
            return []
        self.error(_line(node), f"{what} must be a list, found {_describe(node)}")
        return []

    def names(self, node: yaml.Node | None, what: str) -> list[tuple[str, int]]:
        """A CURIE or a list of CURIEs, each with its line."""
        if node is None:
            return []
        nodes = list(node.value) if isinstance(node, yaml.SequenceNode) else [node]
        out: list[tuple[str, int]] = []
        for item in nodes:
            value = self.scalar(item, what)
            if value is not None:
                iri = self.iri(value, _line(item), what)
                if iri is not None:
                    out.append((iri, _line(item)))
        return out

    def iri(self, name: str, line: int, what: str) -> str | None:
        try:
            return expand(name, self.prefixes)
        except TermError as exc:
            self.error(line, f"{what}: {exc}")
            return None

    def integer(self, node: yaml.Node | None, what: str) -> int | None:
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag != _YAML_INT:
            self.error(_line(node), f"{what} must be an integer, found {_describe(node)}")
            return None
        try:
            value = int(node.value.replace("_", ""), 0)
        except ValueError:
            self.error(_line(node), f"{what} must be a decimal integer, found {node.value!r}")
            return None
        if value < 0:
            self.error(_line(node), f"{what} must not be negative, found {value}")
            return None
        return value

    # sections
    def load(self) -> FactsFile | None:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.error(None, "facts file not found")
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.error(None, f"cannot read facts file: {exc}")
            return None
        try:
            root = yaml.compose(raw, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            # Report where the broken construct starts (the context), and where it broke.
            mark = exc.context_mark or exc.problem_mark
            line = mark.line + 1 if mark is not None else None
            problem = " ".join(p for p in (exc.context, exc.problem) if p)
            if exc.context_mark is not None and exc.problem_mark is not None:
                problem += f" (on line {exc.problem_mark.line + 1})"
            self.error(line, f"YAML syntax error: {problem}")
            return None
        except yaml.YAMLError as exc:
            self.error(None, f"YAML error: {exc}")
            return None
        if root is None:
            self.error(None, "facts file is empty")
            return None
        top = self.mapping(root, "facts file", _TOP_KEYS, ("document", "resources"))
        if top is None:
            return None
        if "prefixes" in top:
            self.load_prefixes(top["prefixes"])
        document = self.load_document(top["document"]) if "document" in top else None
        resources = self.load_resources(top.get("resources"), document)
        if document is None or self.text is None:
            return None
        return FactsFile(self.path, document, self.prefixes, resources, self.text,
                         hashlib.sha256(self.text.encode("utf-8")).hexdigest())

    def load_prefixes(self, node: yaml.Node) -> None:
        table = self.mapping(node, "prefixes", allowed=_AnyKey())
        for name, value_node in (table or {}).items():
            value = self.scalar(value_node, f"prefix {name!r}")
            if value is None:
                continue
            if not valid_prefix_name(name):
                self.error(_line(value_node), f"{name!r} is not a valid prefix name")
                continue
            try:
                check_iri(value)
            except TermError as exc:
                self.error(_line(value_node), f"prefix {name!r}: {exc}")
                continue
            if name in PREFIXES and PREFIXES[name] != value:
                self.error(_line(value_node), f"prefix {name!r} is built in as <{PREFIXES[name]}>"
                           f" and cannot be redefined as <{value}>")
                continue
            self.prefixes[name] = value

    def load_document(self, node: yaml.Node) -> DocumentSpec | None:
        doc = self.mapping(node, "document", _DOC_KEYS, ("id", "text", "title"))
        if doc is None:
            return None
        line = _line(node)
        doc_id = self.scalar(doc.get("id"), "document id")
        if doc_id is not None and not _DOC_ID.match(doc_id):
            self.error(_line(doc["id"]), f"document id {doc_id!r} must match {_DOC_ID.pattern} "
                       "(it becomes part of IRIs and of the graph name)")
            doc_id = None
        title = self.scalar(doc.get("title"), "document title")
        text_name = self.scalar(doc.get("text"), "document text")
        text_path: Path | None = None
        if text_name is not None:
            text_path = (self.path.parent / text_name).resolve()
            self.read_text(text_path, _line(doc["text"]))
        sha = self.scalar(doc.get("sha256"), "document sha256")
        if sha is not None:
            if not _SHA256.match(sha):
                self.error(_line(doc["sha256"]), "document sha256 must be 64 lowercase hex digits")
            elif self.text is not None:
                actual = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
                if actual != sha:
                    self.error(_line(doc["sha256"]), f"text file {text_name} has changed: recorded "
                               f"sha256 {sha}, actual {actual}; re-check every offset")
        issued: Literal | None = None
        issued_raw = self.scalar(doc.get("issued"), "document issued")
        if issued_raw is not None:
            datatype = XSD + ("dateTime" if "T" in issued_raw else "date")
            try:
                check_lexical(issued_raw, datatype)
                issued = Literal(issued_raw, datatype=NamedNode(datatype))
            except TermError as exc:
                self.error(_line(doc["issued"]), f"document issued: {exc}")
        types = [iri for iri, _ in self.names(doc.get("type"), "document type")]
        if doc_id is None or title is None or text_path is None or text_name is None:
            return None
        spec = DocumentSpec(doc_id, document_iri(doc_id), line, text_path, Path(text_name).name,
                            title, issued=issued, sha256=sha, types=types)
        spec.creator = self.name_or_string(doc.get("creator"), "document creator")
        spec.publisher = self.name_or_string(doc.get("publisher"), "document publisher")
        for item in self.items(doc.get("extra"), "document extra"):
            fact = self.load_fact(item, spec.iri, "document extra", quote_required=False)
            if fact is not None:
                fact.origin = "document"
                spec.extra.append(fact)
        return spec

    def read_text(self, path: Path, line: int) -> None:
        try:
            self.text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            self.error(line, f"article text not found: {path}")
        except UnicodeDecodeError as exc:
            self.error(line, f"article text {path} is not UTF-8: {exc}")
        except OSError as exc:
            self.error(line, f"cannot read article text {path}: {exc}")

    def name_or_string(self, node: yaml.Node | None, what: str) -> NamedNode | Literal | None:
        value = self.scalar(node, what)
        if value is None or node is None:
            return None
        looks_like_name = (value.startswith("<") and value.endswith(">")) or (
            ":" in value and " " not in value and value.split(":", 1)[0] in self.prefixes)
        if looks_like_name:
            iri = self.iri(value, _line(node), what)
            return NamedNode(iri) if iri else None
        return Literal(value)

    def load_quote(self, node: yaml.Node, what: str) -> QuoteRef | None:
        table = self.mapping(node, what, _QUOTE_KEYS, ("quote", "start"))
        if table is None:
            return None
        return self.quote_from(table, node, what)

    def quote_from(self, table: dict[str, yaml.Node], node: yaml.Node, what: str
                   ) -> QuoteRef | None:
        quote_node, start_node = table.get("quote"), table.get("start")
        if quote_node is None or start_node is None:
            return None
        if not isinstance(quote_node, yaml.ScalarNode) or quote_node.tag == _YAML_NULL:
            self.error(_line(quote_node), f"{what}: quote must be text")
            return None
        quote = quote_node.value
        start = self.integer(start_node, f"{what}: start")
        if quote == "":
            self.error(_line(quote_node), f"{what}: quote is empty")
            return None
        if start is None:
            return None
        ref = QuoteRef(quote, start, _line(quote_node))
        if self.verify_quotes and self.text is not None:
            message = check_quote(self.text, ref)
            if message:
                self.error(ref.line, f"{what}: {message}")
                return None
        return ref

    def load_resources(self, node: yaml.Node | None, document: DocumentSpec | None
                       ) -> list[ResourceSpec]:
        resources: list[ResourceSpec] = []
        seen: dict[str, int] = {}
        for item in self.items(node, "resources"):
            resource = self.load_resource(item, seen)
            if resource is not None:
                resources.append(resource)
        declared = set(seen)
        if document is not None:
            declared.add(document.iri)
            refs = [(document.creator, document.line), (document.publisher, document.line)]
            refs += [(f.obj, f.line) for f in document.extra]
        else:
            refs = []
        refs += [(f.obj, f.line) for r in resources for f in r.facts]
        for term, line in refs:
            if (isinstance(term, NamedNode) and term.value.startswith(PREFIXES["kgr"])
                    and term.value not in declared):
                self.undeclared(term.value, line, declared)
        return resources

    def undeclared(self, iri: str, line: int, declared: set[str]) -> None:
        curie = "kgr:" + iri[len(PREFIXES["kgr"]):]
        close = difflib.get_close_matches(iri, sorted(declared), n=1, cutoff=0.8)
        hint = f"; did you mean kgr:{close[0][len(PREFIXES['kgr']):]}?" if close else ""
        self.error(line, f"{curie} is not declared under resources: (give it an entry with a type, "
                   f"label and mention){hint}")

    def load_resource(self, node: yaml.Node, seen: dict[str, int]) -> ResourceSpec | None:
        table = self.mapping(node, "resource", _RESOURCE_KEYS, ("id",))
        if table is None:
            return None
        line = _line(node)
        if "id" not in table:
            return None
        name = self.scalar(table["id"], "resource id")
        iri = self.iri(name, _line(table["id"]), "resource id") if name else None
        if iri is None:
            return None
        what = f"resource {name}"
        if iri in seen:
            self.error(_line(table["id"]), f"duplicate resource id {name} "
                       f"(first declared on line {seen[iri]})")
            return None
        seen[iri] = _line(table["id"])
        resource = ResourceSpec(iri, line)
        if "source" in table:
            src = self.scalar(table["source"], f"{what}: source")
            resource.source = self.iri(src, _line(table["source"]), f"{what}: source") if src \
                else None
        mention_items = self.items(table.get("mentions"), f"{what}: mentions")
        for item in mention_items:
            ref = self.load_quote(item, f"{what}: mention")
            if ref is not None:
                resource.mentions.append(ref)
        if not mention_items and resource.source is None:
            self.error(line, f"{what}: mention missing — a resource drawn from the article needs "
                       "at least one mention {quote, start} (or a source: naming where it comes from)")
        type_items = self.names(table.get("type"), f"{what}: type")
        resource.types = [t for t, _ in type_items]
        if "label" in table:
            resource.label = self.scalar(table["label"], f"{what}: label")
        else:
            self.error(line, f"{what}: missing 'label' (every resource needs an rdfs:label @en)")
        alt_node = table.get("altLabel")
        if alt_node is not None:
            alts = list(alt_node.value) if isinstance(alt_node, yaml.SequenceNode) else [alt_node]
            for alt in alts:
                value = self.scalar(alt, f"{what}: altLabel")
                if value is not None:
                    resource.alt_labels.append(value)
        if "wikidata" in table:
            qid = self.scalar(table["wikidata"], f"{what}: wikidata")
            if qid is not None and not _WIKIDATA_ID.match(qid):
                self.error(_line(table["wikidata"]), f"{what}: wikidata must be a Wikidata item id "
                           f"like Q148, found {qid!r}")
            elif qid is not None:
                resource.wikidata = qid
        for item in self.items(table.get("facts"), f"{what}: facts"):
            fact = self.load_fact(item, iri, f"{what}: fact")
            if fact is not None:
                resource.facts.append(fact)
        self.imply(resource, table, type_items)
        return resource

    def imply(self, resource: ResourceSpec, table: dict[str, yaml.Node],
              type_items: list[tuple[str, int]]) -> None:
        """The statements a resource's type/label/altLabel/wikidata keys stand for."""
        first = resource.mentions[:1]
        src = None if resource.mentions else resource.source

        def naming(label: str) -> list[QuoteRef]:
            for mention in resource.mentions:
                if label in mention.text:
                    return [mention]
            return list(first)

        for type_iri, line in type_items:
            resource.implied.append(FactSpec(resource.iri, RDF_TYPE, NamedNode(type_iri), list(first),
                                             line, "type", src))
        if resource.label is not None:
            resource.implied.append(FactSpec(
                resource.iri, RDFS_LABEL, Literal(resource.label, language="en"),
                naming(resource.label), _line(table["label"]), "label", src))
        for alt in resource.alt_labels:
            resource.implied.append(FactSpec(
                resource.iri, SKOS_ALT_LABEL, Literal(alt, language="en"), naming(alt),
                _line(table["altLabel"]), "altLabel", src))
        if resource.wikidata is not None:
            entity = WIKIDATA_ENTITY + resource.wikidata
            resource.implied.append(FactSpec(resource.iri, SKOS_EXACT_MATCH, NamedNode(entity), [],
                                             _line(table["wikidata"]), "wikidata", entity))

    def load_fact(self, node: yaml.Node, subject: str, what: str, *,
                  quote_required: bool = True) -> FactSpec | None:
        table = self.mapping(node, what, _FACT_KEYS, ("p",))
        if table is None:
            return None
        line = _line(node)
        ok = True
        predicate = None
        if "p" in table:
            p = self.scalar(table["p"], f"{what}: p")
            if p == "a":
                predicate = RDF_TYPE
            elif p is not None:
                predicate = self.iri(p, _line(table["p"]), f"{what}: p")
        ok = predicate is not None
        obj = self.load_object(table, line, what)
        quotes: list[QuoteRef] = []
        has_quote = "quote" in table or "start" in table
        if has_quote:
            if "quote" not in table or "start" not in table:
                self.error(line, f"{what}: quote and start go together; "
                           f"missing {'start' if 'quote' in table else 'quote'!r}")
                ok = False
            else:
                ref = self.quote_from(table, node, what)
                ok = ok and ref is not None
                if ref is not None:
                    quotes.append(ref)
        for item in self.items(table.get("evidence"), f"{what}: evidence"):
            ref = self.load_quote(item, f"{what}: evidence")
            ok = ok and ref is not None
            if ref is not None:
                quotes.append(ref)
        source = None
        if "source" in table:
            src = self.scalar(table["source"], f"{what}: source")
            source = self.iri(src, _line(table["source"]), f"{what}: source") if src else None
            ok = ok and source is not None
            if has_quote or "evidence" in table:
                self.error(_line(table["source"]), f"{what}: both source and quote — a fact from "
                           "the article is evidenced by its quote, an external fact names its "
                           "source; give one")
                ok = False
        elif quote_required and not has_quote and "evidence" not in table:
            self.error(line, f"{what}: no evidence — give quote and start (or source: for a fact "
                       "from an external source)")
            ok = False
        derived = None
        if "derived" in table:
            derived = self.scalar(table["derived"], f"{what}: derived")
            if source is not None:
                self.error(_line(table["derived"]), f"{what}: derived explains how a value was "
                           "resolved from the article's words; it needs a quote, not a source")
                ok = False
        asserted = self.scalar(table.get("asserted"), f"{what}: asserted")
        if not ok or obj is None or predicate is None:
            return None
        return FactSpec(subject, predicate, obj, quotes, line, "fact", source, derived, asserted)

    def load_object(self, table: dict[str, yaml.Node], line: int, what: str
                    ) -> NamedNode | Literal | None:
        if "o" in table and "value" in table:
            self.error(line, f"{what}: both o and value — o names a resource, value is a literal; "
                       "give one")
            return None
        if "o" not in table and "value" not in table:
            self.error(line, f"{what}: needs o (a resource) or value (a literal)")
            return None
        if "o" in table:
            for key in ("datatype", "lang"):
                if key in table:
                    self.error(_line(table[key]), f"{what}: {key} applies to value, not to o")
                    return None
            o = self.scalar(table["o"], f"{what}: o")
            iri = self.iri(o, _line(table["o"]), f"{what}: o") if o is not None else None
            return NamedNode(iri) if iri is not None else None
        node = table["value"]
        if not isinstance(node, yaml.ScalarNode) or node.tag == _YAML_NULL:
            self.error(_line(node), f"{what}: value must be a single literal, found "
                       f"{_describe(node)}")
            return None
        lexical = node.value
        if "datatype" in table and "lang" in table:
            self.error(line, f"{what}: a literal has a datatype or a lang, not both")
            return None
        if "lang" in table:
            lang = self.scalar(table["lang"], f"{what}: lang")
            if lang is None or not _LANG.match(lang):
                self.error(_line(table["lang"]), f"{what}: lang must be a language tag like en, "
                           f"found {lang!r}")
                return None
            return Literal(lexical, language=lang)
        if "datatype" in table:
            dt_name = self.scalar(table["datatype"], f"{what}: datatype")
            datatype = self.iri(dt_name, _line(table["datatype"]), f"{what}: datatype") \
                if dt_name else None
            if datatype is None:
                return None
        else:
            datatype, lexical = _implicit_datatype(node)
        try:
            check_lexical(lexical, datatype)
        except TermError as exc:
            self.error(_line(node), f"{what}: bad literal {lexical!r}^^{_curie(datatype)}: {exc}")
            return None
        return Literal(lexical, datatype=NamedNode(datatype))


class _AnyKey(set):
    """An ``allowed`` set that allows every key (prefix tables)."""

    def __contains__(self, item: object) -> bool:
        return True


def _curie(iri: str) -> str:
    return "xsd:" + iri[len(XSD):] if iri.startswith(XSD) else f"<{iri}>"


def _implicit_datatype(node: yaml.ScalarNode) -> tuple[str, str]:
    """The datatype YAML's own typing implies for an untyped ``value``."""
    if node.style is None:  # plain scalars only; quoted ones are strings
        if node.tag == _YAML_INT:
            return XSD + "integer", node.value
        if node.tag == _YAML_FLOAT:
            return XSD + "decimal", node.value
        if node.tag == _YAML_BOOL:
            return XSD + "boolean", "true" if node.value.lower() in ("true", "yes", "on") else "false"
        if node.tag == _YAML_TIMESTAMP:
            return XSD + ("dateTime" if "T" in node.value.upper() else "date"), node.value
    return XSD + "string", node.value


def check_quote(text: str, ref: QuoteRef) -> str | None:
    """Why ``ref`` is not verbatim at its offset in ``text`` (``None`` when it is)."""
    found = text[ref.start:ref.end]
    if found == ref.text:
        return None
    if ref.start >= len(text):
        where = f"offset {ref.start} is past the end of the text ({len(text)} characters)"
    else:
        where = (f"quote not at offset {ref.start}: expected “{_snippet(ref.text)}” "
                 f"but the text there is “{_snippet(found)}”")
    hits = [m.start() for m in re.finditer(re.escape(ref.text), text)]
    if hits:
        shown = ", ".join(str(h) for h in hits[:5]) + (" …" if len(hits) > 5 else "")
        hint = f"; the quote occurs at offset{'s' if len(hits) > 1 else ''} {shown}"
        byte_offset = text.encode("utf-8").find(ref.text.encode("utf-8"))
        if byte_offset == ref.start and hits[0] != ref.start:
            hint += " (the given start is a UTF-8 byte offset; use code point offsets)"
        return where + hint
    loose_text, loose_quote = _loose(text), _loose(ref.text)
    if loose_quote in loose_text:
        return (where + "; the quote does not occur verbatim — it differs from the text in "
                "quotation marks, dashes or whitespace (copy it from the text)")
    return where + "; the quote does not occur anywhere in the text"


def load_facts(path: str | Path, *, verify_quotes: bool = True) -> FactsFile:
    """Load a facts file and its article text; raise :class:`FactsError` listing every problem.

    With ``verify_quotes`` (the default) every quote must occur verbatim at its
    offset in the text; the error says where it does occur, if anywhere.
    """
    loader = _Loader(Path(path), verify_quotes)
    facts = loader.load()
    if loader.problems or facts is None:
        problems = loader.problems or [FactsProblem(None, "facts file rejected", str(path))]
        raise FactsError(sorted(problems, key=lambda p: (p.line or 0)))
    return facts
