"""A small SPARQL tokenizer for the few rewrites the protocol layer needs.

kgraph never evaluates SPARQL itself; the engine parses and runs it. But the
protocol asks for a handful of decisions *before* the engine sees the text:
whether a query names its own dataset (``FROM``), which ``SERVICE`` endpoints it
calls, and where ``using-graph-uri`` parameters become ``USING`` clauses. Those
need tokens that respect strings, IRIs and comments, nothing more. Parsing
with rdflib instead would cost milliseconds per request and, as measured on
these machines, is not thread-safe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

_PN_CHARS_BASE = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
_PN_CHARS = _PN_CHARS_BASE + "_0-9\u00b7\u0300-\u036f\u203f-\u2040-"

_TOKEN = re.compile(
    rf"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n\r]*)
  | (?P<string>'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"
              |'(?:[^'\\\n\r]|\\.)*'|"(?:[^"\\\n\r]|\\.)*")
  | (?P<iri><[^<>"{{}}|^`\\\x00-\x20]*>)
  | (?P<var>[?$][{_PN_CHARS}]+)
  | (?P<pname>(?:[{_PN_CHARS_BASE}](?:[{_PN_CHARS}.]*[{_PN_CHARS}])?)?:(?:(?:[{_PN_CHARS}:]|%[0-9A-Fa-f]{{2}}|\\[_~.\-!$&'()*+,;=/?#@%])(?:(?:[{_PN_CHARS}.:]|%[0-9A-Fa-f]{{2}}|\\[_~.\-!$&'()*+,;=/?#@%])*(?:[{_PN_CHARS}:]|%[0-9A-Fa-f]{{2}}|\\[_~.\-!$&'()*+,;=/?#@%]))?)?)
  | (?P<word>[{_PN_CHARS_BASE}_][{_PN_CHARS}]*)
  | (?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)
  | (?P<punct>\^\^|&&|\|\||!=|<=|>=|.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind, text and span in the source."""

    kind: str
    text: str
    start: int
    end: int
    depth: int  # brace depth at the token (``{`` itself sits at the outer depth)

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


def tokenize(text: str) -> Iterator[Token]:
    """Yield the significant tokens of ``text`` (no whitespace or comments)."""
    depth = 0
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the last alternative matches any char
            raise ValueError(f"cannot tokenize at offset {pos}")
        kind = m.lastgroup or "punct"
        tok_text = m.group()
        pos = m.end()
        if kind in ("ws", "comment"):
            continue
        if kind == "punct" and tok_text == "}":
            depth = max(depth - 1, 0)
        yield Token(kind, tok_text, m.start(), m.end(), depth)
        if kind == "punct" and tok_text == "{":
            depth += 1


def _prologue(tokens: Sequence[Token]) -> tuple[str | None, dict[str, str]]:
    base: str | None = None
    prefixes: dict[str, str] = {}
    for i in range(len(tokens)):
        base, prefixes = _declare(tokens, i, base, prefixes)
    return base, prefixes


def _declare(
    tokens: Sequence[Token], i: int, base: str | None, prefixes: dict[str, str]
) -> tuple[str | None, dict[str, str]]:
    """The BASE and prefixes in force after token ``i`` (a declaration changes them)."""
    tok = tokens[i]
    if tok.is_word("BASE") and i + 1 < len(tokens) and tokens[i + 1].kind == "iri":
        base = _resolve(tokens[i + 1].text[1:-1], base)
    elif (
        tok.is_word("PREFIX")
        and i + 2 < len(tokens)
        and tokens[i + 1].kind == "pname"
        and tokens[i + 2].kind == "iri"
    ):
        prefixes = {**prefixes, tokens[i + 1].text[:-1]: _resolve(tokens[i + 2].text[1:-1], base)}
    return base, prefixes


