"""Message catalogs: gettext over the .po files shipped in ``playbooks/i18n/locale``.

The .po files are read directly (babel.messages.pofile) and compiled in memory once per
process, so a fresh clone needs no compile step and no .mo file can go stale. A message
missing (or fuzzy) in a catalog falls back to its English msgid, one message at a time."""

from __future__ import annotations

import gettext
import io
import logging
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["DEFAULT_LOCALE", "DOMAIN", "LOCALE_DIR", "available_locales", "catalog_for",
           "normalize_locale", "process_locale", "resolve_locale"]

log = logging.getLogger(__name__)

DOMAIN = "messages"
LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LOCALE = "en"


def available_locales() -> list[str]:
    """English (the msgids themselves) and every locale with a shipped catalog."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return [DEFAULT_LOCALE, *found]


def normalize_locale(value: str) -> Locale | None:
    """``de``, ``de-AT``, ``de_DE.UTF-8`` → a Babel Locale; None when not a known locale."""
    text = value.strip().split(".")[0].split("@")[0].replace("-", "_")
    if not text or text in ("C", "POSIX"):
        return None
    try:
        return Locale.parse(text)
    except (ValueError, UnknownLocaleError):
        return None


def process_locale(env: Mapping[str, str] | None = None) -> str | None:
    """``MLPB_LOCALE`` for the whole process (None when unset)."""
    env = os.environ if env is None else env
    return (env.get("MLPB_LOCALE") or "").strip() or None


def resolve_locale(*candidates: str | None) -> Locale:
    """The first candidate that names a known locale (most specific first, e.g. the
    channel's, the profile's, then MLPB_LOCALE); English when none does."""
    for c in candidates:
        if c and (loc := normalize_locale(c)) is not None:
            return loc
        if c:
            log.warning("unknown locale %r ignored; known: %s", c,
                        ", ".join(available_locales()))
    return Locale.parse(DEFAULT_LOCALE)


@cache
def catalog_for(locale: str) -> gettext.NullTranslations:
    """gettext translations for ``locale`` (e.g. 'de_AT' uses 'de'); English (the msgids)
    for a locale without a catalog."""
    for name in (locale, locale.split("_")[0]):
        po = LOCALE_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po"
        if po.is_file():
            with po.open("rb") as fh:
                cat = read_po(fh, locale=name, domain=DOMAIN)
            buf = io.BytesIO()
            write_mo(buf, cat)  # fuzzy entries are left out: they fall back to English
            buf.seek(0)
            return gettext.GNUTranslations(buf)
    return gettext.NullTranslations()
