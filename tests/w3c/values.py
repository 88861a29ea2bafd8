"""Literal values, for the value-aware comparison of W3C results.

Oxigraph's own test runner and Jena's harness compare results term first, then value:
``"01"^^xsd:integer`` matches ``"1"^^xsd:integer``. :func:`canonical` maps a literal to
one representative of its value within its datatype (``"1"^^xsd:integer`` for both), so
that comparing canonical forms, with the blank-node isomorphism of
:mod:`tests.w3c.results`, is comparing values. It is written from the XSD 1.1 value
spaces, not with the engine under test, so an engine's own normalization cannot vouch
for itself.

What counts as the same value (two literals of different datatypes never are):

- integer and its derived types, decimal: the same number; float and double: the same
  IEEE value after rounding to the type's precision (``-0`` equals ``0``; ``NaN`` only
  matches the same term);
- boolean: ``true``/``1`` and ``false``/``0``;
- dateTime, date, time: the same instant (timezoned values compared in UTC; a value
  with a timezone never equals one without);
- duration, dayTimeDuration, yearMonthDuration: the same months and seconds;
- language-tagged strings: language tags compared case-insensitively (RDF 1.1).

A literal whose lexical form is not in its datatype's lexical space is left as it is
(it equals only the same term).
"""

from __future__ import annotations

import math
import re
import struct
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from pyoxigraph import Literal, NamedNode

XSD = "http://www.w3.org/2001/XMLSchema#"

#: Integer types and their bounds (inclusive; ``None``: unbounded).
INTEGER_TYPES: dict[str, tuple[int | None, int | None]] = {
    "integer": (None, None),
    "nonPositiveInteger": (None, 0),
    "negativeInteger": (None, -1),
    "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None),
    "long": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "unsignedLong": (0, 2**64 - 1),
    "unsignedInt": (0, 2**32 - 1),
    "unsignedShort": (0, 2**16 - 1),
    "unsignedByte": (0, 255),
}

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?INF|NaN")
_TZ = r"(Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)?"
_DATE = r"(-?[0-9]{4,})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = r"([01][0-9]|2[0-4]):([0-5][0-9]):([0-5][0-9](?:\.[0-9]+)?)"
_DATETIME = re.compile(_DATE + "T" + _TIME + _TZ)
_DATE_ONLY = re.compile(_DATE + _TZ)
_TIME_ONLY = re.compile(_TIME + _TZ)
_DURATION = re.compile(
    r"(-)?P(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)D)?"
    r"(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+(?:\.[0-9]+)?|\.[0-9]+)S)?)?")


def canonical(term: object) -> object:
    """``term`` with a literal replaced by the canonical literal of its value (see the
    module doc); any other term, and a literal without a known value, as it is."""
    if not isinstance(term, Literal):
        return term
    if term.language:
        return Literal(term.value, language=term.language.lower())
    datatype = term.datatype.value
    if not datatype.startswith(XSD):
        return term
    try:
        form = _canonical_form(datatype[len(XSD):], term.value.strip(" \t\n\r"))
    except (ValueError, ArithmeticError, OverflowError, InvalidOperation):
        return term
    return term if form is None else Literal(form, datatype=NamedNode(datatype))


def _canonical_form(local: str, lexical: str) -> str | None:
    if local in INTEGER_TYPES:
        if not _INTEGER.fullmatch(lexical):
            return None
        value = int(lexical)
        low, high = INTEGER_TYPES[local]
        if (low is not None and value < low) or (high is not None and value > high):
            return None
        return str(value)
    if local == "decimal":
        if not _DECIMAL.fullmatch(lexical):
            return None
        number = Decimal(lexical)
        return "0" if number == 0 else format(number.normalize(), "f")
    if local in ("double", "float"):
        if not _FLOAT.fullmatch(lexical):
            return None
        number = float(lexical.replace("INF", "inf"))
        if local == "float" and math.isfinite(number):
            number = struct.unpack("f", struct.pack("f", number))[0]  # OverflowError: invalid
        if math.isnan(number):
            return "NaN"
        return repr(number + 0.0)  # -0.0 + 0.0 == 0.0
    if local == "boolean":
        return {"true": "true", "1": "true", "false": "false", "0": "false"}.get(lexical)
    if local == "dateTime":
        found = _DATETIME.fullmatch(lexical)
        return None if found is None else _instant(*found.groups())
    if local == "date":
        found = _DATE_ONLY.fullmatch(lexical)
        if found is None:
            return None
        year, month, day, tz = found.groups()
        return _instant(year, month, day, "00", "00", "00", tz)
    if local == "time":
        found = _TIME_ONLY.fullmatch(lexical)
        if found is None:
            return None
        return "T" + _instant("1972", "12", "31", *found.groups()).split("T", 1)[1]
    if local in ("duration", "dayTimeDuration", "yearMonthDuration"):
        found = _DURATION.fullmatch(lexical)
        if found is None or lexical.endswith(("P", "T")):
            return None
        sign, years, months, days, hours, minutes, seconds = found.groups()
        if local == "dayTimeDuration" and (years or months):
            return None
        if local == "yearMonthDuration" and (days or hours or minutes or seconds):
            return None
        total_months = int(years or 0) * 12 + int(months or 0)
        total_seconds = (Decimal(days or 0) * 86400 + Decimal(hours or 0) * 3600
                         + Decimal(minutes or 0) * 60 + Decimal(seconds or 0))
        if sign:
            total_months, total_seconds = -total_months, -total_seconds
        if total_months == 0 and total_seconds == 0:
            return "0 0"
        return f"{total_months} {format(total_seconds.normalize(), 'f')}"
    return None


def _instant(year: str, month: str, day: str, hour: str, minute: str, second: str,
             tz: str | None) -> str | None:
    """One spelling per instant: timezoned values moved to UTC (``Z``), others kept local."""
    if int(year) < 1 or int(year) > 9999:
        return None  # outside what the comparison can compute: compared as terms
    whole, _, fraction = second.partition(".")
    if int(hour) == 24:
        if int(minute) or int(whole) or fraction.strip("0"):
            return None
        moment = datetime(int(year), int(month), int(day)) + timedelta(days=1)
    else:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(whole))
    date(moment.year, moment.month, moment.day)  # ValueError for 30 February
    if tz:
        offset = timedelta(0) if tz == "Z" else (
            (1 if tz[0] == "+" else -1) * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
        moment = (moment.replace(tzinfo=timezone(offset)).astimezone(UTC)
                  .replace(tzinfo=None))
    fraction = fraction.rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ("." + fraction if fraction else "") + (
        "Z" if tz else "")