def query_prefixes(text: str) -> dict[str, str]:
    """The ``PREFIX`` declarations of a query's prologue, resolved against its ``BASE``."""
    prologue: list[Token] = []
    for tok in tokenize(text):
        if tok.kind == "word" and not tok.is_word("BASE", "PREFIX"):
            break
        prologue.append(tok)
    return _prologue(prologue)[1]


_URI = re.compile(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", re.DOTALL)


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith(("./", "/./")):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if out:
                out.pop()
        elif path == "/..":
            path = "/"
            if out:
                out.pop()
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            cut = path.find("/", start)
            cut = len(path) if cut < 0 else cut
            out.append(path[:cut])
            path = path[cut:]
    return "".join(out)


def resolve_iri(ref: str, base: str | None) -> str:
    """``ref`` resolved against ``base`` per RFC 3986 §5.2 (any scheme, unlike ``urljoin``)."""
    if base is None:
        return ref
    r = _URI.match(ref)
    b = _URI.match(base)
    if r is None or b is None:  # pragma: no cover - the pattern matches any string
        return ref
    r_scheme, r_auth, r_path, r_query, r_frag = r.groups()
    b_scheme, b_auth, b_path, b_query, _ = b.groups()
    if r_scheme is not None:
        scheme, auth, path, query = r_scheme, r_auth, _remove_dot_segments(r_path), r_query
    elif r_auth is not None:
        scheme, auth, path, query = b_scheme, r_auth, _remove_dot_segments(r_path), r_query
    elif r_path == "":
        scheme, auth, path = b_scheme, b_auth, b_path
        query = r_query if r_query is not None else b_query
    else:
        if r_path.startswith("/"):
            path = _remove_dot_segments(r_path)
        elif b_auth is not None and b_path == "":
            path = _remove_dot_segments("/" + r_path)
        else:
            path = _remove_dot_segments(b_path[: b_path.rfind("/") + 1] + r_path)
        scheme, auth, query = b_scheme, b_auth, r_query
    out = f"{scheme}:" if scheme is not None else ""
    if auth is not None:
        out += "//" + auth
    out += path
    if query is not None:
        out += "?" + query
    if r_frag is not None:
        out += "#" + r_frag
    return out


def _resolve(iri: str, base: str | None) -> str:
    return resolve_iri(iri, base)


def has_dataset_clause(query: str) -> bool:
    """Whether a query names its own dataset with ``FROM`` or ``FROM NAMED``."""
    if "from" not in query.lower():  # most queries: no need to tokenize
        return False
    return any(tok.is_word("FROM") for tok in tokenize(query))


@dataclass(frozen=True)
class ServiceRef:
    """A ``SERVICE`` clause: the endpoint IRI (``None`` for a variable) and its span."""

    iri: str | None
    variable: str | None
    silent: bool
    start: int  # span of the endpoint token, for rewriting
    end: int
    keyword_start: int  # where the SERVICE keyword starts


def _target(tokens: Sequence[Token], j: int, base: str | None,
            prefixes: dict[str, str]) -> tuple[str | None, str | None] | None:
    """(IRI, variable) written at token ``j``; ``None`` when it is neither."""
    target = tokens[j]
    if target.kind == "iri":
        return _resolve(target.text[1:-1], base), None
    if target.kind == "pname":
        prefix, _, local = target.text.partition(":")
        ns = prefixes.get(prefix)
        return (None if ns is None else ns + re.sub(r"\\(.)", r"\1", local)), None
    if target.kind == "var":
        return None, target.text[1:]
    return None


def _keyword_targets(
    text: str, keyword: str
) -> Iterator[tuple[Token, bool, Token, tuple[str | None, str | None]]]:
    """Each ``keyword [SILENT] target`` of ``text``: the keyword's token, whether SILENT
    was given, the target's token and its resolution (by the BASE and prefixes declared
    before it; see :func:`_target`). Keywords with no readable target are skipped."""
    tokens = list(tokenize(text))
    base: str | None = None
    prefixes: dict[str, str] = {}
    for i, tok in enumerate(tokens):
        base, prefixes = _declare(tokens, i, base, prefixes)
        if not tok.is_word(keyword):
            continue
        j = i + 1
        silent = j < len(tokens) and tokens[j].is_word("SILENT")
        if silent:
            j += 1
        found = _target(tokens, j, base, prefixes) if j < len(tokens) else None
        if found is not None:
            yield tok, silent, tokens[j], found


def service_refs(query: str) -> list[ServiceRef]:
    """Every ``SERVICE`` clause of a query or update, with its endpoint resolved by the
    BASE and prefixes declared before it."""
    return [ServiceRef(found[0], found[1], silent, target.start, target.end, tok.start)
            for tok, silent, target, found in _keyword_targets(query, "SERVICE")]


@dataclass(frozen=True)
class LoadRef:
    """A ``LOAD`` operation: the source IRI (``None`` when undecidable) and its span."""

    iri: str | None
    start: int
    end: int


def load_refs(update: str) -> list[LoadRef]:
    """Every ``LOAD`` of an update, with its source resolved like :func:`service_refs`."""
    return [LoadRef(found[0], target.start, target.end)
            for _tok, _silent, target, found in _keyword_targets(update, "LOAD")]


class DatasetConflictError(ValueError):
    """Protocol dataset parameters given for an update that names its own dataset."""


def inject_using(update: str, using: Sequence[str], using_named: Sequence[str]) -> str:
    """Apply ``using-graph-uri``/``using-named-graph-uri`` to every DELETE/INSERT ... WHERE.

    SPARQL 1.1 Protocol §2.2.3: the parameters act as ``USING``/``USING NAMED``
    clauses; an update that already has ``USING``, ``USING NAMED`` or ``WITH``
    together with the parameters is an error.
    """
    if not using and not using_named:
        return update
    tokens = list(tokenize(update))
    for tok in tokens:
        if tok.depth == 0 and tok.is_word("USING", "WITH"):
            raise DatasetConflictError(
                "using-graph-uri/using-named-graph-uri cannot be combined with an update "
                f"that has its own {tok.text.upper()} clause"
            )
    clause = "".join(f"USING <{g}> " for g in using) + "".join(
        f"USING NAMED <{g}> " for g in using_named
    )
    out: list[str] = []
    last = 0
    for i, tok in enumerate(tokens):
        if tok.depth == 0 and tok.is_word("WHERE"):
            prev = tokens[i - 1] if i else None
            if prev is not None and prev.is_word("DELETE"):
                continue  # DELETE WHERE has no USING clause
            out.append(update[last : tok.start])
            out.append(clause)
            last = tok.start
    out.append(update[last:])
    return "".join(out)


def replace_spans(text: str, replacements: Sequence[tuple[int, int, str]]) -> str:
    """Replace non-overlapping ``(start, end, new)`` spans of ``text``."""
    out: list[str] = []
    last = 0
    for start, end, new in sorted(replacements):
        out.append(text[last:start])
        out.append(new)
        last = end
    out.append(text[last:])
    return "".join(out)


# -- where Oxigraph's parser departs from the SPARQL grammar --------------------------
_BOOLEAN = re.compile(r"\b(?!true\b|false\b)(?i:true|false)\b")
_MAYBE_IRI_AFTER_OPERAND = re.compile(r"(?:[?$]\w+|[)0-9\"'])\s*<[^\s=]")
_EXPR_OPENERS = ("FILTER", "BIND", "HAVING")
_OPERAND_END = ("var", "string", "number")


def misread_iri(text: str) -> Token | None:
    """An IRI token that the engine would misread as ``<`` operators, or ``None``.

    Under the grammar's longest-token rule ``FILTER(?x<?a&&?b>?y)`` holds the
    IRI ``<?a&&?b>`` right after an operand, which makes the query invalid;
    Oxigraph's parser backtracks and reads two comparisons instead. Inside an
    expression an IRI can never directly follow an operand, so that position is
    enough to find the case without a full parser.
    """
    if not _MAYBE_IRI_AFTER_OPERAND.search(text):
        return None
    contexts: list[bool] = []  # True: an expression's parentheses
    prev: Token | None = None
    before_prev: Token | None = None
    for tok in tokenize(text):
        in_expr = bool(contexts) and contexts[-1]
        if tok.kind == "punct" and tok.text == "(":
            opener = prev is not None and (
                prev.is_word(*_EXPR_OPENERS)
                or (prev.kind in ("word", "iri", "pname") and before_prev is not None
                    and before_prev.is_word(*_EXPR_OPENERS))
            )
            contexts.append(in_expr or opener)
        elif tok.kind == "punct" and tok.text == "{":
            contexts.append(False)
        elif tok.kind == "punct" and tok.text in (")", "}"):
            if contexts:
                contexts.pop()
        elif (in_expr and tok.kind == "iri" and prev is not None
              and (prev.kind in _OPERAND_END or (prev.kind == "punct" and prev.text == ")"))):
            return tok
        before_prev, prev = prev, tok
    return None


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


#: Deepest nesting of braces and parentheses handed to the engine: its recursive
#: parser overflows its stack (the process dies) somewhere past 2,000 levels.
MAX_NESTING = 256


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``{}`` and ``()`` outside strings, IRIs and comments."""
    depth = deepest = 0
    for tok in tokenize(text):
        if tok.kind == "punct" and tok.text in "{(":
            depth += 1
            deepest = max(deepest, depth)
        elif tok.kind == "punct" and tok.text in "})":
            depth = max(depth - 1, 0)
    return deepest


def engine_text(text: str) -> str:
    """The operation text to hand the engine, with its parser's gaps closed.

    Raises ``ValueError`` (with line and column) for an IRI the engine would
    misread; writes ``TRUE``/``False`` and other case variants of the boolean
    keywords in lower case, which is all the engine accepts (keywords are
    case-insensitive in SPARQL).
    """
    if text.count("{") + text.count("(") > MAX_NESTING and nesting_depth(text) > MAX_NESTING:
        raise ValueError(f"error at 1:1: groups and expressions are nested more than "
                         f"{MAX_NESTING} levels deep")
    bad = misread_iri(text)
    if bad is not None:
        line, col = position(text, bad.start)
        raise ValueError(
            f"error at {line}:{col}: {bad.text} is an IRI here (longest-token rule), "
            "and an IRI cannot follow an operand in an expression"
        )
    lowered = text.lower()
    if ("true" in lowered or "false" in lowered) and _BOOLEAN.search(text):
        fixes = [(t.start, t.end, t.text.lower()) for t in tokenize(text)
                 if t.kind == "word" and t.text.lower() in ("true", "false") and t.text.islower() is False]
        if fixes:
            text = replace_spans(text, fixes)
    if "group_concat" in lowered:
        text = plain_group_concat(text)
    return text


def plain_group_concat(text: str) -> str:
    """Wrap every ``GROUP_CONCAT(...)`` in ``STR(...)``.

    GROUP_CONCAT yields a simple literal (rdf-tests agg-groupconcat-04/06, as
    corrected in w3c/rdf-tests#281); pyoxigraph 0.5 still keeps a language tag
    that all the values share. ``STR`` of a string literal is that simple
    literal, and an error stays an error.
    """
    tokens = list(tokenize(text))
    edits: list[tuple[int, int, str]] = []
    for i, tok in enumerate(tokens[:-1]):
        if not (tok.is_word("GROUP_CONCAT") and tokens[i + 1].text == "("):
            continue
        depth = 0
        for close in tokens[i + 1:]:
            if close.kind == "punct" and close.text == "(":
                depth += 1
            elif close.kind == "punct" and close.text == ")":
                depth -= 1
                if depth == 0:
                    edits += [(tok.start, tok.start, "STR("), (close.end, close.end, ")")]
                    break
    return replace_spans(text, edits) if edits else text
