"""Name resolution and literal checks shared by the facts loader and the compiler.

Kept apart from the YAML walking so that the rules for what counts as a valid
IRI or a valid ``xsd:date`` live in one place and read as a specification.
"""

from __future__ import annotations

import calendar
import re

from ..namespaces import RDF, XSD

#: Characters that RDF 1.1 forbids in IRIs (besides control characters).
_BAD_IRI_CHARS = set(' <>"{}|^`\\')
_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]*$")
_PREFIX_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


class TermError(ValueError):
    """A name or a literal that cannot become an RDF term; the message says why."""


def check_iri(iri: str) -> str:
    """Return ``iri`` when it is an absolute IRI that RDF accepts."""
    if not _ABSOLUTE_IRI.match(iri):
        raise TermError(f"not an absolute IRI: {iri!r}")
    bad = sorted({c for c in iri if c in _BAD_IRI_CHARS or ord(c) < 0x21})
    if bad:
        raise TermError(f"IRI {iri!r} contains forbidden character(s) {''.join(bad)!r}")
    return iri


def expand(name: str, prefixes: dict[str, str]) -> str:
    """Expand a CURIE (``kgr:PRC``) or an ``<absolute IRI>`` to an IRI."""
    name = name.strip()
    if name.startswith("<") and name.endswith(">"):
        return check_iri(name[1:-1])
    if ":" not in name:
        raise TermError(f"{name!r} is neither a CURIE (prefix:local) nor an <IRI>")
    prefix, local = name.split(":", 1)
    if prefix not in prefixes:
        hint = " (write a full IRI in angle brackets: <...>)" if local.startswith("//") else ""
        known = ", ".join(sorted(prefixes))
        raise TermError(f"unknown prefix {prefix!r} in {name!r}{hint}; known prefixes: {known}")
    if not local:
        raise TermError(f"{name!r} has an empty local name")
    return check_iri(prefixes[prefix] + local)


def shorten(iri: str, prefixes: dict[str, str]) -> str:
    """The CURIE for ``iri`` with the longest matching namespace, else ``<iri>``."""
    best = ""
    best_prefix = ""
    for prefix, ns in prefixes.items():
        if iri.startswith(ns) and len(ns) > len(best):
            best, best_prefix = ns, prefix
    if best:
        return f"{best_prefix}:{iri[len(best):]}"
    return f"<{iri}>"


#: Typographic characters and the ASCII a user types for them (apostrophes, quotation marks,
#: dashes), so that ``People’s Liberation Army`` is also found as ``People's Liberation Army``.
ASCII_SPELLING = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                                "\u2013": "-", "\u2014": "-"})


def ascii_spelling(text: str) -> str:
    """``text`` with typographic apostrophes, quotation marks and dashes written in ASCII."""
    return text.translate(ASCII_SPELLING)


def valid_prefix_name(name: str) -> bool:
    """Whether ``name`` may be declared as a prefix."""
    return bool(_PREFIX_NAME.match(name))


# -- literals -----------------------------------------------------------------------------

_TZ = r"(Z|[+-](0\d|1[0-3]):[0-5]\d|[+-]14:00)?"
_YEAR = r"-?([1-9]\d{3,}|0\d{3})"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "integer": re.compile(r"^[+-]?\d+$"),
    "int": re.compile(r"^[+-]?\d+$"),
    "long": re.compile(r"^[+-]?\d+$"),
    "nonNegativeInteger": re.compile(r"^\+?\d+$|^-0+$"),
    "positiveInteger": re.compile(r"^\+?0*[1-9]\d*$"),
    "decimal": re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$"),
    "double": re.compile(r"^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?INF|NaN)$"),
    "float": re.compile(r"^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?INF|NaN)$"),
    "boolean": re.compile(r"^(true|false|1|0)$"),
    "gYear": re.compile(rf"^{_YEAR}{_TZ}$"),
    "gYearMonth": re.compile(rf"^{_YEAR}-(?P<m>\d\d){_TZ}$"),
    "date": re.compile(rf"^(?P<y>{_YEAR})-(?P<m>\d\d)-(?P<d>\d\d){_TZ}$"),
    "dateTime": re.compile(
        rf"^(?P<y>{_YEAR})-(?P<m>\d\d)-(?P<d>\d\d)T(?P<H>\d\d):(?P<M>\d\d):(?P<S>\d\d(\.\d+)?){_TZ}$"
    ),
    "gMonthDay": re.compile(rf"^--(?P<m>\d\d)-(?P<d>\d\d){_TZ}$"),
    "duration": re.compile(r"^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"),
    "string": re.compile(r"^.*$", re.S),
    "normalizedString": re.compile(r"^[^\r\n\t]*$"),
    "token": re.compile(r"^(\S+( \S+)*)?$"),
    "language": re.compile(r"^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$"),
    "anyURI": re.compile(r"^\S*$"),
}

#: The xsd datatypes a facts file may use, for error messages.
SUPPORTED_XSD = tuple(sorted(_PATTERNS))


def check_lexical(lexical: str, datatype: str) -> None:
    """Raise :class:`TermError` when ``lexical`` is not a valid form of ``datatype``.

    Only XML Schema datatypes are checked (others pass); a ``1961-13-40`` typed
    as ``xsd:date`` must fail here rather than as a silent ill-typed literal
    that every date comparison downstream ignores.
    """
    if datatype == RDF + "langString":
        raise TermError("rdf:langString cannot be given as a datatype; use lang: instead")
    if not datatype.startswith(XSD):
        return
    local = datatype[len(XSD):]
    pattern = _PATTERNS.get(local)
    if pattern is None:
        raise TermError(
            f"unsupported datatype xsd:{local}; supported: "
            + ", ".join("xsd:" + n for n in SUPPORTED_XSD)
        )
    match = pattern.match(lexical)
    if not match:
        raise TermError(f"{lexical!r} is not a valid xsd:{local} lexical form")
    groups = match.groupdict()
    month = groups.get("m")
    if month is not None and not 1 <= int(month) <= 12:
        raise TermError(f"{lexical!r} is not a valid xsd:{local}: month {month} out of range")
    day = groups.get("d")
    if day is not None and month is not None:
        year = int(groups["y"]) if groups.get("y") else 2000  # gMonthDay allows 02-29
        if year == 0:
            year = 2000
        last = calendar.monthrange(abs(year), int(month))[1]
        if not 1 <= int(day) <= last:
            raise TermError(
                f"{lexical!r} is not a valid xsd:{local}: day {day} out of range for month {month}"
            )
    if groups.get("H") is not None:
        hour, minute, second = int(groups["H"]), int(groups["M"]), float(groups["S"])
        if hour > 24 or minute > 59 or second >= 60 or (hour == 24 and (minute or second)):
            raise TermError(f"{lexical!r} is not a valid xsd:{local}: time out of range")
