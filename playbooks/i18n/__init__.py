"""Localisation: message catalogs (gettext over Babel-read .po files) and per-locale
formatting of numbers, percentages, dates and durations.

Human-facing text is built from ``msg(...)`` (a str that renders again per locale); a
notifier picks its locale with ``resolve_locale(channel, profile, MLPB_LOCALE)`` and renders
with ``translator(locale)``. ``python -m playbooks.i18n`` re-extracts
``messages.pot`` and merges new ids into every catalog."""

from playbooks.i18n.catalog import (
    DEFAULT_LOCALE,
    LOCALE_DIR,
    available_locales,
    normalize_locale,
    process_locale,
    resolve_locale,
)
from playbooks.i18n.translate import Msg, Num, Pct, Translator, msg, nmsg, translator

__all__ = ["DEFAULT_LOCALE", "LOCALE_DIR", "Msg", "Num", "Pct", "Translator",
           "available_locales", "msg", "nmsg", "normalize_locale", "process_locale",
           "resolve_locale", "translator"]
