"""Translators and lazy messages.

``msg("window {n} passed", n=2)`` is a ``Msg``: a str whose value is the English text (so
code that logs it, stores it or compares it sees English) that also remembers its msgid and
parameters, so a notifier renders it again in its channel's locale: ``translator("de")(m)``.
Parameters are formatted per locale: floats and ``Num``/``Pct`` as Babel decimals and
percentages, datetimes as dates with times, timedeltas as durations, nested ``Msg`` in the
same locale. Message ids use ``str.format`` placeholders (``{name}``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any, Literal

from babel import Locale
from babel.dates import format_skeleton, format_timedelta, get_datetime_format
from babel.lists import format_list
from babel.numbers import NumberPattern

from playbooks.i18n.catalog import catalog_for, resolve_locale

__all__ = ["Msg", "Num", "Pct", "Translator", "msg", "nmsg", "translator"]

_Unit = Literal["day", "hour", "minute", "second"]
_UNITS: tuple[tuple[_Unit, int], ...] = (("day", 86_400), ("hour", 3_600), ("minute", 60),
                                         ("second", 1))


@dataclass(frozen=True)
class Num:
    """A decimal shown with ``digits`` fraction digits (0.312 → '0.31' / '0,31')."""

    value: float | None
    digits: int = 2


@dataclass(frozen=True)
class Pct:
    """A share shown as a percentage (0.031 → '3.1%' / '3,1 %')."""

    value: float | None
    digits: int = 1


class Msg(str):
    """A message to translate; its str value is the English rendering."""

    msgid: str
    plural: str | None
    n: int | None
    params: Mapping[str, Any]

    def __new__(cls, msgid: str, plural: str | None = None, n: int | None = None,
                params: Mapping[str, Any] | None = None) -> Msg:
        params = dict(params or {})
        english = _fill(plural if plural is not None and n != 1 else msgid, params,
                        translator("en"), n)
        obj = super().__new__(cls, english)
        obj.msgid, obj.plural, obj.n, obj.params = msgid, plural, n, params
        return obj

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (Prefect results) as a Msg
        return (Msg, (self.msgid, self.plural, self.n, dict(self.params)))


def msg(msgid: str, /, **params: Any) -> Msg:
    """A translatable message (extracted into the catalogs by its literal msgid)."""
    return Msg(msgid, params=params)


def nmsg(singular: str, plural: str, n: int, /, **params: Any) -> Msg:
    """A translatable message with a plural form chosen by ``n`` (also ``{n}``)."""
    return Msg(singular, plural, n, params)


@dataclass(frozen=True)
class Translator:
    """gettext/ngettext and Babel formatting for one locale."""

    locale: Locale

    @property
    def code(self) -> str:
        return str(self.locale)

    def gettext(self, message: str) -> str:
        return catalog_for(self.code).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return catalog_for(self.code).ngettext(singular, plural, n)

    def __call__(self, text: str) -> str:
        """A ``Msg`` in this locale; any other string (data: a check's summary, a name)
        unchanged."""
        if not isinstance(text, Msg):
            return text
        pattern = (self.gettext(text.msgid) if text.plural is None
                   else self.ngettext(text.msgid, text.plural, text.n or 0))
        english = text.msgid if text.plural is None or text.n == 1 else text.plural
        return _fill(pattern, text.params, self, text.n, english)

    def t(self, msgid: str, /, **params: Any) -> str:
        """``msg(...)`` rendered at once in this locale."""
        return self(msg(msgid, **params))

    def num(self, value: float | None, digits: int = 2) -> str:
        if value is None:
            return self.t("n/a")
        return str(_fixed(self.locale.decimal_formats[None], digits).apply(value, self.locale))

    def pct(self, value: float | None, digits: int = 1) -> str:
        """The locale's percent pattern ('3.1%', '3,1 %') with ``digits`` fraction digits."""
        if value is None:
            return self.t("n/a")
        return str(_fixed(self.locale.percent_formats[None], digits).apply(value, self.locale))

    def day(self, value: date) -> str:
        return format_skeleton("yMMMd", value, locale=self.locale)

    def hm(self, value: datetime) -> str:
        """Hours and minutes, in UTC (the engine's times), with the zone named."""
        return f"{format_skeleton('Hm', _utc(value), tzinfo=UTC, locale=self.locale)} UTC"

    def when(self, value: datetime) -> str:
        """E.g. 'Dec 2, 2026, 05:46 UTC' / '2. Dez. 2026, 05:46 UTC', in UTC."""
        when = _utc(value)
        day = format_skeleton("yMMMd", when, tzinfo=UTC, locale=self.locale)
        hm = format_skeleton("Hm", when, tzinfo=UTC, locale=self.locale)
        joined = str(get_datetime_format('medium', locale=self.locale)).format(hm, day)
        return f"{joined} UTC"

    def duration(self, seconds: float | timedelta | None) -> str:
        """The two largest units, e.g. '2 hours and 5 minutes' / '2 Stunden und 5 Minuten'."""
        if seconds is None:
            return self.t("n/a")
        left = round(seconds.total_seconds() if isinstance(seconds, timedelta) else seconds)
        parts: list[str] = []
        for unit, size in _UNITS:
            amount, left = divmod(left, size)
            if amount and len(parts) < 2:
                parts.append(format_timedelta(timedelta(seconds=amount * size), threshold=10**9,
                                              granularity=unit, locale=self.locale))
            elif parts:
                break  # the two largest *adjacent* units: '1 day and 3 hours', not '1 day and 9 s'
        if not parts:
            return format_timedelta(timedelta(0), granularity="second", locale=self.locale)
        return format_list(parts, style="standard", locale=self.locale)


def _fixed(pattern: NumberPattern, digits: int) -> NumberPattern:
    """The locale's own pattern (grouping, symbols, spacing) with a fixed number of
    fraction digits."""
    fixed = copy.copy(pattern)
    fixed.frac_prec = (digits, digits)
    return fixed


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@cache
def translator(locale: str | Locale | None = None) -> Translator:
    """The translator for ``locale`` ('de', 'es_MX', a Babel Locale); English for None or
    an unknown locale."""
    loc = locale if isinstance(locale, Locale) else resolve_locale(locale)
    return Translator(loc)


def _fill(pattern: str, params: Mapping[str, Any], tr: Translator, n: int | None,
          english: str | None = None) -> str:
    values = {k: _value(v, tr) for k, v in params.items()}
    if n is not None:
        values.setdefault("n", str(n))
    try:
        return pattern.format(**values)
    except (KeyError, IndexError, ValueError):
        if english is None or english == pattern:
            raise
        # A translation with a broken placeholder (test_i18n catches it): English instead.
        return english.format(**values)


def _value(v: Any, tr: Translator) -> str:
    if isinstance(v, Msg):
        return tr(v)
    if isinstance(v, Num):
        return tr.num(v.value, v.digits)
    if isinstance(v, Pct):
        return tr.pct(v.value, v.digits)
    if isinstance(v, int):  # counts, indexes, versions (and bools): as written
        return str(v)
    if isinstance(v, float):
        return tr.num(v, 2)
    if isinstance(v, datetime):
        return tr.when(v)
    if isinstance(v, date):
        return tr.day(v)
    if isinstance(v, timedelta):
        return tr.duration(v)
    return str(v)
